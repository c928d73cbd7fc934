"""The QMP choreography of a live migration between two QEMU processes (no kernel, no driver state).

Destination: QEMU started with ``-incoming defer`` (and ``-S``), `start_incoming` sets the agreed
capabilities and calls ``migrate-incoming``; `IncomingMigration.wait` follows its MIGRATION events.
Source: `OutgoingMigration` sets capabilities and parameters, calls ``migrate`` and follows the job through
MIGRATION / MIGRATION_PASS events and ``query-migrate`` (progress with libvirt's key names, a callback per
memory pass, abort through ``migrate_cancel``, the switch to post-copy).  A completed migration is reported
only once ``query-migrate`` has filled in total-time and downtime: QEMU switches to "completed" (and sends the
event) a moment before it computes them, and ``query-migrate`` answers 0 for both in between.
`EarlySetup` sends the source's capabilities and parameters while the destination QEMU starts (the driver's
Begin) and collects QEMU's answers in Perform, so that ``migrate`` follows Prepare at once.

Post-copy, and what happens when it fails midway: once ``migrate-start-postcopy`` has taken effect the
destination runs the guest and pulls missing pages from the source on demand; from then on neither side
holds the whole guest.  If the connection breaks, QEMU 7.2 does not fail the migration: both sides go to
``postcopy-paused`` and the guest is frozen on the destination wherever it touches a missing page.
Nothing is lost while both QEMU processes live: `recover_postcopy` opens a new channel
(``migrate-recover`` on the destination, ``migrate`` with ``resume`` on the source) and the migration
continues where it stopped.  If either QEMU dies during post-copy the guest is lost (the source copy is
incomplete, the destination copy depends on it): that is the price of post-copy, which is why it is only
used when the caller asks for it (VIR_MIGRATE_POSTCOPY) and switched on after the first pre-copy pass.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import OperationFailed, VirtError

from .migration_settings import QemuSetup, wait_all
from .migration_stats import job_stats
from .monitor import EventWaiter, Monitor, MonitorClosed, MonitorTimeout, QMPCommandError

__all__ = ["MigrationFailed", "MigrationAborted", "PostcopyPaused", "OutgoingMigration", "IncomingMigration",
           "start_incoming", "recover_incoming", "pause_postcopy", "migration_status", "qemu_uri",
           "recover_postcopy", "EarlySetup", "POLL_INTERVAL", "POSTCOPY_STATES"]

POLL_INTERVAL = 0.05
"""Seconds between progress queries while no migration event arrives."""
FINAL_STATS_WAIT = 5.0
"""How long to wait for QEMU to fill in total-time and downtime after "completed"."""
DEFAULT_STALL_TIMEOUT = 30.0
"""A pre-copy migration whose byte counters do not move for this long is cancelled, a post-copy one is paused
(``migrate-pause``): a dead link would otherwise block QEMU for the kernel's TCP retransmission timeout
(about 15 minutes)."""
STALL_BYTES = 64 << 10
"""An incoming side that read less than this in a stall period made no progress (our own QMP traffic is less)."""
RESUME_CONNECT_TIMEOUT = 10.0
"""How long a resumed post-copy migration may stay ``postcopy-paused`` (connecting) before recovery is given up.
QEMU 7.2 reports a failed resume connection only on its stderr (query-migrate shows error-desc only once a
migration has failed, and a paused post-copy migration never does): see `OutgoingMigration`'s ``qemu_errors``."""
POSTCOPY_STATES = ("postcopy-active", "postcopy-paused", "postcopy-recover")
"""QEMU migration states after the switch to post-copy: neither side holds the whole guest."""
_QUIET_STATES = ("setup", "active")
"""States whose event alone is no reason to query QEMU before the next poll (the transfer is just starting)."""


class MigrationFailed(OperationFailed):
    """QEMU reported the migration as failed (the message carries QEMU's reason)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.QEMU)


class MigrationAborted(VirtError):
    """The migration was cancelled on request (VIR_ERR_OPERATION_ABORTED)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=ErrorCode.OPERATION_ABORTED, domain=ErrorDomain.QEMU)


class PostcopyPaused(MigrationFailed):
    """The channel broke during post-copy: both QEMUs wait for `recover_postcopy` (nothing is lost yet)."""


