"""Thin ctypes wrappers for the Linux calls containers need and Python 3.11 lacks.

Every wrapper raises OSError(errno, "<call>(<args>): <strerror>") when the call fails, so a
traceback or log line names the call that failed and what it was given.
"""

from __future__ import annotations

import ctypes
import enum
import os

TYPE_CHECKING = False  # not typing's: the init helper imports this module without typing (see init_process.py)
if TYPE_CHECKING:
    from typing import Optional

__all__ = [
    "CloneFlags", "MountFlags", "UmountFlags", "MountAttr", "mount", "umount2", "mount_setattr",
    "unshare", "setns", "pivot_root", "sethostname", "clone_process", "set_child_subreaper",
    "set_parent_death_signal", "set_process_name", "TIOCSCTTY", "CAPABILITIES", "drop_bounding_capability",
]

# The C library the interpreter itself is linked with (dlopen(NULL)). Not ctypes.util.find_library: it
# imports subprocess and runs ldconfig, which would triple what the container's init helper loads.
_libc = ctypes.CDLL(None, use_errno=True)
# A PyDLL handle calls libc without releasing the GIL; used only around fork-like clone below.
_libc_gil = ctypes.PyDLL(None, use_errno=True)

# x86_64 system call numbers for calls glibc has no wrapper for.
_SYS_CLONE = 56
_SYS_PIVOT_ROOT = 155
_SYS_MOUNT_SETATTR = 442
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_PR_SET_CHILD_SUBREAPER = 36
_PR_CAPBSET_DROP = 24

# Capability numbers by their lower-case name without the CAP_ prefix (linux/capability.h).
CAPABILITIES: dict[str, int] = {name: number for number, name in enumerate((
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
    "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
    "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
    "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
    "checkpoint_restore"))}

TIOCSCTTY = 0x540E


class CloneFlags(enum.IntFlag):
    """Namespace flags for clone(2), unshare(2) and setns(2)."""

    NEWNS = 0x00020000
    NEWCGROUP = 0x02000000
    NEWUTS = 0x04000000
    NEWIPC = 0x08000000
    NEWUSER = 0x10000000
    NEWPID = 0x20000000
    NEWNET = 0x40000000
    NEWTIME = 0x00000080


class MountFlags(enum.IntFlag):
    """Flags for mount(2)."""

    NONE = 0
    RDONLY = 1
    NOSUID = 2
    NODEV = 4
    NOEXEC = 8
    REMOUNT = 32
    NOATIME = 1024
    BIND = 4096
    MOVE = 8192
    REC = 16384
    PRIVATE = 1 << 18
    SLAVE = 1 << 19
    SHARED = 1 << 20
    STRICTATIME = 1 << 24


class UmountFlags(enum.IntFlag):
    """Flags for umount2(2)."""

    NONE = 0
    FORCE = 1
    DETACH = 2
    EXPIRE = 4
    NOFOLLOW = 8


class MountAttr(enum.IntFlag):
    """Attributes for mount_setattr(2)."""

    RDONLY = 0x1
    NOSUID = 0x2
    NODEV = 0x4
    NOEXEC = 0x8


