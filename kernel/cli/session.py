"""One run of the command line: global options, the connection (opened when first needed) and output."""

from __future__ import annotations

import sys
import uuid as uuidlib
from dataclasses import dataclass
from typing import Callable, Optional, TextIO

from .. import connection as _connection
from ..connection import Connection
from ..domain import Domain
from ..errors import VirtError
from .errors import CliError

DEFAULT_ESCAPE = "^]"


@dataclass
class GlobalOptions:
    """What the options before the command say."""

    uri: Optional[str] = None
    read_only: bool = False
    quiet: bool = False
    debug: int = -1
    escape: str = DEFAULT_ESCAPE
    timing: bool = False


Opener = Callable[[Optional[str], bool], Connection]


def open_connection(uri: Optional[str], read_only: bool) -> Connection:
    """Open the connection the command line works on (tests may substitute their own opener)."""
    return _connection.open(uri, read_only=read_only)


class Session:
    """Global options, the lazily opened connection, and the terminal streams of one command-line run."""

    def __init__(self, options: GlobalOptions, opener: Optional[Opener] = None, interactive: bool = False) -> None:
        self.options = options
        self.interactive = interactive
        self._opener = opener or open_connection
        self._conn: Optional[Connection] = None

    @property
    def opener(self) -> Opener:
        """How this session opens connections."""
        return self._opener

    # -- output ------------------------------------------------------------------------------------------------------

    @property
    def stdout(self) -> TextIO:
        """Where results go (looked up at each use so captured streams work)."""
        return sys.stdout

    @property
    def stderr(self) -> TextIO:
        """Where errors and progress go."""
        return sys.stderr

    def stdin_fd(self) -> int:
        """The terminal's input descriptor (the console reads keystrokes here)."""
        return sys.stdin.fileno()

    def stdout_fd(self) -> int:
        """The terminal's output descriptor (the console writes guest output here)."""
        self.stdout.flush()
        return sys.stdout.fileno()

    def write(self, text: str) -> None:
        """Print text as is."""
        self.stdout.write(text)

    def line(self, text: str = "") -> None:
        """Print one line."""
        self.stdout.write(text + "\n")

    def extra(self, text: str) -> None:
        """Print informational text that --quiet suppresses (virsh's confirmations and table headers)."""
        if not self.options.quiet:
            self.stdout.write(text)

    def error(self, text: str) -> None:
        """Print one ``error: ...`` line."""
        self.stdout.flush()
        self.stderr.write(f"error: {text}\n")
        self.stderr.flush()

    # -- connection --------------------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a connection is open."""
        return self._conn is not None

    @property
    def conn(self) -> Connection:
        """The connection, opened on first use; failure is reported like virsh does."""
        if self._conn is None:
            try:
                self._conn = self._opener(self.options.uri, self.options.read_only)
            except VirtError as exc:
                raise CliError("failed to connect to the hypervisor", cause=exc) from exc
        return self._conn

    def open_other(self, uri: str) -> Connection:
        """A second connection (a migration destination); the caller closes it."""
        return self._opener(uri, False)

    def reconnect(self, uri: Optional[str], read_only: bool) -> None:
        """Drop the current connection and open another (the ``connect`` command)."""
        self.close()
        self.options.uri = uri
        self.options.read_only = read_only
        _ = self.conn

    def close(self) -> None:
        """Close the connection if one is open."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except VirtError:
                pass

    # -- lookups -----------------------------------------------------------------------------------------------------

    def domain(self, text: str, by_id: bool = True, by_uuid: bool = True, by_name: bool = True) -> Domain:
        """A domain by id, UUID or name (in that order, like virsh); "failed to get domain 'X'" otherwise."""
        conn = self.conn
        if by_id:
            try:
                number = int(text, 10)
            except ValueError:
                number = -1
            if number >= 0:
                try:
                    return conn.lookup_by_id(number)
                except VirtError:
                    pass
        if by_uuid and _is_uuid(text):
            try:
                return conn.lookup_by_uuid_string(text)
            except VirtError:
                pass
        if by_name:
            try:
                return conn.lookup_by_name(text)
            except VirtError:
                pass
        raise CliError(f"failed to get domain '{text}'")


def _is_uuid(text: str) -> bool:
    try:
        uuidlib.UUID(text)
    except ValueError:
        return False
    return True
