"""Storage migration over NBD: the destination serves its pre-created disks, the source mirrors into them.

Destination (Prepare): `precreate_disk` makes each disk file at the size the cookie lists (refusing an
existing file that is too small, and never touching one it did not create); once its QEMU runs,
`NbdServer.start` listens (tcp host:port, or a unix socket next to a unix migration socket) and exports
each disk's block node writable.  Finish stops the server.
Source (Perform): `DiskMirrors.start` attaches an NBD client node per disk and starts ``blockdev-mirror``
into it; `wait_ready` returns once every mirror is in steady state (BLOCK_JOB_READY); after the memory
has moved (guest paused) `complete` ends each mirror with ``block-job-cancel`` on a ready job, which
leaves source and target identical; on failure `cancel` stops them with force.  Either way the NBD client
nodes are removed.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import OperationFailed, VirtError

from .migration_qmp import MigrationAborted, MigrationFailed
from .monitor import Monitor, MonitorClosed, MonitorTimeout, QMPCommandError

__all__ = ["NbdEndpoint", "NbdServer", "DiskMirrors", "MirrorSpec", "precreate_disk", "disk_size", "export_name"]


def export_name(target: str) -> str:
    """The NBD export name of a disk (its target, e.g. 'vda')."""
    return f"migrate-{target}"


@dataclass(frozen=True)
class NbdEndpoint:
    """Where the destination's NBD server listens: tcp host and port, or a unix socket path."""

    host: Optional[str] = None
    port: Optional[int] = None
    path: Optional[str] = None

    def legacy_address(self) -> dict:
        """The address in ``nbd-server-start``'s form."""
        if self.path is not None:
            return {"type": "unix", "data": {"path": self.path}}
        return {"type": "inet", "data": {"host": self.host, "port": str(self.port)}}

    def client_server(self) -> dict:
        """The address in the nbd block driver's ``server`` form."""
        if self.path is not None:
            return {"type": "unix", "path": self.path}
        return {"type": "inet", "host": self.host, "port": str(self.port)}


def disk_size(path: str | Path) -> int:
    """Virtual size in bytes of a disk image (qemu-img for non-raw formats, st_size otherwise)."""
    path = Path(path)
    with open(path, "rb") as image:
        magic = image.read(4)
    if magic == b"QFI\xfb":
        out = subprocess.run(["qemu-img", "info", "--output=json", str(path)], capture_output=True, check=True)
        import json
        return int(json.loads(out.stdout)["virtual-size"])
    return path.stat().st_size


def precreate_disk(path: str | Path, capacity: int, fmt: str = "raw") -> bool:
    """Make a disk for an incoming storage migration; True when created (False: a big enough one existed).

    An existing disk smaller than ``capacity`` is refused and left alone.
    """
    path = Path(path)
    if path.exists():
        size = disk_size(path)
        if size < capacity:
            raise OperationFailed(f"disk '{path}' on the destination is too small for the incoming storage "
                                  f"migration: {size} bytes, the source disk has {capacity}",
                                  code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.QEMU)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "raw":
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, capacity)
        finally:
            os.close(fd)
    else:
        finished = subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(path), str(capacity)],
                                  capture_output=True)
        if finished.returncode:
            raise OperationFailed(f"cannot create disk '{path}' for the incoming migration: "
                                  f"{finished.stderr.decode(errors='replace').strip()}",
                                  code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.QEMU)
    return True


class NbdServer:
    """The destination QEMU's NBD server with one writable export per incoming disk."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.running = False

    def start(self, endpoint: NbdEndpoint, nodes: dict[str, str]) -> None:
        """Listen at ``endpoint`` and export each {target: block node name} writable."""
        self.monitor.execute("nbd-server-start", {"addr": endpoint.legacy_address()})
        self.running = True
        for target, node in nodes.items():
            if _has(self.monitor, "block-export-add"):
                self.monitor.execute("block-export-add", {"type": "nbd", "id": export_name(target),
                                                          "node-name": node, "name": export_name(target),
                                                          "writable": True})
            else:
                self.monitor.execute("nbd-server-add", {"device": node, "name": export_name(target),
                                                        "writable": True})

    def stop(self) -> None:
        """Stop serving (exports go with the server); a QEMU that is gone counts as stopped."""
        if not self.running:
            return
        self.running = False
        try:
            self.monitor.execute("nbd-server-stop")
        except (QMPCommandError, MonitorClosed):
            pass


def _has(monitor: Monitor, command: str) -> bool:
    cache = monitor.__dict__.setdefault("_vk_commands", None)
    if cache is None:
        cache = {c["name"] for c in monitor.execute("query-commands")}
        monitor.__dict__["_vk_commands"] = cache
    return command in cache


@dataclass(frozen=True)
class MirrorSpec:
    """One disk to mirror: its target name and the source QEMU's block node."""

    target: str
    node: str


