"""Domain metadata: <title>, <description> and namespaced elements under <metadata>, read and written in place."""

from __future__ import annotations

from typing import Optional

from lxml import etree

from virtkernel.domainxml import DomainDefinition, parse_xml
from virtkernel.enums import DomainMetadataType as Metadata, ErrorCode, ErrorDomain
from virtkernel.errors import InvalidArg, VirtError

__all__ = ["set_metadata", "get_metadata"]


def _check_type(type: int) -> None:
    if type not in (Metadata.DESCRIPTION, Metadata.TITLE, Metadata.ELEMENT):
        raise InvalidArg(f"unknown metadata type '{type}'", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.DOMAIN)


def set_metadata(defn: DomainDefinition, type: int, metadata: Optional[str], key: Optional[str],
                 uri: Optional[str]) -> None:
    """Set (or with metadata None remove) the title, the description or the element of namespace `uri`."""
    _check_type(type)
    if type == Metadata.TITLE:
        if metadata is not None and "\n" in metadata:
            raise InvalidArg("the title must not contain a newline", code=ErrorCode.INVALID_ARG,
                             domain=ErrorDomain.DOMAIN)
        defn.title = metadata or None
        return
    if type == Metadata.DESCRIPTION:
        defn.description = metadata or None
        return
    if not uri:
        raise InvalidArg("a metadata element needs a namespace URI", code=ErrorCode.INVALID_ARG,
                         domain=ErrorDomain.DOMAIN)
    container = defn.metadata_element(create=metadata is not None)
    if container is not None:
        for child in list(container):
            if isinstance(child.tag, str) and etree.QName(child).namespace == uri:
                container.remove(child)
    if metadata is None:
        if container is not None and len(container) == 0:
            defn.root.remove(container)
        return
    if not key:
        raise InvalidArg("a metadata element needs a namespace prefix (key)", code=ErrorCode.INVALID_ARG,
                         domain=ErrorDomain.DOMAIN)
    element = parse_xml(metadata, "metadata element")
    renamed = _in_namespace(element, uri, key)
    container.append(renamed)


def _in_namespace(element, uri: str, prefix: str):
    """A copy of element and its children, in namespace `uri` with `prefix`."""
    copy = etree.Element(f"{{{uri}}}{etree.QName(element).localname}", nsmap={prefix: uri})
    copy.attrib.update(element.attrib)
    copy.text = element.text
    for child in element:
        if isinstance(child.tag, str):
            sub = _in_namespace(child, uri, prefix)
            sub.tail = child.tail
            copy.append(sub)
    return copy


def get_metadata(defn: DomainDefinition, type: int, uri: Optional[str]) -> str:
    """The title, description or namespaced element; VIR_ERR_NO_DOMAIN_METADATA when there is none."""
    _check_type(type)
    value = None
    if type == Metadata.TITLE:
        value = defn.title
    elif type == Metadata.DESCRIPTION:
        value = defn.description
    else:
        container = defn.metadata_element()
        for child in (container if container is not None else ()):
            if isinstance(child.tag, str) and etree.QName(child).namespace == uri:
                value = etree.tostring(child, encoding="unicode").strip()
                break
    if not value:
        raise VirtError("Requested metadata element is not present", code=ErrorCode.NO_DOMAIN_METADATA,
                        domain=ErrorDomain.DOMAIN)
    return value
