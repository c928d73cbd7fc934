"""GuestConfig -> QEMU argv: exact arguments for several configurations, refusals, and real boots per bus."""

from __future__ import annotations

import json
import subprocess
import uuid as uuid_module
from pathlib import Path

import pytest

from guest import write_disk_image
from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel_qemu.command_line import (BootDevice, CacheMode, CharDevice, CharKind, ConfigUnsupported, CpuMode,
                                          Disk, DiskBus, DiskDevice, DiskFormat, Graphics, GraphicsKind,
                                          GuestConfig, MonitorSocket, NetType, Nic, SourceType, build_argv)
from virtkernel_qemu.monitor import Monitor, listening_socket

UUID = "c7a5fdbd-cdaf-9455-926a-d65c16db1809"


def config(**changes) -> GuestConfig:
    base = dict(name="web1", uuid=UUID, memory_kib=131072, monitor=MonitorSocket(path="/run/vk/web1.qmp"))
    base.update(changes)
    return GuestConfig(**base)


def values(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == option]


def devices(argv: list[str]) -> list[dict]:
    return [json.loads(value) for value in values(argv, "-device")]


def blockdevs(argv: list[str]) -> list[dict]:
    return [json.loads(value) for value in values(argv, "-blockdev")]


def test_minimal_guest():
    argv = build_argv(config())
    assert argv[0] == "qemu-system-x86_64"
    assert values(argv, "-name") == ["guest=web1,debug-threads=on"]
    assert values(argv, "-uuid") == [UUID]
    assert "-nodefaults" in argv and "-no-user-config" in argv and "-S" in argv
    assert values(argv, "-machine") == ["pc"] and values(argv, "-accel") == ["kvm"]
    assert values(argv, "-m") == ["size=131072k"]
    assert values(argv, "-smp") == ["1,maxcpus=1,sockets=1,cores=1,threads=1"]
    assert values(argv, "-chardev") == ["socket,id=charmonitor,path=/run/vk/web1.qmp,server=on,wait=off"]
    assert values(argv, "-mon") == ["chardev=charmonitor,id=monitor,mode=control"]
    assert values(argv, "-display") == ["none"]
    assert "-cpu" not in argv and "-vnc" not in argv and "-incoming" not in argv and "-pidfile" not in argv
    assert devices(argv) == []


def test_commas_in_names_and_paths_are_doubled():
    argv = build_argv(config(name="a,b", monitor=MonitorSocket(path="/tmp/x,y.qmp"),
                             serials=(CharDevice(CharKind.FILE, "/var/log/a,b.log"),)))
    assert values(argv, "-name") == ["guest=a,,b,debug-threads=on"]
    assert "path=/tmp/x,,y.qmp" in values(argv, "-chardev")[0]
    assert values(argv, "-chardev")[1] == "file,id=charserial0,path=/var/log/a,,b.log,append=on"


