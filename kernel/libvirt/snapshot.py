"""virDomainSnapshot: libvirt-python's snapshot class over virtkernel's DomainSnapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain import DomainSnapshot
from .errors import translate_errors

if TYPE_CHECKING:
    from .connection import virConnect
    from .domain import virDomain


@translate_errors
class virDomainSnapshot:  # noqa: N801 - libvirt-python's name
    """A snapshot of a virDomain (libvirt-python's virDomainSnapshot)."""

    def __init__(self, dom: "virDomain", _obj: DomainSnapshot) -> None:
        if not isinstance(_obj, DomainSnapshot):
            raise TypeError("virDomainSnapshot wraps a virtkernel DomainSnapshot; get one from a virDomain")
        self._dom = dom
        self._o = _obj

    def __repr__(self) -> str:
        return f"<virDomainSnapshot {self._o.name!r}>"

    def _child(self, snapshot: DomainSnapshot) -> "virDomainSnapshot":
        return virDomainSnapshot(self._dom, snapshot)

    def connect(self) -> "virConnect":
        """The connection of the snapshot's domain."""
        return self._dom.connect()

    def domain(self) -> "virDomain":
        """The snapshot's domain."""
        return self._dom

    def getConnect(self) -> "virConnect":  # noqa: N802
        """The connection of the snapshot's domain."""
        return self._dom.connect()

    def getDomain(self) -> "virDomain":  # noqa: N802
        """The snapshot's domain."""
        return self._dom

    def c_pointer(self) -> int:
        """An integer identifying the underlying handle."""
        return id(self._o)

    def getName(self) -> str:  # noqa: N802
        """The snapshot's name."""
        return self._o.name

    def getXMLDesc(self, flags: int = 0) -> str:  # noqa: N802
        """The snapshot XML."""
        return self._o.get_xml_desc(flags)

    def getParent(self, flags: int = 0) -> "virDomainSnapshot":  # noqa: N802
        """The parent snapshot."""
        return self._child(self._o.get_parent(flags))

    def listAllChildren(self, flags: int = 0) -> list["virDomainSnapshot"]:  # noqa: N802
        """Children (all descendants with VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS)."""
        return [self._child(child) for child in self._o.list_all_children(flags)]

    def listChildrenNames(self, flags: int = 0) -> list[str]:  # noqa: N802
        """Names of the children."""
        return [child.name for child in self._o.list_all_children(flags)]

    def numChildren(self, flags: int = 0) -> int:  # noqa: N802
        """How many children."""
        return len(self._o.list_all_children(flags))

    def isCurrent(self, flags: int = 0) -> int:  # noqa: N802
        """1 when this is the domain's current snapshot."""
        return int(self._o.is_current(flags))

    def hasMetadata(self, flags: int = 0) -> int:  # noqa: N802
        """1 when the snapshot has metadata."""
        return int(self._o.has_metadata(flags))

    def delete(self, flags: int = 0) -> int:
        """Delete the snapshot (VIR_DOMAIN_SNAPSHOT_DELETE_* flags)."""
        self._o.delete(flags)
        return 0
