"""The ``event`` command: wait for domain events and print them like virsh."""

from __future__ import annotations

import queue
import threading
import time
from datetime import datetime, timezone
from typing import Any

from ..enums import DomainEventID, DomainEventType
from .errors import CliError
from .parse import Arguments
from .progress import interrupt_to
from .session import Session
from .table import Complete, Option, OptType, command, flag

EVENT_NAMES: dict[str, int] = {
    "lifecycle": DomainEventID.LIFECYCLE, "reboot": DomainEventID.REBOOT, "rtc-change": DomainEventID.RTC_CHANGE,
    "watchdog": DomainEventID.WATCHDOG, "io-error": DomainEventID.IO_ERROR, "graphics": DomainEventID.GRAPHICS,
    "io-error-reason": DomainEventID.IO_ERROR_REASON, "control-error": DomainEventID.CONTROL_ERROR,
    "block-job": DomainEventID.BLOCK_JOB, "disk-change": DomainEventID.DISK_CHANGE,
    "tray-change": DomainEventID.TRAY_CHANGE, "pm-wakeup": DomainEventID.PMWAKEUP,
    "pm-suspend": DomainEventID.PMSUSPEND, "balloon-change": DomainEventID.BALLOON_CHANGE,
    "pm-suspend-disk": DomainEventID.PMSUSPEND_DISK, "device-removed": DomainEventID.DEVICE_REMOVED,
    "block-job-2": DomainEventID.BLOCK_JOB_2, "tunable": DomainEventID.TUNABLE,
    "agent-lifecycle": DomainEventID.AGENT_LIFECYCLE, "device-added": DomainEventID.DEVICE_ADDED,
    "migration-iteration": DomainEventID.MIGRATION_ITERATION, "job-completed": DomainEventID.JOB_COMPLETED,
    "device-removal-failed": DomainEventID.DEVICE_REMOVAL_FAILED,
    "metadata-change": DomainEventID.METADATA_CHANGE, "block-threshold": DomainEventID.BLOCK_THRESHOLD,
    "memory-failure": DomainEventID.MEMORY_FAILURE,
    "memory-device-size-change": DomainEventID.MEMORY_DEVICE_SIZE_CHANGE,
}

LIFECYCLE_NAMES: dict[int, tuple[str, tuple[str, ...]]] = {
    DomainEventType.DEFINED: ("Defined", ("Added", "Updated", "Renamed", "Snapshot")),
    DomainEventType.UNDEFINED: ("Undefined", ("Removed", "Renamed")),
    DomainEventType.STARTED: ("Started", ("Booted", "Migrated", "Restored", "Snapshot", "Event wakeup",
                                          "Recreated")),
    DomainEventType.SUSPENDED: ("Suspended", ("Paused", "Migrated", "I/O Error", "Watchdog", "Restored", "Snapshot",
                                              "API error", "Post-copy", "Post-copy Error")),
    DomainEventType.RESUMED: ("Resumed", ("Unpaused", "Migrated", "Snapshot", "Post-copy", "Post-copy Error")),
    DomainEventType.STOPPED: ("Stopped", ("Shutdown", "Destroyed", "Crashed", "Migrated", "Saved", "Failed",
                                          "Snapshot")),
    DomainEventType.SHUTDOWN: ("Shutdown", ("Finished", "Finished after guest request",
                                            "Finished after host request")),
    DomainEventType.PMSUSPENDED: ("PMSuspended", ("Memory", "Disk")),
    DomainEventType.CRASHED: ("Crashed", ("Panicked", "Crashed")),
}
WATCHDOG_ACTIONS = ("none", "pause", "reset", "poweroff", "shutdown", "debug", "inject-nmi")
IO_ERROR_ACTIONS = ("none", "pause", "report")


def lifecycle_text(event: int, detail: int) -> str:
    """``Stopped Destroyed`` for a lifecycle event and its detail."""
    name, details = LIFECYCLE_NAMES.get(event, ("unknown", ()))
    return f"{name} {details[detail] if 0 <= detail < len(details) else 'unknown'}"