def test_a_full_guest():
    cfg = config(
        machine="q35", accel="kvm", memory_kib=1048576, max_memory_kib=4194304, memory_slots=4,
        vcpus=2, max_vcpus=4, cpu_mode=CpuMode.HOST_PASSTHROUGH,
        boot_order=(BootDevice.CDROM, BootDevice.HD, BootDevice.NETWORK),
        disks=(Disk("vda", "/img/root.qcow2", format=DiskFormat.QCOW2, cache=CacheMode.NONE),
               Disk("vdb", "/dev/vg/data", source_type=SourceType.BLOCK, readonly=True, alias="virtio-disk1"),
               Disk("sda", "/iso/install.iso", bus=DiskBus.SATA, device=DiskDevice.CDROM)),
        nics=(Nic(mac="52:54:00:00:00:01"), Nic(NetType.TAP, ifname="vnet7", model="e1000"),
              Nic(NetType.TAP, tap_fd=21)),
        serials=(CharDevice(CharKind.PTY), CharDevice(CharKind.FILE, "/var/log/web1.serial")),
        graphics=Graphics(GraphicsKind.VNC, port=5901), start_paused=False, pidfile="/run/vk/web1.pid",
        incoming="defer", no_shutdown=True, monitor=MonitorSocket(fd=9), extra_args=("-rtc", "base=utc"))
    argv = build_argv(cfg)
    assert values(argv, "-m") == ["size=1048576k,slots=4,maxmem=4194304k"]
    assert values(argv, "-smp") == ["2,maxcpus=4,sockets=4,cores=1,threads=1"]
    assert values(argv, "-cpu") == ["host"]
    assert values(argv, "-pidfile") == ["/run/vk/web1.pid"]
    assert values(argv, "-incoming") == ["defer"]
    assert "-S" not in argv and "-no-shutdown" in argv
    assert argv[-2:] == ["-rtc", "base=utc"]
    assert values(argv, "-vnc") == ["127.0.0.1:1"]
    assert values(argv, "-chardev")[0] == "socket,id=charmonitor,fd=9,server=on,wait=off"
    assert values(argv, "-chardev")[1:] == ["pty,id=charserial0",
                                            "file,id=charserial1,path=/var/log/web1.serial,append=on"]
    assert blockdevs(argv) == [
        {"driver": "file", "filename": "/img/root.qcow2", "node-name": "vda-storage",
         "cache": {"direct": True, "no-flush": False}, "read-only": False, "discard": "unmap"},
        {"driver": "qcow2", "file": "vda-storage", "node-name": "vda-format",
         "cache": {"direct": True, "no-flush": False}, "read-only": False},
        {"driver": "host_device", "filename": "/dev/vg/data", "node-name": "vdb-storage",
         "cache": {"direct": False, "no-flush": False}, "read-only": True, "discard": "unmap"},
        {"driver": "raw", "file": "vdb-storage", "node-name": "vdb-format",
         "cache": {"direct": False, "no-flush": False}, "read-only": True},
        {"driver": "file", "filename": "/iso/install.iso", "node-name": "sda-storage",
         "cache": {"direct": False, "no-flush": False}, "read-only": True, "discard": "unmap"},
        {"driver": "raw", "file": "sda-storage", "node-name": "sda-format",
         "cache": {"direct": False, "no-flush": False}, "read-only": True},
    ]
    assert devices(argv) == [
        {"driver": "virtio-blk-pci", "id": "vda", "drive": "vda-format", "write-cache": "on", "bootindex": 2},
        {"driver": "virtio-blk-pci", "id": "virtio-disk1", "drive": "vdb-format", "write-cache": "on"},
        {"driver": "ide-cd", "id": "sda", "bus": "ide.0", "drive": "sda-format", "bootindex": 1},
        {"driver": "virtio-net-pci", "netdev": "hostnet0", "id": "net0", "mac": "52:54:00:00:00:01", "bootindex": 3},
        {"driver": "e1000", "netdev": "hostnet1", "id": "net1"},
        {"driver": "virtio-net-pci", "netdev": "hostnet2", "id": "net2"},
        {"driver": "isa-serial", "chardev": "charserial0", "id": "serial0"},
        {"driver": "isa-serial", "chardev": "charserial1", "id": "serial1"},
        {"driver": "VGA", "id": "video0"},
    ]
    assert [json.loads(v) for v in values(argv, "-netdev")] == [
        {"type": "user", "id": "hostnet0"},
        {"type": "tap", "id": "hostnet1", "ifname": "vnet7", "script": "no", "downscript": "no"},
        {"type": "tap", "id": "hostnet2", "fd": "21"},
    ]
    assert cfg.passed_fds() == [9, 21]


def test_buses_and_slots():
    argv = build_argv(config(disks=(Disk("hda", "/a", bus=DiskBus.IDE), Disk("hdd", "/b", bus=DiskBus.IDE),
                                    Disk("hdc", "/c", bus=DiskBus.IDE, device=DiskDevice.CDROM),
                                    Disk("sdb", "/d", bus=DiskBus.SATA))))
    found = devices(argv)
    assert found[0] == {"driver": "ahci", "id": "sata0"}  # pc has no SATA controller of its own
    assert [(d["driver"], d["bus"], d.get("unit")) for d in found[1:]] == [
        ("ide-hd", "ide.0", 0), ("ide-hd", "ide.1", 1), ("ide-cd", "ide.1", 0), ("ide-hd", "sata0.1", None)]
    q35 = devices(build_argv(config(machine="pc-q35-7.2", disks=(Disk("sdc", "/a", bus=DiskBus.SATA),))))
    assert q35 == [{"driver": "ide-hd", "id": "sdc", "bus": "ide.2", "drive": "sdc-format", "write-cache": "on"}]


