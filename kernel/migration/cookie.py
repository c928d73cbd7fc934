"""The migration cookie: an XML document the phases hand to each other, with optional and mandatory features.

Layout (root ``<migration-cookie>``)::

    <migration-cookie>
      <name>web1</name> <uuid>…</uuid>                 the domain
      <hostname>h1</hostname> <hostuuid>…</hostuuid>   the host that wrote the cookie
      <feature name='lockstate'/>                      a section the reader MUST understand and support
      <lockstate>…</lockstate> <nbd port='49153'>…</nbd> <statistics>…</statistics> …   the sections
    </migration-cookie>

Every section is optional for the reader unless a ``<feature name='…'/>`` child of the root names it: a reader
that does not know or does not support a mandatory feature refuses the whole cookie with an error naming it.
Unknown optional sections are ignored. Drivers build cookies with :class:`MigrationCookie` and read them with
:meth:`MigrationCookie.parse`, passing what they support.
"""

from __future__ import annotations

import enum
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Iterable, Optional

from lxml import etree

from ..domainxml import CANONICAL_UUID, parse_xml
from ..enums import ErrorCode, ErrorDomain
from ..errors import VirtError

ROOT = "migration-cookie"
MAX_COOKIE_BYTES = 1024 * 1024
"""Cookies larger than this are refused before parsing (they travel in every phase)."""


class CookieFeature(enum.IntFlag):
    """The sections a migration cookie may carry (a flag set; the XML element name is ``feature.element``)."""

    GRAPHICS = 1 << 0
    LOCKSTATE = 1 << 1
    PERSISTENT = 1 << 2
    NETWORK = 1 << 3
    NBD = 1 << 4
    STATISTICS = 1 << 5
    MEMORY_HOTPLUG = 1 << 6
    CPU_HOTPLUG = 1 << 7
    CPU = 1 << 8
    ALLOW_REBOOT = 1 << 9
    CAPABILITIES = 1 << 10
    BLOCK_DIRTY_BITMAPS = 1 << 11

    @property
    def element(self) -> str:
        """The XML element name of this (single) feature."""
        return _ELEMENT[self]

    @classmethod
    def from_element(cls, name: str) -> Optional["CookieFeature"]:
        """The feature whose section is called ``name``, or None for a name this version does not know."""
        return _BY_ELEMENT.get(name)

    @classmethod
    def all(cls) -> "CookieFeature":
        """Every feature this version knows."""
        result = cls(0)
        for feature in cls:
            result |= feature
        return result

    def names(self) -> list[str]:
        """The element names of the features in this set, in a stable order."""
        value = int(self)  # plain ints: flag arithmetic on the enum costs microseconds per operation
        return [name for bit, _feature, name in _MEMBERS if value & bit]


_ELEMENT = {
    CookieFeature.GRAPHICS: "graphics", CookieFeature.LOCKSTATE: "lockstate",
    CookieFeature.PERSISTENT: "persistent", CookieFeature.NETWORK: "network", CookieFeature.NBD: "nbd",
    CookieFeature.STATISTICS: "statistics", CookieFeature.MEMORY_HOTPLUG: "memory-hotplug",
    CookieFeature.CPU_HOTPLUG: "cpu-hotplug", CookieFeature.CPU: "cpu", CookieFeature.ALLOW_REBOOT: "allow-reboot",
    CookieFeature.CAPABILITIES: "capabilities", CookieFeature.BLOCK_DIRTY_BITMAPS: "block-dirty-bitmaps",
}
_BY_ELEMENT = {name: feature for feature, name in _ELEMENT.items()}
_MEMBERS = tuple((int(feature), feature, _ELEMENT[feature]) for feature in CookieFeature)
"""(bit, feature, element name) of every feature, in declaration order."""
_IDENTITY = ("name", "uuid", "hostname", "hostuuid")


def cookie_error(message: str) -> VirtError:
    """The error a refused cookie produces (libvirt reports these as internal errors of the migration)."""
    return VirtError(message, code=ErrorCode.INTERNAL_ERROR, domain=ErrorDomain.DOMAIN)


@dataclass
class NbdDisk:
    """One disk offered for NBD storage migration: its target name and size in bytes."""

    target: str
    capacity: int


@dataclass
class NbdSection:
    """The <nbd> section: disks the source wants copied (from Begin); the port the destination serves (from Prepare)."""

    port: Optional[int] = None
    disks: list[NbdDisk] = field(default_factory=list)


