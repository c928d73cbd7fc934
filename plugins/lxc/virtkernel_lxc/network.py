"""veth networking for containers, with iproute2's `ip` (argument lists and `ip -batch`, never a shell).

One `ip -batch` run on the host creates every pair (the container end is created directly inside the
container's network namespace under its final name), enslaves host ends to bridges, sets host-end
addresses and brings host ends up. A second run inside the container's namespace (through
`nsenter --net=...`) sets MACs, addresses, routes and brings the container ends and `lo` up.
IPv6 addresses are added with `nodad`: duplicate address detection on a private pair only delays
the first packets by seconds.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Iterable, Sequence

from virtkernel import command
from virtkernel.enums import ErrorDomain
from virtkernel.errors import OperationFailed

from .spec import IPAddress, Interface

__all__ = [
    "InterfaceStats", "setup_interfaces", "host_side_batch", "container_side_batch", "delete_interfaces",
    "interface_exists", "interface_stats",
]

_IP = "ip"
_NSENTER = "nsenter"
_TIMEOUT = 10.0


@dataclass(frozen=True)
class InterfaceStats:
    """Traffic counters of one interface as the container sees them (rx = received by the container)."""

    rx_bytes: int
    rx_packets: int
    rx_errs: int
    rx_drop: int
    tx_bytes: int
    tx_packets: int
    tx_errs: int
    tx_drop: int


def _line(*tokens: object) -> str:
    words = [str(token) for token in tokens]
    for word in words:
        # `ip -batch` splits on blanks and treats quotes and '#' specially: refuse anything that could
        # change how a line is split (names and addresses are validated before we get here).
        if not word or any(ch.isspace() or ch in "\"'#\\" for ch in word):
            raise ValueError(f"refusing unsafe token {word!r} in an ip command")
    return " ".join(words)


def _addr_line(addr: IPAddress, dev: str) -> str:
    if addr.family == 6:
        return _line("addr", "add", str(addr), "dev", dev, "nodad")
    return _line("addr", "add", str(addr), "dev", dev)


def host_side_batch(interfaces: Sequence[Interface], netns_pid: int) -> list[str]:
    """The `ip -batch` lines run on the host: create pairs into netns_pid, bridge, host addresses, up."""
    lines: list[str] = []
    for iface in interfaces:
        peer: list[object] = ["peer", "name", iface.container_name]
        if iface.mac:
            peer += ["address", iface.mac]
        if iface.mtu:
            peer += ["mtu", iface.mtu]
        peer += ["netns", netns_pid]
        host: list[object] = ["link", "add", "name", iface.host_name]
        if iface.mtu:
            host += ["mtu", iface.mtu]
        lines.append(_line(*host, "type", "veth", *peer))
        if iface.bridge:
            lines.append(_line("link", "set", iface.host_name, "master", iface.bridge))
        lines.extend(_addr_line(addr, iface.host_name) for addr in iface.host_addresses)
        lines.append(_line("link", "set", iface.host_name, "up"))
    return lines


def container_side_batch(interfaces: Sequence[Interface]) -> list[str]:
    """The `ip -batch` lines run inside the container's network namespace."""
    lines = [_line("link", "set", "lo", "up")]
    for iface in interfaces:
        lines.extend(_addr_line(addr, iface.container_name) for addr in iface.addresses)
        lines.append(_line("link", "set", iface.container_name, "up"))
        if iface.gateway4:
            lines.append(_line("route", "add", "default", "via", iface.gateway4, "dev", iface.container_name))
        if iface.gateway6:
            lines.append(_line("route", "add", "::/0", "via", iface.gateway6, "dev", iface.container_name))
    return lines


def _run_batch(prefix: list[str], lines: list[str], what: str) -> None:
    if not lines:
        return
    result = command.run([*prefix, _IP, "-batch", "-"], input="\n".join(lines) + "\n", check=False,
                         timeout=_TIMEOUT, error_domain=ErrorDomain.LXC)
    if not result.ok:
        detail = result.stderr_text.strip() or f"exit status {result.returncode}"
        raise OperationFailed(f"cannot {what}: {detail}", domain=ErrorDomain.LXC)


def setup_interfaces(interfaces: Sequence[Interface], netns_pid: int) -> None:
    """Create and configure every veth pair for the container whose init (host view) is netns_pid.

    On failure the host ends created so far are deleted and OperationFailed says which step failed.
    """
    if not interfaces:
        return
    try:
        _run_batch([], host_side_batch(interfaces, netns_pid), "create the container's veth pairs")
        _run_batch([_NSENTER, f"--net=/proc/{netns_pid}/ns/net"], container_side_batch(interfaces),
                   "configure the container's network interfaces")
    except BaseException:
        delete_interfaces(iface.host_name for iface in interfaces)
        raise


def interface_exists(name: str) -> bool:
    """True if a network interface of that name exists in the calling thread's network namespace."""
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def delete_interfaces(host_names: Iterable[str]) -> None:
    """Delete veth pairs by their host end (the container end goes with it); missing ones are ignored."""
    lines = [_line("link", "del", name) for name in host_names if interface_exists(name)]
    if lines:
        # -force: keep going after a line that fails (e.g. the pair vanished with its namespace meanwhile)
        command.run([_IP, "-force", "-batch", "-"], input="\n".join(lines) + "\n", check=False,
                    timeout=_TIMEOUT, error_domain=ErrorDomain.LXC)


_PROC_NET_DEV = "/proc/thread-self/net/dev"
_FIELDS = ("rx_bytes", "rx_packets", "rx_errs", "rx_drop", "rx_fifo", "rx_frame", "rx_compressed", "rx_multicast",
           "tx_bytes", "tx_packets", "tx_errs", "tx_drop")


def interface_stats(host_name: str, swapped: bool = True) -> InterfaceStats:
    """Counters of a veth pair read on its host end; swapped=True reports them as the container sees them.

    Read from /proc/thread-self/net/dev, the same kernel counters as /sys/class/net/NAME/statistics,
    but of the caller's own network namespace (sysfs shows the namespace that mounted it).
    """
    with open(_PROC_NET_DEV) as handle:
        for line in handle.readlines()[2:]:
            name, _, numbers = line.partition(":")
            if name.strip() == host_name:
                host = dict(zip(_FIELDS, (int(n) for n in numbers.split())))
                break
        else:
            raise OperationFailed(f"network interface '{host_name}' does not exist", domain=ErrorDomain.LXC)
    rx, tx = ("tx", "rx") if swapped else ("rx", "tx")
    return InterfaceStats(
        rx_bytes=host[f"{rx}_bytes"], rx_packets=host[f"{rx}_packets"], rx_errs=host[f"{rx}_errs"],
        rx_drop=host[f"{rx}_drop"], tx_bytes=host[f"{tx}_bytes"], tx_packets=host[f"{tx}_packets"],
        tx_errs=host[f"{tx}_errs"], tx_drop=host[f"{tx}_drop"])
