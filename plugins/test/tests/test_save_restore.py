"""Save and restore through real files, managed save, and core dumps."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel.enums import DomainEventType as E, DomainSaveRestoreFlags as Save, DomainState as S, ErrorCode


def code_of(call, *args):
    with pytest.raises(virtkernel.VirtError) as failure:
        call(*args)
    return failure.value.code


def test_save_and_restore_round_trip(conn, events, tmp_path):
    image = tmp_path / "test.img"
    dom = conn.lookup_by_name("test")
    dom.set_memory(1048576)
    dom.save(str(image))
    assert image.stat().st_size > 0
    assert (dom.get_state(), dom.get_id(), dom.is_active()) == ((S.SHUTOFF, 5), -1, False)
    assert "<currentMemory unit='KiB'>1048576</currentMemory>" in conn.save_image_get_xml_desc(str(image))
    conn.restore(str(image))
    back = conn.lookup_by_name("test")
    assert back.get_state() == (S.RUNNING, 3) and back.get_id() == 2
    assert back.get_info()[2] == 1048576
    assert code_of(conn.restore, str(image)) == ErrorCode.OPERATION_INVALID
    assert events.take() == [("test", E.STOPPED, 4), ("test", E.STARTED, 2)]


def test_restore_relative_paths_are_made_absolute(conn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    conn.lookup_by_name("test").save("rel.img")
    assert (tmp_path / "rel.img").exists()
    conn.restore("rel.img")
    assert conn.lookup_by_name("test").is_active()


def test_restore_after_undefine_brings_back_a_transient_domain(conn, tmp_path):
    dom = conn.lookup_by_name("test")
    dom.save(str(tmp_path / "t.img"))
    dom.undefine()
    conn.restore(str(tmp_path / "t.img"))
    back = conn.lookup_by_name("test")
    assert back.is_active() and not back.is_persistent()


@pytest.mark.parametrize("content, code", [
    (b"this is not a save image\n" * 4, ErrorCode.INTERNAL_ERROR),
    (b"", ErrorCode.SYSTEM_ERROR),
    (b"VirtkernelTestImage\n{\"version\": 1, \"kind\": \"save\", \"paused\": false, \"xml_bytes\": 999}\n<dom",
     ErrorCode.INTERNAL_ERROR),
    (b"VirtkernelTestImage\nnot json\n", ErrorCode.INTERNAL_ERROR),
])
def test_restoring_garbage_fails_cleanly(conn, tmp_path, content, code):
    image = tmp_path / "bad.img"
    image.write_bytes(content)
    assert code_of(conn.restore, str(image)) == code
    assert conn.num_of_domains() == 1 and conn.num_of_defined_domains() == 0


def test_restore_missing_file_and_save_to_unwritable_path(conn, tmp_path):
    assert code_of(conn.restore, str(tmp_path / "missing.img")) == ErrorCode.SYSTEM_ERROR
    dom = conn.lookup_by_name("test")
    assert code_of(dom.save, "/nonexistent-dir/x.img") == ErrorCode.SYSTEM_ERROR
    assert dom.get_state() == (S.RUNNING, 0)
    assert not list(tmp_path.iterdir())


def test_save_refusals(conn, tmp_path, make_xml):
    dom = conn.lookup_by_name("test")
    assert code_of(dom.save, str(tmp_path / "a.img"), None, Save.PAUSED) == ErrorCode.INVALID_ARG
    assert code_of(dom.save, str(tmp_path / "a.img"), "<domain/>") == ErrorCode.ARGUMENT_UNSUPPORTED
    fresh = conn.define_xml(make_xml())
    assert code_of(fresh.save, str(tmp_path / "b.img")) == ErrorCode.OPERATION_INVALID


def test_paused_domain_saves_and_comes_back_running(conn, tmp_path):
    dom = conn.lookup_by_name("test")
    dom.suspend()
    dom.save(str(tmp_path / "p.img"))
    conn.restore(str(tmp_path / "p.img"))
    assert conn.lookup_by_name("test").get_state() == (S.RUNNING, 3)


def test_save_image_define_xml_replaces_the_stored_definition(conn, tmp_path):
    image = str(tmp_path / "d.img")
    dom = conn.lookup_by_name("test")
    dom.save(image)
    xml = conn.save_image_get_xml_desc(image).replace("<title>", "").replace(
        "<name>test</name>", "<name>test</name><title>edited</title>")
    conn.save_image_define_xml(image, xml)
    assert "<title>edited</title>" in conn.save_image_get_xml_desc(image)
    conn.restore(image)
    assert conn.lookup_by_name("test").get_metadata(virtkernel.DomainMetadataType.TITLE) == "edited"


def test_managed_save_and_start(conn, events):
    dom = conn.lookup_by_name("test")
    dom.managed_save()
    assert dom.has_managed_save_image() and dom.get_state() == (S.SHUTOFF, 5)
    assert "<name>test</name>" in dom.managed_save_get_xml_desc()
    assert [d.name for d in conn.list_all_domains(virtkernel.ConnectListDomainsFlags.MANAGEDSAVE)] == ["test"]
    assert code_of(dom.undefine) == ErrorCode.OPERATION_INVALID
    dom.create()
    assert dom.get_state() == (S.RUNNING, 1) and not dom.has_managed_save_image()
    assert events.take() == [("test", E.STOPPED, 4), ("test", E.STARTED, 0)]


def test_managed_save_remove_and_undefine_with_image(conn):
    dom = conn.lookup_by_name("test")
    dom.managed_save()
    dom.managed_save_remove()
    assert not dom.has_managed_save_image()
    dom.managed_save_remove()
    dom.create()
    dom.managed_save()
    dom.undefine(virtkernel.DomainUndefineFlags.MANAGED_SAVE)
    with pytest.raises(virtkernel.NoDomain):
        conn.lookup_by_name("test")


def test_managed_save_refusals(conn, make_xml):
    assert code_of(conn.define_xml(make_xml()).managed_save) == ErrorCode.OPERATION_INVALID
    temp = conn.create_xml(make_xml("temp", "c7a5fdbd-edaf-9455-926a-d65c16db1810"))
    assert code_of(temp.managed_save) == ErrorCode.OPERATION_INVALID
    assert temp.is_active()


def test_core_dump(conn, events, tmp_path):
    dom = conn.lookup_by_name("test")
    dom.core_dump(str(tmp_path / "core"))
    assert (tmp_path / "core").stat().st_size > 0 and dom.get_state() == (S.RUNNING, 0)
    dom.core_dump(str(tmp_path / "core2"), virtkernel.DomainCoreDumpFlags.CRASH)
    assert dom.get_state() == (S.SHUTOFF, 3)
    assert events.take() == [("test", E.STOPPED, 2)]
    assert code_of(dom.core_dump, str(tmp_path / "core3")) == ErrorCode.OPERATION_INVALID


def test_core_dump_refusals(conn, tmp_path):
    dom = conn.lookup_by_name("test")
    assert code_of(dom.core_dump, str(tmp_path / "c"), virtkernel.DomainCoreDumpFlags.LIVE) == ErrorCode.INVALID_ARG
    assert code_of(dom.core_dump, "/nonexistent-dir/core") == ErrorCode.SYSTEM_ERROR
    assert code_of(dom.core_dump, str(tmp_path / "k"), 0,
                   virtkernel.DomainCoreDumpFormat.KDUMP_ZLIB) == ErrorCode.OPERATION_UNSUPPORTED
    assert dom.get_state() == (S.RUNNING, 0)
