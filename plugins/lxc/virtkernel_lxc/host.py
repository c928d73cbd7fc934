"""One lxc host inside this process: starting and stopping containers, lifecycle hooks, events, and the watcher.

Every connection to the same host (lxc:///system, or one embed root) in a process shares one LxcHost: one
watcher thread over the supervisors' pidfds (so a stop is reported once per process), one event bus, and the
optional pool of spare supervisors. The first connection of a process picks up what runs already (reconnect).
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
from typing import Any, Callable, Optional

from lxml import etree

from virtkernel.cgroup import DomainCgroup, detect_layout
from virtkernel.domainxml import DomainDefinition
from virtkernel.enums import (DomainEventID, DomainEventResumedDetailType as Resumed,
                              DomainEventStartedDetailType as Started, DomainEventStoppedDetailType as Stopped,
                              DomainEventSuspendedDetailType as Suspended, DomainEventType as Event,
                              DomainPausedReason, DomainRunningReason, DomainShutoffReason, ErrorCode, ErrorDomain)
from virtkernel.errors import OperationInvalid, VirtError
from virtkernel.events import EventBus
from virtkernel.lifecycle import HookPoint, LifecycleHooks
from virtkernel.types import DomainRef

from .launcher import Container, launch
from .network import delete_interfaces
from .outcome import ExitInfo, StopReason
from .paths import HostPaths
from .pool import Spare, SupervisorPool
from .state import CGROUP_PLACEMENT
from .store import DomainStore, Record
from .xmlmap import plan_container

__all__ = ["LxcHost", "not_running", "STOP_DETAIL", "SHUTOFF_REASON"]

log = logging.getLogger(__name__)

RESCAN_SECONDS = 2
"""How often the watcher looks for containers that other processes started."""

STOP_DETAIL = {StopReason.DESTROYED: Stopped.DESTROYED, StopReason.SHUTDOWN: Stopped.SHUTDOWN,
               StopReason.EXITED: Stopped.SHUTDOWN, StopReason.CRASHED: Stopped.CRASHED,
               StopReason.FAILED: Stopped.FAILED}
"""The STOPPED event detail for each way a container ends."""

SHUTOFF_REASON = {StopReason.DESTROYED: DomainShutoffReason.DESTROYED, StopReason.SHUTDOWN: DomainShutoffReason.SHUTDOWN,
                  StopReason.EXITED: DomainShutoffReason.SHUTDOWN, StopReason.CRASHED: DomainShutoffReason.CRASHED,
                  StopReason.FAILED: DomainShutoffReason.FAILED}
"""The shut-off state reason for each way a container ends."""


def _warm_cgroup_migration(layout: Any) -> None:
    """Start a cgroup migration's RCU grace period now, on a thread, so the init's join later is cheap.

    Every cgroup migration takes one global lock whose first writer after a quiet spell waits for an RCU grace
    period (several ms on this host); writers within the next grace period do not. Writing this process into
    the group it is already in changes nothing but starts that wait while the rest of the start goes on.
    """
    hierarchies = list(layout.group_hierarchies)
    if not hierarchies:
        return

    def join_own_group() -> None:
        try:
            with open(os.path.join(hierarchies[0].own_dir, "cgroup.procs"), "w") as procs:
                procs.write(str(os.getpid()))
        except OSError:
            pass  # only an optimisation
    threading.Thread(target=join_own_group, name="lxc-cgroup-warm", daemon=True).start()


def not_running(name: str) -> OperationInvalid:
    """The error for an operation that needs a running domain."""
    return OperationInvalid(f"domain '{name}' is not running", code=ErrorCode.OPERATION_INVALID,
                            domain=ErrorDomain.DOMAIN)


class LxcHost:
    """The shared per-process view of one host (see the module docstring)."""

    _hosts: dict[str, "LxcHost"] = {}
    _hosts_lock = threading.Lock()

    def __init__(self, paths: HostPaths, spares: int) -> None:
        self.paths = paths
        self.store = DomainStore(paths)
        self.layout = detect_layout()  # this process's cgroups do not move: read the mounts once
        self.events = EventBus.shared(paths.events_key)
        self.pool = SupervisorPool(spares, spare_cgroup=self._spare_cgroup) if spares > 0 else None
        self._users: list[Any] = []
        self._hooks: Optional[LifecycleHooks] = None
        self._children: dict[int, Container] = {}  # supervisors this process launched (to reap them)
        self._watched: dict[int, tuple[str, str, int]] = {}  # pidfd -> (name, uuid, supervisor pid)
        self._handled: set[int] = set()  # supervisor pids whose stop an operation reports itself
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        # The watcher waits on this; other threads add pidfds to it directly (no wake-up of the watcher,
        # which would then compete for the GIL with the start that is still returning).
        self._epoll = select.epoll()
        self._epoll.register(self._wake_read, select.EPOLLIN)
        self._stopping = False
        self._thread = threading.Thread(target=self._watch, name=f"lxc-watch:{paths.uri}", daemon=True)

    # ------------------------------------------------------------------------------ sharing

    @classmethod
    def _forget_after_fork(cls) -> None:
        """A forked child has none of the parent's watcher threads: its first connection starts afresh."""
        cls._hosts = {}
        cls._hosts_lock = threading.Lock()

    @classmethod
    def attach(cls, paths: HostPaths, user: Any, hooks: LifecycleHooks, spares: int = 0) -> "LxcHost":
        """The host for ``paths`` (created, and running containers picked up, on first use in this process)."""
        with cls._hosts_lock:
            host = cls._hosts.get(paths.uri)
            fresh = host is None
            if fresh:
                paths.create()
                host = cls._hosts[paths.uri] = LxcHost(paths, spares)
            host._users.append(user)
            host._hooks = hooks
        if fresh:
            host._thread.start()
            host._remove_abandoned_spare_groups()
            host.reconnect()
            host.autostart_all()
            if host.pool is not None:
                host.pool.refill_soon()
        return host

    def detach(self, user: Any) -> None:
        """A connection is done with the host; the last one stops the watcher (containers keep running)."""
        with LxcHost._hosts_lock:
            if user in self._users:
                self._users.remove(user)
            if self._users:
                self._hooks = self._users[-1].context.hooks
                return
            LxcHost._hosts.pop(self.paths.uri, None)
        self._stopping = True
        os.write(self._wake_write, b"x")
        self._thread.join(5.0)
        if self.pool is not None:
            self.pool.close()
        for fd in list(self._watched):
            os.close(fd)
        self._watched.clear()
        self._epoll.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _spare_cgroup(self) -> DomainCgroup:
        """A fresh spare group for a pooled supervisor's init to wait in (see pool.py)."""
        return DomainCgroup.create_spare(self.paths.cgroup_driver, self.layout)

    def _remove_abandoned_spare_groups(self) -> None:
        """Spare groups of pools whose process died (killed before it could clean up)."""
        try:
            DomainCgroup.remove_abandoned_spares(self.paths.cgroup_driver, self.layout)
        except (OSError, VirtError) as exc:
            log.debug("abandoned spare cgroups not removed: %s", exc)

    def cgroup_of(self, name: str) -> Optional[DomainCgroup]:
        """The cgroup of a running (or just stopped) container, or None when it has none."""
        try:
            placement = self.store.state(name).read_json(CGROUP_PLACEMENT)
        except ValueError:
            placement = None
        if isinstance(placement, dict):
            return DomainCgroup.placed(self.paths.cgroup_driver, name, self.layout, placement)
        return DomainCgroup.find(self.paths.cgroup_driver, name, self.layout)

    @property
    def hooks(self) -> LifecycleHooks:
        """The lifecycle hooks of the most recent connection."""
        assert self._hooks is not None
        return self._hooks

    # ------------------------------------------------------------------------------ handles

    def container(self, record: Record) -> Container:
        """A handle on a running container (NOT running error otherwise)."""
        if record.supervisor_pid is None:
            raise not_running(record.name)
        child = self._children.get(record.supervisor_pid)
        if child is not None:
            return child
        try:
            return Container.attach(self.store.state(record.name).path)
        except OperationInvalid:
            raise not_running(record.name) from None

    def ref(self, record: Record) -> DomainRef:
        """The DomainRef of a record."""
        return DomainRef(record.name, record.uuid, record.id)

    def track(self, record: Record) -> None:
        """Watch a running container's supervisor so that its stop is noticed."""
        pid = record.supervisor_pid
        if pid is None:
            return
        with self._lock:
            if self._stopping or any(entry[2] == pid for entry in self._watched.values()):
                return
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                fd = None
            else:
                self._watched[fd] = (record.name, record.uuid, pid)
                self._epoll.register(fd, select.EPOLLIN)
        if fd is None:
            self._supervisor_gone(record.name, record.uuid, pid)

    # ------------------------------------------------------------------------------ hooks

    def _xml_of(self, defn: DomainDefinition) -> Callable[[], str]:
        return defn.to_xml

    def run_stop_hooks(self, name: str, uuid: str, xml: Callable[[], str] | str) -> None:
        """STOPPED then RELEASE (failures are logged by the hook runner)."""
        self.hooks.run(HookPoint.STOPPED, name=name, uuid=uuid, xml=xml, sub_operation="end")
        self.hooks.run(HookPoint.RELEASE, name=name, uuid=uuid, xml=xml, sub_operation="end")

    # ------------------------------------------------------------------------------ start

    def start(self, defn: DomainDefinition, paused: bool) -> Record:
        """Start a container from a definition (under the host lock); returns the running record.

        Runs prepare and start hooks; a failure anywhere removes what this start made (cgroup, veths,
        processes), runs the stopped and release hooks, and re-raises.
        """
        plan = plan_container(defn)
        spec = plan.spec
        spare = self.pool.take() if self.pool is not None and spec.idmap is None else None
        name, uuid = defn.name, spec.uuid
        live = defn.copy()
        for device, iface in zip(live.devices("interface"), spec.interfaces):
            target = device.find("target")
            if target is None:
                target = etree.SubElement(device, "target")
            target.set("dev", iface.host_name)
        xml = self._xml_of(live)
        state = self.store.state(name)
        if self.store.stop_pending(name):
            self.note_stop(name, uuid, None)
        self.store.clear_last_stop(name)
        try:
            self.hooks.run(HookPoint.PREPARE, name=name, uuid=uuid, xml=xml)
        except BaseException:
            if spare is not None:
                spare.dismiss()
            self.run_stop_hooks(name, uuid, xml)
            raise
        cgroup: Optional[DomainCgroup] = None
        try:
            cgroup, spare = self._container_cgroup(name, spare)
            os.makedirs(state.path, mode=0o700, exist_ok=True)
            if plan.tunables.soft_limit is not None:
                cgroup.set_memory_soft_limit(plan.tunables.soft_limit)
            self.hooks.run(HookPoint.START, name=name, uuid=uuid, xml=xml)

            def note_running(supervisor_pid: int) -> None:  # while the init execs (undone if it fails)
                state.write_json(CGROUP_PLACEMENT, cgroup.placement())
                live.root.set("id", str(supervisor_pid))
                self.store.write_live(live)
                self.store.set_status(name, running_reason=int(DomainRunningReason.BOOTED), paused=False)
            container, spare = launch(spec, state.path, cgroup, pool=self.pool, spare=spare,
                                      while_exec=note_running), None
        except BaseException:
            if spare is not None:
                spare.dismiss()
            self._undo_start(name, spec.interfaces, cgroup)
            self.run_stop_hooks(name, uuid, xml)
            raise
        self._children[container.supervisor_pid] = container
        if plan.tunables.swap_hard_limit is not None:
            try:
                cgroup.set_swap_hard_limit(plan.tunables.swap_hard_limit)
            except VirtError as exc:
                log.warning("domain '%s': swap hard limit not applied: %s", name, exc.message)
        record = Record(name=name, uuid=uuid, config=None, live=live, supervisor_pid=container.supervisor_pid)
        self.track(record)
        self.hooks.run(HookPoint.STARTED, name=name, uuid=uuid, xml=xml)
        ref = self.ref(record)
        self.events.emit_lifecycle(ref, Event.STARTED, Started.BOOTED)
        if paused:
            container.freeze()
            self.store.set_status(name, paused=True, paused_reason=int(DomainPausedReason.USER))
            self.events.emit_lifecycle(ref, Event.SUSPENDED, Suspended.PAUSED)
        return record

    def _container_cgroup(self, name: str, spare: Optional[Spare]) -> tuple[DomainCgroup, Optional[Spare]]:
        """The container's group: the spare's group renamed if it has one, else a new one; and the spare
        to launch with (None if its group could not be claimed)."""
        if spare is not None and spare.cgroup is not None:
            try:
                return spare.claim_cgroup(name), spare
            except VirtError as exc:
                log.warning("domain '%s': starting without a spare: %s", name, exc.message)
                spare.dismiss()
                spare = None
        group = DomainCgroup.create(self.paths.cgroup_driver, name, self.layout)
        if spare is None or spare.cgroup is None:
            # only now: the warm-up holds the cgroup lock for a grace period, which a mkdir would wait for
            _warm_cgroup_migration(self.layout)
        return group, spare

    def _undo_start(self, name: str, interfaces: list, cgroup: Optional[DomainCgroup]) -> None:
        """Remove whatever a failed start left: cgroup (and its processes), veths, state files."""
        if cgroup is not None:
            self._remove_group(name, cgroup)
        delete_interfaces([iface.host_name for iface in interfaces])
        state = self.store.state(name)
        for file in ("exit.json", "live.xml", "status.json", CGROUP_PLACEMENT):
            state.remove(file)

    # ------------------------------------------------------------------------------ stop

    def destroy(self, record: Record) -> None:
        """Kill the container now; report STOPPED_DESTROYED."""
        container = self.container(record)
        self._handled.add(container.supervisor_pid)
        try:
            container.destroy()
        except OperationInvalid:
            self._handled.discard(container.supervisor_pid)
            raise not_running(record.name) from None
        self._children.pop(container.supervisor_pid, None)
        self.note_stop(record.name, record.uuid, container.supervisor_pid, emit=False)
        self.events.emit_lifecycle(DomainRef(record.name, record.uuid, -1), Event.STOPPED, Stopped.DESTROYED)

    def note_stop(self, name: str, uuid: str, pid: Optional[int], emit: bool = True) -> None:
        """Take note of a stopped container: stop hooks (once, across processes), clean-up, event."""
        with self.store.locked():
            live = self.store.state(name).file("live.xml")
            try:
                with open(live, encoding="utf-8") as handle:
                    xml_text = handle.read()
            except FileNotFoundError:
                xml_text = ""
            data = self.store.claim_stop(name)
            if data is not None:
                self._remove_cgroup(name)  # the supervisor removes it; this catches a removal that failed
                self.store.forget_run(name)
                if xml_text:
                    self.run_stop_hooks(name, uuid, xml_text)
        if not emit:
            return
        data = data or self.store.last_stop(name)
        reason = StopReason(data["reason"]) if data else StopReason.CRASHED
        self.events.emit_lifecycle(DomainRef(name, uuid, -1), Event.STOPPED, STOP_DETAIL[reason])

    def _supervisor_gone(self, name: str, uuid: str, pid: int) -> None:
        """A watched supervisor exited: reap it, and report the stop unless an operation does."""
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        self._children.pop(pid, None)
        if pid in self._handled:
            self._handled.discard(pid)
            return
        state = self.store.state(name)
        if not self.store.stop_pending(name) and os.path.exists(state.file("live.xml")) \
                and not os.path.exists(state.file("stopped.json")):
            self._write_vanished(name)
        self.note_stop(name, uuid, pid)

    def _remove_cgroup(self, name: str) -> None:
        """Kill what is left in a stopped container's cgroup and remove the group, if it still exists."""
        group = self.cgroup_of(name)
        if group is not None:
            self._remove_group(name, group)

    @staticmethod
    def _remove_group(name: str, group: DomainCgroup) -> None:
        try:
            if group.pids():
                group.kill_all()
            group.remove()
        except VirtError as exc:
            log.warning("domain '%s': cannot remove the cgroup of a stopped container: %s", name, exc.message)

    def _write_vanished(self, name: str) -> None:
        """The supervisor died without a word (e.g. SIGKILL): clean its leftovers, record a crash."""
        state = self.store.state(name)
        spec = state.read_spec()
        self._remove_cgroup(name)
        if spec is not None:
            delete_interfaces([iface.host_name for iface in spec.interfaces])
        info = ExitInfo(reason=StopReason.CRASHED, status=None, exit_code=None, signal=None,
                        error="the container's supervisor disappeared")
        for file in ("supervisor.pid", "init.pid", "control.sock"):
            state.remove(file)
        state.write_json("exit.json", info.to_dict())

    # ------------------------------------------------------------------------------ pause

    def suspend(self, record: Record) -> None:
        """Freeze every process of the container (a paused container stays paused)."""
        container = self.container(record)
        if self.store.status(record.name).get("paused"):
            return
        container.freeze()
        self.store.set_status(record.name, paused=True, paused_reason=int(DomainPausedReason.USER))
        self.events.emit_lifecycle(self.ref(record), Event.SUSPENDED, Suspended.PAUSED)

    def resume(self, record: Record) -> None:
        """Thaw a frozen container (a running one is left alone)."""
        container = self.container(record)
        if not self.store.status(record.name).get("paused"):
            return
        container.thaw()
        self.store.set_status(record.name, paused=False, running_reason=int(DomainRunningReason.UNPAUSED))
        self.events.emit_lifecycle(self.ref(record), Event.RESUMED, Resumed.UNPAUSED)

    def shutdown(self, record: Record) -> None:
        """Ask init to stop (SIGTERM); the stop is reported when it happens."""
        self.container(record).shutdown(signal.SIGTERM, wait=False)

    def reboot(self, record: Record) -> None:
        """Restart init in fresh namespaces (same supervisor, cgroup and veth names)."""
        container = self.container(record)
        if self.store.status(record.name).get("paused"):
            container.thaw()
        container.reboot()
        self.store.set_status(record.name, paused=False, running_reason=int(DomainRunningReason.BOOTED))
        self.events.emit(DomainEventID.REBOOT, self.ref(record))

    # ------------------------------------------------------------------------------ reconnect and watch

    def autostart_all(self) -> None:
        """First use in this process, after reconnect: start the persistent containers marked autostart."""
        with self.store.locked():
            for record in self.store.records():
                if record.config is None or record.active or not self.store.autostart(record.name):
                    continue
                try:
                    self.start(record.config, paused=False)
                except VirtError as exc:
                    log.warning("cannot autostart container '%s': %s", record.name, exc.message)

    def reconnect(self) -> None:
        """First use in this process: watch running containers (reconnect hook), note stops that happened."""
        for name in self.store.names():
            state = self.store.state(name)
            pid = state.read_pid("supervisor.pid")
            record = self.store.record(name)
            if record is None:
                continue
            if record.active:
                self.track(record)
                self.hooks.run(HookPoint.RECONNECT, name=name, uuid=record.uuid, xml=self._xml_of(record.current))
            elif self.store.stop_pending(name):
                self.note_stop(name, record.uuid, None)
            elif pid is not None and os.path.exists(state.file("live.xml")):
                self._supervisor_gone(name, record.uuid, pid)

    def _track_new(self) -> None:
        """Watch containers other processes started since (their stops are reported here too).

        Cheap when nothing is new (a pid file read per container, no XML parsed): it runs every few seconds
        on a thread that would otherwise hold the GIL against a start going on in this process.
        """
        try:
            with os.scandir(self.paths.state_dir) as entries:
                names = [entry.name for entry in entries if not entry.name.startswith(".") and entry.is_dir()]
            with self._lock:
                watched = {entry[2] for entry in self._watched.values()}
            for name in names:
                pid = self.store.state(name).supervisor_pid()
                if pid is None or pid in watched:
                    continue
                record = self.store.record(name)
                if record is not None and record.active:
                    self.track(record)
        except FileNotFoundError:
            pass
        except Exception:  # noqa: BLE001 - a half-written record is picked up on the next round
            log.debug("lxc: rescan of %s failed", self.paths.state_dir, exc_info=True)

    def _watch(self) -> None:
        while not self._stopping:
            ready = self._epoll.poll(RESCAN_SECONDS)
            if not ready:
                self._track_new()
            for fd, _ in ready:
                if fd == self._wake_read:
                    try:
                        os.read(self._wake_read, 4096)
                    except BlockingIOError:
                        pass
                    continue
                with self._lock:
                    entry = self._watched.pop(fd, None)
                    if entry is not None:
                        self._epoll.unregister(fd)
                        os.close(fd)
                if entry is None:
                    continue
                try:
                    self._supervisor_gone(*entry)
                except Exception:  # noqa: BLE001 - the watcher must keep watching the others
                    log.exception("lxc: handling the stop of container '%s' failed", entry[0])


os.register_at_fork(after_in_child=LxcHost._forget_after_fork)
