"""Domain monitoring commands: devices, statistics, guest-side information."""

from __future__ import annotations

import time
from typing import Optional

from lxml import etree

from ..domainxml import parse_xml
from ..enums import (ConnectGetAllDomainStatsFlags as StatsFlags, DomainControlState,
                     DomainDeviceModifyFlags as Modify, DomainGetHostnameFlags,
                     DomainInterfaceAddressesSource as AddrSource, DomainMemoryStatTags as Tag,
                     DomainSetTimeFlags, DomainStatsTypes, DomainXMLFlags, ErrorCode, IPAddrType)
from ..errors import VirtError
from .errors import CliError, Failing
from .format import human_size, print_json, print_table, typed_value
from .helpers import exclusive, impact_flags, read_file
from .parse import Arguments
from .session import Session
from .table import Complete, Option, OptType, command, domain_option, flag, impact_options


def _devices(session: Session, domain: str, inactive: bool) -> etree._Element:
    dom = session.domain(domain)
    return parse_xml(dom.get_xml_desc(DomainXMLFlags.INACTIVE if inactive else 0))


def _disk_source(disk: etree._Element) -> str:
    source = disk.find("source")
    if source is None:
        return "-"
    for attribute in ("file", "dev", "dir", "name"):
        if source.get(attribute):
            return source.get(attribute)
    if source.get("pool") and source.get("volume"):
        return f"{source.get('pool')}/{source.get('volume')}"
    return "-"


@command("domblklist", "list all domain blocks", domain_option(),
         flag("inactive", "get inactive rather than running configuration"),
         flag("details", "additionally display the type and device value"),
         description="Get the summary of block devices for a domain.")
def cmd_domblklist(session: Session, args: Arguments) -> None:
    """Get the summary of block devices for a domain."""
    root = _devices(session, args.string("domain"), args.flag("inactive"))
    rows = []
    for disk in root.iterfind("devices/disk"):
        target = disk.find("target")
        name = target.get("dev") if target is not None else "-"
        row = [name, _disk_source(disk)]
        if args.flag("details"):
            row = [disk.get("type", "-"), disk.get("device", "disk"), *row]
        rows.append(row)
    headers = ["Type", "Device", "Target", "Source"] if args.flag("details") else ["Target", "Source"]
    print_table(session, headers, rows)


@command("domiflist", "list all domain virtual interfaces", domain_option(),
         flag("inactive", "get inactive rather than running configuration"),
         description="Get the summary of virtual interfaces for a domain.")
def cmd_domiflist(session: Session, args: Arguments) -> None:
    """Get the summary of virtual interfaces for a domain."""
    root = _devices(session, args.string("domain"), args.flag("inactive"))
    rows = []
    for nic in root.iterfind("devices/interface"):
        target = nic.find("target")
        source = nic.find("source")
        model = nic.find("model")
        mac = nic.find("mac")
        source_text = "-"
        if source is not None:
            source_text = next((source.get(a) for a in ("bridge", "network", "dev", "name") if source.get(a)), "-")
        rows.append([target.get("dev") if target is not None and target.get("dev") else "-", nic.get("type", "-"),
                     source_text, model.get("type") if model is not None else "-",
                     mac.get("address") if mac is not None else "-"])
    print_table(session, ["Interface", "Type", "Source", "Model", "MAC"], rows)


BLOCK_FIELDS = (("rd_operations", "rd_req", "number of read operations:"),
                ("rd_bytes", "rd_bytes", "number of bytes read:"),
                ("wr_operations", "wr_req", "number of write operations:"),
                ("wr_bytes", "wr_bytes", "number of bytes written:"),
                ("errs", "errs", "error count:"),
                ("flush_operations", "flush_operations", "number of flush operations:"),
                ("rd_total_times", "rd_total_times", "total duration of reads (ns):"),
                ("wr_total_times", "wr_total_times", "total duration of writes (ns):"),
                ("flush_total_times", "flush_total_times", "total duration of flushes (ns):"))


@command("domblkstat", "get device block stats for a domain", domain_option(),
         Option("device", OptType.STRING, "block device"), flag("human", "print a more human readable output"),
         description="Get device block stats for a running domain.")
