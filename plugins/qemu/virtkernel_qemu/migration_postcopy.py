"""Post-copy failing midway, and its recovery (VIR_MIGRATE_POSTCOPY_RESUME), for the qemu driver's migration phases.

After the switch to post-copy the guest runs on the destination and its missing pages are still on the source:
neither host holds the whole guest.  When the channel breaks (or stalls: see `migration_qmp`), both QEMUs go to
``postcopy-paused`` and are kept alive, as libvirt does:

* source: PAUSED / VIR_DOMAIN_PAUSED_POSTCOPY_FAILED, event SUSPENDED / SUSPENDED_POSTCOPY_FAILED;
* destination: RUNNING / VIR_DOMAIN_RUNNING_POSTCOPY_FAILED, event RESUMED / RESUMED_POSTCOPY_FAILED (its vCPUs
  still run and block on missing pages), or PAUSED / VIR_DOMAIN_PAUSED_POSTCOPY_FAILED when its vCPUs had not
  been started yet;
* both migration jobs stay, paused (`keep_job_paused`): getJobInfo/getJobStats report them (type UNBOUNDED,
  ``errmsg`` says why) until a resume continues them or the domain is destroyed (then they end as FAILED), as
  libvirt keeps its migration job; the migrate call raises OPERATION_FAILED naming VIR_MIGRATE_POSTCOPY_RESUME;
* operations that would wait on the missing half (suspend of the destination, resume, save, managed save, core
  dump) are refused at once (`refuse_in_failed_postcopy`); destroying a destination whose vCPUs wait for pages
  does not wait for SIGTERM, which QEMU cannot act on then (`waits_for_pages`).

Repeating the migration with POSTCOPY | POSTCOPY_RESUME runs the ordinary v3 phases on that state: Begin checks
the source is a failed post-copy, Prepare runs ``migrate-recover`` on a new port on the destination, Perform sends
``migrate`` with ``resume`` and Finish/Confirm complete the migration as usual (destination RUNNING/MIGRATED with
RESUMED_MIGRATED, source STOPPED_MIGRATED).  A recovery that fails again leaves the same paused state behind.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

from virtkernel.enums import (DomainEventResumedDetailType as Resumed, DomainEventSuspendedDetailType as Suspended,
                              DomainEventType as Event, DomainMigrateFlags as M, DomainPausedReason,
                              DomainRunningReason, DomainState, ErrorCode, ErrorDomain)
from virtkernel.errors import ArgumentUnsupported, OperationFailed, OperationInvalid, VirtError
from virtkernel.migration.job import JobTracker

from .migration_qmp import POSTCOPY_STATES, migration_status, pause_postcopy
from .monitor import MonitorClosed

if TYPE_CHECKING:
    from .host import Guest, QemuHost

__all__ = ["postcopy_failed", "require_postcopy_flag", "failed_postcopy_guest", "mark_source_failed",
           "mark_destination_failed", "qemu_migration_status", "bytes_read", "new_log_lines", "RESUME_HINT",
           "in_failed_postcopy", "refuse_in_failed_postcopy", "waits_for_pages", "keep_job_paused",
           "end_paused_job", "mark_source_postcopy", "mark_destination_recovered"]

log = logging.getLogger(__name__)

RESUME_HINT = ("resume it with the VIR_MIGRATE_POSTCOPY_RESUME flag (with VIR_MIGRATE_POSTCOPY) once the "
               "connection works again")
"""What every post-copy failure message tells the user to do."""


def postcopy_failed(name: str, cause: Any) -> OperationFailed:
    """The error a migrate call raises when its post-copy phase failed (both sides kept, paused)."""
    return OperationFailed(f"the post-copy phase of the migration of domain '{name}' failed ({cause}); both hosts "
                           "keep their part of the domain, paused, and nothing is lost while both stay alive: "
                           f"{RESUME_HINT}",
                           code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.QEMU)


def in_failed_postcopy(guest: "Guest") -> bool:
    """Whether the guest is one half of a post-copy migration that failed (either side)."""
    return guest.active and (
        (guest.state == DomainState.PAUSED and guest.reason == DomainPausedReason.POSTCOPY_FAILED)
        or (guest.state == DomainState.RUNNING and guest.reason == DomainRunningReason.POSTCOPY_FAILED))


def refuse_in_failed_postcopy(guest: "Guest", action: str) -> None:
    """OPERATION_INVALID at once for ``action`` (e.g. "save") on a failed post-copy half.

    libvirt keeps the migration job of such a domain and lets no other job start: the call waits 30 s for the
    job lock and fails with OPERATION_TIMEOUT.  Here the answer comes at once and says why.
    """
    if in_failed_postcopy(guest):
        raise OperationInvalid(f"cannot {action} domain '{guest.name}': its post-copy migration failed and the "
                               "guest's memory is split between the source and the destination; resume the "
                               "migration with the VIR_MIGRATE_POSTCOPY_RESUME flag (with VIR_MIGRATE_POSTCOPY) "
                               "or destroy the domain", code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)


def waits_for_pages(guest: "Guest") -> bool:
    """A destination whose vCPUs run in post-copy (active or failed): they may block on pages still on the source.

    QEMU cannot act on SIGTERM then (stopping the vCPUs waits for them), and its memory is incomplete anyway.
    """
    return guest.active and guest.state == DomainState.RUNNING and guest.reason in (
        DomainRunningReason.POSTCOPY, DomainRunningReason.POSTCOPY_FAILED)


_PAUSED_JOBS: dict[tuple[str, str], Callable[[str], None]] = {}
_PAUSED_LOCK = threading.Lock()


def keep_job_paused(host: "QemuHost", jobs: JobTracker, guest: "Guest", error: BaseException) -> None:
    """Keep the migration job of a failed post-copy half, paused, until a resume continues it or QEMU is gone."""
    job = jobs.pause(guest.ref(), str(getattr(error, "message", None) or error))
    if job is None:
        return
    ref = guest.ref()

    def end(why: str) -> None:
        if jobs.current(ref) is job:  # not if a resume has already finished it and a new job runs
            jobs.end(ref, error=OperationFailed(f"the failed post-copy migration of domain '{ref.name}' ended: "
                                                f"{why}", code=ErrorCode.OPERATION_FAILED,
                                                domain=ErrorDomain.QEMU))
    with _PAUSED_LOCK:
        _PAUSED_JOBS[(host.paths.key, guest.uuid)] = end


def end_paused_job(host: "QemuHost", guest: "Guest", why: str) -> None:
    """QEMU of ``guest`` is gone: a migration job kept paused for it ends (as failed)."""
    with _PAUSED_LOCK:
        end = _PAUSED_JOBS.pop((host.paths.key, guest.uuid), None)
    if end is not None:
        end(why)


def require_postcopy_flag(flags: int) -> None:
    """POSTCOPY_RESUME without POSTCOPY is refused (libvirt's ARGUMENT_UNSUPPORTED)."""
    if flags & M.POSTCOPY_RESUME and not flags & M.POSTCOPY:
        raise ArgumentUnsupported("resuming a failed post-copy migration requires VIR_MIGRATE_POSTCOPY as well",
                                  code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.QEMU)


def qemu_migration_status(guest: "Guest") -> Optional[str]:
    """QEMU's migration status of a running guest, None when its monitor cannot answer."""
    if guest.monitor is None:
        return None
    try:
        return migration_status(guest.monitor)
    except (VirtError, MonitorClosed):
        return None


def failed_postcopy_guest(host: "QemuHost", name: str, where: str) -> "Guest":
    """The guest ``name`` when it is a failed post-copy migration QEMU can recover; OPERATION_INVALID otherwise."""
    guest = host.guests.get(name)
    if guest is None or not guest.active:
        raise OperationInvalid(f"domain '{name}' is not running on the {where}: there is no failed post-copy "
                               "migration to resume", code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
    failed_reason = (guest.state == DomainState.PAUSED and guest.reason == DomainPausedReason.POSTCOPY_FAILED) or \
        (guest.state == DomainState.RUNNING and guest.reason == DomainRunningReason.POSTCOPY_FAILED)
    status = qemu_migration_status(guest)
    if not failed_reason or status != "postcopy-paused":
        what = f"QEMU reports migration status '{status}'" if status else "QEMU does not answer"
        raise OperationInvalid(f"post-copy migration of domain '{name}' on the {where} has not failed ({what}): "
                               "VIR_MIGRATE_POSTCOPY_RESUME only resumes a post-copy migration that broke",
                               code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
    return guest


def _paused_after_switch(guest: "Guest") -> bool:
    """Pause a post-copy QEMU that has not noticed the failure yet; True when it is (now) post-copy paused."""
    status = qemu_migration_status(guest)
    if status not in POSTCOPY_STATES:
        return False
    if status != "postcopy-paused":
        try:
            status = pause_postcopy(guest.monitor)
        except (VirtError, MonitorClosed) as exc:
            log.warning("could not pause the post-copy migration of '%s': %s", guest.name, exc)
    return True


def mark_source_failed(host: "QemuHost", guest: "Guest") -> bool:
    """Source whose post-copy failed: keep QEMU, PAUSED/POSTCOPY_FAILED and its event; False before the switch."""
    with guest.lock:
        if not guest.active or not _paused_after_switch(guest):
            return False
        guest.extra.pop("pause_reason", None)
        already = guest.state == DomainState.PAUSED and guest.reason == DomainPausedReason.POSTCOPY_FAILED
        guest.set_state(DomainState.PAUSED, DomainPausedReason.POSTCOPY_FAILED)
        host.write_status(guest)
        if not already:
            log.error("post-copy migration of '%s' failed after the switch: the source copy is incomplete and "
                      "stays paused until the migration is resumed", guest.name)
            host.emit(guest, Event.SUSPENDED, Suspended.POSTCOPY_FAILED)
    return True


def mark_destination_failed(host: "QemuHost", guest: "Guest") -> bool:
    """Destination whose post-copy failed: keep QEMU, RUNNING (or PAUSED) /POSTCOPY_FAILED; False before the switch."""
    with guest.lock:
        if not guest.active or not _paused_after_switch(guest):
            return False
        try:
            running = bool(guest.monitor.execute("query-status").get("running"))
        except (VirtError, MonitorClosed):
            running = False
        before = (guest.state, guest.reason)
        if running:
            guest.set_state(DomainState.RUNNING, DomainRunningReason.POSTCOPY_FAILED)
        else:
            guest.set_state(DomainState.PAUSED, DomainPausedReason.POSTCOPY_FAILED)
        host.write_status(guest)
        if before != (guest.state, guest.reason):
            log.error("post-copy migration of '%s' failed after the switch: the guest stays here, blocked on the "
                      "pages still on the source, until the migration is resumed", guest.name)
            if running:
                host.emit(guest, Event.RESUMED, Resumed.POSTCOPY_FAILED)
            elif not guest.incoming:  # a guest never started here gets no event before it starts
                host.emit(guest, Event.SUSPENDED, Suspended.POSTCOPY_FAILED)
    return True


def mark_source_postcopy(host: "QemuHost", guest: "Guest") -> None:
    """Source after the switch to post-copy (or a resumed one): PAUSED/POSTCOPY and SUSPENDED_POSTCOPY, as libvirt.

    QEMU's STOP may have been turned into PAUSED/MIGRATION (SUSPENDED_MIGRATED) before QEMU reported the switch,
    or not be handled yet: the reason is corrected with its own event either way, once (caller holds guest.lock).
    """
    if not guest.active or guest.state not in (DomainState.PAUSED, DomainState.RUNNING):
        return
    if guest.state == DomainState.PAUSED and guest.reason == DomainPausedReason.POSTCOPY:
        return
    guest.set_state(DomainState.PAUSED, DomainPausedReason.POSTCOPY)  # QEMU's vCPUs are stopped in post-copy
    host.write_status(guest)
    host.emit(guest, Event.SUSPENDED, Suspended.POSTCOPY)


def mark_destination_recovered(host: "QemuHost", guest: "Guest") -> None:
    """Destination whose failed post-copy is resumed: RUNNING/POSTCOPY again, with RESUMED_POSTCOPY as libvirt."""
    if guest.active and guest.state == DomainState.RUNNING and guest.reason != DomainRunningReason.POSTCOPY:
        guest.set_state(DomainState.RUNNING, DomainRunningReason.POSTCOPY)
        host.write_status(guest)
        host.emit(guest, Event.RESUMED, Resumed.POSTCOPY)


def bytes_read(pid: Optional[int]) -> int:
    """Bytes a process has read so far (``rchar`` of /proc/PID/io): the incoming side's only progress figure."""
    if pid is None:
        return 0
    try:
        with open(f"/proc/{pid}/io") as io:
            for line in io:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def new_log_lines(path: Optional[Any]) -> Callable[[], Optional[str]]:
    """A function returning what QEMU wrote to its log since now (its last line, without the program name).

    QEMU 7.2 reports a resume that cannot connect only there.
    """
    try:
        start = os.path.getsize(path) if path is not None else 0
    except OSError:
        start = 0

    def read() -> Optional[str]:
        if path is None:
            return None
        try:
            with open(path, "rb") as log_file:
                log_file.seek(start)
                text = log_file.read(64 << 10).decode(errors="replace")
        except OSError:
            return None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            return None
        match = re.search(r"qemu-system-[^:\s]*: (.*)$", lines[-1])  # after QEMU's timestamp and name
        return match.group(1) if match else lines[-1]
    return read
