"""Memory, vCPU, pinning and resource-tuning commands."""

from __future__ import annotations

import re
from typing import Any

from ..enums import (DomainMemoryModFlags as Mem, DomainModificationImpact as Impact, DomainNumatuneMemMode,
                     DomainVcpuFlags as Vcpu, ErrorCode)
from ..errors import InvalidArg, VirtError
from .errors import CliError, Failing
from .format import cpu_list, parse_cpu_list, print_table
from .helpers import exclusive, has_impact, impact_flags
from .parse import Arguments
from .session import Session
from .table import Option, OptType, command, domain_option, flag, impact_options

MEMORY_PARAM_UNLIMITED = 9007199254740991
VCPU_STATES = {0: "offline", 1: "running", 2: "blocked"}


def _host_cpus(session: Session) -> int:
    """How many host CPUs a cpu map covers (virNodeGetCPUMap; the node's CPU count where that is unsupported)."""
    try:
        return session.conn.get_cpu_map()[0]
    except VirtError as exc:
        if exc.code != ErrorCode.NO_SUPPORT:
            raise
        return session.conn.get_info().cpus


def _cpumap(session: Session, text: str) -> list[bool]:
    """A cpulist as a map as wide as the host; virsh's errors for CPUs it does not have and for garbage."""
    ncpus = _host_cpus(session)
    try:
        return parse_cpu_list(text, ncpus)
    except ValueError:
        pass
    for number in re.findall(r"\d+", text):
        if int(number) >= ncpus:
            raise CliError(f"CPU {int(number)} in cpulist '{text}' exceed the maxcpu {ncpus}")
    raise CliError(f"Invalid cpulist '{text}'",
                   cause=InvalidArg(f"Failed to parse bitmap '{text}'", code=ErrorCode.INVALID_ARG))


# -- memory ----------------------------------------------------------------------------------------------------------

SIZE_OPTION = Option("size", OptType.SCALED, "new memory size, as scaled integer (default KiB)", required=True)


@command("setmem", "change memory allocation", domain_option(), SIZE_OPTION, *impact_options(),
         description="Change the current memory allocation in the guest domain.")
def cmd_setmem(session: Session, args: Arguments) -> None:
    """Change the current memory allocation in the guest domain."""
    dom = session.domain(args.string("domain"))
    flags = impact_flags(args)
    kib = args.scaled("size")
    if has_impact(args):
        dom.set_memory(kib, flags)
    else:
        dom.set_memory(kib)


@command("setmaxmem", "change maximum memory limit", domain_option(),
         Option("size", OptType.SCALED, "new maximum memory size, as scaled integer (default KiB)", required=True),
         *impact_options(),
         description="Change the maximum memory allocation limit in the guest domain.")
def cmd_setmaxmem(session: Session, args: Arguments) -> None:
    """Change the maximum memory allocation limit in the guest domain."""
    dom = session.domain(args.string("domain"))
    flags = impact_flags(args)
    kib = args.scaled("size")
    with Failing("Unable to change MaxMemorySize"):
        if has_impact(args):
            dom.set_memory(kib, flags | Mem.MAXIMUM)
        else:
            dom.set_max_memory(kib)


MEMTUNE = (("hard-limit", "hard_limit", "Max memory"), ("soft-limit", "soft_limit", "Memory during contention"),
           ("swap-hard-limit", "swap_hard_limit", "Max memory plus swap"),
           ("min-guarantee", "min_guarantee", "Min guaranteed memory"))


@command("memtune", "Get or set memory parameters", domain_option(),
         *(Option(opt, OptType.SCALED, f"{text}, as scaled integer (default KiB)") for opt, _key, text in MEMTUNE),
         *impact_options(),
         description="Get or set the current memory parameters for a guest domain.")
