"""The port allocator hands out only ports a listener can really take: ports held by other sockets and programs
are skipped, a fully busy range says so, and released ports come back."""

from __future__ import annotations

import errno
import random
import socket
import subprocess
import sys
from typing import Iterator

import pytest

import virtkernel
from virtkernel.enums import ErrorCode
from virtkernel.migration import PortAllocator
from virtkernel.migration import portlocks
from virtkernel.migration.uri import port_is_free

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def private_lock_dir(tmp_path, monkeypatch) -> None:
    """Reservations of these tests stay in their own directory, not the machine's."""
    monkeypatch.setattr(portlocks, "default_lock_dir", lambda: tmp_path / "default-locks")

HOLD_PORT = """
import socket, sys
family, address, port = (socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET), sys.argv[1], int(sys.argv[2])
server = socket.socket(family, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((address, port))
server.listen(1)
print("listening", flush=True)
sys.stdin.read()
"""


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def free_range(size: int) -> range:
    """``size`` consecutive ports that are free now (other test runs share the machine: look somewhere random)."""
    rng = random.Random()
    for _ in range(200):
        start = rng.randrange(20000, 32000)  # below Linux's ephemeral range, so no outgoing connection lands there
        ports = range(start, start + size)
        if all(port_is_free(port) for port in ports):
            return ports
    pytest.fail(f"found no {size} consecutive free ports")


