"""Domain management commands: listing, identity, XML, define/create/undefine and the lifecycle."""

from __future__ import annotations

from typing import Optional

from ..domain import Domain
from ..enums import (ConnectListDomainsFlags as ListFlags, DomainCreateFlags as Start, DomainDefineFlags,
                     DomainDestroyFlags, DomainMetadataType as Metadata, DomainShutdownFlags as Shutdown,
                     DomainState, DomainUndefineFlags as Undefine, DomainXMLFlags, ErrorCode)
from ..errors import VirtError
from .errors import CliError, Failing
from .format import print_json, print_table, reason_name, state_name
from .helpers import edit_text, exclusive, impact_flags, read_file
from .parse import Arguments
from .session import Session
from .table import Complete, Option, OptType, command, domain_option, flag

UINT_MAX = 2**32 - 1

LIST_FILTERS: dict[str, int] = {
    "transient": ListFlags.TRANSIENT, "persistent": ListFlags.PERSISTENT,
    "with-snapshot": ListFlags.HAS_SNAPSHOT, "without-snapshot": ListFlags.NO_SNAPSHOT,
    "with-checkpoint": ListFlags.HAS_CHECKPOINT, "without-checkpoint": ListFlags.NO_CHECKPOINT,
    "state-running": ListFlags.RUNNING, "state-paused": ListFlags.PAUSED, "state-shutoff": ListFlags.SHUTOFF,
    "state-other": ListFlags.OTHER, "autostart": ListFlags.AUTOSTART, "no-autostart": ListFlags.NO_AUTOSTART,
    "with-managed-save": ListFlags.MANAGEDSAVE, "without-managed-save": ListFlags.NO_MANAGEDSAVE,
}

LIST_HELP: dict[str, str] = {
    "transient": "list transient domains", "persistent": "list persistent domains",
    "with-snapshot": "list domains with existing snapshot", "without-snapshot": "list domains without a snapshot",
    "with-checkpoint": "list domains with existing checkpoint",
    "without-checkpoint": "list domains without a checkpoint",
    "state-running": "list domains in running state", "state-paused": "list domains in paused state",
    "state-shutoff": "list domains in shutoff state", "state-other": "list domains in other states",
    "autostart": "list domains with autostart enabled", "no-autostart": "list domains with autostart disabled",
    "with-managed-save": "list domains with managed save state",
    "without-managed-save": "list domains without managed save",
}


def _sort_key(dom: Domain) -> tuple[int, int, str]:
    ident = dom.get_id()
    return (0, ident, "") if ident >= 0 else (1, 0, dom.name)


def _title(dom: Domain) -> str:
    try:
        return dom.get_metadata(Metadata.TITLE) or ""
    except VirtError:
        return ""


@command("list", "list domains",
         flag("inactive", "list inactive domains"), flag("all", "list inactive & active domains"),
         *(flag(name, LIST_HELP[name]) for name in LIST_FILTERS),
         flag("uuid", "list uuid's only"), flag("name", "list domain names only"), flag("id", "list domain IDs only"),
         flag("table", "list table (default)"), flag("managed-save", "mark inactive domains with managed save state"),
         flag("title", "show domain title"), flag("json", "print the list as JSON (virtkernel addition)"),
         description="Returns list of domains.")
def cmd_list(session: Session, args: Arguments) -> None:
    """Returns list of domains."""
    for other in ("name", "uuid", "id"):
        exclusive(args, "table", other)
    flags = 0
    if args.flag("inactive"):
        flags = int(ListFlags.INACTIVE)
    if args.flag("all"):
        flags = int(ListFlags.ACTIVE | ListFlags.INACTIVE)
    for name, bit in LIST_FILTERS.items():
        if args.flag(name):
            flags |= bit
    if args.flag("state-shutoff"):
        flags |= ListFlags.INACTIVE  # only inactive domains are shut off (virsh lists them without --all)
    if not flags & (ListFlags.ACTIVE | ListFlags.INACTIVE):
        flags |= ListFlags.ACTIVE
    with Failing("Failed to list domains"):
        domains = sorted(session.conn.list_all_domains(int(flags)), key=_sort_key)
    if args.flag("json"):
        print_json(session, [_json_entry(dom, args.flag("title")) for dom in domains])
        return
    if args.flag("name") or args.flag("uuid") or args.flag("id"):
        for dom in domains:
            parts = []
            if args.flag("id") and dom.get_id() >= 0:
                parts.append(str(dom.get_id()))
            elif args.flag("id") and not (args.flag("uuid") or args.flag("name")):
                continue
            if args.flag("uuid"):
                parts.append(dom.uuid)
            if args.flag("name"):
                parts.append(dom.name)
            session.line(" ".join(parts))
        return
    headers = ["Id", "Name", "State"] + (["Title"] if args.flag("title") else [])
    rows = []
    for dom in domains:
        state = _list_state(dom, args.flag("managed-save"))
        ident = dom.get_id()
        row = [str(ident) if ident >= 0 else "-", dom.name, state]
        if args.flag("title"):
            row.append(_title(dom))
        rows.append(row)
    print_table(session, headers, rows)


