"""libvirt-python's default event loop: timers, fd watches, and domain event callbacks run by the caller's thread.

virtkernel's drivers emit domain events on a dispatcher thread. libvirt programs instead expect callbacks to
run inside ``virEventRunDefaultImpl()``, in the thread that pumps the loop. So once
``virEventRegisterDefaultImpl()`` has been called, the facade queues each callback here and the next
``virEventRunDefaultImpl()`` runs it; before waiting, an iteration first lets every connection's dispatcher
finish delivering what was emitted so far, so a callback for an event caused by a call that has returned
runs in the very next iteration (libvirt's test driver behaves the same way). Without a registered loop,
callbacks run on the dispatcher thread.
"""

from __future__ import annotations

import itertools
import os
import select
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from ..connection import Connection

HANDLE_READABLE = 1
HANDLE_WRITABLE = 2
HANDLE_ERROR = 4
HANDLE_HANGUP = 8
FLUSH_TIMEOUT_S = 5.0

_TO_POLL = {HANDLE_READABLE: select.POLLIN, HANDLE_WRITABLE: select.POLLOUT}
_FROM_POLL = {select.POLLIN: HANDLE_READABLE, select.POLLOUT: HANDLE_WRITABLE, select.POLLERR: HANDLE_ERROR,
              select.POLLHUP: HANDLE_HANGUP}


@dataclass
class _Timer:
    timer_id: int
    interval_ms: int
    callback: Callable[[int, Any], Any]
    opaque: Any
    due: float


@dataclass
class _Handle:
    watch: int
    fd: int
    events: int
    callback: Callable[[int, int, int, Any], Any]
    opaque: Any


