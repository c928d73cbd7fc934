"""Attach and detach disks and NICs, live (QMP) and/or in the persistent config; CD-ROM media changes.

Live attach: a disk becomes two block nodes (``blockdev-add``: protocol then format) and a virtio-blk device
(``device_add``); a NIC a back-end (``netdev_add``) and a device.  Anything that fails is undone.  Live detach
asks QEMU (``device_del``) and waits up to `DETACH_TIMEOUT` seconds for the guest to release the device
(QEMU's DEVICE_DELETED event); a guest that does not cooperate gets a clear error and the device stays -- if
the guest releases it later, the event handler finishes the removal.
"""

from __future__ import annotations

import random
from typing import Any, Optional

from lxml import etree

from virtkernel.domainxml import parse_xml
from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import InvalidArg, OperationFailed, VirtError

from .command_line import _CACHE_FLAGS, Disk, DiskBus, DiskDevice, NetType, SourceType
from .domain_config import parse_disk, parse_interface, unsupported
from .monitor import MonitorTimeout

__all__ = ["attach", "detach", "detach_alias", "update", "DETACH_TIMEOUT", "device_deleted"]

DETACH_TIMEOUT = 5.0
"""Seconds a live detach waits for the guest to release the device."""


def _device_node(xml: str) -> Any:
    node = parse_xml(xml, "device XML")
    if node.tag not in ("disk", "interface"):
        raise unsupported(f"attaching or detaching <{node.tag}> is not supported by the qemu driver "
                          "(supported: <disk>, <interface>)")
    return node


def _random_mac() -> str:
    return "52:54:00:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


def _set_alias(node: Any, alias: str) -> None:
    existing = node.find("alias")
    if existing is None:
        existing = etree.SubElement(node, "alias")
    existing.set("name", alias)


def _find_disk(defn: Any, target: str) -> Optional[Any]:
    for node in defn.devices("disk"):
        t = node.find("target")
        if t is not None and t.get("dev") == target:
            return node
    return None


def _find_interface(defn: Any, node: Any) -> Optional[Any]:
    mac = node.find("mac")
    alias = node.find("alias")
    for candidate in defn.devices("interface"):
        if mac is not None:
            cmac = candidate.find("mac")
            if cmac is not None and cmac.get("address", "").lower() == mac.get("address", "").lower():
                return candidate
        elif alias is not None:
            calias = candidate.find("alias")
            if calias is not None and calias.get("name") == alias.get("name"):
                return candidate
    return None


def _qmp(guest: Any, command: str, arguments: dict) -> Any:
    return guest.monitor.execute(command, arguments)


# -------------------------------------------------------------------------------------------- attach

def _attach_disk_live(driver: Any, guest: Any, node: Any) -> None:
    disk = parse_disk(node, guest.plan.machine)
    if _find_disk(guest.live, disk.target) is not None:
        raise InvalidArg(f"target '{disk.target}' already exists in domain '{guest.name}'",
                         code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.QEMU)
    if disk.bus is not DiskBus.VIRTIO or disk.device is not DiskDevice.DISK:
        raise unsupported(f"disk '{disk.target}' cannot be hot-plugged: only virtio disks can "
                          f"(bus '{disk.bus.value}', device '{disk.device.value}')")
    alias = disk.alias or f"virtio-{disk.target}"
    disk = Disk(**{**disk.__dict__, "alias": alias})
    direct, no_flush, write_cache = _CACHE_FLAGS[disk.cache]
    cache = {"direct": direct, "no-flush": no_flush}
    driver_name = "host_device" if disk.source_type is SourceType.BLOCK else "file"
    _qmp(guest, "blockdev-add", {"driver": driver_name, "filename": disk.source, "node-name": disk.storage_node,
                                 "cache": cache, "read-only": disk.readonly, "discard": "unmap"})
    try:
        _qmp(guest, "blockdev-add", {"driver": disk.format.value, "file": disk.storage_node,
                                     "node-name": disk.format_node, "cache": cache, "read-only": disk.readonly})
        try:
            _qmp(guest, "device_add", {"driver": "virtio-blk-pci", "id": alias, "drive": disk.format_node,
                                       "write-cache": "on" if write_cache else "off"})
        except VirtError:
            _qmp(guest, "blockdev-del", {"node-name": disk.format_node})
            raise
    except VirtError:
        _qmp(guest, "blockdev-del", {"node-name": disk.storage_node})
        raise
    node = _copy(node)
    _set_alias(node, alias)
    guest.live.devices_element().append(node)
    from dataclasses import replace
    guest.plan = replace(guest.plan, disks=guest.plan.disks + (disk,))


