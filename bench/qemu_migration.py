"""Live migration through virtkernel's qemu driver against a minimal bare-QMP script (the floor), in one run.

Run:  .venv/bin/python bench/qemu_migration.py [--rounds 10] [--memory 150] [--accel tcg|kvm] [--big]
          [--guests idle,dirtying] [--transports unix,tcp] [--only bare|virtkernel] [--profile]

Every case migrates one guest back and forth between two "hosts" (two qemu:///embed roots for virtkernel;
two QEMU processes for the bare script), so only the first round boots a guest:

* guest  idle      a boot sector that halts (nothing dirties memory)
         dirtying  the test guest of plugins/qemu/tests/guest.py: one byte in every 4 KiB page of
                   1-100 MiB incremented in a loop (it re-dirties 99 MiB per pass)
* transport unix socket, or tcp on 127.0.0.1
* variant  bare        a script that starts the destination QEMU with -incoming defer, sets the
                       "events" capability and max-bandwidth like the driver does, migrate-incoming,
                       migrate, waits for "completed" (and for total-time/downtime), cont, quits the source
           virtkernel  dom.migrate3(dest_conn, {migrate_uri}, VIR_MIGRATE_LIVE) between two embedded hosts

Both variants run the same guest (no balloon: the bare QEMU has none) and switch on the same migration
capabilities ("events"; the driver also switches off the ones QEMU has off anyway) with unlimited bandwidth.
Rounds alternate between the variants; while one migrates, the other's guest is paused (a dirtying guest
keeps one of the machine's two CPUs busy, which the migration being measured would otherwise compete with).

Reported per case, medians of ROUNDS: total (wall time of the whole operation: destination QEMU start to
guest running there and the source gone), setup (operation start until the source QEMU announced the
migration's "setup" state), QEMU's own downtime and total-time (read once QEMU has computed them: it reports
"completed" a moment before, with both still 0), and pause: what the guest saw, from the source QEMU's STOP
event to the destination QEMU's RESUME event (QEMU's timestamps, one clock).  --big adds a 1 GiB dirtying
guest.  Nothing is asserted; the target (issue 8) is total within 1.1x of bare and downtime no worse.
--profile prints, for one migration of each variant, every QMP command and driver phase on a time line.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "plugins" / "qemu"))
sys.path.insert(0, str(HERE.parent / "plugins" / "qemu" / "tests"))

from guest import write_disk_image  # noqa: E402
from virtkernel_qemu.migration_settings import MiB, UNLIMITED_BANDWIDTH_MIB  # noqa: E402
from virtkernel_qemu.monitor import Monitor, MonitorEvent, listening_socket  # noqa: E402
from virtkernel_qemu.process import ProcessFiles, QemuProcess, spawn  # noqa: E402

QEMU = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"


def idle_disk(path: Path) -> Path:
    """A raw disk whose boot sector only halts (cli; hlt; jmp $-1)."""
    sector = bytes([0xFA, 0xF4, 0xEB, 0xFD]) + bytes(506) + b"\x55\xaa"
    with open(path, "wb") as image:
        image.write(sector)
        image.truncate(1 << 20)
    return path


@dataclass
class Sample:
    """One migration's figures (milliseconds)."""

    total: float
    setup: float
    downtime: float
    qemu_total: float
    pause: float


@dataclass
class Case:
    """A guest kind x transport x memory size."""

    guest: str
    transport: str
    memory_mib: int
    results: dict[str, list[Sample]] = field(default_factory=dict)


# -------------------------------------------------------------------------------------------- QEMU's clock

