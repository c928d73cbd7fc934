"""A libvirt-python program prints the same with real libvirt and with `virtkernel.libvirt` as its module."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import virtkernel

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, "sample_program.py")
SYSTEM_PYTHON = "/usr/bin/python3"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Fail in CI, skip elsewhere, when a prerequisite is missing."""
    if not condition:
        if IN_CI:
            pytest.fail(f"prerequisite missing in CI: {reason}")
        pytest.skip(reason)


def run(python: str, module: str) -> subprocess.CompletedProcess[str]:
    """Run the sample program with one libvirt module."""
    env = dict(os.environ, LIBVIRT_MODULE=module)
    return subprocess.run([python, PROGRAM], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.timeout(300)
def test_the_sample_program_prints_the_same_with_both_modules() -> None:
    has_libvirt = os.path.exists(SYSTEM_PYTHON) and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import libvirt"], capture_output=True, timeout=60).returncode == 0
    require(has_libvirt, f"libvirt-python is not importable with {SYSTEM_PYTHON}")
    try:
        virtkernel.open("test:///default").close()
        has_test_driver = True
    except virtkernel.VirtError:
        has_test_driver = False
    require(has_test_driver, "the test driver (plugins/test) is not installed")
    reference = run(SYSTEM_PYTHON, "libvirt")
    ours = run(sys.executable, "virtkernel.libvirt")
    assert reference.returncode == 0, reference.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == reference.stdout
    assert "event: sample" in ours.stdout and "close: 1" in ours.stdout