class _MountAttrStruct(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(result: int, call: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{call}: {os.strerror(err)}")
    return result


def _bytes(value: Optional[str | bytes]) -> Optional[bytes]:
    if value is None:
        return None
    return value if isinstance(value, bytes) else os.fsencode(value)


_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long
_libc_gil.syscall.restype = ctypes.c_long


def mount(source: Optional[str | bytes], target: str | bytes, fstype: Optional[str] = None,
          flags: MountFlags | int = MountFlags.NONE, data: Optional[str] = None) -> None:
    """mount(2)."""
    _check(_libc.mount(_bytes(source), _bytes(target), _bytes(fstype), int(flags), _bytes(data)),
           f"mount({source!r}, {target!r}, {fstype!r}, {MountFlags(flags)!r}, {data!r})")


def umount2(target: str | bytes, flags: UmountFlags | int = UmountFlags.NONE) -> None:
    """umount2(2)."""
    _check(_libc.umount2(_bytes(target), int(flags)), f"umount2({target!r}, {UmountFlags(flags)!r})")


def mount_setattr(path: str, attr_set: MountAttr | int, attr_clr: int = 0, recursive: bool = True) -> None:
    """mount_setattr(2) on the mount at path (and every mount below it when recursive)."""
    attr = _MountAttrStruct(int(attr_set), int(attr_clr), 0, 0)
    flags = _AT_RECURSIVE if recursive else 0
    _check(_libc.syscall(_SYS_MOUNT_SETATTR, ctypes.c_int(_AT_FDCWD), _bytes(path), ctypes.c_uint(flags),
                         ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))),
           f"mount_setattr({path!r}, {MountAttr(attr_set)!r}, recursive={recursive})")


def unshare(flags: CloneFlags | int) -> None:
    """unshare(2): move the calling process into new namespaces."""
    _check(_libc.unshare(int(flags)), f"unshare({CloneFlags(flags)!r})")


def setns(fd: int, nstype: CloneFlags | int = 0) -> None:
    """setns(2): join the namespace open on fd (nstype 0 accepts any kind)."""
    _check(_libc.setns(fd, int(nstype)), f"setns({fd}, {CloneFlags(nstype)!r})")


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2)."""
    _check(_libc.syscall(_SYS_PIVOT_ROOT, _bytes(new_root), _bytes(put_old)),
           f"pivot_root({new_root!r}, {put_old!r})")


def sethostname(name: str) -> None:
    """sethostname(2) in the calling process's UTS namespace."""
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), f"sethostname({name!r})")


def _prctl(option: int, arg: int, call: str) -> None:
    _check(_libc.prctl(option, arg, 0, 0, 0), call)


def set_child_subreaper(enabled: bool = True) -> None:
    """prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to us, not to PID 1."""
    _prctl(_PR_SET_CHILD_SUBREAPER, int(enabled), f"prctl(PR_SET_CHILD_SUBREAPER, {int(enabled)})")


def set_parent_death_signal(signum: int) -> None:
    """prctl(PR_SET_PDEATHSIG): receive signum when the parent thread exits."""
    _prctl(_PR_SET_PDEATHSIG, signum, f"prctl(PR_SET_PDEATHSIG, {signum})")


def drop_bounding_capability(name: str) -> None:
    """prctl(PR_CAPBSET_DROP): programs exec'd from now on can never hold this capability."""
    _prctl(_PR_CAPBSET_DROP, CAPABILITIES[name], f"prctl(PR_CAPBSET_DROP, CAP_{name.upper()})")


def set_process_name(name: str) -> None:
    """prctl(PR_SET_NAME): the name ps shows (15 bytes at most)."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _check(_libc.prctl(_PR_SET_NAME, ctypes.cast(buf, ctypes.c_void_p).value or 0, 0, 0, 0),
           f"prctl(PR_SET_NAME, {name!r})")


def clone_process(flags: CloneFlags | int) -> int:
    """Fork the calling process into new namespaces, like os.fork() with clone(2) flags.

    Returns the child's PID (as the caller sees it) in the parent and 0 in the child.
    Python's own before/after-fork handling runs exactly as for os.fork(). The caller
    must be single-threaded: libc's fork-time locking is skipped.
    """
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()
    pid = _libc_gil.syscall(_SYS_CLONE, ctypes.c_ulong(int(flags) | 17), ctypes.c_ulong(0),  # 17 = SIGCHLD
                            ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if pid == 0:
        api.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    api.PyOS_AfterFork_Parent()
    if pid == -1:
        raise OSError(err, f"clone({CloneFlags(flags)!r}): {os.strerror(err)}")
    return pid
