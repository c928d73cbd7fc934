"""What a domain asks device setup for: disk images from our metadata namespace, taps and bridges from <interface>."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from lxml import etree

from virtkernel.domainxml import parse_xml
from virtkernel.enums import ErrorCode

from .errors import DeviceSetupError

NAMESPACE = "https://virtkernel.dev/xmlns/device-setup/1"
"""Our XML namespace inside <metadata>: <vk:device-setup xmlns:vk=NAMESPACE><vk:disk .../></vk:device-setup>."""

IMAGE_FORMATS = ("raw", "qcow2", "qed", "vdi", "vmdk", "vpc", "vhdx")
"""Formats ``qemu-img create`` is asked for."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTPE]?)(i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}
_LINK_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$")


def _xml_error(message: str) -> DeviceSetupError:
    return DeviceSetupError(message, code=ErrorCode.XML_ERROR)


def parse_size(text: str, target: str) -> int:
    """A size such as '1G', '512M', '10GiB' or '1048576' (bytes; K/M/G... are powers of 1024) in bytes."""
    match = _SIZE.match(text or "")
    if not match:
        raise _xml_error(f"device-setup disk '{target}': size '{text}' is not a size such as 10G, 512M or 1048576")
    number, unit = float(match.group(1)), match.group(2).upper()
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise _xml_error(f"device-setup disk '{target}': size '{text}' must be larger than zero")
    return size


def check_link_name(name: str, what: str) -> str:
    """A network device name Linux accepts (1-15 characters, no '/', spaces or ':'), else an error."""
    if not _LINK_NAME.match(name) or name in (".", ".."):
        raise _xml_error(f"{what} name '{name}' is not a valid network device name (1 to 15 letters, digits, "
                         "'_', '.' or '-', not starting with '.' or '-')")
    return name


@dataclass(frozen=True)
class DiskRequest:
    """A file-backed disk image to create when it is missing."""

    target: str
    path: str
    format: str
    size: int
    keep: bool = False


@dataclass(frozen=True)
class InterfaceRequest:
    """A network interface whose tap (and bridge) may have to be created."""

    type: str
    tap: Optional[str]
    bridge: Optional[str]


@dataclass(frozen=True)
class DomainRequests:
    """Everything device setup may have to create for one domain."""

    disks: tuple[DiskRequest, ...] = ()
    interfaces: tuple[InterfaceRequest, ...] = ()


def _file_disks(domain: etree._Element) -> dict[str, etree._Element]:
    disks = {}
    for disk in domain.findall("devices/disk"):
        target = disk.find("target")
        if target is not None and target.get("dev"):
            disks[target.get("dev")] = disk
    return disks


def _disk_request(entry: etree._Element, disks: dict[str, etree._Element]) -> DiskRequest:
    target = entry.get("target") or ""
    if not target:
        raise _xml_error("device-setup <disk> needs a target attribute naming the disk's <target dev=...>")
    disk = disks.get(target)
    if disk is None:
        raise _xml_error(f"device-setup names disk '{target}' but the domain has no disk with target dev '{target}'")
    source = disk.find("source")
    path = source.get("file") if source is not None else None
    if disk.get("type", "file") != "file" or not path:
        raise _xml_error(f"device-setup disk '{target}' is not a file-backed disk (<disk type='file'> with "
                         "<source file=...>)")
    if not path.startswith("/"):
        raise _xml_error(f"device-setup disk '{target}': source file '{path}' is not an absolute path")
    driver = disk.find("driver")
    driver_format = driver.get("type") if driver is not None else None
    fmt = entry.get("format") or driver_format
    if not fmt:
        raise _xml_error(f"device-setup disk '{target}' needs a format (attribute format, or <driver type=...>)")
    if fmt not in IMAGE_FORMATS:
        raise _xml_error(f"device-setup disk '{target}': format '{fmt}' is not one of {', '.join(IMAGE_FORMATS)}")
    if driver_format and driver_format != fmt:
        raise _xml_error(f"device-setup disk '{target}': format '{fmt}' contradicts the disk's driver type "
                         f"'{driver_format}'")
    keep = entry.get("keep", "no")
    if keep not in ("yes", "no"):
        raise _xml_error(f"device-setup disk '{target}': keep must be 'yes' or 'no', not '{keep}'")
    return DiskRequest(target, path, fmt, parse_size(entry.get("size", ""), target), keep == "yes")


def _interface_requests(domain: etree._Element) -> tuple[InterfaceRequest, ...]:
    found = []
    for iface in domain.findall("devices/interface"):
        kind = iface.get("type")
        if kind not in ("bridge", "ethernet"):
            continue
        target = iface.find("target")
        tap = target.get("dev") if target is not None else None
        source = iface.find("source")
        bridge = source.get("bridge") if (kind == "bridge" and source is not None) else None
        found.append(InterfaceRequest(kind, tap or None, bridge or None))
    return tuple(found)


def domain_requests(xml: str) -> DomainRequests:
    """Read the disks to create (our metadata) and the bridge/ethernet interfaces from a domain's XML."""
    domain = parse_xml(xml, "domain XML")
    disks = _file_disks(domain)
    requests = []
    containers = domain.findall(f"metadata/{{{NAMESPACE}}}device-setup")
    if len(containers) > 1:
        raise _xml_error("the domain's metadata has more than one device-setup element")
    for container in containers:
        for entry in container:
            if not isinstance(entry.tag, str):
                continue  # comments, processing instructions
            if entry.tag != f"{{{NAMESPACE}}}disk":
                raise _xml_error(f"unknown device-setup element <{etree.QName(entry).localname}> (known: disk)")
            requests.append(_disk_request(entry, disks))
    targets = [r.target for r in requests]
    duplicates = sorted({t for t in targets if targets.count(t) > 1})
    if duplicates:
        raise _xml_error(f"device-setup describes disk '{duplicates[0]}' more than once")
    return DomainRequests(tuple(requests), _interface_requests(domain))
