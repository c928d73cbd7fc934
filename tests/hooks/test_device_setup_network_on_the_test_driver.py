"""Device setup creates real taps and bridges for a test-driver guest, in a private network namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

STEPS = Path(__file__).with_name("netns_start_stop.py")

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def _needs_namespaces() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tap/bridge tests need root and unshare(1) (network namespaces) and CI=true")
        pytest.skip("needs root and unshare(1) for a private network namespace")


def start_and_stop(config_dir: Path, interfaces: str, *, hook_script: str | None = None) -> dict:
    config_dir.mkdir(exist_ok=True)
    (config_dir / "device-setup.toml").write_text("[network]\ncreate_taps = true\ncreate_bridges = true\n")
    if hook_script:
        hooks = config_dir / "hooks"
        hooks.mkdir(mode=0o755)
        (hooks / "test").write_text(hook_script)
        os.chmod(hooks / "test", 0o755)
    uri = f"test:///default?config={urllib.parse.quote(str(config_dir), safe='/')}"
    xml = ("<domain type='test'><name>netguest</name><memory unit='KiB'>8192</memory><os><type>hvm</type></os>"
           f"<devices>{interfaces}</devices></domain>")
    result = subprocess.run(["unshare", "--net", "--", sys.executable, str(STEPS), uri, xml],
                            capture_output=True, text=True, timeout=50)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_taps_and_bridge_exist_while_the_guest_runs_and_go_when_it_stops(tmp_path) -> None:
    report = start_and_stop(tmp_path / "etc", "<interface type='bridge'><source bridge='vkbr7'/>"
                                              "<target dev='vktap7'/></interface>"
                                              "<interface type='ethernet'><target dev='vketh7'/></interface>")
    assert report["active"] and "error" not in report
    running = report["running"]
    assert running["vktap7"] == {"master": "vkbr7", "up": True}
    assert running["vkbr7"]["up"] and running["vketh7"]["up"]
    assert report["stopped"] == {}


def test_a_refused_start_leaves_no_device_behind(tmp_path) -> None:
    report = start_and_stop(tmp_path / "etc", "<interface type='bridge'><source bridge='vkbr8'/>"
                                              "<target dev='vktap8'/></interface>",
                            hook_script='#!/bin/sh\n[ "$2" = start ] && { echo "network check failed" >&2; exit 1; }\n'
                                        'exit 0\n')
    assert not report["active"]
    assert "network check failed" in report["error"]
    assert report["running"] == {} and report["stopped"] == {}
