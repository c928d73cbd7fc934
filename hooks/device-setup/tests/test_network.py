"""Taps and bridges (real ones, in a private network namespace): created when allowed, removed exactly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from virtkernel_device_setup.testing import domain_xml

A = "11111111-2222-3333-4444-555555555555"
B = "66666666-7777-8888-9999-aaaaaaaaaaaa"
C = "bbbbbbbb-cccc-dddd-eeee-ffffffffffff"
STEPS = Path(__file__).with_name("netns_steps.py")

pytestmark = pytest.mark.root


@pytest.fixture(autouse=True)
def _needs_namespaces() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tap/bridge tests need root and unshare(1) (network namespaces) and CI=true")
        pytest.skip("needs root and unshare(1) for a private network namespace")


def interfaces(*specs: tuple[str, str | None, str | None]) -> str:
    out = []
    for kind, tap, bridge in specs:
        source = f"<source bridge='{bridge}'/>" if bridge else ""
        target = f"<target dev='{tap}'/>" if tap else ""
        out.append(f"<interface type='{kind}'>{source}{target}<model type='virtio'/></interface>")
    return "".join(out)


def run_steps(config_dir: Path, steps: list[tuple[str, str, str]]) -> list[dict]:
    result = subprocess.run(["unshare", "--net", "--", sys.executable, str(STEPS), str(config_dir),
                             json.dumps(steps)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def allow(config_dir: Path, taps: bool = True, bridges: bool = True) -> None:
    config_dir.mkdir(exist_ok=True)
    (config_dir / "device-setup.toml").write_text(
        f"[network]\ncreate_taps = {str(taps).lower()}\ncreate_bridges = {str(bridges).lower()}\n")


@pytest.mark.timeout(60)
def test_taps_and_a_shared_bridge_are_created_and_removed_exactly(tmp_path) -> None:
    allow(tmp_path)
    xml_a = domain_xml(interfaces=interfaces(("bridge", "vktapa", "vkbr0"), ("ethernet", "vktape", None)), uuid=A)
    xml_b = domain_xml(interfaces=interfaces(("bridge", "vktapb", "vkbr0")), uuid=B, name="vm2")

    after = run_steps(tmp_path, [("prepare", A, xml_a), ("started", A, xml_a), ("prepare", B, xml_b),
                                 ("release", A, xml_a), ("release", B, xml_b)])

    links = after[0]["links"]
    assert links["vkbr0"]["kind"] == "ether" and links["vkbr0"]["up"]
    assert links["vktapa"]["master"] == "vkbr0"
    assert links["vktape"]["master"] is None and "vktape" in links
    assert after[2]["links"]["vktapb"]["master"] == "vkbr0"
    # A released: its taps go, the bridge stays because B still uses it
    assert set(after[3]["links"]) == {"vkbr0", "vktapb"}
    # B released: the bridge we created goes with its last user
    assert after[4]["links"] == {}
    assert "error" not in json.dumps(after)


@pytest.mark.timeout(60)
def test_devices_that_existed_before_are_left_alone(tmp_path) -> None:
    allow(tmp_path)
    xml = domain_xml(interfaces=interfaces(("bridge", "hosttap", "hostbr"), ("bridge", "vktapc", "hostbr")), uuid=C)
    after = run_steps(tmp_path, [("host", "", "link add name hostbr type bridge"),
                                 ("host", "", "tuntap add dev hosttap mode tap"),
                                 ("prepare", C, xml), ("release", C, xml)])
    assert after[2]["links"]["vktapc"]["master"] == "hostbr"
    assert after[2]["links"]["hosttap"]["master"] is None  # not ours: not even re-attached
    assert set(after[3]["links"]) == {"hostbr", "hosttap"}


@pytest.mark.timeout(60)
def test_network_devices_are_off_by_default(tmp_path) -> None:
    xml = domain_xml(interfaces=interfaces(("bridge", "vktapa", "vkbr0"), ("ethernet", "vktape", None)), uuid=A)
    after = run_steps(tmp_path, [("prepare", A, xml), ("release", A, xml)])
    assert after == [{"links": {}}, {"links": {}}]


@pytest.mark.timeout(60)
def test_a_failed_prepare_removes_the_taps_it_had_created(tmp_path) -> None:
    allow(tmp_path, taps=True, bridges=False)
    xml = domain_xml(interfaces=interfaces(("ethernet", "vktapd", None), ("bridge", "vktapf", "nobridge")), uuid=A)
    after = run_steps(tmp_path, [("prepare", A, xml)])
    assert after[0]["error"] == ("cannot attach tap device 'vktapf' to bridge 'nobridge': the bridge does not exist "
                                 "(allow device setup to create it with create_bridges = true)")
    assert after[0]["links"] == {}


@pytest.mark.timeout(60)
def test_invalid_device_names_are_refused(tmp_path) -> None:
    allow(tmp_path)
    xml = domain_xml(interfaces=interfaces(("ethernet", "tap with space", None)), uuid=A)
    after = run_steps(tmp_path, [("prepare", A, xml)])
    assert after[0]["error"].startswith("tap device name 'tap with space' is not a valid network device name")
    assert after[0]["links"] == {}
