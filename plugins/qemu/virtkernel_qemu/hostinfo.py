"""Host facts and the capabilities XML documents, built only from what the QEMU probe found."""

from __future__ import annotations

import os
import platform
import re
from typing import Optional

from lxml import etree

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError
from virtkernel.types import NodeInfo

from .capabilities import Capabilities
from .domain_config import ARCH

__all__ = ["node_info", "free_memory", "capabilities_xml", "domain_capabilities_xml"]


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def node_info() -> NodeInfo:
    """CPU model, memory (KiB), CPUs, MHz, NUMA nodes, sockets, cores, threads."""
    meminfo = _read("/proc/meminfo")
    memory = re.search(r"^MemTotal:\s+(\d+)", meminfo, re.M)
    cpuinfo = _read("/proc/cpuinfo")
    mhz_match = re.search(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.M)
    cpus = os.cpu_count() or 1
    sockets = len(set(re.findall(r"^physical id\s*:\s*(\d+)", cpuinfo, re.M))) or 1
    cores = int(m.group(1)) if (m := re.search(r"^cpu cores\s*:\s*(\d+)", cpuinfo, re.M)) else cpus // sockets
    threads = max(1, cpus // max(1, sockets * cores))
    nodes = len([d for d in os.listdir("/sys/devices/system/node") if d.startswith("node")]) \
        if os.path.isdir("/sys/devices/system/node") else 1
    return NodeInfo(platform.machine(), int(memory.group(1)) if memory else 0, cpus,
                    int(float(mhz_match.group(1))) if mhz_match else 0, max(1, nodes), sockets, cores, threads)


def free_memory() -> int:
    """Free host memory in bytes."""
    match = re.search(r"^MemFree:\s+(\d+)", _read("/proc/meminfo"), re.M)
    return int(match.group(1)) * 1024 if match else 0


def _host_uuid() -> str:
    text = _read("/etc/machine-id").strip()
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return "00000000-0000-0000-0000-000000000000"


def _sub(parent, tag: str, text: Optional[str] = None, **attrs: str):
    node = etree.SubElement(parent, tag, {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()})
    if text is not None:
        node.text = text
    return node


def capabilities_xml(caps: Capabilities) -> str:
    """The host capabilities XML: host CPU and one x86_64 hvm guest with the machines and domain types QEMU has."""
    root = etree.Element("capabilities")
    host = _sub(root, "host")
    _sub(host, "uuid", _host_uuid())
    cpu = _sub(host, "cpu")
    _sub(cpu, "arch", platform.machine())
    info = node_info()
    _sub(cpu, "topology", sockets=str(info.sockets), cores=str(info.cores), threads=str(info.threads))
    migration = _sub(host, "migration_features")
    _sub(migration, "live")
    transports = _sub(migration, "uri_transports")
    _sub(transports, "uri_transport", "tcp")
    _sub(transports, "uri_transport", "unix")
    guest = _sub(root, "guest")
    _sub(guest, "os_type", "hvm")
    arch = _sub(guest, "arch", name=ARCH)
    _sub(arch, "wordsize", "64")
    _sub(arch, "emulator", caps.binary)
    for machine in caps.machines:
        if machine.name == "none":
            continue
        attrs = {"maxCpus": str(machine.cpu_max)}
        if machine.alias:
            _sub(arch, "machine", machine.alias, canonical=machine.name, **attrs)
        _sub(arch, "machine", machine.name, **attrs)
    if "tcg" in caps.accelerators:
        _sub(arch, "domain", type="qemu")
    if caps.kvm_usable:
        _sub(arch, "domain", type="kvm")
    features = _sub(guest, "features")
    _sub(features, "acpi", default="on", toggle="no")
    _sub(features, "apic", default="on", toggle="no")
    _sub(features, "pae")
    return etree.tostring(root, encoding="unicode", pretty_print=True)


def domain_capabilities_xml(caps: Capabilities, arch: Optional[str], machine: Optional[str],
                            virttype: Optional[str]) -> str:
    """domainCapabilities for one emulator, arch, machine and virt type; refuses combinations QEMU lacks."""
    arch = arch or ARCH
    if arch != ARCH:
        raise VirtError(f"architecture '{arch}' is not supported by {caps.binary}", code=ErrorCode.INVALID_ARG,
                        domain=ErrorDomain.QEMU)
    virttype = (virttype or ("kvm" if caps.kvm_usable else "qemu")).lower()
    if virttype not in ("kvm", "qemu") or (virttype == "kvm" and not caps.kvm_usable) \
            or (virttype == "qemu" and "tcg" not in caps.accelerators):
        raise VirtError(f"virtualization type '{virttype}' is not supported by {caps.binary} on this host",
                        code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
    canonical = caps.canonical_machine(machine or caps.default_machine or "pc")
    if canonical is None:
        raise VirtError(f"machine type '{machine}' is not supported by {caps.binary}", code=ErrorCode.INVALID_ARG,
                        domain=ErrorDomain.QEMU)
    max_cpus = next((m.cpu_max for m in caps.machines if m.name == canonical), 1)
    root = etree.Element("domainCapabilities")
    _sub(root, "path", caps.binary)
    _sub(root, "domain", virttype)
    _sub(root, "machine", canonical)
    _sub(root, "arch", arch)
    _sub(root, "vcpu", max=str(max_cpus))
    os_node = _sub(root, "os", supported="yes")
    cpu = _sub(root, "cpu")
    _sub(cpu, "mode", name="host-passthrough", supported="yes" if virttype == "kvm" else "no")
    _sub(cpu, "mode", name="maximum", supported="yes")
    custom = _sub(cpu, "mode", name="custom", supported="yes" if caps.cpu_models else "no")
    for model in caps.cpu_models:
        _sub(custom, "model", model, usable="unknown")
    del os_node
    devices = _sub(root, "devices")
    disk = _sub(devices, "disk", supported="yes")
    enum = _sub(disk, "enum", name="diskDevice")
    for value in ("disk", "cdrom"):
        _sub(enum, "value", value)
    enum = _sub(disk, "enum", name="bus")
    buses = ["virtio", "sata"] + (["ide"] if "q35" not in canonical else [])
    for value in buses:
        _sub(enum, "value", value)
    graphics = _sub(devices, "graphics", supported="yes" if "VGA" in caps.devices else "no")
    enum = _sub(graphics, "enum", name="type")
    _sub(enum, "value", "vnc")
    iface = _sub(devices, "interface", supported="yes")
    enum = _sub(iface, "enum", name="backendType")
    _sub(enum, "value", "default")
    features = _sub(root, "features")
    _sub(features, "backingStoreInput", supported="yes" if caps.features.has_blockdev else "no")
    return etree.tostring(root, encoding="unicode", pretty_print=True)
