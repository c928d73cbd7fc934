"""Fixtures for tests that run real QEMU: binary, accelerator, short work directories, guaranteed cleanup."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

# The tests import the shared `guest` module; make that work under --import-mode=importlib too.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from guest import write_disk_image
import virtkernel
from virtkernel.errors import VirtError
from virtkernel_qemu.monitor import Monitor, listening_socket
from virtkernel_qemu.process import ProcessFiles, QemuProcess, spawn

from driver_support import conn, host  # noqa: F401 - module-scoped fixtures of the driver tests
from qemu_testkit import (IN_CI, QEMU, Hosts, RunningGuest, TwoHosts, guest_argv, kvm_usable,  # noqa: F401 - re-exported
                          require, veth_joined_namespaces)

@pytest.fixture(scope="session")
def qemu_binary() -> str:
    """Path of qemu-system-x86_64 (fails in CI when it is missing)."""
    path = shutil.which(QEMU)
    require(path is not None, f"{QEMU} is not installed")
    return path


@pytest.fixture(scope="session")
def accel() -> str:
    """Accelerator for most guest boots: env VIRTKERNEL_TEST_ACCEL, else tcg.

    TCG is the default on purpose: on these hosts KVM is nested through kvm_pvm (shadow paging), and
    SeaBIOS needs 6-7 s to reach the boot sector under it against 0.2 s under TCG.  Tests marked
    with the `kvm` fixture boot with KVM explicitly.
    """
    return os.environ.get("VIRTKERNEL_TEST_ACCEL", "tcg")


@pytest.fixture(scope="session")
def kvm() -> str:
    """'kvm', when /dev/kvm is usable (fails in CI otherwise)."""
    require(kvm_usable(), "/dev/kvm is not usable")
    return "kvm"


@pytest.fixture(scope="session")
def netns_tools() -> None:
    """Root and iproute2, for tests that make their own network namespace (fails in CI otherwise)."""
    require(os.geteuid() == 0 and shutil.which("ip") is not None, "needs root and iproute2 (ip netns)")


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short temporary directory (unix socket paths must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="vkq-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def disk_image(workdir: Path) -> Path:
    """A raw disk image holding the test guest's boot sector (one per test: QEMU locks images)."""
    return write_disk_image(workdir / "guest.img")


@pytest.fixture
def launch(workdir: Path) -> Iterator[Callable[..., QemuProcess]]:
    """launch(argv, name='guest', **spawn_kwargs) -> QemuProcess; every process is killed at teardown."""
    started: list[QemuProcess] = []

    def _launch(argv, name: str = "guest", **kwargs) -> QemuProcess:
        kwargs.setdefault("tied_to_caller", True)  # dies with pytest even if teardown never runs
        process = spawn(argv, ProcessFiles(workdir, name), **kwargs)
        started.append(process)
        return process

    yield _launch
    for process in started:
        if process.is_running():
            process.kill()
        process.close()


@pytest.fixture
def boot_guest(qemu_binary: str, accel: str, workdir: Path, launch):
    """boot_guest(name='guest', *extra_args, wait_passes=1) -> RunningGuest, monitor closed at teardown."""
    monitors: list[Monitor] = []

    def _boot(name: str = "guest", *extra: str, wait_passes: int = 1, argv_accel: str | None = None,
              disk: Path | None = None) -> RunningGuest:
        disk = disk or write_disk_image(workdir / f"{name}.img")
        serial = workdir / f"{name}.serial"
        socket_path = workdir / f"{name}.qmp"
        listener = listening_socket(socket_path)
        try:
            process = launch(guest_argv(qemu_binary, argv_accel or accel, disk, serial, *extra),
                             name=name, pass_fds={3: listener.fileno()})
        finally:
            listener.close()
        monitor = Monitor.connect(socket_path, name, alive=process.is_running)
        monitors.append(monitor)
        guest = RunningGuest(process, monitor, serial, socket_path)
        if wait_passes:
            guest.wait_passes(wait_passes)
        return guest

    yield _boot
    for monitor in monitors:
        monitor.close()


@pytest.fixture
def hosts(workdir: Path, accel: str) -> Iterator[Hosts]:
    """Two qemu:///embed hosts in `workdir` (a = source, b = destination) for migration tests; guests destroyed after."""
    if accel != "tcg":
        pytest.skip("these tests describe TCG guests")
    disk = write_disk_image(workdir / "disk.img")
    a = virtkernel.open(f"qemu:///embed?root={workdir / 'a'}")
    b = virtkernel.open(f"qemu:///embed?root={workdir / 'b'}")
    two = Hosts(workdir, a, b, disk, workdir / "serial.log")
    yield two
    for connection in (two.a, two.b):
        for dom in connection.list_all_domains(0):
            try:
                dom.destroy()
            except VirtError:
                pass
        connection.close()


@pytest.fixture
def two_hosts(netns_tools) -> Iterator[TwoHosts]:
    """Two network namespaces joined by a veth pair (IPv4 and IPv6): two hosts for migration tests."""
    with veth_joined_namespaces() as hosts:
        yield hosts
