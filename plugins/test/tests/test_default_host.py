"""test:///default: the same host and guest as libvirt's test driver, shared while a connection is open."""

from __future__ import annotations

import os

import pytest
from lxml import etree

import virtkernel
from virtkernel.enums import DomainState, ErrorCode

DEFAULT_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"


def test_default_guest_is_running_with_libvirts_identity(conn):
    dom = conn.lookup_by_name("test")
    assert (dom.name, dom.uuid, dom.get_id()) == ("test", DEFAULT_UUID, 1)
    assert dom.get_state() == (DomainState.RUNNING, 0)
    assert tuple(dom.get_info())[:4] == (DomainState.RUNNING, 8388608, 2097152, 2)
    assert dom.get_os_type() == "linux"
    assert dom.is_active() and dom.is_persistent() and not dom.is_updated()
    assert conn.list_domains() == [1]
    assert conn.list_defined_domains() == []


def test_default_guest_xml_matches_libvirt(conn):
    xml = conn.lookup_by_name("test").get_xml_desc()
    assert xml.startswith("<domain type='test' id='1'>\n  <name>test</name>\n")
    root = etree.fromstring(xml)
    assert root.findtext("memory") == "8388608" and root.find("memory").get("unit") == "KiB"
    assert root.findtext("currentMemory") == "2097152"
    assert root.find("vcpu").get("placement") == "static"
    assert [d.tag for d in root.find("devices")] == ["disk", "interface", "memballoon"]
    assert root.find("devices/interface/target").get("dev") == "testnet0"
    inactive = conn.lookup_by_name("test").get_xml_desc(virtkernel.DomainXMLFlags.INACTIVE)
    assert inactive.startswith("<domain type='test'>\n")


def test_node_info_capabilities_and_identity(conn):
    assert tuple(conn.get_info()) == ("i686", 3145728, 16, 1400, 2, 2, 2, 2)
    assert conn.get_type() == "TEST"
    assert conn.get_max_vcpus() == 32
    assert conn.get_uri() == "test:///default"
    caps = etree.fromstring(conn.get_capabilities())
    assert caps.findtext("host/cpu/arch") == "i686"
    assert [c.get("id") for c in caps.findall("host/topology/cells/cell")] == ["0", "1"]
    assert [g.findtext("os_type") for g in caps.findall("guest")] == ["hvm", "xen"]
    assert caps.findtext("host/secmodel/model") == "testSecurity"
    assert conn.get_hostname() == os.uname().nodename
    assert "<sysinfo type='smbios'>" in conn.get_sysinfo()


def test_connections_share_state_while_one_is_open(conn):
    conn.create_xml("<domain type='test'><name>shared</name><memory>1024</memory><os><type>hvm</type></os></domain>")
    other = virtkernel.open("test:///default")
    try:
        assert other.lookup_by_name("shared").is_active()
        assert other.num_of_domains() == 2
    finally:
        other.close()
    conn.close()
    fresh = virtkernel.open("test:///default")
    try:
        with pytest.raises(virtkernel.NoDomain):
            fresh.lookup_by_name("shared")
        assert fresh.num_of_domains() == 1
    finally:
        fresh.close()


def test_events_are_shared_between_connections_to_the_default_host(conn, events):
    other = virtkernel.open("test:///default")
    try:
        other.lookup_by_name("test").suspend()
    finally:
        other.close()
    assert events.take() == [("test", 3, 0)]


def test_bad_uris_are_refused(conn):
    with pytest.raises(virtkernel.VirtError) as missing:
        virtkernel.open("test:///")
    assert missing.value.code == ErrorCode.INVALID_ARG
    with pytest.raises(virtkernel.VirtError) as remote:
        virtkernel.open("test://somehost/default")
    assert remote.value.code == ErrorCode.NO_CONNECT


def test_feature_probes_by_default(conn):
    F = virtkernel.DriverFeature
    claimed = {f for f in F if conn.supports_feature(f)}
    assert {F.TYPED_PARAM_STRING, F.FD_PASSING, F.MIGRATION_V3, F.MIGRATION_PARAMS, F.MIGRATION_P2P,
            F.MIGRATION_OFFLINE, F.MIGRATE_CHANGE_PROTECTION, F.MIGRATION_V1, F.MIGRATION_V2} <= claimed
    assert F.MIGRATION_DIRECT not in claimed
    assert F.REMOTE not in claimed
