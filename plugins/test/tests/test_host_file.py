"""test:///ABS/PATH.xml: libvirt's host description format, re-read on every open, with feature switches."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel.enums import DomainState, ErrorCode

TEST_NS = "xmlns:test='http://libvirt.org/schemas/domain/test/1.0'"
HOST = f"""
<cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads><mhz>2000</mhz>
  <model>x86_64</model></cpu>
<memory>4194304</memory>
<domain type='test' {TEST_NS}><name>web</name><uuid>11111111-2222-3333-4444-555555555501</uuid>
  <title>Web server</title><memory>1048576</memory><currentMemory>524288</currentMemory><vcpu>2</vcpu>
  <os><type>hvm</type></os>
  <devices><interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/>
  <target dev='vnet-web'/></interface></devices>
  <test:runstate>1</test:runstate></domain>
<domain type='test' {TEST_NS}><name>db</name><memory>2097152</memory><os><type>hvm</type></os>
  <test:runstate>3</test:runstate></domain>
<domain type='test' {TEST_NS}><name>parked</name><memory>262144</memory><os><type>hvm</type></os>
  <test:runstate>5</test:runstate><test:hasmanagedsave/></domain>
<domain type='test' {TEST_NS}><name>scratch</name><memory>131072</memory><os><type>hvm</type></os>
  <test:transient/></domain>
<domain file='extra/batch.xml'/>
<network><name>default</name></network>
"""
BATCH = "<domain type='test'><name>batch</name><memory>262144</memory><os><type>hvm</type></os></domain>"


@pytest.fixture
def mixed(host_file, tmp_path):
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "batch.xml").write_text(BATCH)
    connection = virtkernel.open(host_file(HOST))
    yield connection
    connection.close()


def test_node_and_domains_come_from_the_file(mixed):
    assert tuple(mixed.get_info()) == ("x86_64", 4194304, 4, 2000, 1, 1, 4, 1)
    states = {d.name: (d.get_id(), d.get_state(), d.is_persistent(), d.has_managed_save_image())
              for d in mixed.list_all_domains()}
    assert states == {
        "web": (1, (DomainState.RUNNING, 0), True, False),
        "db": (2, (DomainState.PAUSED, 0), True, False),
        "parked": (-1, (DomainState.SHUTOFF, 0), True, True),
        "scratch": (3, (DomainState.RUNNING, 0), False, False),
        "batch": (4, (DomainState.RUNNING, 0), True, False),
    }


def test_file_domains_are_printed_without_test_namespace_elements(mixed):
    web = mixed.lookup_by_name("web")
    xml = web.get_xml_desc()
    assert "runstate" not in xml and "xmlns:test" not in xml
    assert "<target dev='testnet0'/>" in xml  # generated names (vnet*) are replaced, as libvirt does
    assert web.get_metadata(virtkernel.DomainMetadataType.TITLE) == "Web server"


def test_host_file_is_reread_on_every_open(mixed, host_file):
    mixed.lookup_by_name("web").destroy()
    again = virtkernel.open(mixed.get_uri())
    try:
        assert again.lookup_by_name("web").is_active()
    finally:
        again.close()
    assert not mixed.lookup_by_name("web").is_active()


def test_new_ids_continue_after_the_files_ids(mixed):
    mixed.lookup_by_name("parked").create()
    assert mixed.lookup_by_name("parked").get_id() == 5


@pytest.mark.parametrize("body, words", [
    ("<domain type='test'><name>x</name></domain>", ["Memory size"]),
    ("<domain file='nowhere.xml'/>", ["nowhere.xml"]),
    (f"<domain type='test' {TEST_NS}><name>t</name><memory>1</memory><os><type>hvm</type></os>"
     "<test:transient/><test:runstate>5</test:runstate></domain>", ["transient"]),
    ("<domain type='test'><name>a</name><memory>1</memory><os><type>hvm</type></os></domain>"
     "<domain type='test'><name>a</name><memory>1</memory><os><type>hvm</type></os></domain>", ["twice"]),
    ("<cpu><cores>many</cores></cpu>", ["cores", "many"]),
    ("<broken", ["malformed"]),
])
def test_bad_host_files_name_the_file_and_the_problem(host_file, body, words):
    uri = host_file(body) if body != "<broken" else None
    if uri is None:
        path = host_file("").removeprefix("test://")
        with open(path, "w") as handle:
            handle.write("<node><broken")
        uri = "test://" + path
    with pytest.raises(virtkernel.VirtError) as refused:
        virtkernel.open(uri)
    message = refused.value.message
    assert uri.removeprefix("test://") in message
    for word in words:
        assert word in message


def test_missing_host_file(tmp_path):
    with pytest.raises(virtkernel.VirtError) as refused:
        virtkernel.open(f"test://{tmp_path}/absent.xml")
    assert refused.value.code == ErrorCode.XML_ERROR
    assert "absent.xml" in refused.value.message


def test_features_can_be_switched_off_and_on(host_file):
    uri = host_file("""
        <vk:features xmlns:vk="https://virtkernel.dev/xmlns/test/1">
          <vk:disable name="MIGRATION_V3"/><vk:disable name="typed_param_string"/><vk:enable name="REMOTE"/>
        </vk:features>""")
    connection = virtkernel.open(uri)
    try:
        F = virtkernel.DriverFeature
        assert not connection.supports_feature(F.MIGRATION_V3)
        assert not connection.supports_feature(F.TYPED_PARAM_STRING)
        assert connection.supports_feature(F.REMOTE)
        assert connection.supports_feature(F.MIGRATION_V2)
    finally:
        connection.close()


def test_unknown_feature_switch_is_refused(host_file):
    uri = host_file("<vk:features xmlns:vk='https://virtkernel.dev/xmlns/test/1'><vk:disable name='WARP'/>"
                    "</vk:features>")
    with pytest.raises(virtkernel.VirtError) as refused:
        virtkernel.open(uri)
    assert "WARP" in refused.value.message and "MIGRATION_V3" in refused.value.message


def test_snapshots_described_in_the_file(host_file):
    uri = host_file(f"""
        <domain type='test' {TEST_NS}><name>vault</name><memory>524288</memory><os><type>hvm</type></os>
          <test:runstate>5</test:runstate>
          <test:domainsnapshot><name>base</name><state>shutoff</state><creationTime>1700000000</creationTime>
            <domain type='test'><name>vault</name><memory>524288</memory><os><type>hvm</type></os></domain>
          </test:domainsnapshot>
          <test:domainsnapshot><name>patched</name><state>running</state><parent><name>base</name></parent>
            <domain type='test'><name>vault</name><memory>1048576</memory><os><type>hvm</type></os></domain>
          </test:domainsnapshot>
        </domain>""")
    connection = virtkernel.open(uri)
    try:
        vault = connection.lookup_by_name("vault")
        assert vault.snapshot_list_names() == ["base", "patched"]
        assert vault.snapshot_current().name == "patched"
        patched = vault.snapshot_lookup_by_name("patched")
        assert patched.get_parent().name == "base"
        patched.revert()
        assert vault.get_state() == (DomainState.RUNNING, 4)
        assert vault.get_max_memory() == 1048576
    finally:
        connection.close()