def test_an_empty_cdrom_has_no_block_nodes():
    argv = build_argv(config(disks=(Disk("hdc", None, bus=DiskBus.IDE, device=DiskDevice.CDROM),)))
    assert blockdevs(argv) == []
    assert devices(argv) == [{"driver": "ide-cd", "id": "hdc", "bus": "ide.1", "unit": 0}]


@pytest.mark.parametrize("mode,direct,no_flush,write_cache", [
    (CacheMode.DEFAULT, False, False, "on"), (CacheMode.WRITEBACK, False, False, "on"),
    (CacheMode.NONE, True, False, "on"), (CacheMode.WRITETHROUGH, False, False, "off"),
    (CacheMode.DIRECTSYNC, True, False, "off"), (CacheMode.UNSAFE, False, True, "on")])
def test_cache_modes(mode, direct, no_flush, write_cache):
    argv = build_argv(config(disks=(Disk("vda", "/a", cache=mode),)))
    assert {b["node-name"]: b["cache"] for b in blockdevs(argv)} == {
        "vda-storage": {"direct": direct, "no-flush": no_flush}, "vda-format": {"direct": direct, "no-flush": no_flush}}
    assert devices(argv)[0]["write-cache"] == write_cache


def test_per_device_boot_indexes_and_other_cpu_modes():
    argv = build_argv(config(disks=(Disk("vda", "/a", boot_index=2),), nics=(Nic(boot_index=1),),
                             cpu_mode=CpuMode.CUSTOM, cpu_model="Skylake-Client", accel="tcg",
                             graphics=Graphics(GraphicsKind.VNC, listen="::1")))
    assert [d.get("bootindex") for d in devices(argv)[:2]] == [2, 1]
    assert values(argv, "-cpu") == ["Skylake-Client"] and values(argv, "-accel") == ["tcg"]
    assert values(argv, "-vnc") == ["[::1]:0,to=100"]
    assert values(build_argv(config(cpu_mode=CpuMode.MAXIMUM)), "-cpu") == ["max"]


@pytest.mark.parametrize("changes,message", [
    (dict(machine="q35", disks=(Disk("hda", "/a", bus=DiskBus.IDE),)), "has no IDE controller"),
    (dict(disks=(Disk("hda", "/a", bus=DiskBus.IDE, readonly=True),)), "only supported on the virtio bus"),
    (dict(disks=(Disk("hde", "/a", bus=DiskBus.IDE),)), "only hda to hdd"),
    (dict(disks=(Disk("sdg", "/a", bus=DiskBus.SATA),)), "only sda to sdf"),
    (dict(disks=(Disk("vda", "/a", device=DiskDevice.CDROM),)), "cannot be on the virtio bus"),
    (dict(disks=(Disk("vda", None),)), "has no source"),
    (dict(disks=(Disk("vda", "/a"), Disk("vda", "/b"))), "'vda' is used twice"),
    (dict(cpu_mode=CpuMode.HOST_PASSTHROUGH, accel="tcg"), "needs KVM"),
    (dict(cpu_mode=CpuMode.CUSTOM), "needs a CPU model"),
    (dict(boot_order=(BootDevice.HD,), disks=(Disk("vda", "/a", boot_index=1),)), "cannot be mixed"),
    (dict(monitor=MonitorSocket()), "exactly one of a socket path or a descriptor"),
    (dict(monitor=MonitorSocket(path="/x", fd=3)), "exactly one of a socket path or a descriptor"),
    (dict(nics=(Nic(NetType.TAP),)), "tap interface 0 needs exactly one"),
    (dict(graphics=Graphics(GraphicsKind.VNC, port=80)), "below 5900"),
    (dict(max_memory_kib=262144), "needs at least one memory slot"),
    (dict(max_memory_kib=1024, memory_slots=1), "smaller than the initial memory"),
    (dict(vcpus=4, max_vcpus=2), "4 vCPUs, at most 2"),
    (dict(memory_kib=0), "positive amount of memory"),
])
def test_unsupported_configurations_are_refused(changes, message):
    with pytest.raises(ConfigUnsupported, match=message) as info:
        build_argv(config(**changes))
    assert (info.value.code, info.value.domain) == (ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.QEMU)


