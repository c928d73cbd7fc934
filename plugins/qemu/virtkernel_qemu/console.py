"""Serial consoles: relay a guest's pty (a <serial type='pty'>) to a virtkernel Stream, one user at a time."""

from __future__ import annotations

import os
import select
import socket
import termios
import threading
import tty
from typing import Any, Optional

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import OperationFailed, OperationInvalid

__all__ = ["ConsoleRelay", "console_pty"]


def console_pty(guest: Any, dev_name: Optional[str]) -> str:
    """The pty path of the serial port a user names (None or 'serial0'/'console0': the first one)."""
    serials = list(guest.live.devices("serial")) or list(guest.live.devices("console"))
    index = 0
    if dev_name not in (None, "console0"):
        names = {f"serial{i}": i for i in range(len(serials))}
        if dev_name not in names:
            raise OperationInvalid(f"domain '{guest.name}' has no console device '{dev_name}'",
                                   code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        index = names[dev_name]
    if index >= len(serials):
        raise OperationInvalid(f"domain '{guest.name}' has no serial console", code=ErrorCode.OPERATION_INVALID,
                               domain=ErrorDomain.QEMU)
    node = serials[index]
    source = node.find("source")
    path = source.get("path") if source is not None else None
    if node.get("type", "pty") != "pty" or not path:
        raise OperationInvalid(f"the console of domain '{guest.name}' is not a pty (type '{node.get('type')}')",
                               code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
    return path


class ConsoleRelay:
    """Copies bytes both ways between a pty and the driver's end of a stream until either side closes."""

    def __init__(self, pty_path: str, sock: socket.socket) -> None:
        try:
            self.fd = os.open(pty_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            raise OperationFailed(f"cannot open console '{pty_path}': {exc.strerror}",
                                  domain=ErrorDomain.QEMU) from exc
        try:
            tty.setraw(self.fd, termios.TCSANOW)
        except termios.error:
            pass
        self.sock = sock
        self.closed = threading.Event()
        for target in (self._pty_to_socket, self._socket_to_pty):
            threading.Thread(target=target, name="qemu-console", daemon=True).start()

    def _pty_to_socket(self) -> None:
        try:
            while not self.closed.is_set():
                ready, _, _ = select.select([self.fd], [], [], 0.2)  # wakes up to notice close()
                if not ready:
                    continue
                data = os.read(self.fd, 65536)
                if not data:
                    break
                self.sock.sendall(data)
        except OSError:
            pass
        self.close()

    def _socket_to_pty(self) -> None:
        try:
            while not self.closed.is_set():
                data = self.sock.recv(65536)
                if not data:
                    break
                os.write(self.fd, data)
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        """End the relay (the other user of a forced console, or the end of either side)."""
        if self.closed.is_set():
            return
        self.closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        try:
            os.close(self.fd)
        except OSError:
            pass

    @property
    def active(self) -> bool:
        """Whether the relay still runs."""
        return not self.closed.is_set()
