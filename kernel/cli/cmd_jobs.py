"""Long jobs and their control: save, restore, managed save, dump, job info/abort, migration."""

from __future__ import annotations

from typing import Any, Optional

from .. import migration
from ..domain import Domain
from ..domainxml import DomainDefinition
from ..enums import (DomainAbortJobFlags, DomainCoreDumpFlags as Dump, DomainCoreDumpFormat, DomainEventID,
                     DomainGetJobStatsFlags as JobStats, DomainJobType, DomainMigrateFlags as Migrate,
                     DomainMigrateMaxSpeedFlags, DomainSaveRestoreFlags as Save, ErrorCode)
from ..errors import VirtError
from .errors import CliError, Failing
from .format import print_json
from .helpers import exclusive, read_file
from .parse import Arguments
from .progress import JobWatcher
from .session import Session
from .table import Complete, Option, OptType, command, domain_option, flag

JOB_TYPES = {DomainJobType.NONE: "None", DomainJobType.BOUNDED: "Bounded", DomainJobType.UNBOUNDED: "Unbounded",
             DomainJobType.COMPLETED: "Completed", DomainJobType.FAILED: "Failed",
             DomainJobType.CANCELLED: "Cancelled"}
JOB_OPERATIONS = ["Unknown", "Start", "Save", "Restore", "Incoming migration", "Outgoing migration", "Snapshot",
                  "Snapshot revert", "Dump", "Backup", "Snapshot delete"]


def _save_flags(args: Arguments) -> int:
    exclusive(args, "running", "paused")
    flags = 0
    for name, bit in (("bypass-cache", Save.BYPASS_CACHE), ("running", Save.RUNNING), ("paused", Save.PAUSED),
                      ("reset-nvram", Save.RESET_NVRAM)):
        if args.flag(name):
            flags |= bit
    return int(flags)


FILE = Complete.FILE


@command("save", "save a domain state to a file", domain_option(),
         Option("file", OptType.STRING, "where to save the data", required=True, complete=FILE),
         flag("bypass-cache", "avoid file system cache when saving"),
         Option("xml", OptType.STRING, "filename containing updated XML for the target", complete=FILE),
         flag("running", "set domain to be running on restore"), flag("paused", "set domain to be paused on restore"),
         flag("verbose", "display the progress of save"),
         description="Save the RAM state of a running domain.")
def cmd_save(session: Session, args: Arguments) -> None:
    """Save the RAM state of a running domain."""
    dom = session.domain(args.string("domain"))
    path = args.string("file")
    flags = _save_flags(args)
    dxml = read_file(args.string("xml")) if args.has("xml") else None
    with Failing(f"Failed to save domain '{dom.name}' to {path}"):
        JobWatcher(session, dom, "Save", args.flag("verbose")).run(lambda: dom.save(path, dxml, flags))
    session.extra(f"Domain '{dom.name}' saved to {path}\n")


@command("restore", "restore a domain from a saved state in a file",
         Option("file", OptType.STRING, "the state to restore", required=True, complete=FILE),
         flag("bypass-cache", "avoid file system cache when restoring"),
         Option("xml", OptType.STRING, "filename containing updated XML for the target", complete=FILE),
         flag("running", "restore domain into running state"), flag("paused", "restore domain into paused state"),
         flag("reset-nvram", "re-initialize NVRAM from its pristine template"),
         flag("verbose", "display the progress of restore (virtkernel addition)"),
         description="Restore a domain.")
def cmd_restore(session: Session, args: Arguments) -> None:
    """Restore a domain."""
    path = args.string("file")
    flags = _save_flags(args)
    dxml = read_file(args.string("xml")) if args.has("xml") else None
    with Failing(f"Failed to restore domain from {path}"):
        if args.flag("verbose"):
            dom = _domain_in_image(session, path)
            JobWatcher(session, dom, "Restore", True).run(lambda: session.conn.restore(path, dxml, flags))
        else:
            session.conn.restore(path, dxml, flags)
    session.extra(f"Domain restored from {path}\n")


def _domain_in_image(session: Session, path: str) -> Optional[Domain]:
    """The (already defined) domain a save image belongs to, so its restore job can be watched and aborted."""
    try:
        name = DomainDefinition.from_xml(session.conn.save_image_get_xml_desc(path)).name
        return session.conn.lookup_by_name(name)
    except VirtError:
        return None


