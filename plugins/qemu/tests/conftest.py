"""Fixtures for tests that run real QEMU: binary, accelerator, short work directories, guaranteed cleanup."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

from guest import write_disk_image
from virtkernel_qemu.process import ProcessFiles, QemuProcess, spawn

QEMU = "qemu-system-x86_64"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Fail in CI, skip elsewhere, when a prerequisite is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {reason}")
    pytest.skip(reason)


def kvm_usable() -> bool:
    """True when /dev/kvm can be opened read-write."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


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
        process = spawn(argv, ProcessFiles(workdir, name), **kwargs)
        started.append(process)
        return process

    yield _launch
    for process in started:
        if process.is_running():
            process.kill()
        process.close()
