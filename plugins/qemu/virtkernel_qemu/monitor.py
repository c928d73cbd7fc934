"""A synchronous QMP monitor over the asyncio `qemu.qmp` library: commands with timeouts, events, clean errors.

`qemu.qmp.QMPClient` is asyncio; virtkernel's driver API is synchronous.  Every `Monitor` runs its
client on an `EventLoopThread` (by default one shared by the whole process, `shared_loop()`), and
its public methods block the calling thread until the loop has the answer.

Events: each QMP event is turned into a `MonitorEvent` and
  * matched against the `EventWaiter`s armed with `Monitor.expect_event` (in the loop thread, so a
    waiter armed before a command can never miss the event that command causes), then
  * handed to the callbacks added with `Monitor.add_event_handler`, called one at a time, in
    arrival order, on the loop's dispatch thread.  A callback may call `Monitor.execute`; it must
    not block for long, since it delays every later event.
When QEMU closes the connection (it exited, or another client took over), waiters fail with
`MonitorClosed` and the `on_close` callback runs on the dispatch thread.

Commands: `Monitor.execute` sends one and waits for its answer; `Monitor.submit` sends one without waiting
(its `PendingReply.result` waits later), so that several commands cost one round trip.  QEMU runs a
monitor's commands one at a time in the order they were sent.

Errors: a QMP error reply raises `QMPCommandError` (VIR_ERR_OPERATION_FAILED in the QEMU error
domain, message naming the command, with the QMP error class and description as attributes); a
command that gets no reply in time raises a VirtError with VIR_ERR_OPERATION_TIMEOUT; a closed or
lost connection raises `MonitorClosed`.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Union

from qemu.qmp import ConnectError, ExecInterruptedError, ExecuteError, QMPClient, QMPError
from qemu.qmp.protocol import Runstate, StateError

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import InternalError, OperationFailed, VirtError

__all__ = ["EventLoopThread", "shared_loop", "MonitorEvent", "Monitor", "EventWaiter", "PendingReply",
           "QMPCommandError", "MonitorClosed", "MonitorTimeout", "LIFECYCLE_EVENTS", "DEFAULT_TIMEOUT",
           "listening_socket"]

log = logging.getLogger(__name__)
# qemu.qmp logs failed connection attempts at ERROR; we report them as VirtErrors instead, so keep
# Python's last-resort handler from printing them when the application configured no logging.
logging.getLogger("qemu.qmp").addHandler(logging.NullHandler())

DEFAULT_TIMEOUT = 30.0
"""Seconds a command may take before `MonitorTimeout` (migration and save use their own waits)."""

LIFECYCLE_EVENTS = frozenset({
    "STOP", "RESUME", "SHUTDOWN", "RESET", "POWERDOWN", "SUSPEND", "WAKEUP", "GUEST_PANICKED",
    "MIGRATION", "MIGRATION_PASS", "DEVICE_DELETED", "BLOCK_JOB_READY", "BLOCK_JOB_COMPLETED",
    "BLOCK_JOB_CANCELLED", "BLOCK_JOB_ERROR", "JOB_STATUS_CHANGE", "BLOCK_IO_ERROR", "WATCHDOG",
    "BALLOON_CHANGE", "RTC_CHANGE", "DUMP_COMPLETED", "VSERPORT_CHANGE",
})
"""Events a driver usually cares about (informational; every event is delivered)."""

Address = Union[str, Path, socket.socket]


class QMPCommandError(OperationFailed):
    """QEMU answered a command with an error: `command`, `error_class` and `desc` tell which and why."""

    def __init__(self, guest: str, command: str, error_class: str, desc: str) -> None:
        super().__init__(f"QEMU command '{command}' failed for guest '{guest}': {desc}",
                         domain=ErrorDomain.QEMU)
        self.command = command
        self.error_class = error_class
        self.desc = desc


class MonitorClosed(OperationFailed):
    """The monitor connection is closed or was lost (QEMU exited, or it was never reached)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, domain=ErrorDomain.QEMU)