def cmd_memtune(session: Session, args: Arguments) -> None:
    """Get or set the current memory parameters for a guest domain."""
    dom = session.domain(args.string("domain"))
    flags = impact_flags(args)
    params: dict[str, int] = {}
    for opt, key, _text in MEMTUNE:
        if args.has(opt):
            text = args.string(opt)
            params[key] = MEMORY_PARAM_UNLIMITED if text == "-1" else args.scaled(opt)
    if params:
        with Failing("Unable to change memory parameters"):
            dom.set_memory_parameters(params, flags)
        return
    with Failing("Unable to get memory parameters"):
        current = dom.get_memory_parameters(flags)
    for key, value in current.items():
        shown = "unlimited" if value == MEMORY_PARAM_UNLIMITED else str(value)
        session.line(f"{key:<15}: {shown}")


# -- vCPUs -----------------------------------------------------------------------------------------------------------

@command("setvcpus", "change number of virtual CPUs", domain_option(),
         Option("count", OptType.NUMBER, "number of virtual CPUs", required=True),
         flag("maximum", "set maximum limit on next boot"), *impact_options(),
         flag("guest", "modify cpu state in the guest"), flag("hotpluggable", "make added vcpus hot(un)pluggable"),
         description="Change the number of virtual CPUs in the guest domain.")
def cmd_setvcpus(session: Session, args: Arguments) -> None:
    """Change the number of virtual CPUs in the guest domain."""
    dom = session.domain(args.string("domain"))
    count = args.number("count", minimum=0, maximum=2**31 - 1)
    flags = impact_flags(args)
    for name, bit in (("maximum", Vcpu.MAXIMUM), ("guest", Vcpu.GUEST), ("hotpluggable", Vcpu.HOTPLUGGABLE)):
        if args.flag(name):
            flags |= bit
    if flags:
        dom.set_vcpus(count, flags)
    else:
        dom.set_vcpus(count)


@command("vcpucount", "domain vcpu counts", domain_option(),
         flag("maximum", "get maximum count of vcpus"), flag("active", "get number of currently active vcpus"),
         flag("live", "get value from running domain"), flag("config", "get value to be used on next boot"),
         flag("current", "get value according to current domain state"),
         flag("guest", "retrieve vcpu count from the guest instead of the hypervisor"),
         description="Returns the number of virtual CPUs used by the domain.")
def cmd_vcpucount(session: Session, args: Arguments) -> None:
    """Returns the number of virtual CPUs used by the domain."""
    dom = session.domain(args.string("domain"))
    exclusive(args, "maximum", "active")
    exclusive(args, "guest", "config")
    chosen = [name for name in ("maximum", "active", "live", "config", "current", "guest") if args.flag(name)]
    if chosen:
        flags = 0
        for name, bit in (("live", Impact.LIVE), ("config", Impact.CONFIG), ("maximum", Vcpu.MAXIMUM),
                          ("guest", Vcpu.GUEST)):
            if args.flag(name):
                flags |= bit
        session.line(str(dom.get_vcpus_flags(int(flags))))
        return
    active = dom.is_active()
    for kind in ("maximum", "current"):
        for place in ("config", "live"):
            if place == "live" and not active:
                continue
            bits = (Vcpu.MAXIMUM if kind == "maximum" else 0) | (Impact.CONFIG if place == "config" else Impact.LIVE)
            session.line(f"{kind:<12} {place:<12} {dom.get_vcpus_flags(int(bits)):3d}")


@command("vcpuinfo", "detailed domain vcpu information", domain_option(),
         flag("pretty", "return human readable output"),
         description="Returns basic information about the domain virtual CPUs.")
def cmd_vcpuinfo(session: Session, args: Arguments) -> None:
    """Returns basic information about the domain virtual CPUs."""
    dom = session.domain(args.string("domain"))
    try:
        infos, maps = dom.get_vcpus()
        rows = [(str(i.number), str(i.cpu), VCPU_STATES.get(i.state, "no state"), f"{i.cpu_time / 1e9:.1f}s", m)
                for i, m in zip(infos, maps)]
    except VirtError as exc:
        if exc.code != ErrorCode.OPERATION_INVALID or dom.is_active():
            raise
        maps = dom.get_vcpu_pin_info(Impact.CONFIG)
        rows = [(str(n), "N/A", "N/A", "N/A", m) for n, m in enumerate(maps)]
    for index, (number, cpu, state, cpu_time, cpumap) in enumerate(rows):
        if index:
            session.line()
        session.line(f"{'VCPU:':<15} {number}")
        session.line(f"{'CPU:':<15} {cpu}")
        session.line(f"{'State:':<15} {state}")
        # virsh writes the label without its colon when the domain is not running
        session.line(f"{'CPU time' if cpu_time == 'N/A' else 'CPU time:':<15} {cpu_time}")
        if args.flag("pretty"):
            affinity = f"{cpu_list(cpumap)} (out of {len(cpumap)})"
        else:
            affinity = "".join("y" if c else "-" for c in cpumap)
        session.line(f"{'CPU Affinity:':<15} {affinity}")


