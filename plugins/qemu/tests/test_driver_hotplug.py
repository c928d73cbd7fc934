"""Hotplug on a running guest: disks and NICs in and out (live and config), CD-ROM media changes."""

from __future__ import annotations

import subprocess

import pytest

import virtkernel
from virtkernel.enums import DomainModificationImpact as Impact, DomainXMLFlags, ErrorCode
from virtkernel_qemu import hotplug


pytestmark = pytest.mark.timeout(60)

CDROM = ("<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/>"
         "<readonly/></disk>")


@pytest.fixture(scope="module")
def dom(host, conn):
    domain = conn.define_xml(host.xml("plug1", extra_devices=CDROM))
    domain.create()
    yield domain
    if domain.is_active():
        domain.destroy()


def _qmp(conn, name: str, command: str, arguments=None):
    return conn.driver.driver.host.guests[name].monitor.execute(command, arguments)


def _disk_xml(path, target="vdb", fmt="qcow2"):
    return (f"<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/><source file='{path}'/>"
            f"<target dev='{target}' bus='virtio'/></disk>")


def test_a_disk_attached_live_and_config_reaches_qemu_and_both_xmls(host, conn, dom):
    image = host.images / "hot.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "8M"], check=True, timeout=30)
    dom.attach_device(_disk_xml(image), Impact.LIVE | Impact.CONFIG)
    nodes = [b["inserted"]["node-name"] for b in _qmp(conn, "plug1", "query-block") if b.get("inserted")]
    assert "vdb-format" in nodes
    assert dom.get_block_info("vdb").capacity == 8 << 20
    assert "<target dev=\"vdb\" bus=\"virtio\"/>" in dom.get_xml_desc()
    assert "<alias name=\"virtio-vdb\"/>" in dom.get_xml_desc()
    assert f"file=\"{image}\"" in dom.get_xml_desc(DomainXMLFlags.INACTIVE)
    with pytest.raises(virtkernel.VirtError) as info:
        dom.attach_device(_disk_xml(image), Impact.LIVE)
    assert "already exists" in info.value.message


def test_a_guest_that_does_not_release_a_device_gets_a_clear_timeout(conn, dom, monkeypatch):
    monkeypatch.setattr(hotplug, "DETACH_TIMEOUT", 0.5)
    with pytest.raises(virtkernel.VirtError) as info:
        dom.detach_device("<disk type='file' device='disk'><target dev='vdb'/></disk>", Impact.LIVE)
    assert info.value.code == ErrorCode.OPERATION_TIMEOUT
    assert "did not release device 'virtio-vdb' within 0.5 s" in info.value.message
    assert "<target dev=\"vdb\"" in dom.get_xml_desc()  # still there: the guest has not let go
    dom.detach_device("<disk type='file' device='disk'><target dev='vdb'/></disk>", Impact.CONFIG)
    assert "vdb" not in dom.get_xml_desc(DomainXMLFlags.INACTIVE)
    with pytest.raises(virtkernel.VirtError) as info:
        dom.detach_device("<disk type='file' device='disk'><target dev='vdq'/></disk>", Impact.LIVE)
    assert info.value.code == ErrorCode.DEVICE_MISSING


def test_a_nic_attached_live_gets_a_mac_and_a_device(conn, dom):
    dom.attach_device("<interface type='user'><model type='virtio'/></interface>", Impact.LIVE)
    xml = dom.get_xml_desc()
    assert "<mac address=\"52:54:00:" in xml and "<alias name=\"net0\"/>" in xml
    devices = _qmp(conn, "plug1", "qom-list", {"path": "/machine/peripheral"})
    assert "net0" in [d["name"] for d in devices]
    assert "interface" not in dom.get_xml_desc(DomainXMLFlags.INACTIVE)


def test_devices_that_cannot_be_hotplugged_are_refused(host, dom):
    image = host.images / "ide.raw"
    image.write_bytes(bytes(1 << 20))
    with pytest.raises(virtkernel.VirtError) as info:
        dom.attach_device(_disk_xml(image, "hdb", "raw").replace("bus='virtio'", "bus='ide'"), Impact.LIVE)
    assert info.value.code == ErrorCode.CONFIG_UNSUPPORTED and "only virtio disks" in info.value.message
    with pytest.raises(virtkernel.VirtError) as info:
        dom.attach_device("<sound model='ich6'/>", Impact.LIVE)
    assert "<sound>" in info.value.message


def test_cdrom_media_can_be_inserted_and_ejected(host, conn, dom):
    iso = host.images / "media.iso"
    iso.write_bytes(bytes(2 << 20))

    def medium():
        for block in _qmp(conn, "plug1", "query-block"):
            if block.get("qdev", "").endswith("hdc"):
                return block.get("inserted", {}).get("file")
        raise AssertionError("no hdc in query-block")
    assert medium() is None
    dom.update_device(CDROM.replace("<target", f"<source file='{iso}'/><target"), Impact.LIVE)
    assert medium() == str(iso)
    assert f"file=\"{iso}\"" in dom.get_xml_desc()
    dom.update_device(CDROM, Impact.LIVE)
    assert medium() is None
    with pytest.raises(virtkernel.VirtError) as info:
        dom.update_device(_disk_xml(iso, "vdc", "raw"), Impact.LIVE)
    assert "only a CD-ROM's medium" in info.value.message
