"""Migration between two "hosts" = two network namespaces joined by a veth pair (IPv4 and IPv6), link failures."""

from __future__ import annotations

import time

import pytest

from qemu_testkit import RunningGuest, guest_argv, wrapper
from guest import TOUCH_END, check_memory_pattern, write_disk_image
from virtkernel.enums import DomainMigrateFlags as M
from virtkernel_qemu.capabilities import probe
from virtkernel_qemu.migration_qmp import MigrationFailed, OutgoingMigration, qemu_uri, start_incoming
from virtkernel_qemu.migration_settings import MigrationTuning
from virtkernel_qemu.monitor import Monitor, listening_socket

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def boot_in(qemu_binary, accel, workdir, launch):
    """boot_in(netns, name, *extra, wait_passes=1) -> RunningGuest whose QEMU lives in that namespace."""
    monitors: list[Monitor] = []

    def _boot(ns: str, name: str, *extra: str, wait_passes: int = 1) -> RunningGuest:
        disk = write_disk_image(workdir / f"{name}.img")
        serial = workdir / f"{name}.serial"
        qmp = workdir / f"{name}.qmp"
        listener = listening_socket(qmp)
        try:
            argv = ["ip", "netns", "exec", ns, *guest_argv(qemu_binary, accel, disk, serial, *extra)]
            process = launch(argv, name=name, pass_fds={3: listener.fileno()})
        finally:
            listener.close()
        monitor = Monitor.connect(qmp, name, alive=process.is_running)
        monitors.append(monitor)
        guest = RunningGuest(process, monitor, serial, qmp)
        if wait_passes:
            guest.wait_passes(wait_passes)
        return guest

    yield _boot
    for monitor in monitors:
        monitor.close()


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_migration_across_namespaces(two_hosts, boot_in, workdir, qemu_binary, family):
    features = probe(qemu_binary).features
    tuning = MigrationTuning.from_request(int(M.LIVE))
    source = boot_in(two_hosts.source_ns, "src")
    dest = boot_in(two_hosts.dest_ns, "dst", "-incoming", "defer", "-S", wait_passes=0)
    listen, host = ("0.0.0.0", two_hosts.dest_v4) if family == "ipv4" else ("::", two_hosts.dest_v6)
    incoming = start_incoming(dest.monitor, qemu_uri("tcp", host=listen, port=49152),
                              tuning.destination_setup(features))
    outgoing = OutgoingMigration(source.monitor)
    outgoing.start(qemu_uri("tcp", host=host, port=49152), tuning.source_setup(features))
    stats = outgoing.wait(timeout=60)
    incoming.wait(timeout=30)
    assert stats["memory_processed"] >= 99 << 20
    dest.monitor.execute("cont")
    dest.wait_passes(1, timeout=30)
    dest.monitor.execute("stop")
    dump = workdir / "dst.mem"
    dest.monitor.execute("pmemsave", {"val": 0, "size": TOUCH_END, "filename": str(dump)})
    check_memory_pattern(dump.read_bytes())


def test_link_down_mid_migration_is_noticed_and_the_source_keeps_running(two_hosts, boot_in, qemu_binary):
    features = probe(qemu_binary).features
    tuning = MigrationTuning.from_request(int(M.LIVE), {"bandwidth": 8})
    source = boot_in(two_hosts.source_ns, "src")
    dest = boot_in(two_hosts.dest_ns, "dst", "-incoming", "defer", "-S", wait_passes=0)
    start_incoming(dest.monitor, qemu_uri("tcp", host="0.0.0.0", port=49152), tuning.destination_setup(features))

    def cut(stats):
        if stats.get("memory_processed", 0) > 2 << 20 and not cut.done:
            cut.done = True
            two_hosts.link(up=False)
    cut.done = False
    outgoing = OutgoingMigration(source.monitor, on_progress=cut, stall_timeout=1.5)
    outgoing.start(qemu_uri("tcp", host=two_hosts.dest_v4, port=49152), tuning.source_setup(features))
    started = time.monotonic()
    with pytest.raises(MigrationFailed, match="made no progress for 1.5 s"):
        outgoing.wait(timeout=60)
    assert cut.done and time.monotonic() - started < 15
    assert source.monitor.execute("query-status")["status"] == "running"
    source.wait_passes(1, timeout=30)


