"""Snapshot commands: create-as, list (table or tree), current, revert, delete."""

from __future__ import annotations

import time
from typing import Optional

from lxml import etree

from ..domain import Domain, DomainSnapshot
from ..domainxml import parse_xml
from ..enums import (DomainSnapshotCreateFlags as Create, DomainSnapshotDeleteFlags as Delete,
                     DomainSnapshotListFlags as ListFlags, DomainSnapshotRevertFlags as Revert,
                     DomainSnapshotXMLFlags, ErrorCode)
from ..errors import VirtError
from .errors import CliError, Failing
from .format import print_table
from .helpers import exclusive
from .parse import Arguments
from .session import Session
from .table import Complete, Option, OptType, command, domain_option, flag


def _snapshot_option(help: str = "snapshot name") -> Option:
    return Option("snapshotname", OptType.STRING, help, complete=Complete.SNAPSHOT)


def _split_spec(text: str, first_key: str) -> dict[str, str]:
    """``a,b=c,d=e`` into {first_key: a, b: c, d: e} (",," escapes a comma)."""
    parts = text.replace(",,", "\0").split(",")
    result: dict[str, str] = {}
    for index, part in enumerate(parts):
        part = part.replace("\0", ",")
        key, equals, value = part.partition("=")
        if not equals:
            if index == 0:
                result[first_key] = part
                continue
            raise CliError(f"unable to parse spec '{text}'")
        result[key] = value
    return result


def snapshot_xml(args: Arguments) -> str:
    """The <domainsnapshot> document snapshot-create-as describes."""
    root = etree.Element("domainsnapshot")
    if args.has("name"):
        etree.SubElement(root, "name").text = args.string("name")
    if args.has("description"):
        etree.SubElement(root, "description").text = args.string("description")
    if args.has("memspec"):
        spec = _split_spec(args.string("memspec"), "file")
        memory = etree.SubElement(root, "memory")
        for key in ("snapshot", "file"):
            if key in spec:
                memory.set(key, spec[key])
    disks = args.strings("diskspec")
    if disks:
        container = etree.SubElement(root, "disks")
        for text in disks:
            spec = _split_spec(text, "name")
            disk = etree.SubElement(container, "disk", name=spec["name"])
            if "snapshot" in spec:
                disk.set("snapshot", spec["snapshot"])
            if "stype" in spec:
                disk.set("type", spec["stype"])
            if "driver" in spec:
                etree.SubElement(disk, "driver", type=spec["driver"])
            if "file" in spec:
                etree.SubElement(disk, "source", file=spec["file"])
    return etree.tostring(root, pretty_print=True, encoding="unicode")


CREATE_FLAGS = (("no-metadata", Create.NO_METADATA, "take snapshot but create no metadata"),
                ("halt", Create.HALT, "halt domain after snapshot is created"),
                ("disk-only", Create.DISK_ONLY, "capture disk state but not vm state"),
                ("reuse-external", Create.REUSE_EXT, "reuse any existing external files"),
                ("quiesce", Create.QUIESCE, "quiesce guest's file systems"),
                ("atomic", Create.ATOMIC, "require atomic operation"),
                ("live", Create.LIVE, "take a live snapshot"),
                ("validate", Create.VALIDATE, "validate the XML against the schema"))


@command("snapshot-create-as", "Create a snapshot from a set of args", domain_option(),
         Option("name", OptType.STRING, "name of snapshot"),
         Option("description", OptType.STRING, "description of snapshot"),
         flag("print-xml", "print XML document rather than create"),
         *(flag(name, help) for name, _bit, help in CREATE_FLAGS),
         Option("memspec", OptType.STRING, "memory attributes: [file=]name[,snapshot=type]", positional=False),
         Option("diskspec", OptType.ARGV, "disk attributes: disk[,snapshot=type][,driver=type][,stype=type]"
                                          "[,file=name]"),
         group="snapshot", description="Create a snapshot (disk and RAM) from arguments")
def cmd_snapshot_create_as(session: Session, args: Arguments) -> None:
    """Create a snapshot (disk and RAM) from arguments."""
    dom = session.domain(args.string("domain"))
    xml = snapshot_xml(args)
    if args.flag("print-xml"):
        session.write(xml)
        return
    flags = 0
    for name, bit, _help in CREATE_FLAGS:
        if args.flag(name):
            flags |= bit
    snapshot = dom.snapshot_create_xml(xml, int(flags))
    session.extra(f"Domain snapshot {snapshot.name} created")


def _info(snapshot: DomainSnapshot) -> tuple[str, str, Optional[str]]:
    """(creation time, state, parent name) from the snapshot XML."""
    root = parse_xml(snapshot.get_xml_desc())
    created = root.findtext("creationTime")
    when = ""
    if created and created.strip().isdigit():
        when = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(int(created)))
    return when, root.findtext("state") or "", root.findtext("parent/name")


