"""The two hook plugins of this repository are installed distributions that the kernel discovers."""

from __future__ import annotations

import virtkernel
from virtkernel.discovery import load_hook_plugins
from virtkernel.lifecycle import HookPoint


def test_both_hook_plugins_are_discovered_from_their_distributions() -> None:
    found = {p.name: p for p in virtkernel.installed_plugins() if p.kind == "hook"}
    assert found["scripts"].distribution == "virtkernel-hook-scripts"
    assert found["scripts"].target == "virtkernel_hook_scripts.plugin:HookScripts"
    assert found["device-setup"].distribution == "virtkernel-device-setup"
    assert found["device-setup"].target == "virtkernel_device_setup.plugin:DeviceSetup"


def test_they_load_and_implement_their_points() -> None:
    plugins, failures = load_hook_plugins()
    assert [f for f in failures if f.entry_point.name in ("scripts", "device-setup")] == []
    loaded = dict(plugins)
    scripts, device_setup = loaded["scripts"], loaded["device-setup"]
    assert all(hasattr(scripts, point.spec_name) for point in HookPoint)
    assert {name for name in dir(device_setup) if name.startswith("domain_hook_")} == {
        "domain_hook_prepare", "domain_hook_started", "domain_hook_reconnect", "domain_hook_release"}
    # entry points load in name order: device setup prepares devices before the scripts run
    names = [name for name, _ in plugins]
    assert names.index("device-setup") < names.index("scripts")
