"""Facts about the host (node info, capabilities XML, version) and per-CPU figures of a container's cgroup."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Optional

from lxml import etree

from virtkernel.cgroup import DomainCgroup
from virtkernel.cgroup.layout import Controller
from virtkernel.types import NodeInfo

__all__ = ["node_info", "capabilities_xml", "kernel_version", "cpu_times", "percpu_usage", "host_uuid"]

_USER_HZ = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def node_info() -> NodeInfo:
    """CPU model, memory (KiB), CPUs, MHz and topology from /proc and /sys."""
    cpuinfo = _read("/proc/cpuinfo")
    mhz_values = re.findall(r"^cpu MHz\s*:\s*([0-9.]+)", cpuinfo, re.M)
    mhz = int(float(mhz_values[0])) if mhz_values else 0
    memory = re.search(r"^MemTotal:\s*(\d+)", _read("/proc/meminfo"), re.M)
    cpus = os.cpu_count() or 1
    packages = {line.split(":")[1].strip() for line in cpuinfo.splitlines() if line.startswith("physical id")}
    sockets = max(1, len(packages))
    siblings = re.search(r"^siblings\s*:\s*(\d+)", cpuinfo, re.M)
    cores = re.search(r"^cpu cores\s*:\s*(\d+)", cpuinfo, re.M)
    core_count = int(cores.group(1)) if cores else max(1, cpus // sockets)
    threads = max(1, int(siblings.group(1)) // core_count) if siblings and core_count else 1
    nodes = len([n for n in os.listdir("/sys/devices/system/node") if re.fullmatch(r"node\d+", n)]) \
        if os.path.isdir("/sys/devices/system/node") else 1
    return NodeInfo(platform.machine(), int(memory.group(1)) if memory else 0, cpus, mhz, max(1, nodes), sockets,
                    core_count, threads)


def host_uuid() -> str:
    """The machine's id as a UUID (from /etc/machine-id), or all zeros."""
    text = _read("/etc/machine-id").strip()
    if re.fullmatch(r"[0-9a-f]{32}", text):
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return "00000000-0000-0000-0000-000000000000"


def capabilities_xml() -> str:
    """The host capabilities: the host CPU and one guest kind (os type exe, domain type lxc)."""
    arch = platform.machine()
    caps = etree.Element("capabilities")
    host = etree.SubElement(caps, "host")
    etree.SubElement(host, "uuid").text = host_uuid()
    cpu = etree.SubElement(host, "cpu")
    etree.SubElement(cpu, "arch").text = arch
    info = node_info()
    etree.SubElement(cpu, "topology", sockets=str(info.sockets), dies="1", cores=str(info.cores),
                     threads=str(info.threads))
    guest = etree.SubElement(caps, "guest")
    etree.SubElement(guest, "os_type").text = "exe"
    arch_node = etree.SubElement(guest, "arch", name=arch)
    etree.SubElement(arch_node, "wordsize").text = "64" if platform.architecture()[0] == "64bit" else "32"
    etree.SubElement(arch_node, "domain", type="lxc")
    return etree.tostring(caps, encoding="unicode", pretty_print=True)


def kernel_version() -> int:
    """The running kernel's version as major*1,000,000 + minor*1,000 + release (what libvirt's lxc reports)."""
    numbers = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", platform.release())
    if numbers is None:
        return 0
    major, minor, release = (int(n or 0) for n in numbers.groups())
    return major * 1_000_000 + minor * 1_000 + release


def _cpuacct_dir(cgroup: DomainCgroup) -> Optional[Path]:
    path = cgroup.path(Controller.CPUACCT)
    return path if path.is_dir() else None


def cpu_times(cgroup: DomainCgroup) -> tuple[int, Optional[int], Optional[int]]:
    """(total, user, system) CPU time in nanoseconds (user/system None where the cgroup cannot tell)."""
    total = cgroup.cpu_time_ns()
    directory = _cpuacct_dir(cgroup)
    user = system = None
    if directory is not None:
        stat = _read(str(directory / "cpuacct.stat"))
        if stat:  # v1: USER_HZ ticks
            fields = dict(line.split() for line in stat.splitlines() if line.strip())
            user = int(fields.get("user", 0)) * 1_000_000_000 // _USER_HZ
            system = int(fields.get("system", 0)) * 1_000_000_000 // _USER_HZ
        else:
            stat = _read(str(directory / "cpu.stat"))  # v2: microseconds
            fields = dict(line.split() for line in stat.splitlines() if line.strip())
            if "user_usec" in fields:
                user = int(fields["user_usec"]) * 1000
                system = int(fields["system_usec"]) * 1000
    return total, user, system


def percpu_usage(cgroup: DomainCgroup) -> Optional[list[int]]:
    """CPU time per host CPU in nanoseconds (v1 cpuacct.usage_percpu), None where not available."""
    directory = _cpuacct_dir(cgroup)
    if directory is None:
        return None
    text = _read(str(directory / "cpuacct.usage_percpu"))
    if not text.strip():
        return None
    return [int(value) for value in text.split()]