LIST_FILTERS = (("roots", ListFlags.ROOTS, "list only snapshots without parents"),
                ("leaves", ListFlags.LEAVES, "list only snapshots without children"),
                ("no-leaves", ListFlags.NO_LEAVES, "list only snapshots that are not leaves (with children)"),
                ("metadata", ListFlags.METADATA,
                 "list only snapshots that have metadata that would prevent undefine"),
                ("no-metadata", ListFlags.NO_METADATA, "list only snapshots that have no metadata managed by "
                                                       "libvirt"),
                ("inactive", ListFlags.INACTIVE, "filter by snapshots taken while inactive"),
                ("active", ListFlags.ACTIVE, "filter by snapshots taken while active (full system snapshots)"),
                ("disk-only", ListFlags.DISK_ONLY, "filter by disk-only snapshots"),
                ("internal", ListFlags.INTERNAL, "filter by internal snapshots"),
                ("external", ListFlags.EXTERNAL, "filter by external snapshots"))


@command("snapshot-list", "List snapshots for a domain", domain_option(),
         flag("parent", "add a column showing parent snapshot"),
         *(flag(name, help) for name, _bit, help in LIST_FILTERS),
         flag("tree", "list snapshots in a tree"),
         Option("from", OptType.STRING, "limit list to children of given snapshot", positional=False,
                complete=Complete.SNAPSHOT),
         flag("current", "limit list to children of current snapshot"),
         flag("descendants", "with --from, list all descendants"),
         flag("name", "list snapshot names only"),
         flag("topological", "sort list topologically rather than by name"),
         group="snapshot", description="Snapshot List")
def cmd_snapshot_list(session: Session, args: Arguments) -> None:
    """Snapshot List."""
    dom = session.domain(args.string("domain"))
    exclusive(args, "tree", "name")
    exclusive(args, "parent", "tree")
    exclusive(args, "from", "current")
    flags = 0
    for name, bit, _help in LIST_FILTERS:
        if args.flag(name):
            flags |= bit
    if args.flag("topological"):
        flags |= ListFlags.TOPOLOGICAL
    start: Optional[DomainSnapshot] = None
    if args.has("from"):
        start = dom.snapshot_lookup_by_name(args.string("from"))
    elif args.flag("current"):
        start = dom.snapshot_current()
    if start is not None:
        if args.flag("descendants") or args.flag("tree"):
            flags |= ListFlags.DESCENDANTS
        snapshots = start.list_all_children(int(flags))
        if args.flag("tree"):
            snapshots = [start, *snapshots]  # the tree grows from the snapshot asked for
    else:
        snapshots = dom.list_all_snapshots(int(flags))
    if not args.flag("topological"):
        snapshots = sorted(snapshots, key=lambda s: s.name)
    if args.flag("name"):
        for snapshot in snapshots:
            session.line(snapshot.name)
        return
    details = {s.name: _info(s) for s in snapshots}
    if args.flag("tree"):
        _print_tree(session, [s.name for s in snapshots], {name: info[2] for name, info in details.items()})
        return
    headers = ["Name", "Creation Time", "State"] + (["Parent"] if args.flag("parent") else [])
    rows = []
    for snapshot in snapshots:
        when, state, parent = details[snapshot.name]
        row = [snapshot.name, when, state]
        if args.flag("parent"):
            row.append(parent or "")
        rows.append(row)
    print_table(session, headers, rows)


def _print_tree(session: Session, names: list[str], parents: dict[str, Optional[str]]) -> None:
    """virsh's tree drawing: children under "|" bars with "+- " before each name."""
    known = set(names)
    parent_of = [parents.get(n) if parents.get(n) in known else None for n in names]

    def walk(index: int, last: int, root: bool, indent: str) -> None:
        session.line(f"{indent}{'' if root else '+- '}{names[index]}")
        if not root:
            indent += (" " if index == last else "|") + " "
        children = [i for i, p in enumerate(parent_of) if p == names[index]]
        if children:
            session.line(f"{indent}  |")
        for child in children:
            walk(child, children[-1], False, indent + "  ")
        if not children and index == last:
            session.line(indent)

    roots = [i for i, p in enumerate(parent_of) if p is None]
    for index in roots:
        walk(index, roots[-1], True, "")


@command("snapshot-current", "Get or set the current snapshot", domain_option(),
         flag("name", "list the name, rather than the full xml"),
         flag("security-info", "include security sensitive information in XML dump"),
         _snapshot_option("name of existing snapshot to make current"),
         group="snapshot", description="Get or set the current snapshot")
