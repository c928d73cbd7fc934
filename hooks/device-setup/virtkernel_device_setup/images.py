"""Disk images: created with qemu-img, removed by path."""

from __future__ import annotations

import os
from pathlib import Path

from virtkernel import command

from .errors import DeviceSetupError
from .requests import DiskRequest

QEMU_IMG = "qemu-img"


def create_image(disk: DiskRequest, timeout: float = 120) -> None:
    """Create a missing image with `qemu-img create -f FORMAT PATH SIZE`, readable by its owner only."""
    path = Path(disk.path)
    if not path.parent.is_dir():
        raise DeviceSetupError(f"cannot create disk image '{path}' for disk '{disk.target}': directory "
                               f"'{path.parent}' does not exist")
    try:
        command.run([QEMU_IMG, "create", "-q", "-f", disk.format, "--", str(path), str(disk.size)],
                    timeout=timeout)
        os.chmod(path, 0o600)  # a guest's disk is nobody else's business
    except command.CommandNotFound:
        raise DeviceSetupError(f"cannot create disk image '{path}': {QEMU_IMG} is not installed") from None
    except Exception as exc:
        path.unlink(missing_ok=True)  # it did not exist before: leave nothing half-written
        message = getattr(exc, "message", str(exc))
        raise DeviceSetupError(f"cannot create disk image '{path}' for disk '{disk.target}': {message}") from None


def remove_image(path: str) -> None:
    """Remove an image we created (already gone is fine)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
