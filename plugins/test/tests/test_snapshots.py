"""Snapshots: tree, current snapshot, revert with libvirt's states and events, delete with children."""

from __future__ import annotations

import pytest
from lxml import etree

import virtkernel
from virtkernel.enums import (DomainEventType as E, DomainSnapshotCreateFlags as Create,
                              DomainSnapshotDeleteFlags as Delete, DomainSnapshotListFlags as L,
                              DomainSnapshotRevertFlags as Revert, DomainState as S, ErrorCode)


def snap(name: str) -> str:
    return f"<domainsnapshot><name>{name}</name><description>{name} snapshot</description></domainsnapshot>"


def code_of(call, *args):
    with pytest.raises(virtkernel.VirtError) as failure:
        call(*args)
    return failure.value.code


def test_snapshot_tree_and_current(conn):
    dom = conn.lookup_by_name("test")
    assert not dom.has_current_snapshot()
    assert code_of(dom.snapshot_current) == ErrorCode.NO_DOMAIN_SNAPSHOT
    s1, s2, s3 = (dom.snapshot_create_xml(snap(n)) for n in ("s1", "s2", "s3"))
    assert dom.snapshot_list_names() == ["s1", "s2", "s3"]
    assert [s.name for s in dom.list_all_snapshots(L.ROOTS)] == ["s1"]
    assert [s.name for s in dom.list_all_snapshots(L.LEAVES)] == ["s3"]
    assert dom.snapshot_current() == s3 and s3.is_current() and not s1.is_current()
    assert s2.get_parent() == s1
    assert code_of(s1.get_parent) == ErrorCode.NO_DOMAIN_SNAPSHOT
    assert [c.name for c in s1.list_all_children()] == ["s2"]
    assert [c.name for c in s1.list_all_children(L.DESCENDANTS)] == ["s2", "s3"]
    assert s1.has_metadata()
    xml = etree.fromstring(s2.get_xml_desc())
    assert (xml.findtext("state"), xml.findtext("parent/name"), xml.find("memory").get("snapshot")) == \
        ("running", "s1", "internal")
    assert xml.find("disks/disk").get("name") == "vda"
    assert xml.findtext("domain/name") == "test"
    assert code_of(dom.snapshot_create_xml, snap("s1")) == ErrorCode.OPERATION_FAILED
    assert code_of(dom.snapshot_lookup_by_name, "nosuch") == ErrorCode.NO_DOMAIN_SNAPSHOT
    assert code_of(dom.snapshot_create_xml, "<domainsnapshot><name>bad") == ErrorCode.XML_DETAIL


def test_revert_restores_state_definition_and_emits_events(conn, events):
    dom = conn.lookup_by_name("test")
    running = dom.snapshot_create_xml(snap("running"))
    dom.suspend()
    paused = dom.snapshot_create_xml(snap("paused"))
    dom.set_memory(1048576)
    dom.destroy()
    off = dom.snapshot_create_xml(snap("off"))
    events.take()
    running.revert()
    assert dom.get_state() == (S.RUNNING, 4)
    assert events.take() == [("test", E.STARTED, 3)]
    paused.revert()
    assert dom.get_state() == (S.PAUSED, 7)
    assert events.take() == [("test", E.STOPPED, 6), ("test", E.STARTED, 3), ("test", E.SUSPENDED, 5)]
    assert dom.get_info()[2] == 2097152
    off.revert()
    assert dom.get_state() == (S.SHUTOFF, 7)
    off.revert(Revert.RUNNING)
    assert dom.get_state() == (S.RUNNING, 4)
    running.revert(Revert.PAUSED)
    assert dom.get_state() == (S.PAUSED, 7)
    assert dom.snapshot_current() == running
    assert code_of(running.revert, Revert.RUNNING | Revert.PAUSED) == ErrorCode.INVALID_ARG


def test_delete_with_children(conn):
    dom = conn.lookup_by_name("test")
    a, b, c = (dom.snapshot_create_xml(snap(n)) for n in "abc")
    a.revert()
    d = dom.snapshot_create_xml(snap("d"))
    assert [x.name for x in a.list_all_children()] == ["b", "d"]
    b.delete(Delete.CHILDREN_ONLY)
    assert dom.snapshot_list_names() == ["a", "b", "d"]
    a.delete()
    assert dom.snapshot_list_names() == ["b", "d"]
    assert code_of(b.get_parent) == ErrorCode.NO_DOMAIN_SNAPSHOT
    assert code_of(a.get_xml_desc) == ErrorCode.NO_DOMAIN_SNAPSHOT
    b.delete(Delete.CHILDREN)
    assert dom.snapshot_list_names() == ["d"] and dom.snapshot_current() == d
    assert code_of(d.delete, Delete.CHILDREN | Delete.CHILDREN_ONLY) == ErrorCode.INVALID_ARG
    assert code_of(d.delete, Delete.METADATA_ONLY) == ErrorCode.INVALID_ARG
    del c


