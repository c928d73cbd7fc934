"""The client side of a container console: a byte stream relayed by the supervisor from the pty master.

The supervisor holds the pty master for the container's whole life (reboots included) and relays
it to one client connection at a time; output produced while no client is attached is kept (the
last 64 KiB) and delivered to the next client. So a console opened from any process, at any time,
sees what the container wrote.
"""

from __future__ import annotations

import select
import socket
import time
from typing import Optional

__all__ = ["ConsoleStream"]


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
