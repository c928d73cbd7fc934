"""Domain XML: hostile documents are refused, and define -> dump loses nothing."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel.domainxml import DomainDefinition, parse_xml, validate

DOMAIN = """<domain type='kvm' xmlns:acme='http://acme.example/ns'>
  <name>web1</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <title>Front end</title>
  <memory unit='MiB'>512</memory>
  <currentMemory unit='KiB'>262144</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
  <acme:rack>r12</acme:rack>
  <features><acpi/><something-new mode='x'/></features>
  <devices>
    <disk type='file' device='disk'><source file='/var/lib/web1.img'/><target dev='vda' bus='virtio'/></disk>
    <!-- a comment users keep -->
    <future-device foo='bar'><child>text</child></future-device>
  </devices>
</domain>"""


def test_fields_are_read_with_units() -> None:
    d = DomainDefinition.from_xml(DOMAIN)
    assert (d.name, d.uuid, d.type, d.title) == ("web1", "c7a5fdbd-edaf-9455-926a-d65c16db1809", "kvm", "Front end")
    assert d.memory_kib == 512 * 1024 and d.current_memory_kib == 262144
    assert (d.max_vcpus, d.vcpus, d.os_type) == (4, 2, "hvm")
    assert d.disk_targets() == ["vda"]


def test_round_trip_keeps_unknown_elements_namespaces_and_comments() -> None:
    d = DomainDefinition.from_xml(DOMAIN)
    d.memory_kib = 1048576
    d.vcpus = 4
    again = DomainDefinition.from_xml(d.to_xml())
    text = again.to_xml()
    for kept in ("<acme:rack>r12</acme:rack>", "<something-new mode=\"x\"/>", "a comment users keep",
                 "<future-device foo=\"bar\"><child>text</child></future-device>", "xmlns:acme"):
        assert kept in text
    assert again.memory_kib == 1048576 and again.vcpus == 4 and "current=" not in text


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<domain type='kvm'><name>&lol3;</name></domain>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<domain type='kvm'><name>&secret;</name></domain>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_hostile_documents_are_refused_not_expanded(document) -> None:
    with pytest.raises(virtkernel.VirtError) as info:
        DomainDefinition.from_xml(document)
    assert info.value.code == virtkernel.ErrorCode.XML_ERROR
    assert "DOCTYPE" in info.value.message
    assert "root:" not in info.value.message


@pytest.mark.parametrize("document, why", [
    ("<domain type='kvm'><name>a</name>", "malformed domain XML"),
    ("", "is empty"),
    ("<network><name>a</name></network>", "expected a <domain> root element"),
    ("<domain><name>a</name></domain>", "missing domain type"),
    ("<domain type='kvm'/>", "missing domain name"),
    ("<domain type='kvm'><name>a/b</name></domain>", "may not contain '/'"),
    ("<domain type='kvm'><name>a</name><uuid>nope</uuid></domain>", "malformed uuid element 'nope'"),
    ("<domain type='kvm'><name>a</name><memory unit='parsecs'>1</memory></domain>", "unknown unit 'parsecs'"),
    ("<domain type='kvm'><name>a</name><memory>lots</memory></domain>", "not a whole number"),
])
def test_malformed_definitions_name_the_problem(document, why) -> None:
    with pytest.raises(virtkernel.VirtError) as info:
        DomainDefinition.from_xml(document)
    assert why in info.value.message


def test_schema_validation_on_request() -> None:
    validate(DomainDefinition.from_xml(DOMAIN))
    bad = DomainDefinition(parse_xml("<domain type='kvm'><name>a</name><vcpu>zero</vcpu></domain>"))
    with pytest.raises(virtkernel.VirtError) as info:
        validate(bad)
    assert info.value.code == virtkernel.ErrorCode.XML_INVALID_SCHEMA
    assert "does not match the schema" in info.value.message


def test_missing_uuid_is_generated_once() -> None:
    d = DomainDefinition.from_xml("<domain type='test'><name>n</name></domain>")
    first = d.ensure_uuid()
    assert d.ensure_uuid() == first and f"<uuid>{first}</uuid>" in d.to_xml()