def test_deleting_the_current_snapshot_makes_its_parent_current(conn):
    dom = conn.lookup_by_name("test")
    x = dom.snapshot_create_xml(snap("x"))
    y = dom.snapshot_create_xml(snap("y"))
    y.delete()
    assert dom.snapshot_current() == x


def test_halt_snapshot_and_unsupported_flags(conn, events):
    dom = conn.lookup_by_name("test")
    dom.snapshot_create_xml(snap("h"), Create.HALT)
    assert dom.get_state() == (S.SHUTOFF, 7)
    assert events.take() == [("test", E.STOPPED, 6)]
    assert code_of(dom.snapshot_create_xml, snap("n"), Create.NO_METADATA) == ErrorCode.INVALID_ARG


def test_snapshots_block_undefine_unless_asked(conn, make_xml):
    dom = conn.define_xml(make_xml())
    cold = dom.snapshot_create_xml(snap("cold"))
    assert etree.fromstring(cold.get_xml_desc()).find("memory").get("snapshot") == "no"
    assert [d.name for d in conn.list_all_domains(virtkernel.ConnectListDomainsFlags.HAS_SNAPSHOT)] == ["fresh"]
    assert code_of(dom.undefine) == ErrorCode.OPERATION_INVALID
    dom.undefine(virtkernel.DomainUndefineFlags.SNAPSHOTS_METADATA)
    with pytest.raises(virtkernel.NoDomain):
        conn.lookup_by_name("fresh")


def test_redefine_a_snapshot(conn):
    dom = conn.lookup_by_name("test")
    original = dom.snapshot_create_xml(snap("orig"))
    xml = original.get_xml_desc()
    original.delete()
    again = dom.snapshot_create_xml(xml, Create.REDEFINE | Create.CURRENT)
    assert again.name == "orig" and dom.snapshot_current() == again
    assert code_of(dom.snapshot_create_xml, snap("r"), Create.REDEFINE) == ErrorCode.INTERNAL_ERROR


def test_redefining_an_existing_snapshot_with_current_makes_it_current(conn):
    # what `virsh snapshot-current DOMAIN NAME` does: its own XML back with REDEFINE|CURRENT
    dom = conn.lookup_by_name("test")
    s1, s2 = dom.snapshot_create_xml(snap("s1")), dom.snapshot_create_xml(snap("s2"))
    assert code_of(dom.snapshot_create_xml, s1.get_xml_desc()) == ErrorCode.OPERATION_FAILED  # not a redefine
    dom.snapshot_create_xml(s1.get_xml_desc(), Create.REDEFINE | Create.CURRENT)
    assert dom.snapshot_current() == s1 and not s2.is_current()
    assert s2.get_parent() == s1 and [c.name for c in s1.list_all_children()] == ["s2"]
    # redefined without CURRENT: the current one stays current; a parent below itself is refused
    dom.snapshot_create_xml(s1.get_xml_desc(), Create.REDEFINE)
    assert dom.snapshot_current() == s1
    looped = s1.get_xml_desc().replace("<creationTime>", "<parent><name>s2</name></parent><creationTime>", 1)
    assert code_of(dom.snapshot_create_xml, looped, Create.REDEFINE) == ErrorCode.INVALID_ARG
    assert dom.snapshot_list_names() == ["s1", "s2"] and s2.get_parent() == s1


def test_snapshot_xml_layout_like_libvirt(conn):
    dom = conn.lookup_by_name("test")
    dom.destroy()
    text = dom.snapshot_create_xml(snap("off")).get_xml_desc()
    assert "  <memory snapshot='no'/>\n  <disks>\n    <disk name='vda' snapshot='internal'/>\n  </disks>\n" in text
    assert "\n  <domain type='test'>\n    <name>test</name>\n" in text and text.endswith("  </domain>\n</domainsnapshot>\n")