def _list_state(dom: Domain, mark_saved: bool) -> str:
    try:
        state, _reason = dom.get_state()
    except VirtError:
        return "unknown"
    if mark_saved and state == DomainState.SHUTOFF:
        try:
            if dom.has_managed_save_image():
                return "saved"
        except VirtError:
            pass
    return state_name(state)


def _json_entry(dom: Domain, with_title: bool) -> dict:
    state, reason = dom.get_state()
    entry = {"id": dom.get_id() if dom.get_id() >= 0 else None, "name": dom.name, "uuid": dom.uuid,
             "state": state_name(state), "reason": reason_name(state, reason)}
    try:
        entry["persistent"] = dom.is_persistent()
    except VirtError:
        entry["persistent"] = None
    if with_title:
        entry["title"] = _title(dom)
    return entry


# -- identity --------------------------------------------------------------------------------------------------------

@command("dominfo", "domain information", domain_option(),
         flag("json", "print the information as JSON (virtkernel addition)"),
         description="Returns basic information about the domain.")
def cmd_dominfo(session: Session, args: Arguments) -> None:
    """Returns basic information about the domain."""
    dom = session.domain(args.string("domain"))
    info = dom.get_info()
    fields: list[tuple[str, object, str]] = []

    def add(label: str, raw: object, text: str) -> None:
        fields.append((label, raw, text))

    ident = dom.get_id()
    add("Id", ident if ident >= 0 else None, str(ident) if ident >= 0 else "-")
    add("Name", dom.name, dom.name)
    add("UUID", dom.uuid, dom.uuid)
    try:
        os_type = dom.get_os_type()
        add("OS Type", os_type, os_type)
    except VirtError:
        pass
    add("State", state_name(info.state), state_name(info.state))
    add("CPU(s)", info.nr_virt_cpu, str(info.nr_virt_cpu))
    if info.cpu_time != 0:
        add("CPU time", info.cpu_time / 1e9, f"{info.cpu_time / 1e9:.1f}s")
    if info.max_mem != UINT_MAX:
        add("Max memory", info.max_mem, f"{info.max_mem} KiB")
    else:
        add("Max memory", None, "no limit")
    add("Used memory", info.memory, f"{info.memory} KiB")
    try:
        persistent = dom.is_persistent()
        add("Persistent", persistent, "yes" if persistent else "no")
    except VirtError:
        add("Persistent", None, "unknown")
    try:
        autostart = dom.get_autostart()
        add("Autostart", autostart, "enable" if autostart else "disable")
    except VirtError:
        pass
    try:
        saved = dom.has_managed_save_image()
        add("Managed save", saved, "yes" if saved else "no")
    except VirtError:
        add("Managed save", None, "unknown")
    for label, raw, text in _security_fields(session, dom):
        add(label, raw, text)
    if args.flag("json"):
        print_json(session, {label: raw for label, raw, _text in fields})
        return
    for label, _raw, text in fields:
        session.line(f"{label + ':':<15} {text}")


def _security_fields(session: Session, dom: Domain) -> list[tuple[str, object, str]]:
    """Security model, DOI and label, when the host has a security model (left out when unsupported)."""
    try:
        model, doi = session.conn.get_security_model()
    except VirtError as exc:
        if exc.code == ErrorCode.NO_SUPPORT:
            return []
        raise
    if not model:
        return []
    fields: list[tuple[str, object, str]] = [("Security model", model, model), ("Security DOI", doi, doi)]
    label, enforcing = dom.get_security_label()
    if label:
        mode = "enforcing" if enforcing else "permissive"
        fields.append(("Security label", {"label": label, "mode": mode}, f"{label} ({mode})"))
    return fields


