"""Statistics and tuning on one running guest: vCPUs, pinning, balloon, block devices, cgroup tunables, bulk stats."""

from __future__ import annotations

import os
import subprocess

import pytest

import virtkernel
from virtkernel.enums import DomainMemoryStatTags as Mem, DomainModificationImpact as Impact, DomainState, ErrorCode
from virtkernel.cgroup import DomainCgroup


pytestmark = pytest.mark.timeout(60)

NCPUS = os.cpu_count() or 1
DATA_DISK = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{path}'/>"
             "<target dev='vdb' bus='virtio'/></disk>")


@pytest.fixture(scope="module")
def dom(host, conn):
    """A persistent running guest with two vCPUs and a qcow2 data disk."""
    data = host.images / "data.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(data), "16M"], check=True, timeout=30)
    xml = host.xml("stats1", extra_devices=DATA_DISK.format(path=data)).replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")
    domain = conn.define_xml(xml)
    domain.create()
    host.wait_passes("stats1", 1)
    yield domain
    if domain.is_active():
        domain.destroy()


def test_vcpu_info_threads_and_times(dom):
    infos, maps = dom.get_vcpus()
    assert [i.number for i in infos] == [0, 1]
    assert infos[0].cpu_time > 0 and all(0 <= i.cpu < NCPUS for i in infos)
    assert all(len(m) == NCPUS for m in maps)
    assert dom.get_vcpus_flags() == 2 and dom.get_max_vcpus() == 2
    total = dom.get_cpu_stats(total=True)[0]
    assert total["cpu_time"] >= total["vcpu_time"] > 0


def test_vcpu_pinning_live_acts_on_the_thread_and_config_goes_to_the_xml(conn, dom):
    guest = conn.driver.driver.host.guests["stats1"]
    from virtkernel_qemu.tuning import vcpu_threads
    thread = vcpu_threads(guest)[1]
    only_first = tuple(i == 0 for i in range(NCPUS))
    dom.pin_vcpu(1, only_first, Impact.LIVE | Impact.CONFIG)
    assert os.sched_getaffinity(thread) == {0}
    assert dom.get_vcpu_pin_info(Impact.LIVE)[1] == only_first
    assert dom.get_vcpu_pin_info(Impact.CONFIG)[1] == only_first
    assert "<vcpupin vcpu=\"1\" cpuset=\"0\"/>" in dom.get_xml_desc(virtkernel.DomainXMLFlags.INACTIVE)
    with pytest.raises(virtkernel.VirtError) as info:
        dom.pin_vcpu(5, only_first)
    assert "out of range" in info.value.message
    dom.pin_emulator(only_first, Impact.LIVE)
    assert os.sched_getaffinity(guest.process.pid) == {0}
    assert dom.get_emulator_pin_info(Impact.LIVE) == only_first
    everything = tuple([True] * NCPUS)
    dom.pin_vcpu(1, everything, Impact.LIVE | Impact.CONFIG)
    dom.pin_emulator(everything, Impact.LIVE)
    assert os.sched_getaffinity(thread) == set(range(NCPUS))
    assert "vcpupin" not in dom.get_xml_desc(virtkernel.DomainXMLFlags.INACTIVE)


def test_balloon_and_memory_stats(dom):
    stats = dom.memory_stats()
    assert stats[Mem.ACTUAL_BALLOON] == 128 * 1024 and stats[Mem.RSS] > 0
    dom.set_memory(96 * 1024)  # the tiny guest has no balloon driver: QEMU takes the target, the XML records it
    assert "<currentMemory unit=\"KiB\">98304</currentMemory>" in dom.get_xml_desc()
    with pytest.raises(virtkernel.VirtError) as info:
        dom.set_memory(256 * 1024)
    assert "higher than max memory" in info.value.message
    dom.set_memory(128 * 1024, Impact.CONFIG)
    assert dom.get_info().max_mem == 128 * 1024


def test_block_stats_info_and_online_resize(host, dom):
    stats = dom.block_stats("hda")
    assert stats.rd_req > 0 and stats.rd_bytes >= 512  # the BIOS read the boot sector
    info = dom.get_block_info("vdb")
    assert info.capacity == 16 << 20 and info.physical > 0
    dom.block_resize("vdb", 32 * 1024)
    assert dom.get_block_info("vdb").capacity == 32 << 20
    with pytest.raises(virtkernel.VirtError) as info:
        dom.block_stats("vdz")
    assert "has no disk 'vdz'" in info.value.message


def test_cgroup_tunables_create_the_group_on_first_use_and_it_goes_with_the_domain(conn, dom):
    driver = conn.driver.driver
    guest = driver.host.guests["stats1"]
    assert guest.cgroup is None
    dom.set_scheduler_parameters({"cpu_shares": 512, "vcpu_quota": 50000}, Impact.LIVE | Impact.CONFIG)
    assert guest.cgroup is not None and guest.process.pid in guest.cgroup.pids()
    params = dom.get_scheduler_parameters(Impact.LIVE)
    assert params["cpu_shares"] == 512 and params["vcpu_quota"] == 50000
    assert dom.get_scheduler_parameters(Impact.CONFIG)["cpu_shares"] == 512
    assert dom.get_scheduler_type()[0] == "posix"
    per_cpu = dom.get_cpu_stats(start_cpu=0, ncpus=NCPUS)
    assert len(per_cpu) == NCPUS and all("cpu_time" in p for p in per_cpu)
    dom.set_memory_parameters({"hard_limit": 512 * 1024}, Impact.LIVE)
    assert dom.get_memory_parameters(Impact.LIVE)["hard_limit"] == 512 * 1024
    try:
        dom.set_blkio_parameters({"weight": 300}, Impact.LIVE)
        assert dom.get_blkio_parameters(Impact.LIVE)["weight"] == 300
    except virtkernel.VirtError as exc:  # a blkio hierarchy without a weight file (no CFQ/BFQ): said clearly
        assert "weight" in exc.message
    with pytest.raises(virtkernel.VirtError) as info:
        dom.set_scheduler_parameters({"emulator_period": 1000})
    assert info.value.code == ErrorCode.ARGUMENT_UNSUPPORTED
    dom.destroy()
    assert guest.cgroup is None
    assert DomainCgroup.find(driver.host.paths.cgroup_driver, "stats1") is None
    dom.create()  # the persistent <cputune> comes back with the next start
    assert guest.cgroup is not None and dom.get_scheduler_parameters(Impact.LIVE)["cpu_shares"] == 512


