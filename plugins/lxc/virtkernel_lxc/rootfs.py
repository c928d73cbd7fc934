"""Assembling a container's filesystem; runs inside the container's new mount namespace.

`build_root` makes every mount private (nothing propagates back to the host), assembles the root on
an empty mount point (a tmpfs of read-only host binds when the spec has no root_dir, else a bind of
root_dir), adds the spec's bind and tmpfs mounts, a fresh /proc (with /proc/sys read-only), a
read-only /sys and a minimal /dev on tmpfs. `enter_root` then pivots into it and drops the host tree.
Device nodes are bind mounts of the host's (which also works inside a user namespace, where mknod
does not).
"""

from __future__ import annotations

import errno
import os
from .syscalls import MountAttr, MountFlags, UmountFlags, mount, mount_setattr, pivot_root, umount2

__all__ = ["build_root", "enter_root", "make_readonly", "bind", "DEVICES", "fits_generic_root", "build_generic_root",
           "finish_generic_root", "discard_generic_root"]

TYPE_CHECKING = False  # not typing's: the init helper imports this module without typing or spec (init_process.py)
if TYPE_CHECKING:
    from typing import Optional, Sequence

    from .spec import ContainerSpec

DEVICES: tuple[str, ...] = ("null", "zero", "full", "random", "urandom", "tty")
DEFAULT_HOST_BINDS: tuple[str, ...] = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc")
"""Host directories bound read-only into a container without a root directory of its own."""

_F = MountFlags


def _inside(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def make_readonly(path: str) -> None:
    """Make the mount at path, and every mount below it, read-only."""
    try:
        mount_setattr(path, MountAttr.RDONLY, recursive=True)
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
        flags = os.statvfs(path).f_flag & (_F.NOSUID | _F.NODEV | _F.NOEXEC | _F.NOATIME)
        mount(None, path, None, _F.REMOUNT | _F.BIND | _F.RDONLY | flags)


def _mount_point_for(source: str, target: str) -> None:
    """Create target as a directory, or as an empty file when source is not a directory."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def bind(source: str, target: str, readonly: bool = False) -> None:
    """Bind-mount source (recursively) on target, creating the mount point."""
    _mount_point_for(source, target)
    mount(source, target, None, _F.BIND | _F.REC)
    if readonly:
        make_readonly(target)


def _minimal_root(host_binds: Sequence[str], root: str) -> None:
    mount("tmpfs", root, "tmpfs", _F.NOSUID | _F.NODEV, "mode=0755,size=16m")
    for host_path in host_binds:
        if os.path.islink(host_path):
            os.symlink(os.readlink(host_path), _inside(root, host_path))
        elif os.path.isdir(host_path):
            bind(host_path, _inside(root, host_path), readonly=True)
    for name, mode in (("tmp", 0o1777), ("root", 0o700), ("run", 0o755), ("var", 0o755), ("home", 0o755)):
        path = _inside(root, name)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)


def _proc(root: str) -> None:
    target = _inside(root, "proc")
    os.makedirs(target, exist_ok=True)
    mount("proc", target, "proc", _F.NOSUID | _F.NODEV | _F.NOEXEC)
    # The container must not tune the host's kernel: /proc/sys and sysrq stay read-only.
    for sub in ("sys", "sysrq-trigger"):
        path = os.path.join(target, sub)
        if os.path.exists(path):
            mount(path, path, None, _F.BIND)
            make_readonly(path)


def _sys(root: str) -> None:
    target = _inside(root, "sys")
    os.makedirs(target, exist_ok=True)
    mount("sysfs", target, "sysfs", _F.RDONLY | _F.NOSUID | _F.NODEV | _F.NOEXEC)


def _dev(root: str, console: Optional[str]) -> None:
    dev = _inside(root, "dev")
    os.makedirs(dev, exist_ok=True)
    mount("tmpfs", dev, "tmpfs", _F.NOSUID | _F.STRICTATIME, "mode=0755,size=65536")
    for name in DEVICES:
        bind(f"/dev/{name}", os.path.join(dev, name))
    pts = os.path.join(dev, "pts")
    os.mkdir(pts, 0o755)
    mount("devpts", pts, "devpts", _F.NOSUID | _F.NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    shm = os.path.join(dev, "shm")
    os.mkdir(shm)
    mount("tmpfs", shm, "tmpfs", _F.NOSUID | _F.NODEV, "mode=1777,size=65536k")
    if console is not None:
        bind(console, os.path.join(dev, "console"))
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(dev, name))


def _spec_mounts(spec: ContainerSpec, root: str) -> None:
    for item in spec.binds:
        bind(item.source, _inside(root, item.target), readonly=item.readonly)
    for tmpfs in spec.tmpfs:
        target = _inside(root, tmpfs.target)
        os.makedirs(target, exist_ok=True)
        options = "mode=0755" + (f",size={tmpfs.size}" if tmpfs.size else "")
        mount("tmpfs", target, "tmpfs", _F.NOSUID | _F.NODEV, options)


def build_root(spec: ContainerSpec, root: str, console: Optional[str]) -> None:
    """Assemble the container's whole filesystem on the empty directory root.

    `console` is the host path of the pty slave to appear as /dev/console (None: no console).
    Must run in a fresh mount namespace (and, for /proc, in the container's PID namespace).
    The spec's binds and tmpfs mounts come last, so they may also land in /dev.
    """
    mount(None, "/", None, _F.REC | _F.PRIVATE)
    if spec.root_dir is None:
        _minimal_root(spec.host_binds, root)
    else:
        mount(spec.root_dir, root, None, _F.BIND | _F.REC)
    _proc(root)
    _sys(root)
    _dev(root, console)
    _spec_mounts(spec, root)


def fits_generic_root(spec: ContainerSpec) -> bool:
    """True if build_generic_root + finish_generic_root give this spec exactly what build_root would."""
    return spec.root_dir is None and tuple(spec.host_binds) == DEFAULT_HOST_BINDS


def build_generic_root(root: str, console: Optional[str]) -> None:
    """build_root without a spec: the minimal root of DEFAULT_HOST_BINDS with /proc, /sys and /dev.

    A spare's init builds it while it waits for a container (see pool.py).
    """
    mount(None, "/", None, _F.REC | _F.PRIVATE)
    _minimal_root(DEFAULT_HOST_BINDS, root)
    _proc(root)
    _sys(root)
    _dev(root, console)


def finish_generic_root(spec: ContainerSpec, root: str) -> None:
    """Make a generic root this spec's: its binds and tmpfs mounts, and no /dev/console without a console."""
    if not spec.console:
        console = os.path.join(root, "dev", "console")
        if os.path.exists(console):
            umount2(console, UmountFlags.DETACH)
            os.unlink(console)
    _spec_mounts(spec, root)


def discard_generic_root(root: str) -> None:
    """Take a generic root down again (the spec did not fit it)."""
    umount2(root, UmountFlags.DETACH)


def enter_root(root: str) -> None:
    """Make root the process's / and detach the host's tree (pivot_root onto itself, then lazy umount)."""
    os.chdir(root)
    pivot_root(".", ".")
    umount2(".", UmountFlags.DETACH)
    os.chdir("/")