class MonitorTimeout(VirtError):
    """QEMU did not answer in time (VIR_ERR_OPERATION_TIMEOUT)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=ErrorCode.OPERATION_TIMEOUT, domain=ErrorDomain.QEMU)


@dataclass(frozen=True)
class MonitorEvent:
    """One QMP event: its name, data and QEMU's timestamp (seconds since the epoch), and the guest's name."""

    name: str
    data: Mapping[str, Any]
    timestamp: float
    guest: str


# --------------------------------------------------------------------------------------------
# The loop thread
# --------------------------------------------------------------------------------------------

def _quiet_lost_connections(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """Keep qemu.qmp's leftover "exception was never retrieved" about a QEMU that went away out of stderr.

    When QEMU dies (killed, or at the end of a migration), qemu.qmp's reader tasks end with EOFError or a reset
    connection; the monitor has already reported the loss, so these are logged at debug level only.
    """
    exc = context.get("exception")
    if isinstance(exc, (EOFError, ConnectionResetError, BrokenPipeError)):
        log.debug("QMP connection lost: %s", context.get("message"))
        return
    loop.default_exception_handler(context)


class EventLoopThread:
    """An asyncio loop running in a daemon thread, plus a thread that runs event callbacks in order."""

    def __init__(self, name: str = "vk-qmp") -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_quiet_lost_connections)
        self._callbacks: "queue.SimpleQueue[Optional[Callable[[], None]]]" = queue.SimpleQueue()
        started = threading.Event()

        def run_loop() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(started.set)
            self.loop.run_forever()

        self._thread = threading.Thread(target=run_loop, name=f"{name}-loop", daemon=True)
        self._thread.start()
        self._dispatcher = threading.Thread(target=self._dispatch_forever, name=f"{name}-events", daemon=True)
        self._dispatcher.start()
        started.wait()

    def in_loop_thread(self) -> bool:
        """True when called from the loop's own thread (where blocking calls would deadlock)."""
        return threading.current_thread() is self._thread

    def run(self, coroutine, timeout: Optional[float] = None) -> Any:
        """Run a coroutine on the loop and wait for its result (at most `timeout` s more than it takes)."""
        if self.in_loop_thread():
            coroutine.close()
            raise _blocking_in_loop_thread()
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def submit(self, coroutine) -> "concurrent.futures.Future[Any]":
        """Schedule a coroutine on the loop without waiting (coroutines start in the order submitted)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def call_soon(self, function: Callable[..., Any], *args: Any) -> None:
        """Schedule a plain function on the loop thread."""
        self.loop.call_soon_threadsafe(function, *args)

    def dispatch(self, function: Callable[[], None]) -> None:
        """Queue a callback for the dispatch thread (callbacks run one at a time, in order)."""
        self._callbacks.put(function)

    def _dispatch_forever(self) -> None:
        while True:
            function = self._callbacks.get()
            if function is None:
                return
            try:
                function()
            except Exception:  # noqa: BLE001 - a broken callback must not stop later events
                log.exception("QMP event callback failed")

    def close(self) -> None:
        """Stop both threads; connections still open on this loop are dropped."""
        self._callbacks.put(None)
        if self.loop.is_closed():
            return

        def cancel_and_stop() -> None:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_soon(self.loop.stop)  # after the cancelled tasks have run once more

        try:
            self.loop.call_soon_threadsafe(cancel_and_stop)
        except RuntimeError:  # the loop is already closed
            return
        self._thread.join(5)
        self._dispatcher.join(5)
        if not self._thread.is_alive():
            self.loop.close()


def _blocking_in_loop_thread() -> InternalError:
    return InternalError("a blocking monitor call was made from the monitor's event loop thread")


_shared: Optional[EventLoopThread] = None
_shared_pid = 0
_shared_lock = threading.Lock()


def shared_loop() -> EventLoopThread:
    """The process-wide loop thread used by monitors that are not given one (re-created after fork)."""
    global _shared, _shared_pid
    with _shared_lock:
        if _shared is None or _shared_pid != os.getpid():
            _shared, _shared_pid = EventLoopThread(), os.getpid()
            atexit.register(_shared.close)
        return _shared


def listening_socket(path: Union[str, Path]) -> socket.socket:
    """Bind and listen on a unix socket for QEMU's monitor, to pass to QEMU as ``fd=N,server=on``.

    Connecting to it works at once (the connection waits in the backlog until QEMU accepts), so
    nobody has to poll for the socket file to appear while QEMU starts.
    """
    path = str(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(1)
    except OSError:
        listener.close()
        raise
    return listener


# --------------------------------------------------------------------------------------------
# Waiting for events
# --------------------------------------------------------------------------------------------

class EventWaiter:
    """Collects matching events from the moment it is armed; `wait` returns the next one."""

    def __init__(self, monitor: "Monitor", names: frozenset[str],
                 predicate: Optional[Callable[[MonitorEvent], bool]]) -> None:
        self.monitor = monitor
        self.names = names
        self.predicate = predicate
        self._events: list[MonitorEvent] = []
        self._condition = threading.Condition()

    def _offer(self, event: MonitorEvent) -> None:
        if event.name in self.names and (self.predicate is None or self.predicate(event)):
            with self._condition:
                self._events.append(event)
                self._condition.notify_all()

    def _closed(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def wait(self, timeout: Optional[float] = DEFAULT_TIMEOUT) -> MonitorEvent:
        """The next matching event; MonitorTimeout after timeout s, MonitorClosed if the connection ends."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while not self._events:
                if self.monitor.closed:
                    raise MonitorClosed(f"QEMU monitor of guest '{self.monitor.guest}' closed while "
                                        f"waiting for {'/'.join(sorted(self.names))}")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise MonitorTimeout(f"guest '{self.monitor.guest}' sent no "
                                         f"{'/'.join(sorted(self.names))} event within {timeout} s")
                self._condition.wait(remaining)
            return self._events.pop(0)

    def cancel(self) -> None:
        """Stop collecting events."""
        self.monitor._remove_waiter(self)

    def __enter__(self) -> "EventWaiter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()