def event_text(name: str, domain: str, values: tuple[Any, ...]) -> str:
    """One event as virsh prints it (possibly several lines, each ending in a newline)."""
    head = f"event '{name}' for domain '{domain}'"
    if name == "lifecycle" and len(values) >= 2:
        return f"{head}: {lifecycle_text(values[0], values[1])}\n"
    if name in ("reboot", "pm-wakeup", "pm-suspend", "pm-suspend-disk", "control-error") or not values:
        return f"{head}\n"
    if name == "rtc-change":
        return f"{head}: {values[0]}\n"
    if name == "watchdog":
        action = values[0]
        return f"{head}: {WATCHDOG_ACTIONS[action] if 0 <= action < len(WATCHDOG_ACTIONS) else action}\n"
    if name == "io-error" and len(values) >= 3:
        action = values[2]
        shown = IO_ERROR_ACTIONS[action] if 0 <= action < len(IO_ERROR_ACTIONS) else action
        return f"{head}: {values[0]} ({values[1]}) {shown}\n"
    if name == "migration-iteration":
        return f"{head}: iteration: '{values[0]}'\n"
    if name in ("job-completed", "tunable") and isinstance(values[0], dict):
        return f"{head}:\n" + "".join(f"\t{key}: {value}\n" for key, value in values[0].items())
    if name == "metadata-change" and len(values) >= 2:
        return f"{head}: type {values[0]}, uri {values[1]}\n"
    return f"{head}: {' '.join(str(v) for v in values)}\n"


def _timestamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000: "


@command("event", "Domain Events",
         Option("domain", OptType.STRING, "filter by domain name, id or uuid", complete=Complete.DOMAIN),
         Option("event", OptType.STRING, "which event type to wait for", complete=Complete.EVENT),
         flag("all", "wait for all events instead of just one type"),
         flag("loop", "loop until timeout or interrupt, rather than one-shot"),
         Option("timeout", OptType.NUMBER, "timeout seconds", positional=False),
         flag("list", "list valid event types"), flag("timestamp", "show timestamp for each printed event"),
         description="List event types, or wait for domain events to occur")
def cmd_event(session: Session, args: Arguments) -> None:
    """List event types, or wait for domain events to occur."""
    if args.flag("list"):
        for name in EVENT_NAMES:
            session.line(name)
        return
    if args.flag("all") and args.has("event"):
        raise CliError("Options --all and --event are mutually exclusive")
    if not args.flag("all") and not args.has("event"):
        raise CliError("one of --list, --all, or --event <type> is required")
    names = list(EVENT_NAMES)
    if args.has("event"):
        name = args.string("event")
        if name not in EVENT_NAMES:
            raise CliError(f"unknown event type {name}")
        names = [name]
    timeout = args.number("timeout", minimum=1)
    dom = session.domain(args.string("domain")) if args.has("domain") else None
    conn = session.conn
    received: "queue.Queue[tuple[str, str, tuple[Any, ...]]]" = queue.Queue()

    def listener(name: str):  # noqa: ANN202 - an event callback
        def deliver(_conn: Any, domain: Any, *rest: Any) -> None:
            received.put((name, domain.name, tuple(rest[:-1])))
        return deliver

    callback_ids = [conn.domain_event_register_any(dom, EVENT_NAMES[name], listener(name)) for name in names]
    interrupted = threading.Event()
    count = 0
    try:
        deadline = time.monotonic() + timeout if timeout else None
        with interrupt_to(interrupted):
            while True:
                if interrupted.is_set():
                    session.line("event loop interrupted")
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    session.line("event loop timed out")
                    break
                try:
                    name, domain, values = received.get(timeout=0.05)
                except queue.Empty:
                    continue
                prefix = _timestamp() if args.flag("timestamp") else ""
                session.write(prefix + event_text(name, domain, values))
                session.stdout.flush()
                count += 1
                if not args.flag("loop"):
                    break
    finally:
        for callback_id in callback_ids:
            conn.domain_event_deregister_any(callback_id)
    session.line(f"events received: {count}")

