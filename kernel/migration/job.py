"""Domain jobs for drivers: one modifying job per domain at a time, queries alongside, async jobs abortable.

A driver keeps one :class:`JobTracker` per host. ``with tracker.begin(ref, JobOperation.MIGRATION_OUT,
async_=True) as job:`` claims the domain (a second modifying job fails with OPERATION_INVALID naming the one
that runs, after waiting ``wait`` seconds); ``job.update(...)`` records progress with libvirt's job-stats keys;
``job.check_abort()`` raises once someone called :meth:`JobTracker.abort`. When the block ends the job's final
statistics are kept as "last completed job" and, if an event bus is given, a JOB_COMPLETED event carries them.

A migration whose post-copy phase failed is not over: libvirt keeps its job (getJobInfo reports it, type
UNBOUNDED) until the migration is resumed or the domain goes away.  :meth:`JobTracker.pause` keeps such a job
claimed without progress; ``start(..., take_over_paused=True)`` continues it (same start time and statistics).
"""

from __future__ import annotations

import enum
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from ..enums import DomainEventID, DomainGetJobStatsFlags, DomainJobType, ErrorCode, ErrorDomain
from ..errors import OperationFailed, OperationInvalid, VirtError
from ..types import DomainRef, JobInfo, TypedParams


class JobOperation(enum.IntEnum):
    """libvirt's VIR_DOMAIN_JOB_OPERATION_* values (the 'operation' job statistic)."""

    UNKNOWN = 0
    START = 1
    SAVE = 2
    RESTORE = 3
    MIGRATION_IN = 4
    MIGRATION_OUT = 5
    SNAPSHOT = 6
    SNAPSHOT_REVERT = 7
    DUMP = 8
    BACKUP = 9
    SNAPSHOT_DELETE = 10


class JobStat(str, enum.Enum):
    """libvirt's job-statistics key names (VIR_DOMAIN_JOB_*)."""

    OPERATION = "operation"
    TIME_ELAPSED = "time_elapsed"
    TIME_REMAINING = "time_remaining"
    DOWNTIME = "downtime"
    SETUP_TIME = "setup_time"
    DATA_TOTAL = "data_total"
    DATA_PROCESSED = "data_processed"
    DATA_REMAINING = "data_remaining"
    MEMORY_TOTAL = "memory_total"
    MEMORY_PROCESSED = "memory_processed"
    MEMORY_REMAINING = "memory_remaining"
    MEMORY_CONSTANT = "memory_constant"
    MEMORY_NORMAL = "memory_normal"
    MEMORY_NORMAL_BYTES = "memory_normal_bytes"
    MEMORY_BPS = "memory_bps"
    MEMORY_DIRTY_RATE = "memory_dirty_rate"
    MEMORY_PAGE_SIZE = "memory_page_size"
    MEMORY_ITERATION = "memory_iteration"
    MEMORY_POSTCOPY_REQS = "memory_postcopy_requests"
    DISK_TOTAL = "disk_total"
    DISK_PROCESSED = "disk_processed"
    DISK_REMAINING = "disk_remaining"
    DISK_BPS = "disk_bps"
    COMPRESSION_CACHE = "compression_cache"
    COMPRESSION_BYTES = "compression_bytes"
    COMPRESSION_PAGES = "compression_pages"
    COMPRESSION_CACHE_MISSES = "compression_cache_misses"
    COMPRESSION_OVERFLOW = "compression_overflow"
    AUTO_CONVERGE_THROTTLE = "auto_converge_throttle"
    SUCCESS = "success"
    ERRMSG = "errmsg"


KNOWN_STATS = frozenset(s.value for s in JobStat)