@dataclass
class MigrationCookie:
    """A parsed or to-be-written migration cookie."""

    name: str
    uuid: str
    hostname: str
    host_uuid: str
    mandatory: CookieFeature = CookieFeature(0)
    persistent_xml: Optional[str] = None
    nbd: Optional[NbdSection] = None
    statistics: Optional[dict[str, int]] = None
    lockstate: Optional[tuple[str, str]] = None
    """(lock driver name, opaque lease state)."""
    sections: dict[CookieFeature, etree._Element] = field(default_factory=dict)
    """Sections without a dedicated field (graphics, network, cpu, …) kept as XML elements."""

    # -- which features the cookie carries ---------------------------------------------------------------------------

    @property
    def features(self) -> CookieFeature:
        """The set of sections present."""
        present = 0
        for feature, value in ((CookieFeature.PERSISTENT, self.persistent_xml), (CookieFeature.NBD, self.nbd),
                               (CookieFeature.STATISTICS, self.statistics),
                               (CookieFeature.LOCKSTATE, self.lockstate)):
            if value is not None:
                present |= feature.value
        for feature in self.sections:
            present |= feature.value
        return CookieFeature(present)

    def set_section(self, feature: CookieFeature, element: etree._Element) -> None:
        """Carry a generic section (its tag must be the feature's element name)."""
        if element.tag != feature.element:
            raise ValueError(f"a {feature.element} section must be a <{feature.element}> element, not <{element.tag}>")
        self.sections[feature] = element

    def require(self, features: CookieFeature) -> None:
        """Mark features the reader must support (written as <feature name='…'/>)."""
        self.mandatory |= features

    # -- writing -----------------------------------------------------------------------------------------------------

    def to_element(self) -> etree._Element:
        """The cookie as an lxml element."""
        root = etree.Element(ROOT)
        for tag, value in zip(_IDENTITY, (self.name, self.uuid, self.hostname, self.host_uuid)):
            etree.SubElement(root, tag).text = value
        for name in self.mandatory.names():
            etree.SubElement(root, "feature", name=name)
        if self.lockstate is not None:
            lock = etree.SubElement(root, "lockstate", driver=self.lockstate[0])
            etree.SubElement(lock, "leases").text = self.lockstate[1]
        if self.persistent_xml is not None:
            persistent = etree.SubElement(root, "persistent")
            persistent.append(parse_xml(self.persistent_xml, "persistent domain XML"))
        if self.nbd is not None:
            nbd = etree.SubElement(root, "nbd")
            if self.nbd.port is not None:
                nbd.set("port", str(self.nbd.port))
            for disk in self.nbd.disks:
                etree.SubElement(nbd, "disk", target=disk.target, capacity=str(disk.capacity))
        if self.statistics is not None:
            stats = etree.SubElement(root, "statistics")
            for key, value in self.statistics.items():
                etree.SubElement(stats, "stat", name=key).text = str(int(value))
        if self.sections:
            for _bit, feature, _name in _MEMBERS:
                if feature in self.sections:
                    root.append(_copy(self.sections[feature]))
        return root

    def to_bytes(self) -> bytes:
        """The cookie as UTF-8 XML bytes (what the phase hooks pass around)."""
        return etree.tostring(self.to_element(), encoding="utf-8", pretty_print=True)

    # -- reading -----------------------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | str, *, supported: CookieFeature, local_host_uuid: str,
              peer_host_uuid: Optional[str] = None, domain_uuid: Optional[str] = None) -> "MigrationCookie":
        """Read a cookie from the peer; refuse malformed ones and mandatory features this side does not support.

        ``supported`` is what the reader supports: sections outside it are dropped unless mandatory (then the
        cookie is refused). ``local_host_uuid`` is the reader's host: a cookie written by the same host is
        refused. ``peer_host_uuid``/``domain_uuid``, when known, must match the cookie's.
        """
        if isinstance(data, str):
            data = data.encode()
        if data is None or not bytes(data).strip():
            raise cookie_error("the migration cookie is empty")
        if len(data) > MAX_COOKIE_BYTES:
            raise cookie_error(f"the migration cookie is too large ({len(data)} bytes, limit {MAX_COOKIE_BYTES})")
        try:
            root = parse_xml(data, "migration cookie")
        except VirtError as exc:
            raise cookie_error(f"the migration cookie is not valid XML: {exc.message}") from None
        if root.tag != ROOT:
            raise cookie_error(f"the migration cookie has root element <{root.tag}>, expected <{ROOT}>")
        identity = {tag: (root.findtext(tag) or "").strip() for tag in _IDENTITY}
        for tag in _IDENTITY:
            if not identity[tag]:
                raise cookie_error(f"the migration cookie has no <{tag}>")
        host_uuid = _uuid(identity["hostuuid"], "host UUID")
        if host_uuid == _uuid(local_host_uuid, "local host UUID"):
            raise cookie_error(f"the migration cookie comes from this same host (host UUID {host_uuid}, "
                               f"hostname '{identity['hostname']}'): source and destination must be different hosts")
        if peer_host_uuid is not None and host_uuid != _uuid(peer_host_uuid, "peer host UUID"):
            raise cookie_error(f"the migration cookie comes from host {host_uuid}, expected {peer_host_uuid}")
        dom_uuid = _uuid(identity["uuid"], "domain UUID")
        if domain_uuid is not None and dom_uuid != _uuid(domain_uuid, "domain UUID"):
            raise cookie_error(f"the migration cookie is for domain {dom_uuid}, expected {domain_uuid}")

        mandatory = _mandatory_features(root, supported)
        cookie = cls(name=identity["name"], uuid=dom_uuid, hostname=identity["hostname"], host_uuid=host_uuid,
                     mandatory=mandatory)
        supported_bits = int(supported)
        for child in root:
            if not isinstance(child.tag, str) or child.tag in _IDENTITY or child.tag == "feature":
                continue
            feature = CookieFeature.from_element(child.tag)
            if feature is None or not feature.value & supported_bits:
                continue  # unknown or unsupported optional section: ignored (mandatory ones were refused above)
            cookie._read_section(feature, child)
        missing = CookieFeature(int(mandatory) & ~int(cookie.features))
        if missing:
            raise cookie_error(f"the migration cookie marks feature '{missing.names()[0]}' as mandatory "
                               f"but carries no such section")
        return cookie

    def _read_section(self, feature: CookieFeature, element: etree._Element) -> None:
        if feature is CookieFeature.PERSISTENT:
            domains = [c for c in element if isinstance(c.tag, str)]
            if len(domains) != 1 or domains[0].tag != "domain":
                raise cookie_error("the migration cookie's <persistent> section must hold one <domain>")
            self.persistent_xml = etree.tostring(domains[0], encoding="unicode")
        elif feature is CookieFeature.NBD:
            self.nbd = _read_nbd(element)
        elif feature is CookieFeature.STATISTICS:
            self.statistics = _read_statistics(element)
        elif feature is CookieFeature.LOCKSTATE:
            driver = element.get("driver")
            if not driver:
                raise cookie_error("the migration cookie's <lockstate> section has no lock driver name")
            self.lockstate = (driver, element.findtext("leases") or "")
        else:
            self.sections[feature] = _copy(element)


