"""Record every golden scenario with real libvirt-python: `/usr/bin/python3 tests/golden/record.py`.

Writes tests/golden/domain_api.json (scenario name -> recorded steps). `--check` records into memory
and fails if the result differs from the file (stale golden data, or a non-deterministic scenario).
Any step whose outcome differs from the error the scenario expects also fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import runner  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402

GOLDEN_FILE = os.path.join(HERE, "domain_api.json")


def record_all(lib, only: list[str] | None = None) -> dict[str, list[dict]]:
    """Run every scenario (or those named) in its own temporary directory; stop on unexpected outcomes."""
    names = [s.name for s in SCENARIOS]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SystemExit(f"duplicate scenario names: {duplicates}")
    recorded: dict[str, list[dict]] = {}
    problems: list[str] = []
    for scenario in SCENARIOS:
        if only and scenario.name not in only:
            continue
        with tempfile.TemporaryDirectory(prefix="golden-") as tmpdir:
            try:
                records = runner.run_scenario(lib, scenario, tmpdir)
            except Exception as error:  # report every broken scenario at once
                problems.append(f"{scenario.name}: {type(error).__name__}: {error}")
                continue
        problems += runner.check_expectations(scenario, records)
        recorded[scenario.name] = records
    if problems:
        raise SystemExit("scenario expectations do not match libvirt:\n" + "\n".join(problems))
    return recorded


def dump(recorded: dict[str, list[dict]]) -> str:
    """The golden file's exact text: one line per step, so a diff shows which call changed."""
    blocks = []
    for name in sorted(recorded):
        steps = ",\n".join("  " + json.dumps(step, sort_keys=True, ensure_ascii=False) for step in recorded[name])
        blocks.append(f" {json.dumps(name)}: [\n{steps}\n ]")
    return "{\n" + ",\n".join(blocks) + "\n}\n"


def main() -> int:
    """Record (or with --check, verify) the golden file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the existing file instead of writing")
    parser.add_argument("--show", nargs="+", metavar="SCENARIO", help="print these scenarios' records only")
    parser.add_argument("--output", default=GOLDEN_FILE, help="where to write (default: %(default)s)")
    options = parser.parse_args()
    import libvirt  # the real binding: only importable with /usr/bin/python3

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # keep libvirt's own stderr quiet
    if options.show:
        print(dump(record_all(libvirt, options.show)))
        return 0
    text = dump(record_all(libvirt))
    if options.check:
        with open(options.output, encoding="utf-8") as handle:
            if handle.read() != text:
                print(f"{options.output} is stale or the recording is not deterministic", file=sys.stderr)
                return 1
        print(f"{len(SCENARIOS)} scenarios match {options.output}")
        return 0
    with open(options.output, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"recorded {len(SCENARIOS)} scenarios into {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