@dataclass
class DomainJob:
    """One running (or finished) job of a domain."""

    domain: DomainRef
    operation: JobOperation
    async_: bool
    started: float = field(default_factory=time.monotonic)
    stats: dict[str, Any] = field(default_factory=dict)
    type: DomainJobType = DomainJobType.UNBOUNDED
    _abort: threading.Event = field(default_factory=threading.Event, repr=False)
    finished: Optional[float] = None
    paused_error: Optional[str] = None
    """Why the job is paused (a failed post-copy phase waiting for a resume); None while it runs."""

    @property
    def paused(self) -> bool:
        """Whether the job waits to be continued (see JobTracker.pause)."""
        return self.paused_error is not None

    @property
    def abort_requested(self) -> bool:
        """Whether abort() was called for this job."""
        return self._abort.is_set()

    def update(self, **stats: Any) -> None:
        """Record progress under libvirt's key names (e.g. memory_processed=…, memory_remaining=…)."""
        unknown = set(stats) - KNOWN_STATS
        if unknown:
            raise ValueError(f"unknown job statistic(s): {', '.join(sorted(unknown))}")
        self.stats.update(stats)
        if any(k.endswith("_total") for k in stats):
            self.type = DomainJobType.BOUNDED

    def check_abort(self) -> None:
        """Raise OPERATION_ABORTED when the job was asked to stop."""
        if self._abort.is_set():
            raise VirtError(f"operation aborted: {self.operation.name.lower().replace('_', ' ')} job of domain "
                            f"'{self.domain.name}' was cancelled", code=ErrorCode.OPERATION_ABORTED,
                            domain=ErrorDomain.DOMAIN)

    def elapsed_ms(self) -> int:
        """Milliseconds since the job started (until it finished)."""
        end = self.finished if self.finished is not None else time.monotonic()
        return int((end - self.started) * 1000)

    def typed_stats(self) -> TypedParams:
        """The statistics dict as getJobStats returns it."""
        result: TypedParams = {JobStat.OPERATION.value: int(self.operation),
                               JobStat.TIME_ELAPSED.value: self.elapsed_ms()}
        result.update(self.stats)
        if self.paused_error is not None:
            result[JobStat.ERRMSG.value] = self.paused_error
        return result

    def info(self) -> JobInfo:
        """The fixed struct of getJobInfo."""
        s = self.stats
        return JobInfo(type=int(self.type), time_elapsed=self.elapsed_ms(),
                       time_remaining=int(s.get("time_remaining", 0)), data_total=int(s.get("data_total", 0)),
                       data_processed=int(s.get("data_processed", 0)),
                       data_remaining=int(s.get("data_remaining", 0)), mem_total=int(s.get("memory_total", 0)),
                       mem_processed=int(s.get("memory_processed", 0)),
                       mem_remaining=int(s.get("memory_remaining", 0)), file_total=int(s.get("disk_total", 0)),
                       file_processed=int(s.get("disk_processed", 0)),
                       file_remaining=int(s.get("disk_remaining", 0)))


