"""Storage migration when one host does not offer NBD: refused with a sentence that says why, nothing left behind;
and the QEMU behaviour behind the refusal (block migration cannot copy a disk attached the way the driver does)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest

from qemu_testkit import Hosts
from virtkernel.enums import DomainMigrateFlags as M, DomainState, ErrorCode
from virtkernel.errors import VirtError
from virtkernel.migration import StoragePath, plan
from virtkernel_qemu.capabilities import probe
from virtkernel_qemu.command_line import Disk, GuestConfig, MonitorSocket, build_argv
from virtkernel_qemu.migration_block import NbdSide, storage_refusal
from virtkernel_qemu.migration_nbd import precreate_disk
from virtkernel_qemu.migration_qmp import MigrationFailed, OutgoingMigration, qemu_uri, start_incoming
from virtkernel_qemu.migration_settings import MigrationTuning
from virtkernel_qemu.monitor import Monitor, MonitorClosed, listening_socket

pytestmark = pytest.mark.timeout(60)

LIVE = int(M.LIVE)

WITHOUT_NBD = {"cookie_features": ["persistent", "statistics"]}


def without_nbd(hosts: Hosts, side: str) -> None:
    """Make host 'a' (source) or 'b' (destination) an older host whose cookies do not offer NBD."""
    config = hosts.root / side / "etc" / "qemu" / "migration.conf"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(WITHOUT_NBD))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


REFUSAL = {side: f"cannot migrate the non-shared disks of domain 'g1': the {side.value} host does not offer NBD "
                 "storage migration, and QEMU's older block migration cannot replace it: it copies only disks "
                 "attached as named drives (-drive), and this driver attaches disks with -blockdev"
           for side in NbdSide}


@pytest.mark.parametrize("flag", [M.NON_SHARED_DISK, M.NON_SHARED_INC])
@pytest.mark.parametrize("side", [NbdSide.SOURCE, NbdSide.DESTINATION])
def test_storage_migration_without_nbd_on_one_side_is_refused(hosts, workdir, side, flag):
    without_nbd(hosts, "a" if side is NbdSide.SOURCE else "b")
    dom = hosts.boot()
    flags = LIVE | int(flag)
    planned = plan(dom, hosts.b, flags)
    assert planned.storage is StoragePath.FALLBACK
    assert f"the {side.value} does not offer NBD" in dict(planned.decisions)["storage: fallback"]
    assert not planned.ok  # the plan already says what the driver will say
    assert planned.error.code == ErrorCode.OPERATION_UNSUPPORTED and planned.error.message == REFUSAL[side]
    assert f"Refused: {REFUSAL[side]}" in planned.describe()
    target = workdir / "b-disk.img"
    with pytest.raises(VirtError) as caught:
        dom.migrate3(hosts.b, {"destination_xml": hosts.xml(disk=target)}, flags)
    error = caught.value
    assert error.code == ErrorCode.OPERATION_UNSUPPORTED
    assert error.message == REFUSAL[side]
    hosts.assert_source_running(dom)
    hosts.assert_nothing_on_destination(created=[target])
    # refused before the destination started a QEMU for the guest (no log either)
    assert not hosts.b_path("log", "qemu", "g1.log").exists()


def test_nothing_to_copy_needs_no_nbd(hosts, workdir):
    """NON_SHARED_DISK with no disk chosen copies nothing, so a destination without NBD is no reason to refuse."""
    without_nbd(hosts, "b")
    dom = hosts.boot()
    params = {"migrate_disks": [], "migrate_uri": f"unix://{workdir}/m.sock"}
    planned = plan(dom, hosts.b, LIVE | int(M.NON_SHARED_DISK), params)
    assert planned.ok and planned.storage is StoragePath.NONE
    moved = dom.migrate3(hosts.b, params, LIVE | int(M.NON_SHARED_DISK))  # a unix socket: no TCP port to share with other test runs
    assert moved.get_state()[0] == DomainState.RUNNING
    hosts.wait_passes(1)
    assert hosts.b_path("log", "qemu", "g1.log").exists()  # where a refused migration must leave no log
    assert [d.name for d in hosts.a.list_all_domains(0)] == []


def test_the_refusal_names_a_qemu_without_block_migration():
    error = storage_refusal("web1", NbdSide.DESTINATION, has_block_migration=False)
    assert error.code == ErrorCode.OPERATION_UNSUPPORTED
    assert error.message == ("cannot migrate the non-shared disks of domain 'web1': the destination host does not "
                             "offer NBD storage migration, and this QEMU has no older block migration to fall back "
                             "to (no 'block' migration capability)")


# -- the evidence: QEMU's block migration and a disk attached as the driver attaches it -------------------------------

def start_qemu(launch, workdir: Path, qemu_binary: str, accel: str, name: str, disk: Path, **config):
    """A bare QEMU whose argv (and so its disk attachment: -blockdev + -device drive=NODE) is the driver's."""
    listener = listening_socket(workdir / f"{name}.qmp")
    guest = GuestConfig(name=name, uuid=str(uuid.uuid4()), memory_kib=64 << 10, monitor=MonitorSocket(fd=3),
                        accel=accel, emulator=qemu_binary, disks=(Disk("vda", source=str(disk)),), **config)
    try:
        process = launch(build_argv(guest), name=name, pass_fds={3: listener.fileno()})
    finally:
        listener.close()
    return process, Monitor.connect(workdir / f"{name}.qmp", name, alive=process.is_running)


@pytest.mark.parametrize("incremental", [False, True])
def test_qemu_block_migration_cannot_copy_a_blockdev_disk(qemu_binary, accel, launch, workdir, incremental):
    features = probe(qemu_binary).features
    src_disk, dst_disk = workdir / "src.img", workdir / "dst.img"
    src_disk.write_bytes(bytes(512) + os.urandom((4 << 20) - 512))  # no boot signature: SeaBIOS just idles
    assert precreate_disk(dst_disk, 4 << 20)
    source, src_monitor = start_qemu(launch, workdir, qemu_binary, accel, "src", src_disk, start_paused=False)
    dest, dst_monitor = start_qemu(launch, workdir, qemu_binary, accel, "dst", dst_disk, incoming="defer")
    try:
        if not features.has_block_migration:  # a QEMU without it (9.1+): the other reason of the refusal
            with pytest.raises(VirtError):
                src_monitor.execute("migrate-set-capabilities",
                                    {"capabilities": [{"capability": "block", "state": True}]})
            return
        flag = M.NON_SHARED_INC if incremental else M.NON_SHARED_DISK
        tuning = MigrationTuning.from_request(int(M.LIVE | flag))
        tuning.block_migration, tuning.block_incremental = True, incremental
        channel = qemu_uri("unix", path=str(workdir / "mig.sock"))
        start_incoming(dst_monitor, channel, tuning.destination_setup(features))
        assert [b["device"] for b in src_monitor.execute("query-block")] == [""]  # anonymous BlockBackend
        outgoing = OutgoingMigration(src_monitor)
        outgoing.start(channel, tuning.source_setup(features))
        with pytest.raises(MigrationFailed):
            outgoing.wait(timeout=30)
        dest.wait(timeout=10)
        assert not dest.is_running()   # the destination gave up loading the stream and exited
        log = dest.log_tail()
        assert "Error unknown block device" in log and "load of migration failed" in log, log
        assert sha(dst_disk) != sha(src_disk)
        assert src_monitor.execute("query-status")["status"] == "running"
    finally:
        for monitor in (src_monitor, dst_monitor):
            try:
                monitor.close()
            except MonitorClosed:
                pass