class QemuClock:
    """QEMU's own timestamps of STOP, RESUME and MIGRATION "setup" on every monitor this process connects."""

    def __init__(self) -> None:
        self._events: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self.observers: list[Callable[[Monitor, MonitorEvent], None]] = []
        connect = Monitor.connect.__func__
        clock = self

        def connect_and_watch(cls, *args, **kwargs):  # both variants connect through Monitor.connect
            monitor = connect(cls, *args, **kwargs)
            monitor.add_event_handler(lambda event: clock._record(monitor, event))
            return monitor

        Monitor.connect = classmethod(connect_and_watch)

    def _record(self, monitor: Monitor, event: MonitorEvent) -> None:
        for observer in self.observers:
            observer(monitor, event)
        if event.name == "MIGRATION":
            if event.data.get("status") != "setup":
                return
            name = "SETUP"
        elif event.name in ("STOP", "RESUME"):
            name = event.name
        else:
            return
        with self._lock:
            self._events.append((event.timestamp, name))

    def _first(self, name: str, after: float) -> Optional[float]:
        with self._lock:
            return next((stamp for stamp, what in self._events if what == name and stamp >= after), None)

    def setup_ms(self, started: float) -> float:
        """Milliseconds from `started` (time.time()) to the source's "setup" state."""
        stamp = self._wait_for("SETUP", started)
        return (stamp - started) * 1000 if stamp is not None else math.nan

    def pause_ms(self, started: float) -> float:
        """Milliseconds the guest was paused: first STOP after `started` to the first RESUME after that."""
        stopped = self._wait_for("STOP", started)
        resumed = self._wait_for("RESUME", stopped) if stopped is not None else None
        return (resumed - stopped) * 1000 if resumed is not None else math.nan

    def _wait_for(self, name: str, after: float, timeout: float = 2.0) -> Optional[float]:
        deadline = time.monotonic() + timeout  # events reach handlers on the monitors' dispatch thread
        while (stamp := self._first(name, after)) is None and time.monotonic() < deadline:
            time.sleep(0.001)
        return stamp


CLOCK: Optional[QemuClock] = None


def clock() -> QemuClock:
    """The process's QemuClock (installed before the first QEMU starts)."""
    global CLOCK
    if CLOCK is None:
        CLOCK = QemuClock()
    return CLOCK


def final_figures(monitor: Monitor) -> dict:
    """The source's query-migrate once QEMU has computed total-time and downtime (0 just after "completed")."""
    info = monitor.execute("query-migrate")
    while not info.get("total-time"):
        time.sleep(0.001)
        info = monitor.execute("query-migrate")
    return info


# -------------------------------------------------------------------------------------------- bare QMP

class BareHost:
    """A directory standing for one host in the bare script."""

    def __init__(self, root: Path, name: str) -> None:
        self.dir = root / name
        self.dir.mkdir()
        self.process: Optional[QemuProcess] = None
        self.monitor: Optional[Monitor] = None

    def start(self, argv_tail: list[str], disk: Path, accel: str, memory: int, incoming: bool) -> None:
        qmp = self.dir / "q.qmp"
        listener = listening_socket(qmp)
        argv = [QEMU, "-nodefaults", "-no-user-config", "-machine", "pc", "-accel", accel, "-m", str(memory),
                "-display", "none", "-blockdev",
                f'{{"driver":"file","filename":"{disk}","node-name":"disk0","locking":"off"}}',
                "-device", "ide-hd,drive=disk0,bus=ide.0,bootindex=1", "-serial", "null",
                "-chardev", "socket,id=m,fd=3,server=on,wait=off", "-mon", "chardev=m,mode=control",
                *argv_tail]
        if incoming:
            argv += ["-incoming", "defer", "-S"]
        try:
            self.process = spawn(argv, ProcessFiles(self.dir, "guest"), pass_fds={3: listener.fileno()},
                                 tied_to_caller=True)
        finally:
            listener.close()
        self.monitor = Monitor.connect(qmp, "bench", alive=self.process.is_running)

    def stop(self) -> None:
        if self.monitor is not None:
            self.monitor.close()
        if self.process is not None and self.process.is_running():
            self.process.kill()
        self.monitor = self.process = None