def _attach_interface_live(driver: Any, guest: Any, node: Any) -> None:
    node = _copy(node)
    mac = node.find("mac")
    if mac is None:
        mac = etree.SubElement(node, "mac")
        mac.set("address", _random_mac())
    existing = {n.nic.alias for n in guest.plan.nics}
    index = len(guest.plan.nics)
    while f"net{index}" in existing:
        index += 1
    plan = parse_interface(node, index)
    if _find_interface(guest.live, node) is not None:
        raise InvalidArg(f"domain '{guest.name}' already has an interface with MAC {mac.get('address')}",
                         code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.QEMU)
    nic = plan.nic
    netdev_id = f"host{nic.alias}"
    netdev: dict = {"type": nic.type.value, "id": netdev_id}
    if nic.type is NetType.TAP:
        netdev.update({"ifname": nic.ifname, "script": "no", "downscript": "no"})
    _qmp(guest, "netdev_add", netdev)
    try:
        _qmp(guest, "device_add", {"driver": nic.model, "netdev": netdev_id, "id": nic.alias, "mac": nic.mac})
    except VirtError:
        _qmp(guest, "netdev_del", {"id": netdev_id})
        raise
    _set_alias(node, nic.alias)
    guest.live.devices_element().append(node)
    guest.extra.setdefault("netdevs", {})[nic.alias] = netdev_id
    from dataclasses import replace
    guest.plan = replace(guest.plan, nics=guest.plan.nics + (plan,))


def _copy(node: Any) -> Any:
    return etree.fromstring(etree.tostring(node))


def attach(driver: Any, guest: Any, xml: str, *, live: bool, config: bool) -> None:
    """Attach a <disk> or <interface> (the caller holds guest.lock and resolved live/config)."""
    node = _device_node(xml)
    if config:
        defn = guest.config.copy()
        if node.tag == "disk":
            parse_disk(node)
            target = node.find("target").get("dev")
            if _find_disk(defn, target) is not None:
                raise InvalidArg(f"target '{target}' already exists in the configuration of domain '{guest.name}'",
                                 code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.QEMU)
        else:
            parse_interface(node, 0)
        defn.devices_element().append(_copy(node))
        from .domain_config import plan_guest
        plan_guest(defn, driver.host.capabilities(), driver.host.ncpus)  # still startable
    if live:
        if node.tag == "disk":
            _attach_disk_live(driver, guest, node)
        else:
            _attach_interface_live(driver, guest, node)
        driver.host.write_status(guest)
    if config:
        guest.config = defn
        driver.host.store.write_config(defn)


# -------------------------------------------------------------------------------------------- detach

def _live_alias(guest: Any, node: Any) -> tuple[Any, str]:
    if node.tag == "disk":
        target = node.find("target")
        if target is None or not target.get("dev"):
            raise InvalidArg("the disk to detach needs <target dev=...>", code=ErrorCode.INVALID_ARG,
                             domain=ErrorDomain.QEMU)
        found = _find_disk(guest.live, target.get("dev"))
        if found is None:
            raise InvalidArg(f"disk '{target.get('dev')}' not found in domain '{guest.name}'",
                             code=ErrorCode.DEVICE_MISSING, domain=ErrorDomain.QEMU)
        disk = next(d for d in guest.plan.disks if d.target == target.get("dev"))
        return found, disk.device_id
    found = _find_interface(guest.live, node)
    if found is None:
        raise InvalidArg(f"interface not found in domain '{guest.name}'", code=ErrorCode.DEVICE_MISSING,
                         domain=ErrorDomain.QEMU)
    alias = found.find("alias")
    return found, alias.get("name") if alias is not None else ""