@command("managedsave", "managed save of a domain state", domain_option(),
         flag("bypass-cache", "avoid file system cache when saving"),
         flag("running", "set domain to be running on next start"),
         flag("paused", "set domain to be paused on next start"), flag("verbose", "display the progress of save"),
         description="Save and destroy a running domain, so it can be restarted from the same state at a later "
                     "time. When the virtkernel 'start' command is next run for the domain, it will automatically "
                     "be started from this saved state.")
def cmd_managedsave(session: Session, args: Arguments) -> None:
    """Managed save of a domain state."""
    dom = session.domain(args.string("domain"))
    flags = _save_flags(args)
    with Failing(f"Failed to save domain '{dom.name}' state"):
        JobWatcher(session, dom, "Managedsave", args.flag("verbose")).run(lambda: dom.managed_save(flags))
    session.extra(f"Domain '{dom.name}' state saved by libvirt\n")


@command("managedsave-remove", "Remove managed save of a domain", domain_option(),
         description="Remove an existing managed save state file from a domain")
def cmd_managedsave_remove(session: Session, args: Arguments) -> None:
    """Remove an existing managed save state file from a domain."""
    dom = session.domain(args.string("domain"))
    with Failing("Failed to determine managed save image for domain"):
        present = dom.has_managed_save_image()
    if not present:
        session.extra(f"Domain '{dom.name}' has no manage save image; removal skipped")
        return
    with Failing(f"Failed to remove managed save image for domain '{dom.name}'"):
        dom.managed_save_remove()
    session.extra(f"Removed managedsave image for domain '{dom.name}'")


DUMP_FORMATS = {"elf": DomainCoreDumpFormat.RAW, "kdump-zlib": DomainCoreDumpFormat.KDUMP_ZLIB,
                "kdump-lzo": DomainCoreDumpFormat.KDUMP_LZO, "kdump-snappy": DomainCoreDumpFormat.KDUMP_SNAPPY,
                "win-dmp": DomainCoreDumpFormat.WIN_DMP}


@command("dump", "dump the core of a domain to a file for analysis", domain_option(),
         Option("file", OptType.STRING, "where to dump the core", required=True, complete=FILE),
         flag("live", "perform a live core dump if supported"), flag("crash", "crash the domain after core dump"),
         flag("bypass-cache", "avoid file system cache when dumping"),
         flag("reset", "reset the domain after core dump"),
         flag("verbose", "display the progress of dump"), flag("memory-only", "dump domain's memory only"),
         Option("format", OptType.STRING, "specify the format of memory-only dump", positional=False),
         description="Core dump a domain.")
def cmd_dump(session: Session, args: Arguments) -> None:
    """Core dump a domain."""
    dom = session.domain(args.string("domain"))
    path = args.string("file")
    exclusive(args, "live", "crash")
    exclusive(args, "live", "reset")
    exclusive(args, "crash", "reset")
    flags = 0
    for name, bit in (("live", Dump.LIVE), ("crash", Dump.CRASH), ("bypass-cache", Dump.BYPASS_CACHE),
                      ("reset", Dump.RESET), ("memory-only", Dump.MEMORY_ONLY)):
        if args.flag(name):
            flags |= bit
    dump_format = DomainCoreDumpFormat.RAW
    if args.has("format"):
        if not args.flag("memory-only"):
            raise CliError("--format only works with --memory-only")
        name = args.string("format")
        if name not in DUMP_FORMATS:
            raise CliError(f"format '{name}' is not supported, expecting 'kdump-zlib', 'kdump-lzo', "
                           "'kdump-snappy', 'win-dmp' or 'elf'")
        dump_format = DUMP_FORMATS[name]
    with Failing(f"Failed to core dump domain '{dom.name}' to {path}"):
        JobWatcher(session, dom, "Dump", args.flag("verbose")).run(
            lambda: dom.core_dump(path, int(flags), int(dump_format)))
    session.extra(f"Domain '{dom.name}' dumped to {path}\n")


# -- job information -------------------------------------------------------------------------------------------------

def _pretty_capacity(value: int) -> tuple[float, str]:
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    number = float(value)
    index = 0
    while number >= 1024 and index < len(units) - 1:
        number /= 1024
        index += 1
    return number, units[index]


JOB_INFO_KEYS = ("time_elapsed", "time_remaining", "data_total", "data_processed", "data_remaining",
                 "memory_total", "memory_processed", "memory_remaining", "disk_total", "disk_processed",
                 "disk_remaining")


