"""ContainerSpec: everything needed to start one container, as plain data.

The driver glue maps `<domain type='lxc'>` onto a ContainerSpec; the supervisor only reads it.
A spec round-trips through JSON (`to_dict` / `from_dict`) so it can be kept in the state dir.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from .rootfs import DEFAULT_HOST_BINDS
from .syscalls import CAPABILITIES

__all__ = [
    "BindMount", "TmpfsMount", "IPAddress", "Interface", "IdMapRange", "IdMap", "ContainerSpec",
    "DEFAULT_ENV", "DEFAULT_HOST_BINDS", "DEFAULT_DROP_CAPABILITIES",
]

# What a minimal root (root_dir=None) is made of: these host paths, bound read-only.

# Capabilities a container's root never gets (from the bounding set): loading kernel modules, raw I/O
# ports and /dev/mem, setting the host clock, and audit/MAC policy. CAP_SYS_BOOT stays: inside a PID
# namespace reboot(2) only restarts the container.
DEFAULT_DROP_CAPABILITIES: tuple[str, ...] = ("sys_module", "sys_rawio", "sys_time", "audit_control",
                                              "mac_override", "mac_admin")

DEFAULT_ENV: dict[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM": "linux",
    "HOME": "/",
    "container": "virtkernel-lxc",
}

_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
_MAC = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")


@dataclass
class BindMount:
    """A host path made visible at `target` inside the container."""

    source: str
    target: str
    readonly: bool = False


@dataclass
class TmpfsMount:
    """A fresh tmpfs at `target` inside the container; size in bytes (None = the kernel's default)."""

    target: str
    size: Optional[int] = None


@dataclass
class IPAddress:
    """An IPv4 or IPv6 address with its prefix length, e.g. IPAddress("192.0.2.2", 30)."""

    address: str
    prefix: int

    @property
    def family(self) -> int:
        """4 or 6."""
        return ipaddress.ip_address(self.address).version

    def __str__(self) -> str:
        return f"{self.address}/{self.prefix}"


@dataclass
class Interface:
    """A veth pair: `host_name` stays on the host, `container_name` appears inside the container.

    `addresses` are set on the container end, `host_addresses` on the host end; `bridge` (if not
    None) enslaves the host end to that existing bridge. `gateway4` / `gateway6` become the
    container's default routes.
    """

    host_name: str
    container_name: str = "eth0"
    bridge: Optional[str] = None
    mac: Optional[str] = None
    addresses: list[IPAddress] = field(default_factory=list)
    host_addresses: list[IPAddress] = field(default_factory=list)
    gateway4: Optional[str] = None
    gateway6: Optional[str] = None
    mtu: Optional[int] = None


@dataclass
class IdMapRange:
    """Container ids [inside, inside+count) map to host ids [outside, outside+count)."""

    inside: int
    outside: int
    count: int


@dataclass
class IdMap:
    """User namespace id mapping; a container with an IdMap runs in its own user namespace."""

    uids: list[IdMapRange]
    gids: list[IdMapRange]


def _plain(value: Any) -> Any:
    """dataclasses.asdict without its deep copies (the values here are str, int, bool, None, lists, dicts)."""
    if dataclasses.is_dataclass(value):
        return {member.name: _plain(getattr(value, member.name)) for member in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


@dataclass
class ContainerSpec:
    """One container: identity, init program, filesystem, resource limits, network and console."""

    name: str
    uuid: str
    init: str = "/sbin/init"
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    root_dir: Optional[str] = None
    host_binds: list[str] = field(default_factory=lambda: list(DEFAULT_HOST_BINDS))
    binds: list[BindMount] = field(default_factory=list)
    tmpfs: list[TmpfsMount] = field(default_factory=list)
    memory_limit: Optional[int] = None
    vcpus: Optional[int] = None
    cpuset: Optional[str] = None
    cpuset_mems: Optional[str] = None
    cpu_shares: Optional[int] = None
    cpu_period: Optional[int] = None
    cpu_quota: Optional[int] = None
    pids_limit: Optional[int] = None
    interfaces: list[Interface] = field(default_factory=list)
    console: bool = True
    idmap: Optional[IdMap] = None
    cgroup_namespace: bool = True
    drop_capabilities: list[str] = field(default_factory=lambda: list(DEFAULT_DROP_CAPABILITIES))
    hostname: Optional[str] = None

    @property
    def effective_hostname(self) -> str:
        """The hostname the container sees: `hostname`, or the domain name."""
        return self.hostname or self.name

    def environment(self) -> dict[str, str]:
        """The init program's environment: defaults, identity, then the spec's own variables."""
        env = dict(DEFAULT_ENV)
        env["VIRTKERNEL_LXC_NAME"] = self.name
        env["VIRTKERNEL_LXC_UUID"] = self.uuid
        env.update(self.env)
        return env

    def validate(self) -> None:
        """Raise ValueError with a readable sentence if the spec cannot describe a container."""
        if not self.name or "/" in self.name:
            raise ValueError(f"container name {self.name!r} is not valid")
        if not self.init.startswith("/"):
            raise ValueError(f"init program {self.init!r} must be an absolute path")
        if not self.workdir.startswith("/"):
            raise ValueError(f"working directory {self.workdir!r} must be an absolute path")
        for mount in [*self.binds, *self.tmpfs]:
            if not mount.target.startswith("/") or ".." in mount.target.split("/"):
                raise ValueError(f"mount target {mount.target!r} must be an absolute path without '..'")
        for bind in self.binds:
            if not bind.source.startswith("/"):
                raise ValueError(f"bind mount source {bind.source!r} must be an absolute path")
        if self.memory_limit is not None and self.memory_limit <= 0:
            raise ValueError(f"memory limit {self.memory_limit} must be positive")
        if self.pids_limit is not None and self.pids_limit <= 0:
            raise ValueError(f"pids limit {self.pids_limit} must be positive")
        names: set[str] = set()
        for iface in self.interfaces:
            for ifname in (iface.host_name, iface.container_name):
                if not _IFNAME.match(ifname):
                    raise ValueError(f"interface name {ifname!r} is not valid (1-15 letters, digits, _.:-)")
            if iface.container_name in names:
                raise ValueError(f"interface name {iface.container_name!r} is used twice in the container")
            names.add(iface.container_name)
            if iface.mac is not None and not _MAC.match(iface.mac):
                raise ValueError(f"MAC address {iface.mac!r} is not valid")
            for addr in [*iface.addresses, *iface.host_addresses]:
                ip = ipaddress.ip_address(addr.address)  # raises ValueError with the address in it
                if not 0 <= addr.prefix <= (32 if ip.version == 4 else 128):
                    raise ValueError(f"prefix {addr.prefix} is not valid for {addr.address}")
        for cap in self.drop_capabilities:
            if cap not in CAPABILITIES:
                raise ValueError(f"unknown capability {cap!r} (use names like 'sys_module')")
        if self.idmap is not None and (not self.idmap.uids or not self.idmap.gids):
            raise ValueError("an id map needs at least one uid range and one gid range")

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data."""
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ContainerSpec":
        """Rebuild a spec written by to_dict."""
        data = dict(data)
        data["binds"] = [BindMount(**b) for b in data.get("binds", [])]
        data["tmpfs"] = [TmpfsMount(**t) for t in data.get("tmpfs", [])]
        interfaces = []
        for raw in data.get("interfaces", []):
            raw = dict(raw)
            raw["addresses"] = [IPAddress(**a) for a in raw.get("addresses", [])]
            raw["host_addresses"] = [IPAddress(**a) for a in raw.get("host_addresses", [])]
            interfaces.append(Interface(**raw))
        data["interfaces"] = interfaces
        if data.get("idmap") is not None:
            data["idmap"] = IdMap(uids=[IdMapRange(**r) for r in data["idmap"]["uids"]],
                                  gids=[IdMapRange(**r) for r in data["idmap"]["gids"]])
        return cls(**data)
