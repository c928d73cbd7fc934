"""Temporary config directories with hook scripts for the hook-script plugin's tests."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from virtkernel.lifecycle import DomainHookEvent, HookPoint

PYTHON = sys.executable


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A driver config dir whose hooks/ directory exists and is safe (0755, ours)."""
    path = tmp_path / "etc"
    (path / "hooks").mkdir(parents=True)
    os.chmod(path / "hooks", 0o755)
    return path


@pytest.fixture
def hookdir(config_dir: Path) -> Path:
    """CONFIG_DIR/hooks."""
    return config_dir / "hooks"


@pytest.fixture
def write_script() -> Callable[..., Path]:
    """Write an executable script (shell or Python source, with its #! line) and return its path."""

    def write(path: Path, body: str, mode: int = 0o755) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body).lstrip())
        os.chmod(path, mode)
        return path
    return write


@pytest.fixture
def event_for(config_dir: Path) -> Callable[..., DomainHookEvent]:
    """Build the event a driver would pass at a hook point (config dir: the fixture's)."""

    def make(point: HookPoint, *, name: str = "vm1", xml: str = "<domain/>", driver: str = "test",
             config: Path | None | str = "default") -> DomainHookEvent:
        sub = "end" if point in (HookPoint.STOPPED, HookPoint.RELEASE) else "begin"
        where = config_dir if config == "default" else config
        return DomainHookEvent(point=point, driver=driver, name=name, uuid="c7a5fdbd-edaf-9455-926a-d65c16db1809",
                               xml=xml, sub_operation=sub, extra="-", config_dir=str(where) if where else None,
                               uri="test:///default")
    return make
