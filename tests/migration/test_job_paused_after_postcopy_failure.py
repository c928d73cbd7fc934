"""A job kept paused (a migration whose post-copy phase failed): still reported, blocking, continued by a resume."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel import DomainRef
from virtkernel.enums import DomainEventID, DomainGetJobStatsFlags, DomainJobType
from virtkernel.events import EventBus
from virtkernel.migration import JobOperation, JobTracker

pytestmark = pytest.mark.timeout(30)

WEB1 = DomainRef("web1", "5e1bd4b4-7e0b-4b0e-9a59-a5d1f1b0c0de", 3)
WHY = "the post-copy phase of the migration failed (connection lost)"


def paused_tracker(bus: EventBus | None = None) -> JobTracker:
    tracker = JobTracker(events=bus)
    job = tracker.start(WEB1, JobOperation.MIGRATION_OUT, async_=True)
    job.update(memory_total=1000, memory_processed=600, memory_remaining=400)
    assert tracker.pause(WEB1, WHY) is job
    return tracker


def test_a_paused_job_is_still_reported_without_a_bound_and_says_why() -> None:
    tracker = paused_tracker()
    info = tracker.info(WEB1)
    assert info.type == DomainJobType.UNBOUNDED and info.mem_processed == 600
    kind, stats = tracker.query_stats(WEB1, 0)
    assert kind == DomainJobType.UNBOUNDED
    assert stats["operation"] == JobOperation.MIGRATION_OUT and stats["errmsg"] == WHY
    assert tracker.query_stats(WEB1, int(DomainGetJobStatsFlags.COMPLETED)) is None  # not over


def test_a_paused_job_blocks_other_jobs_and_cannot_be_aborted() -> None:
    tracker = paused_tracker()
    with pytest.raises(virtkernel.OperationInvalid) as busy:
        tracker.start(WEB1, JobOperation.SAVE, wait=5.0)  # refused at once, not after the wait
    assert "paused because " + WHY in busy.value.message
    with pytest.raises(virtkernel.OperationInvalid):  # another operation cannot take it over either
        tracker.start(WEB1, JobOperation.MIGRATION_IN, take_over_paused=True)
    with pytest.raises(virtkernel.OperationInvalid) as abort:
        tracker.abort(WEB1)
    assert "cannot be aborted" in abort.value.message and WHY in abort.value.message


def test_a_resume_continues_the_same_job_and_completes_it() -> None:
    bus = EventBus()
    completed: list = []
    bus.subscribe(DomainEventID.JOB_COMPLETED, completed.append)
    tracker = paused_tracker(bus)
    paused = tracker.current(WEB1)
    job = tracker.start(WEB1, JobOperation.MIGRATION_OUT, async_=True, take_over_paused=True)
    assert job is paused and not job.paused and not job.abort_requested
    assert "errmsg" not in job.typed_stats()
    job.update(memory_processed=1000, memory_remaining=0)
    assert tracker.info(WEB1).type == DomainJobType.BOUNDED
    tracker.end(WEB1)
    kind, stats = tracker.query_stats(WEB1, int(DomainGetJobStatsFlags.COMPLETED))
    assert kind == DomainJobType.COMPLETED and stats["success"] is True and stats["memory_processed"] == 1000
    assert "errmsg" not in stats
    bus.flush()
    assert len(completed) == 1


def test_a_paused_job_ended_by_the_domain_going_away_is_failed() -> None:
    tracker = paused_tracker()
    tracker.end(WEB1, error=virtkernel.OperationFailed("the domain was destroyed"))
    kind, stats = tracker.query_stats(WEB1, int(DomainGetJobStatsFlags.COMPLETED))
    assert kind == DomainJobType.FAILED and stats["errmsg"] == "the domain was destroyed"
    assert tracker.info(WEB1).type == DomainJobType.NONE
    # and nothing is paused any more: a new job starts
    tracker.start(WEB1, JobOperation.SAVE)


def test_pausing_without_a_job_does_nothing() -> None:
    assert JobTracker().pause(WEB1, WHY) is None
