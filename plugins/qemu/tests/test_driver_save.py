"""Save, restore (every compression format, memory checked), managed save, save-image XML and core dumps."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel.enums import (DomainEventStartedDetailType as Started, DomainEventStoppedDetailType as Stopped,
                              DomainEventType as Event, DomainRunningReason, DomainSaveRestoreFlags as SaveFlags,
                              DomainShutoffReason, DomainState, ErrorCode)
from virtkernel_qemu import testguest
from virtkernel_qemu.saveimage import Compression, read_header

from driver_support import EventLog

pytestmark = pytest.mark.timeout(120)


def _memory(dom, path) -> bytes:
    dom.core_dump(str(path))
    return testguest.memory_from_elf_dump(path)


@pytest.fixture(scope="module")
def saved_guest(host, conn):
    """One persistent running guest the save tests pass along."""
    dom = conn.define_xml(host.xml("saver"))
    dom.create()
    host.wait_passes("saver", 1)
    return dom


@pytest.mark.parametrize("fmt", [c.name.lower() for c in Compression])
def test_restore_per_format_keeps_the_guest_memory(host, conn, saved_guest, fmt):
    (host.root / "etc/qemu.conf").write_text(f'save_image_format = "{fmt}"\n')
    events = EventLog(conn)
    dom = conn.lookup_by_name("saver")
    if not dom.is_active():
        dom.create()
    host.wait_passes("saver", 1)
    dom.suspend()
    before = _memory(dom, host.root / "before.core")
    pattern = testguest.check_memory_pattern(before)
    image = host.root / f"saver.{fmt}.save"
    dom.save(str(image))
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.SAVED)
    assert read_header(image).compression == Compression.from_name(fmt)
    assert "<name>saver</name>" in conn.save_image_get_xml_desc(str(image))

    conn.restore(str(image), flags=SaveFlags.PAUSED)
    dom = conn.lookup_by_name("saver")
    assert dom.get_state()[0] == DomainState.PAUSED
    after = _memory(dom, host.root / "after.core")
    assert testguest.check_memory_pattern(after) == pattern
    assert after[testguest.TOUCH_START:] == before[testguest.TOUCH_START:]
    dom.resume()
    host.wait_passes("saver", 1)  # it goes on where it was
    assert events.of("saver")[:3] == [(Event.SUSPENDED, 0), (Event.STOPPED, Stopped.SAVED),
                                      (Event.STARTED, Started.RESTORED)]
    events.close()
    (host.root / "etc/qemu.conf").unlink()


def test_a_running_save_restores_running_and_save_image_xml_can_be_replaced(host, conn, saved_guest):
    dom = conn.lookup_by_name("saver")
    if not dom.is_active():
        dom.create()
    image = host.root / "running.save"
    dom.save(str(image))
    xml = conn.save_image_get_xml_desc(str(image))
    conn.save_image_define_xml(str(image), xml.replace("<vcpu>1</vcpu>", "<vcpu>1</vcpu><description>edited"
                                                      "</description>", 1))
    assert "<description>edited</description>" in conn.save_image_get_xml_desc(str(image))
    with pytest.raises(virtkernel.VirtError) as info:
        conn.save_image_define_xml(str(image), xml.replace("<name>saver</name>", "<name>other</name>"))
    assert "keep the domain's name and UUID" in info.value.message
    conn.restore(str(image))
    dom = conn.lookup_by_name("saver")
    assert dom.get_state() == (DomainState.RUNNING, DomainRunningReason.RESTORED)
    assert "<description>edited</description>" in dom.get_xml_desc()
    host.wait_passes("saver", 1)


def test_not_a_save_image_is_refused(host, conn):
    bogus = host.root / "bogus.save"
    bogus.write_bytes(b"not an image" * 10)
    with pytest.raises(virtkernel.VirtError) as info:
        conn.restore(str(bogus))
    assert "not a virtkernel save image" in info.value.message


def test_managed_save_and_start_from_it(host, conn, saved_guest):
    dom = conn.lookup_by_name("saver")
    if not dom.is_active():
        dom.create()
    host.wait_passes("saver", 1)
    passes = host.serial("saver").read_text().count("B")
    dom.managed_save()
    assert dom.has_managed_save_image()
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.SAVED)
    assert [d.name for d in conn.list_all_domains(virtkernel.ConnectListDomainsFlags.MANAGEDSAVE)] == ["saver"]
    assert "<name>saver</name>" in dom.managed_save_get_xml_desc()
    dom.create()  # starts from the image
    assert dom.get_state() == (DomainState.RUNNING, DomainRunningReason.RESTORED)
    assert not dom.has_managed_save_image()
    host.wait_passes("saver", 1)
    assert host.serial("saver").read_text().count("A") == 1  # resumed, not booted again
    assert host.serial("saver").read_text().count("B") > passes
    dom.managed_save()
    with pytest.raises(virtkernel.VirtError) as info:
        dom.undefine()
    assert "managed save image" in info.value.message
    dom.managed_save_remove()
    assert not dom.has_managed_save_image()


def test_transient_domains_have_no_managed_save(host, conn):
    dom = conn.create_xml(host.xml("transient-save"))
    with pytest.raises(virtkernel.VirtError) as info:
        dom.managed_save()
    assert info.value.code == ErrorCode.OPERATION_INVALID
    dom.destroy()


def test_core_dump_of_a_running_guest_shows_its_memory_and_it_keeps_running(host, conn):
    dom = conn.create_xml(host.xml("dumper"))
    host.wait_passes("dumper", 1)
    memory = _memory(dom, host.root / "dumper.core")
    assert testguest.check_memory_pattern(memory).value >= 0
    assert dom.get_state()[0] == DomainState.RUNNING
    host.wait_passes("dumper", 1)
    dom.core_dump(str(host.root / "crash.core"), virtkernel.DomainCoreDumpFlags.CRASH)
    with pytest.raises(virtkernel.VirtError):
        conn.lookup_by_name("dumper")  # transient, crashed and gone


def test_save_and_restore_with_typed_parameters(host, conn, saved_guest):
    dom = conn.lookup_by_name("saver")
    if not dom.is_active():
        dom.create()
    image = host.root / "params.save"
    dom.save_params({"file": str(image)})
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.SAVED)
    conn.restore_params({"file": str(image)}, SaveFlags.PAUSED)
    assert conn.lookup_by_name("saver").get_state()[0] == DomainState.PAUSED
    conn.lookup_by_name("saver").resume()


def test_a_missing_compressor_is_reported_as_missing_and_the_guest_keeps_running(host, conn, saved_guest,
                                                                                 monkeypatch, tmp_path):
    dom = conn.lookup_by_name("saver")
    if not dom.is_active():
        dom.create()
    (host.root / "etc/qemu.conf").write_text('save_image_format = "xz"\n')
    monkeypatch.setenv("PATH", str(tmp_path))  # no xz to be found
    try:
        with pytest.raises(virtkernel.VirtError) as info:
            dom.save(str(host.root / "never.save"))
    finally:
        (host.root / "etc/qemu.conf").unlink()
    assert "program 'xz' not found" in info.value.message and getattr(info.value, "returncode", None) == 127
    assert not (host.root / "never.save").exists()
    assert dom.get_state()[0] == DomainState.RUNNING
    host.wait_passes("saver", 1)