def _detach_live(driver: Any, guest: Any, found: Any, alias: str) -> None:
    if found.tag == "disk":
        disk = next(d for d in guest.plan.disks if d.device_id == alias)
        if disk.bus is not DiskBus.VIRTIO:
            raise unsupported(f"disk '{disk.target}' cannot be unplugged: only virtio disks can")
    guest.extra.setdefault("pending_unplug", [])
    if alias not in guest.extra["pending_unplug"]:
        guest.extra["pending_unplug"].append(alias)
    with guest.monitor.expect_event("DEVICE_DELETED", lambda e: e.data.get("device") == alias) as waiter:
        _qmp(guest, "device_del", {"id": alias})
        try:
            waiter.wait(DETACH_TIMEOUT)
        except MonitorTimeout:
            raise OperationFailed(f"the guest of domain '{guest.name}' did not release device '{alias}' within "
                                  f"{DETACH_TIMEOUT:g} s; the removal stays requested and completes if the guest "
                                  "releases it later", code=ErrorCode.OPERATION_TIMEOUT,
                                  domain=ErrorDomain.QEMU) from None
    device_deleted(driver.host, guest, alias)


def device_deleted(host: Any, guest: Any, alias: str) -> None:
    """QEMU released a device: drop its back-end and its live XML (idempotent)."""
    from dataclasses import replace
    pending = guest.extra.get("pending_unplug", [])
    if alias in pending:
        pending.remove(alias)
    if guest.plan is None or guest.live is None:
        return
    disk = next((d for d in guest.plan.disks if d.device_id == alias), None)
    if disk is not None:
        for node_name in (disk.format_node, disk.storage_node):
            try:
                guest.monitor.execute("blockdev-del", {"node-name": node_name})
            except VirtError:
                pass
        found = _find_disk(guest.live, disk.target)
        if found is not None:
            found.getparent().remove(found)
        guest.plan = replace(guest.plan, disks=tuple(d for d in guest.plan.disks if d.device_id != alias))
    nic = next((n for n in guest.plan.nics if n.nic.alias == alias), None)
    if nic is not None:
        netdev = guest.extra.get("netdevs", {}).pop(alias, None) or \
            f"hostnet{[n.nic.alias for n in guest.plan.nics].index(alias)}"
        try:
            guest.monitor.execute("netdev_del", {"id": netdev})
        except VirtError:
            pass
        for node in guest.live.devices("interface"):
            a = node.find("alias")
            if a is not None and a.get("name") == alias:
                node.getparent().remove(node)
        guest.plan = replace(guest.plan, nics=tuple(n for n in guest.plan.nics if n.nic.alias != alias))
    host.write_status(guest)


def _detach_config(driver: Any, guest: Any, node: Any) -> None:
    defn = guest.config.copy()
    if node.tag == "disk":
        target = node.find("target")
        found = _find_disk(defn, target.get("dev") if target is not None else "")
    else:
        found = _find_interface(defn, node)
    if found is None:
        raise InvalidArg(f"device not found in the configuration of domain '{guest.name}'",
                         code=ErrorCode.DEVICE_MISSING, domain=ErrorDomain.QEMU)
    found.getparent().remove(found)
    guest.config = defn
    driver.host.store.write_config(defn)


def detach(driver: Any, guest: Any, xml: str, *, live: bool, config: bool) -> None:
    """Detach a <disk> (by target) or <interface> (by MAC or alias)."""
    node = _device_node(xml)
    if live:
        found, alias = _live_alias(guest, node)
        if config:  # check the config side first, so a failure there changes nothing live
            _detach_config_check(guest, node)
        _detach_live(driver, guest, found, alias)
    if config:
        _detach_config(driver, guest, node)