def bare_migrate(source: BareHost, dest: BareHost, disk: Path, accel: str, memory: int, transport: str,
                 port: int) -> Sample:
    """The floor: the fewest QMP steps that move a running guest to a fresh QEMU and let it run there."""
    started = time.time()
    t0 = time.monotonic()
    dest.start([], disk, accel, memory, incoming=True)
    events = [{"capability": "events", "state": True}]
    dest.monitor.execute("migrate-set-capabilities", {"capabilities": events})
    if transport == "unix":
        listen = connect = f"unix:{dest.dir / 'mig.sock'}"
    else:
        listen, connect = f"tcp:0.0.0.0:{port}", f"tcp:127.0.0.1:{port}"
    dest.monitor.execute("migrate-incoming", {"uri": listen})
    source.monitor.execute("migrate-set-capabilities", {"capabilities": events})
    source.monitor.execute("migrate-set-parameters", {"max-bandwidth": UNLIMITED_BANDWIDTH_MIB * MiB})
    done = ("completed", "failed", "cancelled")
    with source.monitor.expect_event("MIGRATION", lambda e: e.data["status"] in done) as finished, \
            dest.monitor.expect_event("MIGRATION", lambda e: e.data["status"] == "completed") as arrived:
        source.monitor.execute("migrate", {"uri": connect})
        status = finished.wait(120).data["status"]
        if status != "completed":
            raise RuntimeError(f"bare migration {status}")
        info = final_figures(source.monitor)
        arrived.wait(30)
    dest.monitor.execute("cont")
    source.stop()
    total = (time.monotonic() - t0) * 1000
    return Sample(total, clock().setup_ms(started), info["downtime"], info["total-time"], clock().pause_ms(started))


class BareRunner:
    """The bare-QMP floor for one case: two host directories, one guest going back and forth."""

    def __init__(self, case: Case, accel: str, scratch: Path) -> None:
        self.case, self.accel = case, accel
        self.root = Path(tempfile.mkdtemp(prefix="bare-", dir=scratch))
        self.disk = write_disk_image(self.root / "disk.img") if case.guest == "dirtying" \
            else idle_disk(self.root / "disk.img")
        self.hosts = [BareHost(self.root, "a"), BareHost(self.root, "b")]
        self.hosts[0].start([], self.disk, accel, case.memory_mib, incoming=False)
        self.running = self.hosts[0]

    def once(self, index: int) -> Sample:
        source, dest = self.hosts[index % 2], self.hosts[(index + 1) % 2]
        sample = bare_migrate(source, dest, self.disk, self.accel, self.case.memory_mib, self.case.transport,
                              49400 + index)
        self.running = dest
        return sample

    def pause(self) -> None:
        """Stop the guest's vCPUs while the other variant migrates."""
        self.running.monitor.execute("stop")

    def resume(self) -> None:
        """Let the guest run again."""
        self.running.monitor.execute("cont")

    def source_monitor(self, index: int) -> Optional[Monitor]:
        """The monitor of the QEMU that sends in round `index`."""
        return self.hosts[index % 2].monitor

    def close(self) -> None:
        for host in self.hosts:
            host.stop()


# -------------------------------------------------------------------------------------------- virtkernel

def domain_xml(name: str, disk: Path, memory: int, accel: str) -> str:
    kind = "kvm" if accel == "kvm" else "qemu"
    return (f"<domain type='{kind}'><name>{name}</name><memory unit='MiB'>{memory}</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>"
            f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{disk}'/>"
            "<target dev='hda' bus='ide'/></disk><serial type='null'/><memballoon model='none'/></devices>"
            "</domain>")


class VirtkernelRunner:
    """dom.migrate3 between two qemu:///embed roots for one case, one guest going back and forth."""

    def __init__(self, case: Case, accel: str, scratch: Path) -> None:
        import virtkernel
        self.case = case
        self.root = Path(tempfile.mkdtemp(prefix="vk-", dir=scratch))
        disk = write_disk_image(self.root / "disk.img") if case.guest == "dirtying" \
            else idle_disk(self.root / "disk.img")
        self.conns = [virtkernel.open(f"qemu:///embed?root={self.root / 'a'}"),
                      virtkernel.open(f"qemu:///embed?root={self.root / 'b'}")]
        self.dom = self.conns[0].create_xml(domain_xml("bench", disk, case.memory_mib, accel))

    def once(self, index: int) -> Sample:
        from virtkernel.enums import DomainGetJobStatsFlags, DomainMigrateFlags as M
        source, dest = self.conns[index % 2], self.conns[(index + 1) % 2]
        if self.case.transport == "unix":
            params = {"migrate_uri": f"unix://{self.root}/mig{index}.sock"}
        else:
            params = {"migrate_uri": f"tcp://127.0.0.1:{49450 + index}"}
        started = time.time()
        t0 = time.monotonic()
        self.dom = self.dom.migrate3(dest, params, int(M.LIVE))
        total = (time.monotonic() - t0) * 1000
        _kind, stats = self.dom.get_job_stats(int(DomainGetJobStatsFlags.COMPLETED))
        return Sample(total, clock().setup_ms(started), stats.get("downtime", math.nan),
                      stats.get("time_elapsed", math.nan), clock().pause_ms(started))

    def pause(self) -> None:
        """Suspend the domain while the other variant migrates."""
        self.dom.suspend()

    def resume(self) -> None:
        """Let the domain run again."""
        self.dom.resume()

    def source_monitor(self, index: int) -> Optional[Monitor]:
        """The driver's monitor of the guest that leaves in round `index`."""
        return _driver_monitor(self.conns[index % 2], "bench")

    def close(self) -> None:
        try:
            self.dom.destroy()
        except Exception:  # noqa: BLE001
            pass
        for conn in self.conns:
            conn.close()


