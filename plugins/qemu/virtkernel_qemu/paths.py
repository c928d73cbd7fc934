"""Where one qemu host keeps things: qemu:///embed?root=DIR, qemu:///session or qemu:///system.

Layout (embed: everything under ROOT)::

    config_dir   ROOT/etc/qemu           persistent domain XML (NAME.xml) and autostart marks
    hooks_dir    ROOT/etc                the lifecycle hooks' config directory (hook scripts in hooks/)
    run_dir      ROOT/run/qemu           status files of running guests, QMP sockets, QEMU pid/exit files
    lib_dir      ROOT/lib/qemu           managed-save images (save/NAME.save), core dumps
    log_dir      ROOT/log/qemu           QEMU's output per guest (NAME.log)
    cache_dir    ROOT/cache/qemu         the probed capabilities of QEMU binaries

qemu:///system (root only) uses /etc/virtkernel/qemu, /run/virtkernel/qemu, /var/lib/virtkernel/qemu,
/var/log/virtkernel/qemu and /var/cache/virtkernel/qemu; qemu:///session the user's XDG directories.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError
from virtkernel.uri import ConnectURI

__all__ = ["QemuPaths"]


def _refuse(uri: ConnectURI, why: str) -> VirtError:
    return VirtError(f"cannot open '{uri.text}' with the qemu driver: {why}", code=ErrorCode.INVALID_ARG,
                     domain=ErrorDomain.QEMU)


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value and os.path.isabs(value) else Path(os.path.expanduser("~")) / fallback


@dataclass(frozen=True)
class QemuPaths:
    """The directories of one qemu host and its canonical URI."""

    uri: str
    root: Optional[str]
    config_dir: Path
    hooks_dir: Path
    run_dir: Path
    lib_dir: Path
    log_dir: Path
    cache_dir: Path

    @property
    def key(self) -> str:
        """Connections with the same key share one host state (and one event bus) in a process."""
        return "qemu:" + self.uri

    @property
    def save_dir(self) -> Path:
        """Managed-save images."""
        return self.lib_dir / "save"

    @property
    def cgroup_driver(self) -> str:
        """The driver part of this host's cgroup directory names (two roots never share groups)."""
        if self.root is None:
            return "qemu" if self.uri == "qemu:///system" else f"qemu-session-{os.getuid()}"
        import hashlib
        return "qemu-embed-" + hashlib.sha1(self.root.encode()).hexdigest()[:12]

    @classmethod
    def for_uri(cls, uri: ConnectURI) -> "QemuPaths":
        """The host a URI names; VirtError naming what is wrong with any other URI."""
        if uri.host or uri.transport or uri.user or uri.port:
            raise _refuse(uri, "only local URIs without a host or transport are handled here")
        if uri.path in ("/system", "/session"):
            if uri.query:
                raise _refuse(uri, f"qemu://{uri.path} takes no query parameters "
                                   f"(got {', '.join(sorted(uri.query))})")
            if uri.path == "/system":
                if os.geteuid() != 0:
                    raise _refuse(uri, "qemu:///system needs root; use qemu:///session or qemu:///embed?root=DIR")
                return cls(uri="qemu:///system", root=None, config_dir=Path("/etc/virtkernel/qemu"),
                           hooks_dir=Path("/etc/virtkernel"), run_dir=Path("/run/virtkernel/qemu"),
                           lib_dir=Path("/var/lib/virtkernel/qemu"), log_dir=Path("/var/log/virtkernel/qemu"),
                           cache_dir=Path("/var/cache/virtkernel/qemu"))
            config = _xdg("XDG_CONFIG_HOME", ".config") / "virtkernel"
            runtime = os.environ.get("XDG_RUNTIME_DIR")
            run = Path(runtime) / "virtkernel" / "qemu" if runtime and os.path.isabs(runtime) \
                else _xdg("XDG_CACHE_HOME", ".cache") / "virtkernel" / "qemu" / "run"
            data = _xdg("XDG_DATA_HOME", ".local/share") / "virtkernel" / "qemu"
            return cls(uri="qemu:///session", root=None, config_dir=config / "qemu", hooks_dir=config,
                       run_dir=run, lib_dir=data, log_dir=data / "log",
                       cache_dir=_xdg("XDG_CACHE_HOME", ".cache") / "virtkernel" / "qemu")
        if uri.path != "/embed":
            raise _refuse(uri, f"unknown path '{uri.path or '/'}' (use qemu:///system, qemu:///session or "
                               "qemu:///embed?root=DIR)")
        extra = sorted(set(uri.query) - {"root"})
        if extra:
            raise _refuse(uri, f"unknown query parameter '{extra[0]}' (known: root)")
        root = uri.param("root")
        if not root:
            raise _refuse(uri, "qemu:///embed needs ?root=DIR (an absolute directory)")
        if not os.path.isabs(root):
            raise _refuse(uri, f"root '{root}' is not an absolute path")
        root = os.path.realpath(root)
        base = Path(root)
        return cls(uri="qemu:///embed?root=" + urllib.parse.quote(root, safe="/"), root=root,
                   config_dir=base / "etc" / "qemu", hooks_dir=base / "etc", run_dir=base / "run" / "qemu",
                   lib_dir=base / "lib" / "qemu", log_dir=base / "log" / "qemu", cache_dir=base / "cache" / "qemu")

    def create(self) -> None:
        """Create every directory (private to the user)."""
        for path in (self.config_dir, self.run_dir, self.lib_dir, self.save_dir, self.log_dir, self.cache_dir):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
