"""virtkernel against real virsh 9.0: every recorded case of tests/golden/virsh/virsh.json.

Each case runs ``virtkernel`` in-process with the recorded arguments after the program name (``{tmp}`` is a
fresh directory holding the case's files, ``{hosts}`` is tests/golden/hosts, TZ=UTC like the recorder), and
compares status, stdout and stderr after the recorder's own normalisation. A few cases are also replayed through
the installed console script with the recorder's ``replay``. COMPARE_PARTLY lists the cases that differ by
design and what is compared for them.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
GOLDEN_DIR = HERE.parent / "golden" / "virsh"
BIN = Path(sys.executable).parent / "virtkernel"


def _recorder():
    spec = importlib.util.spec_from_file_location("record_virsh", GOLDEN_DIR / "record_virsh.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


RECORDER = _recorder()
CASES = json.loads((GOLDEN_DIR / "virsh.json").read_text(encoding="utf-8"))

# Cases whose stderr carries text only libxml2 produces (its parser messages and warnings): the command line's
# own first error line, the status and stdout are compared; the parser's wording is not.
COMPARE_PARTLY = {
    "define {tmp}/broken.xml": "libxml2's parser message (line/column dump) is not reproduced",
    "-c test:///no/such/host.xml list": "libxml2's 'I/O warning' line is not reproduced",
}
# Cases where virtkernel's test driver deliberately does more than libvirt's: what virtkernel prints instead.
DIFFERS_BY_DESIGN = {
    "-c test://{hosts}/bad_runstate.xml list": (
        "issue 3: a bad host file's error names the file; libvirt's words come first",
        1, "", "error: failed to connect to the hypervisor\nerror: XML error: transient domain cannot have runstate "
        "'shutoff' (test host file '{hosts}/bad_runstate.xml', domain #1)\n"),
    "attach-device test {tmp}/disk.xml": (
        "the test driver supports device hot-plug (issue 3); libvirt's answers 'not supported'",
        0, "Device attached successfully\n\n", ""),
}

# Differences that are not the command line's: each names what has to change elsewhere. They are expected
# failures (strict): once fixed they pass, the strict marker turns that into a failure, and the entry goes.
DRIVER_GAPS: dict[str, str] = {}
SUBPROCESS_SAMPLE = ("list", "dominfo nosuch; domstate test", "-c")


def _key(case: dict) -> str:
    return " ".join(case["argv"][1:]).replace("-c test:///default ", "")


def _param(case: dict):  # noqa: ANN202 - a pytest ParameterSet
    gap = DRIVER_GAPS.get(_key(case))
    marks = [pytest.mark.xfail(reason=gap, strict=True)] if gap else []
    return pytest.param(case, id=_key(case), marks=marks)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):
    """Local time is UTC while the case runs (snapshot creation times are printed in local time)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _compare(case: dict, status: int, out: str, err: str) -> None:
    key = _key(case)
    if key in DIFFERS_BY_DESIGN:
        _reason, *expected = DIFFERS_BY_DESIGN[key]
        assert (status, out, err) == tuple(expected)
        return
    if key in COMPARE_PARTLY:
        expected_first = next(line for line in case["stderr"].splitlines() if line.startswith("error: "))
        assert (status, out, err.splitlines()[0]) == (case["status"], case["stdout"], expected_first)
        return
    assert (status, out, err) == (case["status"], case["stdout"], case["stderr"])


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_matches_virsh(cli, utc, case, tmp_path):
    for name, content in case["files"].items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    argv = [arg.replace("{tmp}", str(tmp_path)).replace("{hosts}", RECORDER.HOSTS_DIR) for arg in case["argv"][1:]]
    result = cli(*argv)
    rules = case["normalise"]
    out = RECORDER.normalise_output(result.out, rules, str(tmp_path))
    err = RECORDER.normalise_output(result.err, rules, str(tmp_path))
    _compare(case, result.status, out, err)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("key", SUBPROCESS_SAMPLE)
def test_console_script_matches_virsh(key):
    case = next(c for c in CASES if _key(c) == key)
    replayed = RECORDER.replay(case, [str(BIN)])
    _compare(case, replayed["status"], replayed["stdout"], replayed["stderr"])