def cmd_domblkstat(session: Session, args: Arguments) -> None:
    """Get device block stats for a running domain."""
    dom = session.domain(args.string("domain"))
    device = args.string("device", "")
    with Failing(f"Failed to get block stats {dom.name} {device}"):
        try:
            params = dom.block_stats_flags(device)
        except VirtError as exc:
            if exc.code != ErrorCode.NO_SUPPORT:
                raise
            legacy = dom.block_stats(device)
            params = {"rd_operations": legacy.rd_req, "rd_bytes": legacy.rd_bytes, "wr_operations": legacy.wr_req,
                      "wr_bytes": legacy.wr_bytes, "errs": legacy.errs}
    if args.flag("human"):
        session.line(f"Device: {device}")
    known = {key for key, _short, _long in BLOCK_FIELDS}
    for key, short, long in BLOCK_FIELDS:
        value = params.get(key, -1)
        if value is None or value == -1:
            continue
        if args.flag("human"):
            session.line(f" {long:<31} {value}")
        else:
            session.line(f"{device} {short} {value}")
    for key, value in params.items():
        if key not in known:
            session.line(f" {key + ':':<31} {typed_value(value)}" if args.flag("human")
                         else f"{device} {key} {typed_value(value)}")


@command("domifstat", "get network interface stats for a domain", domain_option(),
         Option("interface", OptType.STRING, "interface device specified by name or MAC Address", required=True),
         description="Get network interface stats for a running domain.")
def cmd_domifstat(session: Session, args: Arguments) -> None:
    """Get network interface stats for a running domain."""
    dom = session.domain(args.string("domain"))
    device = args.string("interface")
    with Failing(f"Failed to get interface stats {dom.name} {device}"):
        stats = dom.interface_stats(device)
    for name, value in stats._asdict().items():
        if value != -1:
            session.line(f"{device} {name} {value}")


MEMORY_STAT_NAMES = {
    Tag.SWAP_IN: "swap_in", Tag.SWAP_OUT: "swap_out", Tag.MAJOR_FAULT: "major_fault",
    Tag.MINOR_FAULT: "minor_fault", Tag.UNUSED: "unused", Tag.AVAILABLE: "available",
    Tag.ACTUAL_BALLOON: "actual", Tag.RSS: "rss", Tag.USABLE: "usable", Tag.LAST_UPDATE: "last_update",
    Tag.DISK_CACHES: "disk_caches", Tag.HUGETLB_PGALLOC: "hugetlb_pgalloc", Tag.HUGETLB_PGFAIL: "hugetlb_pgfail",
}


@command("dommemstat", "get memory statistics for a domain", domain_option(),
         Option("period", OptType.NUMBER, "period in seconds to set collection", positional=False),
         *impact_options(),
         description="Get memory statistics for a running domain.")
def cmd_dommemstat(session: Session, args: Arguments) -> None:
    """Get memory statistics for a running domain."""
    dom = session.domain(args.string("domain"))
    flags = impact_flags(args)
    if args.has("period"):
        period = args.number("period", minimum=0)
        with Failing("Unable to change balloon collection period."):
            dom.set_memory_stats_period(period, flags)
        return
    with Failing(f"Failed to get memory statistics for domain {dom.name}"):
        stats = dom.memory_stats()
    for tag, value in stats.items():
        name = MEMORY_STAT_NAMES.get(tag)
        if name is not None:
            session.line(f"{name} {value}")


@command("domblkinfo", "domain block device size information", domain_option(),
         Option("device", OptType.STRING, "block device"), flag("human", "Human readable output"),
         flag("all", "display all block devices info"),
         description="Get block device size info for a domain.")
