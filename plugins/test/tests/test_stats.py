"""Statistics, all-domain stats, guest-agent style queries."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel.enums import (ConnectGetAllDomainStatsFlags as StatsFlags, DomainMemoryStatTags as Tag,
                              DomainStatsTypes, ErrorCode)


def code_of(call, *args):
    with pytest.raises(virtkernel.VirtError) as failure:
        call(*args)
    return failure.value.code


def test_block_and_interface_stats(conn):
    dom = conn.lookup_by_name("test")
    first = dom.block_stats("vda")
    assert len(first) == 5 and len(dom.block_stats("/guest/diskimage1")) == 5
    assert all(isinstance(v, int) and v >= 0 for v in first)
    assert dom.block_stats("vda").rd_req >= first.rd_req
    assert code_of(dom.block_stats, "vdz") == ErrorCode.INVALID_ARG
    assert code_of(dom.block_stats, "") == ErrorCode.OPERATION_UNSUPPORTED
    nic = dom.interface_stats("testnet0")
    assert len(nic) == 8 and dom.interface_stats("AA:BB:CC:DD:EE:FF")
    assert code_of(dom.interface_stats, "nosuch0") == ErrorCode.INVALID_ARG
    assert tuple(dom.get_block_info("vda")) == (1099506450432, 1099511627776, 1099511627776)
    assert code_of(dom.get_block_info, "vdz") == ErrorCode.INVALID_ARG
    dom.destroy()
    assert code_of(dom.block_stats, "vda") == ErrorCode.OPERATION_INVALID
    assert code_of(dom.interface_stats, "testnet0") == ErrorCode.OPERATION_INVALID
    assert dom.get_block_info("vda")[0] == 1099506450432


def test_memory_and_cpu_stats(conn):
    dom = conn.lookup_by_name("test")
    stats = dom.memory_stats()
    assert stats[Tag.ACTUAL_BALLOON] == 2097152 and stats[Tag.RSS] == 1048576 and stats[Tag.DISK_CACHES] == 262144
    dom.set_memory(1048576)
    assert dom.memory_stats()[Tag.ACTUAL_BALLOON] == 1048576
    total = dom.get_cpu_stats(total=True)
    assert len(total) == 1 and set(total[0]) == {"cpu_time", "user_time", "system_time"}
    per_cpu = dom.get_cpu_stats()
    assert len(per_cpu) == 2 and all(set(p) == {"cpu_time", "vcpu_time"} for p in per_cpu)
    dom.destroy()
    assert code_of(dom.memory_stats) == ErrorCode.OPERATION_INVALID
    assert code_of(dom.get_cpu_stats, True) == ErrorCode.OPERATION_INVALID


def test_cpu_time_grows_while_running(conn):
    dom = conn.lookup_by_name("test")
    first = dom.get_info().cpu_time
    assert dom.get_info().cpu_time > first


def test_all_domain_stats(conn, make_xml):
    conn.define_xml(make_xml())
    conn.lookup_by_name("test").suspend()
    records = {d.name: params for d, params in conn.get_all_domain_stats()}
    assert records == {"test": {"state.state": 3, "state.reason": 1}, "fresh": {"state.state": 5, "state.reason": 0}}
    active = conn.get_all_domain_stats(DomainStatsTypes.STATE, StatsFlags.ACTIVE)
    assert [d.name for d, _ in active] == ["test"]
    assert conn.get_all_domain_stats(DomainStatsTypes.BALLOON)[0][1] == {}
    assert code_of(conn.get_all_domain_stats, DomainStatsTypes.PERF, StatsFlags.ENFORCE_STATS) == \
        ErrorCode.ARGUMENT_UNSUPPORTED
    fresh = conn.lookup_by_name("fresh")
    listed = conn.domain_list_get_stats([fresh], DomainStatsTypes.STATE, StatsFlags.RUNNING)
    assert listed == []


def test_guest_agent_queries(conn, make_xml):
    dom = conn.lookup_by_name("test")
    assert dom.get_hostname() == "testhost"
    assert dom.get_time() == (627319920, 0)
    assert dom.fs_freeze() == 2 and dom.fs_thaw() == 2
    assert dom.fs_freeze(["/"]) == 1 and dom.fs_thaw(["/", "/boot"]) == 1
    assert code_of(dom.fs_freeze, ["/nowhere"]) == ErrorCode.OPERATION_INVALID
    (nic,) = dom.interface_addresses()
    assert (nic.name, nic.hwaddr, nic.addrs) == ("testnet0", "aa:bb:cc:dd:ee:ff", [(0, "192.168.122.3", 24)])
    dom.set_time(1234567890, 0)
    dom.suspend()
    assert dom.get_hostname() == "testhost"
    assert code_of(dom.get_time) == ErrorCode.OPERATION_INVALID
    fresh = conn.define_xml(make_xml())
    for call in (fresh.get_hostname, fresh.get_time, fresh.fs_freeze, fresh.interface_addresses):
        assert code_of(call) == ErrorCode.OPERATION_INVALID


def test_identity_queries(conn):
    dom = conn.lookup_by_name("test")
    assert dom.get_security_label() == ("libvirt-test", True)
    assert tuple(dom.get_control_info()) == (0, 0, 0)
    assert not dom.get_autostart()
    assert dom.get_max_vcpus() == 2


def test_counters_and_cpu_figures_follow_libvirts_test_driver(conn, host_file):
    import os
    import time
    dom = conn.lookup_by_name("test")
    micro = time.time_ns() // 1000
    block, nic = dom.block_stats("vda"), dom.interface_stats("testnet0")
    # libvirt's formulas: fractions of the wall clock in microseconds (and in seconds for the error counts)
    assert abs(block.rd_req - micro // 10) < 10 ** 6 and abs(block.wr_bytes - micro // 40) < 10 ** 6
    assert abs(nic.rx_packets - micro // 100) < 10 ** 6 and abs(nic.tx_drop - micro // 4_000_000) <= 1
    assert abs(dom.get_info().cpu_time - time.time_ns()) < 10 ** 10
    assert dom.get_cpu_stats(total=True) == [{"cpu_time": 48772617035, "user_time": 5540000000,
                                              "system_time": 6460000000}]
    per_cpu = dom.get_cpu_stats()
    assert len(per_cpu) == os.cpu_count()
    assert per_cpu[:2] == [{"cpu_time": 24386308517, "vcpu_time": 23151740627},
                           {"cpu_time": 24386308518, "vcpu_time": 23151740628}][:len(per_cpu)]
    other = virtkernel.open(host_file("""
        <cpu><nodes>1</nodes><sockets>1</sockets><cores>3</cores><threads>1</threads></cpu>
        <domain type='test'><name>plain</name><memory>131072</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>
    """))
    try:
        plain = other.lookup_by_name("plain")
        assert len(plain.get_cpu_stats()) == 3  # one entry per CPU of the described host
        assert plain.memory_stats() == {}  # no balloon device, no memory statistics
    finally:
        other.close()
