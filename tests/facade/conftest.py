"""Fixtures for the facade's tests: the "mini" scheme served by an in-memory driver."""

from __future__ import annotations

import os
import sys
from typing import Any, Iterator

import pytest

import virtkernel.connection

sys.path.insert(0, os.path.dirname(__file__))
from mini_driver import MiniDriver  # noqa: E402

MINI_URI = "mini:///"


@pytest.fixture
def mini(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Make "mini:///" open the in-memory MiniDriver; yields the URI."""
    original = virtkernel.connection.load_driver_class

    def load(scheme: str) -> Any:
        return MiniDriver if scheme == "mini" else original(scheme)

    monkeypatch.setattr(virtkernel.connection, "load_driver_class", load)
    yield MINI_URI


@pytest.fixture
def quiet_errors() -> Iterator[list[tuple[Any, tuple[Any, ...]]]]:
    """Collect errors through registerErrorHandler instead of printing them; restores printing afterwards."""
    from virtkernel import libvirt
    seen: list[tuple[Any, tuple[Any, ...]]] = []
    libvirt.registerErrorHandler(lambda ctx, err: seen.append((ctx, err)), "ctx")
    yield seen
    libvirt.registerErrorHandler(None, None)