def qemu_uri(scheme: str, *, host: Optional[str] = None, port: Optional[int] = None,
             path: Optional[str] = None) -> str:
    """QEMU's spelling of a migration address: ``unix:/path``, ``tcp:host:port``, ``tcp:[v6]:port``."""
    if scheme == "unix":
        return f"unix:{path}"
    if host is None or port is None:
        raise ValueError("a tcp migration address needs a host and a port")
    return f"tcp:[{host}]:{port}" if ":" in host else f"tcp:{host}:{port}"


def _status_events(monitor: Monitor) -> EventWaiter:
    return monitor.expect_event("MIGRATION")


def _drain(waiter: EventWaiter) -> list[Any]:
    events = []
    while True:
        try:
            events.append(waiter.wait(0))
        except MonitorTimeout:
            return events


def _final_figures(info: dict[str, Any]) -> bool:
    """Whether a "completed" ``query-migrate`` answer carries QEMU's computed total-time and downtime."""
    return bool(info.get("total-time")) and "downtime" in info


def migration_status(monitor: Monitor) -> str:
    """QEMU's migration status on either side (``none`` when it never migrated)."""
    return str(monitor.execute("query-migrate").get("status", "none"))


def pause_postcopy(monitor: Monitor, *, timeout: float = 10.0) -> str:
    """Break a post-copy migration's channel on purpose (``migrate-pause``) and wait for ``postcopy-paused``.

    Works on either side and without a network (QEMU shuts its socket down); returns the status reached.
    """
    status = migration_status(monitor)
    if status in ("postcopy-active", "postcopy-recover"):
        try:
            monitor.execute("migrate-pause")
        except QMPCommandError:
            pass  # it may have paused by itself meanwhile
    deadline = time.monotonic() + timeout
    while status not in ("postcopy-paused", "completed", "failed") and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
        status = migration_status(monitor)
    return status


def start_incoming(monitor: Monitor, uri: str, setup: QemuSetup) -> "IncomingMigration":
    """Destination: agree on capabilities and start listening at ``uri`` (QEMU's spelling).

    The QEMU waits with ``-incoming defer`` and has not migrated yet, so its capabilities are QEMU's defaults
    (all off): only those to switch on are sent.
    """
    incoming = IncomingMigration(monitor)
    try:
        replies = setup.switched_on().submit(monitor)
        replies.append(monitor.submit("migrate-incoming", {"uri": uri}))
        wait_all(replies)  # one round trip; QEMU sets the capabilities before it listens
    except BaseException:
        incoming.close()
        raise
    return incoming


def recover_incoming(monitor: Monitor, uri: str) -> "IncomingMigration":
    """Destination of a broken post-copy migration: listen for the source's new channel at ``uri``."""
    status = migration_status(monitor)
    if status != "postcopy-paused":
        raise MigrationFailed(f"cannot recover the post-copy migration of guest '{monitor.guest}': this side is "
                              f"'{status}', not 'postcopy-paused'")
    incoming = IncomingMigration(monitor, status=status)
    try:
        monitor.execute("migrate-recover", {"uri": uri})
    except BaseException:
        incoming.close()
        raise
    return incoming


