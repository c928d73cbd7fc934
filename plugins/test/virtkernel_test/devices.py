"""Device hot-plug for test-driver guests: attach, detach and update, reflected in the live and/or config XML.

libvirt 9.0's test driver has no device entry points at all; ours edits the definitions the way a hypervisor
driver would, so tools can exercise hot-plug without hardware.
"""

from __future__ import annotations

from typing import Optional

from lxml import etree

from virtkernel import hookimpl
from virtkernel.enums import DomainDeviceModifyFlags as Modify, DomainEventID, ErrorCode, ErrorDomain
from virtkernel.errors import VirtError
from virtkernel.types import DomainRef

from .base import DriverBase, check_flags, not_running
from .definition import DomainConfig, parse_document

_ALLOWED = Modify.LIVE | Modify.CONFIG | Modify.FORCE


def _missing(what: str) -> VirtError:
    return VirtError(f"device not found: {what}", code=ErrorCode.DEVICE_MISSING, domain=ErrorDomain.DOMAIN)


def _identity(device: etree._Element) -> tuple[str, Optional[str]]:
    """What identifies a device of its kind: disks by target, NICs by MAC, others by alias or their whole text."""
    tag = device.tag
    if tag == "disk":
        target = device.find("target")
        return tag, target.get("dev") if target is not None else None
    if tag == "interface":
        mac = device.find("mac")
        if mac is not None and mac.get("address"):
            return tag, mac.get("address").lower()
    alias = device.find("alias")
    if alias is not None and alias.get("name"):
        return tag, "alias:" + alias.get("name")
    return tag, None


def _same(candidate: etree._Element, wanted: etree._Element) -> bool:
    tag, key = _identity(wanted)
    if candidate.tag != tag:
        return False
    if key is not None:
        return _identity(candidate)[1] == key
    return all(candidate.get(name) == value for name, value in wanted.attrib.items())


def _find(config: DomainConfig, wanted: etree._Element) -> Optional[etree._Element]:
    return next((d for d in config.devices() if _same(d, wanted)), None)


class DeviceOps(DriverBase):
    """attach_device / detach_device / update_device / detach_device_alias."""

    def _targets(self, dom: DomainRef, flags: int) -> tuple[list[DomainConfig], bool]:
        guest = self.guest(dom)
        live = bool(flags & Modify.LIVE)
        config = bool(flags & Modify.CONFIG)
        if not live and not config:
            live, config = guest.active, not guest.active
        if live and not guest.active:
            raise not_running()
        if config and not guest.persistent:
            raise VirtError("cannot modify the persistent configuration of a transient domain",
                            code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)
        targets = []
        if live:
            targets.append(guest.live_for_change())
        if config:
            targets.append(guest.config_for_change())
        return targets, live

    @staticmethod
    def _device(xml: str) -> etree._Element:
        device = parse_document(xml, "device XML")
        if device.tag == "disk":
            target = device.find("target")
            if target is None or not target.get("dev"):
                raise VirtError("missing target information for device", code=ErrorCode.XML_ERROR,
                                domain=ErrorDomain.DOMAIN)
        return device

    @hookimpl
    def domain_attach_device(self, dom: DomainRef, xml: str, flags: int) -> int:
        check_flags(flags, _ALLOWED, "testDomainAttachDeviceFlags")
        device = self._device(xml)
        with self.host.lock:
            targets, live = self._targets(dom, flags)
            for config in targets:
                if device.tag in ("disk", "interface") and _find(config, device) is not None:
                    what = _identity(device)[1]
                    raise VirtError(f"{device.tag} '{what}' already exists in the domain",
                                    code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.DOMAIN)
            for config in targets:
                config.add_device(etree.fromstring(etree.tostring(device)))
            if live:
                guest = self.guest(dom)
                self.events.emit(DomainEventID.DEVICE_ADDED, guest.ref, _identity(device)[1] or device.tag)
            return 0

    @hookimpl
    def domain_detach_device(self, dom: DomainRef, xml: str, flags: int) -> int:
        check_flags(flags, _ALLOWED, "testDomainDetachDeviceFlags")
        device = self._device(xml)
        with self.host.lock:
            targets, live = self._targets(dom, flags)
            found = [(config, _find(config, device)) for config in targets]
            for _config, element in found:
                if element is None:
                    raise _missing(_identity(device)[1] or device.tag)
            for config, element in found:
                config.remove_device(element)
            if live:
                guest = self.guest(dom)
                self.events.emit(DomainEventID.DEVICE_REMOVED, guest.ref, _identity(device)[1] or device.tag)
            return 0

    @hookimpl
    def domain_update_device(self, dom: DomainRef, xml: str, flags: int) -> int:
        check_flags(flags, _ALLOWED, "testDomainUpdateDeviceFlags")
        device = self._device(xml)
        if device.tag not in ("disk", "interface", "graphics"):
            raise VirtError(f"the test driver cannot update a <{device.tag}> device", code=ErrorCode.OPERATION_UNSUPPORTED,
                            domain=ErrorDomain.DOMAIN)
        with self.host.lock:
            targets, _live = self._targets(dom, flags)
            found = [(config, _find(config, device)) for config in targets]
            for _config, element in found:
                if element is None:
                    raise _missing(_identity(device)[1] or device.tag)
            for config, element in found:
                replacement = etree.fromstring(etree.tostring(device))
                for keep in ("target", "address", "alias"):
                    old = element.find(keep)
                    if old is not None and replacement.find(keep) is None:
                        replacement.append(etree.fromstring(etree.tostring(old)))
                config.replace_device(element, replacement)
            return 0

    @hookimpl
    def domain_detach_device_alias(self, dom: DomainRef, alias: str, flags: int) -> int:
        check_flags(flags, _ALLOWED, "testDomainDetachDeviceAlias")
        with self.host.lock:
            targets, live = self._targets(dom, flags)
            found = []
            for config in targets:
                element = next((d for d in config.devices()
                                if (a := d.find("alias")) is not None and a.get("name") == alias), None)
                if element is None:
                    raise _missing(f"alias '{alias}'")
                found.append((config, element))
            for config, element in found:
                config.remove_device(element)
            if live:
                self.events.emit(DomainEventID.DEVICE_REMOVED, self.guest(dom).ref, alias)
            return 0