def _detach_config_check(guest: Any, node: Any) -> None:
    defn = guest.config
    if node.tag == "disk":
        target = node.find("target")
        found = _find_disk(defn, target.get("dev") if target is not None else "")
    else:
        found = _find_interface(defn, node)
    if found is None:
        raise InvalidArg(f"device not found in the configuration of domain '{guest.name}'",
                         code=ErrorCode.DEVICE_MISSING, domain=ErrorDomain.QEMU)


def detach_alias(driver: Any, guest: Any, alias: str, *, live: bool, config: bool) -> None:
    """Detach the device with this alias (disk target aliases and NIC aliases)."""
    for defn in ([guest.live] if live else []) + ([guest.config] if config else []):
        for node in list(defn.devices("disk")) + list(defn.devices("interface")):
            a = node.find("alias")
            if a is not None and a.get("name") == alias:
                break
        else:
            raise InvalidArg(f"no device with alias '{alias}' in domain '{guest.name}'",
                             code=ErrorCode.DEVICE_MISSING, domain=ErrorDomain.QEMU)
    if live:
        _detach_live(driver, guest, _by_alias(guest.live, alias), alias)
    if config:
        found = _by_alias(guest.config, alias)
        defn = guest.config.copy()
        for node in list(defn.devices("disk")) + list(defn.devices("interface")):
            a = node.find("alias")
            if a is not None and a.get("name") == alias:
                node.getparent().remove(node)
        del found
        guest.config = defn
        driver.host.store.write_config(defn)


def _by_alias(defn: Any, alias: str) -> Any:
    for node in list(defn.devices("disk")) + list(defn.devices("interface")):
        a = node.find("alias")
        if a is not None and a.get("name") == alias:
            return node
    return None


# -------------------------------------------------------------------------------------------- update

def update(driver: Any, guest: Any, xml: str, *, live: bool, config: bool, force: bool) -> None:
    """Change a CD-ROM's medium (insert, replace, eject); nothing else can be updated."""
    node = _device_node(xml)
    if node.tag != "disk" or node.get("device", "disk") != "cdrom":
        raise unsupported("only a CD-ROM's medium can be updated (<disk device='cdrom'>)")
    new = parse_disk(node)
    if live:
        found = _find_disk(guest.live, new.target)
        if found is None or found.get("device") != "cdrom":
            raise InvalidArg(f"domain '{guest.name}' has no CD-ROM '{new.target}'", code=ErrorCode.DEVICE_MISSING,
                             domain=ErrorDomain.QEMU)
        current = next(d for d in guest.plan.disks if d.target == new.target)
        if new.source is None:
            guest.monitor.execute("eject", {"id": current.device_id, "force": True})
        else:
            guest.monitor.execute("blockdev-change-medium", {"id": current.device_id, "filename": new.source,
                                                             "format": new.format.value,
                                                             "read-only-mode": "read-only", "force": True})
        _replace_source(found, node)
        from dataclasses import replace
        guest.plan = replace(guest.plan, disks=tuple(
            replace(d, source=new.source, format=new.format) if d.target == new.target else d
            for d in guest.plan.disks))
        driver.host.write_status(guest)
    if config:
        defn = guest.config.copy()
        found = _find_disk(defn, new.target)
        if found is None or found.get("device") != "cdrom":
            raise InvalidArg(f"the configuration of domain '{guest.name}' has no CD-ROM '{new.target}'",
                             code=ErrorCode.DEVICE_MISSING, domain=ErrorDomain.QEMU)
        _replace_source(found, node)
        guest.config = defn
        driver.host.store.write_config(defn)


def _replace_source(found: Any, node: Any) -> None:
    old = found.find("source")
    if old is not None:
        found.remove(old)
    new = node.find("source")
    if new is not None:
        target = found.find("target")
        (target.addprevious(_copy(new)) if target is not None else found.append(_copy(new)))