def cmd_domblkinfo(session: Session, args: Arguments) -> None:
    """Get block device size info for a domain."""
    dom = session.domain(args.string("domain"))
    human = args.flag("human")

    def shown(value: int) -> str:
        return human_size(value) if human else str(value)

    if args.flag("all"):
        if args.has("device"):
            raise CliError("Options --all and --device are mutually exclusive")
        root = parse_xml(dom.get_xml_desc(0))
        rows = []
        for disk in root.iterfind("devices/disk"):
            target = disk.find("target")
            if target is None:
                continue
            name = target.get("dev")
            try:
                info = dom.get_block_info(name)
                rows.append([name, shown(info.capacity), shown(info.allocation), shown(info.physical)])
            except VirtError:
                rows.append([name, "-", "-", "-"])
        print_table(session, ["Target", "Capacity", "Allocation", "Physical"], rows)
        return
    device = args.string("device")
    if device is None:
        raise CliError("command 'domblkinfo' requires <device> option")
    info = dom.get_block_info(device)
    session.line(f"{'Capacity:':<15} {shown(info.capacity)}")
    session.line(f"{'Allocation:':<15} {shown(info.allocation)}")
    session.line(f"{'Physical:':<15} {shown(info.physical)}")


ADDRESS_SOURCES = {"lease": AddrSource.LEASE, "agent": AddrSource.AGENT, "arp": AddrSource.ARP}


@command("domifaddr", "Get network interfaces' addresses for a running domain", domain_option(),
         Option("interface", OptType.STRING, "network interface name"),
         flag("full", "always display names and MACs of interfaces"),
         Option("source", OptType.STRING, "address source: 'lease', 'agent', or 'arp'"),
         description="Get network interfaces' addresses for a running domain")
def cmd_domifaddr(session: Session, args: Arguments) -> None:
    """Get network interfaces' addresses for a running domain."""
    dom = session.domain(args.string("domain"))
    source_text = args.string("source", "lease")
    if source_text not in ADDRESS_SOURCES:
        raise CliError(f"Unknown data source '{source_text}'")
    wanted = args.string("interface")
    with Failing("Failed to query for interfaces addresses"):
        interfaces = dom.interface_addresses(ADDRESS_SOURCES[source_text])
    session.extra(f" {'Name':<10} {'MAC address':<20} {'Protocol':<12} Address\n")
    session.extra("-" * 79 + "\n")
    for iface in interfaces:
        if wanted and iface.name != wanted and iface.hwaddr != wanted:
            continue
        mac = iface.hwaddr or "N/A"
        if not iface.addrs:
            session.line(f" {iface.name:<10} {mac:<20} {'N/A':<12} N/A")
            continue
        for index, (kind, address, prefix) in enumerate(iface.addrs):
            protocol = "ipv6" if kind == IPAddrType.IPV6 else "ipv4"
            name, shown_mac = (iface.name, mac) if index == 0 or args.flag("full") else ("-", "-")
            session.line(f" {name:<10} {shown_mac:<20} {protocol:<12} {address}/{prefix}")


@command("domhostname", "print the domain's hostname", domain_option(),
         Option("source", OptType.STRING, "address source: 'lease' or 'agent'"),
         description="Print the domain's hostname.")
def cmd_domhostname(session: Session, args: Arguments) -> None:
    """Print the domain's hostname."""
    dom = session.domain(args.string("domain"))
    flags = 0
    source = args.string("source")
    if source is not None:
        choices = {"lease": DomainGetHostnameFlags.LEASE, "agent": DomainGetHostnameFlags.AGENT}
        if source not in choices:
            raise CliError(f"Unknown data source '{source}'")
        flags = int(choices[source])
    with Failing("failed to get hostname"):
        hostname = dom.get_hostname(flags)
    session.line(hostname)


@command("domtime", "domain time", domain_option(), flag("now", "set to the time of the host running virtkernel"),
         flag("pretty", "print domain's time in human readable form"),
         flag("sync", "instead of setting given time, synchronize from domain's RTC"),
         Option("time", OptType.NUMBER, "time to set"),
         description="Gets or sets the domain's system time")
