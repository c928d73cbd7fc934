"""Device hot-plug reflected in the live and/or persistent XML (libvirt's test driver has none: ours does)."""

from __future__ import annotations

import pytest
from lxml import etree

import virtkernel
from virtkernel.enums import DomainDeviceModifyFlags as Modify, DomainEventID, DomainXMLFlags, ErrorCode

DISK_VDB = ("<disk type='file' device='disk'><source file='/guest/extra.img'/>"
            "<target dev='vdb' bus='virtio'/></disk>")
CDROM = "<disk type='file' device='cdrom'><source file='/iso/{}.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>"
NIC = "<interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/></interface>"


def targets(xml: str) -> list[str]:
    return [t.get("dev") for t in etree.fromstring(xml).findall("devices/disk/target")]


def code_of(call, *args):
    with pytest.raises(virtkernel.VirtError) as failure:
        call(*args)
    return failure.value.code


def test_attach_live_only_and_detach(conn):
    dom = conn.lookup_by_name("test")
    added, removed = [], []
    conn.domain_event_register_any(dom, DomainEventID.DEVICE_ADDED, lambda c, d, alias, o: added.append(alias))
    conn.domain_event_register_any(dom, DomainEventID.DEVICE_REMOVED, lambda c, d, alias, o: removed.append(alias))
    dom.attach_device(DISK_VDB)
    assert targets(dom.get_xml_desc()) == ["vda", "vdb"]
    assert targets(dom.get_xml_desc(DomainXMLFlags.INACTIVE)) == ["vda"]
    assert dom.get_block_info("vdb")[0] > 0
    assert code_of(dom.attach_device, DISK_VDB) == ErrorCode.OPERATION_FAILED
    dom.detach_device(DISK_VDB)
    assert targets(dom.get_xml_desc()) == ["vda"]
    assert code_of(dom.detach_device, DISK_VDB) == ErrorCode.DEVICE_MISSING
    conn.flush_events()
    assert added == ["vdb"] and removed == ["vdb"]


def test_attach_to_live_and_config_then_restart(conn):
    dom = conn.lookup_by_name("test")
    dom.attach_device(NIC, Modify.LIVE | Modify.CONFIG)
    for flags in (0, DomainXMLFlags.INACTIVE):
        nics = etree.fromstring(dom.get_xml_desc(flags)).findall("devices/interface")
        assert [n.find("target").get("dev") for n in nics] == ["testnet0", "testnet1"]
    dom.destroy()
    dom.create()
    assert dom.interface_stats("52:54:00:12:34:56")


def test_config_changes_of_a_stopped_domain_and_cdrom_update(conn, make_xml):
    dom = conn.define_xml(make_xml(devices=CDROM.format("one")))
    assert code_of(dom.attach_device, DISK_VDB, Modify.LIVE) == ErrorCode.OPERATION_INVALID
    dom.attach_device(DISK_VDB, Modify.CONFIG)
    dom.update_device(CDROM.format("two"), Modify.CONFIG)
    xml = dom.get_xml_desc(DomainXMLFlags.INACTIVE)
    assert "/iso/two.iso" in xml and "/iso/one.iso" not in xml
    assert "<address type='drive' controller='0' bus='1' target='0' unit='0'/>" in xml
    assert targets(xml) == ["hdc", "vdb"]


def test_bad_device_xml(conn):
    dom = conn.lookup_by_name("test")
    assert code_of(dom.attach_device, "<disk") == ErrorCode.XML_DETAIL
    assert code_of(dom.attach_device, "<disk type='file'><source file='/x'/></disk>") == ErrorCode.XML_ERROR
    assert code_of(dom.detach_device_alias, "ua-nothing") == ErrorCode.DEVICE_MISSING
    assert code_of(dom.update_device, "<memballoon model='none'/>") == ErrorCode.OPERATION_UNSUPPORTED


def test_transient_domain_has_no_config_to_change(conn, make_xml):
    temp = conn.create_xml(make_xml())
    assert code_of(temp.attach_device, DISK_VDB, Modify.CONFIG) == ErrorCode.OPERATION_INVALID
    temp.attach_device(DISK_VDB)
    assert targets(temp.get_xml_desc()) == ["vdb"]