@command("domjobinfo", "domain job information", domain_option(),
         flag("completed", "return statistics of a recently completed job"),
         flag("keep-completed", "don't destroy statistics of a recently completed job when reading"),
         flag("anystats", "print statistics for any kind of job (even failed ones)"),
         flag("rawstats", "print the raw data returned by libvirt"),
         flag("json", "print the job type and statistics as JSON (virtkernel addition)"),
         description="Returns information about jobs running on a domain.")
def cmd_domjobinfo(session: Session, args: Arguments) -> None:
    """Returns information about jobs running on a domain."""
    dom = session.domain(args.string("domain"))
    flags = 0
    if args.flag("completed"):
        flags |= JobStats.COMPLETED
    if args.flag("keep-completed"):
        flags |= JobStats.KEEP_COMPLETED
    try:
        job_type, stats = dom.get_job_stats(int(flags))
    except VirtError as exc:
        if exc.code != ErrorCode.NO_SUPPORT or flags:
            raise
        info = dom.get_job_info()
        job_type = info.type
        stats = dict(zip(JOB_INFO_KEYS, (info.time_elapsed, info.time_remaining, info.data_total,
                                         info.data_processed, info.data_remaining, info.mem_total,
                                         info.mem_processed, info.mem_remaining, info.file_total,
                                         info.file_processed, info.file_remaining)))
    if args.flag("json"):
        print_json(session, {"type": JOB_TYPES.get(job_type, "Unknown"), "stats": dict(stats)})
        return
    if args.flag("rawstats"):
        session.line(f"Job type: {job_type}")
        session.line()
        for key, value in stats.items():
            session.line(f"{key}: {value}")
        return
    _print_job(session, job_type, stats, args.flag("anystats"))


def _print_job(session: Session, job_type: int, stats: dict[str, Any], anystats: bool) -> None:
    """virsh's domjobinfo layout."""
    def line(label: str, text: str) -> None:
        session.line(f"{label:<17} {text}")

    def number(label: str, key: str, unit: str = "") -> None:
        if key in stats:
            line(label, f"{stats[key]:<12}" + (f" {unit}" if unit else ""))

    def size(label: str, key: str, suffix: str = "") -> None:
        if key in stats:
            value, unit = _pretty_capacity(int(stats[key]))
            line(label, f"{value:.3f} {unit}{suffix}")

    line("Job type:", f"{JOB_TYPES.get(job_type, 'Unknown'):<12}")
    if job_type == DomainJobType.NONE and not anystats:
        return
    operation = stats.get("operation")
    if isinstance(operation, int) and 0 <= operation < len(JOB_OPERATIONS):
        line("Operation:", f"{JOB_OPERATIONS[operation]:<12}")
    number("Time elapsed:", "time_elapsed", "ms")
    number("Time elapsed w/o network:", "time_elapsed_net", "ms")
    if job_type == DomainJobType.BOUNDED:
        number("Time remaining:", "time_remaining", "ms")
    if any(stats.get(k) for k in ("data_total", "data_processed", "data_remaining")):
        size("Data processed:", "data_processed")
        size("Data remaining:", "data_remaining")
        size("Data total:", "data_total")
    if any(stats.get(k) for k in ("memory_total", "memory_processed", "memory_remaining")):
        size("Memory processed:", "memory_processed")
        size("Memory remaining:", "memory_remaining")
        size("Memory total:", "memory_total")
    size("Memory bandwidth:", "memory_bps", "/s")
    number("Dirty rate:", "memory_dirty_rate", "pages/s")
    number("Page size:", "memory_page_size", "bytes")
    number("Iteration:", "memory_iteration")
    number("Postcopy requests:", "memory_postcopy_requests")
    number("Constant pages:", "memory_constant")
    number("Normal pages:", "memory_normal")
    size("Normal data:", "memory_normal_bytes")
    if any(stats.get(k) for k in ("disk_total", "disk_processed", "disk_remaining")):
        size("File processed:", "disk_processed")
        size("File remaining:", "disk_remaining")
        size("File total:", "disk_total")
    size("File bandwidth:", "disk_bps", "/s")
    number("Expected downtime:", "downtime", "ms")
    number("Downtime w/o network:", "downtime_net", "ms")
    number("Setup time:", "setup_time", "ms")
    size("Compression cache:", "compression_cache")
    size("Compressed data:", "compression_bytes")
    number("Compressed pages:", "compression_pages")
    number("Compression cache misses:", "compression_cache_misses")
    number("Compression overflows:", "compression_overflow")
    number("Auto converge throttle:", "auto_converge_throttle")
    if "errmsg" in stats:
        line("Error message:", str(stats["errmsg"]))


