"""Starting and stopping guests, QMP events -> libvirt's lifecycle events, and picking guests up again.

Start (`start_guest`): plan the XML (refuses before anything runs) -> PREPARE hook -> START hook -> QEMU under
the supervisor, paused (-S), monitor on a socket we listen on -> pinning, cgroup, live XML (pty paths, VNC
port) -> status file -> ``cont`` unless paused -> STARTED event -> STARTED hook.  Any failure undoes all of
that (kills QEMU, removes files and cgroup), then runs the STOPPED and RELEASE hooks as libvirt does.

Stop (`stop_guest`): QEMU is ended (SIGTERM, SIGKILL after a grace period), every resource freed, the
STOPPED event emitted, STOPPED and RELEASE hooks run.  A QEMU that exits by itself reaches `handle_exit`
through the host's watcher: shut off with reason shutdown when the guest powered off (QEMU sent SHUTDOWN
first), otherwise crashed with the event STOPPED/FAILED (libvirt's codes for a QEMU that vanished).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Optional

from virtkernel.cgroup import DomainCgroup
from virtkernel.domainxml import DomainDefinition
from virtkernel.enums import (DomainCrashedReason, DomainEventCrashedDetailType as Crashed, DomainEventID,
                              DomainEventResumedDetailType as Resumed, DomainEventShutdownDetailType as Shutdown,
                              DomainEventStartedDetailType as Started, DomainEventStoppedDetailType as Stopped,
                              DomainEventSuspendedDetailType as Suspended, DomainEventType as Event,
                              DomainPausedReason, DomainRunningReason, DomainShutdownReason, DomainShutoffReason,
                              DomainState, ErrorCode, ErrorDomain)
from virtkernel.errors import OperationFailed, VirtError
from virtkernel.lifecycle import HookPoint

from . import network, tuning
from .command_line import build_argv
from .domain_config import GuestPlan, add_defaults, guest_config, plan_guest
from .host import Guest, QemuHost
from .migration_postcopy import end_paused_job, qemu_migration_status, waits_for_pages
from .migration_qmp import POSTCOPY_STATES
from .monitor import Monitor, MonitorEvent
from .process import QemuProcess, spawn
from .state import bind_unix, connect_unix

__all__ = ["start_guest", "plan_definition", "stop_guest", "handle_exit", "reconnect_all", "resume_guest", "suspend_guest",
           "STOP_GRACE"]

log = logging.getLogger(__name__)

STOP_GRACE = 10.0
"""Seconds QEMU gets after SIGTERM before SIGKILL (destroy)."""
WAITING_FOR_PAGES_GRACE = 1.0
"""The same for a post-copy destination whose vCPUs may wait for pages: QEMU cannot act on SIGTERM then."""
START_TIMEOUT = 30.0

_STOP_DETAIL = {DomainShutoffReason.DESTROYED: Stopped.DESTROYED, DomainShutoffReason.SHUTDOWN: Stopped.SHUTDOWN,
                DomainShutoffReason.CRASHED: Stopped.FAILED, DomainShutoffReason.SAVED: Stopped.SAVED,
                DomainShutoffReason.MIGRATED: Stopped.MIGRATED, DomainShutoffReason.FAILED: Stopped.FAILED,
                DomainShutoffReason.FROM_SNAPSHOT: Stopped.FROM_SNAPSHOT,
                DomainShutoffReason.DAEMON: Stopped.DESTROYED, DomainShutoffReason.UNKNOWN: Stopped.FAILED}

_SUSPENDED_DETAIL = {DomainPausedReason.MIGRATION: Suspended.MIGRATED, DomainPausedReason.POSTCOPY: Suspended.POSTCOPY,
                     DomainPausedReason.POSTCOPY_FAILED: Suspended.POSTCOPY_FAILED,
                     DomainPausedReason.FROM_SNAPSHOT: Suspended.FROM_SNAPSHOT,
                     DomainPausedReason.IOERROR: Suspended.IOERROR}


def suspended_detail(reason: int) -> int:
    """The SUSPENDED event detail libvirt gives a pause with this paused reason (PAUSED for the rest)."""
    return _SUSPENDED_DETAIL.get(reason, Suspended.PAUSED)


def _qemu_failed(guest: Guest, process: Optional[QemuProcess], what: str) -> OperationFailed:
    status = process.wait(2.0) if process is not None else None  # the monitor may close just before the exit
    tail = process.log_tail(1500) if process is not None else ""
    lines = [line for line in tail.splitlines() if line.strip()]
    detail = lines[-1] if lines else ""
    how = status.describe() if status is not None else "failed"
    message = f"QEMU of domain '{guest.name}' {how} {what}"
    return OperationFailed(message + (f": {detail}" if detail else ""), domain=ErrorDomain.QEMU)


# ------------------------------------------------------------------------------------------------ start

def start_guest(host: QemuHost, guest: Guest, definition: DomainDefinition, *, paused: bool,
                running_reason: int = DomainRunningReason.BOOTED, started_detail: int = Started.BOOTED,
                incoming: Optional[str] = None, run_hooks: bool = True, planned: Optional[GuestPlan] = None) -> None:
    """Start QEMU for a guest from `definition` (the caller holds guest.lock and checked it is not running).

    incoming: "defer" starts QEMU waiting for an incoming stream (restore, migration); the guest is then left
    paused with its monitor ready and no STARTED event or hook yet -- see `finish_incoming`.
    planned: the plan of `definition` when the caller already made it (`plan_definition`); the definition is
    then the caller's private, defaulted copy and becomes the live XML as it is.
    """
    if planned is None:
        definition, plan = plan_definition(host, definition)
    else:
        plan = planned
    files = host.store.files(guest.name)
    process: Optional[QemuProcess] = None
    monitor: Optional[Monitor] = None
    hooks_begun = False
    starting = (DomainState.PAUSED, DomainPausedReason.STARTING_UP if incoming is None
                else DomainPausedReason.MIGRATION)
    try:
        if run_hooks:
            hooks_begun = True
            host.run_hook(HookPoint.PREPARE, guest, definition, "begin")
            host.run_hook(HookPoint.START, guest, definition, "begin")
        network.check_bridges(plan)
        listener = bind_unix(files.qmp)
        try:
            config = guest_config(plan, 3, str(files.pidfile), incoming=incoming)
            process = spawn(build_argv(config), files, pass_fds={3: listener.fileno()})
        finally:
            listener.close()
        # QEMU takes tens of milliseconds to reach its monitor: what needs no monitor is done meanwhile (the
        # status file written now names the guest to a later process even if this one dies during the start)
        guest.live, guest.plan, guest.started = definition, plan, time.time()
        guest.id = host.store.next_id()
        host.write_status(guest, state=starting)
        source: dict = {}
        try:
            monitor = Monitor.connect(connect_unix(files.qmp), guest.name, timeout=START_TIMEOUT,
                                      on_event=lambda event: handle_event(host, guest, event, source.get("monitor")))
            source["monitor"] = monitor
        except VirtError:
            raise _qemu_failed(guest, process, "while starting") from None
        guest.process, guest.monitor = process, monitor
        guest.shutdown_seen, guest.stopping, guest.updated = False, False, False
        guest.expected.clear()
        guest.incoming = incoming is not None
        network.join_bridges(plan)
        tuning.apply_at_start(host, guest)
        _record_live_devices(guest)
        guest.set_state(*starting)
        host.write_status(guest)  # only written again if QEMU's answers changed it (pty paths, cgroup)
        host.watch(guest, process)
        if incoming is not None:
            return
        finish_start(host, guest, paused=paused, running_reason=running_reason, started_detail=started_detail,
                     run_hooks=run_hooks)
    except BaseException as exc:
        _undo_start(host, guest, process, monitor, hooks_begun, definition)
        if isinstance(exc, VirtError) or not isinstance(exc, Exception):
            raise
        raise OperationFailed(f"cannot start domain '{guest.name}': {exc}", domain=ErrorDomain.QEMU) from exc


def plan_definition(host: QemuHost, definition: DomainDefinition,
                    copy: bool = True) -> tuple[DomainDefinition, GuestPlan]:
    """A defaulted private copy of `definition` and its plan (refuses unsupported XML before anything runs).

    copy=False: `definition` is already private to the caller and is defaulted in place.
    """
    if copy:
        definition = definition.copy()
    caps = host.capabilities()
    add_defaults(definition, caps)
    return definition, plan_guest(definition, caps, host.ncpus)


def finish_start(host: QemuHost, guest: Guest, *, paused: bool, running_reason: int, started_detail: int,
                 run_hooks: bool = True) -> None:
    """Let a started (paused) QEMU run unless `paused`, emit STARTED (and SUSPENDED), run the STARTED hook."""
    assert guest.monitor is not None
    if not paused:
        guest.expected["RESUME"] += 1
        try:
            reply = guest.monitor.submit("cont")
            # the status file is written while QEMU handles cont, and put back if QEMU refuses
            host.write_status(guest, state=(DomainState.RUNNING, running_reason))
            reply.result()
        except VirtError:
            guest.expected["RESUME"] -= 1
            host.write_status(guest)
            raise
        guest.set_state(DomainState.RUNNING, running_reason)
    else:
        guest.set_state(DomainState.PAUSED, DomainPausedReason.USER)
        host.write_status(guest)
    guest.incoming = False
    host.emit(guest, Event.STARTED, started_detail)
    if paused:
        host.emit(guest, Event.SUSPENDED, Suspended.PAUSED)
    if run_hooks:
        host.run_hook(HookPoint.STARTED, guest, guest.live, "begin")


def _undo_start(host: QemuHost, guest: Guest, process: Optional[QemuProcess], monitor: Optional[Monitor],
                hooks_begun: bool, definition: DomainDefinition) -> None:
    if process is not None:
        host.unwatch(process)
        if process.is_running():
            try:
                process.kill(10)
            except VirtError:
                log.warning("QEMU of domain '%s' did not die", guest.name)
        process.close()
    if monitor is not None:
        monitor.close()
    _free_resources(host, guest)
    guest.process = guest.monitor = None
    guest.live = guest.plan = None
    guest.id = -1
    guest.set_state(DomainState.SHUTOFF, DomainShutoffReason.FAILED)  # as libvirt after a failed start
    if hooks_begun:
        host.run_hook(HookPoint.STOPPED, guest, definition, "end")
        host.run_hook(HookPoint.RELEASE, guest, definition, "end")


def _record_live_devices(guest: Guest) -> None:
    """Put what QEMU chose (pty paths, VNC port) into the live XML."""
    assert guest.monitor is not None and guest.live is not None
    serials = list(guest.live.devices("serial")) or list(guest.live.devices("console"))
    if any(node.get("type", "pty") == "pty" for node in serials):
        ptys = {c["label"]: c["filename"] for c in guest.monitor.execute("query-chardev")}
        from lxml import etree
        for number, node in enumerate(serials):
            filename = ptys.get(f"charserial{number}", "")
            if node.get("type", "pty") == "pty" and filename.startswith("pty:"):
                source = node.find("source")
                if source is None:
                    source = etree.SubElement(node, "source")
                source.set("path", filename[4:])
                node.set("tty", filename[4:])
    for node in guest.live.devices("graphics"):
        if node.get("type") == "vnc":
            info = guest.monitor.execute("query-vnc")
            if info.get("service"):
                node.set("port", str(info["service"]))


# ------------------------------------------------------------------------------------------------ stop

def _free_resources(host: QemuHost, guest: Guest) -> None:
    host.store.remove_status(guest.name)
    if guest.cgroup is not None:
        try:
            guest.cgroup.remove()
        except VirtError as exc:
            log.warning("cannot remove the cgroup of domain '%s': %s", guest.name, exc.message)
        guest.cgroup = None


def stop_guest(host: QemuHost, guest: Guest, reason: int, *, graceful: bool = False,
               grace: float = STOP_GRACE, emit: bool = True, kill: bool = False) -> None:
    """End a running guest's QEMU and free everything (the caller holds guest.lock).

    Without ``graceful``, a post-copy destination whose vCPUs may wait for pages gets SIGKILL after a short
    grace: stopping its vCPUs (what QEMU does on SIGTERM) would wait for pages that may never come, and its
    memory is incomplete anyway.  libvirt's destroy without VIR_DOMAIN_DESTROY_GRACEFUL promises only that the
    guest is ended, forcefully if needed; with that flag SIGTERM alone is tried, for the usual time.
    ``kill``: SIGKILL at once, for a QEMU with nothing left to save (the source of a completed migration); the
    files that describe it as running are removed while it dies.
    """
    process, monitor = guest.process, guest.monitor
    assert process is not None
    if not graceful and waits_for_pages(guest):
        grace = min(grace, WAITING_FOR_PAGES_GRACE)
    guest.stopping = True
    host.unwatch(process)
    if kill:
        process.files.disown()  # first: QEMU's supervisor then writes no exit record to wait for or remove
    if kill and process.send_signal(signal.SIGKILL):
        # while the kernel tears QEMU down: our end of the monitor is closed (its end-of-file would otherwise
        # keep the monitor's threads busy, and the GIL from this thread, just as QEMU is gone) and the files
        # naming a running guest are removed
        if monitor is not None:
            monitor.close(wait=False)
        host.store.remove_status(guest.name)
        process.kill_disowned()
    elif process.send_signal(signal.SIGTERM):
        status = process.wait(grace)
        if status is None:
            if graceful:
                guest.stopping = False
                host.watch(guest, process)
                raise VirtError(f"domain '{guest.name}' did not stop within {grace} s of SIGTERM",
                                code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.QEMU)
            process.kill()
    finish_stop(host, guest, reason, emit=emit)
    del monitor


def finish_stop(host: QemuHost, guest: Guest, reason: int, *, emit: bool = True) -> None:
    """Everything after QEMU is gone: monitor, files, cgroup, state, STOPPED event and hooks."""
    if guest.monitor is not None:
        guest.monitor.close()
    if guest.process is not None:
        guest.process.close()
    live = guest.live or guest.config
    _free_resources(host, guest)
    end_paused_job(host, guest, "its QEMU on this host is gone")
    ref_id = guest.id
    guest.process = guest.monitor = None
    guest.set_state(DomainState.SHUTOFF, reason)
    guest.stopping = False
    if emit:
        # the event names the domain with the id it had
        from virtkernel.types import DomainRef
        host.events.emit_lifecycle(DomainRef(guest.name, guest.uuid, ref_id), Event.STOPPED,
                                   _STOP_DETAIL.get(reason, Stopped.FAILED))
    guest.id = -1
    if live is not None:
        host.run_hook(HookPoint.STOPPED, guest, live, "end")
        host.run_hook(HookPoint.RELEASE, guest, live, "end")
    guest.live = None
    guest.plan = None
    host.forget_if_unused(guest)


def handle_exit(host: QemuHost, guest: Guest, process: QemuProcess) -> None:
    """QEMU ended without us stopping it: the guest powered off, or QEMU crashed or was killed."""
    with guest.lock:
        if guest.process is not process or guest.stopping:
            return
        reason = DomainShutoffReason.SHUTDOWN if guest.shutdown_seen else DomainShutoffReason.CRASHED
        status = process.exit_status(0.5)
        if reason == DomainShutoffReason.CRASHED:
            log.warning("QEMU of domain '%s' %s", guest.name, status.describe() if status else "ended")
        finish_stop(host, guest, reason)


# ------------------------------------------------------------------------------------------------ pause

def suspend_guest(host: QemuHost, guest: Guest, reason: int = DomainPausedReason.USER,
                  detail: int = Suspended.PAUSED) -> None:
    """Pause the vCPUs (QMP stop) and report it."""
    assert guest.monitor is not None
    if guest.state == DomainState.PAUSED:
        guest.set_state(DomainState.PAUSED, reason)
        return
    guest.expected["STOP"] += 1
    try:
        guest.monitor.execute("stop")
    except VirtError:
        guest.expected["STOP"] -= 1
        raise
    guest.set_state(DomainState.PAUSED, reason)
    host.write_status(guest)
    host.emit(guest, Event.SUSPENDED, detail)


def resume_guest(host: QemuHost, guest: Guest, reason: int = DomainRunningReason.UNPAUSED,
                 detail: int = Resumed.UNPAUSED) -> None:
    """Let the vCPUs run (QMP cont) and report it."""
    assert guest.monitor is not None
    guest.expected["RESUME"] += 1
    try:
        guest.monitor.execute("cont")
    except VirtError:
        guest.expected["RESUME"] -= 1
        raise
    guest.set_state(DomainState.RUNNING, reason)
    host.write_status(guest)
    host.emit(guest, Event.RESUMED, detail)


# ------------------------------------------------------------------------------------------------ QMP events

def query_running(guest: Guest) -> Optional[bool]:
    """Whether QEMU's vCPUs run right now (query-status), None when QEMU cannot say."""
    try:
        return bool(guest.monitor.execute("query-status", timeout=5)["running"]) if guest.monitor else None
    except (VirtError, KeyError, TypeError):
        return None


