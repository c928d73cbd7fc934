"""Host and hypervisor commands: version, uri, hostname, capabilities, node facts, plugins."""

from __future__ import annotations

from ..connection import LIB_VERSION
from ..discovery import installed_plugins
from ..enums import ErrorCode
from ..errors import VirtError
from .errors import CliError, Failing
from .parse import Arguments
from .session import Session
from .table import Option, OptType, command, flag


def _dotted(version: int) -> str:
    return f"{version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}"


@command("version", "show version", flag("daemon", "report daemon version too"), group="host",
         description="Display the system version information.")
def cmd_version(session: Session, args: Arguments) -> None:
    """Display the system version information."""
    conn = session.conn
    hv_type = conn.get_type()
    session.line(f"Compiled against library: libvirt {_dotted(LIB_VERSION)}")
    session.line(f"Using library: libvirt {_dotted(conn.get_lib_version())}")
    session.line(f"Using API: {hv_type} {_dotted(LIB_VERSION)}")
    try:
        session.line(f"Running hypervisor: {hv_type} {_dotted(conn.get_version())}")
    except VirtError as exc:
        if exc.code != ErrorCode.NO_SUPPORT:
            raise
        raise CliError(f"Cannot extract running {hv_type} hypervisor version") from None
    if args.flag("daemon"):
        raise CliError("virtkernel runs without a daemon: there is no daemon version to report")


@command("uri", "print the hypervisor canonical URI", group="host",
         description="Print the hypervisor canonical URI.")
def cmd_uri(session: Session, args: Arguments) -> None:
    """Print the hypervisor canonical URI."""
    session.line(session.conn.get_uri())


@command("hostname", "print the hypervisor hostname", group="host", description="")
def cmd_hostname(session: Session, args: Arguments) -> None:
    """Print the hypervisor hostname."""
    session.line(session.conn.get_hostname())


@command("capabilities", "capabilities", group="host", description="Returns capabilities of hypervisor/driver.")
def cmd_capabilities(session: Session, args: Arguments) -> None:
    """Returns capabilities of hypervisor/driver."""
    session.write(session.conn.get_capabilities() + "\n")  # virsh adds a newline to the document's own


@command("domcapabilities", "domain capabilities",
         Option("virttype", OptType.STRING, "virtualization type (/domain/@type)"),
         Option("emulatorbin", OptType.STRING, "path to emulator binary (/domain/devices/emulator)"),
         Option("arch", OptType.STRING, "domain architecture (/domain/os/type/@arch)"),
         Option("machine", OptType.STRING, "machine type (/domain/os/type/@machine)"),
         group="host", description="Returns capabilities of emulator with respect to host and libvirt.")
def cmd_domcapabilities(session: Session, args: Arguments) -> None:
    """Returns capabilities of emulator with respect to host and libvirt."""
    with Failing("failed to get emulator capabilities"):
        xml = session.conn.get_domain_capabilities(args.string("emulatorbin"), args.string("arch"),
                                                   args.string("machine"), args.string("virttype"))
    session.write(xml + "\n")


@command("sysinfo", "print the hypervisor sysinfo", group="host",
         description="output an XML string for the hypervisor sysinfo, if available")
def cmd_sysinfo(session: Session, args: Arguments) -> None:
    """Output an XML string for the hypervisor sysinfo, if available."""
    xml = session.conn.get_sysinfo()
    session.write(xml if xml.endswith("\n") else xml + "\n")


@command("nodeinfo", "node information", group="host", description="Returns basic information about the node.")
def cmd_nodeinfo(session: Session, args: Arguments) -> None:
    """Returns basic information about the node."""
    info = session.conn.get_info()
    for label, value in (("CPU model:", info.model), ("CPU(s):", info.cpus), ("CPU frequency:", f"{info.mhz} MHz"),
                         ("CPU socket(s):", info.sockets), ("Core(s) per socket:", info.cores),
                         ("Thread(s) per core:", info.threads), ("NUMA cell(s):", info.nodes),
                         ("Memory size:", f"{info.memory} KiB")):
        session.line(f"{label:<20} {value}")


@command("maxvcpus", "connection vcpu maximum", Option("type", OptType.STRING, "domain type"), group="host",
         description="Get the maximum number of virtual CPUs supported for a guest VM on this connection.")
def cmd_maxvcpus(session: Session, args: Arguments) -> None:
    """Get the maximum number of virtual CPUs supported for a guest VM on this connection."""
    session.line(str(session.conn.get_max_vcpus(args.string("type"))))


@command("freecell", "NUMA free memory",
         Option("cellno", OptType.NUMBER, "NUMA cell number"), flag("all", "show free memory for all NUMA cells"),
         group="host", description="display available free memory for the NUMA cell.")
def cmd_freecell(session: Session, args: Arguments) -> None:
    """Display available free memory for the NUMA cell."""
    if args.flag("all") and args.has("cellno"):
        raise CliError("Options --all and --cellno are mutually exclusive")
    conn = session.conn
    if args.flag("all"):
        cells = conn.get_info().nodes
        free = conn.get_cells_free_memory(0, cells)
        for cell, value in enumerate(free):
            session.line(f"{cell:5d}: {value // 1024:10d} KiB")
        session.line("-" * 20)
        session.line(f"{'Total':>5}: {sum(free) // 1024:10d} KiB")
        return
    if args.has("cellno"):
        cell = args.number("cellno", minimum=0)
        value = conn.get_cells_free_memory(cell, 1)[0]
        session.line(f"{cell}: {value // 1024} KiB")
        return
    session.line(f"Total: {conn.get_free_memory() // 1024} KiB")


@command("plugins", "list installed drivers and hook plugins", group="host", needs_connection=False,
         description="List the installed drivers and lifecycle-hook plugins with their distributions and versions "
                     "(virtkernel addition).")
def cmd_plugins(session: Session, args: Arguments) -> None:
    """List installed drivers and hook plugins with their distributions and versions."""
    plugins = installed_plugins()
    if not plugins:
        session.line("no plugins installed")
        return
    width = max(len(p.name) for p in plugins)
    session.line(f" {'Kind':<7} {'Name':<{width}}  {'Distribution':<28} Version")
    session.line("-" * (width + 50))
    for p in plugins:
        session.line(f" {p.kind:<7} {p.name:<{width}}  {p.distribution:<28} {p.version}")
