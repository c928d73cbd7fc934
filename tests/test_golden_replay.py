"""Replay every golden scenario (recorded with real libvirt 9.0) through virtkernel.libvirt and compare.

One test per scenario: `runner.run_scenario(virtkernel.libvirt, scenario, tmp)` must equal the recorded
steps in tests/golden/domain_api.json. A deliberate difference is never skipped silently: it is listed in
tests/golden_replay_differences.json (scenario -> step index -> reason and the exact record virtkernel
produces instead), and the test checks that record too, so a difference cannot grow unnoticed. The same
list is explained for users in the README's "Differences from libvirt".
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import pytest

import virtkernel
from virtkernel import libvirt
from virtkernel.libvirt import eventloop

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
sys.path.insert(0, GOLDEN_DIR)

import runner  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402

with open(os.path.join(GOLDEN_DIR, "domain_api.json"), encoding="utf-8") as _handle:
    GOLDEN: dict[str, list[dict[str, Any]]] = json.load(_handle)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Difference:
    """A documented, deliberate difference: virtkernel records ``ours`` where libvirt recorded the golden step."""

    reason: str
    ours: dict[str, Any]


def load_differences() -> dict[str, dict[int, Difference]]:
    """The deliberate differences: scenario name -> step index -> Difference."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_replay_differences.json")
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return {name: {int(index): Difference(entry["reason"], entry["ours"]) for index, entry in steps.items()}
            for name, steps in data.items()}


DELIBERATE_DIFFERENCES = load_differences()


def expected_records(name: str) -> list[dict[str, Any]]:
    """The golden records of a scenario with its deliberate differences applied."""
    records = [dict(record) for record in GOLDEN[name]]
    for index, difference in DELIBERATE_DIFFERENCES.get(name, {}).items():
        assert records[index]["call"] == difference.ours["call"], "a deliberate difference names the wrong step"
        records[index] = difference.ours
    return records


def test_driver_available() -> bool:
    """Whether the test driver (plugins/test) is installed."""
    try:
        virtkernel.open("test:///default").close()
    except virtkernel.VirtError:
        return False
    return True


test_driver_available.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def test_driver() -> None:
    """The test driver must be installed: a failure in CI, a skip with the reason elsewhere."""
    if not test_driver_available():
        reason = "the test driver (scheme 'test', plugins/test) is not installed"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def default_loop_registered():
    """Scenarios with events register libvirt's default loop; undo that afterwards for other tests."""
    before = eventloop.LOOP.registered
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # libvirt prints every error otherwise
    yield
    eventloop.LOOP.registered = before
    libvirt.registerErrorHandler(None, None)


def test_every_deliberate_difference_names_a_recorded_step() -> None:
    for name, differences in DELIBERATE_DIFFERENCES.items():
        assert name in GOLDEN, name
        for index, difference in differences.items():
            assert index < len(GOLDEN[name]) and difference.reason
            assert GOLDEN[name][index] != difference.ours, f"{name} step {index} does not differ at all"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_matches_libvirt(scenario: runner.Scenario, tmp_path, test_driver: None,
                                  default_loop_registered: None) -> None:
    expected = expected_records(scenario.name)
    try:
        ours = runner.run_scenario(libvirt, scenario, str(tmp_path))
    except (KeyError, RuntimeError) as error:
        # A step meant to save an object failed (or events never settled): the scenario cannot go on.
        calls = "\n".join(f"  {record['call']} -> {record.get('result', record.get('error'))}" for record in expected)
        pytest.fail(f"{scenario.name} stopped: {type(error).__name__}: {error}; libvirt recorded:\n{calls}")
    mismatches = [f"step {i}: {want.get('call')}\n  libvirt: {want}\n  ours:    {got}"
                  for i, (want, got) in enumerate(zip(expected, ours)) if want != got]
    if len(ours) != len(expected):
        mismatches.append(f"{len(ours)} steps recorded, {len(expected)} expected")
    assert not mismatches, f"{scenario.name}:\n" + "\n".join(mismatches)


def refresh_differences() -> None:
    """Re-record `ours` for the steps already listed as deliberate (reasons kept; nothing is added)."""
    import tempfile
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_replay_differences.json")
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    by_name = {scenario.name: scenario for scenario in SCENARIOS}
    for name, steps in data.items():
        with tempfile.TemporaryDirectory() as tmp:
            ours = runner.run_scenario(libvirt, by_name[name], tmp)
        for index, entry in steps.items():
            entry["ours"] = ours[int(index)]
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")


if __name__ == "__main__":
    # .venv/bin/python tests/test_golden_replay.py --refresh-differences
    if sys.argv[1:] == ["--refresh-differences"]:
        refresh_differences()
    else:
        sys.exit("usage: test_golden_replay.py --refresh-differences")
