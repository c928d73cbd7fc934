"""One qemu host inside this process: its guests, the watcher over their QEMU processes, events and the inhibitor.

Every connection to the same host (one embed root, the session or the system host) in a process shares one
`QemuHost`.  The first connection takes the host's lock file (RUN_DIR/driver.lock: only one process drives a
root at a time, as with libvirt's embedded driver), loads the persistent configs and reconnects to the guests
its status files record; the last connection to close releases everything but the guests, which keep running
under their supervisor until a later process picks them up again.
"""

from __future__ import annotations

import collections
import fcntl
import logging
import os
import select
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from virtkernel.cgroup import DomainCgroup
from virtkernel.domainxml import DomainDefinition
from virtkernel.enums import DomainShutoffReason, DomainState, ErrorCode, ErrorDomain
from virtkernel.errors import NoDomain, OperationInvalid, VirtError
from virtkernel.events import EventBus
from virtkernel.lifecycle import HookPoint, LifecycleHooks
from virtkernel.types import DomainRef

from . import capabilities
from .capabilities import Capabilities
from .domain_config import GuestPlan
from .monitor import Monitor
from .paths import QemuPaths
from .process import QemuProcess
from .state import DomainStore, GuestStatus

__all__ = ["Guest", "QemuHost", "not_running", "InhibitCallback", "wait_until", "error_from"]

log = logging.getLogger(__name__)

InhibitCallback = Callable[[bool], None]
"""Called with True when the first guest of a host starts and with False when the last one stops."""


def not_running(name: str) -> OperationInvalid:
    """The error for an operation that needs a running domain."""
    return OperationInvalid(f"domain '{name}' is not running", code=ErrorCode.OPERATION_INVALID,
                            domain=ErrorDomain.DOMAIN)