@command("domjobabort", "abort active domain job", domain_option(),
         flag("postcopy", "interrupt post-copy migration"),
         description="Aborts the currently running domain job")
def cmd_domjobabort(session: Session, args: Arguments) -> None:
    """Aborts the currently running domain job."""
    dom = session.domain(args.string("domain"))
    dom.abort_job(int(DomainAbortJobFlags.POSTCOPY) if args.flag("postcopy") else 0)


# -- migration -------------------------------------------------------------------------------------------------------

MIGRATE_FLAGS: tuple[tuple[str, int, str], ...] = (
    ("live", Migrate.LIVE, "live migration"),
    ("offline", Migrate.OFFLINE, "offline migration"),
    ("p2p", Migrate.PEER2PEER, "peer-2-peer migration"),
    ("direct", 0, "direct migration"),
    ("tunnelled", Migrate.TUNNELLED, "tunnelled migration"),
    ("persistent", Migrate.PERSIST_DEST, "persist VM on destination"),
    ("undefinesource", Migrate.UNDEFINE_SOURCE, "undefine VM on source"),
    ("suspend", Migrate.PAUSED, "do not restart the domain on the destination host"),
    ("copy-storage-all", Migrate.NON_SHARED_DISK, "migration with non-shared storage with full disk copy"),
    ("copy-storage-inc", Migrate.NON_SHARED_INC, "migration with non-shared storage with incremental copy "
                                                 "(same base image shared between source and destination)"),
    ("copy-storage-synchronous-writes", Migrate.NON_SHARED_SYNCHRONOUS_WRITES,
     "force guest disk writes to be synchronously written to the destination to improve storage migration "
     "convergence"),
    ("change-protection", Migrate.CHANGE_PROTECTION,
     "prevent any configuration changes to domain until migration ends"),
    ("unsafe", Migrate.UNSAFE, "force migration even if it may be unsafe"),
    ("verbose", 0, "display the progress of migration"),
    ("compressed", Migrate.COMPRESSED, "compress repeated pages during live migration"),
    ("auto-converge", Migrate.AUTO_CONVERGE, "force convergence during live migration"),
    ("rdma-pin-all", Migrate.RDMA_PIN_ALL, "pin all memory before starting RDMA live migration"),
    ("abort-on-error", Migrate.ABORT_ON_ERROR, "abort on soft errors during migration"),
    ("postcopy", Migrate.POSTCOPY, "enable post-copy migration; switch to it using migrate-postcopy command"),
    ("postcopy-after-precopy", 0, "automatically switch to post-copy migration after one pass of pre-copy"),
    ("postcopy-resume", Migrate.POSTCOPY_RESUME, "resume failed post-copy migration"),
    ("zerocopy", Migrate.ZEROCOPY, "use zero-copy mechanism for migrating memory pages"),
    ("tls", Migrate.TLS, "use TLS for migration"),
    ("parallel", Migrate.PARALLEL, "enable parallel migration"),
    ("timeout-suspend", 0, "suspend the guest after timeout"),
    ("timeout-postcopy", 0, "switch to post-copy after timeout"),
    ("dry-run", 0, "print the protocol and features a migration would use, and why, without migrating "
                   "(virtkernel addition)"),
)

# option -> (typed parameter, kind): "s" string, "n" number, "f" file whose text is the value, "l" comma list
MIGRATE_PARAMS: tuple[tuple[str, str, str, str], ...] = (
    ("migrateuri", "migrate_uri", "s", "migration URI, usually can be omitted"),
    ("graphicsuri", "graphics_uri", "s", "graphics URI to be used for seamless graphics migration"),
    ("listen-address", "listen_address", "s", "listen address that destination should bind to for incoming "
                                              "migration"),
    ("dname", "destination_name", "s", "rename to new name during migration (if supported)"),
    ("xml", "destination_xml", "f", "filename containing updated XML for the target"),
    ("migrate-disks", "migrate_disks", "l", "comma separated list of disks to be migrated"),
    ("disks-port", "disks_port", "n", "port to use by target server for incoming disks migration"),
    ("disks-uri", "disks_uri", "s", "URI to use for disks migration (overrides --disks-port)"),
    ("comp-methods", "compression", "l", "comma separated list of compression methods to be used"),
    ("comp-mt-level", "compression.mt.level", "n", "compress level for multithread compression"),
    ("comp-mt-threads", "compression.mt.threads", "n", "number of compression threads for multithread compression"),
    ("comp-mt-dthreads", "compression.mt.dthreads", "n",
     "number of decompression threads for multithread compression"),
    ("comp-xbzrle-cache", "compression.xbzrle.cache", "n", "page cache size for xbzrle compression"),
    ("auto-converge-initial", "auto_converge.initial", "n", "initial CPU throttling rate for auto-convergence"),
    ("auto-converge-increment", "auto_converge.increment", "n", "CPU throttling rate increment for auto-convergence"),
    ("persistent-xml", "persistent_xml", "f", "filename containing updated persistent XML for the target"),
    ("postcopy-bandwidth", "bandwidth.postcopy", "n", "post-copy migration bandwidth limit in MiB/s"),
    ("parallel-connections", "parallel.connections", "n", "number of connections for parallel migration"),
    ("bandwidth", "bandwidth", "n", "migration bandwidth limit in MiB/s"),
    ("tls-destination", "tls.destination", "s", "override the destination host name used for TLS verification"),
)


