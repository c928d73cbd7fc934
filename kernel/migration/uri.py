"""Migration URIs (where the hypervisor sends the guest's memory) and the port range destinations listen on.

Accepted forms: ``tcp:host[:port]`` (the old form), ``tcp://host[:port]``, ``tcp://[IPv6]:port`` and
``unix:///absolute/path``. A missing port is taken from a :class:`PortAllocator`; no URI at all means the
destination's host name with an allocated port; a URI without a host is refused.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from ..enums import ErrorCode, ErrorDomain
from ..errors import VirtError
from .portlocks import PortLock, PortLocks, shared_locks

log = logging.getLogger(__name__)

DEFAULT_PORT_MIN = 49152
DEFAULT_PORT_MAX = 49215
"""libvirt's default migration port range, inclusive."""

SCHEMES = ("tcp", "unix")


def _unparsable(text: str, why: str = "") -> VirtError:
    suffix = f": {why}" if why else ""
    return VirtError(f"unable to parse URI {text}{suffix}", code=ErrorCode.INTERNAL_ERROR, domain=ErrorDomain.URI)


def _invalid(message: str) -> VirtError:
    return VirtError(message, code=ErrorCode.INVALID_ARG, domain=ErrorDomain.DOMAIN)


@dataclass(frozen=True)
class MigrationURI:
    """A parsed migration URI: tcp with host and port, or unix with a socket path."""

    scheme: str
    host: Optional[str] = None
    port: Optional[int] = None
    path: Optional[str] = None

    @property
    def is_ipv6_literal(self) -> bool:
        """True when the host is an IPv6 address literal."""
        return self.host is not None and ":" in self.host

    def with_port(self, port: int) -> "MigrationURI":
        """The same URI with a port filled in."""
        return MigrationURI(self.scheme, self.host, port, self.path)

    def with_host(self, host: str) -> "MigrationURI":
        """The same URI with a host filled in."""
        return MigrationURI(self.scheme, host, self.port, self.path)

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if self.is_ipv6_literal else (self.host or "")
        return f"tcp://{host}" + (f":{self.port}" if self.port is not None else "")


def parse_migration_uri(text: str) -> MigrationURI:
    """Parse a migration URI; refuse other schemes and malformed text with libvirt's messages."""
    if not isinstance(text, str) or not text.strip():
        raise _unparsable(repr(text), "the URI is empty")
    if len(text.split()) != 1 or text != text.strip():  # any whitespace (str.split is C, a generator is not)
        raise _unparsable(text, "a URI may not contain whitespace")
    scheme, sep, rest = text.partition(":")
    if not sep or not scheme:
        raise _unparsable(text, "expected 'tcp://host:port' or 'unix:///path'")
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise VirtError(f"unsupported scheme '{scheme}' in migration URI {text} (supported: tcp, unix)",
                        code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.DOMAIN)
    if scheme == "unix":
        return _parse_unix(text, rest)
    if not rest.startswith("//"):
        # the old 'tcp:host:port' form: make it a real URI first
        rest = "//" + rest
    try:
        parts = urllib.parse.urlsplit("tcp:" + rest)
        port = parts.port
    except ValueError as exc:
        raise _unparsable(text, str(exc)) from None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise _unparsable(text, "a tcp migration URI has only a host and a port")
    if "[" in parts.netloc and "]" not in parts.netloc:
        raise _unparsable(text, "unterminated '[' in an IPv6 host")
    host = parts.hostname or None
    if port is not None and not 0 < port < 65536:
        raise _unparsable(text, f"port {port} is out of range")
    if host is None:
        raise _invalid(f"missing host in migration URI: {text}")
    return MigrationURI("tcp", host=host, port=port)


def _parse_unix(text: str, rest: str) -> MigrationURI:
    if not rest.startswith("//"):
        raise _unparsable(text, "expected 'unix:///absolute/path'")
    parts = urllib.parse.urlsplit("unix:" + rest)
    if parts.netloc:
        raise _unparsable(text, "a unix migration URI names no host ('unix:///path')")
    path = urllib.parse.unquote(parts.path)
    if not path.startswith("/") or path == "/":
        raise _unparsable(text, "the socket path must be absolute")
    return MigrationURI("unix", path=path)


WILDCARD_ADDRESSES = ("0.0.0.0", "::")
"""Where the free-port test binds: every listen address a destination may choose is covered by these two."""


