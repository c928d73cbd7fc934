"""Where one lxc host keeps its configuration and state: lxc:///system or lxc:///embed?root=DIR."""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from dataclasses import dataclass
from typing import Optional

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError
from virtkernel.uri import ConnectURI

__all__ = ["HostPaths", "SYSTEM_CGROUP_DRIVER"]

SYSTEM_CGROUP_DRIVER = "lxc"
"""The cgroup driver name of lxc:///system (groups live in <own cgroup>/virtkernel/lxc/NAME)."""


def _refuse(uri: ConnectURI, why: str) -> VirtError:
    return VirtError(f"cannot open '{uri.text}' with the lxc driver: {why}", code=ErrorCode.INVALID_ARG,
                     domain=ErrorDomain.LXC)


@dataclass(frozen=True)
class HostPaths:
    """The directories and names of one host: config (domain XML), state (per-container), hook config."""

    uri: str
    root: Optional[str]
    config_dir: str
    state_dir: str
    hooks_config_dir: str
    cgroup_driver: str

    @property
    def events_key(self) -> str:
        """The key under which connections to this host share one event bus."""
        return "lxc:" + (self.root or "/system")

    @classmethod
    def for_uri(cls, uri: ConnectURI) -> "HostPaths":
        """The host a URI names; VirtError naming what is wrong with any other path or query."""
        if uri.host or uri.transport or uri.user or uri.port:
            raise _refuse(uri, "only local URIs without a host or transport are handled here")
        if uri.path == "/system":
            if uri.query:
                raise _refuse(uri, f"lxc:///system takes no query parameters (got {', '.join(sorted(uri.query))})")
            if os.geteuid() != 0:
                raise _refuse(uri, "lxc:///system needs root; use lxc:///embed?root=DIR")
            return cls(uri="lxc:///system", root=None, config_dir="/etc/virtkernel/lxc",
                       state_dir="/run/virtkernel/lxc", hooks_config_dir="/etc/virtkernel",
                       cgroup_driver=SYSTEM_CGROUP_DRIVER)
        if uri.path != "/embed":
            raise _refuse(uri, f"unknown path '{uri.path or '/'}' (use lxc:///system or lxc:///embed?root=DIR)")
        extra = sorted(set(uri.query) - {"root", "spares"})
        if extra:
            raise _refuse(uri, f"unknown query parameter '{extra[0]}' (known: root, spares)")
        root = uri.param("root")
        if not root:
            raise _refuse(uri, "lxc:///embed needs ?root=DIR (an absolute directory)")
        if not os.path.isabs(root):
            raise _refuse(uri, f"root '{root}' is not an absolute path")
        root = os.path.realpath(root)
        digest = hashlib.sha1(root.encode()).hexdigest()[:12]
        canonical = "lxc:///embed?root=" + urllib.parse.quote(root, safe="/")
        return cls(uri=canonical, root=root, config_dir=os.path.join(root, "etc", "lxc"),
                   state_dir=os.path.join(root, "run", "lxc"), hooks_config_dir=os.path.join(root, "etc"),
                   cgroup_driver=f"lxc-embed-{digest}")

    def create(self) -> None:
        """Create the config directory (private to root) and the state directory (searchable, not listable:
        the root of a user-namespaced container is an unprivileged host uid that must reach its rootfs/)."""
        os.makedirs(self.config_dir, mode=0o700, exist_ok=True)
        parent = os.path.dirname(self.state_dir)
        for path in (parent, self.state_dir):
            if not os.path.isdir(path):
                os.makedirs(path, mode=0o711, exist_ok=True)
                os.chmod(path, 0o711)