def handle_event(host: QemuHost, guest: Guest, event: MonitorEvent, source: Optional[Monitor] = None) -> None:
    """Turn one QMP event into guest state and libvirt events (runs on the monitor's dispatch thread).

    Events of an earlier QEMU of the same guest (delivered after it was replaced) are dropped.
    """
    with guest.lock:
        if source is None or source is not guest.monitor:
            return
    name = event.name
    if name in ("STOP", "RESUME"):
        with guest.lock:
            if guest.expected[name] > 0:
                guest.expected[name] -= 1
                return
            if not guest.active or guest.stopping or guest.incoming:
                return
            if name == "STOP" and guest.extra.get("pause_reason") == DomainPausedReason.MIGRATION \
                    and not guest.extra.get("postcopy_migration", True) and guest.state != DomainState.PAUSED:
                # the final stop of a pre-copy migration: no QMP round trip here, QEMU is completing the migration
                # under its big lock right now and a query would delay it (and the guest's downtime); a migration
                # that fails takes the reason back before it resumes the guest
                del guest.extra["pause_reason"], guest.extra["postcopy_migration"]
                guest.set_state(DomainState.PAUSED, DomainPausedReason.MIGRATION)
                host.emit(guest, Event.SUSPENDED, suspended_detail(DomainPausedReason.MIGRATION))
                host.write_status(guest)
                return
            # an event may be handled after the driver already moved on (the dispatch thread lags behind under
            # load): ask QEMU what is true now, and drop an event that no longer is
            running = query_running(guest)
            if name == "STOP":
                if guest.state == DomainState.PAUSED or guest.shutdown_seen or running:
                    return
                reason = guest.extra.pop("pause_reason", DomainPausedReason.UNKNOWN)
                guest.extra.pop("postcopy_migration", None)
                if reason == DomainPausedReason.MIGRATION and qemu_migration_status(guest) in POSTCOPY_STATES:
                    reason = DomainPausedReason.POSTCOPY  # the source stopped for the switch to post-copy
                guest.set_state(DomainState.PAUSED, reason)
                host.emit(guest, Event.SUSPENDED, suspended_detail(reason))
            else:
                if guest.state == DomainState.RUNNING or running is False:
                    return
                guest.set_state(DomainState.RUNNING, DomainRunningReason.UNPAUSED)
                host.emit(guest, Event.RESUMED, Resumed.UNPAUSED)
            host.write_status(guest)
    elif name == "SHUTDOWN":
        with guest.lock:
            if not guest.active or guest.stopping:
                return
            guest.shutdown_seen = True
            from_guest = bool(event.data.get("guest"))
            guest.set_state(DomainState.SHUTDOWN, DomainShutdownReason.USER if not from_guest
                            else DomainShutdownReason.UNKNOWN)
            host.emit(guest, Event.SHUTDOWN, Shutdown.GUEST if from_guest else Shutdown.HOST)
            plan = guest.plan
            fake_reboot = guest.extra.pop("fake_reboot", False)
            if fake_reboot and plan is not None and plan.on_poweroff != "restart":
                try:  # back to QEMU ending on poweroff, as the domain's <on_poweroff> says
                    guest.monitor.execute("set-action", {"shutdown": "poweroff"})
                except VirtError:
                    pass
            if plan is not None and (plan.on_poweroff == "restart" or fake_reboot) \
                    and event.data.get("reason") != "guest-reset":
                # -no-shutdown (or the shutdown action pause) kept QEMU alive, paused: QEMU's STOP follows this
                # event; reset and run again, as libvirt's fake reboot does
                guest.shutdown_seen = False
                guest.expected["STOP"] += 1
                try:
                    guest.monitor.execute("system_reset")
                    guest.expected["RESUME"] += 1
                    guest.monitor.execute("cont")
                except VirtError:
                    pass
                guest.set_state(DomainState.RUNNING, DomainRunningReason.BOOTED)
                host.events.emit(DomainEventID.REBOOT, guest.ref())
            host.write_status(guest)
    elif name == "RESET":
        if guest.active:
            host.events.emit(DomainEventID.REBOOT, guest.ref())
    elif name == "GUEST_PANICKED":
        _panicked(host, guest)
    elif name == "BLOCK_IO_ERROR":
        guest.extra["pause_reason"] = DomainPausedReason.IOERROR
        host.events.emit(DomainEventID.IO_ERROR, guest.ref(), event.data.get("device", ""),
                         event.data.get("node-name", ""), 0)
    elif name == "RTC_CHANGE":
        host.events.emit(DomainEventID.RTC_CHANGE, guest.ref(), int(event.data.get("offset", 0)))
    elif name == "BALLOON_CHANGE":
        host.events.emit(DomainEventID.BALLOON_CHANGE, guest.ref(), int(event.data.get("actual", 0)) // 1024)
    elif name == "DEVICE_DELETED" and event.data.get("device"):
        alias = event.data["device"]
        with guest.lock:
            if guest.active and alias in guest.extra.get("pending_unplug", []):
                from .hotplug import device_deleted
                device_deleted(host, guest, alias)
        host.events.emit(DomainEventID.DEVICE_REMOVED, guest.ref(), alias)


def _panicked(host: QemuHost, guest: Guest) -> None:
    with guest.lock:
        if not guest.active or guest.stopping:
            return
        host.emit(guest, Event.CRASHED, Crashed.PANICKED)
        action = guest.plan.on_crash if guest.plan is not None else "destroy"
        if action == "preserve":
            guest.set_state(DomainState.CRASHED, DomainCrashedReason.PANICKED)
            host.write_status(guest)
        elif action == "restart":
            try:
                guest.monitor.execute("system_reset")
                guest.expected["RESUME"] += 1
                guest.monitor.execute("cont")
            except VirtError:
                pass
            guest.set_state(DomainState.RUNNING, DomainRunningReason.CRASHED)
            host.write_status(guest)
        else:
            stop_guest(host, guest, DomainShutoffReason.CRASHED)


# ------------------------------------------------------------------------------------------------ reconnect

def reconnect_all(host: QemuHost) -> None:
    """Pick up every guest a status file records (called once, when a process first opens the host)."""
    for status in host.store.statuses():
        try:
            definition = DomainDefinition.from_xml(status.live_xml)
        except VirtError:
            log.warning("status file of domain '%s' holds unusable XML; forgetting it", status.name)
            host.store.remove_status(status.name)
            continue
        guest = host.guests.get(status.name)
        if guest is None:
            guest = Guest(status.name, status.uuid)
            host.guests[status.name] = guest
        with guest.lock:
            files = host.store.files(status.name)
            process = QemuProcess.attach(files)
            guest.live, guest.id, guest.extra = definition, status.id, dict(status.extra)
            guest.set_state(status.state, status.reason)
            if process is None or not process.is_running():
                # it died while nobody watched: shut off, crashed; free what it held
                guest.process = process or _GoneProcess()
                guest.cgroup = DomainCgroup.find(host.paths.cgroup_driver, guest.name) if status.cgroup else None
                finish_stop(host, guest, DomainShutoffReason.CRASHED)
                continue
            source: dict = {}
            try:
                monitor = Monitor.connect(connect_unix(files.qmp), guest.name, timeout=10,
                                          on_event=lambda event, g=guest, s=source: handle_event(host, g, event,
                                                                                                 s.get("monitor")))
                source["monitor"] = monitor
            except (VirtError, OSError) as exc:
                log.warning("cannot reconnect to QEMU of domain '%s': %s; stopping it", guest.name, exc)
                process.kill()
                guest.process = process
                finish_stop(host, guest, DomainShutoffReason.CRASHED)
                continue
            guest.process, guest.monitor = process, monitor
            guest.started = status.started
            caps = host.capabilities()
            guest.plan = plan_guest(definition, caps, host.ncpus) if _plannable(definition, caps, host) else None
            if status.cgroup:
                guest.cgroup = DomainCgroup.find(host.paths.cgroup_driver, guest.name, pid=process.pid)
            qmp_status = monitor.execute("query-status")
            if qmp_status.get("running") and guest.state != DomainState.RUNNING:
                guest.set_state(DomainState.RUNNING, DomainRunningReason.UNKNOWN)
            elif not qmp_status.get("running") and guest.state == DomainState.RUNNING:
                guest.set_state(DomainState.PAUSED, DomainPausedReason.UNKNOWN)
            host.write_status(guest)
            host.watch(guest, process)
            host.run_hook(HookPoint.RECONNECT, guest, definition, "begin")


def autostart_all(host: QemuHost) -> None:
    """Start the persistent guests marked autostart that do not run (when a process first opens the host)."""
    for guest in list(host.guests.values()):
        if guest.config is None or guest.active or not host.store.autostart(guest.name):
            continue
        with guest.lock:
            if guest.active:
                continue
            try:
                start_guest(host, guest, guest.config, paused=False)
            except VirtError as exc:
                log.warning("cannot autostart domain '%s': %s", guest.name, exc.message)


def _plannable(definition: DomainDefinition, caps, host: QemuHost) -> bool:
    try:
        plan_guest(definition, caps, host.ncpus)
        return True
    except VirtError:
        return False


class _GoneProcess:
    """Stands in for a QEMU that is already gone when its guest is picked up again."""

    pid = -1

    def close(self) -> None:
        """Nothing to release."""

    def is_running(self) -> bool:
        """Never."""
        return False


def running_pid(guest: Guest) -> Optional[int]:
    """QEMU's pid while it runs."""
    return guest.process.pid if guest.process is not None else None


__all__ += ["finish_start", "finish_stop", "running_pid", "autostart_all"]
del os
