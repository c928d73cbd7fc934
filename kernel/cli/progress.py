"""Long jobs: run the call, poll job statistics from a second thread, show progress, abort on Ctrl-C."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, TypeVar

from ..domain import Domain
from ..enums import DomainJobType, ErrorCode
from ..errors import VirtError
from .errors import describe
from .session import Session

T = TypeVar("T")

POLL_SECONDS = 0.5
"""How often progress is refreshed (virsh's interval)."""
TICK_SECONDS = 0.05
"""How quickly a Ctrl-C or the end of the call is noticed."""


@contextmanager
def interrupt_to(event: threading.Event) -> Iterator[None]:
    """While inside, SIGINT sets ``event`` instead of raising KeyboardInterrupt (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: event.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def job_progress(dom: Domain) -> Optional[int]:
    """Percent done of the domain's current job from its statistics (None when there is no job to show)."""
    try:
        job_type, stats = dom.get_job_stats()
        total, remaining = stats.get("data_total", 0), stats.get("data_remaining", 0)
    except VirtError as exc:
        if exc.code != ErrorCode.NO_SUPPORT:
            return None
        try:
            info = dom.get_job_info()
        except VirtError:
            return None
        job_type, total, remaining = info.type, info.data_total, info.data_remaining
    if job_type in (DomainJobType.NONE, DomainJobType.FAILED, DomainJobType.CANCELLED):
        return None
    return percent(remaining, total)


def percent(remaining: int, total: int) -> int:
    """virsh's progress number: 100 is kept for the end, so a job still running shows at most 99."""
    if not total or remaining <= 0:
        return 99
    return max(0, min(99, int(100 - remaining * 100 / total)))


def show_progress(session: Session, label: str, value: int) -> None:
    """The progress line, redrawn in place on stderr: ``Migration: [ 42 %]``."""
    session.stderr.write(f"\r{label}: [{value:3d} %]")
    session.stderr.flush()


class JobWatcher:
    """Runs one long call while a second thread polls the job, shows progress and aborts it on request."""

    def __init__(self, session: Session, dom: Optional[Domain], label: str, verbose: bool,
                 timeout: Optional[float] = None, on_timeout: Optional[Callable[[], None]] = None) -> None:
        self.session = session
        self.dom = dom
        self.label = label
        self.verbose = verbose
        self.timeout = timeout
        self.on_timeout = on_timeout
        self.interrupted = threading.Event()
        self.finished = threading.Event()
        self.aborted = False
        self.shown = False

    def run(self, call: Callable[[], T]) -> T:
        """Run ``call`` to its end; on success print the final 100 % (with --verbose) and virsh's blank line."""
        poller = threading.Thread(target=self._poll, name=f"virtkernel-{self.label}-progress", daemon=True)
        with interrupt_to(self.interrupted):
            poller.start()
            try:
                result = call()
            except BaseException:
                self.finished.set()
                poller.join()
                if self.shown:
                    self.session.stderr.write("\n")
                raise
            self.finished.set()
            poller.join()
        if self.verbose:
            show_progress(self.session, self.label, 100)
        self.session.extra("\n")
        return result

    def _poll(self) -> None:
        started = time.monotonic()
        next_report = started
        timed_out = False
        while not self.finished.wait(TICK_SECONDS):
            if self.interrupted.is_set() and not self.aborted:
                self._abort()
            now = time.monotonic()
            if self.timeout is not None and not timed_out and now - started >= self.timeout:
                timed_out = True
                self._time_out()
            if self.verbose and self.dom is not None and now >= next_report:
                next_report = now + POLL_SECONDS
                value = job_progress(self.dom)
                if value is not None and not self.finished.is_set():
                    show_progress(self.session, self.label, value)
                    self.shown = True

    def _abort(self) -> None:
        self.aborted = True
        if self.dom is None:
            self.session.stderr.write("\nerror: this job cannot be aborted: its domain is not known yet\n")
            return
        try:
            self.dom.abort_job()
        except VirtError as exc:
            self.session.stderr.write(f"\nerror: failed to abort the job: {describe(exc)}\n")

    def _time_out(self) -> None:
        if self.on_timeout is None:
            return
        try:
            self.on_timeout()
        except VirtError as exc:
            self.session.stderr.write(f"\nerror: {describe(exc)}\n")