@command("domstate", "domain state", domain_option(), flag("reason", "also print reason for the state"),
         description="Returns state about a domain.")
def cmd_domstate(session: Session, args: Arguments) -> None:
    """Returns state about a domain."""
    dom = session.domain(args.string("domain"))
    state, reason = dom.get_state()
    if args.flag("reason"):
        session.line(f"{state_name(state)} ({reason_name(state, reason)})")
    else:
        session.line(state_name(state))


@command("domid", "convert a domain name or UUID to domain id", domain_option("domain name or uuid"),
         description="Converts a domain name or UUID to a domain id.")
def cmd_domid(session: Session, args: Arguments) -> None:
    """Converts a domain name or UUID to a domain id."""
    dom = session.domain(args.string("domain"), by_id=False)
    ident = dom.get_id()
    session.line(str(ident) if ident >= 0 else "-")


@command("domname", "convert a domain id or UUID to domain name", domain_option("domain id or uuid"),
         description="Converts a domain id or UUID to a domain name.")
def cmd_domname(session: Session, args: Arguments) -> None:
    """Converts a domain id or UUID to a domain name."""
    session.line(session.domain(args.string("domain"), by_name=False).name)


@command("domuuid", "convert a domain name or id to domain UUID", domain_option("domain id or name"),
         description="Converts a domain name or id to a domain UUID.")
def cmd_domuuid(session: Session, args: Arguments) -> None:
    """Converts a domain name or id to a domain UUID."""
    session.line(session.domain(args.string("domain"), by_uuid=False).uuid)


@command("dumpxml", "domain information in XML", domain_option(),
         flag("inactive", "show inactive defined XML"),
         flag("security-info", "include security sensitive information in XML dump"),
         flag("update-cpu", "update guest CPU according to host CPU"),
         flag("migratable", "provide XML suitable for migrations"),
         Option("xpath", OptType.STRING, "xpath expression to filter the XML document", positional=False),
         flag("wrap", "wrap xpath results in an common root element"),
         description="Output the domain information as an XML dump to stdout.")
def cmd_dumpxml(session: Session, args: Arguments) -> None:
    """Output the domain information as an XML dump to stdout."""
    dom = session.domain(args.string("domain"))
    flags = 0
    for name, bit in (("inactive", DomainXMLFlags.INACTIVE), ("security-info", DomainXMLFlags.SECURE),
                      ("update-cpu", DomainXMLFlags.UPDATE_CPU), ("migratable", DomainXMLFlags.MIGRATABLE)):
        if args.flag(name):
            flags |= bit
    xml = dom.get_xml_desc(int(flags))
    xpath = args.string("xpath")
    if xpath is None:
        session.write(xml if xml.endswith("\n") else xml + "\n")
        return
    session.write(_xpath(xml, xpath, args.flag("wrap")))


def _xpath(xml: str, expression: str, wrap: bool) -> str:
    """The nodes an XPath expression selects, one per line (or inside <nodes> with --wrap)."""
    from lxml import etree

    from ..domainxml import parse_xml
    root = parse_xml(xml)
    try:
        result = root.xpath(expression)
    except etree.XPathError as exc:
        raise CliError(f"Failed to evaluate XPath '{expression}': {exc}") from None
    items = result if isinstance(result, list) else [result]
    if wrap:
        wrapper = etree.Element("nodes")
        for item in items:
            if isinstance(item, etree._Element):
                wrapper.append(etree.fromstring(etree.tostring(item)))
        return etree.tostring(wrapper, pretty_print=True, encoding="unicode")
    lines = []
    for item in items:
        if isinstance(item, etree._Element):
            lines.append(etree.tostring(item, encoding="unicode", with_tail=False))
        else:
            lines.append(str(item))
    return "".join(line + "\n" for line in lines)


# -- define, create, undefine ----------------------------------------------------------------------------------------

FILE_OPTION = Option("file", OptType.STRING, "file containing an XML domain description", required=True,
                     complete=Complete.FILE)


@command("define", "define (but don't start) a domain from an XML file", FILE_OPTION,
         flag("validate", "validate the XML against the schema"),
         description="Define a domain.")
def cmd_define(session: Session, args: Arguments) -> None:
    """Define a domain."""
    path = args.string("file")
    xml = read_file(path)
    flags = DomainDefineFlags.VALIDATE if args.flag("validate") else 0
    with Failing(f"Failed to define domain from {path}"):
        dom = session.conn.define_xml(xml, int(flags))
    session.extra(f"Domain '{dom.name}' defined from {path}\n")


