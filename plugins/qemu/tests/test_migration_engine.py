"""Live migration's QMP choreography on real QEMU processes (no driver): transports, post-copy, storage, failures."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from guest import TOUCH_END, check_memory_pattern, write_disk_image
from virtkernel.enums import DomainMigrateFlags as M, ErrorCode
from virtkernel_qemu.capabilities import probe
from virtkernel_qemu.migration_nbd import DiskMirrors, MirrorSpec, NbdEndpoint, NbdServer, precreate_disk
from virtkernel_qemu.migration_qmp import (MigrationAborted, MigrationFailed, OutgoingMigration, PostcopyPaused,
                                           qemu_uri, recover_postcopy, start_incoming)
from virtkernel_qemu.migration_settings import MigrationTuning
from virtkernel.migration import PortAllocator

pytestmark = pytest.mark.timeout(90)

PORTS = PortAllocator(49300, 49399, name="test migration")


@pytest.fixture(scope="module")
def features(qemu_binary):
    return probe(qemu_binary).features


def memory_intact(guest, workdir: Path, name: str) -> None:
    """Stop the guest, dump 0..100 MiB and check the page pattern; then let it run on."""
    guest.monitor.execute("stop")
    dump = workdir / f"{name}.mem"
    guest.monitor.execute("pmemsave", {"val": 0, "size": TOUCH_END, "filename": str(dump)})
    check_memory_pattern(dump.read_bytes())
    dump.unlink()
    guest.monitor.execute("cont")


def still_running(guest) -> None:
    """The guest runs (QEMU status running) and keeps printing B."""
    assert guest.process.is_running()
    assert guest.monitor.execute("query-status")["status"] == "running"
    guest.wait_passes(1, timeout=30)


def address(transport: str, workdir: Path, port: int) -> tuple[str, str]:
    """(listen URI for the destination, connect URI for the source)."""
    if transport == "unix":
        uri = qemu_uri("unix", path=str(workdir / "mig.sock"))
        return uri, uri
    host = {"tcp4": "127.0.0.1", "tcp6": "::1"}[transport]
    listen = {"tcp4": "0.0.0.0", "tcp6": "::"}[transport]
    return qemu_uri("tcp", host=listen, port=port), qemu_uri("tcp", host=host, port=port)


def pair(boot_guest, tuning: MigrationTuning, features, *, passes: int = 1, disk: Path | None = None,
         dest_disk: Path | None = None):
    source = boot_guest("src", wait_passes=passes, disk=disk)
    dest = boot_guest("dst", "-incoming", "defer", "-S", wait_passes=0, disk=dest_disk)
    return source, dest


@pytest.mark.parametrize("transport", ["unix", "tcp4", "tcp6"])
def test_precopy_moves_a_busy_guest_intact(boot_guest, workdir, features, transport):
    tuning = MigrationTuning.from_request(int(M.LIVE))
    source, dest = pair(boot_guest, tuning, features)
    with PORTS.reserved() as port:
        listen, connect = address(transport, workdir, port)
        incoming = start_incoming(dest.monitor, listen, tuning.destination_setup(features))
        iterations, progress = [], []
        outgoing = OutgoingMigration(source.monitor, on_iteration=iterations.append, on_progress=progress.append)
        outgoing.start(connect, tuning.source_setup(features))
        stats = outgoing.wait(timeout=60)
        incoming.wait(timeout=30)
    assert source.monitor.execute("query-status")["status"] == "postmigrate"
    for key in ("time_elapsed", "downtime", "setup_time", "memory_total", "memory_processed",
                "memory_remaining", "memory_iteration", "data_total", "data_processed", "memory_bps"):
        assert key in stats, key
    assert stats["memory_processed"] >= 99 << 20  # every touched page travelled at least once
    assert stats["memory_remaining"] == 0
    assert iterations and iterations == sorted(iterations)
    assert any("memory_iteration" in p for p in progress)
    dest.monitor.execute("cont")
    still_running(dest)
    memory_intact(dest, workdir, "dst")


def test_postcopy_after_the_first_pass_and_recovery_after_a_broken_channel(boot_guest, workdir, features):
    tuning = MigrationTuning.from_request(int(M.LIVE | M.POSTCOPY), {"bandwidth": 64, "bandwidth.postcopy": 8})
    source, dest = pair(boot_guest, tuning, features)
    channel = qemu_uri("unix", path=str(workdir / "mig.sock"))
    incoming = start_incoming(dest.monitor, channel, tuning.destination_setup(features))
    outgoing = OutgoingMigration(source.monitor, postcopy_after_pass=1)
    outgoing.start(channel, tuning.source_setup(features))
    outgoing.wait(until_postcopy=True, timeout=60)
    assert outgoing.postcopy_requested and outgoing.status == "postcopy-active"
    assert incoming.wait(until_postcopy=True, timeout=30) == "postcopy-active"
    dest.monitor.execute("cont")  # the destination runs the guest and faults missing pages in
    # Break the channel on purpose: both sides pause, nothing is lost, recovery resumes the copy.
    source.monitor.execute("migrate-pause")
    with pytest.raises(PostcopyPaused):
        outgoing.wait(timeout=30)
    deadline = time.monotonic() + 10
    while dest.monitor.execute("query-migrate")["status"] != "postcopy-paused":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    source.monitor.execute("migrate-set-parameters", {"max-postcopy-bandwidth": 0})  # the rest at full speed
    stats = recover_postcopy(source.monitor, dest.monitor, qemu_uri("unix", path=str(workdir / "again.sock")))
    assert stats["memory_postcopy_requests"] >= 0
    assert incoming.wait(timeout=30, tolerate_pause=True) == "completed"
    still_running(dest)
    memory_intact(dest, workdir, "dst")


def test_abort_mid_migration_leaves_the_source_running(boot_guest, workdir, features):
    tuning = MigrationTuning.from_request(int(M.LIVE), {"bandwidth": 8})
    source, dest = pair(boot_guest, tuning, features)
    channel = qemu_uri("unix", path=str(workdir / "mig.sock"))
    start_incoming(dest.monitor, channel, tuning.destination_setup(features))
    asked = []
    outgoing = OutgoingMigration(source.monitor, abort_requested=lambda: bool(asked),
                                 on_progress=lambda s: asked.append(1) if s.get("memory_processed", 0) > 1 << 20
                                 else None)
    outgoing.start(channel, tuning.source_setup(features))
    with pytest.raises(MigrationAborted) as caught:
        outgoing.wait(timeout=60)
    assert caught.value.code == ErrorCode.OPERATION_ABORTED
    assert "cancelled" in str(caught.value)
    still_running(source)
    memory_intact(source, workdir, "src")


def test_destination_killed_mid_migration(boot_guest, workdir, features):
    tuning = MigrationTuning.from_request(int(M.LIVE), {"bandwidth": 8})
    source, dest = pair(boot_guest, tuning, features)
    channel = qemu_uri("unix", path=str(workdir / "mig.sock"))
    start_incoming(dest.monitor, channel, tuning.destination_setup(features))
    outgoing = OutgoingMigration(source.monitor, on_progress=lambda s: dest.process.kill()
                                 if s.get("memory_processed", 0) > 1 << 20 and dest.process.is_running() else None)
    outgoing.start(channel, tuning.source_setup(features))
    started = time.monotonic()
    with pytest.raises(MigrationFailed, match="failed: .*(pipe|reset|Input/output|closed)"):
        outgoing.wait(timeout=60)
    assert time.monotonic() - started < 20
    assert not dest.process.is_running()
    still_running(source)


def test_nothing_listening_fails_fast(boot_guest, workdir, features):
    tuning = MigrationTuning.from_request(int(M.LIVE))
    source = boot_guest("src")
    with PORTS.reserved() as port:
        outgoing = OutgoingMigration(source.monitor)
        started = time.monotonic()
        with pytest.raises(VirtErrorLike) as caught:
            outgoing.start(qemu_uri("tcp", host="127.0.0.1", port=port), tuning.source_setup(features))
            outgoing.wait(timeout=30)
    assert "refused" in str(caught.value).lower()
    assert time.monotonic() - started < 5
    still_running(source)


from virtkernel.errors import VirtError as VirtErrorLike  # noqa: E402


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def disk_with_data(path: Path, size: int = 8 << 20) -> Path:
    write_disk_image(path, size)
    with open(path, "r+b") as image:
        image.seek(1 << 20)
        image.write(os.urandom(2 << 20))
    return path


@pytest.mark.parametrize("transport", ["tcp4", "unix"])
def test_storage_over_nbd_copies_the_disk(boot_guest, workdir, features, transport):
    src_disk = disk_with_data(workdir / "src-disk.img")
    dst_disk = workdir / "dst-disk.img"
    assert precreate_disk(dst_disk, src_disk.stat().st_size)
    tuning = MigrationTuning.from_request(int(M.LIVE | M.NON_SHARED_DISK))
    source, dest = pair(boot_guest, tuning, features, disk=src_disk, dest_disk=dst_disk)
    with PORTS.reserved() as port, PORTS.reserved() as nbd_port:
        listen, connect = address(transport, workdir, port)
        endpoint = (NbdEndpoint(path=str(workdir / "nbd.sock")) if transport == "unix"
                    else NbdEndpoint(host="127.0.0.1", port=nbd_port))
        server = NbdServer(dest.monitor)
        server.start(endpoint, {"vda": "disk0"})
        mirrors = DiskMirrors(source.monitor)
        mirrors.start(endpoint, [MirrorSpec("vda", "disk0")])
        mirrors.wait_ready(timeout=60)
        incoming = start_incoming(dest.monitor, listen, tuning.destination_setup(features))
        outgoing = OutgoingMigration(source.monitor, disk_progress=mirrors.progress)
        outgoing.start(connect, tuning.source_setup(features))
        stats = outgoing.wait(timeout=60)
        mirrors.complete()
        incoming.wait(timeout=30)
        server.stop()
    assert stats["disk_total"] == src_disk.stat().st_size and stats["disk_remaining"] == 0
    source.process.kill()
    dest.monitor.execute("stop")
    dest.monitor.execute("query-block")  # flushes nothing by itself; the raw file is written through
    assert sha256(dst_disk) == sha256(src_disk)
    dest.monitor.execute("cont")
    still_running(dest)


def test_mirror_into_a_too_small_disk_is_refused(workdir):
    small = workdir / "small.img"
    small.write_bytes(b"\0" * 4096)
    with pytest.raises(VirtErrorLike, match="too small"):
        precreate_disk(small, 1 << 20)
    assert small.stat().st_size == 4096  # left alone


def test_block_migration_fallback_copies_a_named_drive(qemu_binary, accel, launch, workdir, features):
    """QEMU's old in-stream block migration works for -drive disks (it cannot see anonymous -blockdev ones)."""
    from qemu_testkit import RunningGuest
    from virtkernel_qemu.monitor import Monitor, listening_socket
    assert features.has_block_migration
    src_disk = disk_with_data(workdir / "src-disk.img")
    dst_disk = workdir / "dst-disk.img"
    precreate_disk(dst_disk, src_disk.stat().st_size)
    tuning = MigrationTuning.from_request(int(M.LIVE | M.NON_SHARED_DISK))
    tuning.block_migration = True

    def start(name, disk, *extra):
        qmp = workdir / f"{name}.qmp"
        listener = listening_socket(qmp)
        argv = [qemu_binary, "-nodefaults", "-machine", "pc", "-accel", accel, "-m", "128", "-display", "none",
                "-drive", f"file={disk},format=raw,if=none,id=drive0", "-device", "ide-hd,drive=drive0,bootindex=1",
                "-serial", f"file:{workdir / name}.serial", "-chardev", "socket,id=m,fd=3,server=on,wait=off",
                "-mon", "chardev=m,mode=control", *extra]
        try:
            process = launch(argv, name=name, pass_fds={3: listener.fileno()})
        finally:
            listener.close()
        monitor = Monitor.connect(qmp, name, alive=process.is_running)
        return RunningGuest(process, monitor, workdir / f"{name}.serial", qmp)

    source = start("src", src_disk)
    source.wait_passes(1)
    dest = start("dst", dst_disk, "-incoming", "defer", "-S")
    try:
        channel = qemu_uri("unix", path=str(workdir / "mig.sock"))
        incoming = start_incoming(dest.monitor, channel, tuning.destination_setup(features))
        outgoing = OutgoingMigration(source.monitor)
        outgoing.start(channel, tuning.source_setup(features))
        stats = outgoing.wait(timeout=60)
        incoming.wait(timeout=30)
        assert stats["disk_total"] >= src_disk.stat().st_size
        source.process.kill()
        assert sha256(dst_disk) == sha256(src_disk)
        dest.monitor.execute("cont")
        still_running(dest)
    finally:
        source.monitor.close()
        dest.monitor.close()
