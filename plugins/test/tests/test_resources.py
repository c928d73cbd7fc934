"""Memory, vCPUs, pinning, tuning parameters and metadata with libvirt's live/config/current semantics."""

from __future__ import annotations

import pytest
from lxml import etree

import virtkernel
from virtkernel.enums import (DomainMemoryModFlags as Mem, DomainMetadataType as Meta,
                              DomainModificationImpact as Impact, DomainVcpuFlags as Vcpu, DomainXMLFlags, ErrorCode)

LIVE, CONFIG, CURRENT = Impact.LIVE, Impact.CONFIG, Impact.CURRENT
ALL8 = (True,) * 8
FIRST = (True,) + (False,) * 7


def code_of(call, *args):
    with pytest.raises(virtkernel.VirtError) as failure:
        call(*args)
    return failure.value.code


def test_memory_live_config_current(conn):
    dom = conn.lookup_by_name("test")
    dom.set_memory(1048576, LIVE)
    assert dom.get_info()[2] == 1048576
    dom.set_memory(524288, CONFIG)
    assert dom.get_info()[2] == 1048576
    assert "<currentMemory unit='KiB'>524288</currentMemory>" in dom.get_xml_desc(DomainXMLFlags.INACTIVE)
    assert "<currentMemory unit='KiB'>1048576</currentMemory>" in dom.get_xml_desc()
    dom.set_memory(786432, CURRENT)
    assert dom.get_info()[2] == 786432
    assert code_of(dom.set_memory, 1024, LIVE | CONFIG) == ErrorCode.INVALID_ARG
    assert code_of(dom.set_memory, 8388609) == ErrorCode.INVALID_ARG
    assert code_of(dom.set_memory, 0) == ErrorCode.INVALID_ARG


def test_max_memory(conn, make_xml):
    dom = conn.lookup_by_name("test")
    assert code_of(dom.set_max_memory, 4194304) == ErrorCode.OPERATION_INVALID
    dom.set_memory(4194304, Mem.MAXIMUM | CONFIG)
    assert dom.get_max_memory() == 8388608
    assert "<memory unit='KiB'>4194304</memory>" in dom.get_xml_desc(DomainXMLFlags.INACTIVE)
    fresh = conn.define_xml(make_xml(memory=524288))
    assert code_of(fresh.set_memory, 100, LIVE) == ErrorCode.OPERATION_INVALID
    fresh.set_memory(393216, CONFIG)
    fresh.set_max_memory(262144)
    assert fresh.get_info()[1:3] == (262144, 262144)


def test_vcpus(conn, make_xml):
    dom = conn.lookup_by_name("test")
    assert dom.get_vcpus_flags(Vcpu.MAXIMUM) == 2
    dom.set_vcpus(1)
    assert (dom.get_vcpus_flags(LIVE), dom.get_vcpus_flags(CONFIG), dom.get_info()[3]) == (1, 2, 1)
    assert code_of(dom.set_vcpus, 3) == ErrorCode.INVALID_ARG
    dom.set_vcpus(4, Vcpu.MAXIMUM | CONFIG)
    assert dom.get_vcpus_flags(Vcpu.MAXIMUM | CONFIG) == 4
    assert "<vcpu placement='static' current='2'>4</vcpu>" in dom.get_xml_desc(DomainXMLFlags.INACTIVE)
    assert code_of(dom.set_vcpus, 1, Vcpu.GUEST) == ErrorCode.INVALID_ARG
    fresh = conn.define_xml(make_xml(vcpus=4))
    assert code_of(fresh.get_vcpus_flags, LIVE) == ErrorCode.OPERATION_INVALID
    assert code_of(fresh.get_vcpus) == ErrorCode.OPERATION_INVALID
    fresh.set_vcpus(3, CONFIG)
    assert fresh.get_vcpus_flags() == 3


def test_vcpu_pinning_like_virsh_vcpupin(conn):
    dom = conn.lookup_by_name("test")
    assert dom.get_vcpu_pin_info() == [ALL8, ALL8]
    dom.pin_vcpu(0, FIRST, 0)
    infos, maps = dom.get_vcpus()
    assert [i.cpu for i in infos] == [0, 15] and maps == [FIRST, ALL8]
    assert dom.get_vcpu_pin_info(CONFIG) == [ALL8, ALL8]
    assert code_of(dom.pin_vcpu, 1, FIRST, CONFIG) == ErrorCode.INVALID_ARG
    assert code_of(dom.pin_vcpu, 5, FIRST, 0) == ErrorCode.INVALID_ARG
    dom.pin_vcpu(1, (False, True, True), 0)
    assert dom.get_vcpu_pin_info(LIVE)[1] == (False, True, True) + (False,) * 5


def test_emulator_pinning(conn):
    dom = conn.lookup_by_name("test")
    assert dom.get_emulator_pin_info() == ALL8
    dom.pin_emulator((False, True, True), 0)
    assert dom.get_emulator_pin_info() == (False, True, True) + (False,) * 5
    assert code_of(dom.pin_emulator, (False,) * 8, 0) == ErrorCode.INVALID_ARG
    dom.pin_emulator(FIRST, CONFIG)
    assert dom.get_emulator_pin_info(CONFIG) == FIRST
    assert dom.get_emulator_pin_info(LIVE) == (False, True, True) + (False,) * 5


