"""Every facade method reaches the right driver operation with the right arguments and returns libvirt-python's shape.

Uses the recording driver of tests/conftest.py (`open_fake`, `recorder`): it implements every driver operation,
records (hook, kwargs) and answers from `recorder.answers`.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from virtkernel import libvirt
from virtkernel.types import (BlockInfo, BlockStats, ControlInfo, DomainInfo, DomainStatsRecord, InterfaceAddresses,
                              InterfaceStats, JobInfo, NodeInfo, SnapshotRef, VcpuInfo)

pytestmark = pytest.mark.timeout(60)

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
CURRENT = libvirt.VIR_DOMAIN_AFFECT_CURRENT

# (facade call, driver hook, canned answer, expected facade result, expected hook arguments (a subset))
DOMAIN_CASES: list[tuple[str, Callable[[Any], Any], str, Any, Any, dict[str, Any]]] = [
    ("info", lambda d: d.info(), "domain_get_info", DomainInfo(1, 2, 3, 4, 5), [1, 2, 3, 4, 5], {}),
    ("state", lambda d: d.state(0), "domain_get_state", (3, 1), [3, 1], {"flags": 0}),
    ("controlInfo", lambda d: d.controlInfo(), "domain_get_control_info", ControlInfo(0, 0, 7), [0, 0, 7], {}),
    ("OSType", lambda d: d.OSType(), "domain_get_os_type", "hvm", "hvm", {}),
    ("isActive", lambda d: d.isActive(), "domain_is_active", True, 1, {}),
    ("isPersistent", lambda d: d.isPersistent(), "domain_is_persistent", False, 0, {}),
    ("isUpdated", lambda d: d.isUpdated(), "domain_is_updated", False, 0, {}),
    ("autostart", lambda d: d.autostart(), "domain_get_autostart", True, 1, {}),
    ("setAutostart", lambda d: d.setAutostart(1), "domain_set_autostart", 0, 0, {"autostart": True}),
    ("XMLDesc", lambda d: d.XMLDesc(2), "domain_get_xml_desc", "<domain/>", "<domain/>", {"flags": 2}),
    ("create", lambda d: d.create(), "domain_create", 0, 0, {"flags": 0}),
    ("createWithFlags", lambda d: d.createWithFlags(4), "domain_create", 0, 0, {"flags": 4}),
    ("destroy", lambda d: d.destroy(), "domain_destroy", 0, 0, {"flags": 0}),
    ("destroyFlags", lambda d: d.destroyFlags(1), "domain_destroy", 0, 0, {"flags": 1}),
    ("shutdown", lambda d: d.shutdown(), "domain_shutdown", 0, 0, {"flags": 0}),
    ("shutdownFlags", lambda d: d.shutdownFlags(2), "domain_shutdown", 0, 0, {"flags": 2}),
    ("reboot", lambda d: d.reboot(0), "domain_reboot", 0, 0, {"flags": 0}),
    ("reset", lambda d: d.reset(0), "domain_reset", 0, 0, {"flags": 0}),
    ("suspend", lambda d: d.suspend(), "domain_suspend", 0, 0, {}),
    ("resume", lambda d: d.resume(), "domain_resume", 0, 0, {}),
    ("undefine", lambda d: d.undefine(), "domain_undefine", 0, 0, {"flags": 0}),
    ("undefineFlags", lambda d: d.undefineFlags(1), "domain_undefine", 0, 0, {"flags": 1}),
    ("rename", lambda d: d.rename("other", 0), "domain_rename", 0, 0, {"new_name": "other"}),
    ("save", lambda d: d.save("/tmp/x.img"), "domain_save", 0, 0, {"to": "/tmp/x.img", "flags": 0}),
    ("saveFlags", lambda d: d.saveFlags("/tmp/x.img", None, 2), "domain_save", 0, 0, {"flags": 2}),
    ("managedSave", lambda d: d.managedSave(0), "domain_managed_save", 0, 0, {"flags": 0}),
    ("hasManagedSaveImage", lambda d: d.hasManagedSaveImage(0), "domain_has_managed_save_image", True, 1, {}),
    ("managedSaveRemove", lambda d: d.managedSaveRemove(0), "domain_managed_save_remove", 0, 0, {}),
    ("coreDump", lambda d: d.coreDump("/tmp/core", 0), "domain_core_dump", 0, 0, {"to": "/tmp/core"}),
    ("coreDumpWithFormat", lambda d: d.coreDumpWithFormat("/tmp/core", 1, 0), "domain_core_dump", 0, 0,
     {"dumpformat": 1}),
    ("maxMemory", lambda d: d.maxMemory(), "domain_get_max_memory", 2048, 2048, {}),
    ("setMemory", lambda d: d.setMemory(1024), "domain_set_memory", 0, 0, {"memory": 1024, "flags": LIVE}),
    ("setMemoryFlags", lambda d: d.setMemoryFlags(1024, CONFIG), "domain_set_memory", 0, 0, {"flags": CONFIG}),
    ("setMaxMemory", lambda d: d.setMaxMemory(4096), "domain_set_max_memory", 0, 0, {"memory": 4096}),
    ("memoryStats", lambda d: d.memoryStats(), "domain_memory_stats", {6: 10, 4: 20}, {"actual": 10, "unused": 20},
     {}),
    ("maxVcpus", lambda d: d.maxVcpus(), "domain_get_max_vcpus", 8, 8, {}),
    ("vcpusFlags", lambda d: d.vcpusFlags(CONFIG), "domain_get_vcpus_flags", 2, 2, {"flags": CONFIG}),
    ("setVcpus", lambda d: d.setVcpus(2), "domain_set_vcpus", 0, 0, {"nvcpus": 2, "flags": LIVE}),
    ("setVcpusFlags", lambda d: d.setVcpusFlags(2, CONFIG), "domain_set_vcpus", 0, 0, {"flags": CONFIG}),
    ("vcpus", lambda d: d.vcpus(), "domain_get_vcpus", ([VcpuInfo(0, 1, 9, 3)], [(True, False)]),
     ([(0, 1, 9, 3)], [(True, False)]), {}),
    ("pinVcpu", lambda d: d.pinVcpu(1, [True, False]), "domain_pin_vcpu", 0, 0,
     {"vcpu": 1, "cpumap": (True, False), "flags": CURRENT}),
    ("pinVcpuFlags", lambda d: d.pinVcpuFlags(1, [1, 0], CONFIG), "domain_pin_vcpu", 0, 0,
     {"cpumap": (True, False), "flags": CONFIG}),
    ("vcpuPinInfo", lambda d: d.vcpuPinInfo(0), "domain_get_vcpu_pin_info", [(True, False)], [(True, False)], {}),
    ("pinEmulator", lambda d: d.pinEmulator([0, 1], 0), "domain_pin_emulator", 0, 0, {"cpumap": (False, True)}),
    ("emulatorPinInfo", lambda d: d.emulatorPinInfo(0), "domain_get_emulator_pin_info", (True, False),
     (True, False), {}),
    ("ioThreadInfo", lambda d: d.ioThreadInfo(0), "domain_get_io_thread_info", [(1, (True, False))],
     [(1, [True, False])], {}),
    ("schedulerType", lambda d: d.schedulerType(), "domain_get_scheduler_type", ("credit", 2), ["credit", 2], {}),
    ("blockStats", lambda d: d.blockStats("vda"), "domain_block_stats", BlockStats(1, 2, 3, 4, 5), (1, 2, 3, 4, 5),
     {"disk": "vda"}),
    ("interfaceStats", lambda d: d.interfaceStats("eth0"), "domain_interface_stats", InterfaceStats(*range(8)),
     tuple(range(8)), {"device": "eth0"}),
    ("blockInfo", lambda d: d.blockInfo("vda", 0), "domain_get_block_info", BlockInfo(1, 2, 3), [1, 2, 3],
     {"disk": "vda"}),
    ("jobInfo", lambda d: d.jobInfo(), "domain_get_job_info", JobInfo(*range(12)), list(range(12)), {}),
    ("jobStats", lambda d: d.jobStats(0), "domain_get_job_stats", (2, {"time_elapsed": 5}),
     {"type": 2, "time_elapsed": 5}, {}),
    ("abortJob", lambda d: d.abortJob(), "domain_abort_job", 0, 0, {"flags": 0}),
    ("getTime", lambda d: d.getTime(), "domain_get_time", (5, 6), {"seconds": 5, "nseconds": 6}, {}),
    ("setTime", lambda d: d.setTime({"seconds": 5}), "domain_set_time", 0, 0, {"seconds": 5, "nseconds": 0}),
    ("hostname", lambda d: d.hostname(), "domain_get_hostname", "guest", "guest", {}),
    ("fsFreeze", lambda d: d.fsFreeze(["/"]), "domain_fs_freeze", 1, 1, {"mountpoints": ["/"]}),
    ("fsThaw", lambda d: d.fsThaw(), "domain_fs_thaw", 2, 2, {"mountpoints": None}),
    ("fsInfo", lambda d: d.fsInfo(), "domain_get_fs_info", [("/", "sda1", "ext4", ("vda",))],
     [("/", "sda1", "ext4", ["vda"])], {}),
    ("interfaceAddresses", lambda d: d.interfaceAddresses(0), "domain_interface_addresses",
     [InterfaceAddresses("eth0", "aa:bb", [(0, "192.0.2.1", 24)])],
     {"eth0": {"hwaddr": "aa:bb", "addrs": [{"type": 0, "addr": "192.0.2.1", "prefix": 24}]}}, {"source": 0}),
    ("securityLabel", lambda d: d.securityLabel(), "domain_get_security_label", ("label", True), ["label", True],
     {}),
    ("securityLabelList", lambda d: d.securityLabelList(), "domain_get_security_label_list", [("label", False)],
     [["label", False]], {}),
    ("metadata", lambda d: d.metadata(0, None, 0), "domain_get_metadata", "title", "title", {"type": 0}),
    ("setMetadata", lambda d: d.setMetadata(1, "t", None, None, 0), "domain_set_metadata", 0, 0,
     {"type": 1, "metadata": "t"}),
    ("attachDevice", lambda d: d.attachDevice("<disk/>"), "domain_attach_device", 0, 0, {"flags": LIVE}),
    ("attachDeviceFlags", lambda d: d.attachDeviceFlags("<disk/>", CONFIG), "domain_attach_device", 0, 0,
     {"flags": CONFIG}),
    ("detachDevice", lambda d: d.detachDevice("<disk/>"), "domain_detach_device", 0, 0, {"flags": LIVE}),
    ("detachDeviceFlags", lambda d: d.detachDeviceFlags("<disk/>", 0), "domain_detach_device", 0, 0, {"flags": 0}),
    ("updateDeviceFlags", lambda d: d.updateDeviceFlags("<disk/>", 0), "domain_update_device", 0, 0, {}),
    ("detachDeviceAlias", lambda d: d.detachDeviceAlias("ua-x", 0), "domain_detach_device_alias", 0, 0,
     {"alias": "ua-x"}),
    ("sendKey", lambda d: d.sendKey(0, 10, [30, 31, 32], 2, 0), "domain_send_key", 0, 0,
     {"keycodes": [30, 31]}),
    ("injectNMI", lambda d: d.injectNMI(0), "domain_inject_nmi", 0, 0, {}),
    ("migrateGetMaxSpeed", lambda d: d.migrateGetMaxSpeed(0), "domain_migrate_get_max_speed", 100, 100, {}),
    ("migrateSetMaxDowntime", lambda d: d.migrateSetMaxDowntime(30, 0), "domain_migrate_set_max_downtime", 0, 0,
     {"downtime": 30}),
    ("migrateGetMaxDowntime", lambda d: d.migrateGetMaxDowntime(0), "domain_migrate_get_max_downtime", 30, 30, {}),
    ("snapshotNum", lambda d: d.snapshotNum(0), "domain_list_all_snapshots",
     [SnapshotRef(None, "a"), SnapshotRef(None, "b")], 2, {}),
    ("snapshotListNames", lambda d: d.snapshotListNames(0), "domain_list_all_snapshots",
     [SnapshotRef(None, "a")], ["a"], {}),
    ("hasCurrentSnapshot", lambda d: d.hasCurrentSnapshot(0), "domain_has_current_snapshot", True, 1, {}),
]


@pytest.mark.parametrize("name, call, hook, answer, expected, arguments", DOMAIN_CASES,
                         ids=[case[0] for case in DOMAIN_CASES])
def test_domain_method(open_fake, recorder, name, call, hook, answer, expected, arguments) -> None:
    conn = libvirt.virConnect(open_fake())
    dom = conn.lookupByName("fake")
    recorder.calls.clear()
    recorder.answers["domain_get_info"] = DomainInfo(1, 4096, 4096, 1, 0)  # one vCPU, as info() reports
    recorder.answers[hook] = answer
    assert call(dom) == expected
    seen = [kwargs for called, kwargs in recorder.calls if called == hook]
    assert seen, f"{name} did not call {hook} (calls: {recorder.hooks()})"
    assert {key: seen[-1][key] for key in arguments} == arguments


def test_connection_methods(open_fake, recorder) -> None:
    conn = libvirt.virConnect(open_fake())
    recorder.answers.update({
        "node_get_info": NodeInfo("x86_64", 8 * 1024 * 1024, 8, 3000, 1, 1, 4, 2),
        "connect_get_hostname": "host", "connect_get_capabilities": "<capabilities/>",
        "connect_get_max_vcpus": 255, "node_get_free_memory": 4096, "connect_get_sysinfo": "<sysinfo/>",
        "connect_list_domains": [7], "connect_list_defined_domains": ["off"], "connect_num_of_domains": 1,
        "connect_num_of_defined_domains": 1, "domain_save_image_get_xml_desc": "<domain/>",
        "node_get_cells_free_memory": [1, 2],
    })
    assert conn.getInfo() == ["x86_64", 8192, 8, 3000, 1, 1, 4, 2]
    assert (conn.getType(), conn.getVersion(), conn.getHostname()) == ("FAKE", 1_002_003, "host")
    assert (conn.getCapabilities(), conn.getMaxVcpus(None), conn.getFreeMemory()) == ("<capabilities/>", 255, 4096)
    assert conn.getSysinfo(0) == "<sysinfo/>"
    assert (conn.listDomainsID(), conn.listDefinedDomains()) == ([7], ["off"])
    assert (conn.numOfDomains(), conn.numOfDefinedDomains()) == (1, 1)
    assert conn.getCellsFreeMemory(0, 2) == [1, 2]
    for call, hook in ((lambda: conn.defineXML("<domain/>"), "domain_define_xml"),
                       (lambda: conn.defineXMLFlags("<domain/>", 1), "domain_define_xml"),
                       (lambda: conn.createXML("<domain/>", 0), "domain_create_xml"),
                       (lambda: conn.createLinux("<domain/>", 0), "domain_create_xml"),
                       (lambda: conn.lookupByID(7), "domain_lookup_by_id"),
                       (lambda: conn.lookupByUUIDString("0b5e5a2b-6a2d-4d8e-9c71-9a1f1d1a2b3c"),
                        "domain_lookup_by_uuid")):
        recorder.calls.clear()
        result = call()
        assert isinstance(result, libvirt.virDomain) and result.name() == "fake"
        assert recorder.hooks()[-1] == hook
    assert conn.restore("/tmp/x.img") == 0 and recorder.calls[-1][1]["frm"] == "/tmp/x.img"
    assert conn.restoreFlags("/tmp/x.img", None, 2) == 0 and recorder.calls[-1][1]["flags"] == 2
    assert conn.saveImageGetXMLDesc("/tmp/x.img", 0) == "<domain/>"
    fake = conn.lookupByName("fake")
    recorder.answers["connect_get_all_domain_stats"] = [DomainStatsRecord(fake._o.ref, {"state.state": 1})]
    [(dom, stats)] = conn.getAllDomainStats(1, 0)
    assert dom.name() == "fake" and stats == {"state.state": 1}
    assert recorder.calls[-1][1] == {"doms": None, "stats": 1, "flags": 0}
    [(dom, stats)] = conn.domainListGetStats([fake], 1, 0)
    assert recorder.calls[-1][1]["doms"] == [fake._o.ref]
