"""Post-copy failing midway between two network namespaces, and VIR_MIGRATE_POSTCOPY_RESUME through dom.migrate3.

The link between the hosts goes down while the guest already runs on the destination: both sides must be kept
(paused, reason post-copy failed), the call must say how to resume, and a resume once the link is back must finish
the migration with the guest intact.  Without a resume, destroying both sides must leave nothing behind.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from guest import check_memory_pattern, count_passes, memory_from_elf_dump, wait_for_serial, write_disk_image
from qemu_testkit import wrapper
from virtkernel.enums import (DomainCoreDumpFlags, DomainEventID, DomainEventResumedDetailType as Resumed,
                              DomainEventStartedDetailType as Started, DomainEventStoppedDetailType as Stopped,
                              DomainEventSuspendedDetailType as Suspended,
                              DomainEventType as Event, DomainGetJobStatsFlags, DomainJobType,
                              DomainMigrateFlags as M, DomainPausedReason, DomainRunningReason, DomainState,
                              ErrorCode)
from virtkernel.errors import VirtError
from virtkernel.migration.job import JobOperation
from virtkernel_qemu.migration import PORTS

pytestmark = pytest.mark.timeout(90)


POSTCOPY = int(M.LIVE | M.POSTCOPY)
RESUME = POSTCOPY | int(M.POSTCOPY_RESUME)
UUID = "5e1f0c2a-7d3b-4c6e-9a18-2f4b6d8e0a11"


class Lifecycle:
    """The lifecycle events of one connection as (event, detail) pairs."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.seen: list[tuple[int, int]] = []
        conn.domain_event_register_any(None, DomainEventID.LIFECYCLE,
                                       lambda c, d, event, detail, opaque: self.seen.append((event, detail)), None)

    def events(self) -> list[tuple[int, int]]:
        self.conn.flush_events()
        return list(self.seen)

    def sequence(self) -> list[tuple[int, int]]:
        """The events, without a SUSPENDED_MIGRATED that libvirt may send just before SUSPENDED_POSTCOPY.

        (QEMU's STOP can be seen before its switch to post-copy: libvirt then corrects the reason with a
        second event; seen after it, there is only SUSPENDED_POSTCOPY.)
        """
        seen = self.events()
        return [e for i, e in enumerate(seen)
                if not (e == (Event.SUSPENDED, Suspended.MIGRATED) and seen[i + 1:i + 2] == [SWITCHED])]


SWITCHED = (Event.SUSPENDED, Suspended.POSTCOPY)


@pytest.fixture
def hosts(two_hosts, workdir, qemu_binary):
    """Two qemu:///embed hosts in the two namespaces (2.5 s stall timeout on both); (a, b, params, serial, ns)."""
    import virtkernel
    disk = write_disk_image(workdir / "disk.img")
    serial = workdir / "serial.log"
    emulators = {ns: wrapper(workdir / f"qemu-{ns}", ns, qemu_binary)
                 for ns in (two_hosts.source_ns, two_hosts.dest_ns)}

    def xml(ns: str) -> str:
        return (f"<domain type='qemu'><name>g1</name><uuid>{UUID}</uuid><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
                "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>"
                f"<emulator>{emulators[ns]}</emulator>"
                f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{disk}'/>"
                "<target dev='hda' bus='ide'/></disk>"
                f"<serial type='file'><source path='{serial}'/></serial></devices></domain>")

    for root in ("a", "b"):
        conf = workdir / root / "etc" / "qemu"
        conf.mkdir(parents=True)
        (conf / "migration.conf").write_text('{"stall_timeout": 2.5}')
    a = virtkernel.open(f"qemu:///embed?root={workdir / 'a'}")
    b = virtkernel.open(f"qemu:///embed?root={workdir / 'b'}")
    params = {"migrate_uri": f"tcp://{two_hosts.dest_v4}", "destination_xml": xml(two_hosts.dest_ns)}
    yield a, b, xml(two_hosts.source_ns), params, serial
    for conn in (a, b):
        for dom in conn.list_all_domains(0):
            try:
                dom.destroy()
            except VirtError:
                pass
        conn.close()


def passes(serial: Path) -> int:
    return count_passes(serial.read_text()) if serial.exists() else 0


