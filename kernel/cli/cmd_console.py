"""The ``console`` command: relay the terminal to a domain's console until the escape character.

The console travels over a kernel Stream (``conn.new_stream()``) handed to ``dom.open_console``: the driver relays
the guest console through ``stream.socket`` or hands over a connected socket with ``stream.attach(sock)``.
"""

from __future__ import annotations

import os
import select
import termios
import tty
from typing import Optional

from ..domain import Domain
from ..enums import DomainConsoleFlags
from ..stream import Stream
from .errors import CliError, Failing, UsageError
from .parse import Arguments
from .session import Session
from .table import Option, OptType, command, domain_option, flag

CHUNK = 4096


def escape_byte(text: str) -> int:
    """``^]`` -> 0x1d, ``x`` -> ord('x'); anything else is refused."""
    if len(text) == 2 and text[0] == "^":
        return ord(text[1].upper()) & 0x1F
    if len(text) == 1:
        return ord(text)
    raise UsageError(f"Invalid string '{text}' for escape sequence")


def relay(stream: Stream, escape: int, input_fd: int, output_fd: int) -> None:
    """Copy keystrokes to the console and console output to the terminal until escape or end of stream."""
    while True:
        ready, _, _ = select.select([input_fd, stream], [], [])
        if input_fd in ready:
            data = os.read(input_fd, CHUNK)
            if not data:
                return
            cut = data.find(bytes([escape]))
            if cut >= 0:
                _send_all(stream, data[:cut])
                return
            _send_all(stream, data)
        if stream in ready:
            data = stream.recv(CHUNK)
            if not data:
                return
            os.write(output_fd, data)


def _send_all(stream: Stream, data: bytes) -> None:
    while data:
        data = data[stream.send(data):]


def run_console(session: Session, dom: Domain, devname: Optional[str], flags: int,
                input_fd: Optional[int] = None, output_fd: Optional[int] = None) -> None:
    """Attach the terminal (or the given descriptors, which must be a TTY) to the domain's console."""
    no_tty = CliError("Cannot run interactive console without a controlling TTY")
    try:
        input_fd = session.stdin_fd() if input_fd is None else input_fd
        output_fd = session.stdout_fd() if output_fd is None else output_fd
    except (OSError, ValueError):  # stdin/stdout replaced by objects without a descriptor
        raise no_tty from None
    if not os.isatty(input_fd):
        raise no_tty
    escape = escape_byte(session.options.escape)
    stream = session.conn.new_stream()
    try:
        with Failing(f"Failed to get console for domain '{dom.name}'"):
            dom.open_console(devname, stream, flags)
        text = session.options.escape
        session.extra(f"Connected to domain '{dom.name}'\n")
        session.extra(f"Escape character is {text}" + (f" (Ctrl + {text[1]})" if text.startswith("^") else "") + "\n")
        session.stdout.flush()
        saved = termios.tcgetattr(input_fd)
        try:
            tty.setraw(input_fd)
            relay(stream, escape, input_fd, output_fd)
        finally:
            termios.tcsetattr(input_fd, termios.TCSADRAIN, saved)
        session.extra("\n")
    finally:
        stream.close()


@command("console", "connect to the guest console", domain_option(),
         Option("devname", OptType.STRING, "character device name"),
         flag("force", "force console connection (disconnect already connected sessions)"),
         flag("safe", "only connect if safe console handling is supported"),
         description="Connect the virtual serial console for the guest")
def cmd_console(session: Session, args: Arguments) -> None:
    """Connect the virtual serial console for the guest."""
    dom = session.domain(args.string("domain"))
    flags = 0
    if args.flag("force"):
        flags |= DomainConsoleFlags.FORCE
    if args.flag("safe"):
        flags |= DomainConsoleFlags.SAFE
    run_console(session, dom, args.string("devname"), int(flags))
