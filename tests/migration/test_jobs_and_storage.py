"""The kernel job tracker, job events, and NBD storage negotiation helpers."""

from __future__ import annotations

import threading

import pytest

import virtkernel
from virtkernel import DomainRef
from virtkernel.enums import DomainEventID, DomainJobType, DomainMigrateFlags as M
from virtkernel.events import EventBus
from virtkernel.migration import CookieFeature as C, JobOperation, JobTracker, NbdDisk, NbdSection, PortAllocator, StoragePath
from virtkernel.migration import emit_migration_iteration
from virtkernel.migration.storage import chosen_path, destination_answer, disks_to_migrate, source_offer

pytestmark = pytest.mark.timeout(30)

WEB1 = DomainRef("web1", "5e1bd4b4-7e0b-4b0e-9a59-a5d1f1b0c0de", 3)


def collect(bus: EventBus, event_id: int) -> list:
    got: list = []
    bus.subscribe(event_id, got.append)
    return got


def test_one_modifying_job_at_a_time_and_queries_alongside() -> None:
    tracker = JobTracker()
    with tracker.begin(WEB1, JobOperation.MIGRATION_OUT, async_=True) as job:
        job.update(memory_total=1000, memory_processed=250, memory_remaining=750)
        with pytest.raises(virtkernel.OperationInvalid) as info:
            with tracker.begin(WEB1, JobOperation.SAVE):
                pass
        assert "a migration out job is already running" in info.value.message
        info_now = tracker.info(WEB1)
        assert info_now.type == DomainJobType.BOUNDED and info_now.mem_processed == 250
        kind, stats = tracker.stats(WEB1)
        assert kind == DomainJobType.BOUNDED
        assert stats["operation"] == JobOperation.MIGRATION_OUT and stats["memory_remaining"] == 750
        assert "time_elapsed" in stats
    assert tracker.info(WEB1).type == DomainJobType.NONE
    other = DomainRef("other", "00000000-0000-0000-0000-000000000001")
    with tracker.begin(other, JobOperation.DUMP):
        with tracker.begin(WEB1, JobOperation.SAVE):  # another domain is independent
            pass


def test_a_second_job_waits_for_the_first_when_asked() -> None:
    tracker = JobTracker()
    started = threading.Event()
    release = threading.Event()

    def first() -> None:
        with tracker.begin(WEB1, JobOperation.SAVE):
            started.set()
            release.wait(5)

    thread = threading.Thread(target=first)
    thread.start()
    started.wait(5)
    threading.Timer(0.1, release.set).start()
    with tracker.begin(WEB1, JobOperation.RESTORE, wait=5):
        pass
    thread.join()


def test_async_job_can_be_aborted_and_is_recorded_as_cancelled() -> None:
    tracker = JobTracker()
    with pytest.raises(virtkernel.OperationInvalid):
        tracker.abort(WEB1)
    with pytest.raises(virtkernel.VirtError) as info:
        with tracker.begin(WEB1, JobOperation.MIGRATION_OUT, async_=True) as job:
            tracker.abort(WEB1)
            assert job.abort_requested
            job.check_abort()
    assert info.value.code == virtkernel.ErrorCode.OPERATION_ABORTED
    kind, stats = tracker.stats(WEB1, completed=True, keep_completed=True)
    assert kind == DomainJobType.CANCELLED and stats["success"] is False and "cancelled" in stats["errmsg"]
    assert tracker.stats(WEB1, completed=True)[0] == DomainJobType.CANCELLED
    assert tracker.stats(WEB1, completed=True) == (DomainJobType.NONE, {})  # not kept


def test_sync_job_cannot_be_aborted() -> None:
    tracker = JobTracker()
    with tracker.begin(WEB1, JobOperation.SAVE):
        with pytest.raises(virtkernel.OperationInvalid) as info:
            tracker.abort(WEB1)
        assert "cannot be aborted" in info.value.message