@dataclass(eq=False)
class Guest:
    """One domain of the host: its configs and, while it runs, its QEMU, monitor and live state."""

    name: str
    uuid: str
    config: Optional[DomainDefinition] = None      # persistent definition (None: transient)
    live: Optional[DomainDefinition] = None        # definition of the running guest
    id: int = -1
    state: int = DomainState.SHUTOFF
    reason: int = DomainShutoffReason.UNKNOWN
    process: Optional[QemuProcess] = None
    monitor: Optional[Monitor] = None
    plan: Optional[GuestPlan] = None
    cgroup: Optional[DomainCgroup] = None
    started: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)
    expected: collections.Counter = field(default_factory=collections.Counter)
    shutdown_seen: bool = False
    stopping: bool = False
    updated: bool = False                          # the config changed since the guest started
    incoming: bool = False                         # started for an incoming migration or a restore
    console: Any = None                            # the console relay in use (console.ConsoleRelay)
    extra: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether QEMU runs for this domain."""
        return self.process is not None

    @property
    def persistent(self) -> bool:
        """Whether the domain has a persistent config."""
        return self.config is not None

    @property
    def current(self) -> DomainDefinition:
        """The live definition while running, the persistent one otherwise."""
        definition = self.live if self.active and self.live is not None else self.config
        assert definition is not None
        return definition

    def ref(self) -> DomainRef:
        """The handle the kernel hands out."""
        return DomainRef(self.name, self.uuid, self.id if self.active else -1)

    def set_state(self, state: int, reason: int) -> None:
        """Change the state and reason."""
        self.state, self.reason = int(state), int(reason)


class QemuHost:
    """The shared per-process view of one host (see the module docstring)."""

    _hosts: dict[str, "QemuHost"] = {}
    _hosts_lock = threading.Lock()

    def __init__(self, paths: QemuPaths) -> None:
        self.paths = paths
        self.store = DomainStore(paths)
        self.events = EventBus.shared(paths.key)
        self.guests: dict[str, Guest] = {}
        self.lock = threading.RLock()          # guards `guests` (each guest has its own job lock)
        self.hooks: Optional[LifecycleHooks] = None
        self._users: list[Any] = []
        self._caps: dict[str, Capabilities] = {}
        self._lock_fd = -1
        self._active = 0
        self._active_lock = threading.Lock()
        self._inhibit: list[InhibitCallback] = []
        self._watched: dict[int, tuple[Guest, QemuProcess]] = {}
        self._watch_lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._stopping = False
        self._thread = threading.Thread(target=self._watch, name=f"qemu-watch:{paths.uri}", daemon=True)
        self.exit_handler: Callable[[Guest, QemuProcess], None] = lambda guest, process: None
        self.ncpus = os.cpu_count() or 1

    # ------------------------------------------------------------------------------ sharing

    @classmethod
    def attach(cls, paths: QemuPaths, user: Any, hooks: LifecycleHooks,
               reconnect: Callable[["QemuHost"], None]) -> "QemuHost":
        """The host for `paths` (locked, loaded and reconnected on first use in this process)."""
        with cls._hosts_lock:
            host = cls._hosts.get(paths.key)
            fresh = host is None
            if fresh:
                paths.create()
                host = QemuHost(paths)
                host._take_lock()
                cls._hosts[paths.key] = host
            host._users.append(user)
            host.hooks = hooks
            if fresh:
                try:
                    host._load_configs()
                    host._thread.start()
                    reconnect(host)
                except BaseException:
                    cls._hosts.pop(paths.key, None)
                    host._release()
                    raise
        return host

    def detach(self, user: Any) -> None:
        """A connection is done; the last one stops the watcher and lets go of the guests (they keep running)."""
        with QemuHost._hosts_lock:
            if user in self._users:
                self._users.remove(user)
            if self._users:
                return
            QemuHost._hosts.pop(self.paths.key, None)
        with self.lock:
            guests = list(self.guests.values())
        for guest in guests:
            with guest.lock:
                if guest.monitor is not None:
                    guest.monitor.close()
                    guest.monitor = None
                if guest.process is not None:
                    guest.process.close()
        self._release()

    def _take_lock(self) -> None:
        path = self.paths.run_dir / "driver.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OperationInvalid(f"cannot open {self.paths.uri}: another process (pid {holder}) drives this "
                                   "host; only one process at a time may", code=ErrorCode.OPERATION_INVALID,
                                   domain=ErrorDomain.QEMU) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _release(self) -> None:
        self._stopping = True
        with self._watch_lock:
            self._wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(5)
        with self._watch_lock:
            watched, self._watched = list(self._watched), {}
        for fd in watched:  # our pidfd copies; the guests keep running
            os.close(fd)
        with self._watch_lock:  # watch()/unwatch() after this find the pipe gone, not a reused descriptor
            wake, self._wake_read, self._wake_write = (self._wake_read, self._wake_write), -1, -1
        for fd in wake:
            if fd >= 0:
                os.close(fd)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1

    def _load_configs(self) -> None:
        for defn in self.store.configs():
            self.guests[defn.name] = Guest(defn.name, defn.uuid or "", config=defn)

    # ------------------------------------------------------------------------------ lookups

    def capabilities(self, binary: str = capabilities.DEFAULT_BINARY) -> Capabilities:
        """The probed capabilities of a QEMU binary (cached on disk under the host's cache dir)."""
        caps = self._caps.get(binary)
        if caps is None:
            caps = self._caps[binary] = capabilities.probe(binary, cache_dir=self.paths.cache_dir)
        return caps

    def guest(self, name: str) -> Guest:
        """A guest by name; NoDomain when unknown."""
        guest = self.guests.get(name)
        if guest is None:
            raise NoDomain(f"no domain with matching name '{name}'", code=ErrorCode.NO_DOMAIN,
                           domain=ErrorDomain.QEMU)
        return guest

    def find(self, dom: DomainRef) -> Guest:
        """The guest a handle names (its UUID must still match)."""
        guest = self.guests.get(dom.name)
        if guest is None or (dom.uuid and guest.uuid != dom.uuid):
            raise NoDomain(f"no domain with matching name '{dom.name}'", code=ErrorCode.NO_DOMAIN,
                           domain=ErrorDomain.QEMU)
        return guest

    def running(self, dom: DomainRef) -> Guest:
        """The guest a handle names, which must be running."""
        guest = self.find(dom)
        if not guest.active:
            raise not_running(guest.name)
        return guest

    def forget_if_unused(self, guest: Guest) -> None:
        """Drop a transient guest that stopped.

        Callers hold guest.lock; taking the host lock here would invert the host -> guest lock order.
        """
        if not guest.active and guest.config is None and self.guests.get(guest.name) is guest:
            self.guests.pop(guest.name, None)

    # ------------------------------------------------------------------------------ state on disk

    def write_status(self, guest: Guest, state: Optional[tuple[int, int]] = None) -> None:
        """Record a running guest's status file (`state`: the state and reason to record instead of the guest's)."""
        assert guest.live is not None
        state, reason = state if state is not None else (guest.state, guest.reason)
        self.store.write_status(GuestStatus(
            name=guest.name, uuid=guest.uuid, id=guest.id, state=int(state), reason=int(reason),
            live_xml=guest.live.to_xml(), persistent=guest.config is not None,
            qmp=str(self.store.files(guest.name).qmp), cgroup=guest.cgroup is not None, started=guest.started,
            extra=guest.extra))

    # ------------------------------------------------------------------------------ hooks and events

    def run_hook(self, point: HookPoint, guest: Guest, definition: DomainDefinition, sub_operation: str,
                 extra: str = "-") -> str:
        """Run a lifecycle hook point for a guest; the (possibly rewritten) XML."""
        assert self.hooks is not None
        return self.hooks.run(point, name=guest.name, uuid=guest.uuid, xml=definition.to_xml,
                              sub_operation=sub_operation, extra=extra)

    def emit(self, guest: Guest, event: int, detail: int) -> None:
        """Emit a lifecycle event for a guest."""
        self.events.emit_lifecycle(guest.ref(), event, detail)

    # ------------------------------------------------------------------------------ active count

    def add_inhibitor(self, callback: InhibitCallback) -> None:
        """Call callback(True) when the first guest starts and callback(False) when the last stops.

        Called at once with True when guests already run (a hosting process must not exit meanwhile).
        """
        with self._active_lock:
            self._inhibit.append(callback)
            running = self._active > 0
        if running:
            callback(True)

    def remove_inhibitor(self, callback: InhibitCallback) -> None:
        """Stop calling an inhibit callback."""
        with self._active_lock:
            if callback in self._inhibit:
                self._inhibit.remove(callback)

    @property
    def active_count(self) -> int:
        """How many guests run on this host."""
        return self._active

    def _change_active(self, delta: int) -> None:
        with self._active_lock:
            before = self._active
            self._active = max(0, before + delta)
            after = self._active
            callbacks = list(self._inhibit)
        if (before == 0) != (after == 0):
            for callback in callbacks:
                try:
                    callback(after > 0)
                except Exception:  # noqa: BLE001 - a broken callback must not break a start or stop
                    log.exception("inhibit callback failed")

    # ------------------------------------------------------------------------------ watching QEMU

    def watch(self, guest: Guest, process: QemuProcess) -> None:
        """Count a guest as active and report its QEMU's exit to `exit_handler`."""
        self._change_active(+1)
        fd = os.dup(process.fileno())  # our own pidfd copy: the process object may close its own
        with self._watch_lock:
            self._watched[fd] = (guest, process)
            self._wake()

    def unwatch(self, process: QemuProcess) -> bool:
        """Stop watching a QEMU (the caller handles its stop) and count the guest as gone; False if not watched."""
        with self._watch_lock:
            found = [fd for fd, (_g, p) in self._watched.items() if p is process]
            for fd in found:
                del self._watched[fd]
        for fd in found:
            os.close(fd)
            self._change_active(-1)
        if found:
            with self._watch_lock:
                self._wake()
        return bool(found)

    def _wake(self) -> None:
        """Make the watcher rebuild its poll set (caller holds _watch_lock)."""
        if self._wake_write >= 0:
            try:
                os.write(self._wake_write, b"x")
            except BlockingIOError:
                pass  # already woken

    def _watch(self) -> None:
        while not self._stopping:
            with self._watch_lock:
                fds = list(self._watched)
                wake_read = self._wake_read
            if wake_read < 0:
                return
            poller = select.poll()
            poller.register(wake_read, select.POLLIN)
            for fd in fds:
                poller.register(fd, select.POLLIN)
            ready = poller.poll()
            for fd, _events in ready:
                if fd == wake_read:
                    try:
                        while os.read(wake_read, 64):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                with self._watch_lock:
                    found = self._watched.pop(fd, None)
                if found is None:
                    continue
                os.close(fd)
                self._change_active(-1)
                guest, process = found
                threading.Thread(target=self._exited, args=(guest, process), name="qemu-exit",
                                 daemon=True).start()

    def _exited(self, guest: Guest, process: QemuProcess) -> None:
        try:
            self.exit_handler(guest, process)
        except Exception:  # noqa: BLE001
            log.exception("handling the exit of QEMU of guest '%s' failed", guest.name)


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    """Poll predicate until it is true or timeout seconds passed."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
    return True


def error_from(exc: BaseException) -> VirtError:
    """exc as a VirtError."""
    if isinstance(exc, VirtError):
        return exc
    return VirtError(str(exc) or type(exc).__name__, code=ErrorCode.INTERNAL_ERROR, domain=ErrorDomain.QEMU)

