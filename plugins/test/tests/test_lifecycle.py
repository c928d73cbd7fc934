"""Define, start, stop, pause and undefine: states, reasons, ids, events and refusals as libvirt's test driver."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel.enums import (DomainCreateFlags, DomainEventType as E, DomainState as S, DomainUndefineFlags,
                              ErrorCode, ErrorDomain)

NEW_UUID = "c7a5fdbd-edaf-9455-926a-d65c16db1809"
OTHER_UUID = "c7a5fdbd-edaf-9455-926a-d65c16db1810"


def code_of(call, *args):
    with pytest.raises(virtkernel.VirtError) as failure:
        call(*args)
    return failure.value.code


def test_define_start_destroy_undefine_with_events(conn, events, make_xml):
    dom = conn.define_xml(make_xml())
    assert (dom.get_id(), dom.get_state(), dom.is_active(), dom.is_persistent()) == (-1, (S.SHUTOFF, 0), False, True)
    assert conn.list_defined_domains() == ["fresh"]
    dom.create()
    assert dom.get_id() == 2 and dom.get_state() == (S.RUNNING, 1)
    dom.destroy()
    assert dom.get_id() == -1 and dom.get_state() == (S.SHUTOFF, 2)
    dom.undefine()
    assert code_of(conn.lookup_by_name, "fresh") == ErrorCode.NO_DOMAIN
    assert events.take() == [("fresh", E.DEFINED, 0), ("fresh", E.STARTED, 0), ("fresh", E.STOPPED, 1),
                             ("fresh", E.UNDEFINED, 0)]


def test_redefine_updates_and_conflicts_are_refused(conn, events, make_xml):
    conn.define_xml(make_xml(memory=262144))
    again = conn.define_xml(make_xml(memory=524288))
    assert again.get_max_memory() == 524288
    assert events.take() == [("fresh", E.DEFINED, 0), ("fresh", E.DEFINED, 1)]
    for name, uuid in (("fresh", OTHER_UUID), ("test", OTHER_UUID), ("other", NEW_UUID)):
        assert code_of(conn.define_xml, make_xml(name, uuid)) == ErrorCode.OPERATION_FAILED
    assert conn.num_of_defined_domains() == 1


@pytest.mark.parametrize("xml, code", [
    ("<domain type='test'><name>broken</name>", ErrorCode.XML_DETAIL),
    ("", ErrorCode.XML_DETAIL),
    ("<network><name>n</name></network>", ErrorCode.XML_ERROR),
    ("<domain type='test'><memory>1024</memory><os><type>hvm</type></os></domain>", ErrorCode.NO_NAME),
    ("<domain type='test'><name>m</name><memory>0</memory><os><type>hvm</type></os></domain>", ErrorCode.XML_ERROR),
    ("<domain type='test'><name>o</name><memory>1024</memory></domain>", ErrorCode.XML_ERROR),
    ("<domain><name>u</name><memory>1024</memory><os><type>hvm</type></os></domain>", ErrorCode.INTERNAL_ERROR),
    ("<domain type='warp'><name>w</name><memory>1024</memory><os><type>hvm</type></os></domain>",
     ErrorCode.CONFIG_UNSUPPORTED),
    ("<domain type='test'><name>v</name><memory>1024</memory><vcpu current='4'>2</vcpu><os><type>hvm</type></os>"
     "</domain>", ErrorCode.CONFIG_UNSUPPORTED),
    ("<domain type='test'><name>q</name><memory unit='parsecs'>1</memory><os><type>hvm</type></os></domain>",
     ErrorCode.INVALID_ARG),
    ("<!DOCTYPE d [<!ENTITY x 'y'>]><domain type='test'><name>&x;</name><memory>1</memory>"
     "<os><type>hvm</type></os></domain>", ErrorCode.XML_ERROR),
])
def test_bad_definitions_are_refused_with_libvirts_codes(conn, xml, code):
    assert code_of(conn.define_xml, xml) == code
    assert conn.num_of_defined_domains() == 0


def test_definition_gets_libvirts_defaults(conn):
    dom = conn.define_xml("<domain type='test'><name>bare</name><memory unit='MiB'>512</memory>"
                          "<os><type>hvm</type></os><devices><disk type='file' device='cdrom'>"
                          "<source file='/iso/a.iso'/><target dev='hdc' bus='ide'/></disk>"
                          "<interface type='network'><source network='default'/></interface></devices></domain>")
    xml = dom.get_xml_desc()
    for piece in ("<uuid>", "<memory unit='KiB'>524288</memory>", "<currentMemory unit='KiB'>524288</currentMemory>",
                  "<vcpu placement='static'>1</vcpu>", "<type arch='i686'>hvm</type>", "<boot dev='hd'/>",
                  "<clock offset='utc'/>", "<on_reboot>restart</on_reboot>",
                  "<address type='drive' controller='0' bus='1' target='0' unit='0'/>",
                  "<controller type='ide' index='0'/>", "<target dev='testnet0'/>"):
        assert piece in xml
    assert dom.get_info()[1:4] == (524288, 524288, 1)


def test_create_xml_is_transient_and_vanishes_when_stopped(conn, events, make_xml):
    dom = conn.create_xml(make_xml())
    assert (dom.get_id(), dom.is_persistent(), dom.get_state()) == (2, False, (S.RUNNING, 1))
    assert conn.list_domains() == [1, 2]
    dom.shutdown()
    assert code_of(conn.lookup_by_name, "fresh") == ErrorCode.NO_DOMAIN
    assert code_of(dom.is_active) == ErrorCode.NO_DOMAIN
    assert events.take() == [("fresh", E.STARTED, 0), ("fresh", E.STOPPED, 0)]


def test_ids_only_grow(conn, make_xml):
    a = conn.create_xml(make_xml("a", NEW_UUID))
    b = conn.create_xml(make_xml("b", OTHER_UUID))
    a.destroy()
    again = conn.create_xml(make_xml("a", NEW_UUID))
    assert (a.get_id(), b.get_id(), again.get_id()) == (-1, 3, 4)
    assert conn.lookup_by_id(3) == b
    assert code_of(conn.lookup_by_id, 2) == ErrorCode.NO_DOMAIN


def test_start_paused(conn, events, make_xml):
    dom = conn.create_xml(make_xml(), DomainCreateFlags.PAUSED)
    assert dom.get_state() == (S.PAUSED, 1)
    assert events.take() == [("fresh", E.STARTED, 0), ("fresh", E.SUSPENDED, 0)]
    dom.resume()
    assert dom.get_state() == (S.RUNNING, 5)


def test_unsupported_start_flags_are_refused(conn, make_xml):
    dom = conn.define_xml(make_xml())
    with pytest.raises(virtkernel.VirtError) as refused:
        dom.create(DomainCreateFlags.AUTODESTROY)
    assert refused.value.code == ErrorCode.INVALID_ARG and refused.value.domain == ErrorDomain.TEST
    assert not dom.is_active()


def test_suspend_resume_and_refusals(conn, events):
    dom = conn.lookup_by_name("test")
    assert code_of(dom.resume) == ErrorCode.INTERNAL_ERROR
    dom.suspend()
    assert dom.get_state() == (S.PAUSED, 1)
    assert code_of(dom.suspend) == ErrorCode.INTERNAL_ERROR
    assert code_of(dom.create) == ErrorCode.INTERNAL_ERROR
    dom.resume()
    assert dom.get_state() == (S.RUNNING, 5)
    assert events.take() == [("test", E.SUSPENDED, 0), ("test", E.RESUMED, 0)]


def test_shutoff_refusals_and_no_events_for_failures(conn, events):
    dom = conn.lookup_by_name("test")
    dom.destroy()
    events.take()
    assert code_of(dom.destroy) == ErrorCode.OPERATION_INVALID
    assert code_of(dom.shutdown) == ErrorCode.INTERNAL_ERROR
    assert code_of(dom.suspend) == ErrorCode.INTERNAL_ERROR
    assert code_of(dom.reboot) == ErrorCode.OPERATION_INVALID
    assert code_of(dom.reset) == ErrorCode.OPERATION_INVALID
    assert events.take() == []


def test_reboot_and_reset(conn, events):
    dom = conn.lookup_by_name("test")
    dom.suspend()
    dom.reboot()
    assert dom.get_state() == (S.RUNNING, 1) and dom.get_id() == 1
    dom.reset()
    assert dom.get_state() == (S.RUNNING, 1)
    assert events.take() == [("test", E.SUSPENDED, 0)]


def test_undefine_running_makes_it_transient_until_it_stops(conn, events):
    dom = conn.lookup_by_name("test")
    dom.undefine()
    assert dom.is_active() and not dom.is_persistent()
    dom.destroy()
    assert code_of(conn.lookup_by_name, "test") == ErrorCode.NO_DOMAIN
    assert conn.num_of_domains() == 0
    assert events.take() == [("test", E.UNDEFINED, 0), ("test", E.STOPPED, 1)]


def test_define_makes_a_running_transient_domain_persistent(conn, make_xml):
    dom = conn.create_xml(make_xml())
    conn.define_xml(make_xml())
    assert dom.is_persistent() and dom.is_active()
    dom.destroy()
    assert not conn.lookup_by_name("fresh").is_active()


def test_redefining_a_running_domain_changes_only_the_next_boot(conn, make_xml):
    conn.define_xml(make_xml("test", "6695eb01-f6a4-8304-79aa-97f2502e193f", memory=4194304, vcpus=2))
    dom = conn.lookup_by_name("test")
    assert dom.get_max_memory() == 8388608
    assert "<memory unit='KiB'>4194304</memory>" in dom.get_xml_desc(virtkernel.DomainXMLFlags.INACTIVE)
    dom.destroy()
    assert dom.get_max_memory() == 4194304


def test_undefine_flags(conn, make_xml):
    dom = conn.define_xml(make_xml())
    assert code_of(dom.undefine, 1 << 20) == ErrorCode.INVALID_ARG
    dom.undefine(DomainUndefineFlags.NVRAM)
    assert code_of(dom.undefine) == ErrorCode.NO_DOMAIN


def test_rename(conn, events, make_xml):
    dom = conn.define_xml(make_xml())
    events.take()
    dom.rename("renamed")
    renamed = conn.lookup_by_name("renamed")
    assert renamed.uuid == NEW_UUID and conn.list_defined_domains() == ["renamed"]
    assert code_of(conn.lookup_by_name, "fresh") == ErrorCode.NO_DOMAIN
    assert events.take() == [("fresh", E.UNDEFINED, 1), ("renamed", E.DEFINED, 2)]
    assert code_of(conn.lookup_by_name("test").rename, "x") == ErrorCode.OPERATION_INVALID
    assert code_of(renamed.rename, "test") == ErrorCode.OPERATION_INVALID


def test_autostart_and_list_filters(conn, make_xml):
    F = virtkernel.ConnectListDomainsFlags
    dom = conn.lookup_by_name("test")
    dom.set_autostart(True)
    conn.define_xml(make_xml())
    names = lambda flags: sorted(d.name for d in conn.list_all_domains(flags))  # noqa: E731
    assert names(F.AUTOSTART) == ["test"] and names(F.NO_AUTOSTART) == ["fresh"]
    assert names(F.ACTIVE) == ["test"] and names(F.INACTIVE) == ["fresh"]
    assert names(F.SHUTOFF | F.RUNNING) == ["fresh", "test"]
    assert names(F.ACTIVE | F.INACTIVE) == ["fresh", "test"]
    assert names(F.TRANSIENT) == []
    assert code_of(conn.list_all_domains, 1 << 30) == ErrorCode.INVALID_ARG


def test_read_only_connection_refuses_changes():
    ro = virtkernel.open_read_only("test:///default")
    try:
        dom = ro.lookup_by_name("test")
        assert code_of(dom.destroy) == ErrorCode.OPERATION_DENIED
        assert dom.get_state() == (S.RUNNING, 0)
    finally:
        ro.close()


def test_unsupported_flags_read_as_libvirt_prints_them(conn):
    dom = conn.lookup_by_name("test")
    with pytest.raises(virtkernel.VirtError) as refused:
        dom.pin_vcpu(1, (True,), 2)
    assert refused.value.code == virtkernel.ErrorCode.INVALID_ARG
    # libvirt (and so virsh) prints this error without the "invalid argument: " words of its code
    assert refused.value.full_message == "unsupported flags (0x2) in function testDomainPinVcpuFlags"