_NO_JOB = JobInfo(int(DomainJobType.NONE), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


class JobTracker:
    """The jobs of one host's domains (keyed by UUID)."""

    def __init__(self, events: Any = None) -> None:
        self.events = events
        self._cond = threading.Condition()
        self._active: dict[str, DomainJob] = {}
        self._completed: dict[str, tuple[DomainJobType, TypedParams]] = {}

    @contextmanager
    def begin(self, domain: DomainRef, operation: JobOperation, async_: bool = False,
              wait: float = 0.0) -> Iterator[DomainJob]:
        """Run one modifying job on ``domain`` for the duration of the with-block."""
        job = self.start(domain, operation, async_=async_, wait=wait)
        try:
            yield job
        except BaseException as exc:
            self.end(domain, error=exc)
            raise
        self.end(domain)

    def start(self, domain: DomainRef, operation: JobOperation, async_: bool = False,
              wait: float = 0.0, take_over_paused: bool = False) -> DomainJob:
        """Claim ``domain`` for a job that ends with :meth:`end` (for jobs that span several calls).

        take_over_paused: continue a paused job of the same operation instead (see :meth:`pause`).
        """
        deadline = time.monotonic() + wait
        with self._cond:
            while domain.uuid in self._active:
                running = self._active[domain.uuid]
                if running.paused:
                    if take_over_paused and running.operation == operation:
                        running.paused_error = None
                        running._abort.clear()
                        if any(k.endswith("_total") for k in running.stats):
                            running.type = DomainJobType.BOUNDED
                        return running
                    raise OperationInvalid(
                        f"domain '{domain.name}' is busy: its {_label(running.operation)} job is paused because "
                        f"{running.paused_error}", code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise OperationInvalid(
                        f"domain '{domain.name}' is busy: a {_label(running.operation)} job is already running",
                        code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)
                self._cond.wait(remaining)
            job = DomainJob(domain, operation, async_)
            self._active[domain.uuid] = job
            return job

    def end(self, domain: DomainRef, error: Optional[BaseException] = None) -> Optional[DomainJob]:
        """Finish the job of ``domain``; keep its statistics as the last completed job and emit JOB_COMPLETED."""
        with self._cond:
            job = self._active.pop(domain.uuid, None)
            self._cond.notify_all()
        if job is None:
            return None
        job.finished = time.monotonic()
        stats = job.typed_stats()
        if error is None:
            job.type = DomainJobType.COMPLETED
            stats[JobStat.SUCCESS.value] = True
        else:
            aborted = isinstance(error, VirtError) and error.code == ErrorCode.OPERATION_ABORTED
            job.type = DomainJobType.CANCELLED if aborted or job.abort_requested else DomainJobType.FAILED
            stats[JobStat.SUCCESS.value] = False
            stats[JobStat.ERRMSG.value] = str(error)
        with self._cond:
            self._completed[domain.uuid] = (job.type, stats)
        if error is None and self.events is not None:
            emit_job_completed(self.events, domain, stats)
        return job

    def pause(self, domain: DomainRef, reason: str) -> Optional[DomainJob]:
        """Keep the running job of ``domain`` claimed but stopped (``reason``: why, reported as errmsg).

        It is still reported (type UNBOUNDED) and still blocks other jobs, until ``start(...,
        take_over_paused=True)`` continues it or :meth:`end` finishes it.  None when no job runs.
        """
        with self._cond:
            job = self._active.get(domain.uuid)
            if job is None:
                return None
            job.paused_error = reason
            job.type = DomainJobType.UNBOUNDED  # no progress, no bound: what libvirt reports while paused
            return job

    def current(self, domain: DomainRef) -> Optional[DomainJob]:
        """The running job of ``domain``, or None (never blocks)."""
        with self._cond:
            return self._active.get(domain.uuid)

    def info(self, domain: DomainRef) -> JobInfo:
        """getJobInfo: the running job's progress, or type NONE."""
        job = self.current(domain)
        return job.info() if job is not None else _NO_JOB

    def stats(self, domain: DomainRef, completed: bool = False, keep_completed: bool = False) -> tuple[int, TypedParams]:
        """getJobStats: (type, stats) of the running job, or of the last completed one when ``completed``."""
        if completed:
            with self._cond:
                record = self._completed.get(domain.uuid) if keep_completed else self._completed.pop(domain.uuid, None)
            if record is None:
                return int(DomainJobType.NONE), {}
            return int(record[0]), dict(record[1])
        job = self.current(domain)
        if job is None:
            return int(DomainJobType.NONE), {}
        return int(job.type), job.typed_stats()

    def query_info(self, domain: DomainRef) -> Optional[JobInfo]:
        """What a driver's getJobInfo answers from this tracker: the running job's progress, None when none runs."""
        job = self.current(domain)
        return job.info() if job is not None else None

    def query_stats(self, domain: DomainRef, flags: int) -> Optional[tuple[int, TypedParams]]:
        """What a driver's getJobStats answers from this tracker (JOB_STATS_* flags), None when there is nothing."""
        if flags & DomainGetJobStatsFlags.COMPLETED:
            kind, stats = self.stats(domain, completed=True,
                                     keep_completed=bool(flags & DomainGetJobStatsFlags.KEEP_COMPLETED))
            return (kind, stats) if stats else None
        job = self.current(domain)
        return (int(job.type), job.typed_stats()) if job is not None else None

    def abort(self, domain: DomainRef) -> DomainJob:
        """Ask the running async job of ``domain`` to stop (it notices at its next check_abort())."""
        job = self.current(domain)
        if job is None:
            raise OperationInvalid(f"no job is active on domain '{domain.name}'",
                                   code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)
        if not job.async_:
            raise OperationInvalid(f"the {_label(job.operation)} job of domain '{domain.name}' cannot be aborted",
                                   code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)
        if job.paused:
            raise OperationInvalid(f"the {_label(job.operation)} job of domain '{domain.name}' cannot be aborted: "
                                   f"it is paused because {job.paused_error}",
                                   code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)
        job._abort.set()
        return job

    def forget(self, domain: DomainRef) -> None:
        """Drop the last completed job of a domain that went away."""
        with self._cond:
            self._completed.pop(domain.uuid, None)


def _label(operation: JobOperation) -> str:
    return operation.name.lower().replace("_", " ")


def emit_job_completed(events: Any, domain: DomainRef, stats: TypedParams) -> None:
    """JOB_COMPLETED event: callbacks receive (conn, dom, params, opaque) with the job's final statistics."""
    events.emit(DomainEventID.JOB_COMPLETED, domain, dict(stats))


def emit_migration_iteration(events: Any, domain: DomainRef, iteration: int) -> None:
    """MIGRATION_ITERATION event: callbacks receive (conn, dom, iteration, opaque) when a memory pass starts."""
    events.emit(DomainEventID.MIGRATION_ITERATION, domain, int(iteration))


def operation_failed(message: str) -> OperationFailed:
    """An OPERATION_FAILED error of the migration."""
    return OperationFailed(message, code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.DOMAIN)
