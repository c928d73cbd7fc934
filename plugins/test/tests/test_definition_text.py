"""A minimal definition's XML is written straight from its fields: it must equal the general printer's text."""

from __future__ import annotations

import pytest

from virtkernel_test import xmlwriter
from virtkernel_test.definition import DomainConfig

VARIANTS = [
    "<domain type='test'><name>a</name><memory unit='KiB'>131072</memory><vcpu>1</vcpu>"
    "<os><type>hvm</type></os><devices/></domain>",
    "<domain type='test'><name>web-1.b_c</name><uuid>C7A5FDBDEDAF9455926AD65C16DB1809</uuid>"
    "<memory unit='MiB'>128</memory><currentMemory>1000</currentMemory><vcpu current='1'>4</vcpu>"
    "<os><type arch='x86_64'>hvm</type></os></domain>",
    "<domain type='test'>\n  <os>\n    <type>hvm</type>\n  </os>\n  <memory>2048</memory>\n  <name>late</name>\n"
    "  <vcpu placement='static'> 2 </vcpu>\n</domain>",
    "<domain type='kvm'><name>k</name><memory>4096</memory><currentMemory unit='KiB'>99999</currentMemory>"
    "<os><type>hvm</type></os></domain>",
    # not minimal: the general path answers (and must still be right)
    "<domain type='test'><name>a&amp;b</name><memory>1024</memory><os><type>hvm</type></os></domain>",
    "<domain type='test'><name>t</name><memory>1024</memory><vcpu cpuset='0-1'>2</vcpu>"
    "<os><type>hvm</type></os></domain>",
    "<domain type='test'><name>t</name><memory>1024</memory><os><type machine='pc'>hvm</type></os></domain>",
    "<domain type='test'><name>t</name><memory>1024</memory><os><type>hvm</type><boot dev='cdrom'/></os></domain>",
    "<domain type='test'><name>t</name><memory>1024</memory><os><type>hvm</type></os><!-- c --></domain>",
    "<domain type='test'><name>t</name><title>T</title><memory>1024</memory><os><type>hvm</type></os></domain>",
    "<domain type='test'><name>t</name><memory>1024</memory><os><type>xen</type></os></domain>",
    "<domain type='test'><name>t</name><memory>1024</memory><os><type>hvm</type></os>"
    "<devices><disk type='file' device='disk'><target dev='vda'/></disk></devices></domain>",
]


@pytest.mark.parametrize("xml", VARIANTS)
def test_minimal_definitions_print_like_the_general_printer(xml: str) -> None:
    quick = DomainConfig.from_xml(xml)
    general = DomainConfig.from_xml(xml)
    general.uuid = quick.uuid  # a definition without <uuid> gets a random one
    expected = xmlwriter.to_text(general.root)
    assert quick.to_xml() == expected
    assert quick.to_xml(7) == expected.replace(f"type='{general.root.get('type')}'",
                                               f"type='{general.root.get('type')}' id='7'", 1)


def test_the_quick_path_is_taken_for_a_minimal_definition() -> None:
    config = DomainConfig.from_xml(VARIANTS[0])
    assert config._simple_text() is not None and not config._completed
    assert DomainConfig.from_xml(VARIANTS[4])._simple_text() is None