# ---- real boots -------------------------------------------------------------------------------

def boot(launch, workdir: Path, qemu_binary: str, cfg_changes: dict, name: str = "boot",
         wrapper: tuple[str, ...] = ()) -> tuple:
    listener = listening_socket(workdir / f"{name}.qmp")
    serial = workdir / f"{name}.serial"
    cfg_changes.setdefault("serials", (CharDevice(CharKind.FILE, str(serial)),))
    cfg = config(name=name, uuid=str(uuid_module.uuid4()), emulator=qemu_binary,
                 monitor=MonitorSocket(fd=listener.fileno()), **cfg_changes)
    try:
        process = launch([*wrapper, *build_argv(cfg)], name=name, pass_fds=cfg.passed_fds())
    finally:
        listener.close()
    try:
        monitor = Monitor.connect(workdir / f"{name}.qmp", name, alive=process.is_running)
    except Exception as exc:
        raise AssertionError(f"QEMU did not start: {process.log_tail()}") from exc
    return cfg, process, monitor, serial


@pytest.mark.parametrize("machine,bus,target,fmt", [
    ("pc", DiskBus.VIRTIO, "vda", DiskFormat.RAW),
    ("pc", DiskBus.IDE, "hda", DiskFormat.RAW),
    ("q35", DiskBus.SATA, "sda", DiskFormat.RAW),
    ("pc", DiskBus.SATA, "sdb", DiskFormat.RAW),
    ("q35", DiskBus.VIRTIO, "vdb", DiskFormat.QCOW2),
])
def test_the_guest_boots_from_each_bus(qemu_binary, accel, workdir, launch, machine, bus, target, fmt):
    from guest import count_passes, wait_for_serial
    image = write_disk_image(workdir / "disk.raw")
    if fmt is DiskFormat.QCOW2:
        qcow2 = workdir / "disk.qcow2"
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(image), str(qcow2)], check=True)
        image = qcow2
    cfg, process, monitor, serial = boot(launch, workdir, qemu_binary, dict(
        machine=machine, accel=accel, disks=(Disk(target, str(image), bus=bus, format=fmt),),
        boot_order=(BootDevice.HD,)))
    try:
        assert monitor.execute("query-status")["status"] == "prelaunch"  # started paused (-S)
        assert monitor.execute("query-name") == {"name": cfg.name}
        assert monitor.execute("query-uuid") == {"UUID": cfg.uuid}
        block = {b["inserted"]["node-name"]: b for b in monitor.execute("query-block") if "inserted" in b}
        assert block[f"{target}-format"]["inserted"]["drv"] == fmt.value
        assert block[f"{target}-format"]["qdev"] in (target, f"/machine/peripheral/{target}/virtio-backend")
        monitor.execute("cont")
        text = wait_for_serial(serial, lambda t: count_passes(t) >= 2, timeout=60, process=process)
        assert text.startswith("ABB")
    finally:
        monitor.close()


def test_vnc_on_loopback_hotplug_limits_and_a_nic_under_kvm(qemu_binary, kvm, workdir, launch):
    # (not -cpu host: under nested kvm_pvm QEMU 7.2 fails with "failed to set MSR 0x10a")
    cfg, process, monitor, _ = boot(launch, workdir, qemu_binary, dict(
        accel=kvm, vcpus=1, max_vcpus=2,
        graphics=Graphics(GraphicsKind.VNC), memory_kib=65536, max_memory_kib=131072, memory_slots=1,
        nics=(Nic(mac="52:54:00:12:34:56"),)))
    try:
        vnc = monitor.execute("query-vnc")
        assert vnc["enabled"] and vnc["host"] == "127.0.0.1" and int(vnc["service"]) >= 5900
        assert len(monitor.execute("query-hotpluggable-cpus")) == 2
        assert monitor.execute("query-kvm") == {"enabled": True, "present": True}
        assert monitor.execute("query-memory-size-summary")["base-memory"] == 64 << 20
    finally:
        monitor.close()