class DiskMirrors:
    """The source QEMU's mirror jobs into the destination's NBD exports."""

    def __init__(self, monitor: Monitor, *, incremental: bool = False) -> None:
        self.monitor = monitor
        self.sync = "top" if incremental else "full"
        self.jobs: dict[str, str] = {}     # job id -> NBD client node
        self._events = monitor.expect_event(("BLOCK_JOB_READY", "BLOCK_JOB_ERROR", "BLOCK_JOB_COMPLETED",
                                             "BLOCK_JOB_CANCELLED"))

    @staticmethod
    def job_id(target: str) -> str:
        """The mirror job's id for a disk."""
        return f"migrate-{target}"

    def start(self, endpoint: NbdEndpoint, disks: list[MirrorSpec], bandwidth_bytes: Optional[int] = None) -> None:
        """Attach an NBD client per disk and start mirroring into it."""
        for disk in disks:
            node = f"migrate-nbd-{disk.target}"
            self.monitor.execute("blockdev-add", {"driver": "nbd", "node-name": node,
                                                  "server": endpoint.client_server(),
                                                  "export": export_name(disk.target)})
            job = self.job_id(disk.target)
            self.jobs[job] = node
            arguments = {"job-id": job, "device": disk.node, "target": node, "sync": self.sync,
                         "auto-dismiss": True}
            if bandwidth_bytes:
                arguments["speed"] = bandwidth_bytes
            try:
                self.monitor.execute("blockdev-mirror", arguments)
            except QMPCommandError as exc:
                del self.jobs[job]
                self._delete_node(node)
                raise MigrationFailed(f"cannot mirror disk '{disk.target}' to the destination: {exc.desc}") from None

    def progress(self) -> tuple[int, int]:
        """(bytes copied, bytes in total) over all mirrors."""
        done = total = 0
        try:
            jobs = self.monitor.execute("query-block-jobs")
        except MonitorClosed:
            return 0, 0
        for job in jobs:
            if job.get("device") in self.jobs:
                done += int(job.get("offset", 0))
                total += int(job.get("len", 0))
        return done, total

    def wait_ready(self, abort_requested: Callable[[], bool] = lambda: False, timeout: float = 600.0,
                   on_progress: Callable[[tuple[int, int]], None] = lambda p: None) -> None:
        """Return once every mirror is in steady state; raise if one fails, QEMU exits or the caller aborts."""
        deadline = time.monotonic() + timeout
        ready: set[str] = set()
        for job in self.monitor.execute("query-block-jobs"):
            if job.get("device") in self.jobs and job.get("ready"):
                ready.add(job["device"])
        while ready != set(self.jobs):
            if abort_requested():
                raise MigrationAborted(f"storage migration of guest '{self.monitor.guest}' was cancelled")
            if time.monotonic() > deadline:
                raise MigrationFailed(f"disks of guest '{self.monitor.guest}' did not reach the destination "
                                      f"within {timeout} s")
            try:
                event = self._events.wait(0.05)
            except MonitorTimeout:
                on_progress(self.progress())
                continue
            except MonitorClosed:
                raise MigrationFailed(f"the QEMU of guest '{self.monitor.guest}' exited during storage "
                                      "migration") from None
            job = event.data.get("device")
            if job not in self.jobs:
                continue
            if event.name == "BLOCK_JOB_READY":
                ready.add(job)
            else:
                reason = event.data.get("error") or event.data.get("operation") or "the job ended early"
                self.jobs.pop(job, None)
                raise MigrationFailed(f"mirroring disk '{job.removeprefix('migrate-')}' of guest "
                                      f"'{self.monitor.guest}' to the destination failed: {reason}")

    def complete(self, timeout: float = 60.0) -> None:
        """End every ready mirror leaving both copies identical (the guest must be paused), then detach."""
        self._end(force=False, timeout=timeout)

    def cancel(self, timeout: float = 30.0) -> None:
        """Stop every mirror at once (migration failed); never raises."""
        try:
            self._end(force=True, timeout=timeout)
        except VirtError:
            pass

    def _end(self, force: bool, timeout: float) -> None:
        pending = set(self.jobs)
        for job in list(pending):
            try:
                self.monitor.execute("block-job-cancel", {"device": job, "force": force})
            except QMPCommandError:
                pending.discard(job)  # already gone
            except MonitorClosed:
                pending.clear()
        deadline = time.monotonic() + timeout
        error = None
        while pending and time.monotonic() < deadline:
            try:
                event = self._events.wait(max(deadline - time.monotonic(), 0.001))
            except (MonitorTimeout, MonitorClosed):
                break
            job = event.data.get("device")
            if event.name in ("BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED") and job in pending:
                pending.discard(job)
                if not force and (event.name == "BLOCK_JOB_CANCELLED" or event.data.get("error")):
                    error = f"mirror of disk '{job.removeprefix('migrate-')}' did not complete"
        for job, node in list(self.jobs.items()):
            self._delete_node(node)
            del self.jobs[job]
        self._events.cancel()
        if error is not None and not force:
            raise MigrationFailed(f"storage migration of guest '{self.monitor.guest}': {error}")
        if pending and not force:
            raise MigrationFailed(f"storage migration of guest '{self.monitor.guest}': mirrors "
                                  f"{', '.join(sorted(pending))} did not finish within {timeout} s")

    def _delete_node(self, node: str) -> None:
        for _ in range(50):  # the node stays busy for a moment after its job has gone
            try:
                self.monitor.execute("blockdev-del", {"node-name": node})
                return
            except QMPCommandError as exc:
                if "not found" in exc.desc.lower() or "cannot find" in exc.desc.lower():
                    return
                time.sleep(0.01)
            except MonitorClosed:
                return
