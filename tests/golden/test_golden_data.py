"""The golden files agree with the scenarios that produced them, and re-recording changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import runner  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "virsh"))
from record_virsh import CASES  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
IN_CI = os.environ.get("CI") == "true"


def load(path: str):
    """A golden JSON file."""
    with open(os.path.join(HERE, path), encoding="utf-8") as handle:
        return json.load(handle)


def require(condition: bool, reason: str) -> None:
    """Fail in CI, skip elsewhere, when real libvirt tooling is missing."""
    if not condition:
        if IN_CI:
            pytest.fail(f"prerequisite missing in CI: {reason}")
        pytest.skip(reason)


def test_every_scenario_is_recorded_with_its_calls():
    golden = load("domain_api.json")
    assert sorted(golden) == sorted(s.name for s in SCENARIOS)
    for scenario in SCENARIOS:
        calls = [record["call"] for record in golden[scenario.name]]
        assert calls == [runner.describe(step) for step in scenario.steps], scenario.name


def test_recorded_errors_are_the_expected_ones():
    golden = load("domain_api.json")
    problems = [p for s in SCENARIOS for p in runner.check_expectations(s, golden[s.name])]
    assert problems == []


def test_there_are_at_least_80_scenarios_covering_errors_and_events():
    golden = load("domain_api.json")
    assert len(SCENARIOS) >= 80
    assert sum("error" in r for records in golden.values() for r in records) >= 100
    assert sum(bool(r.get("events")) for records in golden.values() for r in records) >= 40


def test_every_virsh_case_is_recorded():
    golden = load("virsh/virsh.json")
    assert [r["argv"] for r in golden] == [["virsh", *case.args] for case in CASES]


def libvirt_binding_available() -> bool:
    """Whether Debian's Python can import the real libvirt binding."""
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import libvirt"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


@pytest.mark.timeout(120)
def test_domain_api_recording_is_current_and_deterministic():
    require(libvirt_binding_available(), f"{SYSTEM_PYTHON} cannot import libvirt (python3-libvirt)")
    done = subprocess.run(
        [SYSTEM_PYTHON, os.path.join(HERE, "record.py"), "--check"], capture_output=True, text=True, timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.timeout(120)
def test_virsh_recording_is_current_and_deterministic():
    require(shutil.which("virsh") is not None, "virsh (libvirt-clients) is not installed")
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "virsh", "record_virsh.py"), "--check"], capture_output=True,
        text=True, timeout=400, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