def _param_option(name: str, kind: str, help: str) -> Option:
    return Option(name, OptType.NUMBER if kind == "n" else OptType.STRING, help, positional=False,
                  complete=Complete.FILE if kind == "f" else Complete.NOTHING)


@command("migrate", "migrate domain to another host", domain_option(),
         Option("desturi", OptType.STRING, "connection URI of the destination host as seen from the client(normal "
                "migration) or source(p2p migration)", required=True),
         *(flag(name, help) for name, _bit, help in MIGRATE_FLAGS),
         Option("timeout", OptType.NUMBER, "run action specified by --timeout-* option (suspend by default) if live "
                "migration exceeds timeout (in seconds)", positional=False),
         *(_param_option(name, kind, help) for name, _param, kind, help in MIGRATE_PARAMS),
         description="Migrate domain to another host.  Add --live for live migration.")
def cmd_migrate(session: Session, args: Arguments) -> Optional[bool]:
    """Migrate domain to another host."""
    dom = session.domain(args.string("domain"))
    desturi = args.string("desturi")
    flags, params = migration_request(args)
    timeout = args.number("timeout", minimum=1)
    if timeout is not None and not args.flag("live"):
        raise CliError("migrate: Unexpected timeout for offline migration")
    exclusive(args, "timeout-suspend", "timeout-postcopy")
    if args.flag("timeout-postcopy") and not args.flag("postcopy"):
        raise CliError("--timeout-postcopy requires --postcopy")
    unmanaged = bool(flags & Migrate.PEER2PEER) or args.flag("direct")
    if args.flag("dry-run"):
        return _dry_run(session, dom, desturi, flags, params, unmanaged)

    def on_timeout() -> None:
        if args.flag("timeout-postcopy"):
            dom.migrate_start_post_copy()
        else:
            dom.suspend()

    watcher = JobWatcher(session, dom, "Migration", args.flag("verbose"), timeout, on_timeout)
    switcher = _postcopy_after_precopy(session, dom) if args.flag("postcopy-after-precopy") else None
    try:
        if unmanaged:
            watcher.run(lambda: dom.migrate_to_uri3(desturi, params, flags))
            return None
        dconn = _destination(session, desturi)
        try:
            watcher.run(lambda: dom.migrate3(dconn, params, flags))
        finally:
            dconn.close()
    finally:
        if switcher is not None:
            session.conn.domain_event_deregister_any(switcher)
    return None


def _dry_run(session: Session, dom: Domain, desturi: str, flags: int, params: dict[str, Any],
             unmanaged: bool) -> bool:
    """Print the negotiation the same migration would go through; fail (status 1) when it would be refused."""
    if unmanaged:
        plan = migration.plan(dom, desturi if flags & Migrate.PEER2PEER else None, flags, params)
    else:
        dconn = _destination(session, desturi)
        try:
            plan = migration.plan(dom, dconn, flags, params)
        finally:
            dconn.close()
    session.write(_ensure_newline(plan.describe()))
    return plan.ok


def _postcopy_after_precopy(session: Session, dom: Domain) -> int:
    """Switch to post-copy when the second pass over memory begins (the first pre-copy pass is done)."""
    def on_iteration(_conn: Any, _dom: Any, iteration: int, _opaque: Any) -> None:
        if iteration == 2:
            try:
                dom.migrate_start_post_copy()
            except VirtError as exc:
                session.stderr.write(f"\nerror: cannot switch to post-copy: {exc.message}\n")

    return session.conn.domain_event_register_any(dom, DomainEventID.MIGRATION_ITERATION, on_iteration)


