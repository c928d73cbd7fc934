"""Domain XML: a hardened lxml parser and a model that round-trips define -> dump without losing anything."""

from __future__ import annotations

import copy
import functools
import re
import uuid as uuidlib
from importlib import resources
from typing import Iterator, Optional

from lxml import etree

from .enums import ErrorCode, ErrorDomain
from .errors import VirtError

CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""A UUID written as str(uuid.UUID(...)) writes it (use fullmatch): such text needs no parsing to be normalised."""

MAX_XML_BYTES = 16 * 1024 * 1024
"""Documents larger than this are refused outright."""

_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
          "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4, "tib": 1024**4, "tb": 1000**4}


def xml_error(message: str) -> VirtError:
    """An XML_ERROR from the domain-config area."""
    return VirtError(message, code=ErrorCode.XML_ERROR, domain=ErrorDomain.DOMAIN)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_blank_text=False, remove_comments=False)


def parse_xml(text: str | bytes, what: str = "XML document") -> etree._Element:
    """Parse untrusted XML: no DTDs, entities or network access; a precise error for anything malformed."""
    if text is None:
        raise xml_error(f"{what} is missing")
    data = text.encode() if isinstance(text, str) else bytes(text)
    if len(data) > MAX_XML_BYTES:
        raise xml_error(f"{what} is too large ({len(data)} bytes, limit {MAX_XML_BYTES})")
    if not data.strip():
        raise xml_error(f"{what} is empty")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise xml_error(f"malformed {what}: {exc}") from None
    doc = root.getroottree()
    if doc.docinfo.doctype or doc.docinfo.internalDTD is not None:
        raise xml_error(f"{what} must not contain a DOCTYPE declaration (DTDs and entities are refused)")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise xml_error(f"{what} must not use entity references")
    return root


def renamed_xml(xml: str, name: Optional[str]) -> str:
    """The domain XML with another <name> (e.g. a migration's destination name); unchanged without one."""
    if not name:
        return xml
    root = parse_xml(xml, "domain XML")
    node = root.find("name")
    if node is None:
        node = etree.SubElement(root, "name")
    if node.text == name:
        return xml
    node.text = name
    return etree.tostring(root, encoding="unicode")


def parse_size_kib(value: str, unit: Optional[str], what: str) -> int:
    """A memory size with libvirt's unit names, in KiB."""
    try:
        number = int(value.strip())
    except (ValueError, AttributeError):
        raise xml_error(f"invalid {what} '{value}': not a whole number") from None
    if number < 0:
        raise xml_error(f"invalid {what} '{value}': must not be negative")
    scale = _UNITS.get((unit or "KiB").lower())
    if scale is None:
        raise xml_error(f"unknown unit '{unit}' for {what}")
    return (number * scale + 1023) // 1024


class DomainDefinition:
    """A domain XML document: common fields as properties, everything else kept verbatim."""

    def __init__(self, root: etree._Element) -> None:
        if root.tag != "domain":
            raise xml_error(f"expected a <domain> root element, found <{root.tag}>")
        self.root = root

    @classmethod
    def from_xml(cls, text: str | bytes) -> "DomainDefinition":
        """Parse and check the fields every domain must have."""
        definition = cls(parse_xml(text, "domain XML"))
        definition.check()
        return definition

    def check(self) -> None:
        """Refuse a definition without a usable type, name or UUID."""
        if not self.root.get("type"):
            raise xml_error("missing domain type attribute (<domain type='...'>)")
        name = self.name
        if not name:
            raise xml_error("missing domain name (<name>)")
        if "/" in name or "\n" in name:
            raise xml_error(f"domain name '{name}' may not contain '/' or a newline")
        text = self.root.findtext("uuid")
        if text is not None:
            try:
                uuidlib.UUID(text.strip())
            except ValueError:
                raise xml_error(f"malformed uuid element '{text.strip()}'") from None
        self.memory_kib  # noqa: B018 - raises on a malformed size

    def to_xml(self) -> str:
        """The document as text."""
        return etree.tostring(self.root, encoding="unicode")

    def copy(self) -> "DomainDefinition":
        """An independent copy."""
        return DomainDefinition(copy.deepcopy(self.root))

    # -- simple fields ---------------------------------------------------------------------------------------------

    def _child(self, tag: str, create: bool = False) -> Optional[etree._Element]:
        node = self.root.find(tag)
        if node is None and create:
            node = etree.SubElement(self.root, tag)
        return node

    def _set_text(self, tag: str, value: Optional[str]) -> None:
        node = self._child(tag)
        if value is None:
            if node is not None:
                self.root.remove(node)
            return
        if node is None:
            node = self._insert_after_name(tag)
        node.text = value

    def _insert_after_name(self, tag: str) -> etree._Element:
        anchor = self.root.find("uuid")
        if anchor is None:
            anchor = self.root.find("name")
        node = etree.Element(tag)
        if anchor is None:
            self.root.insert(0, node)
        else:
            anchor.addnext(node)
        return node

    @property
    def type(self) -> str:
        """The hypervisor type attribute (kvm, qemu, lxc, test)."""
        return self.root.get("type", "")

    @property
    def name(self) -> str:
        """The domain name."""
        return (self.root.findtext("name") or "").strip()

    @name.setter
    def name(self, value: str) -> None:
        self._set_text("name", value)

    @property
    def uuid(self) -> Optional[str]:
        """The UUID in canonical text form, or None when the XML has none."""
        text = self.root.findtext("uuid")
        return str(uuidlib.UUID(text.strip())) if text else None

    @uuid.setter
    def uuid(self, value: str) -> None:
        node = self._child("uuid")
        if node is None:
            node = etree.Element("uuid")
            self._child("name", create=True).addnext(node)
        node.text = value

    def ensure_uuid(self) -> str:
        """The UUID, generating one when the XML has none."""
        if self.uuid is None:
            self.uuid = str(uuidlib.uuid4())
        return self.uuid  # type: ignore[return-value]

    @property
    def title(self) -> Optional[str]:
        """The short title."""
        return self.root.findtext("title")

    @title.setter
    def title(self, value: Optional[str]) -> None:
        self._set_text("title", value)

    @property
    def description(self) -> Optional[str]:
        """The free-form description."""
        return self.root.findtext("description")

    @description.setter
    def description(self, value: Optional[str]) -> None:
        self._set_text("description", value)

    def _size(self, tag: str) -> Optional[int]:
        node = self.root.find(tag)
        if node is None or node.text is None:
            return None
        return parse_size_kib(node.text, node.get("unit"), f"<{tag}>")

    def _set_size(self, tag: str, kib: int) -> None:
        node = self.root.find(tag)
        if node is None:
            anchor = self.root.find("memory") if tag != "memory" else None
            if anchor is None:
                node = self._insert_after_name(tag)
            else:
                node = etree.Element(tag)
                anchor.addnext(node)
        node.text = str(kib)
        node.set("unit", "KiB")

    @property
    def memory_kib(self) -> int:
        """Maximum memory (<memory>) in KiB."""
        return self._size("memory") or 0

    @memory_kib.setter
    def memory_kib(self, value: int) -> None:
        self._set_size("memory", value)

    @property
    def current_memory_kib(self) -> int:
        """Current memory (<currentMemory>, defaulting to <memory>) in KiB."""
        value = self._size("currentMemory")
        return self.memory_kib if value is None else value

    @current_memory_kib.setter
    def current_memory_kib(self, value: int) -> None:
        self._set_size("currentMemory", value)

    def _vcpu_element(self) -> etree._Element:
        node = self._child("vcpu")
        return node if node is not None else self._insert_after_name("vcpu")

    @property
    def max_vcpus(self) -> int:
        """The <vcpu> count (maximum)."""
        node = self.root.find("vcpu")
        if node is None or not (node.text or "").strip():
            return 1
        try:
            return int(node.text.strip())
        except ValueError:
            raise xml_error(f"invalid vcpu count '{node.text.strip()}'") from None

    @max_vcpus.setter
    def max_vcpus(self, value: int) -> None:
        node = self._vcpu_element()
        node.text = str(value)

    @property
    def vcpus(self) -> int:
        """The current vCPU count (<vcpu current=...>, defaulting to the maximum)."""
        node = self.root.find("vcpu")
        current = node.get("current") if node is not None else None
        return int(current) if current else self.max_vcpus

    @vcpus.setter
    def vcpus(self, value: int) -> None:
        node = self._vcpu_element()
        if value == self.max_vcpus:
            node.attrib.pop("current", None)
        else:
            node.set("current", str(value))

    @property
    def os_type(self) -> str:
        """The <os><type> value (hvm, exe, ...)."""
        return (self.root.findtext("os/type") or "").strip()

    def devices(self, tag: Optional[str] = None) -> Iterator[etree._Element]:
        """The device elements, optionally only those with ``tag``."""
        devices = self.root.find("devices")
        if devices is None:
            return iter(())
        return (d for d in devices if isinstance(d.tag, str) and (tag is None or d.tag == tag))

    def devices_element(self) -> etree._Element:
        """The <devices> element, created when missing."""
        return self._child("devices", create=True)

    def disk_targets(self) -> list[str]:
        """The target dev names of every disk."""
        return [t.get("dev") for d in self.devices("disk") if (t := d.find("target")) is not None and t.get("dev")]

    def metadata_element(self, create: bool = False) -> Optional[etree._Element]:
        """The <metadata> element."""
        return self._child("metadata", create=create)


@functools.lru_cache(maxsize=1)
def _relaxng() -> etree.RelaxNG:
    text = resources.files("virtkernel.schemas").joinpath("domain.rng").read_bytes()
    return etree.RelaxNG(etree.fromstring(text, _parser()))


def validate(definition: DomainDefinition) -> None:
    """Validate against the domain schema in virtkernel.schemas; XML_INVALID_SCHEMA naming the first problem."""
    schema = _relaxng()
    if not schema.validate(definition.root):
        entry = schema.error_log.last_error
        raise VirtError(f"domain XML does not match the schema: line {entry.line}: {entry.message}",
                        code=ErrorCode.XML_INVALID_SCHEMA, domain=ErrorDomain.DOMAIN)
