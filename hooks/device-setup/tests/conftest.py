"""Events and domain XML for the device-setup plugin's tests."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from virtkernel.lifecycle import DomainHookEvent, HookPoint
from virtkernel_device_setup.testing import UUID

@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A driver config directory (device-setup.toml goes here)."""
    path = tmp_path / "etc"
    path.mkdir()
    return path


@pytest.fixture
def images_dir(tmp_path: Path) -> Path:
    """Where test disk images are created."""
    path = tmp_path / "images"
    path.mkdir()
    return path


@pytest.fixture
def event_for(config_dir: Path) -> Callable[..., DomainHookEvent]:
    """Build the event a driver passes at a hook point."""

    def make(point: HookPoint, xml: str, *, uuid: str = UUID, name: str = "vm1",
             config: Path | None | str = "default") -> DomainHookEvent:
        sub = "end" if point in (HookPoint.STOPPED, HookPoint.RELEASE) else "begin"
        where = config_dir if config == "default" else config
        return DomainHookEvent(point=point, driver="test", name=name, uuid=uuid, xml=xml, sub_operation=sub,
                               config_dir=str(where) if where else None)
    return make


@pytest.fixture
def write_config(config_dir: Path) -> Callable[[str], Path]:
    """Write CONFIG_DIR/device-setup.toml."""

    def write(text: str) -> Path:
        path = config_dir / "device-setup.toml"
        path.write_text(textwrap.dedent(text))
        os.chmod(path, 0o644)
        return path
    return write
