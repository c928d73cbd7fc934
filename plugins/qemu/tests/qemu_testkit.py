"""Helpers shared by the qemu plugin's tests (a uniquely named module: never import ``conftest`` by name)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from guest import GUEST_MEMORY_MIB, count_passes, wait_for_serial
from virtkernel_qemu.monitor import Monitor
from virtkernel_qemu.process import QemuProcess

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


@dataclass
class RunningGuest:
    """A test guest started by the `boot_guest` fixture."""

    process: QemuProcess
    monitor: Monitor
    serial: Path
    socket_path: Path

    def wait_passes(self, passes: int, timeout: float = 60) -> str:
        """Wait until the serial log shows `passes` more B's than now; returns the log text."""
        start = count_passes(self.serial.read_text()) if self.serial.exists() else 0
        return wait_for_serial(self.serial, lambda text: count_passes(text) >= start + passes,
                               timeout=timeout, process=self.process)


def guest_argv(qemu_binary: str, accel: str, disk: Path, serial: Path, *extra: str,
               machine: str = "pc") -> list[str]:
    """argv of the test guest booting from `disk`, monitor on fd 3 (see `boot_guest`)."""
    return [qemu_binary, "-nodefaults", "-no-user-config", "-machine", machine, "-accel", accel,
            "-m", str(GUEST_MEMORY_MIB), "-display", "none",
            "-blockdev", f'{{"driver":"file","filename":"{disk}","node-name":"disk0"}}',
            "-device", "ide-hd,drive=disk0,bus=ide.0,bootindex=1", "-serial", f"file:{serial}",
            "-chardev", "socket,id=monitor,fd=3,server=on,wait=off", "-mon", "chardev=monitor,mode=control",
            *extra]