class DefaultEventLoop:
    """One process-wide loop, like libvirt's: registered once, pumped by virEventRunDefaultImpl()."""

    def __init__(self) -> None:
        self.registered = False
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._timers: dict[int, _Timer] = {}
        self._handles: dict[int, _Handle] = {}
        self._pending: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._sources: "weakref.WeakSet[Connection]" = weakref.WeakSet()

    # -- event callbacks from the dispatcher threads ----------------------------------------------------------------

    def watch_connection(self, conn: "Connection") -> None:
        """Remember a kernel connection whose callbacks this loop delivers (flushed before each iteration)."""
        self._sources.add(conn)

    def deliver(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Run a user callback: queued for the loop when one is registered, at once otherwise."""
        if not self.registered:
            callback(*args)
            return
        with self._lock:
            self._pending.append((callback, args))
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_write, b"x")
        except BlockingIOError:
            pass  # the pipe is full: the loop is awake already

    # -- timers and handles -----------------------------------------------------------------------------------------

    def add_timeout(self, timeout_ms: int, callback: Callable[[int, Any], Any], opaque: Any) -> int:
        """A timer firing every ``timeout_ms`` (0: every iteration, -1: disabled); returns its id."""
        if not callable(callback):
            raise TypeError("virEventAddTimeout: the callback must be callable")
        with self._lock:
            timer_id = next(self._ids)
            self._timers[timer_id] = _Timer(timer_id, int(timeout_ms), callback, opaque,
                                            time.monotonic() + max(int(timeout_ms), 0) / 1000)
        self._wake()
        return timer_id

    def update_timeout(self, timer_id: int, timeout_ms: int) -> None:
        """Change a timer's interval (restarting its period)."""
        with self._lock:
            timer = self._timers.get(timer_id)
            if timer is not None:
                timer.interval_ms = int(timeout_ms)
                timer.due = time.monotonic() + max(int(timeout_ms), 0) / 1000
        self._wake()

    def remove_timeout(self, timer_id: int) -> int:
        """Remove a timer; -1 when it does not exist."""
        with self._lock:
            return 0 if self._timers.pop(timer_id, None) is not None else -1

    def add_handle(self, fd: int, events: int, callback: Callable[[int, int, int, Any], Any], opaque: Any) -> int:
        """Watch a file descriptor for VIR_EVENT_HANDLE_* conditions; returns the watch id."""
        if not callable(callback):
            raise TypeError("virEventAddHandle: the callback must be callable")
        with self._lock:
            watch = next(self._ids)
            self._handles[watch] = _Handle(watch, int(fd), int(events), callback, opaque)
        self._wake()
        return watch

    def update_handle(self, watch: int, events: int) -> None:
        """Change the conditions a watch waits for (0 pauses it)."""
        with self._lock:
            handle = self._handles.get(watch)
            if handle is not None:
                handle.events = int(events)
        self._wake()

    def remove_handle(self, watch: int) -> int:
        """Stop watching; -1 when the watch does not exist."""
        with self._lock:
            return 0 if self._handles.pop(watch, None) is not None else -1

    # -- one iteration ----------------------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Wait for the next timer, fd condition or event callback, and run what is ready."""
        for conn in list(self._sources):
            if not conn.closed:
                conn.flush_events(FLUSH_TIMEOUT_S)
        poller = select.poll()
        poller.register(self._wake_read, select.POLLIN)
        with self._lock:
            handles = [h for h in self._handles.values() if h.events]
            for handle in handles:
                mask = 0
                for flag, poll_flag in _TO_POLL.items():
                    if handle.events & flag:
                        mask |= poll_flag
                poller.register(handle.fd, mask)
            timeout = self._poll_timeout()
        ready = poller.poll(timeout)
        self._drain_wake_pipe()
        self._run_pending()
        self._run_due_timers()
        self._run_ready_handles(ready, handles)
        return 0

    def _poll_timeout(self) -> Optional[float]:
        if self._pending:
            return 0
        enabled = [t.due for t in self._timers.values() if t.interval_ms >= 0]
        if not enabled:
            return None
        return max(0.0, (min(enabled) - time.monotonic()) * 1000)

    def _drain_wake_pipe(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def _run_pending(self) -> None:
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
        for callback, args in batch:
            callback(*args)

    def _run_due_timers(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [t for t in self._timers.values() if t.interval_ms >= 0 and t.due <= now]
            for timer in due:
                timer.due = now + timer.interval_ms / 1000
        for timer in due:
            if timer.timer_id in self._timers:
                timer.callback(timer.timer_id, timer.opaque)

    def _run_ready_handles(self, ready: list[tuple[int, int]], handles: list[_Handle]) -> None:
        by_fd = {h.fd: h for h in handles}
        for fd, poll_events in ready:
            handle = by_fd.get(fd)
            if handle is None or handle.watch not in self._handles:
                continue
            events = 0
            for poll_flag, flag in _FROM_POLL.items():
                if poll_events & poll_flag:
                    events |= flag
            handle.callback(handle.watch, handle.fd, events, handle.opaque)


LOOP = DefaultEventLoop()
"""The process's default event loop."""


def virEventRegisterDefaultImpl() -> int:  # noqa: N802
    """Use the default event loop: from now on event callbacks run inside virEventRunDefaultImpl()."""
    LOOP.registered = True
    return 0


def virEventRunDefaultImpl() -> int:  # noqa: N802
    """Run one iteration of the default event loop (blocks until something is ready)."""
    return LOOP.run_once()


def virEventRegisterImpl(*_functions: Any) -> None:  # noqa: N802
    """Accept an application's own loop; virtkernel then runs event callbacks on its dispatcher thread."""
    LOOP.registered = False


def virEventAddTimeout(timeout: int, cb: Callable[[int, Any], Any], opaque: Any) -> int:  # noqa: N802
    """Add a timer to the default loop: ``cb(timer_id, opaque)`` every ``timeout`` ms (0: every iteration)."""
    return LOOP.add_timeout(timeout, cb, opaque)


def virEventUpdateTimeout(timer: int, timeout: int) -> None:  # noqa: N802
    """Change a timer's interval (-1 disables it)."""
    LOOP.update_timeout(timer, timeout)


def virEventRemoveTimeout(timer: int) -> int:  # noqa: N802
    """Remove a timer."""
    return LOOP.remove_timeout(timer)


def virEventAddHandle(fd: int, events: int, cb: Callable[[int, int, int, Any], Any], opaque: Any) -> int:  # noqa: N802
    """Watch ``fd``: ``cb(watch, fd, events, opaque)`` when a VIR_EVENT_HANDLE_* condition holds."""
    return LOOP.add_handle(fd, events, cb, opaque)


def virEventUpdateHandle(watch: int, events: int) -> None:  # noqa: N802
    """Change the conditions a watch waits for."""
    LOOP.update_handle(watch, events)


def virEventRemoveHandle(watch: int) -> int:  # noqa: N802
    """Stop watching a file descriptor."""
    return LOOP.remove_handle(watch)


def virEventInvokeFreeCallback(opaque: Any) -> None:  # noqa: N802
    """For custom loops: nothing to free in virtkernel."""