def test_failed_job_and_unknown_statistics() -> None:
    tracker = JobTracker()
    with pytest.raises(RuntimeError):
        with tracker.begin(WEB1, JobOperation.MIGRATION_IN) as job:
            with pytest.raises(ValueError):
                job.update(memory_nonsense=1)
            raise RuntimeError("disk full")
    kind, stats = tracker.stats(WEB1, completed=True)
    assert kind == DomainJobType.FAILED and stats["errmsg"] == "disk full"


def test_job_completed_and_migration_iteration_events() -> None:
    bus = EventBus("jobs-test")
    completed = collect(bus, DomainEventID.JOB_COMPLETED)
    iterations = collect(bus, DomainEventID.MIGRATION_ITERATION)
    tracker = JobTracker(events=bus)
    with tracker.begin(WEB1, JobOperation.MIGRATION_OUT, async_=True) as job:
        job.update(memory_iteration=2, downtime=12)
        emit_migration_iteration(bus, WEB1, 2)
    assert bus.flush(5)
    assert [e.args for e in iterations] == [(2,)]
    assert len(completed) == 1
    (params,) = completed[0].args
    assert params["success"] is True and params["downtime"] == 12 and params["operation"] == 5
    assert completed[0].domain == WEB1


# -- NBD ---------------------------------------------------------------------------------------------------------------

DISKS = [NbdDisk("vda", 1 << 30), NbdDisk("vdb", 1 << 20)]


def test_source_offers_nbd_only_for_non_shared_storage_and_when_supported() -> None:
    assert source_offer(DISKS, M.LIVE, C.NBD) is None
    assert source_offer(DISKS, M.NON_SHARED_DISK, C.PERSISTENT) is None
    offer = source_offer(DISKS, M.NON_SHARED_INC, C.NBD)
    assert offer == NbdSection(None, DISKS)
    only = source_offer(DISKS, M.NON_SHARED_DISK, C.NBD, {"migrate_disks": ["vdb"]})
    assert only.disks == [DISKS[1]]
    with pytest.raises(virtkernel.InvalidArg) as info:
        disks_to_migrate(DISKS, M.NON_SHARED_DISK, {"migrate_disks": "sdz"})
    assert "'sdz'" in info.value.message


def test_destination_precreates_answers_with_a_port_and_rolls_back_exactly() -> None:
    existing = {"other-disk"}
    store = set(existing)
    ports = PortAllocator(50300, 50300, check_bind=False)

    def create(disk: NbdDisk) -> str:
        store.add(disk.target)
        return disk.target

    answer, created = destination_answer(NbdSection(None, DISKS), C.NBD, ports, create, store.discard)
    assert answer.port == 50300 and [d.target for d in answer.disks] == ["vda", "vdb"]
    assert store == existing | {"vda", "vdb"}
    assert chosen_path(M.NON_SHARED_DISK, NbdSection(None, DISKS), answer) is StoragePath.NBD
    created.rollback()  # the migration failed
    assert store == existing and ports.in_use() == frozenset()


def test_destination_without_nbd_answers_nothing_and_the_source_falls_back() -> None:
    ports = PortAllocator(50301, 50301, check_bind=False)
    answer, created = destination_answer(NbdSection(None, DISKS), C.PERSISTENT, ports, lambda d: 1/0, print)
    assert answer is None and created.created == []
    assert chosen_path(M.NON_SHARED_DISK, NbdSection(None, DISKS), None) is StoragePath.FALLBACK
    assert chosen_path(M.NON_SHARED_DISK, None, None) is StoragePath.FALLBACK
    assert chosen_path(0, None, None) is StoragePath.NONE


def test_a_failing_precreation_removes_what_was_created_before_it() -> None:
    store: set[str] = set()
    ports = PortAllocator(50302, 50302, check_bind=False)

    def create(disk: NbdDisk) -> str:
        if disk.target == "vdb":
            raise virtkernel.VirtError("no space left for vdb")
        store.add(disk.target)
        return disk.target

    with pytest.raises(virtkernel.VirtError):
        destination_answer(NbdSection(None, DISKS), C.NBD, ports, create, store.discard)
    assert store == set() and ports.in_use() == frozenset()
