"""The migration cookie: sections, mandatory features, and refusal of malformed cookies."""

from __future__ import annotations

import pytest
from lxml import etree

import virtkernel
from virtkernel.migration import CookieFeature as C, MigrationCookie, NbdDisk, NbdSection
from virtkernel.migration.cookie import MAX_COOKIE_BYTES

pytestmark = pytest.mark.timeout(30)

SRC_HOST = "11111111-2222-3333-4444-555555555555"
DST_HOST = "66666666-7777-8888-9999-aaaaaaaaaaaa"
DOM = "5e1bd4b4-7e0b-4b0e-9a59-a5d1f1b0c0de"
DOMAIN_XML = f"<domain type='test'><name>web1</name><uuid>{DOM}</uuid><memory>1024</memory></domain>"


def cookie(**kwargs) -> MigrationCookie:
    return MigrationCookie(name="web1", uuid=DOM, hostname="h1", host_uuid=SRC_HOST, **kwargs)


def parse(data, supported=C.all(), **kwargs) -> MigrationCookie:
    return MigrationCookie.parse(data, supported=supported, local_host_uuid=DST_HOST, **kwargs)


def raw(body: str, host: str = SRC_HOST) -> bytes:
    return (f"<migration-cookie><name>web1</name><uuid>{DOM}</uuid><hostname>h1</hostname>"
            f"<hostuuid>{host}</hostuuid>{body}</migration-cookie>").encode()


def test_round_trip_of_every_structured_section() -> None:
    original = cookie(persistent_xml=DOMAIN_XML, statistics={"memory_total": 1024, "downtime": 3},
                      nbd=NbdSection(port=49153, disks=[NbdDisk("vda", 10 << 30), NbdDisk("vdb", 512)]),
                      lockstate=("sanlock", "lease-data"))
    graphics = etree.fromstring("<graphics type='vnc' port='5900' listen='0.0.0.0'/>")
    original.set_section(C.GRAPHICS, graphics)
    original.require(C.LOCKSTATE)
    parsed = parse(original.to_bytes())
    assert parsed.name == "web1" and parsed.uuid == DOM and parsed.hostname == "h1" and parsed.host_uuid == SRC_HOST
    assert parsed.features == C.PERSISTENT | C.STATISTICS | C.NBD | C.LOCKSTATE | C.GRAPHICS
    assert parsed.mandatory == C.LOCKSTATE
    assert "<name>web1</name>" in parsed.persistent_xml
    assert parsed.statistics == {"memory_total": 1024, "downtime": 3}
    assert parsed.nbd == NbdSection(49153, [NbdDisk("vda", 10 << 30), NbdDisk("vdb", 512)])
    assert parsed.lockstate == ("sanlock", "lease-data")
    assert parsed.sections[C.GRAPHICS].get("port") == "5900"


def test_mandatory_features_are_written_as_singular_feature_elements() -> None:
    data = cookie(lockstate=("sanlock", "x"), mandatory=C.LOCKSTATE).to_bytes()
    root = etree.fromstring(data)
    assert [f.get("name") for f in root.findall("feature")] == ["lockstate"]
    assert root.find("features") is None


def test_regression_feature_elements_are_read_so_mandatory_is_never_optional() -> None:
    # The classic mistake: reading <features> (plural) finds nothing and the mandatory feature is silently
    # treated as optional. A reader without lockstate support must refuse this cookie.
    data = raw("<feature name='lockstate'/><lockstate driver='sanlock'><leases>x</leases></lockstate>")
    with pytest.raises(virtkernel.VirtError) as info:
        parse(data, supported=C.all() & ~C.LOCKSTATE)
    assert "requires feature 'lockstate'" in info.value.message
    assert "does not support" in info.value.message
    # the same section without <feature> is optional: dropped, not refused
    optional = parse(raw("<lockstate driver='sanlock'><leases>x</leases></lockstate>"),
                     supported=C.all() & ~C.LOCKSTATE)
    assert optional.lockstate is None and optional.mandatory == C(0)


def test_unknown_mandatory_feature_is_refused_by_name() -> None:
    with pytest.raises(virtkernel.VirtError) as info:
        parse(raw("<feature name='quantum-entanglement'/><quantum-entanglement/>"))
    assert "'quantum-entanglement'" in info.value.message and "does not know" in info.value.message


def test_unknown_optional_sections_are_ignored() -> None:
    parsed = parse(raw("<quantum-entanglement level='9'/><statistics><stat name='x'>1</stat></statistics>"))
    assert parsed.features == C.STATISTICS and parsed.statistics == {"x": 1}


def test_mandatory_feature_without_its_section_is_refused() -> None:
    with pytest.raises(virtkernel.VirtError) as info:
        parse(raw("<feature name='nbd'/>"))
    assert "'nbd' as mandatory but carries no such section" in info.value.message


@pytest.mark.parametrize("data, fragment", [
    (b"", "empty"),
    (b"<migration-cookie><name>web1</name", "not valid XML"),
    (b"<other/>", "root element <other>"),
    (raw("").replace(b"<hostname>h1</hostname>", b""), "no <hostname>"),
    (raw("", host="not-a-uuid"), "host UUID 'not-a-uuid' is not a valid UUID"),
    (raw("", host=DST_HOST), "same host"),
    (raw("<nbd port='70000'/>"), "NBD port 70000 is out of range"),
    (raw("<statistics><stat name='x'>many</stat></statistics>"), "not a whole number"),
    (raw("<persistent><notadomain/></persistent>"), "must hold one <domain>"),
    (raw("<feature/>"), "without a name"),
    (b"<!DOCTYPE x [<!ENTITY a 'b'>]><migration-cookie>&a;</migration-cookie>", "not valid XML"),
])
def test_malformed_cookies_are_refused_with_clear_errors(data, fragment) -> None:
    with pytest.raises(virtkernel.VirtError) as info:
        parse(data)
    assert fragment in info.value.message
    assert info.value.code == virtkernel.ErrorCode.INTERNAL_ERROR


def test_oversized_cookie_is_refused_before_parsing() -> None:
    data = raw("<x>" + "a" * MAX_COOKIE_BYTES + "</x>")
    with pytest.raises(virtkernel.VirtError) as info:
        parse(data)
    assert "too large" in info.value.message


def test_wrong_peer_or_domain_is_refused() -> None:
    data = cookie().to_bytes()
    with pytest.raises(virtkernel.VirtError) as info:
        parse(data, peer_host_uuid="00000000-0000-0000-0000-000000000001")
    assert "expected 00000000-0000-0000-0000-000000000001" in info.value.message
    with pytest.raises(virtkernel.VirtError) as info:
        parse(data, domain_uuid="00000000-0000-0000-0000-000000000002")
    assert "is for domain" in info.value.message
    assert parse(data, peer_host_uuid=SRC_HOST, domain_uuid=DOM).uuid == DOM


def test_feature_names_and_elements() -> None:
    assert C.MEMORY_HOTPLUG.element == "memory-hotplug"
    assert C.from_element("cpu-hotplug") is C.CPU_HOTPLUG and C.from_element("nope") is None
    assert (C.NBD | C.GRAPHICS).names() == ["graphics", "nbd"]
    for required in ("graphics", "lockstate", "persistent", "network", "nbd", "statistics", "memory-hotplug",
                     "cpu-hotplug", "cpu", "capabilities"):
        assert C.from_element(required) is not None