def break_postcopy(two_hosts, a, b, xml: str, params: dict, serial: Path):
    """Boot g1 on a, migrate with post-copy, take the link down once the guest runs on b; (dom, error)."""
    dom = a.create_xml(xml)
    wait_for_serial(serial, lambda text: count_passes(text) >= 1, timeout=20)

    def switch_during_first_pass(conn, d, iteration, opaque):
        if not switched:
            switched.append(iteration)
            d.migrate_start_post_copy()
    switched: list[int] = []
    a.domain_event_register_any(dom, DomainEventID.MIGRATION_ITERATION, switch_during_first_pass, None)

    def cut_once_running_on_b():
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                if b.lookup_by_name("g1").get_state() == (DomainState.RUNNING, DomainRunningReason.POSTCOPY):
                    time.sleep(0.3)  # let the guest fault a few pages in over the wire
                    two_hosts.link(up=False)
                    cut.append(time.monotonic())
                    return
            except VirtError:
                pass
            time.sleep(0.02)
    cut: list[float] = []
    threading.Thread(target=cut_once_running_on_b, daemon=True).start()
    # pre-copy at 64 MiB/s (the switch comes during its first pass), post-copy at 8 MiB/s: the guest's pages
    # take long enough to be cut midway
    with pytest.raises(VirtError) as failure:
        dom.migrate3(b, dict(params, **{"bandwidth": 64, "bandwidth.postcopy": 8}), POSTCOPY)
    assert switched and cut, "the migration must have been cut after the switch to post-copy"
    return dom, failure.value


def qemu_pids(workdir: Path) -> list[int]:
    """Live (not zombie) QEMU processes whose command line names a file of this test."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-x86_64") and any(str(workdir).encode() in a for a in argv) \
                and state != "Z":
            found.append(int(proc.name))
    return found


def assert_no_leftovers(root: Path) -> None:
    """No status/pid/socket file of g1 under this host's run dir."""
    run = root / "run" / "qemu"
    assert sorted(p.name for p in run.glob("g1.*") if not p.name.endswith(".log")) == []


def test_postcopy_failure_keeps_both_sides_and_resume_completes(two_hosts, hosts, workdir):
    a, b, xml, params, serial = hosts
    src_events, dst_events = Lifecycle(a), Lifecycle(b)
    dom, error = break_postcopy(two_hosts, a, b, xml, params, serial)

    # the call says what happened and what to do
    assert error.code == ErrorCode.OPERATION_FAILED
    assert "post-copy phase" in str(error) and "VIR_MIGRATE_POSTCOPY_RESUME" in str(error)
    # nothing was killed: source paused, destination running (its vCPUs block on missing pages), as libvirt
    assert dom.get_state() == (DomainState.PAUSED, DomainPausedReason.POSTCOPY_FAILED)
    arrived = b.lookup_by_name("g1")
    assert arrived.get_state() == (DomainState.RUNNING, DomainRunningReason.POSTCOPY_FAILED)
    # libvirt's events: the source stops for the switch (SUSPENDED_POSTCOPY), the destination's vCPUs start
    # there (RESUMED_POSTCOPY), then the failure on both sides
    assert src_events.sequence() == [(Event.STARTED, Started.BOOTED), SWITCHED,
                                     (Event.SUSPENDED, Suspended.POSTCOPY_FAILED)]
    assert dst_events.events() == [(Event.STARTED, Started.MIGRATED), (Event.RESUMED, Resumed.POSTCOPY),
                                   (Event.RESUMED, Resumed.POSTCOPY_FAILED)]
    # the migration job is not over (libvirt keeps it until a resume or a destroy): reported, paused
    assert dom.get_job_info().type == DomainJobType.UNBOUNDED
    kind, stats = dom.get_job_stats(0)
    assert kind == DomainJobType.UNBOUNDED and stats["operation"] == JobOperation.MIGRATION_OUT
    assert "post-copy" in stats["errmsg"] and stats["memory_processed"] > 0
    assert dom.get_job_stats(int(DomainGetJobStatsFlags.COMPLETED)) == (DomainJobType.NONE, {})
    assert arrived.get_job_stats(0)[1]["operation"] == JobOperation.MIGRATION_IN
    with pytest.raises(VirtError) as not_abortable:
        dom.abort_job()
    assert not_abortable.value.code == ErrorCode.OPERATION_INVALID and "paused" in str(not_abortable.value)
    assert PORTS.in_use() == frozenset()

    # the libvirt checks of the resume flag
    with pytest.raises(VirtError) as refused:
        dom.migrate3(b, params, int(M.LIVE | M.POSTCOPY_RESUME))
    assert refused.value.code == ErrorCode.ARGUMENT_UNSUPPORTED and "VIR_MIGRATE_POSTCOPY" in str(refused.value)
    assert dom.get_state() == (DomainState.PAUSED, DomainPausedReason.POSTCOPY_FAILED)

    # a resume while the link is still down fails the same way and changes nothing
    with pytest.raises(VirtError) as again:
        dom.migrate3(b, params, RESUME)
    assert again.value.code == ErrorCode.OPERATION_FAILED and "VIR_MIGRATE_POSTCOPY_RESUME" in str(again.value)
    assert "could not be resumed" in str(again.value)
    assert dom.get_state() == (DomainState.PAUSED, DomainPausedReason.POSTCOPY_FAILED)
    assert arrived.get_state() == (DomainState.RUNNING, DomainRunningReason.POSTCOPY_FAILED)
    assert PORTS.in_use() == frozenset()

    # link back: resume (the rest at full speed); a new listener on the destination, released afterwards
    two_hosts.link(up=True)
    moved = dom.migrate3(b, dict(params, **{"bandwidth.postcopy": 0}), RESUME)
    assert moved.uuid == dom.uuid
    assert moved.get_state() == (DomainState.RUNNING, DomainRunningReason.MIGRATED)
    assert a.list_all_domains(0) == []
    assert_no_leftovers(workdir / "a")
    assert PORTS.in_use() == frozenset()
    # the failed attempt changed nothing; the resume: post-copy again on both sides, then as any migration ends
    assert src_events.sequence() == [(Event.STARTED, Started.BOOTED), SWITCHED,
                                     (Event.SUSPENDED, Suspended.POSTCOPY_FAILED), SWITCHED,
                                     (Event.STOPPED, Stopped.MIGRATED)]
    assert dst_events.events() == [(Event.STARTED, Started.MIGRATED), (Event.RESUMED, Resumed.POSTCOPY),
                                   (Event.RESUMED, Resumed.POSTCOPY_FAILED), (Event.RESUMED, Resumed.POSTCOPY),
                                   (Event.RESUMED, Resumed.MIGRATED)]
    # the kept job was continued and completed: one job, from the first attempt to the end
    kind, stats = moved.get_job_stats(int(DomainGetJobStatsFlags.COMPLETED))
    assert kind == DomainJobType.COMPLETED and stats["success"] is True and "errmsg" not in stats
    assert moved.get_job_info().type == DomainJobType.NONE

    # the guest goes on printing B on the destination, its memory pattern intact
    start = passes(serial)
    wait_for_serial(serial, lambda text: count_passes(text) >= start + 2, timeout=30)
    dump = workdir / "core.elf"
    moved.core_dump(str(dump), int(DomainCoreDumpFlags.MEMORY_ONLY))
    check_memory_pattern(memory_from_elf_dump(dump))


