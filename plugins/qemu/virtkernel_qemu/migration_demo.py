"""The migration step of the main job (`./dev demo`): live-migrate the demo guest to a second embedded host.

`migrate_demo(conn, dom, root, serial, say)` opens ``qemu:///embed?root=ROOT/host-b``, prints the negotiated
plan, migrates ``dom`` there with ``migrate3`` while a thread prints the job's progress, then shows the guest
still running on the destination (its serial output keeps growing) and returns the domain there.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import virtkernel
from virtkernel.enums import DomainGetJobStatsFlags, DomainMigrateFlags as M, DomainState
from virtkernel.errors import VirtError

__all__ = ["migrate_demo"]


def _progress(dom, say: Callable[[str], None], done: threading.Event) -> None:
    last = None
    while not done.wait(0.05):
        try:
            _kind, stats = dom.get_job_stats(0)
        except VirtError:
            continue
        total, remaining = stats.get("data_total"), stats.get("data_remaining")
        if total and remaining is not None:
            line = (f"    pass {stats.get('memory_iteration', 0)}: {(total - remaining) * 100 // total:3d} % of "
                    f"{total >> 20} MiB, {stats.get('memory_bps', 0) >> 20} MiB/s")
            if line != last:
                say(line)
                last = line


def migrate_demo(conn, dom, root: str | Path, serial: str | Path, say: Callable[[str], None] = print):
    """Live-migrate `dom` from `conn` to a second embedded host under ROOT/host-b; the domain there."""
    destination = virtkernel.open(f"qemu:///embed?root={Path(root) / 'host-b'}")
    plan = virtkernel.migration.plan(dom, destination, int(M.LIVE), {})
    say(plan.describe())
    done = threading.Event()
    watcher = threading.Thread(target=_progress, args=(dom, say, done), daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        moved = dom.migrate3(destination, {}, int(M.LIVE))
    finally:
        done.set()
        watcher.join()
    _kind, stats = moved.get_job_stats(int(DomainGetJobStatsFlags.COMPLETED))
    say(f"  migrated in {(time.monotonic() - started) * 1000:.0f} ms (QEMU: {stats.get('time_elapsed')} ms, "
        f"downtime {stats.get('downtime')} ms, {stats.get('memory_iteration')} passes)")
    before = Path(serial).read_text(errors="replace").count("B")
    time.sleep(1.0)
    after = Path(serial).read_text(errors="replace").count("B")
    state = "running" if moved.get_state()[0] == DomainState.RUNNING else "not running"
    say(f"  on {destination.get_uri()}: {moved.name} is {state}; its serial output grew by {after - before} "
        "passes in the last second")
    return destination, moved