def test_qemu_accepts_a_guest_with_every_kind_of_device(qemu_binary, accel, workdir, launch):
    image = write_disk_image(workdir / "disk.raw")
    qcow2 = workdir / "data.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow2), "16M"], check=True)
    iso = workdir / "install.iso"
    iso.write_bytes(bytes(1 << 20))
    cfg, process, monitor, _ = boot(launch, workdir, qemu_binary, dict(
        # -cpu max means -cpu host under KVM, which nested kvm_pvm refuses ("failed to set MSR 0x10a")
        accel=accel, vcpus=2, max_vcpus=4, cpu_mode=CpuMode.MAXIMUM if accel == "tcg" else CpuMode.DEFAULT,
        pidfile=str(workdir / "qemu.pid"),
        boot_order=(BootDevice.HD, BootDevice.CDROM, BootDevice.NETWORK), no_shutdown=True,
        disks=(Disk("vda", str(image), cache=CacheMode.WRITETHROUGH),
               Disk("vdb", str(qcow2), format=DiskFormat.QCOW2, readonly=True, cache=CacheMode.UNSAFE),
               Disk("hdc", None, bus=DiskBus.IDE, device=DiskDevice.CDROM),
               Disk("sda", str(iso), bus=DiskBus.SATA, device=DiskDevice.CDROM)),
        nics=(Nic(mac="52:54:00:00:00:0a"), Nic(model="e1000")),
        serials=(CharDevice(CharKind.PTY), CharDevice(CharKind.NULL)),
        graphics=Graphics(GraphicsKind.VNC)))
    try:
        assert monitor.execute("query-status")["status"] == "prelaunch"
        assert int((workdir / "qemu.pid").read_text()) == process.pid
        block = {b["device"] or b["qdev"]: b for b in monitor.execute("query-block")}
        inserted = {b["inserted"]["node-name"]: b["inserted"] for b in block.values() if "inserted" in b}
        assert set(inserted) == {"vda-format", "vdb-format", "sda-format"}
        assert inserted["vdb-format"]["ro"] and inserted["vdb-format"]["drv"] == "qcow2"
        assert inserted["vda-format"]["cache"] == {"writeback": False, "direct": False, "no-flush": False}
        assert inserted["vdb-format"]["cache"]["no-flush"] is True
        assert any(b["qdev"] == "hdc" and "inserted" not in b for b in block.values())  # empty drive
        assert len(monitor.execute("query-cpus-fast")) == 2
        nics = [d["name"] for d in monitor.execute("qom-list", {"path": "/machine/peripheral"})]
        assert {"net0", "net1", "vda", "vdb", "hdc", "sda", "video0", "serial0", "serial1"} <= set(nics)
        chardevs = {c["label"]: c["filename"] for c in monitor.execute("query-chardev")}
        assert chardevs["charserial0"].startswith("pty:/dev/pts/")
        assert chardevs["charserial1"] == "null"
    finally:
        monitor.close()


def test_a_tap_interface_by_name_in_a_private_network_namespace(qemu_binary, accel, workdir, launch, netns_tools):
    namespace = f"vkq-{uuid_module.uuid4().hex[:10]}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        _, process, monitor, _ = boot(launch, workdir, qemu_binary, dict(
            accel=accel, nics=(Nic(NetType.TAP, ifname="vkqtap0", mac="52:54:00:00:00:0b"),)),
            wrapper=("ip", "netns", "exec", namespace))
        try:
            link = subprocess.run(["ip", "-n", namespace, "-o", "link", "show", "vkqtap0"],
                                  capture_output=True, text=True)
            assert link.returncode == 0, link.stderr
            assert "vkqtap0" in link.stdout
            netdevs = monitor.execute("qom-list", {"path": "/machine/peripheral"})
            assert "net0" in {d["name"] for d in netdevs}
        finally:
            monitor.close()
            process.kill()
    finally:
        subprocess.run(["ip", "netns", "delete", namespace], check=False)
