"""virStream: libvirt-python's stream class over virtkernel's Stream (consoles, channels, screenshots)."""

from __future__ import annotations

import select
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from ..constants import VIR_STREAM_NONBLOCK
from ..enums import ErrorCode, ErrorDomain
from ..errors import VirtError
from ..stream import Stream
from .errors import raise_for, translate_errors, unsupported
from .eventloop import LOOP

if TYPE_CHECKING:
    from .connection import virConnect

CHUNK = 64 * 1024
WOULD_BLOCK = -2
"""What send/recv return on a non-blocking stream when they would have to wait (libvirt's value)."""

UNSUPPORTED_METHODS = {
    "recvFlags": "virStreamRecvFlags", "recvHole": "virStreamRecvHole", "sendHole": "virStreamSendHole",
    "sparseRecvAll": "virStreamSparseRecvAll", "sparseSendAll": "virStreamSparseSendAll",
}


@translate_errors
class virStream:  # noqa: N801 - libvirt-python's name
    """A byte stream of a connection (libvirt-python's virStream)."""

    def __init__(self, conn: "virConnect", _obj: Stream) -> None:
        if not isinstance(_obj, Stream):
            raise TypeError("virStream wraps a virtkernel Stream; use virConnect.newStream()")
        self._conn = conn
        self._o = _obj
        self._watch: Optional[int] = None

    def connect(self) -> "virConnect":
        """The stream's connection."""
        return self._conn

    def c_pointer(self) -> int:
        """An integer identifying the underlying stream."""
        return id(self._o)

    def _nonblocking(self) -> bool:
        return bool(self._o.flags & VIR_STREAM_NONBLOCK)

    def send(self, data: bytes) -> int:
        """Send bytes; returns how many were sent (-2 when a non-blocking stream would block)."""
        if self._nonblocking() and not self._ready(writable=True):
            return WOULD_BLOCK
        return self._o.send(data)

    def recv(self, nbytes: int) -> Union[bytes, int]:
        """Receive up to ``nbytes``: b"" at the end, -2 when a non-blocking stream has nothing yet."""
        if self._nonblocking() and not self._ready(writable=False):
            return WOULD_BLOCK
        return self._o.recv(nbytes)

    def _ready(self, writable: bool) -> bool:
        fd = self._o.fileno()
        readable, ready_to_write, _ = select.select([] if writable else [fd], [fd] if writable else [], [], 0)
        return bool(ready_to_write if writable else readable)

    def recvAll(self, handler: Callable[["virStream", bytes, Any], Any], opaque: Any) -> None:  # noqa: N802
        """Receive until the end, passing each chunk to ``handler(stream, data, opaque)`` (blocking streams)."""
        while True:
            data = self.recv(CHUNK)
            if data == WOULD_BLOCK:
                raise raise_for(_nonblocking_error("recvAll"))
            if not data:
                return
            try:
                answer = handler(self, data, opaque)
                if isinstance(answer, int) and answer < 0:
                    raise RuntimeError(f"recvAll handler returned {answer}")
            except BaseException:
                self._abort_quietly()
                raise

    def sendAll(self, handler: Callable[["virStream", int, Any], bytes], opaque: Any) -> None:  # noqa: N802
        """Send what ``handler(stream, nbytes, opaque)`` returns until it returns nothing (blocking streams)."""
        while True:
            try:
                data = handler(self, CHUNK, opaque)
            except BaseException:
                self._abort_quietly()
                raise
            if not data:
                return
            while data:
                sent = self.send(data)
                if sent == WOULD_BLOCK:
                    raise raise_for(_nonblocking_error("sendAll"))
                data = data[sent:]

    def _abort_quietly(self) -> None:
        try:
            self.abort()
        except Exception:  # the handler's own error is the one to report
            pass

    def finish(self) -> int:
        """End a successful transfer."""
        self._remove_watch()
        self._o.finish()
        return 0

    def abort(self) -> int:
        """Abandon the transfer."""
        self._remove_watch()
        self._o.abort()
        return 0

    def eventAddCallback(self, events: int, cb: Callable[["virStream", int, Any], Any],  # noqa: N802
                         opaque: Any) -> int:
        """Call ``cb(stream, events, opaque)`` from the default event loop when the stream is ready."""
        if self._watch is not None:
            raise raise_for(unsupported("virStreamEventAddCallback: a callback is already registered"))
        self._watch = LOOP.add_handle(self._o.fileno(), events,
                                      lambda _watch, _fd, ready, _opaque: cb(self, ready, opaque), None)
        return 0

    def eventUpdateCallback(self, events: int) -> int:  # noqa: N802
        """Change the conditions the callback waits for."""
        if self._watch is not None:
            LOOP.update_handle(self._watch, events)
        return 0

    def eventRemoveCallback(self) -> int:  # noqa: N802
        """Stop calling the stream's callback."""
        self._remove_watch()
        return 0

    def _remove_watch(self) -> None:
        if self._watch is not None:
            LOOP.remove_handle(self._watch)
            self._watch = None


def _nonblocking_error(function: str) -> VirtError:
    return VirtError(f"cannot use {function} with a non-blocking stream", code=ErrorCode.OPERATION_INVALID,
                     domain=ErrorDomain.STREAMS)


def _unsupported_method(python_name: str, c_name: str) -> Any:
    def method(self: Any, *_args: Any, **_kwargs: Any) -> Any:
        raise raise_for(unsupported(c_name))
    method.__name__ = python_name
    method.__doc__ = f"Not supported by virtkernel ({c_name}): raises libvirtError VIR_ERR_NO_SUPPORT."
    return method


for _python_name, _c_name in UNSUPPORTED_METHODS.items():
    setattr(virStream, _python_name, _unsupported_method(_python_name, _c_name))