# --------------------------------------------------------------------------------------------
# Answers not waited for yet
# --------------------------------------------------------------------------------------------

class PendingReply:
    """The answer to a command sent with `Monitor.submit`; `result` waits for it."""

    def __init__(self, monitor: "Monitor", command: str, future: "concurrent.futures.Future[Any]",
                 timeout: Optional[float]) -> None:
        self.monitor = monitor
        self.command = command
        self.timeout = timeout
        self._future = future

    def done(self) -> bool:
        """True once QEMU answered (or the command failed)."""
        return self._future.done()

    def result(self) -> Any:
        """The command's "return" value; raises what `Monitor.execute` raises."""
        if self.monitor.loop.in_loop_thread():
            raise _blocking_in_loop_thread()
        guest, command = self.monitor.guest, self.command
        try:
            return self._future.result()
        except ExecuteError as exc:
            raise QMPCommandError(guest, command, exc.error_class, exc.error.error.desc) from None
        except asyncio.TimeoutError:
            raise MonitorTimeout(f"QEMU command '{command}' for guest '{guest}' got no answer "
                                 f"within {self.timeout} s") from None
        except (ExecInterruptedError, StateError, ConnectionError, EOFError) as exc:
            raise MonitorClosed(f"QEMU monitor of guest '{guest}' closed during command '{command}'") from exc
        except QMPError as exc:
            raise OperationFailed(f"QEMU command '{command}' for guest '{guest}' failed: {exc}",
                                  domain=ErrorDomain.QEMU) from exc


# --------------------------------------------------------------------------------------------
# The monitor
# --------------------------------------------------------------------------------------------

class _Client(QMPClient):
    """qemu.qmp's client, logging each message only when its logger would print it.

    The library's own hooks turn every message back into JSON for a debug line even when nothing is logged:
    a big ``query-migrate`` answer cost more than handling it.
    """

    def _cb_outbound(self, msg: Any) -> Any:
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("--> %s", str(msg))
        return msg

    def _cb_inbound(self, msg: Any) -> Any:
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("<-- %s", str(msg))
        return msg


@dataclass
class _Handlers:
    on_event: list[Callable[[MonitorEvent], None]] = field(default_factory=list)
    on_close: list[Callable[["Monitor"], None]] = field(default_factory=list)