def test_scheduler_blkio_memory_numa_interface_parameters(conn):
    dom = conn.lookup_by_name("test")
    assert dom.get_scheduler_type() == ("fair", 1)
    dom.set_scheduler_parameters({"weight": 100})
    # libvirt's test driver reports a fixed weight, and only to the legacy getter (flags 0): the flagged one
    # carries VIR_TYPED_PARAM_STRING_OKAY, which it refuses
    assert dom.get_scheduler_parameters_legacy() == {"weight": 50}
    assert code_of(dom.get_scheduler_parameters) == ErrorCode.INVALID_ARG
    dom.set_blkio_parameters({"weight": 500})
    assert dom.get_blkio_parameters()["weight"] == 500 and dom.get_blkio_parameters(CONFIG)["weight"] == 0
    dom.set_memory_parameters({"hard_limit": 4194304, "soft_limit": 2097152})
    assert dom.get_memory_parameters() == {"hard_limit": 4194304, "soft_limit": 2097152,
                                           "swap_hard_limit": 9007199254740991}
    assert code_of(dom.set_memory_parameters, {"hard_limit": 10, "swap_hard_limit": 5}) == ErrorCode.INVALID_ARG
    dom.set_numa_parameters({"numa_nodeset": "0", "numa_mode": 1})
    assert dom.get_numa_parameters() == {"numa_mode": 1, "numa_nodeset": "0"}
    assert dom.get_numa_parameters(CONFIG) == {"numa_mode": 0, "numa_nodeset": ""}
    assert code_of(dom.set_numa_parameters, {"numa_mode": 99}) == ErrorCode.INVALID_ARG
    dom.set_interface_parameters("testnet0", {"inbound.average": 1000, "outbound.peak": 2000})
    params = dom.get_interface_parameters("aa:bb:cc:dd:ee:ff")
    assert params["inbound.average"] == 1000 and params["outbound.peak"] == 0
    assert code_of(dom.get_interface_parameters, "nosuch0") == ErrorCode.INVALID_ARG
    assert code_of(dom.get_blkio_parameters, LIVE | CONFIG) == ErrorCode.INVALID_ARG


def test_tunables_of_a_stopped_domain_are_its_config(conn, make_xml):
    dom = conn.define_xml(make_xml())
    dom.set_blkio_parameters({"weight": 300})
    assert code_of(dom.set_blkio_parameters, {"weight": 1}, LIVE) == ErrorCode.OPERATION_INVALID
    dom.create()
    assert dom.get_blkio_parameters()["weight"] == 300


def test_metadata_title_description_and_elements(conn):
    dom = conn.lookup_by_name("test")
    assert code_of(dom.get_metadata, Meta.TITLE) == ErrorCode.NO_DOMAIN_METADATA
    dom.set_metadata(Meta.TITLE, "My title")
    dom.set_metadata(Meta.DESCRIPTION, "Longer\ndescription")
    assert dom.get_metadata(Meta.TITLE) == "My title"
    assert dom.get_metadata(Meta.DESCRIPTION) == "Longer\ndescription"
    dom.set_metadata(Meta.ELEMENT, "<info owner='ops'><tier>gold</tier></info>", "app", "http://example.org/app")
    # libvirt hands metadata elements through libxml2: double quotes, unlike the rest of the domain XML
    assert dom.get_metadata(Meta.ELEMENT, "http://example.org/app") == '<info owner="ops">\n  <tier>gold</tier>\n</info>'
    xml = dom.get_xml_desc()
    assert '<app:info xmlns:app="http://example.org/app" owner="ops">' in xml
    assert xml.index("<title>") < xml.index("<description>") < xml.index("<metadata>") < xml.index("<memory")
    assert code_of(dom.set_metadata, Meta.ELEMENT, "<broken", "app", "http://example.org/app") == ErrorCode.XML_DETAIL
    dom.set_metadata(Meta.ELEMENT, None, None, "http://example.org/app")
    assert code_of(dom.get_metadata, Meta.ELEMENT, "http://example.org/app") == ErrorCode.NO_DOMAIN_METADATA
    dom.set_metadata(Meta.TITLE, None)
    assert code_of(dom.get_metadata, Meta.TITLE) == ErrorCode.NO_DOMAIN_METADATA


def test_metadata_live_and_config_are_separate(conn):
    dom = conn.lookup_by_name("test")
    dom.set_metadata(Meta.TITLE, "live only", flags=LIVE)
    assert dom.get_metadata(Meta.TITLE, flags=LIVE) == "live only"
    assert code_of(dom.get_metadata, Meta.TITLE, None, CONFIG) == ErrorCode.NO_DOMAIN_METADATA
    dom.destroy()
    assert code_of(dom.get_metadata, Meta.TITLE) == ErrorCode.NO_DOMAIN_METADATA


