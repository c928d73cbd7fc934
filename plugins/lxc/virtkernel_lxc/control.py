"""The supervisor's control protocol: one JSON object per line over its unix socket.

A client connects, sends one request line `{"op": NAME, ...arguments}` and reads one reply line:
`{"ok": true, ...results}` or `{"ok": false, "error": SENTENCE, "code": VIR_ERR_* number}`.
Most connections then close. Two do not: after a successful `console` reply the connection carries
the console's raw bytes both ways; after a `watch` reply the supervisor sends one event line per
lifecycle change (`{"event": "rebooted", "init_pid": N}`, `{"event": "stopped", "exit": {...}}`).

Operations (arguments -> results):
  status                                  -> state, supervisor_pid, init_pid, boots, started_at, frozen
  shutdown  signal=15 timeout=None force=False wait=True  -> exit (when wait), else nothing
  reboot    signal=None timeout=10.0      -> init_pid (the new init)
  destroy                                 -> exit
  freeze / thaw                           -> frozen
  stats                                   -> memory_usage, cpu_time_ns, oom_kills, interfaces{host: {...}}
  console   force=False                   -> (then a raw byte stream)
  watch                                   -> (then event lines)
"""

from __future__ import annotations

import json
import socket
from typing import Any, Optional

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import OperationFailed, VirtError, make_error

from .state import connect_unix

__all__ = ["encode", "LineReader", "ControlClient", "error_reply"]

MAX_LINE = 1 << 20


def encode(message: dict[str, Any]) -> bytes:
    """One protocol line."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def error_reply(error: BaseException) -> dict[str, Any]:
    """The reply line for a failed request."""
    if isinstance(error, VirtError):
        return {"ok": False, "error": error.message, "code": int(error.code)}
    return {"ok": False, "error": str(error) or type(error).__name__, "code": int(ErrorCode.INTERNAL_ERROR)}


class LineReader:
    """Reads newline-terminated JSON objects from a blocking socket, keeping any bytes after the line."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def read(self) -> Optional[dict[str, Any]]:
        """The next object, or None at end of stream."""
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
            if len(self.buffer) > MAX_LINE:
                raise OperationFailed("the container supervisor sent an oversized message", domain=ErrorDomain.LXC)
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        return json.loads(line)


class ControlClient:
    """Talks to one container's supervisor through its control socket."""

    def __init__(self, socket_path: str, name: str = "container") -> None:
        self.socket_path = socket_path
        self.name = name

    def connect(self, timeout: Optional[float] = 5.0) -> socket.socket:
        """A fresh connection to the supervisor; OperationInvalid-style error if nobody listens."""
        try:
            return connect_unix(self.socket_path, timeout=timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            raise make_error(ErrorCode.OPERATION_INVALID, f"container '{self.name}' is not running",
                             domain=ErrorDomain.LXC) from None

    def open(self, op: str, reply_timeout: Optional[float] = 5.0, **arguments: Any
             ) -> tuple[socket.socket, LineReader, dict[str, Any]]:
        """Send a request and read its reply, leaving the connection open (for console and watch)."""
        sock = self.connect(reply_timeout)
        try:
            sock.sendall(encode({"op": op, **arguments}))
            reader = LineReader(sock)
            reply = reader.read()
        except socket.timeout:
            sock.close()
            raise make_error(ErrorCode.OPERATION_TIMEOUT,
                             f"container '{self.name}' did not answer the '{op}' request in time",
                             domain=ErrorDomain.LXC) from None
        except BaseException:
            sock.close()
            raise
        if reply is None:
            sock.close()
            raise OperationFailed(f"the supervisor of container '{self.name}' closed the connection "
                                  f"during the '{op}' request", domain=ErrorDomain.LXC)
        if not reply.get("ok"):
            sock.close()
            raise make_error(reply.get("code", ErrorCode.INTERNAL_ERROR), reply.get("error", "unknown error"),
                             domain=ErrorDomain.LXC)
        return sock, reader, reply

    def request(self, op: str, reply_timeout: Optional[float] = 5.0, **arguments: Any) -> dict[str, Any]:
        """Send one request and return its reply (raises the VirtError the supervisor reported)."""
        sock, _, reply = self.open(op, reply_timeout, **arguments)
        sock.close()
        return reply