class Monitor:
    """A synchronous QMP connection to one QEMU process."""

    def __init__(self, guest: str, *, loop: Optional[EventLoopThread] = None) -> None:
        self.guest = guest
        self.loop = loop or shared_loop()
        self.closed = True
        self.greeting: Mapping[str, Any] = {}
        self._client: Optional[QMPClient] = None
        self._handlers = _Handlers()
        self._waiters: list[EventWaiter] = []
        self._waiters_lock = threading.Lock()
        self._tasks: list[asyncio.Task] = []

    def __repr__(self) -> str:
        return f"Monitor(guest={self.guest!r}, closed={self.closed})"

    @classmethod
    def connect(cls, address: Address, guest: str, *, timeout: float = 10.0,
                loop: Optional[EventLoopThread] = None,
                on_event: Optional[Callable[[MonitorEvent], None]] = None,
                on_close: Optional[Callable[["Monitor"], None]] = None,
                alive: Optional[Callable[[], bool]] = None) -> "Monitor":
        """Connect to QEMU's QMP socket (a path, or a connected socket) and negotiate capabilities.

        Works for a QEMU that is starting (retries while the socket does not exist or refuses, for up
        to `timeout` s, giving up early when `alive()` turns False) and for one that has run for a
        long time (reconnection after a restart of virtkernel).
        """
        monitor = cls(guest, loop=loop)
        if on_event is not None:
            monitor.add_event_handler(on_event)
        if on_close is not None:
            monitor._handlers.on_close.append(on_close)
        monitor._connect(address, timeout, alive)
        return monitor

    def _connect(self, address: Address, timeout: float, alive: Optional[Callable[[], bool]]) -> None:
        deadline = time.monotonic() + timeout
        target = str(address) if isinstance(address, Path) else address
        while True:
            client = _Client(self.guest)
            try:
                self.loop.run(self._open(client, target, max(deadline - time.monotonic(), 0.001)))
                break
            except (ConnectError, asyncio.TimeoutError, OSError) as exc:
                cause = exc.exc if isinstance(exc, ConnectError) else exc
                retry = isinstance(cause, (FileNotFoundError, ConnectionRefusedError)) \
                    and not isinstance(target, socket.socket)
                if isinstance(exc, asyncio.TimeoutError) or not retry or time.monotonic() >= deadline \
                        or (alive is not None and not alive()):
                    if isinstance(exc, asyncio.TimeoutError):
                        reason = f"no answer within {timeout} s"
                    elif isinstance(cause, EOFError):
                        reason = "QEMU closed the connection"
                    else:
                        reason = str(cause) or type(cause).__name__
                    raise MonitorClosed(f"cannot connect to the QEMU monitor of guest '{self.guest}' "
                                        f"at {address}: {reason}") from exc
                time.sleep(0.005)

    async def _open(self, client: QMPClient, target: Any, timeout: float) -> None:
        try:
            await asyncio.wait_for(client.connect(target), timeout)
        except BaseException:
            await client.disconnect()
            raise
        # Marked open here, in the loop thread, before the watcher can mark it closed again.
        self._client = client
        self.greeting = client.greeting._asdict() if client.greeting is not None else {}
        self.closed = False
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._pump_events(client)), loop.create_task(self._watch(client))]

    async def _pump_events(self, client: QMPClient) -> None:
        # Drains the client's default listener (which would otherwise grow without bound).
        async for message in client.events:
            stamp = message.get("timestamp", {})
            event = MonitorEvent(name=message["event"], data=dict(message.get("data", {})),
                                 timestamp=stamp.get("seconds", 0) + stamp.get("microseconds", 0) / 1e6,
                                 guest=self.guest)
            with self._waiters_lock:
                waiters = list(self._waiters)
            for waiter in waiters:
                try:
                    waiter._offer(event)
                except Exception:  # noqa: BLE001 - a broken predicate must not stop the pump
                    log.exception("event predicate failed")
            for handler in list(self._handlers.on_event):
                self.loop.dispatch(lambda handler=handler, event=event: handler(event))

    async def _watch(self, client: QMPClient) -> None:
        while client.runstate == Runstate.RUNNING:
            await client.runstate_changed()
        try:
            await client.disconnect()
        except Exception:  # noqa: BLE001 - EOF from QEMU is the normal way this ends
            pass
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._mark_closed()

    def _mark_closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        with self._waiters_lock:
            waiters = list(self._waiters)
        for waiter in waiters:
            waiter._closed()
        for handler in list(self._handlers.on_close):
            self.loop.dispatch(lambda handler=handler: handler(self))

    # -- commands ------------------------------------------------------------------------------

    def execute(self, command: str, arguments: Optional[Mapping[str, Any]] = None, *,
                timeout: Optional[float] = DEFAULT_TIMEOUT) -> Any:
        """Run one QMP command and return its "return" value.

        Raises QMPCommandError (QEMU refused it), MonitorTimeout (no answer within timeout s; None
        waits forever) or MonitorClosed (no connection).
        """
        self._require_client(command)
        if self.loop.in_loop_thread():
            raise _blocking_in_loop_thread()
        return self.submit(command, arguments, timeout=timeout).result()

    def submit(self, command: str, arguments: Optional[Mapping[str, Any]] = None, *,
               timeout: Optional[float] = DEFAULT_TIMEOUT) -> PendingReply:
        """Send one QMP command without waiting for its answer (`PendingReply.result` waits).

        QEMU runs the commands of a monitor in the order they were sent, this way or with `execute`.
        Raises MonitorClosed at once when there is no connection.
        """
        client = self._require_client(command)
        future = self.loop.submit(asyncio.wait_for(client.execute(command, arguments), timeout))
        return PendingReply(self, command, future, timeout)

    def execute_hmp(self, command_line: str, *, timeout: Optional[float] = DEFAULT_TIMEOUT) -> str:
        """Run a human monitor command (``info status``...) through QMP; its text output."""
        return self.execute("human-monitor-command", {"command-line": command_line}, timeout=timeout)

    def send_fd(self, fd: int, fdname: str, *, timeout: Optional[float] = DEFAULT_TIMEOUT) -> None:
        """Pass a file descriptor to QEMU under a name (SCM_RIGHTS + ``getfd``), e.g. for ``migrate fd:NAME``.

        The caller keeps its own descriptor and may close it afterwards.
        """
        client = self._require_client("getfd")

        async def send_and_name() -> Any:
            client.send_fd_scm(fd)
            return await asyncio.wait_for(client.execute("getfd", {"fdname": fdname}), timeout)

        try:
            self.loop.run(send_and_name())
        except ExecuteError as exc:
            raise QMPCommandError(self.guest, "getfd", exc.error_class, exc.error.error.desc) from None
        except asyncio.TimeoutError:
            raise MonitorTimeout(f"QEMU command 'getfd' for guest '{self.guest}' got no answer "
                                 f"within {timeout} s") from None
        except (ExecInterruptedError, StateError, ConnectionError, EOFError) as exc:
            raise MonitorClosed(f"QEMU monitor of guest '{self.guest}' closed while passing a file "
                                f"descriptor") from exc

    def close_fd(self, fdname: str) -> None:
        """Drop a descriptor previously passed with `send_fd` (ignores one QEMU already closed)."""
        try:
            self.execute("closefd", {"fdname": fdname})
        except QMPCommandError:
            pass

    def _require_client(self, command: str) -> QMPClient:
        client = self._client
        if client is None or self.closed:
            raise MonitorClosed(f"QEMU monitor of guest '{self.guest}' is closed; cannot run '{command}'")
        return client

    # -- events --------------------------------------------------------------------------------

    def add_event_handler(self, callback: Callable[[MonitorEvent], None]) -> None:
        """Call callback(event) on the dispatch thread for every event from now on."""
        self._handlers.on_event.append(callback)

    def remove_event_handler(self, callback: Callable[[MonitorEvent], None]) -> None:
        """Stop calling a handler added with `add_event_handler`."""
        self._handlers.on_event.remove(callback)

    def add_close_handler(self, callback: Callable[["Monitor"], None]) -> None:
        """Call callback(monitor) on the dispatch thread when the connection ends by itself."""
        self._handlers.on_close.append(callback)

    def expect_event(self, names: Union[str, Iterable[str]],
                     predicate: Optional[Callable[[MonitorEvent], bool]] = None) -> EventWaiter:
        """Arm a waiter for events by name (and predicate) before doing what causes them.

        Use as a context manager: ``with mon.expect_event("STOP") as stop: mon.execute("stop");
        stop.wait(5)``.
        """
        waiter = EventWaiter(self, frozenset([names] if isinstance(names, str) else names), predicate)
        with self._waiters_lock:
            self._waiters.append(waiter)
        return waiter

    def _remove_waiter(self, waiter: EventWaiter) -> None:
        with self._waiters_lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    # -- shutdown ------------------------------------------------------------------------------

    def close(self, *, wait: bool = True) -> None:
        """Disconnect (QEMU keeps running and accepts a new connection later).

        wait=False: the monitor is closed for its users at once and the connection is torn down on the loop
        thread meanwhile (e.g. while QEMU is being killed).
        """
        client, self._client = self._client, None
        if client is None:
            return
        self._handlers.on_close.clear()  # an explicit close is not news for the close handlers
        if not self.loop.in_loop_thread():
            try:
                if wait:
                    self.loop.run(self._disconnect(client), timeout=10)
                else:
                    self.loop.submit(self._disconnect(client))
            except Exception:  # noqa: BLE001 - closing a broken connection is still closing it
                pass
        self._mark_closed()

    async def _disconnect(self, client: QMPClient) -> None:
        for task in self._tasks:
            task.cancel()
        try:
            await client.disconnect()
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