def test_postcopy_failure_then_both_sides_destroyed_leaves_nothing(two_hosts, hosts, workdir):
    a, b, xml, params, serial = hosts
    dom, error = break_postcopy(two_hosts, a, b, xml, params, serial)
    assert "VIR_MIGRATE_POSTCOPY_RESUME" in str(error)
    arrived = b.lookup_by_name("g1")
    assert len(qemu_pids(workdir)) == 2  # both halves of the guest were kept

    # what would need the missing half (or wait for it) is refused at once, saying why and what to do
    # (libvirt lets no other job start on either side: such calls time out there after 30 s)
    refused_calls = {"suspend the destination": arrived.suspend, "resume the source": dom.resume,
                     "save the source": lambda: dom.save(str(workdir / "src.save")),
                     "save the destination": lambda: arrived.save(str(workdir / "dst.save")),
                     "dump the source": lambda: dom.core_dump(str(workdir / "src.core")),
                     "dump the destination": lambda: arrived.core_dump(str(workdir / "dst.core"),
                                                                       int(DomainCoreDumpFlags.MEMORY_ONLY))}
    for what, call in refused_calls.items():
        with pytest.raises(VirtError) as refused:
            call()
        message = str(refused.value)
        assert refused.value.code == ErrorCode.OPERATION_INVALID, what
        assert "post-copy migration failed" in message and "VIR_MIGRATE_POSTCOPY_RESUME" in message, what
        assert "destroy the domain" in message, what
    dom.suspend()  # the source is paused already: nothing to do, as libvirt
    assert dom.get_state() == (DomainState.PAUSED, DomainPausedReason.POSTCOPY_FAILED)
    assert arrived.get_state() == (DomainState.RUNNING, DomainRunningReason.POSTCOPY_FAILED)
    assert not (workdir / "src.save").exists() and not (workdir / "dst.save").exists()

    # giving up: the guest is lost (its memory is split between the two), every resource is freed; the
    # destination's QEMU, which cannot act on SIGTERM while its vCPUs wait for pages, is killed after a short grace
    dom.destroy()
    arrived.destroy()
    # the kept jobs ended with the domains, as failed
    for conn_dom in (dom, arrived):
        kind, stats = conn_dom.get_job_stats(int(DomainGetJobStatsFlags.COMPLETED))
        assert kind == DomainJobType.FAILED and "post-copy" in stats["errmsg"] and "gone" in stats["errmsg"]
    assert a.list_all_domains(0) == [] and b.list_all_domains(0) == []
    assert_no_leftovers(workdir / "a")
    assert_no_leftovers(workdir / "b")
    assert PORTS.in_use() == frozenset()
    assert qemu_pids(workdir) == []
    with pytest.raises(VirtError) as gone:  # nothing left to resume
        dom.migrate3(b, params, RESUME)
    assert gone.value.code == ErrorCode.NO_DOMAIN


