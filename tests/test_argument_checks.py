"""The kernel's argument checks run in libvirt's order, before the driver is called, with libvirt's codes."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel import ErrorCode
from virtkernel.enums import (DomainCoreDumpFlags as Dump, DomainModificationImpact as Impact,
                              DomainSaveRestoreFlags as Save, DomainVcpuFlags as Vcpu, DomainXMLFlags)
from virtkernel.features import DriverFeature

CODE = {"invalid": ErrorCode.INVALID_ARG, "denied": ErrorCode.OPERATION_DENIED, "overflow": ErrorCode.OVERFLOW,
        "unsupported": ErrorCode.ARGUMENT_UNSUPPORTED}

# (description, call on a read-write domain/connection, expected error kind)
DOMAIN_CASES = [
    ("set_memory 0", lambda d: d.set_memory(0), "invalid"),
    ("set_memory too large", lambda d: d.set_memory(9007199254740991), "overflow"),
    ("set_max_memory 0", lambda d: d.set_max_memory(0), "invalid"),
    ("set_vcpus 0", lambda d: d.set_vcpus(0), "invalid"),
    ("set_vcpus maximum without config", lambda d: d.set_vcpus(2, Vcpu.MAXIMUM), "invalid"),
    ("set_vcpus guest with config", lambda d: d.set_vcpus(2, Vcpu.GUEST | Impact.CONFIG), "invalid"),
    ("get_vcpus_flags live+config", lambda d: d.get_vcpus_flags(Impact.LIVE | Impact.CONFIG), "invalid"),
    ("pin_vcpu empty map", lambda d: d.pin_vcpu(0, []), "invalid"),
    ("pin_vcpu no map", lambda d: d.pin_vcpu(0, None), "invalid"),
    ("save running+paused", lambda d: d.save("/tmp/x", None, Save.RUNNING | Save.PAUSED), "invalid"),
    ("save to None", lambda d: d.save(None), "invalid"),
    ("core_dump crash+live", lambda d: d.core_dump("/tmp/x", Dump.CRASH | Dump.LIVE), "invalid"),
    ("core_dump live+reset", lambda d: d.core_dump("/tmp/x", Dump.LIVE | Dump.RESET), "invalid"),
    ("core_dump bad format", lambda d: d.core_dump("/tmp/x", 0, 5), "invalid"),
    ("rename empty", lambda d: d.rename(""), "invalid"),
    ("set_lifecycle_action bad type", lambda d: d.set_lifecycle_action(3, 0), "invalid"),
    ("set_lifecycle_action bad action", lambda d: d.set_lifecycle_action(0, 6), "invalid"),
    ("memory params empty", lambda d: d.set_memory_parameters({}), "invalid"),
    ("memory params unknown name", lambda d: d.set_memory_parameters({"hard_limitt": 1}), "invalid"),
    ("memory params negative", lambda d: d.set_memory_parameters({"hard_limit": -1}), "invalid"),
    ("scheduler params wrong type", lambda d: d.set_scheduler_parameters({"cpu_shares": "many"}), "invalid"),
    ("numa params empty", lambda d: d.set_numa_parameters({}), "invalid"),
    ("send_key too many", lambda d: d.send_key(0, 0, list(range(17))), "invalid"),
    ("send_key bad codeset", lambda d: d.send_key(10, 0, [1]), "invalid"),
    ("send_process_signal pid 0", lambda d: d.send_process_signal(0, 9), "invalid"),
    ("metadata title with newline", lambda d: d.set_metadata(1, "a\nb"), "invalid"),
    ("metadata element without uri", lambda d: d.set_metadata(2, "<x/>", "k", None), "invalid"),
    ("metadata element without key", lambda d: d.set_metadata(2, "<x/>", None, "http://x"), "invalid"),
    ("get_metadata title with uri", lambda d: d.get_metadata(1, "http://x"), "invalid"),
    ("block_rebase shallow without copy", lambda d: d.block_rebase("vda", None, 0, 1), "invalid"),
    ("job stats keep without completed", lambda d: d.get_job_stats(2), "invalid"),
    ("del_io_thread 0", lambda d: d.del_io_thread(0), "invalid"),
    ("create with fds on a driver without fd passing", lambda d: d.create(0, [3]), "unsupported"),
]


@pytest.mark.parametrize("description, call, kind", DOMAIN_CASES, ids=[c[0] for c in DOMAIN_CASES])
def test_domain_argument_errors_never_reach_the_driver(open_fake, recorder, description, call, kind) -> None:
    dom = open_fake().lookup_by_name("fake")
    recorder.calls.clear()
    with pytest.raises(virtkernel.VirtError) as info:
        call(dom)
    assert info.value.code == CODE[kind], info.value
    assert [h for h in recorder.hooks() if h != "connect_supports_feature"] == []
    assert virtkernel.get_last_error() is info.value


MODIFYING = [
    lambda d: d.suspend(), lambda d: d.resume(), lambda d: d.destroy(), lambda d: d.create(),
    lambda d: d.undefine(), lambda d: d.set_memory(1024), lambda d: d.set_vcpus(1), lambda d: d.save("/tmp/x"),
    lambda d: d.set_autostart(True), lambda d: d.managed_save(), lambda d: d.get_hostname(),
    lambda d: d.get_time(), lambda d: d.migrate_get_max_speed(), lambda d: d.get_xml_desc(DomainXMLFlags.SECURE),
    lambda d: d.get_vcpus_flags(Vcpu.GUEST), lambda d: d.interface_addresses(1),
]


@pytest.mark.parametrize("call", MODIFYING)
def test_read_only_connections_refuse_with_operation_denied(open_fake, recorder, call) -> None:
    dom = open_fake(read_only=True).lookup_by_name("fake")
    recorder.calls.clear()
    with pytest.raises(virtkernel.OperationDenied) as info:
        call(dom)
    assert info.value.code == ErrorCode.OPERATION_DENIED
    assert info.value.message.startswith("read only access prevents vir")
    assert recorder.hooks() == []


def test_read_only_connections_allow_queries(open_fake, recorder) -> None:
    dom = open_fake(read_only=True).lookup_by_name("fake")
    recorder.answers["domain_get_xml_desc"] = "<domain/>"
    assert dom.get_xml_desc(DomainXMLFlags.INACTIVE) == "<domain/>"
    dom.get_info()
    assert recorder.hooks()[-1] == "domain_get_info"


@pytest.mark.parametrize("call, expected", [
    # argument checks that precede the read-only refusal (spec quirk 1)
    (lambda c, d: c.create_xml(None), ErrorCode.INVALID_ARG),
    (lambda c, d: d.attach_device(None), ErrorCode.INVALID_ARG),
    (lambda c, d: d.rename(""), ErrorCode.INVALID_ARG),
    (lambda c, d: d.send_process_signal(0, 1), ErrorCode.INVALID_ARG),
    (lambda c, d: c.save_image_get_xml_desc(None), ErrorCode.INVALID_ARG),
    # and the refusal that precedes argument checks elsewhere
    (lambda c, d: c.define_xml(None), ErrorCode.OPERATION_DENIED),
    (lambda c, d: d.set_memory(0), ErrorCode.OPERATION_DENIED),
    (lambda c, d: d.save(None), ErrorCode.OPERATION_DENIED),
])
def test_the_first_failing_check_wins(open_fake, call, expected) -> None:
    conn = open_fake(read_only=True)
    dom = conn.lookup_by_name("fake")
    with pytest.raises(virtkernel.VirtError) as info:
        call(conn, dom)
    assert info.value.code == expected


def test_managed_save_define_xml_checks_flags_before_the_handle(open_fake) -> None:
    conn = open_fake()
    dom = conn.lookup_by_name("fake")
    conn.close()
    with pytest.raises(virtkernel.VirtError) as info:
        dom.managed_save_define_xml(None, Save.RUNNING | Save.PAUSED)
    assert info.value.code == ErrorCode.INVALID_ARG
    with pytest.raises(virtkernel.VirtError) as info:
        dom.managed_save_define_xml(None, 0)
    assert info.value.code == ErrorCode.INVALID_DOMAIN


def test_paths_are_made_absolute_before_the_driver_sees_them(open_fake, recorder, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    conn = open_fake()
    dom = conn.lookup_by_name("fake")
    dom.save("image.sav")
    conn.restore("image.sav")
    dom.core_dump("core")
    seen = {name: kw for name, kw in recorder.calls}
    assert seen["domain_save"]["to"] == str(tmp_path / "image.sav")
    assert seen["domain_restore"]["frm"] == str(tmp_path / "image.sav")
    assert seen["domain_core_dump"]["to"] == str(tmp_path / "core")


def test_string_typed_parameters_are_offered_only_when_the_driver_supports_them(open_fake, recorder) -> None:
    dom = open_fake().lookup_by_name("fake")
    recorder.answers["domain_get_memory_parameters"] = {}
    dom.get_memory_parameters()
    assert recorder.calls[-1][1]["flags"] & (1 << 2) == 0
    with pytest.raises(virtkernel.InvalidArg, match="string parameters are not supported"):
        dom.set_blkio_parameters({"device_weight": "/dev/sda,100"})
    recorder.features.add(DriverFeature.TYPED_PARAM_STRING)
    dom.get_memory_parameters()
    assert recorder.calls[-1][1]["flags"] & (1 << 2)
    dom.set_blkio_parameters({"device_weight": "/dev/sda,100"})
    assert recorder.calls[-1] == ("domain_set_blkio_parameters", {"dom": dom.ref, "params": {"device_weight": "/dev/sda,100"}, "flags": 0})


def test_a_closed_connection_invalidates_its_handles(open_fake) -> None:
    conn = open_fake()
    dom = conn.lookup_by_name("fake")
    conn.close()
    with pytest.raises(virtkernel.VirtError) as info:
        dom.suspend()
    assert info.value.code == ErrorCode.INVALID_DOMAIN
    with pytest.raises(virtkernel.VirtError) as info:
        conn.lookup_by_name("fake")
    assert info.value.code == ErrorCode.INVALID_CONN


def test_lookup_checks(open_fake) -> None:
    conn = open_fake()
    for bad in (-1, "1"):
        with pytest.raises(virtkernel.InvalidArg):
            conn.lookup_by_id(bad)
    with pytest.raises(virtkernel.InvalidArg, match="invalid UUID 'nope'"):
        conn.lookup_by_uuid_string("nope")
    with pytest.raises(virtkernel.InvalidArg):
        conn.lookup_by_uuid(b"short")
    assert conn.lookup_by_uuid_string("0B5E5A2B6A2D4D8E9C719A1F1D1A2B3C").name == "fake"


def test_a_driver_bug_becomes_an_internal_error_not_a_traceback(open_fake, recorder) -> None:
    def broken(**_kw):
        raise KeyError("oops")
    recorder.answers["domain_suspend"] = broken
    dom = open_fake().lookup_by_name("fake")
    with pytest.raises(virtkernel.InternalError) as info:
        dom.suspend()
    assert "KeyError" in info.value.message and info.value.code == ErrorCode.INTERNAL_ERROR


def test_hooks_returning_a_domain_ref_update_the_handle_id(open_fake, recorder) -> None:
    dom = open_fake().lookup_by_name("fake")
    recorder.answers["domain_destroy"] = virtkernel.DomainRef("fake", dom.uuid, -1)
    dom.destroy()
    assert dom.get_id() == -1


def test_a_drivers_unsupported_flags_read_as_libvirt_words_them():
    """Every driver refuses unknown flags through checks.check_flags: INVALID_ARG, printed without a prefix."""
    from virtkernel.checks import check_flags
    from virtkernel.enums import ErrorDomain
    check_flags(0x3, 0x3, "lxcDomainCreateWithFiles", ErrorDomain.LXC)  # allowed flags pass
    with pytest.raises(virtkernel.InvalidArg) as refused:
        check_flags(0x6, 0x3, "lxcDomainCreateWithFiles", ErrorDomain.LXC)
    assert refused.value.code == ErrorCode.INVALID_ARG and refused.value.domain == ErrorDomain.LXC
    assert refused.value.full_message == "unsupported flags (0x4) in function lxcDomainCreateWithFiles"