def cmd_domtime(session: Session, args: Arguments) -> None:
    """Gets or sets the domain's system time."""
    dom = session.domain(args.string("domain"))
    exclusive(args, "time", "now")
    exclusive(args, "time", "sync")
    exclusive(args, "now", "sync")
    seconds = args.number("time")
    if args.flag("now") or args.flag("sync") or seconds is not None:
        if args.flag("pretty"):
            raise CliError("Options --pretty and --now/--sync/--time are mutually exclusive")
        nseconds = 0
        if args.flag("now"):
            now = time.time_ns()
            seconds, nseconds = divmod(now, 1_000_000_000)
        flags = DomainSetTimeFlags.SYNC if args.flag("sync") else 0
        dom.set_time(seconds or 0, nseconds, int(flags))
        return
    seconds, _nseconds = dom.get_time()
    if args.flag("pretty"):
        session.write("Time: " + time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)))
    else:
        session.write(f"Time: {seconds}")


def _mountpoints(args: Arguments) -> Optional[list[str]]:
    points = args.strings("mountpoint")
    return points or None


@command("domfsfreeze", "Freeze domain's mounted filesystems.", domain_option(),
         Option("mountpoint", OptType.ARGV, "mountpoint path to be frozen"),
         description="Freeze domain's mounted filesystems.")
def cmd_domfsfreeze(session: Session, args: Arguments) -> None:
    """Freeze domain's mounted filesystems."""
    dom = session.domain(args.string("domain"))
    with Failing("Unable to freeze filesystems"):
        count = dom.fs_freeze(_mountpoints(args))
    session.line(f"Froze {count} filesystem(s)")


@command("domfsthaw", "Thaw domain's mounted filesystems.", domain_option(),
         Option("mountpoint", OptType.ARGV, "mountpoint path to be thawed"),
         description="Thaw domain's mounted filesystems.")
def cmd_domfsthaw(session: Session, args: Arguments) -> None:
    """Thaw domain's mounted filesystems."""
    dom = session.domain(args.string("domain"))
    with Failing("Unable to thaw filesystems"):
        count = dom.fs_thaw(_mountpoints(args))
    session.line(f"Thawed {count} filesystem(s)")


CONTROL_STATES = {DomainControlState.ERROR: "error", 0: "ok", 1: "background job", 2: "occupied"}
CONTROL_ERRORS = {0: "none", 1: "unknown", 2: "monitor failure", 3: "internal (locking) error"}


@command("domcontrol", "domain control interface state", domain_option(),
         description="Returns state of a control interface to the domain.")
def cmd_domcontrol(session: Session, args: Arguments) -> None:
    """Returns state of a control interface to the domain."""
    dom = session.domain(args.string("domain"))
    info = dom.get_control_info()
    name = CONTROL_STATES.get(info.state, "unknown")
    if info.state == 0:
        session.line(name)
    elif info.state == DomainControlState.ERROR:
        session.line(f"{name}: {CONTROL_ERRORS.get(info.details, 'unknown')}")
    else:
        session.line(f"{name} ({info.state_time / 1000:0.3f}s)")


# -- bulk statistics -------------------------------------------------------------------------------------------------

STATS_GROUPS = {
    "state": DomainStatsTypes.STATE, "cpu-total": DomainStatsTypes.CPU_TOTAL, "balloon": DomainStatsTypes.BALLOON,
    "vcpu": DomainStatsTypes.VCPU, "interface": DomainStatsTypes.INTERFACE, "block": DomainStatsTypes.BLOCK,
    "perf": DomainStatsTypes.PERF, "iothread": DomainStatsTypes.IOTHREAD, "memory": DomainStatsTypes.MEMORY,
    "dirtyrate": DomainStatsTypes.DIRTYRATE, "vm": DomainStatsTypes.VM,
}
STATS_HELP = {
    "state": "report domain state", "cpu-total": "report domain physical cpu usage",
    "balloon": "report domain balloon statistics", "vcpu": "report domain virtual cpu information",
    "interface": "report domain network interface information", "block": "report domain block device statistics",
    "perf": "report domain perf event statistics", "iothread": "report domain IOThread information",
    "memory": "report domain memory usage", "dirtyrate": "report domain dirty rate information",
    "vm": "report hypervisor-specific statistics",
}
STATS_LISTS = {
    "list-active": StatsFlags.ACTIVE, "list-inactive": StatsFlags.INACTIVE,
    "list-persistent": StatsFlags.PERSISTENT, "list-transient": StatsFlags.TRANSIENT,
    "list-running": StatsFlags.RUNNING, "list-paused": StatsFlags.PAUSED, "list-shutoff": StatsFlags.SHUTOFF,
    "list-other": StatsFlags.OTHER,
}