def cmd_snapshot_current(session: Session, args: Arguments) -> None:
    """Get or set the current snapshot."""
    dom = session.domain(args.string("domain"))
    if args.has("snapshotname"):
        if args.flag("name") or args.flag("security-info"):
            raise CliError("--snapshotname cannot be combined with --name or --security-info")
        snapshot = dom.snapshot_lookup_by_name(args.string("snapshotname"))
        xml = snapshot.get_xml_desc(int(DomainSnapshotXMLFlags.SECURE))
        dom.snapshot_create_xml(xml, int(Create.REDEFINE | Create.CURRENT))
        session.extra(f"Snapshot {snapshot.name} set as current")
        return
    if not dom.has_current_snapshot():
        raise CliError(f"domain '{dom.name}' has no current snapshot")
    current = dom.snapshot_current()
    if args.flag("name"):
        session.write(current.name)  # virsh prints the bare name; its blank line ends it
        return
    flags = DomainSnapshotXMLFlags.SECURE if args.flag("security-info") else 0
    xml = current.get_xml_desc(int(flags))
    session.write(xml if xml.endswith("\n") else xml + "\n")


def _chosen(dom: Domain, args: Arguments) -> DomainSnapshot:
    exclusive(args, "snapshotname", "current")
    if args.has("snapshotname"):
        return dom.snapshot_lookup_by_name(args.string("snapshotname"))
    if args.flag("current"):
        return dom.snapshot_current()
    raise CliError("--snapshotname or --current is required")


@command("snapshot-revert", "Revert a domain to a snapshot", domain_option(), _snapshot_option(),
         flag("current", "revert to current snapshot"), flag("running", "after reverting, change state to running"),
         flag("paused", "after reverting, change state to paused"), flag("force", "try harder on risky reverts"),
         flag("reset-nvram", "re-initialize NVRAM from its pristine template"),
         group="snapshot", description="Revert domain to snapshot")
def cmd_snapshot_revert(session: Session, args: Arguments) -> None:
    """Revert domain to snapshot."""
    dom = session.domain(args.string("domain"))
    exclusive(args, "running", "paused")
    snapshot = _chosen(dom, args)
    flags = 0
    for name, bit in (("running", Revert.RUNNING), ("paused", Revert.PAUSED), ("reset-nvram", Revert.RESET_NVRAM)):
        if args.flag(name):
            flags |= bit
    try:
        snapshot.revert(int(flags))
    except VirtError as exc:
        if not args.flag("force") or exc.code != ErrorCode.SNAPSHOT_REVERT_RISKY:
            raise
        snapshot.revert(int(flags | Revert.FORCE))
    session.extra(f"Domain snapshot {snapshot.name} reverted\n")


@command("snapshot-delete", "Delete a domain snapshot", domain_option(), _snapshot_option(),
         flag("current", "delete current snapshot"), flag("children", "delete snapshot and all children"),
         flag("children-only", "delete children but not snapshot"),
         flag("metadata", "delete only libvirt metadata, leaving snapshot contents behind"),
         group="snapshot", description="Snapshot Delete")
def cmd_snapshot_delete(session: Session, args: Arguments) -> None:
    """Snapshot Delete."""
    dom = session.domain(args.string("domain"))
    exclusive(args, "children", "children-only")
    snapshot = _chosen(dom, args)
    flags = 0
    for name, bit in (("children", Delete.CHILDREN), ("children-only", Delete.CHILDREN_ONLY),
                      ("metadata", Delete.METADATA_ONLY)):
        if args.flag(name):
            flags |= bit
    with Failing(f"Failed to delete snapshot {snapshot.name}"):
        snapshot.delete(int(flags))
    if args.flag("children-only"):
        session.extra(f"Domain snapshot {snapshot.name} children deleted\n")
    else:
        session.extra(f"Domain snapshot {snapshot.name} deleted\n")


def _location(root: etree._Element) -> str:
    """external when the memory or any disk is kept in a separate file, else internal."""
    memory = root.find("memory")
    if memory is not None and memory.get("snapshot") == "external":
        return "external"
    if any(disk.get("snapshot") == "external" for disk in root.iterfind("disks/disk")):
        return "external"
    return "internal"


@command("snapshot-info", "snapshot information", domain_option(), _snapshot_option(),
         flag("current", "info on current snapshot"),
         group="snapshot", description="Returns basic information about a snapshot.")
def cmd_snapshot_info(session: Session, args: Arguments) -> None:
    """Returns basic information about a snapshot."""
    dom = session.domain(args.string("domain"))
    snapshot = _chosen(dom, args)
    root = parse_xml(snapshot.get_xml_desc())
    parent = root.findtext("parent/name") or "-"
    fields = [("Name", snapshot.name), ("Domain", dom.name), ("Current", "yes" if snapshot.is_current() else "no"),
              ("State", root.findtext("state") or "-"), ("Location", _location(root)), ("Parent", parent),
              ("Children", str(len(snapshot.list_all_children(0)))),
              ("Descendants", str(len(snapshot.list_all_children(int(ListFlags.DESCENDANTS))))),
              ("Metadata", "yes" if snapshot.has_metadata() else "no")]
    for label, value in fields:
        session.line(f"{label + ':':<15} {value}")
