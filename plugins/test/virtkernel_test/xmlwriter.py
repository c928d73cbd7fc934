"""Write an lxml tree the way libvirt prints XML: two-space indent, single-quoted attributes, no declaration."""

from __future__ import annotations

import re
from typing import Optional

from lxml import etree

INDENT = "  "
# libvirt prints these containers open and closed on their own lines even when they are empty.
_ALWAYS_OPEN = frozenset({"devices"})


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


def _qualified(tag: str, nsmap: dict[Optional[str], str]) -> str:
    if tag[0] != "{":
        return tag
    uri, _, local = tag[1:].partition("}")
    for prefix, value in nsmap.items():
        if value == uri:
            return f"{prefix}:{local}" if prefix else local
    return local


def _attributes(element: etree._Element, extra: Optional[list[tuple[str, str]]]) -> str:
    parts = []
    parent = element.getparent()
    inherited = parent.nsmap if parent is not None else {}
    for prefix, uri in element.nsmap.items():
        if inherited.get(prefix) != uri:
            parts.append(f" xmlns:{prefix}='{_escape_attr(uri)}'" if prefix else f" xmlns='{_escape_attr(uri)}'")
    for index, (name, value) in enumerate(element.attrib.items()):
        parts.append(f" {_qualified(name, element.nsmap)}='{_escape_attr(value)}'")
        if extra and index == 0:
            parts.extend(f" {k}='{_escape_attr(v)}'" for k, v in extra)
    if extra and not element.attrib:
        parts.extend(f" {k}='{_escape_attr(v)}'" for k, v in extra)
    return "".join(parts)


def _write(element: etree._Element, depth: int, out: list[str], extra: Optional[list[tuple[str, str]]] = None) -> None:
    pad = INDENT * depth
    tag = _qualified(element.tag, element.nsmap)
    children = [c for c in element if isinstance(c.tag, str)]
    attrs = _attributes(element, extra)
    text = element.text if element.text is not None and element.text.strip() else None
    if not children:
        if text is not None:
            out.append(f"{pad}<{tag}{attrs}>{_escape_text(element.text)}</{tag}>\n")
        elif tag in _ALWAYS_OPEN:
            out.append(f"{pad}<{tag}{attrs}>\n{pad}</{tag}>\n")
        else:
            out.append(f"{pad}<{tag}{attrs}/>\n")
        return
    if tag == "metadata" and depth == 1:
        # libvirt copies metadata elements through libxml2, which prints them with double quotes.
        out.append(f"{pad}<{tag}{attrs}>\n")
        inner = pad + INDENT
        for child in children:
            dumped = etree.tostring(child, encoding="unicode", pretty_print=True).rstrip("\n")
            out.extend(f"{inner}{line}\n" for line in dumped.split("\n"))
        out.append(f"{pad}</{tag}>\n")
        return
    out.append(f"{pad}<{tag}{attrs}>")
    if text is not None:
        out.append(_escape_text(text.strip()))
    out.append("\n")
    for child in children:
        _write(child, depth + 1, out)
    out.append(f"{pad}</{tag}>\n")


_QUOTE_IN_TEXT = re.compile(r">[^<]*\"")
_EMPTY_DEVICES = "\n  <devices/>\n"


def _fast(root: etree._Element) -> Optional[str]:
    """libxml2's own pretty printer with the quotes swapped, when that is provably the same text (common case)."""
    if root.find("metadata") is not None:
        return None
    text = etree.tostring(root, encoding="unicode", pretty_print=True)
    if "'" in text or _QUOTE_IN_TEXT.search(text):
        return None
    text = text.replace('"', "'")
    if _EMPTY_DEVICES in text:
        text = text.replace(_EMPTY_DEVICES, "\n  <devices>\n  </devices>\n")
    return text


def to_text(root: etree._Element, extra_root_attrs: Optional[list[tuple[str, str]]] = None) -> str:
    """The element as libvirt-style text; ``extra_root_attrs`` are printed after the root's first attribute."""
    if not extra_root_attrs:
        fast = _fast(root)
        if fast is not None:
            return fast
    out: list[str] = []
    _write(root, 0, out, extra_root_attrs)
    return "".join(out)


def fragment(element: etree._Element) -> str:
    """One element (e.g. a metadata child) as text, with its namespace declarations."""
    out: list[str] = []
    copy = etree.fromstring(etree.tostring(element))
    _write(copy, 0, out)
    return "".join(out).rstrip("\n")