class IncomingMigration:
    """The destination's view of one incoming migration (its MIGRATION events)."""

    def __init__(self, monitor: Monitor, status: str = "setup") -> None:
        self.monitor = monitor
        self._events = _status_events(monitor)
        self.status = status

    def wait(self, *, until_postcopy: bool = False, timeout: Optional[float] = 600.0,
             tolerate_pause: bool = False, progress: Optional[Callable[[], int]] = None,
             stall_timeout: Optional[float] = None) -> str:
        """Wait for "completed" (or "postcopy-active" when asked); raise when the incoming side failed.

        A post-copy migration whose channel broke raises PostcopyPaused, unless ``tolerate_pause`` (then
        this waits on, e.g. for a recovery in progress).  QEMU reports no byte counters on this side: with
        ``progress`` (bytes QEMU has read so far) and ``stall_timeout``, a post-copy phase that receives
        nothing for that long is paused here (``migrate-pause``), as a dead link would otherwise go unnoticed
        for the kernel's TCP timeout.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        watch = progress is not None and stall_timeout is not None
        moved_at, moved = time.monotonic(), progress() if watch else 0
        while True:
            for event in _drain(self._events):
                self.status = event.data.get("status", self.status)
            if self.status == "completed" or (until_postcopy and self.status == "postcopy-active"):
                return self.status
            if self.status == "failed":
                raise MigrationFailed(f"the incoming migration of guest '{self.monitor.guest}' failed")
            if self.status == "postcopy-paused" and not tolerate_pause:
                raise PostcopyPaused(f"post-copy migration of guest '{self.monitor.guest}' lost its connection: "
                                     "the guest is paused here and waits for recovery")
            now = time.monotonic()
            if watch and self.status == "postcopy-active":
                read = progress()
                if read - moved >= STALL_BYTES:
                    moved_at, moved = now, read
                elif now - moved_at > stall_timeout:
                    self.status = pause_postcopy(self.monitor)
                    raise PostcopyPaused(f"post-copy migration of guest '{self.monitor.guest}' received nothing "
                                         f"for {stall_timeout:g} s (is the network to the source down?): it was "
                                         "paused here and waits for recovery")
            else:
                moved_at = now
            remaining = None if deadline is None else max(deadline - now, 0.001)
            if watch:
                remaining = POLL_INTERVAL * 4 if remaining is None else min(remaining, POLL_INTERVAL * 4)
            try:
                self.status = self._events.wait(remaining).data.get("status", self.status)
            except MonitorTimeout:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
            except MonitorClosed:
                raise MigrationFailed(f"the destination QEMU of guest '{self.monitor.guest}' exited during "
                                      "the incoming migration") from None

    def close(self) -> None:
        """Stop following events."""
        self._events.cancel()


class OutgoingMigration:
    """The source's side of one migration: start it, follow it, abort it, switch it to post-copy."""

    def __init__(self, monitor: Monitor, *, on_progress: Callable[[dict[str, int]], None] = lambda stats: None,
                 on_iteration: Callable[[int], None] = lambda n: None,
                 abort_requested: Callable[[], bool] = lambda: False,
                 disk_progress: Callable[[], Optional[tuple[int, int]]] = lambda: None,
                 postcopy_after_pass: Optional[int] = None, poll: float = POLL_INTERVAL,
                 stall_timeout: Optional[float] = DEFAULT_STALL_TIMEOUT,
                 qemu_errors: Callable[[], Optional[str]] = lambda: None) -> None:
        self.monitor = monitor
        self.on_progress = on_progress
        self.on_iteration = on_iteration
        self.abort_requested = abort_requested
        self.disk_progress = disk_progress
        self.postcopy_after_pass = postcopy_after_pass
        self.poll = poll
        self.stall_timeout = stall_timeout
        self.qemu_errors = qemu_errors
        self.status = "none"
        self.stats: dict[str, int] = {}
        self._previous_stats: dict[str, int] = {}
        self.iteration = 0
        self.postcopy_requested = False
        self.cancel_requested = False
        self._status: Optional[EventWaiter] = None
        self._passes: Optional[EventWaiter] = None
        self.resuming = False
        self._resume_started = 0.0
        self._resume_error: Optional[str] = None
        self._queried_at = 0.0

    @property
    def guest(self) -> str:
        """The guest's name (for messages)."""
        return self.monitor.guest

    def start(self, uri: str, setup: Optional[QemuSetup] = None, *, resume: bool = False,
              early: Optional["EarlySetup"] = None) -> None:
        """Set capabilities/parameters and send ``migrate`` to ``uri`` (QEMU's spelling).

        ``early``: an `EarlySetup` started before; what it applied to this monitor is not sent again.
        """
        self._status = _status_events(self.monitor)
        self._passes = self.monitor.expect_event("MIGRATION_PASS")
        try:
            if setup is not None and not (early is not None and early.applied(self.monitor, setup)):
                setup.apply(self.monitor)
            arguments: dict[str, Any] = {"uri": uri}
            if resume:
                arguments["resume"] = True
                # QEMU stays "postcopy-paused" while it connects; a failed connect only sets error-desc
                self.resuming = True
                self._resume_error = self.monitor.execute("query-migrate").get("error-desc")
                self._resume_started = time.monotonic()
            self.monitor.execute("migrate", arguments)
            self._queried_at = time.monotonic()  # nothing to ask QEMU for a poll interval (see `wait`)
        except BaseException:
            self.close()
            raise

    def start_postcopy(self) -> None:
        """Switch to post-copy now (the migration must have been started with postcopy-ram)."""
        self.postcopy_requested = True
        self.monitor.execute("migrate-start-postcopy")

    def cancel(self) -> None:
        """Ask QEMU to cancel (the guest keeps running on the source); `wait` then raises MigrationAborted."""
        self.cancel_requested = True
        try:
            self.monitor.execute("migrate_cancel")
        except (QMPCommandError, MonitorClosed):
            pass

    def query(self) -> dict[str, Any]:
        """One ``query-migrate`` turned into libvirt's keys (also kept in `stats`)."""
        self._queried_at = time.monotonic()
        info = self.monitor.execute("query-migrate")
        self.status = info.get("status", self.status)
        stats = job_stats(info, self.disk_progress())
        if stats:
            if "disk_total" in stats:
                self._previous_stats = stats
            self.stats = stats
        self._last_info = info
        return info

    def wait(self, *, until_postcopy: bool = False, timeout: Optional[float] = None) -> dict[str, int]:
        """Follow the migration until it completes (or enters post-copy when asked); its final statistics.

        Raises MigrationAborted when cancelled, MigrationFailed with QEMU's reason when it failed,
        PostcopyPaused when the channel broke during post-copy.
        """
        assert self._status is not None and self._passes is not None, "start() first"
        deadline = None if timeout is None else time.monotonic() + timeout
        moved_at, moved = time.monotonic(), -1
        while True:
            seen = None
            try:
                seen = self._status.wait(self.poll).data.get("status")
                if seen in ("postcopy-recover", "postcopy-active", "completed"):
                    self.resuming = False
            except MonitorTimeout:
                pass
            except MonitorClosed:
                raise MigrationFailed(f"the QEMU of guest '{self.guest}' exited during the migration") from None
            for event in _drain(self._passes):
                self.iteration = int(event.data.get("pass", self.iteration + 1))
                self.on_iteration(self.iteration)
            if self.abort_requested() and not self.cancel_requested and self.status not in POSTCOPY_STATES:
                self.cancel()
            if seen in _QUIET_STATES and not self.cancel_requested and not self.resuming \
                    and time.monotonic() - self._queried_at < self.poll:
                # the start of the transfer: the figures can wait for the next poll (a query competes for the
                # CPUs and QEMU's lock with the transfer itself), the status is the event's
                self.status = seen
                continue
            try:
                info = self.query()
            except MonitorClosed:
                raise MigrationFailed(f"the QEMU of guest '{self.guest}' exited during the migration") from None
            self.on_progress(dict(self.stats))
            status = self.status
            if status == "completed":
                return self._final_stats(info)
            if status == "failed":
                if self.cancel_requested:
                    raise MigrationAborted(f"migration of guest '{self.guest}' was cancelled")
                reason = info.get("error-desc") or "QEMU gave no reason"
                raise MigrationFailed(f"migration of guest '{self.guest}' failed: {reason}")
            if status in ("cancelled", "cancelling") and self.cancel_requested:
                if status == "cancelled":
                    raise MigrationAborted(f"migration of guest '{self.guest}' was cancelled")
            elif status == "cancelled":
                raise MigrationAborted(f"migration of guest '{self.guest}' was cancelled by QEMU")
            if status in ("postcopy-recover", "postcopy-active", "completed"):
                self.resuming = False
            if status == "postcopy-paused" and self.resuming:
                error = self.qemu_errors() or info.get("error-desc")
                if error and error != self._resume_error:
                    self.resuming = False
                    raise PostcopyPaused(f"post-copy migration of guest '{self.guest}' could not be resumed: "
                                         f"{error}")
                if time.monotonic() - self._resume_started > RESUME_CONNECT_TIMEOUT:
                    self.resuming = False
                    raise PostcopyPaused(f"post-copy migration of guest '{self.guest}' could not be resumed: no "
                                         f"connection within {RESUME_CONNECT_TIMEOUT:g} s")
            elif status == "postcopy-paused":
                raise PostcopyPaused(f"post-copy migration of guest '{self.guest}' lost its connection: both "
                                     "sides are paused and wait for recovery")
            if status == "postcopy-active" and until_postcopy:
                return dict(self.stats)
            if (self.postcopy_after_pass is not None and not self.postcopy_requested
                    and status == "active" and self.iteration >= self.postcopy_after_pass):
                self.start_postcopy()
            now = time.monotonic()
            counted = self.stats.get("data_processed", 0)
            if counted != moved or status not in ("setup", "active", "device", "pre-switchover",
                                                  "postcopy-active"):
                moved_at, moved = now, counted
            elif status == "postcopy-active" and self.stall_timeout is not None \
                    and now - moved_at > self.stall_timeout:
                # the guest runs on the destination: never cancel, pause (both QEMUs keep their halves)
                pause_postcopy(self.monitor)
                raise PostcopyPaused(f"post-copy migration of guest '{self.guest}' made no progress for "
                                     f"{self.stall_timeout:g} s (is the network to the destination down?): it "
                                     "was paused and waits for recovery")
            elif self.stall_timeout is not None and now - moved_at > self.stall_timeout \
                    and not self.cancel_requested:
                self.cancel()
                self._wait_cancelled()
                raise MigrationFailed(f"migration of guest '{self.guest}' made no progress for "
                                      f"{self.stall_timeout:g} s (is the network to the destination down?); "
                                      "it was cancelled and the guest keeps running here")
            if deadline is not None and now > deadline:
                self.cancel()
                raise MigrationFailed(f"migration of guest '{self.guest}' did not finish within {timeout} s")

    def _wait_cancelled(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.query().get("status") in ("cancelled", "failed", "completed"):
                    return
            except MonitorClosed:
                return
            time.sleep(0.02)

    def _final_stats(self, info: dict[str, Any]) -> dict[str, int]:
        deadline = time.monotonic() + FINAL_STATS_WAIT
        while not _final_figures(info) and time.monotonic() < deadline:
            time.sleep(0.001)  # the migration thread is about to take QEMU's lock and compute them
            info = self.query()
        previous = self._previous_stats
        self.stats = job_stats(info, self.disk_progress())
        if "disk_total" in previous and "disk_total" not in self.stats:
            # QEMU drops block-migration figures once completed: every byte of the disks was sent
            total = previous["disk_total"]
            self.stats.update(disk_total=total, disk_processed=total, disk_remaining=0)
            for part in ("total", "processed"):
                self.stats[f"data_{part}"] = self.stats.get(f"memory_{part}", 0) + total
        self.on_progress(dict(self.stats))
        return dict(self.stats)

    def close(self) -> None:
        """Stop following events."""
        for waiter in (self._status, self._passes):
            if waiter is not None:
                waiter.cancel()


class EarlySetup:
    """The source's capabilities and parameters, sent while the destination gets ready (answers waited for later).

    Only for a setup that switches on nothing but "events" (plus parameters): a migration that never reaches
    ``migrate`` then leaves the source QEMU as a save would have it.  `OutgoingMigration.start` skips what
    this applied when it is the same setup on the same monitor, and sends everything again otherwise (a
    tunable changed in between, or QEMU refused something).
    """

    def __init__(self, monitor: Monitor, setup: QemuSetup) -> None:
        self.monitor = monitor
        self.setup = setup
        self._replies: list[Any] = []
        self._sent = False
        try:
            self._replies = setup.submit(monitor)
            self._sent = True
        except VirtError:
            pass  # e.g. the monitor just closed: Perform sends everything and reports what goes wrong

    @staticmethod
    def allowed(setup: QemuSetup) -> bool:
        """Whether `setup` is harmless to send before the migration is sure to start."""
        return not any(state for name, state in setup.capabilities.items() if name != "events")

    def wait(self) -> bool:
        """Wait for QEMU's answers; whether all of them were successes."""
        try:
            wait_all(self._replies)
        except VirtError:
            return False
        return self._sent

    def applied(self, monitor: Monitor, setup: QemuSetup) -> bool:
        """Whether exactly `setup` was applied to `monitor` (waits for QEMU's answers)."""
        return self.wait() and monitor is self.monitor and setup == self.setup


def recover_postcopy(source: Monitor, destination: Monitor, uri: str, *, timeout: float = 120.0) -> dict[str, int]:
    """Resume a post-copy migration whose channel broke: new channel at ``uri``, then wait for completion.

    Both QEMUs must be in ``postcopy-paused``; returns the source's final statistics.
    """
    for monitor, side in ((source, "source"), (destination, "destination")):
        status = monitor.execute("query-migrate").get("status")
        if status != "postcopy-paused":
            raise MigrationFailed(f"cannot recover the post-copy migration of guest '{monitor.guest}': the "
                                  f"{side} is '{status}', not 'postcopy-paused'")
    destination.execute("migrate-recover", {"uri": uri})
    outgoing = OutgoingMigration(source)
    outgoing.start(uri, resume=True)
    try:
        return outgoing.wait(timeout=timeout)
    finally:
        outgoing.close()
