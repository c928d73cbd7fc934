"""Migration URIs, the listen address choice and the port allocator."""

from __future__ import annotations

import socket
import threading

import pytest

import virtkernel
from virtkernel.migration import MigrationURI, PortAllocator, incoming_uri, listen_address_for, parse_migration_uri

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("text, expected", [
    ("tcp:h2.example:49152", MigrationURI("tcp", "h2.example", 49152)),
    ("tcp:h2.example", MigrationURI("tcp", "h2.example", None)),
    ("tcp://h2.example:49153", MigrationURI("tcp", "h2.example", 49153)),
    ("tcp://10.0.0.2", MigrationURI("tcp", "10.0.0.2", None)),
    ("tcp://[fd00::2]:49154", MigrationURI("tcp", "fd00::2", 49154)),
    ("TCP://h2.example:1", MigrationURI("tcp", "h2.example", 1)),
    ("unix:///run/migrate.sock", MigrationURI("unix", path="/run/migrate.sock")),
])
def test_accepted_forms(text, expected) -> None:
    assert parse_migration_uri(text) == expected


@pytest.mark.parametrize("uri, text", [
    (MigrationURI("tcp", "fd00::2", 49154), "tcp://[fd00::2]:49154"),
    (MigrationURI("tcp", "h2", 5), "tcp://h2:5"),
    (MigrationURI("unix", path="/x.sock"), "unix:///x.sock"),
])
def test_canonical_text(uri, text) -> None:
    assert str(uri) == text
    assert parse_migration_uri(text) == uri


@pytest.mark.parametrize("text, code, fragment", [
    ("rdma://h2:1", virtkernel.ErrorCode.ARGUMENT_UNSUPPORTED, "unsupported scheme 'rdma'"),
    ("exec:cat", virtkernel.ErrorCode.ARGUMENT_UNSUPPORTED, "unsupported scheme 'exec'"),
    ("tcp://:49152", virtkernel.ErrorCode.INVALID_ARG, "missing host in migration URI: tcp://:49152"),
    ("tcp://", virtkernel.ErrorCode.INVALID_ARG, "missing host in migration URI"),
    ("tcp://h2:notaport", virtkernel.ErrorCode.INTERNAL_ERROR, "unable to parse URI tcp://h2:notaport"),
    ("tcp://[fd00::2:1", virtkernel.ErrorCode.INTERNAL_ERROR, "unable to parse URI"),
    ("tcp://h2:1/path", virtkernel.ErrorCode.INTERNAL_ERROR, "only a host and a port"),
    ("unix://host/x.sock", virtkernel.ErrorCode.INTERNAL_ERROR, "names no host"),
    ("unix:relative", virtkernel.ErrorCode.INTERNAL_ERROR, "unable to parse URI"),
    ("", virtkernel.ErrorCode.INTERNAL_ERROR, "unable to parse URI"),
    ("h2.example", virtkernel.ErrorCode.INTERNAL_ERROR, "unable to parse URI"),
])
def test_refused_forms(text, code, fragment) -> None:
    with pytest.raises(virtkernel.VirtError) as info:
        parse_migration_uri(text)
    assert info.value.code == code
    assert fragment in info.value.message


def fake_resolver(table):
    def resolve(host, port, family=0, type=0, *rest):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(fam, socket.SOCK_STREAM, 6, "", (addr, 0)) for fam, addr in table[host]]
    return resolve


def test_listen_address_follows_the_address_family() -> None:
    resolver = fake_resolver({"v6host": [(socket.AF_INET6, "fd00::2")], "v4host": [(socket.AF_INET, "10.0.0.2")],
                              "dual": [(socket.AF_INET, "10.0.0.3"), (socket.AF_INET6, "fd00::3")]})
    assert listen_address_for("v6host", resolver) == "::"
    assert listen_address_for("dual", resolver) == "::"
    assert listen_address_for("v4host", resolver) == "0.0.0.0"


def test_unresolvable_host_is_a_warning_not_a_failure(caplog) -> None:
    assert listen_address_for("nowhere.invalid", fake_resolver({})) == "0.0.0.0"
    assert "cannot resolve migration host 'nowhere.invalid'" in caplog.text


def test_real_resolution_of_loopback_literals() -> None:
    assert listen_address_for("127.0.0.1") == "0.0.0.0"
    if socket.has_ipv6:
        assert listen_address_for("::1") == "::"


def test_incoming_uri_fills_host_and_port_and_releases_the_port() -> None:
    ports = PortAllocator(50100, 50101, check_bind=False)
    incoming = incoming_uri(None, "h2.example", ports, resolver=fake_resolver({"h2.example": [(socket.AF_INET6, "fd00::9")]}))
    assert str(incoming.uri) == "tcp://h2.example:50100" and incoming.allocated_port == 50100
    assert incoming.listen_address == "::"
    given = incoming_uri("tcp://[fd00::5]:7000", "h2.example", ports, resolver=None)
    assert given.allocated_port is None and given.listen_address == "::" and given.uri.port == 7000
    no_port = incoming_uri("tcp:10.1.1.1", "h2.example", ports, resolver=None)
    assert no_port.uri.port == 50101 and no_port.listen_address == "0.0.0.0"
    with pytest.raises(virtkernel.VirtError) as info:
        incoming_uri(None, "h2.example", ports, resolver=None)
    assert "no free migration port left in the range 50100-50101" in info.value.message
    ports.release(incoming.allocated_port)
    assert incoming_uri("tcp://h3", "h2", ports, resolver=None).uri.port == 50100
    unix = incoming_uri("unix:///run/m.sock", "h2", ports)
    assert unix.uri.path == "/run/m.sock" and unix.allocated_port is None


def test_incoming_uri_without_a_hostname_is_missing_host() -> None:
    with pytest.raises(virtkernel.VirtError) as info:
        incoming_uri(None, "", PortAllocator(50100, 50100, check_bind=False))
    assert "missing host in migration URI" in info.value.message


def test_port_allocator_is_thread_safe() -> None:
    ports = PortAllocator(50200, 50263, check_bind=False)
    got: list[int] = []
    lock = threading.Lock()

    def grab() -> None:
        for _ in range(8):
            port = ports.acquire()
            with lock:
                got.append(port)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(50200, 50264))
    with pytest.raises(virtkernel.VirtError):
        ports.acquire()


def test_default_range_is_libvirts() -> None:
    ports = PortAllocator()
    assert (ports.start, ports.end) == (49152, 49215)
    with pytest.raises(ValueError):
        PortAllocator(10, 5)
