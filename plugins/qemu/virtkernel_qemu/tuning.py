"""vCPU threads, pinning (live through sched_setaffinity), CPU times from /proc, and the per-domain cgroup.

The cgroup (virtkernel.cgroup.DomainCgroup, driver name from the host's paths) is created the first time a
tunable needs it -- at start when the XML has <cputune> shares/period/quota, <memtune> or <blkiotune>, or
when one is set live -- and removed when the guest stops.
"""

from __future__ import annotations

import os
from typing import Optional

from virtkernel.cgroup import DomainCgroup
from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError

from .domain_config import parse_cpuset

__all__ = ["vcpu_threads", "apply_at_start", "domain_cgroup", "thread_times", "process_cpu_time_ns",
           "set_thread_affinity", "thread_affinity", "emulator_threads", "CLOCK_TICK_NS"]

CLOCK_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def vcpu_threads(guest) -> list[int]:
    """Thread ids of the guest's vCPUs, in vCPU order."""
    cpus = guest.monitor.execute("query-cpus-fast")
    return [cpu["thread-id"] for cpu in sorted(cpus, key=lambda c: c["cpu-index"])]


def _stat_fields(path: str) -> Optional[list[str]]:
    try:
        with open(path, "rb") as stat:
            data = stat.read().decode()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(")") + 2:].split()


def thread_times(pid: int, tid: int) -> tuple[int, int]:
    """(CPU time in ns, host CPU it last ran on) of one thread of a process."""
    fields = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
    if fields is None:
        return 0, -1
    # fields[0] is the state (field 3); utime/stime are fields 14/15, processor is field 39
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_NS, int(fields[36])


def process_cpu_time_ns(pid: int) -> tuple[int, int, int]:
    """(total, user, system) CPU time of a process in ns."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    if fields is None:
        return 0, 0, 0
    user, system = int(fields[11]) * CLOCK_TICK_NS, int(fields[12]) * CLOCK_TICK_NS
    return user + system, user, system


def set_thread_affinity(tid: int, cpumap: tuple[bool, ...], name: str) -> None:
    """Pin one thread; a VirtError naming the domain when the kernel refuses."""
    cpus = {i for i, on in enumerate(cpumap) if on}
    try:
        os.sched_setaffinity(tid, cpus)
    except OSError as exc:
        raise VirtError(f"cannot set the CPU affinity of a thread of domain '{name}': {exc.strerror}",
                        code=ErrorCode.SYSTEM_ERROR, domain=ErrorDomain.QEMU) from exc


def thread_affinity(tid: int, ncpus: int) -> tuple[bool, ...]:
    """A thread's affinity as a cpumap."""
    try:
        cpus = os.sched_getaffinity(tid)
    except OSError:
        cpus = set()
    return tuple(i in cpus for i in range(ncpus))


def emulator_threads(guest) -> list[int]:
    """QEMU's threads that are not vCPU threads."""
    vcpus = set(vcpu_threads(guest))
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{guest.process.pid}/task")]
    except FileNotFoundError:
        return []
    return [tid for tid in tids if tid not in vcpus]


def domain_cgroup(host, guest, create: bool = True) -> Optional[DomainCgroup]:
    """The guest's cgroup, created (with QEMU moved in) on first need when `create`."""
    if guest.cgroup is None and create:
        group = DomainCgroup.create(host.paths.cgroup_driver, guest.name)
        try:
            group.add_process(guest.process.pid)
        except (VirtError, OSError):
            group.remove()
            raise
        guest.cgroup = group
    return guest.cgroup


def percpu_usage(group: DomainCgroup) -> Optional[list[int]]:
    """CPU time per host CPU in ns from the group's cpuacct.usage_percpu (v1), None where there is none."""
    from virtkernel.cgroup import Controller
    try:
        with open(group.path(Controller.CPUACCT) / "cpuacct.usage_percpu") as usage:
            text = usage.read()
    except (OSError, VirtError):
        return None
    return [int(value) for value in text.split()] or None


def apply_at_start(host, guest) -> None:
    """Pinning and cgroup tunables of the XML, applied to a freshly started (paused) QEMU."""
    plan = guest.plan
    ncpus = host.ncpus
    if plan.vcpu_pins or plan.vcpu_cpuset:
        for index, tid in enumerate(vcpu_threads(guest)):
            text = plan.vcpu_pins.get(index, plan.vcpu_cpuset)
            if text:
                set_thread_affinity(tid, parse_cpuset(text, ncpus, "<cputune><vcpupin>"), guest.name)
    if plan.emulator_pin:
        cpumap = parse_cpuset(plan.emulator_pin, ncpus, "<cputune><emulatorpin>")
        for tid in emulator_threads(guest):
            set_thread_affinity(tid, cpumap, guest.name)
    root = guest.live.root
    cputune = root.find("cputune")
    wants_cpu = cputune is not None and any(cputune.find(t) is not None for t in ("shares", "period", "quota"))
    memtune = root.find("memtune")
    blkiotune = root.find("blkiotune")
    if not (wants_cpu or memtune is not None or blkiotune is not None):
        return
    from .tunables import apply_xml_tunables
    apply_xml_tunables(domain_cgroup(host, guest), root)
