"""A container's console: the pty relay in the supervisor and the byte stream clients read and write.

The supervisor holds both ends of the pty for the container's whole life (reboots included; the
slave is the container's /dev/console and its init's stdio) and relays the master to one client
connection at a time (`ConsoleRelay`); output produced while no client is attached is kept (the
last 64 KiB) and delivered to the next client. So a console opened from any process, at any time
(`ConsoleStream`), sees what the container wrote.
"""

from __future__ import annotations

import os
import select
import selectors
import socket
import time
from typing import Optional

__all__ = ["ConsoleStream", "ConsoleRelay", "HISTORY_LIMIT"]

HISTORY_LIMIT = 64 * 1024  # console output kept while no client is attached
OUTPUT_LIMIT = 1024 * 1024  # bytes queued either way for a slow reader before the oldest are dropped


class ConsoleRelay:
    """Supervisor side: owns the pty and relays its master to at most one client socket."""

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self.selector = selector
        self.master, self.slave = os.openpty()
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.client: Optional[socket.socket] = None
        self.to_client = bytearray()
        self.to_pty = bytearray()
        self.history = bytearray()
        selector.register(self.master, selectors.EVENT_READ, self._on_master)

    @property
    def busy(self) -> bool:
        """True while a client is attached."""
        return self.client is not None

    def attach(self, conn: socket.socket) -> None:
        """Relay to conn from now on (replacing any attached client); kept output goes out first."""
        self.detach()
        conn.setblocking(False)
        self.client = conn
        self.to_client, self.history = self.history, bytearray()
        self._update_interest()

    def detach(self) -> None:
        """Disconnect the client, keeping undelivered output for the next one."""
        conn, self.client = self.client, None
        if conn is None:
            return
        try:
            self.selector.unregister(conn)
        except KeyError:
            pass
        conn.close()
        self.history = self.to_client[-HISTORY_LIMIT:]
        self.to_client = bytearray()
        self.to_pty = bytearray()
        self._update_interest()

    def finish(self, timeout: float = 0.5) -> None:
        """The container stopped: hand the client what init wrote last (still in the pty), then detach."""
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EAGAIN: nothing left; EIO: no writer left
                break
            if not data:
                break
            (self.to_client if self.client is not None else self.history).extend(data)
        conn = self.client
        if conn is not None and self.to_client:
            deadline = time.monotonic() + timeout
            try:
                while self.to_client and time.monotonic() < deadline:
                    if select.select([], [conn], [], max(0.0, deadline - time.monotonic()))[1]:
                        del self.to_client[:conn.send(self.to_client)]
            except OSError:
                pass
        self.detach()

    def close(self) -> None:
        """Detach and close both ends of the pty."""
        self.detach()
        self.selector.unregister(self.master)
        os.close(self.master)
        os.close(self.slave)

    def _update_interest(self) -> None:
        if self.client is not None:
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.to_client else 0)
            try:
                self.selector.modify(self.client, mask, self._on_client)
            except KeyError:
                self.selector.register(self.client, mask, self._on_client)
        master_mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.to_pty else 0)
        self.selector.modify(self.master, master_mask, self._on_master)

    def _on_master(self, fd: int, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EAGAIN, or EIO while no slave is open
                data = b""
            if data:
                target = self.to_client if self.client is not None else self.history
                target += data
                del target[:-(OUTPUT_LIMIT if self.client is not None else HISTORY_LIMIT)]
        if mask & selectors.EVENT_WRITE and self.to_pty:
            try:
                del self.to_pty[:os.write(fd, self.to_pty)]
            except BlockingIOError:
                pass
            except OSError:
                self.to_pty.clear()
        self._update_interest()

    def _on_client(self, conn: socket.socket, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            try:
                data: Optional[bytes] = conn.recv(65536)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data == b"":
                self.detach()
                return
            if data:
                self.to_pty += data
                del self.to_pty[:-OUTPUT_LIMIT]
        if mask & selectors.EVENT_WRITE and self.to_client:
            try:
                del self.to_client[:conn.send(self.to_client)]
            except BlockingIOError:
                pass
            except OSError:
                self.detach()
                return
        self._update_interest()


class ConsoleStream:
    """Read and write a container's console; close() detaches (the container keeps running)."""

    def __init__(self, sock: socket.socket, initial: bytes = b"") -> None:
        self._sock = sock
        self._sock.setblocking(True)
        self._buffer = bytearray(initial)
        self._eof = False

    def fileno(self) -> int:
        """The descriptor to poll for readability (data may also be buffered: check `pending`)."""
        return self._sock.fileno()

    @property
    def pending(self) -> int:
        """Bytes already received and not yet returned by read()."""
        return len(self._buffer)

    @property
    def closed(self) -> bool:
        """True after close()."""
        return self._sock.fileno() < 0

    def _fill(self, timeout: Optional[float]) -> bool:
        """Receive more bytes; False at end of stream. Raises TimeoutError when none came in time."""
        if self._eof:
            return False
        if timeout is not None:
            ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
            if not ready:
                raise TimeoutError("no console output within the timeout")
        chunk = self._sock.recv(65536)
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def read(self, size: int = 65536, timeout: Optional[float] = None) -> bytes:
        """Up to size bytes of output; b"" at end of stream (the container stopped or another client took over).

        Raises TimeoutError if nothing arrives within timeout seconds (None waits forever).
        """
        if not self._buffer:
            self._fill(timeout)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read_until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        """Output up to and including marker; TimeoutError (with what was read in its args) if it never comes."""
        deadline = time.monotonic() + timeout
        while marker not in self._buffer:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                if not self._fill(left):
                    raise EOFError(f"console closed before {marker!r} appeared; got {bytes(self._buffer)!r}")
            except TimeoutError:
                raise TimeoutError(f"{marker!r} did not appear on the console within {timeout:g} s; "
                                   f"got {bytes(self._buffer)!r}") from None
        end = self._buffer.index(marker) + len(marker)
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data

    def write(self, data: bytes) -> int:
        """Send input to the console; returns len(data)."""
        self._sock.sendall(data)
        return len(data)

    def close(self) -> None:
        """Detach from the console."""
        self._sock.close()

    def __enter__(self) -> "ConsoleStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