# -------------------------------------------------------------------------------------------- --profile

class Timeline:
    """--profile: every QMP command and driver phase of one migration on one time line (ms since its start)."""

    PHASES = {"_mig_begin": "Begin", "_mig_prepare": "Prepare", "_mig_perform": "Perform", "_mig_finish": "Finish",
              "_mig_confirm": "Confirm", "start_incoming": "  destination QEMU start",
              "finish_incoming": "  resume on the destination", "stop": "  stop the source QEMU"}

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, str, str]] = []
        self.source: Optional[Monitor] = None
        self.armed = False
        self._t0 = self._wall0 = 0.0
        self._lock = threading.Lock()

    def install(self) -> None:
        """Wrap Monitor.submit (execute uses it), the driver's phase hooks and what they call (this process only)."""
        from virtkernel_qemu.driver import QemuDriver
        from virtkernel_qemu.migration import QemuMigrationPhases
        submit = Monitor.submit  # Monitor.execute sends through submit too
        timeline = self

        def timed_submit(monitor, command, arguments=None, **kwargs):
            start, thread = time.monotonic(), threading.current_thread().name
            reply = submit(monitor, command, arguments, **kwargs)
            side = "source" if monitor is timeline.source else "destination"
            reply._future.add_done_callback(lambda _f: timeline._add(start, f"QMP {side} {command}", thread))
            return reply

        Monitor.submit = timed_submit
        for owner, names in ((QemuMigrationPhases, ("_mig_begin", "_mig_prepare", "_mig_perform", "_mig_finish",
                                                    "_mig_confirm")),
                             (QemuDriver, ("start_incoming", "finish_incoming", "stop"))):
            for name in names:
                setattr(owner, name, self._timed(getattr(owner, name), self.PHASES[name]))
        BareHost.start = self._timed(BareHost.start, "destination QEMU start")
        BareHost.stop = self._timed(BareHost.stop, "stop the source QEMU")

    def _timed(self, function: Callable, label: str) -> Callable:
        def timed(*args, **kwargs):
            start = time.monotonic()
            try:
                return function(*args, **kwargs)
            finally:
                self._add(start, label)
        return timed

    def _add(self, start: float, label: str, thread: Optional[str] = None) -> None:
        if self.armed:
            with self._lock:
                self.rows.append((start - self._t0, time.monotonic() - self._t0, label,
                                  thread or threading.current_thread().name))

    def arm(self, source: Optional[Monitor]) -> None:
        """Record from now on; `source` is the source QEMU's monitor (None: the one the bare script uses)."""
        self.rows.clear()
        self.source = source
        self._t0 = time.monotonic()
        self._wall0 = time.time()
        self.armed = True

    def qemu_event(self, monitor: Monitor, event: MonitorEvent) -> None:
        """A QEMU event at QEMU's own time stamp (same clock as time.time())."""
        if self.armed and event.name in ("STOP", "RESUME", "MIGRATION"):
            side = "source" if monitor is self.source else "destination"
            status = f" {event.data.get('status')}" if event.name == "MIGRATION" else ""
            at = event.timestamp - self._wall0 + self._t0
            with self._lock:
                self.rows.append((at - self._t0, at - self._t0, f"QEMU {side} event {event.name}{status}", "QEMU"))

    def show(self, title: str, sample: Sample) -> None:
        """Print what was recorded since arm()."""
        self.armed = False
        print(f"## {title}: total {sample.total:.1f} ms, pause {sample.pause:.1f} ms, QEMU downtime "
              f"{sample.downtime} ms")
        print("| start ms | end ms | took ms | step | thread |")
        print("|---:|---:|---:|---|---|")
        for start, end, label, thread in sorted(self.rows):
            print(f"| {start * 1000:.1f} | {end * 1000:.1f} | {(end - start) * 1000:.1f} | {label} | {thread} |")
        print()