@command("vcpupin", "control or query domain vcpu affinity", domain_option(),
         Option("vcpu", OptType.NUMBER, "vcpu number"),
         Option("cpulist", OptType.STRING, "host cpu number(s) to set, or omit option to query"),
         *impact_options(),
         description="Pin domain VCPUs to host physical CPUs.")
def cmd_vcpupin(session: Session, args: Arguments) -> None:
    """Pin domain VCPUs to host physical CPUs."""
    dom = session.domain(args.string("domain"))
    flags = impact_flags(args)
    vcpu = args.number("vcpu", minimum=0)
    if args.has("cpulist"):
        if vcpu is None:
            raise CliError("vcpupin: Missing vCPU number in pin mode.")
        cpumap = _cpumap(session, args.string("cpulist"))
        dom.pin_vcpu(vcpu, cpumap, flags)
        return
    maps = dom.get_vcpu_pin_info(flags)
    if vcpu is not None and vcpu >= len(maps):
        raise CliError(f"vcpu {vcpu} is out of range of live cpu count {len(maps)}")
    rows = [(str(n), cpu_list(m)) for n, m in enumerate(maps) if vcpu is None or n == vcpu]
    print_table(session, ["VCPU", "CPU Affinity"], rows)


@command("emulatorpin", "control or query domain emulator affinity", domain_option(),
         Option("cpulist", OptType.STRING, "host cpu number(s) to set, or omit option to query"),
         *impact_options(),
         description="Pin domain emulator threads to host physical CPUs.")
def cmd_emulatorpin(session: Session, args: Arguments) -> None:
    """Pin domain emulator threads to host physical CPUs."""
    dom = session.domain(args.string("domain"))
    flags = impact_flags(args)
    if args.has("cpulist"):
        dom.pin_emulator(_cpumap(session, args.string("cpulist")), flags)
        return
    cpumap = dom.get_emulator_pin_info(flags)
    session.extra("emulator: CPU Affinity\n")
    session.extra("----------------------------------\n")
    session.line(f"       *: {cpu_list(cpumap)}")


# -- scheduler, blkio, numa ------------------------------------------------------------------------------------------

def _typed(text: str, like: Any, name: str) -> Any:
    """A --set value converted to the type the parameter currently has."""
    try:
        if isinstance(like, bool):
            return text.lower() in ("1", "yes", "true", "on")
        if isinstance(like, int):
            return int(text, 10)
        if isinstance(like, float):
            return float(text)
    except ValueError:
        raise CliError(f"invalid value '{text}' for parameter '{name}'") from None
    return text


def _scheduler_parameters(dom: Any, flags: int, flagged: bool) -> dict[str, Any]:
    """Like virsh: the legacy getter (no flags, no string values) unless an impact option was given."""
    return dom.get_scheduler_parameters(flags) if flagged else dom.get_scheduler_parameters_legacy()


@command("schedinfo", "show/set scheduler parameters", domain_option(),
         Option("weight", OptType.NUMBER, "weight for XEN_CREDIT", positional=False),
         Option("cap", OptType.NUMBER, "cap for XEN_CREDIT", positional=False),
         flag("current", "get/set current scheduler info"), flag("config", "get/set value to be used on next boot"),
         flag("live", "get/set value from running domain"),
         Option("set", OptType.ARGV, "parameter=value"),
         description="Show/Set scheduler parameters.")