def test_stale_handles_report_no_domain(conn, make_xml):
    dom = conn.define_xml(make_xml())
    dom.undefine()
    for call in (dom.get_info, dom.is_active, dom.get_xml_desc, dom.create):
        assert code_of(call) == ErrorCode.NO_DOMAIN


def test_tunables_show_in_the_xml_like_libvirt(conn):
    dom = conn.lookup_by_name("test")
    dom.set_memory_parameters({"hard_limit": 4194304})
    dom.set_blkio_parameters({"weight": 500})
    dom.pin_vcpu(0, (False, True), 0)
    dom.pin_emulator((False, False, True, True), 0)
    dom.set_numa_parameters({"numa_nodeset": "0", "numa_mode": 2})
    dom.set_interface_parameters("testnet0", {"inbound.average": 1000, "inbound.peak": 2000, "inbound.burst": 3000})
    xml = dom.get_xml_desc()
    expected = ("  <currentMemory unit='KiB'>2097152</currentMemory>\n"
                "  <blkiotune>\n    <weight>500</weight>\n  </blkiotune>\n"
                "  <memtune>\n    <hard_limit unit='KiB'>4194304</hard_limit>\n  </memtune>\n"
                "  <vcpu placement='static'>2</vcpu>\n"
                "  <cputune>\n    <vcpupin vcpu='0' cpuset='1'/>\n    <emulatorpin cpuset='2-3'/>\n  </cputune>\n"
                "  <numatune>\n    <memory mode='interleave' nodeset='0'/>\n  </numatune>\n")
    assert expected in xml
    assert ("<source network='default'/>\n      <bandwidth>\n        <inbound average='1000' peak='2000' "
            "burst='3000'/>\n      </bandwidth>\n      <target dev='testnet0'/>") in xml
    assert "memtune" not in dom.get_xml_desc(DomainXMLFlags.INACTIVE)


def test_tunables_are_read_from_a_definition(conn, make_xml):
    dom = conn.define_xml(make_xml(vcpus=2, extra=(
        "<memtune><soft_limit unit='MiB'>1024</soft_limit></memtune><blkiotune><weight>700</weight></blkiotune>"
        "<cputune><vcpupin vcpu='1' cpuset='2-3'/></cputune><numatune><memory mode='preferred' nodeset='0'/>"
        "</numatune>")))
    assert dom.get_memory_parameters()["soft_limit"] == 1048576
    assert dom.get_blkio_parameters()["weight"] == 700
    assert dom.get_numa_parameters() == {"numa_mode": 1, "numa_nodeset": "0"}
    assert dom.get_vcpu_pin_info()[1] == (False, False, True, True, False, False, False, False)
    dom.create()
    assert dom.get_blkio_parameters()["weight"] == 700
    dom.set_blkio_parameters({"weight": 100}, CONFIG)
    assert "<weight>100</weight>" in dom.get_xml_desc(DomainXMLFlags.INACTIVE)
    assert "<weight>700</weight>" in dom.get_xml_desc()


def test_per_device_blkio_settings_merge_like_libvirt(conn):
    dom = conn.lookup_by_name("test")
    dom.set_blkio_parameters({"device_weight": "/dev/sda,100,/dev/sdb,200"})
    dom.set_blkio_parameters({"device_read_iops_sec": "/dev/sdb,5,/dev/sdc,7"})
    dom.set_blkio_parameters({"device_weight": "/dev/sda,0"})  # all of sda's values are 0 now: it goes
    params = dom.get_blkio_parameters()
    assert (params["device_weight"], params["device_read_iops_sec"], params["device_write_bytes_sec"]) == \
        ("/dev/sdb,200", "/dev/sdb,5,/dev/sdc,7", "")
    assert dom.get_blkio_parameters(CONFIG)["device_weight"] == ""
    blkio = etree.fromstring(dom.get_xml_desc()).find("blkiotune")
    assert [(d.findtext("path"), d.findtext("weight"), d.findtext("read_iops_sec")) for d in blkio] == \
        [("/dev/sdb", "200", "5"), ("/dev/sdc", None, "7")]
    assert code_of(dom.set_blkio_parameters, {"device_weight": "/dev/sda"}) == ErrorCode.INVALID_ARG
    assert code_of(dom.set_blkio_parameters, {"device_weight": "/dev/sda,x"}) == ErrorCode.INVALID_ARG


def test_pin_info_covers_every_vcpu_up_to_the_maximum_and_vcpu_times_follow_the_clock(conn):
    import time
    dom = conn.lookup_by_name("test")
    dom.set_vcpus(1)
    assert len(dom.get_vcpu_pin_info()) == 2  # the offline vCPU too, as virsh vcpupin lists it
    infos, _maps = dom.get_vcpus()
    # libvirt's test driver reports a tenth of the wall clock in microseconds as each vCPU's time (in ns)
    assert len(infos) == 1 and abs(infos[0].cpu_time - time.time_ns() // 10_000) < 10 ** 9