@command("create", "create a domain from an XML file", FILE_OPTION,
         flag("console", "attach to console after creation"),
         flag("paused", "leave the guest paused after creation"),
         flag("autodestroy", "automatically destroy the guest when virtkernel disconnects"),
         Option("pass-fds", OptType.STRING, "pass file descriptors N,M,... to the guest", positional=False),
         flag("validate", "validate the XML against the schema"),
         flag("reset-nvram", "re-initialize NVRAM from its pristine template"),
         description="Create a domain.")
def cmd_create(session: Session, args: Arguments) -> None:
    """Create a domain."""
    path = args.string("file")
    xml = read_file(path)
    flags = _start_flags(args)
    if args.flag("validate"):
        flags |= Start.VALIDATE
    with Failing(f"Failed to create domain from {path}"):
        dom = session.conn.create_xml(xml, flags, files=_pass_fds(args))
    session.extra(f"Domain '{dom.name}' created from {path}\n")
    if args.flag("console"):
        from .cmd_console import run_console
        run_console(session, dom, None, 0)


def _start_flags(args: Arguments) -> int:
    flags = 0
    for name, bit in (("paused", Start.PAUSED), ("autodestroy", Start.AUTODESTROY),
                      ("bypass-cache", Start.BYPASS_CACHE), ("force-boot", Start.FORCE_BOOT),
                      ("reset-nvram", Start.RESET_NVRAM)):
        if args.flag(name):
            flags |= bit
    return int(flags)


def _pass_fds(args: Arguments) -> list[int]:
    text = args.string("pass-fds")
    if text is None:
        return []
    try:
        fds = [int(part, 10) for part in text.split(",")]
    except ValueError:
        raise CliError(f"Unable to parse FD number '{text}'") from None
    if any(fd < 0 for fd in fds):
        raise CliError(f"Unable to parse FD number '{text}'")
    return fds


STORAGE_OPTIONS = ("storage", "remove-all-storage", "delete-storage-volume-snapshots", "wipe-storage")


@command("undefine", "undefine a domain", domain_option(),
         flag("managed-save", "remove domain managed state file"),
         Option("storage", OptType.STRING, "remove associated storage volumes (comma separated list of targets or "
                "source paths) (see domblklist)"),
         flag("remove-all-storage", "remove all associated storage volumes (use with caution)"),
         flag("delete-storage-volume-snapshots", "delete snapshots associated with volume(s), requires "
              "--remove-all-storage (must be supported by storage driver)"),
         flag("wipe-storage", "wipe data on the removed volumes"),
         flag("snapshots-metadata", "remove all domain snapshot metadata (vm must be inactive)"),
         flag("checkpoints-metadata", "remove all domain checkpoint metadata (vm must be inactive)"),
         flag("nvram", "remove nvram file"), flag("keep-nvram", "keep nvram file"),
         flag("tpm", "remove TPM state"), flag("keep-tpm", "keep TPM state"),
         description="Undefine an inactive domain, or convert persistent to transient.")
def cmd_undefine(session: Session, args: Arguments) -> None:
    """Undefine an inactive domain, or convert persistent to transient."""
    dom = session.domain(args.string("domain"))
    if any(args.has(name) for name in STORAGE_OPTIONS):
        given = next(name for name in STORAGE_OPTIONS if args.has(name))
        raise CliError(f"--{given} is not supported: virtkernel has no storage volume management; "
                       "remove the disk images yourself after undefining")
    flags = 0
    for name, bit in (("managed-save", Undefine.MANAGED_SAVE), ("snapshots-metadata", Undefine.SNAPSHOTS_METADATA),
                      ("checkpoints-metadata", Undefine.CHECKPOINTS_METADATA), ("nvram", Undefine.NVRAM),
                      ("keep-nvram", Undefine.KEEP_NVRAM), ("tpm", Undefine.TPM), ("keep-tpm", Undefine.KEEP_TPM)):
        if args.flag(name):
            flags |= bit
    with Failing(f"Failed to undefine domain '{dom.name}'"):
        dom.undefine(int(flags))
    session.extra(f"Domain '{dom.name}' has been undefined\n")


# -- lifecycle -------------------------------------------------------------------------------------------------------