# ------------------------------------------------------------------------------------------ through the driver

@pytest.fixture
def netns_hosts(two_hosts, workdir, qemu_binary):
    """Two qemu:///embed hosts whose guests run in the two namespaces; yields (hosts, conn a, conn b, xml)."""
    import virtkernel
    disk = write_disk_image(workdir / "disk.img")
    serial = workdir / "serial.log"
    emulators = {ns: wrapper(workdir / f"qemu-{ns}", ns, qemu_binary)
                 for ns in (two_hosts.source_ns, two_hosts.dest_ns)}

    def xml(ns: str) -> str:
        return (f"<domain type='qemu'><name>g1</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
                "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>"
                f"<emulator>{emulators[ns]}</emulator>"
                f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{disk}'/>"
                "<target dev='hda' bus='ide'/></disk>"
                f"<serial type='file'><source path='{serial}'/></serial></devices></domain>")

    conf = workdir / "a" / "etc" / "qemu"
    conf.mkdir(parents=True)
    (conf / "migration.conf").write_text('{"stall_timeout": 1.5}')
    a = virtkernel.open(f"qemu:///embed?root={workdir / 'a'}")
    b = virtkernel.open(f"qemu:///embed?root={workdir / 'b'}")
    yield a, b, xml, serial
    for conn in (a, b):
        for dom in conn.list_all_domains(0):
            try:
                dom.destroy()
            except Exception:  # noqa: BLE001
                pass
        conn.close()


def _boot(conn, xml, serial):
    from guest import count_passes, wait_for_serial
    dom = conn.create_xml(xml)
    wait_for_serial(serial, lambda text: count_passes(text) >= 1, timeout=20)
    return dom


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_driver_migrates_between_namespaces(two_hosts, netns_hosts, family):
    from guest import count_passes, wait_for_serial
    from virtkernel.enums import DomainState
    from virtkernel_qemu.migration import PORTS
    a, b, xml, serial = netns_hosts
    dom = _boot(a, xml(two_hosts.source_ns), serial)
    host = two_hosts.dest_v4 if family == "ipv4" else f"[{two_hosts.dest_v6}]"
    moved = dom.migrate3(b, {"migrate_uri": f"tcp://{host}", "destination_xml": xml(two_hosts.dest_ns)}, int(M.LIVE))
    assert moved.get_state()[0] == DomainState.RUNNING
    start = count_passes(serial.read_text())
    wait_for_serial(serial, lambda text: count_passes(text) >= start + 2, timeout=20)
    assert PORTS.in_use() == frozenset()


def test_driver_link_down_mid_migration(two_hosts, netns_hosts, workdir):
    import threading
    from guest import count_passes, wait_for_serial
    from virtkernel.enums import DomainState
    from virtkernel.errors import VirtError
    from virtkernel_qemu.migration import PORTS
    a, b, xml, serial = netns_hosts
    dom = _boot(a, xml(two_hosts.source_ns), serial)
    dom.migrate_set_max_speed(8)

    def cut_when_moving():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if dom.get_job_stats(0)[1].get("memory_processed", 0) > 2 << 20:
                    two_hosts.link(up=False)
                    return
            except VirtError:
                pass
            time.sleep(0.02)

    threading.Thread(target=cut_when_moving, daemon=True).start()
    with pytest.raises(VirtError, match="made no progress for 1.5 s"):
        dom.migrate3(b, {"migrate_uri": f"tcp://{two_hosts.dest_v4}", "destination_xml": xml(two_hosts.dest_ns)},
                     int(M.LIVE))
    assert dom.get_state()[0] == DomainState.RUNNING
    start = count_passes(serial.read_text())
    wait_for_serial(serial, lambda text: count_passes(text) >= start + 2, timeout=20)
    assert b.list_all_domains(0) == []
    assert sorted(p.name for p in (workdir / "b" / "run" / "qemu").glob("g1.*") if p.suffix != ".log") == []
    assert PORTS.in_use() == frozenset()
