"""Probing a real QEMU binary: what 7.2 offers, the on-disk cache and its key, clear failures."""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

import virtkernel_qemu.capabilities as capabilities_module
from virtkernel.enums import ErrorDomain
from virtkernel_qemu.capabilities import CapabilityProbeError, kvm_device_usable, probe


@pytest.fixture(autouse=True)
def empty_memory_cache():
    capabilities_module._memory.clear()
    yield
    capabilities_module._memory.clear()


def test_probe_reports_version_machines_and_features(qemu_binary, tmp_path):
    caps = probe(qemu_binary, cache_dir=tmp_path)
    banner = subprocess.run([qemu_binary, "--version"], capture_output=True, text=True).stdout
    assert re.search(r"version (\d+\.\d+\.\d+)", banner).group(1) == caps.version_string
    assert caps.version_number == caps.version[0] * 1_000_000 + caps.version[1] * 1000 + caps.version[2]
    assert caps.canonical_machine("q35").startswith("pc-q35-")
    assert caps.features.has_machine("pc") and not caps.features.has_machine("no-such-board")
    assert caps.default_machine == "pc"
    assert "tcg" in caps.accelerators and "kvm" in caps.accelerators
    assert caps.kvm_usable == kvm_device_usable()
    assert caps.features.has_cpu_model("qemu64")
    assert caps.features.has_device("virtio-blk-pci") and caps.features.has_device("ide-hd")
    assert caps.features.has_command("query-status")
    assert caps.features.has_migration_parameter("max-bandwidth")


def test_qemu_7_2_feature_answers(qemu_binary, tmp_path):
    caps = probe(qemu_binary, cache_dir=tmp_path)
    if caps.version[:2] != (7, 2):
        pytest.skip(f"these answers are about QEMU 7.2, found {caps.version_string}")
    features = caps.features
    assert features.supports_postcopy and features.supports_multifd
    assert features.has_blockdev_mirror and features.has_nbd_server and features.has_blockdev
    assert features.has_block_migration  # 7.2 still has the 'block' capability (removed in 9.1)
    assert features.has_migrate_incoming
    assert set(features.as_dict()) >= {"supports_postcopy", "has_block_migration", "kvm"}


def counting_wrapper(directory, qemu_binary):
    """A script that counts its runs, then runs QEMU: to see whether a probe ran QEMU."""
    script = directory / "qemu-wrapper"
    counter = directory / "runs"
    script.write_text(f'#!/bin/sh\necho run >> "{counter}"\nexec "{qemu_binary}" "$@"\n')
    script.chmod(0o755)
    return script, counter


def runs(counter) -> int:
    return len(counter.read_text().split()) if counter.exists() else 0


def test_the_cache_is_reused_until_the_binary_changes(qemu_binary, tmp_path):
    script, counter = counting_wrapper(tmp_path, qemu_binary)
    cache = tmp_path / "cache"
    first = probe(str(script), cache_dir=cache)
    assert runs(counter) == 1
    assert probe(str(script), cache_dir=cache) is first  # in-memory
    capabilities_module._memory.clear()
    assert probe(str(script), cache_dir=cache) == first  # from disk, QEMU not run
    assert runs(counter) == 1
    capabilities_module._memory.clear()
    later = time.time() + 5
    os.utime(script, (later, later))  # same size and inode, new mtime
    probe(str(script), cache_dir=cache)
    assert runs(counter) == 2
    probe(str(script), cache_dir=cache, use_cache=False)
    assert runs(counter) == 3


def test_a_damaged_cache_file_is_probed_again(qemu_binary, tmp_path):
    script, counter = counting_wrapper(tmp_path, qemu_binary)
    cache = tmp_path / "cache"
    first = probe(str(script), cache_dir=cache)
    for cache_file in cache.iterdir():
        cache_file.write_text("{not json")
    capabilities_module._memory.clear()
    assert probe(str(script), cache_dir=cache) == first
    assert runs(counter) == 2


def test_a_missing_or_wrong_binary_is_reported(tmp_path):
    with pytest.raises(CapabilityProbeError, match="'no-such-qemu' not found") as info:
        probe("no-such-qemu", cache_dir=tmp_path)
    assert info.value.domain == ErrorDomain.QEMU
    with pytest.raises(CapabilityProbeError, match="no answer to 'query-version'"):
        probe("/bin/true", cache_dir=tmp_path)