@command("start", "start a (previously defined) inactive domain", domain_option("name of the inactive domain"),
         flag("console", "attach to console after creation"),
         flag("paused", "leave the guest paused after creation"),
         flag("autodestroy", "automatically destroy the guest when virtkernel disconnects"),
         flag("bypass-cache", "avoid file system cache when loading"),
         flag("force-boot", "force fresh boot by discarding any managed save"),
         Option("pass-fds", OptType.STRING, "pass file descriptors N,M,... to the guest", positional=False),
         flag("reset-nvram", "re-initialize NVRAM from its pristine template"),
         description="Start a domain, either from the last managedsave state, or via a fresh boot if no "
                     "managedsave state is present.")
def cmd_start(session: Session, args: Arguments) -> None:
    """Start a domain."""
    dom = session.domain(args.string("domain"), by_id=False)
    if dom.get_id() >= 0:
        raise CliError("Domain is already active")
    with Failing(f"Failed to start domain '{dom.name}'"):
        dom.create(_start_flags(args), files=_pass_fds(args))
    session.extra(f"Domain '{dom.name}' started\n")
    if args.flag("console"):
        from .cmd_console import run_console
        run_console(session, dom, None, 0)


def _simple(name: str, help: str, description: str, done: str, failed: str, call: str,
            extra: tuple[Option, ...] = (), flags_of=None) -> None:
    """Register a command that looks a domain up, makes one call and confirms it."""

    @command(name, help, domain_option(), *extra, description=description)
    def handler(session: Session, args: Arguments) -> None:
        dom = session.domain(args.string("domain"))
        flags = flags_of(args) if flags_of else None
        with Failing(failed.format(name=dom.name)):
            method = getattr(dom, call)
            method() if flags is None else method(flags)
        session.extra(done.format(name=dom.name))

    handler.__name__ = f"cmd_{name.replace('-', '_')}"


SHUTDOWN_MODES: dict[str, int] = {
    "acpi": Shutdown.ACPI_POWER_BTN, "agent": Shutdown.GUEST_AGENT, "initctl": Shutdown.INITCTL,
    "signal": Shutdown.SIGNAL, "paravirt": Shutdown.PARAVIRT,
}


def _mode_flags(args: Arguments) -> int:
    text = args.string("mode")
    flags = 0
    if text is None:
        return 0
    for mode in text.split(","):
        if mode not in SHUTDOWN_MODES:
            raise CliError(f"Unknown mode {mode} value, expecting 'acpi', 'agent', 'initctl', 'signal', or 'paravirt'")
        flags |= SHUTDOWN_MODES[mode]
    return flags


def _destroy_flags(args: Arguments) -> int:
    flags = 0
    if args.flag("graceful"):
        flags |= DomainDestroyFlags.GRACEFUL
    if args.flag("remove-logs"):
        flags |= DomainDestroyFlags.REMOVE_LOGS
    return int(flags)


MODE_OPTION = Option("mode", OptType.STRING, "shutdown mode: acpi|agent|initctl|signal|paravirt")

_simple("destroy", "destroy (stop) a domain",
        "Destroy a given domain, stopping it at once without a graceful shutdown.",
        "Domain '{name}' destroyed\n", "Failed to destroy domain '{name}'", "destroy",
        (flag("graceful", "terminate gracefully"), flag("remove-logs", "remove domain logs")), _destroy_flags)
_simple("shutdown", "gracefully shutdown a domain", "Run shutdown in the target domain.",
        "Domain '{name}' is being shutdown\n", "Failed to shutdown domain '{name}'", "shutdown",
        (MODE_OPTION,), _mode_flags)
_simple("reboot", "reboot a domain", "Run a reboot command in the target domain.",
        "Domain '{name}' is being rebooted\n", "Failed to reboot domain '{name}'", "reboot",
        (MODE_OPTION,), _mode_flags)
_simple("reset", "reset a domain", "Reset the target domain as if by power button",
        "Domain '{name}' was reset\n", "Failed to reset domain '{name}'", "reset", (), lambda _args: 0)
_simple("suspend", "suspend a domain", "Suspend a running domain.",
        "Domain '{name}' suspended\n", "Failed to suspend domain '{name}'", "suspend")
_simple("resume", "resume a domain", "Resume a previously suspended domain.",
        "Domain '{name}' resumed\n", "Failed to resume domain '{name}'", "resume")


@command("autostart", "autostart a domain", domain_option(), flag("disable", "disable autostarting"),
         description="Configure a domain to be automatically started at boot.")
