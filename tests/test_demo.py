"""The README's main job (`./dev demo`) runs a real guest end to end on the embedded qemu host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_the_demo_runs_a_real_guest_saves_restores_and_migrates_it() -> None:
    if shutil.which("qemu-system-x86_64") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("qemu-system-x86_64 is missing in CI: ./dev must install qemu-system-x86")
        pytest.skip("qemu-system-x86_64 is not installed")
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")], capture_output=True, text=True,
                          timeout=280)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "installed drivers: " in out and "qemu" in out.splitlines()[0]
    assert "its serial port says: 'AB" in out
    assert "-> identical" in out
    assert "Result: the migration would proceed" in out
    assert ": demo is running; its serial output grew by" in out
    assert "on the source: gone" in out
    assert "\ndone in " in out
