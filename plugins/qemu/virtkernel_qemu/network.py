"""Host side of bridged NICs: the bridge must exist when the guest starts, and its tap joins it.

The device-setup hook plugin can create taps and bridges at the prepare point (when its configuration asks for
it); whatever made them, after QEMU has opened the tap by name the driver makes sure it is a port of the
bridge the domain XML names and that it is up (``ip link set``, as libvirt does for <interface type='bridge'>).
Links are looked up with ``ip`` (it sees this process's network namespace; /sys/class/net shows the namespace
sysfs was mounted in).
"""

from __future__ import annotations

import json
from typing import Optional

from virtkernel import command
from virtkernel.enums import ErrorDomain
from virtkernel.errors import OperationFailed

__all__ = ["check_bridges", "join_bridges", "link"]


def link(name: str) -> Optional[dict]:
    """`ip -details -json link show dev NAME`, or None when there is no such link."""
    result = command.run(["ip", "-details", "-json", "link", "show", "dev", name], timeout=10, check=False,
                         error_domain=ErrorDomain.QEMU)
    if result.returncode != 0:
        return None
    links = json.loads(result.stdout or b"[]")
    return links[0] if links else None


def check_bridges(plan) -> None:
    """Refuse a start whose bridges do not exist (after the prepare hooks had their chance to create them)."""
    for nic in plan.nics:
        if nic.bridge is None:
            continue
        info = link(nic.bridge)
        if info is None or info.get("linkinfo", {}).get("info_kind") != "bridge":
            raise OperationFailed(f"bridge '{nic.bridge}' of interface '{nic.nic.ifname}' of domain '{plan.name}' "
                                  "does not exist (create it, or let the device-setup hook create it)",
                                  domain=ErrorDomain.QEMU)


def join_bridges(plan) -> None:
    """Put each bridged tap into its bridge and bring it up (QEMU has opened, or created, the tap)."""
    for nic in plan.nics:
        if nic.bridge is None or nic.nic.ifname is None:
            continue
        info = link(nic.nic.ifname) or {}
        if info.get("master") != nic.bridge:
            command.run(["ip", "link", "set", "dev", nic.nic.ifname, "master", nic.bridge], timeout=10,
                        error_domain=ErrorDomain.QEMU)
        if "UP" not in info.get("flags", []):
            command.run(["ip", "link", "set", "dev", nic.nic.ifname, "up"], timeout=10,
                        error_domain=ErrorDomain.QEMU)