def _mandatory_features(root: etree._Element, supported: CookieFeature) -> CookieFeature:
    # Mandatory features are the root's <feature name='…'/> children — the singular element, one per feature.
    mandatory = 0
    for node in root.findall("feature"):
        name = (node.get("name") or "").strip()
        if not name:
            raise cookie_error("the migration cookie has a <feature> element without a name")
        feature = CookieFeature.from_element(name)
        if feature is None:
            raise cookie_error(f"the migration cookie requires feature '{name}', which this host does not know")
        if not feature.value & int(supported):
            raise cookie_error(f"the migration cookie requires feature '{name}', which this host does not support")
        mandatory |= feature.value
    return CookieFeature(mandatory)


def _read_nbd(element: etree._Element) -> NbdSection:
    port_text = element.get("port")
    port: Optional[int] = None
    if port_text is not None:
        port = _integer(port_text, "NBD port")
        if not 0 < port < 65536:
            raise cookie_error(f"the migration cookie's NBD port {port} is out of range")
    disks = []
    for disk in element.findall("disk"):
        target = disk.get("target")
        if not target:
            raise cookie_error("the migration cookie's <nbd> section has a disk without a target")
        disks.append(NbdDisk(target, _integer(disk.get("capacity", "0"), f"capacity of disk '{target}'")))
    return NbdSection(port=port, disks=disks)


def _read_statistics(element: etree._Element) -> dict[str, int]:
    stats = {}
    for stat in element.findall("stat"):
        name = stat.get("name")
        if not name:
            raise cookie_error("the migration cookie's <statistics> section has a value without a name")
        stats[name] = _integer(stat.text or "", f"statistic '{name}'")
    return stats


def _integer(text: str, what: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise cookie_error(f"the migration cookie's {what} '{text}' is not a whole number") from None
    if value < 0:
        raise cookie_error(f"the migration cookie's {what} must not be negative")
    return value


def _uuid(text: str, what: str) -> str:
    if isinstance(text, str) and CANONICAL_UUID.fullmatch(text):
        return text  # already in the form uuid.UUID would give (the common case, and much cheaper)
    try:
        return str(uuidlib.UUID(text.strip()))
    except (ValueError, AttributeError):
        raise cookie_error(f"the migration cookie's {what} '{text}' is not a valid UUID") from None


def _copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


def feature_names(features: Iterable[CookieFeature] | CookieFeature) -> list[str]:
    """Element names of a feature set (for messages and plans)."""
    if isinstance(features, CookieFeature):
        return features.names()
    result = CookieFeature(0)
    for feature in features:
        result |= feature
    return result.names()
