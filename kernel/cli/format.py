"""virsh's output layouts: tables, cpu maps, byte sizes, state and reason names."""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from ..enums import (DomainBlockedReason, DomainCrashedReason, DomainNostateReason, DomainPausedReason,
                     DomainPMSuspendedReason, DomainRunningReason, DomainShutdownReason, DomainShutoffReason,
                     DomainState)
from .session import Session

STATE_NAMES: dict[int, str] = {
    DomainState.NOSTATE: "no state", DomainState.RUNNING: "running", DomainState.BLOCKED: "idle",
    DomainState.PAUSED: "paused", DomainState.SHUTDOWN: "in shutdown", DomainState.SHUTOFF: "shut off",
    DomainState.CRASHED: "crashed", DomainState.PMSUSPENDED: "pmsuspended",
}

# reason names per state, as virsh prints them after the state with --reason
REASON_NAMES: dict[int, dict[int, str]] = {
    DomainState.NOSTATE: {DomainNostateReason.UNKNOWN: "unknown"},
    DomainState.RUNNING: {
        DomainRunningReason.UNKNOWN: "unknown", DomainRunningReason.BOOTED: "booted",
        DomainRunningReason.MIGRATED: "migrated", DomainRunningReason.RESTORED: "restored",
        DomainRunningReason.FROM_SNAPSHOT: "from snapshot", DomainRunningReason.UNPAUSED: "unpaused",
        DomainRunningReason.MIGRATION_CANCELED: "migration canceled",
        DomainRunningReason.SAVE_CANCELED: "save canceled", DomainRunningReason.WAKEUP: "event wakeup",
        DomainRunningReason.CRASHED: "crashed", DomainRunningReason.POSTCOPY: "post-copy",
        DomainRunningReason.POSTCOPY_FAILED: "post-copy failed",
    },
    DomainState.BLOCKED: {DomainBlockedReason.UNKNOWN: "unknown"},
    DomainState.PAUSED: {
        DomainPausedReason.UNKNOWN: "unknown", DomainPausedReason.USER: "user",
        DomainPausedReason.MIGRATION: "migrating", DomainPausedReason.SAVE: "saving",
        DomainPausedReason.DUMP: "dumping", DomainPausedReason.IOERROR: "I/O error",
        DomainPausedReason.WATCHDOG: "watchdog", DomainPausedReason.FROM_SNAPSHOT: "from snapshot",
        DomainPausedReason.SHUTTING_DOWN: "shutting down", DomainPausedReason.SNAPSHOT: "creating snapshot",
        DomainPausedReason.CRASHED: "crashed", DomainPausedReason.STARTING_UP: "starting up",
        DomainPausedReason.POSTCOPY: "post-copy", DomainPausedReason.POSTCOPY_FAILED: "post-copy failed",
    },
    DomainState.SHUTDOWN: {DomainShutdownReason.UNKNOWN: "unknown", DomainShutdownReason.USER: "user"},
    DomainState.SHUTOFF: {
        DomainShutoffReason.UNKNOWN: "unknown", DomainShutoffReason.SHUTDOWN: "shutdown",
        DomainShutoffReason.DESTROYED: "destroyed", DomainShutoffReason.CRASHED: "crashed",
        DomainShutoffReason.MIGRATED: "migrated", DomainShutoffReason.SAVED: "saved",
        DomainShutoffReason.FAILED: "failed", DomainShutoffReason.FROM_SNAPSHOT: "from snapshot",
        DomainShutoffReason.DAEMON: "daemon",
    },
    DomainState.CRASHED: {DomainCrashedReason.UNKNOWN: "unknown", DomainCrashedReason.PANICKED: "panicked"},
    DomainState.PMSUSPENDED: {DomainPMSuspendedReason.UNKNOWN: "unknown"},
}


def state_name(state: int) -> str:
    """virsh's word for a domain state."""
    return STATE_NAMES.get(state, "no state")


def reason_name(state: int, reason: int) -> str:
    """virsh's word for a state reason."""
    return REASON_NAMES.get(state, {}).get(reason, "unknown")


def print_table(session: Session, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """virsh's table: a header and a dash line (both hidden by --quiet), cells three spaces apart."""
    rows = [list(r) for r in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def render(cells: Sequence[str]) -> str:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        return " " + "   ".join([*padded, cells[-1]]) + "\n"

    if not session.options.quiet:
        session.write(render(headers))
        session.write("-" * (sum(widths) + 3 * len(widths)) + "\n")
    for row in rows:
        session.write(render(row))


def cpu_list(cpumap: Sequence[bool]) -> str:
    """A cpu map as ranges: 0-3,6."""
    parts: list[str] = []
    i = 0
    while i < len(cpumap):
        if cpumap[i]:
            j = i
            while j + 1 < len(cpumap) and cpumap[j + 1]:
                j += 1
            parts.append(str(i) if i == j else f"{i}-{j}")
            i = j + 1
        else:
            i += 1
    return ",".join(parts)


def parse_cpu_list(text: str, ncpus: int) -> list[bool]:
    """A cpu list (0-3,^2,r for all) as a map of ``ncpus`` entries; ValueError when malformed or too high."""
    cpumap = [False] * ncpus
    text = text.strip()
    if text == "r":
        return [True] * ncpus
    if not text:
        raise ValueError("empty cpulist")
    for part in text.split(","):
        part = part.strip()
        negate = part.startswith("^")
        if negate:
            part = part[1:]
        first_text, dash, last_text = part.partition("-")
        first = int(first_text, 10)
        last = int(last_text, 10) if dash else first
        if first < 0 or last < first:
            raise ValueError(part)
        for cpu in range(first, last + 1):
            if cpu >= ncpus:
                raise ValueError(part)
            cpumap[cpu] = not negate
    return cpumap


def print_json(session: Session, value: Any) -> None:
    """Machine-readable output (the --json additions)."""
    session.write(json.dumps(value, indent=2, sort_keys=False) + "\n")


def human_size(value: float) -> str:
    """Bytes in the largest binary unit that keeps the number above 1 (virsh's --human)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    index = 0
    while value >= 1024 and index < len(units) - 1:
        value /= 1024
        index += 1
    return f"{value:.3f} {units[index]}"


def typed_value(value: Any) -> str:
    """A typed parameter's value as virsh prints it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)