class PortAllocator:
    """Thread-safe allocation of listening ports from an inclusive range, skipping ports that are busy.

    Reservations are exact: a port is handed out once until release(). With ``check_bind`` (the default) the
    allocator is machine-wide: a port is handed out only when no other virtkernel process has reserved it (a
    lock file per port in ``lock_dir``, see portlocks.py) and a server could listen on it right now (a bind
    test), so ports of other programs are skipped too. A program that takes the port between that test and
    the real listen still wins: the listener then fails with "Address already in use". Without
    ``check_bind`` only this allocator's own reservations count (for in-process transports).
    """

    def __init__(self, start: int = DEFAULT_PORT_MIN, end: int = DEFAULT_PORT_MAX, name: str = "migration",
                 check_bind: bool = True, lock_dir: Optional[Path] = None) -> None:
        if not 0 < start <= end < 65536:
            raise ValueError(f"invalid port range {start}-{end}")
        self.start = start
        self.end = end
        self.name = name
        self.check_bind = check_bind
        self._locks: Optional[PortLocks] = shared_locks(lock_dir) if check_bind else None
        self._used: dict[int, Optional[PortLock]] = {}
        self._lock = threading.Lock()

    def acquire(self) -> int:
        """A free port of the range, reserved until release(); OPERATION_FAILED when none is left."""
        busy_elsewhere = 0
        with self._lock:
            for port in range(self.start, self.end + 1):
                if port in self._used:
                    continue
                if self._locks is None:
                    self._used[port] = None
                    return port
                lock = self._locks.try_lock(port)
                if lock is None or not _listenable(port, lock):
                    busy_elsewhere += 1
                    continue
                self._used[port] = lock
                return port
            reserved = len(self._used)
        raise VirtError(f"no free {self.name} port left in the range {self.start}-{self.end} ({reserved} "
                        f"reserved by this process, {busy_elsewhere} busy on this host)",
                        code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.DOMAIN)

    def release(self, port: Optional[int]) -> None:
        """Give a port back (ports outside the range or not reserved are ignored)."""
        if port is None:
            return
        with self._lock:
            lock = self._used.pop(port, None)
        if lock is not None:
            lock.release()

    def in_use(self) -> frozenset[int]:
        """The ports currently reserved."""
        with self._lock:
            return frozenset(self._used)

    @contextmanager
    def reserved(self) -> Iterator[int]:
        """A port for the duration of a with-block, released afterwards even on failure."""
        port = self.acquire()
        try:
            yield port
        finally:
            self.release(port)


def _listenable(port: int, lock: PortLock) -> bool:
    """The bind test for a port whose lock we hold; the lock is dropped again when the port is busy."""
    try:
        free = port_is_free(port)
    except BaseException:
        lock.release()
        raise
    if not free:
        lock.release()
    return free


_NO_IPV6 = frozenset({errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT})


def port_is_free(port: int, addresses: tuple[str, ...] = WILDCARD_ADDRESSES) -> bool:
    """Whether a server could listen on ``port`` at each of ``addresses`` now (a bind test, SO_REUSEADDR like a server).

    IPv6 addresses bind with IPV6_V6ONLY so the two tests are independent; on a host without IPv6 the IPv4
    test decides. Only "address in use" means busy: any other refusal (a privileged port, say) is raised.
    """
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            if family == socket.AF_INET6 and exc.errno in _NO_IPV6:
                continue
            raise VirtError(f"cannot test whether port {port} is free on {address}: {exc.strerror or exc}",
                            code=ErrorCode.SYSTEM_ERROR, domain=ErrorDomain.DOMAIN) from None
    return True


Resolver = Callable[..., list]


def listen_address_for(host: str, resolver: Resolver = socket.getaddrinfo) -> str:
    """Where a destination listens for ``host``: '::' when it resolves to IPv6, else '0.0.0.0'."""
    try:
        infos = resolver(host, None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        log.warning("cannot resolve migration host '%s' (%s); listening on 0.0.0.0", host, exc)
        return "0.0.0.0"
    if any(info[0] == socket.AF_INET6 for info in infos):
        return "::"
    return "0.0.0.0"


@dataclass
class IncomingURI:
    """What a destination's Prepare decided: the URI to announce, where to listen, and the port it reserved."""

    uri: MigrationURI
    listen_address: str
    allocated_port: Optional[int]
    """Set when the port came from the allocator: release it when the migration ends (also on failure)."""


def incoming_uri(uri_in: Optional[str], hostname: str, ports: PortAllocator,
                 resolver: Optional[Resolver] = socket.getaddrinfo,
                 listen_address: Optional[str] = None) -> IncomingURI:
    """Resolve the destination side of a migration URI: fill in host and port, choose the listen address.

    ``resolver=None`` skips name resolution (the listen address is then '0.0.0.0' unless the host is an
    IPv6 literal); pass ``listen_address`` to override the choice (the 'listen_address' parameter).
    """
    uri = parse_migration_uri(uri_in) if uri_in else MigrationURI("tcp")
    if uri.scheme == "unix":
        return IncomingURI(uri, uri.path or "", None)
    if uri.host is None:  # no URI given: the destination's own name
        if not hostname:
            raise _invalid("missing host in migration URI: the destination has no host name to offer")
        uri = uri.with_host(hostname)
    allocated = None
    if uri.port is None:
        allocated = ports.acquire()
        uri = uri.with_port(allocated)
    if listen_address is None:
        if uri.is_ipv6_literal:
            listen_address = "::"
        elif resolver is None:
            listen_address = "0.0.0.0"
        else:
            listen_address = listen_address_for(uri.host or hostname, resolver)
    return IncomingURI(uri, listen_address, allocated)