def migration_request(args: Arguments) -> tuple[int, dict[str, Any]]:
    """The VIR_MIGRATE_* flags and typed parameters the migrate options ask for."""
    flags = 0
    for name, bit, _help in MIGRATE_FLAGS:
        if args.flag(name):
            flags |= int(bit)
    if args.flag("postcopy-after-precopy"):
        flags |= int(Migrate.POSTCOPY)
    params: dict[str, Any] = {}
    for name, param, kind, _help in MIGRATE_PARAMS:
        if not args.has(name):
            continue
        if kind == "n":
            params[param] = args.number(name, minimum=0)
        elif kind == "f":
            params[param] = read_file(args.string(name))
        elif kind == "l":
            params[param] = [part for part in args.string(name).split(",") if part]
        else:
            params[param] = args.string(name)
    return flags, params


def _destination(session: Session, uri: str):  # noqa: ANN202 - a Connection
    try:
        return session.open_other(uri)
    except VirtError as exc:
        raise CliError(f"failed to connect to the destination '{uri}'", cause=exc) from exc


def _ensure_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


@command("migrate-setmaxdowntime", "set maximum tolerable downtime", domain_option(),
         Option("downtime", OptType.NUMBER, "maximum tolerable downtime (in milliseconds) for migration",
                required=True),
         description="Set maximum tolerable downtime of a domain which is being live-migrated to another host.")
def cmd_migrate_setmaxdowntime(session: Session, args: Arguments) -> None:
    """Set maximum tolerable downtime."""
    dom = session.domain(args.string("domain"))
    downtime = args.number("downtime", minimum=1)
    dom.migrate_set_max_downtime(downtime)


@command("migrate-getmaxdowntime", "get maximum tolerable downtime", domain_option(),
         description="Get maximum tolerable downtime of a domain which is being live-migrated to another host.")
def cmd_migrate_getmaxdowntime(session: Session, args: Arguments) -> None:
    """Get maximum tolerable downtime."""
    dom = session.domain(args.string("domain"))
    session.line(str(dom.migrate_get_max_downtime()))


@command("migrate-setspeed", "Set the maximum migration bandwidth", domain_option(),
         Option("bandwidth", OptType.NUMBER, "migration bandwidth limit in MiB/s", required=True),
         flag("postcopy", "set post-copy migration bandwidth"),
         description="Set the maximum migration bandwidth (in MiB/s) for a domain which is being migrated to "
                     "another host.")
def cmd_migrate_setspeed(session: Session, args: Arguments) -> None:
    """Set the maximum migration bandwidth."""
    dom = session.domain(args.string("domain"))
    bandwidth = args.number("bandwidth", minimum=0)
    dom.migrate_set_max_speed(bandwidth, int(DomainMigrateMaxSpeedFlags.POSTCOPY) if args.flag("postcopy") else 0)


@command("migrate-getspeed", "Get the maximum migration bandwidth", domain_option(),
         flag("postcopy", "get post-copy migration bandwidth"),
         description="Get the maximum migration bandwidth (in MiB/s) for a domain.")
def cmd_migrate_getspeed(session: Session, args: Arguments) -> None:
    """Get the maximum migration bandwidth."""
    dom = session.domain(args.string("domain"))
    flags = int(DomainMigrateMaxSpeedFlags.POSTCOPY) if args.flag("postcopy") else 0
    session.line(str(dom.migrate_get_max_speed(flags)))


@command("migrate-compcache", "get/set compression cache size", domain_option(),
         Option("size", OptType.SCALED, "requested size of the cache (in bytes) used for compression",
                positional=False),
         description="Get/set size of the cache (in bytes) used for compressing repeatedly transferred memory "
                     "pages during live migration.")
def cmd_migrate_compcache(session: Session, args: Arguments) -> None:
    """Get/set compression cache size."""
    dom = session.domain(args.string("domain"))
    if args.has("size"):
        dom.migrate_set_compression_cache(args.scaled("size", unit=1))
    value, unit = _pretty_capacity(dom.migrate_get_compression_cache())
    session.line(f"Compression cache: {value:.3f} {unit}")


@command("migrate-postcopy", "Switch running migration from pre-copy to post-copy", domain_option(),
         description="Switch running migration from pre-copy to post-copy. The migration must have been started "
                     "with --postcopy option.")
def cmd_migrate_postcopy(session: Session, args: Arguments) -> None:
    """Switch running migration from pre-copy to post-copy."""
    dom = session.domain(args.string("domain"))
    dom.migrate_start_post_copy()