def test_interface_stats_refuse_user_networking_clearly(host, conn):
    dom = conn.create_xml(host.xml("net1", extra_devices="<interface type='user'><mac address='52:54:00:aa:bb:cc'/>"
                                                         "<model type='virtio'/></interface>"))
    with pytest.raises(virtkernel.VirtError) as info:
        dom.interface_stats("52:54:00:aa:bb:cc")
    assert "user-mode networking" in info.value.message
    with pytest.raises(virtkernel.VirtError) as info:
        dom.interface_stats("52:54:00:00:00:01")
    assert "has no interface" in info.value.message
    dom.destroy()


def test_all_domain_stats_use_libvirts_keys(host, conn, dom):
    host.wait_passes("stats1", 1)  # the BIOS has read the boot disk
    records = dict((d.name, params) for d, params in conn.get_all_domain_stats())
    params = records["stats1"]
    assert params["state.state"] == DomainState.RUNNING
    assert params["cpu.time"] > 0 and params["balloon.maximum"] == 128 * 1024
    assert params["vcpu.current"] == 2 and params["vcpu.1.time"] >= 0
    assert params["block.count"] == 2 and params["block.0.name"] == "hda" and params["block.1.name"] == "vdb"
    assert params["block.0.rd.reqs"] > 0 and params["block.1.capacity"] > 0
    assert params["net.count"] == 0
    only_state = dict((d.name, p) for d, p in conn.get_all_domain_stats(virtkernel.DomainStatsTypes.STATE))
    assert set(only_state["stats1"]) == {"state.state", "state.reason"}


def test_memory_peek_disk_errors_and_nmi(dom):
    from virtkernel_qemu import testguest
    boot = dom.memory_peek(0x7C00, 512, virtkernel.DomainMemoryFlags.PHYSICAL)
    sector = testguest.boot_sector()
    # where the BIOS loaded it (the CPU sets the "accessed" bit of the GDT descriptors it loaded: compare the code)
    assert boot[:64] == sector[:64] and boot[510:] == b"\x55\xaa"
    with pytest.raises(virtkernel.VirtError):
        dom.memory_peek(0, 16, 0)
    assert dom.get_disk_errors() == {}
    dom.inject_nmi()
    assert dom.get_state()[0] == DomainState.RUNNING


def test_vcpus_plug_in_live_and_unplugging_says_clearly_why_it_cannot(host, conn, monkeypatch):
    from virtkernel_qemu import hotplug
    xml = host.xml("cpus1").replace("<vcpu>1</vcpu>", "<vcpu current='1'>3</vcpu>")
    domain = conn.create_xml(xml)
    try:
        domain.set_vcpus(3, Impact.LIVE)
        assert domain.get_vcpus_flags(Impact.LIVE) == 3 and len(domain.get_vcpus()[0]) == 3
        monkeypatch.setattr(hotplug, "DETACH_TIMEOUT", 0.3)
        with pytest.raises(virtkernel.VirtError) as info:
            domain.set_vcpus(2, Impact.LIVE)  # the pc machine's legacy CPU hotplug cannot unplug
        assert "cannot unplug vCPU 'vcpu2' of domain 'cpus1'" in info.value.message
        assert domain.get_vcpus_flags(Impact.LIVE) == 3
        with pytest.raises(virtkernel.VirtError):
            domain.set_vcpus(4, Impact.LIVE)
    finally:
        domain.destroy()


def test_interface_stats_of_a_tap_come_from_the_host_device(host, conn, netns_tools):
    # QEMU creates the tap (no address, not linked anywhere) for the guest's lifetime only
    tap = f"vkqt{os.getpid() % 100000}"
    nic = f"<interface type='ethernet'><target dev='{tap}'/><mac address='52:54:00:12:34:56'/></interface>"
    domain = conn.create_xml(host.xml("tap1", extra_devices=nic))
    try:
        assert os.path.isdir(f"/sys/class/net/{tap}")
        for name in (tap, "52:54:00:12:34:56"):
            counters = domain.interface_stats(name)
            assert counters.rx_bytes >= 0 and counters.tx_errs == 0
        with open(f"/sys/class/net/{tap}/statistics/tx_bytes") as f:
            assert domain.interface_stats(tap).rx_bytes == int(f.read())  # host transmit = guest receive
        params = dict((d.name, p) for d, p in conn.get_all_domain_stats(virtkernel.DomainStatsTypes.INTERFACE))
        assert params["tap1"]["net.count"] == 1 and params["tap1"]["net.0.name"] == tap
        assert "net.0.rx.bytes" in params["tap1"]
    finally:
        domain.destroy()
    assert not os.path.exists(f"/sys/class/net/{tap}")