def test_abort_job_postcopy_pauses_the_migration_and_resume_over_unix_completes(workdir):
    """VIR_DOMAIN_ABORT_JOB_POSTCOPY breaks a post-copy migration on purpose (no namespaces: unix sockets)."""
    import virtkernel
    from virtkernel.enums import DomainAbortJobFlags, DomainMigrateMaxSpeedFlags
    disk = write_disk_image(workdir / "disk.img")
    serial = workdir / "serial.log"
    xml = (f"<domain type='qemu'><name>g1</name><uuid>{UUID}</uuid><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
           "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>"
           f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{disk}'/>"
           f"<target dev='hda' bus='ide'/></disk><serial type='file'><source path='{serial}'/></serial>"
           "</devices></domain>")
    a = virtkernel.open(f"qemu:///embed?root={workdir / 'a'}")
    b = virtkernel.open(f"qemu:///embed?root={workdir / 'b'}")
    try:
        dom = a.create_xml(xml)
        wait_for_serial(serial, lambda text: count_passes(text) >= 1, timeout=20)
        a.domain_event_register_any(dom, DomainEventID.MIGRATION_ITERATION,
                                    lambda c, d, n, o: d.migrate_start_post_copy() if n == 1 else None, None)
        with pytest.raises(VirtError) as refused:
            dom.abort_job(int(DomainAbortJobFlags.POSTCOPY))  # no migration at all
        assert refused.value.code == ErrorCode.OPERATION_INVALID
        aborted: list[str] = []

        def abort_once_running_on_b():
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                try:
                    if b.lookup_by_name("g1").get_state()[1] == DomainRunningReason.POSTCOPY:
                        try:
                            dom.abort_job()
                        except VirtError as exc:  # plain abort is refused after the switch
                            aborted.append(str(exc))
                        dom.abort_job(int(DomainAbortJobFlags.POSTCOPY))
                        return
                except VirtError:
                    pass
                time.sleep(0.02)
        threading.Thread(target=abort_once_running_on_b, daemon=True).start()
        with pytest.raises(VirtError) as failure:
            dom.migrate3(b, {"migrate_uri": f"unix://{workdir}/m.sock", "bandwidth": 64, "bandwidth.postcopy": 8},
                         POSTCOPY)
        assert aborted and "VIR_DOMAIN_ABORT_JOB_POSTCOPY" in aborted[0]
        assert "VIR_MIGRATE_POSTCOPY_RESUME" in str(failure.value)
        assert dom.get_state() == (DomainState.PAUSED, DomainPausedReason.POSTCOPY_FAILED)
        assert b.lookup_by_name("g1").get_state() == (DomainState.RUNNING, DomainRunningReason.POSTCOPY_FAILED)

        # the other entry points resume the same way; the rest at full speed
        dom.migrate_set_max_speed(0, int(DomainMigrateMaxSpeedFlags.POSTCOPY))
        moved = dom.migrate(b, RESUME, uri=f"unix://{workdir}/again.sock")
        assert moved.get_state() == (DomainState.RUNNING, DomainRunningReason.MIGRATED)
        assert a.list_all_domains(0) == [] and PORTS.in_use() == frozenset()
        start = passes(serial)
        wait_for_serial(serial, lambda text: count_passes(text) >= start + 1, timeout=30)
    finally:
        for conn in (a, b):
            for leftover in conn.list_all_domains(0):
                try:
                    leftover.destroy()
                except VirtError:
                    pass
            conn.close()
