"""Snapshot trees of test-driver guests: names, parent links, the current snapshot, and snapshot XML."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator, Optional

from lxml import etree

from . import xmlwriter

STATE_NAMES = {1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff", 6: "crashed", 7: "pmsuspended",
               0: "nostate"}
"""Snapshot <state> words by DomainState number."""


_NO_BLANKS = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)


@dataclass
class Snapshot:
    """One snapshot: the domain XML and state it captured, and its place in the tree."""

    name: str
    description: Optional[str]
    state: int
    domain_xml: str
    disks: tuple[str, ...]
    creation_time: int = field(default_factory=lambda: int(time.time()))
    parent: Optional[str] = None
    children: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Whether the guest was running or paused when the snapshot was taken."""
        return self.state in (1, 2, 3)

    def to_xml(self) -> str:
        """The snapshot XML as libvirt prints it."""
        root = etree.Element("domainsnapshot")
        etree.SubElement(root, "name").text = self.name
        if self.description:
            etree.SubElement(root, "description").text = self.description
        etree.SubElement(root, "state").text = STATE_NAMES.get(self.state, "nostate")
        if self.parent is not None:
            etree.SubElement(etree.SubElement(root, "parent"), "name").text = self.parent
        etree.SubElement(root, "creationTime").text = str(self.creation_time)
        etree.SubElement(root, "memory", snapshot="internal" if self.active else "no")
        if self.disks:  # libvirt lists the disks of a shut-off snapshot too
            disks = etree.SubElement(root, "disks")
            for disk in self.disks:
                etree.SubElement(disks, "disk", name=disk, snapshot="internal")
        domain = etree.fromstring(self.domain_xml, _NO_BLANKS)  # re-indented inside <domainsnapshot>
        root.append(domain)
        return xmlwriter.to_text(root)


class SnapshotTree:
    """All snapshots of one guest, in creation order, and which one is current."""

    __slots__ = ("by_name", "current")

    def __init__(self) -> None:
        self.by_name: dict[str, Snapshot] = {}
        self.current: Optional[str] = None

    def __len__(self) -> int:
        return len(self.by_name)

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def get(self, name: str) -> Optional[Snapshot]:
        """A snapshot by name."""
        return self.by_name.get(name)

    def add(self, snapshot: Snapshot, make_current: bool = True) -> None:
        """Add a snapshot below the current one (or below its declared parent when redefining)."""
        if snapshot.parent is None and make_current:
            snapshot.parent = self.current
        if snapshot.parent is not None and snapshot.parent in self.by_name:
            self.by_name[snapshot.parent].children.append(snapshot.name)
        else:
            snapshot.parent = None
        self.by_name[snapshot.name] = snapshot
        if make_current:
            self.current = snapshot.name

    def replace(self, snapshot: Snapshot, make_current: bool) -> None:
        """Redefine an existing snapshot: new metadata, its children kept, moved below its declared parent.

        The caller checked that the declared parent exists and is neither the snapshot nor below it.
        """
        old = self.by_name[snapshot.name]
        snapshot.children = old.children
        if old.parent is not None and old.parent in self.by_name:
            self.by_name[old.parent].children.remove(old.name)
        if snapshot.parent is not None:
            self.by_name[snapshot.parent].children.append(snapshot.name)
        self.by_name[snapshot.name] = snapshot
        if make_current or self.current == snapshot.name:  # redefining the current one keeps it current
            self.current = snapshot.name

    def roots(self) -> list[Snapshot]:
        """Snapshots without a parent."""
        return [s for s in self.by_name.values() if s.parent is None]

    def leaves(self) -> list[Snapshot]:
        """Snapshots without children."""
        return [s for s in self.by_name.values() if not s.children]

    def descendants(self, name: str) -> Iterator[Snapshot]:
        """Every snapshot below ``name``, depth first."""
        for child in list(self.by_name[name].children):
            yield self.by_name[child]
            yield from self.descendants(child)

    def remove(self, name: str) -> None:
        """Delete one snapshot; its children move up to its parent."""
        snapshot = self.by_name.pop(name)
        parent = self.by_name.get(snapshot.parent) if snapshot.parent else None
        if parent is not None:
            parent.children.remove(name)
        for child_name in snapshot.children:
            child = self.by_name[child_name]
            child.parent = snapshot.parent
            if parent is not None:
                parent.children.append(child_name)
        if self.current == name:
            self.current = snapshot.parent

    def remove_children(self, name: str) -> None:
        """Delete every descendant of ``name``; it becomes current when the current one was among them."""
        doomed = [s.name for s in self.descendants(name)]
        for victim in doomed:
            del self.by_name[victim]
        self.by_name[name].children = []
        if self.current in doomed:
            self.current = name

    def remove_with_children(self, name: str) -> None:
        """Delete ``name`` and all its descendants."""
        current_gone = self.current == name or self.current in {s.name for s in self.descendants(name)}
        parent = self.by_name[name].parent
        self.remove_children(name)
        self.remove(name)
        if current_gone:
            self.current = parent

    def clear(self) -> None:
        """Forget every snapshot."""
        self.by_name.clear()
        self.current = None
