"""Migration flags and typed parameters -> QEMU capabilities and parameters (no QEMU needed except for the probe)."""

from __future__ import annotations

import pytest

from virtkernel.enums import DomainMigrateFlags as M, ErrorCode
from virtkernel.errors import VirtError
from virtkernel_qemu.capabilities import probe
from virtkernel_qemu.migration_settings import MiB, UNLIMITED_BANDWIDTH_MIB, DomainTunables, MigrationTuning
from virtkernel_qemu.migration_stats import job_stats


@pytest.fixture(scope="module")
def features(qemu_binary):
    return probe(qemu_binary).features


def test_defaults_lift_qemus_bandwidth_cap(features):
    setup = MigrationTuning.from_request(int(M.LIVE)).source_setup(features)
    assert setup.parameters["max-bandwidth"] == UNLIMITED_BANDWIDTH_MIB * MiB
    assert setup.capabilities["events"] is True
    assert setup.capabilities["postcopy-ram"] is False


def test_every_typed_parameter_reaches_qemu(features):
    flags = int(M.LIVE | M.POSTCOPY | M.AUTO_CONVERGE | M.COMPRESSED | M.PARALLEL)
    params = {"bandwidth": 300, "bandwidth.postcopy": 100, "auto_converge.initial": 30,
              "auto_converge.increment": 5, "compression": ["xbzrle", "mt"], "compression.xbzrle.cache": 32 * MiB,
              "compression.mt.level": 3, "compression.mt.threads": 2, "compression.mt.dthreads": 1,
              "parallel.connections": 3}
    tuning = MigrationTuning.from_request(flags, params, DomainTunables(max_downtime_ms=77))
    source = tuning.source_setup(features)
    assert {name for name, on in source.capabilities.items() if on} == {
        "events", "postcopy-ram", "auto-converge", "xbzrle", "compress", "multifd"}
    assert source.parameters == {
        "max-bandwidth": 300 * MiB, "max-postcopy-bandwidth": 100 * MiB, "downtime-limit": 77,
        "cpu-throttle-initial": 30, "cpu-throttle-increment": 5, "xbzrle-cache-size": 32 * MiB,
        "compress-level": 3, "compress-threads": 2, "decompress-threads": 1, "multifd-channels": 3}
    dest = tuning.destination_setup(features)
    assert {name for name, on in dest.capabilities.items() if on} == {"events", "postcopy-ram", "multifd", "compress"}
    assert dest.parameters == {"decompress-threads": 1, "multifd-channels": 3}


def test_user_tunables_apply_unless_a_parameter_overrides(features):
    tunables = DomainTunables(max_speed_mib=50, xbzrle_cache_bytes=8 * MiB)
    assert MigrationTuning.from_request(int(M.LIVE), {}, tunables).source_setup(features).parameters[
        "max-bandwidth"] == 50 * MiB
    assert MigrationTuning.from_request(int(M.LIVE), {"bandwidth": 70}, tunables).bandwidth_mib == 70


@pytest.mark.parametrize("flags,params,message", [
    (M.LIVE, {"auto_converge.initial": 10}, "needs VIR_MIGRATE_AUTO_CONVERGE"),
    (M.LIVE, {"compression": "xbzrle"}, "needs VIR_MIGRATE_COMPRESSED"),
    (M.LIVE | M.COMPRESSED, {"compression": "zstd"}, "unsupported compression method 'zstd'"),
    (M.LIVE, {"parallel.connections": 4}, "needs VIR_MIGRATE_PARALLEL"),
])
def test_inconsistent_requests_are_refused(flags, params, message):
    with pytest.raises(VirtError, match=message) as caught:
        MigrationTuning.from_request(int(flags), params)
    assert caught.value.code == ErrorCode.INVALID_ARG


def test_a_capability_qemu_lacks_is_refused_by_name(features):
    from dataclasses import replace
    caps = replace(features.capabilities, migration_capabilities=features.capabilities.migration_capabilities
                   - {"postcopy-ram"})
    tuning = MigrationTuning.from_request(int(M.LIVE | M.POSTCOPY))
    with pytest.raises(VirtError, match="post-copy migration is not supported by the QEMU on the destination "
                                        "host .no 'postcopy-ram'") as caught:
        tuning.destination_setup(type(features)(caps))
    assert caught.value.code == ErrorCode.ARGUMENT_UNSUPPORTED


def test_job_stats_use_libvirts_key_names():
    info = {"status": "active", "total-time": 120, "expected-downtime": 30, "setup-time": 2,
            "ram": {"transferred": 1000, "remaining": 500, "total": 2000, "duplicate": 3, "normal": 4,
                    "normal-bytes": 16384, "dirty-pages-rate": 77, "page-size": 4096, "dirty-sync-count": 2,
                    "postcopy-requests": 0, "mbps": 80.0},
            "xbzrle-cache": {"cache-size": 64, "bytes": 5, "pages": 6, "cache-miss": 7, "overflow": 8},
            "cpu-throttle-percentage": 20}
    stats = job_stats(info, disk=(100, 400))
    assert stats == {"time_elapsed": 120, "downtime": 30, "setup_time": 2, "memory_processed": 1000,
                     "memory_remaining": 500, "memory_total": 2000, "memory_constant": 3, "memory_normal": 4,
                     "memory_normal_bytes": 16384, "memory_dirty_rate": 77, "memory_page_size": 4096,
                     "memory_iteration": 2, "memory_postcopy_requests": 0, "memory_bps": 10_000_000,
                     "disk_processed": 100, "disk_total": 400, "disk_remaining": 300,
                     "compression_cache": 64, "compression_bytes": 5, "compression_pages": 6,
                     "compression_cache_misses": 7, "compression_overflow": 8, "auto_converge_throttle": 20,
                     "data_total": 2400, "data_processed": 1100, "data_remaining": 800}
    done = job_stats({"status": "completed", "downtime": 12, "expected-downtime": 99, "total-time": 5})
    assert done["downtime"] == 12
