"""Domain XML -> plan -> QEMU command line, without starting QEMU: what is refused, what is produced."""

from __future__ import annotations

import dataclasses

import pytest

import virtkernel
from virtkernel.domainxml import DomainDefinition
from virtkernel.enums import ErrorCode
from virtkernel.uri import parse_uri
from virtkernel_qemu.capabilities import probe
from virtkernel_qemu.command_line import build_argv
from virtkernel_qemu.domain_config import add_defaults, format_cpuset, guest_config, parse_cpuset, plan_guest
from virtkernel_qemu.paths import QemuPaths

from qemu_testkit import require

XML = ("<domain type='qemu'><name>plan1</name><memory unit='MiB'>64</memory><vcpu current='1'>2</vcpu>"
       "<os><type>hvm</type><boot dev='hd'/></os><devices>{devices}</devices></domain>")
DISK = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>"
        "<source file='/images/a.qcow2'/><target dev='vda' bus='virtio'/><readonly/></disk>")


@pytest.fixture(scope="module")
def caps():
    import shutil
    require(shutil.which("qemu-system-x86_64") is not None, "qemu-system-x86_64 is not installed")
    return probe()


def _plan(caps, devices: str = "", capabilities=None):
    defn = DomainDefinition.from_xml(XML.format(devices=devices))
    add_defaults(defn, caps)
    return defn, plan_guest(defn, capabilities or caps, 4)


def test_defaults_and_the_command_line(caps):
    defn, plan = _plan(caps, DISK + "<interface type='user'><mac address='52:54:00:01:02:03'/></interface>"
                               "<serial type='null'/>")
    assert defn.uuid and defn.root.find("os/type").get("machine") == caps.canonical_machine("pc")
    assert defn.root.findtext("on_reboot") == "restart"
    argv = build_argv(guest_config(plan, 3, "/run/x.pid"))
    joined = " ".join(argv)
    assert "-accel tcg" in joined and "-smp 1,maxcpus=2" in joined and "-m size=65536k" in joined
    assert '"driver":"qcow2"' in joined and '"direct":true' in joined and '"read-only":true' in joined
    assert '"driver":"virtio-net-pci"' in joined and '"mac":"52:54:00:01:02:03"' in joined
    assert "virtio-balloon-pci" in joined and "-S" in argv and "fd=3" in joined


def test_devices_the_binary_lacks_are_never_claimed(caps):
    lacking = dataclasses.replace(caps, devices=caps.devices - {"virtio-blk-pci"})
    with pytest.raises(virtkernel.VirtError) as info:
        _plan(caps, DISK, capabilities=lacking)
    assert info.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert "needs QEMU device 'virtio-blk-pci'" in info.value.message
    no_kvm = dataclasses.replace(caps, kvm_usable=False)
    defn = DomainDefinition.from_xml(XML.format(devices="").replace("type='qemu'", "type='kvm'"))
    add_defaults(defn, caps)
    with pytest.raises(virtkernel.VirtError) as info:
        plan_guest(defn, no_kvm, 4)
    assert "<domain type='kvm'> needs KVM" in info.value.message


@pytest.mark.parametrize("devices,words", [
    ("<disk type='file' device='floppy'><source file='/f'/><target dev='fda'/></disk>", "<disk device=...>"),
    ("<disk type='file' device='disk'><source file='/f'/><target dev='vda'/><iotune/></disk>", "<disk><iotune>"),
    ("<interface type='user'><model type='ne2k_pci'/></interface>", "<interface><model type=...>"),
    ("<serial type='tcp'/>", "<serial type=...>"),
    ("<controller type='scsi'/>", "<controller type=...>"),
])
def test_refusals_name_the_element(caps, devices, words):
    with pytest.raises(virtkernel.VirtError) as info:
        _plan(caps, devices)
    assert info.value.code == ErrorCode.CONFIG_UNSUPPORTED and words in info.value.message


def test_cpusets_round_trip():
    assert parse_cpuset("0-2,^1", 4, "x") == (True, False, True, False)
    assert format_cpuset((True, True, False, True)) == "0-1,3"
    with pytest.raises(virtkernel.VirtError):
        parse_cpuset("7", 4, "<vcpupin>")


def test_the_three_uris_and_their_directories(tmp_path, monkeypatch):
    embed = QemuPaths.for_uri(parse_uri(f"qemu:///embed?root={tmp_path}"))
    assert embed.config_dir == tmp_path / "etc/qemu" and embed.hooks_dir == tmp_path / "etc"
    assert embed.run_dir == tmp_path / "run/qemu" and embed.lib_dir == tmp_path / "lib/qemu"
    system = QemuPaths.for_uri(parse_uri("qemu:///system"))
    assert str(system.config_dir) == "/etc/virtkernel/qemu" and str(system.run_dir) == "/run/virtkernel/qemu"
    assert str(system.lib_dir) == "/var/lib/virtkernel/qemu"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    session = QemuPaths.for_uri(parse_uri("qemu:///session"))
    assert session.config_dir == tmp_path / "cfg/virtkernel/qemu"
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(virtkernel.VirtError) as info:
        QemuPaths.for_uri(parse_uri("qemu:///system"))
    assert "needs root" in info.value.message
