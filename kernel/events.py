"""Domain events: a bus drivers emit on, delivering to callbacks on a dispatcher thread, and an asyncio stream."""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .enums import DomainEventID
from .types import DomainRef

log = logging.getLogger(__name__)

EventCallback = Callable[..., Any]


@dataclass(frozen=True)
class DomainEvent:
    """One event as emitted by a driver: its id, the domain and the event-specific values."""

    event_id: int
    domain: DomainRef
    args: tuple[Any, ...]


@dataclass
class _Subscription:
    callback_id: int
    event_id: int
    domain_uuid: Optional[str]
    deliver: Callable[[DomainEvent], None]


class EventBus:
    """Fan-out of domain events to subscribers, delivered in order on one dispatcher thread."""

    _shared: "weakref.WeakValueDictionary[str, EventBus]" = weakref.WeakValueDictionary()
    _shared_lock = threading.Lock()
    _ids = itertools.count()

    def __init__(self, name: str = "events") -> None:
        self.name = name
        self._subscriptions: dict[int, _Subscription] = {}
        self._lock = threading.Lock()
        self._queue: "queue.Queue[Optional[DomainEvent]]" = queue.Queue()
        self._thread: Optional[threading.Thread] = None
        self._idle = threading.Condition()
        self._pending = 0

    @classmethod
    def shared(cls, key: str) -> "EventBus":
        """The bus shared by every connection to the same driver state (kept alive while anyone holds it)."""
        with cls._shared_lock:
            bus = cls._shared.get(key)
            if bus is None:
                bus = cls(key)
                cls._shared[key] = bus
            return bus

    def subscribe(self, event_id: int, deliver: Callable[[DomainEvent], None],
                  domain_uuid: Optional[str] = None) -> int:
        """Deliver events of ``event_id`` (optionally of one domain) to ``deliver``; return the subscription id."""
        callback_id = next(self._ids)
        with self._lock:
            self._subscriptions[callback_id] = _Subscription(callback_id, event_id, domain_uuid, deliver)
        return callback_id

    def unsubscribe(self, callback_id: int) -> bool:
        """Stop a subscription; False when the id is unknown."""
        with self._lock:
            return self._subscriptions.pop(callback_id, None) is not None

    def has_subscribers(self) -> bool:
        """Whether anyone listens (drivers may skip building expensive events otherwise)."""
        return bool(self._subscriptions)

    def emit(self, event_id: int, domain: DomainRef, *args: Any) -> None:
        """Queue an event for delivery; never blocks on subscribers."""
        if not self._subscriptions:
            return
        with self._idle:
            self._pending += 1
        self._ensure_thread()
        self._queue.put(DomainEvent(int(event_id), domain, args))

    def emit_lifecycle(self, domain: DomainRef, event: int, detail: int) -> None:
        """Queue a lifecycle event with libvirt's event and detail codes."""
        self.emit(DomainEventID.LIFECYCLE, domain, int(event), int(detail))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event has been delivered; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name=f"virtkernel-{self.name}", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            with self._lock:
                targets = [s for s in self._subscriptions.values()
                           if s.event_id == event.event_id
                           and (s.domain_uuid is None or s.domain_uuid == event.domain.uuid)]
            for sub in targets:
                try:
                    sub.deliver(event)
                except Exception:  # a failing user callback must not stop delivery to the others
                    log.exception("event callback %d failed", sub.callback_id)
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()


class EventStream:
    """An asyncio stream of DomainEvents from a bus: ``async for event in conn.event_stream(): ...``."""

    def __init__(self, bus: EventBus, event_ids: tuple[int, ...], loop: asyncio.AbstractEventLoop) -> None:
        self._queue: "asyncio.Queue[DomainEvent]" = asyncio.Queue()
        self._bus = bus
        self._ids = [bus.subscribe(eid, lambda ev: loop.call_soon_threadsafe(self._queue.put_nowait, ev))
                     for eid in event_ids]

    def __aiter__(self) -> "EventStream":
        return self

    async def __anext__(self) -> DomainEvent:
        return await self._queue.get()

    def close(self) -> None:
        """Stop receiving events."""
        for callback_id in self._ids:
            self._bus.unsubscribe(callback_id)
        self._ids.clear()
