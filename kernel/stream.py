"""Streams: a byte channel between a caller and a driver (consoles, channels), like libvirt's virStream."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Optional

from .enums import ErrorCode, ErrorDomain
from .errors import VirtError

if TYPE_CHECKING:
    from .connection import Connection


class Stream:
    """A connected socket pair: the caller uses send/recv, the driver relays the other end (``socket``).

    A driver that already has a connected stream socket (e.g. a console relay) may hand it over with
    ``attach(sock)``: the caller then talks to that socket directly and ``socket`` is closed.
    """

    def __init__(self, connection: "Connection", flags: int = 0) -> None:
        self.connection = connection
        self.flags = flags
        self._caller, self.socket = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._closed = False

    def attach(self, sock: socket.socket) -> None:
        """Driver side: make ``sock`` the caller's end of this stream."""
        self.socket.close()
        self._caller.close()
        self._caller = sock

    def fileno(self) -> int:
        """The caller's end, for select/poll."""
        return self._caller.fileno()

    def send(self, data: bytes) -> int:
        """Send bytes to the driver's end; returns how many were sent."""
        self._check()
        try:
            return self._caller.send(data)
        except OSError as exc:
            raise VirtError(f"cannot write to the stream: {exc.strerror}", code=ErrorCode.RPC,
                            domain=ErrorDomain.STREAMS) from None

    def recv(self, nbytes: int = 65536, timeout: Optional[float] = None) -> bytes:
        """Receive up to ``nbytes``; b"" at the end of the stream, TimeoutError when nothing arrives in time."""
        self._check()
        self._caller.settimeout(timeout)
        try:
            return self._caller.recv(nbytes)
        except socket.timeout:
            raise TimeoutError("no data on the stream") from None
        except OSError as exc:
            raise VirtError(f"cannot read from the stream: {exc.strerror}", code=ErrorCode.RPC,
                            domain=ErrorDomain.STREAMS) from None

    def finish(self) -> None:
        """Close the stream after a successful transfer."""
        self.close()

    def abort(self) -> None:
        """Close the stream, abandoning the transfer."""
        self.close()

    def close(self) -> None:
        """Close both ends (idempotent)."""
        if not self._closed:
            self._closed = True
            for sock in (self._caller, self.socket):
                try:
                    sock.close()
                except OSError:
                    pass

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    def _check(self) -> None:
        if self._closed:
            raise VirtError("the stream is closed", code=ErrorCode.INVALID_STREAM, domain=ErrorDomain.STREAMS)