@command("domstats", "get statistics about one or multiple domains",
         *(flag(name, STATS_HELP[name]) for name in STATS_GROUPS),
         *(flag(name, f"list only {name[5:]} domains" if name != "list-other" else
                "list only domains in other states") for name in STATS_LISTS),
         flag("raw", "do not pretty-print the fields"), flag("enforce", "enforce requested stats parameters"),
         flag("backing", "add backing chain information to block stats"),
         flag("nowait", "report only stats that are accessible instantly"),
         flag("json", "print the statistics as JSON (virtkernel addition)"),
         Option("domain", OptType.ARGV, "list of domains to get stats for", complete=Complete.DOMAIN),
         description="Gets statistics about one or more (or all) domains")
def cmd_domstats(session: Session, args: Arguments) -> None:
    """Gets statistics about one or more (or all) domains."""
    stats = 0
    for name, bit in STATS_GROUPS.items():
        if args.flag(name):
            stats |= bit
    flags = 0
    for name, bit in STATS_LISTS.items():
        if args.flag(name):
            flags |= bit
    for name, bit in (("enforce", StatsFlags.ENFORCE_STATS), ("backing", StatsFlags.BACKING),
                      ("nowait", StatsFlags.NOWAIT)):
        if args.flag(name):
            flags |= bit
    names = args.strings("domain")
    if names:
        if flags & ~int(StatsFlags.ENFORCE_STATS | StatsFlags.BACKING | StatsFlags.NOWAIT):
            raise CliError("domain list filtering options are not supported together with a list of domains")
        domains = [session.domain(name) for name in names]
        records = session.conn.domain_list_get_stats(domains, int(stats), int(flags))
    else:
        records = session.conn.get_all_domain_stats(int(stats), int(flags))
    if args.flag("json"):
        print_json(session, [{"domain": dom.name, "stats": dict(params)} for dom, params in records])
        return
    for index, (dom, params) in enumerate(records):
        if index:
            session.line()
        session.line(f"Domain: '{dom.name}'")
        for key, value in params.items():
            session.line(f"  {key}={typed_value(value)}")


# -- devices ---------------------------------------------------------------------------------------------------------

def _device_command(name: str, help: str, description: str, call: str, failed: str, done: str,
                    extra: tuple[Option, ...] = ()) -> None:
    @command(name, help, domain_option(), Option("file", OptType.STRING, "XML file", required=True,
                                                 complete=Complete.FILE),
             flag("persistent", "make live change persistent"), *impact_options(), *extra,
             description=description)
    def handler(session: Session, args: Arguments) -> None:
        dom = session.domain(args.string("domain"))
        exclusive(args, "current", "persistent")
        flags = impact_flags(args)
        if args.flag("persistent"):
            flags |= Modify.CONFIG | (Modify.LIVE if dom.is_active() else 0)
        if args.flag("force"):
            flags |= Modify.FORCE
        path = args.string("file")
        xml = read_file(path)
        method = getattr(dom, call)
        with Failing(failed.format(file=path)):
            if flags or args.flag("current") or call == "update_device":
                method(xml, flags)
            else:
                method(xml)
        session.extra(done)

    handler.__name__ = f"cmd_{name.replace('-', '_')}"


_device_command("attach-device", "attach device from an XML file", "Attach device from an XML <file>.",
                "attach_device", "Failed to attach device from {file}", "Device attached successfully\n")
_device_command("detach-device", "detach device from an XML file", "Detach device from an XML <file>",
                "detach_device", "Failed to detach device from {file}", "Device detached successfully\n")
_device_command("update-device", "update device from an XML file", "Update device from an XML <file>.",
                "update_device", "Failed to update device from {file}", "Device updated successfully\n",
                (flag("force", "force device update"),))