def listener(address: str, port: int, v6only: bool = True) -> socket.socket:
    """A server socket listening on address:port, like any other program's (SO_REUSEADDR, as servers do)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
    sock.bind((address, port))
    sock.listen(1)
    return sock


@pytest.fixture
def child_listening() -> Iterator:
    """child_listening(address, port): another process holds the port until the test ends."""
    children: list[subprocess.Popen] = []

    def start(address: str, port: int) -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, "-c", HOLD_PORT, address, str(port)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        children.append(child)
        assert child.stdout.readline().strip() == "listening"
        return child

    yield start
    for child in children:
        child.kill()
        child.wait(timeout=10)


FOREIGN_LISTENERS = [("127.0.0.1", True), ("0.0.0.0", True), ("::1", True), ("::", True), ("::", False)]


@pytest.mark.parametrize("address, v6only", FOREIGN_LISTENERS,
                         ids=["127.0.0.1", "0.0.0.0", "[::1]", "[::] v6only", "[::] dual-stack"])
def test_a_port_held_by_a_socket_of_this_process_is_skipped(address, v6only) -> None:
    if ":" in address and not ipv6_available():
        pytest.skip("this host has no IPv6")
    ports = free_range(3)
    with listener(address, ports[0], v6only):
        allocator = PortAllocator(ports.start, ports.stop - 1, name="test")
        assert allocator.acquire() == ports[1]
        assert allocator.acquire() == ports[2]
        assert allocator.in_use() == {ports[1], ports[2]}


@pytest.mark.parametrize("address", ["0.0.0.0", "127.0.0.1", "::1"])
def test_a_port_held_by_another_process_is_skipped_until_it_lets_go(child_listening, address) -> None:
    if ":" in address and not ipv6_available():
        pytest.skip("this host has no IPv6")
    ports = free_range(2)
    child = child_listening(address, ports[0])
    allocator = PortAllocator(ports.start, ports.stop - 1, name="test")
    assert allocator.acquire() == ports[1]
    child.kill()
    child.wait(timeout=10)
    assert allocator.acquire() == ports[0]  # the other program is gone: its port is free again


def test_a_fully_busy_range_names_the_range(child_listening) -> None:
    ports = free_range(3)
    child_listening("0.0.0.0", ports[0])
    with listener("127.0.0.1", ports[1]):
        allocator = PortAllocator(ports.start, ports.stop - 1, name="qemu migration")
        assert allocator.acquire() == ports[2]
        with pytest.raises(virtkernel.VirtError) as info:
            allocator.acquire()
    error = info.value
    assert error.code == ErrorCode.OPERATION_FAILED
    assert error.message == (f"no free qemu migration port left in the range {ports[0]}-{ports[2]} "
                             "(1 reserved by this process, 2 busy on this host)")


def test_released_ports_come_back_and_release_is_exact() -> None:
    ports = free_range(3)
    allocator = PortAllocator(ports.start, ports.stop - 1, name="test")
    first, second, third = allocator.acquire(), allocator.acquire(), allocator.acquire()
    assert [first, second, third] == list(ports)
    allocator.release(second)
    allocator.release(second)            # twice: still only that one port is free
    allocator.release(ports.stop + 10)   # outside the range: ignored
    allocator.release(None)
    assert allocator.in_use() == {first, third}
    assert allocator.acquire() == second
    with pytest.raises(virtkernel.VirtError):
        allocator.acquire()
    for port in ports:
        allocator.release(port)
    assert allocator.in_use() == frozenset()
    with allocator.reserved() as port:
        assert port == first and allocator.in_use() == {first}
    assert allocator.in_use() == frozenset()


def test_a_reservation_is_released_when_the_migration_fails() -> None:
    allocator = PortAllocator(50110, 50110, check_bind=False)
    with pytest.raises(RuntimeError):
        with allocator.reserved() as reserved:
            assert allocator.in_use() == {reserved}
            raise RuntimeError("migration failed")
    assert allocator.in_use() == frozenset()


def test_a_port_in_time_wait_is_free_for_a_server() -> None:
    """A port whose last connection (to an earlier migration's listener) is in TIME_WAIT is free for a server."""
    port = free_range(1)[0]
    with listener("127.0.0.1", port) as server:
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its port goes to TIME_WAIT
        client.recv(1)
        client.close()
    assert port_is_free(port)
    assert PortAllocator(port, port, name="test").acquire() == port


def test_a_bind_refused_for_another_reason_is_an_error_not_a_busy_port(monkeypatch) -> None:
    def refuse(self, address):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", refuse)
    with pytest.raises(virtkernel.VirtError) as info:
        PortAllocator(80, 81, name="test").acquire()
    assert info.value.code == ErrorCode.SYSTEM_ERROR
    assert info.value.message == "cannot test whether port 80 is free on 0.0.0.0: Permission denied"


def test_without_the_bind_test_only_this_process_counts() -> None:
    ports = free_range(1)
    with listener("0.0.0.0", ports[0]):
        assert PortAllocator(ports[0], ports[0], check_bind=False).acquire() == ports[0]


# -- reservations shared by virtkernel processes (before anything listens, a bind test cannot see them) -------------

RESERVE_PORT = """
import sys
from virtkernel.migration import PortAllocator
port = PortAllocator(int(sys.argv[2]), int(sys.argv[2]), name="child", lock_dir=sys.argv[1]).acquire()
print("reserved", port, flush=True)
sys.stdin.read()
"""


def test_a_port_another_allocator_reserved_is_skipped_though_nothing_listens(tmp_path) -> None:
    ports = free_range(2)
    first = PortAllocator(ports.start, ports.stop - 1, name="first", lock_dir=tmp_path / "locks")
    second = PortAllocator(ports.start, ports.stop - 1, name="second", lock_dir=tmp_path / "locks")
    assert first.acquire() == ports[0]
    assert second.acquire() == ports[1]
    with pytest.raises(virtkernel.VirtError) as info:
        first.acquire()
    assert info.value.message.endswith("(1 reserved by this process, 1 busy on this host)")
    first.release(ports[0])
    assert second.acquire() == ports[0]  # released exactly: the lock went with it
    assert first.in_use() == frozenset() and second.in_use() == set(ports)


def test_a_port_another_process_reserved_is_skipped_until_that_process_ends(tmp_path) -> None:
    ports = free_range(2)
    child = subprocess.Popen([sys.executable, "-c", RESERVE_PORT, str(tmp_path / "locks"), str(ports[0])],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().split() == ["reserved", str(ports[0])]
        allocator = PortAllocator(ports.start, ports.stop - 1, name="test", lock_dir=tmp_path / "locks")
        assert allocator.acquire() == ports[1]
    finally:
        child.kill()  # a crash, not a release: the reservation still ends with the process
        child.wait(timeout=10)
    assert allocator.acquire() == ports[0]


def test_programs_started_while_a_port_is_reserved_do_not_keep_it(tmp_path) -> None:
    ports = free_range(1)
    allocator = PortAllocator(ports[0], ports[0], name="test", lock_dir=tmp_path / "locks")
    port = allocator.acquire()
    sleeper = subprocess.Popen(["sleep", "30"], close_fds=False)  # like a QEMU started for the migration
    try:
        allocator.release(port)
        other = PortAllocator(ports[0], ports[0], name="other", lock_dir=tmp_path / "locks")
        assert other.acquire() == port
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)


def test_an_untrustworthy_lock_directory_leaves_the_bind_test_alone(tmp_path, caplog) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "locks").symlink_to(elsewhere)
    ports = free_range(2)
    allocator = PortAllocator(ports.start, ports.stop - 1, name="test", lock_dir=tmp_path / "locks")
    with listener("0.0.0.0", ports[0]):
        assert allocator.acquire() == ports[1]
    assert list(elsewhere.iterdir()) == []  # nothing created through the symlink
    assert f"ports are reserved for this process only: cannot use {tmp_path / 'locks'}" in caplog.text