def cmd_schedinfo(session: Session, args: Arguments) -> None:
    """Show/Set scheduler parameters."""
    dom = session.domain(args.string("domain"))
    flags = impact_flags(args)
    scheduler, _count = dom.get_scheduler_type()
    session.line(f"{'Scheduler':<15}: {scheduler}")
    flagged = bool(flags) or args.has("current")
    current = _scheduler_parameters(dom, flags, flagged)
    changes: dict[str, Any] = {}
    requested: list[tuple[str, str]] = []
    for item in args.strings("set"):
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise CliError("Invalid syntax for --set, expecting name=value")
        requested.append((name, value))
    for name in ("weight", "cap"):
        if args.has(name):
            requested.append((name, args.string(name)))
    for name, value in requested:
        if name not in current:
            raise CliError(f"invalid scheduler option: {name}")
        changes[name] = _typed(value, current[name], name)
    if changes:
        with Failing("Unable to change scheduler parameters"):
            dom.set_scheduler_parameters(changes, flags)
        current = _scheduler_parameters(dom, flags, flagged)
    for name, value in current.items():
        session.line(f"{name:<15}: {value}")


BLKIO = (("device-weights", "device_weight", "per-device IO Weights, in the form of /path/to/device,weight,..."),
         ("device-read-iops-sec", "device_read_iops_sec",
          "per-device read I/O limit per second, in the form of /path/to/device,read_iops_sec,..."),
         ("device-write-iops-sec", "device_write_iops_sec",
          "per-device write I/O limit per second, in the form of /path/to/device,write_iops_sec,..."),
         ("device-read-bytes-sec", "device_read_bytes_sec",
          "per-device bytes read per second, in the form of /path/to/device,read_bytes_sec,..."),
         ("device-write-bytes-sec", "device_write_bytes_sec",
          "per-device bytes wrote per second, in the form of /path/to/device,write_bytes_sec,..."))


@command("blkiotune", "Get or set blkio parameters", domain_option(),
         Option("weight", OptType.NUMBER, "IO Weight"),
         *(Option(opt, OptType.STRING, text) for opt, _key, text in BLKIO), *impact_options(),
         description="Get or set the current blkio parameters for a guest domain.")
def cmd_blkiotune(session: Session, args: Arguments) -> None:
    """Get or set the current blkio parameters for a guest domain."""
    dom = session.domain(args.string("domain"))
    flags = impact_flags(args)
    params: dict[str, Any] = {}
    if args.has("weight"):
        params["weight"] = args.number("weight", minimum=0)
    for opt, key, _text in BLKIO:
        if args.has(opt):
            params[key] = args.string(opt)
    if params:
        with Failing("Unable to change blkio parameters"):
            dom.set_blkio_parameters(params, flags)
        return
    with Failing("Unable to get blkio parameters"):
        current = dom.get_blkio_parameters(flags)
    for name, value in current.items():
        session.line(f"{name:<15}: {value}")


NUMA_MODES = {m.value: m.name.lower() for m in DomainNumatuneMemMode}


@command("numatune", "Get or set numa parameters", domain_option(),
         Option("mode", OptType.STRING, "NUMA mode, one of strict, preferred, interleave and restrictive"),
         Option("nodeset", OptType.STRING, "NUMA node selections to set"), *impact_options(),
         description="Get or set the current numa parameters for a guest domain.")
def cmd_numatune(session: Session, args: Arguments) -> None:
    """Get or set the current numa parameters for a guest domain."""
    dom = session.domain(args.string("domain"))
    flags = impact_flags(args)
    params: dict[str, Any] = {}
    if args.has("mode"):
        text = args.string("mode")
        by_name = {name: value for value, name in NUMA_MODES.items()}
        if text in by_name:
            params["numa_mode"] = by_name[text]
        elif text.isdigit() and int(text) in NUMA_MODES:
            params["numa_mode"] = int(text)
        else:
            raise CliError(f"Invalid mode: {text}")
    if args.has("nodeset"):
        params["numa_nodeset"] = args.string("nodeset")
    if params:
        with Failing("Unable to change numa parameters"):
            dom.set_numa_parameters(params, flags)
        return
    current = dom.get_numa_parameters(flags)
    for name, value in current.items():
        shown = NUMA_MODES.get(value, value) if name == "numa_mode" else value
        session.line(f"{name:<15}: {shown}")