def _driver_monitor(conn, name: str) -> Optional[Monitor]:
    """The QMP monitor of a guest inside the qemu driver of a connection (for --profile's labels)."""
    host = getattr(getattr(getattr(conn, "_calls", None), "driver", None), "host", None)
    guest = host.guests.get(name) if host is not None else None
    return guest.monitor if guest is not None else None


# -------------------------------------------------------------------------------------------- report

def report(cases: list[Case]) -> None:
    print("| guest | MiB | transport | variant | total ms | setup ms | QEMU downtime ms | pause ms "
          "| QEMU total-time ms | total ratio |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        floor = median(s.total for s in case.results.get("bare", [])) if case.results.get("bare") else None
        for variant, samples in case.results.items():
            if not samples:
                continue
            total = median(s.total for s in samples)
            ratio = f"{total / floor:.2f}" if floor else "-"
            print(f"| {case.guest} | {case.memory_mib} | {case.transport} | {variant} | {total:.0f} | "
                  f"{median(s.setup for s in samples):.0f} | {median(s.downtime for s in samples):.0f} | "
                  f"{median(s.pause for s in samples):.0f} | {median(s.qemu_total for s in samples):.0f} | "
                  f"{ratio} |")


def _alone(runner, runners: dict, index: int) -> Sample:
    """One migration while the other variants' guests are paused (a dirtying guest takes a whole CPU)."""
    others = [other for other in runners.values() if other is not runner]
    for other in others:
        other.pause()
    try:
        return runner.once(index)
    finally:
        for other in others:
            other.resume()


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--memory", type=int, default=150)
    parser.add_argument("--accel", default="tcg")
    parser.add_argument("--big", action="store_true", help="also a 1 GiB dirtying guest")
    parser.add_argument("--only", choices=["bare", "virtkernel"])
    parser.add_argument("--guests", default="idle,dirtying", help="comma-separated: idle, dirtying")
    parser.add_argument("--transports", default="unix,tcp", help="comma-separated: unix, tcp")
    parser.add_argument("--profile", action="store_true",
                        help="after the rounds, one more migration per variant with a time line of its steps")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vkmig-bench-", dir="/tmp"))
    clock()
    timeline = Timeline() if args.profile else None
    if timeline is not None:
        timeline.install()
        clock().observers.append(timeline.qemu_event)
    guests = [name for name in args.guests.split(",") if name]  # --guests "" --big: only the 1 GiB guest
    transports = [name for name in args.transports.split(",") if name]
    cases = [Case(g, t, args.memory) for g in guests for t in transports]
    if args.big:
        cases += [Case("dirtying", t, 1024) for t in transports]
    variants: dict[str, Callable] = {"bare": BareRunner, "virtkernel": VirtkernelRunner}
    load_at_start = _load()
    try:
        for case in cases:
            runners = {}
            for name, factory in variants.items():
                if args.only and name != args.only:
                    continue
                try:
                    runners[name] = factory(case, args.accel, scratch)
                except Exception as exc:  # noqa: BLE001 - report and go on with the other variants
                    print(f"# {name}: cannot run: {exc}", file=sys.stderr)
            time.sleep(1.0 if args.accel == "tcg" else 8.0)  # the guests boot and reach their loop
            try:
                for index in range(args.rounds):  # interleaved: load on the machine hits both alike
                    for name, runner in runners.items():
                        case.results.setdefault(name, []).append(_alone(runner, runners, index))
                if timeline is not None:
                    for name, runner in runners.items():
                        source = runner.source_monitor(args.rounds)
                        timeline.arm(source)
                        sample = _alone(runner, runners, args.rounds)
                        timeline.show(f"{case.guest} {case.memory_mib} MiB {case.transport}, {name}", sample)
            finally:
                for runner in runners.values():
                    runner.close()
        print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.uname().nodename}, "
              f"{os.cpu_count()} CPUs, accel {args.accel}, medians of {args.rounds}, "
              f"load average at start {load_at_start}, at end {_load()}")
        report(cases)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