def cmd_autostart(session: Session, args: Arguments) -> None:
    """Configure a domain to be automatically started at boot."""
    dom = session.domain(args.string("domain"))
    enable = not args.flag("disable")
    verb = "mark" if enable else "unmark"
    with Failing(f"Failed to {verb} domain '{dom.name}' as autostarted"):
        dom.set_autostart(enable)
    session.extra(f"Domain '{dom.name}' {verb}ed as autostarted\n")


@command("domrename", "rename a domain", domain_option("domain name or uuid"),
         Option("new-name", OptType.STRING, "new domain name", required=True),
         description="Rename an inactive domain.")
def cmd_domrename(session: Session, args: Arguments) -> None:
    """Rename an inactive domain."""
    dom = session.domain(args.string("domain"), by_id=False)
    dom.rename(args.string("new-name"))
    session.extra("Domain successfully renamed\n")


# -- title, description, metadata -----------------------------------------------------------------------------------

@command("desc", "show or set domain's description or title", domain_option(),
         flag("live", "modify/get running state"), flag("config", "modify/get persistent configuration"),
         flag("current", "modify/get current state configuration"),
         flag("title", "modify/get the title instead of description"),
         flag("edit", "open an editor to modify the description"),
         Option("new-desc", OptType.ARGV, "message"),
         description="Allows setting or modifying the description or title of a domain.")
def cmd_desc(session: Session, args: Arguments) -> None:
    """Allows setting or modifying the description or title of a domain."""
    dom = session.domain(args.string("domain"))
    flags = impact_flags(args)
    kind = Metadata.TITLE if args.flag("title") else Metadata.DESCRIPTION
    what = "title" if args.flag("title") else "description"
    words = args.strings("new-desc")
    if words or args.flag("edit"):
        text: Optional[str] = " ".join(words)
        if args.flag("edit"):
            text = edit_text(_get_metadata(dom, kind, flags) or "", suffix=".txt").rstrip("\n")
        with Failing(f"Failed to set new domain {what}"):
            dom.set_metadata(kind, text or None, None, None, flags)
        session.extra(f"Domain {what} updated successfully")
        return
    current = _get_metadata(dom, kind, flags)
    if current:
        session.write(current)
    else:
        session.extra(f"No {what} for domain: {dom.name}")


def _get_metadata(dom: Domain, kind: int, flags: int, uri: Optional[str] = None) -> Optional[str]:
    try:
        return dom.get_metadata(kind, uri, flags)
    except VirtError as exc:
        if exc.code == ErrorCode.NO_DOMAIN_METADATA:
            return None
        raise


@command("metadata", "show or set domain's custom XML metadata", domain_option(),
         Option("uri", OptType.STRING, "URI of the namespace", required=True),
         flag("live", "modify/get running state"), flag("config", "modify/get persistent configuration"),
         flag("current", "modify/get current state configuration"),
         flag("edit", "use an editor to change the metadata"),
         Option("key", OptType.STRING, "key to be used as a namespace identifier", positional=False),
         Option("set", OptType.STRING, "new metadata to set", positional=False, empty_ok=True),
         flag("remove", "remove the metadata corresponding to an uri"),
         description="Shows or modifies the XML metadata of a domain.")
def cmd_metadata(session: Session, args: Arguments) -> None:
    """Shows or modifies the XML metadata of a domain."""
    dom = session.domain(args.string("domain"))
    flags = impact_flags(args)
    uri = args.string("uri")
    key = args.string("key")
    if sum(1 for n in ("edit", "set", "remove") if args.has(n)) > 1:
        raise CliError("Options --edit, --set and --remove are mutually exclusive")
    if (args.has("set") or args.flag("edit")) and key is None:
        raise CliError("namespace key is required when modifying metadata")
    if args.flag("remove"):
        with Failing("Failed to remove metadata"):
            dom.set_metadata(Metadata.ELEMENT, None, None, uri, flags)
        session.extra("Metadata removed\n")
        return
    if args.has("set") or args.flag("edit"):
        text = args.string("set")
        if args.flag("edit"):
            text = edit_text(_get_metadata(dom, Metadata.ELEMENT, flags, uri) or "")
        with Failing("Failed to set metadata"):
            dom.set_metadata(Metadata.ELEMENT, text or None, key, uri, flags)
        session.extra("Metadata modified\n")
        return
    session.line(dom.get_metadata(Metadata.ELEMENT, uri, flags))
