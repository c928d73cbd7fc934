"""The exported phase entry points (2.13) and the generic peer-to-peer helper."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel import DriverFeature as F
from virtkernel.enums import DomainMigrateFlags as M
from virtkernel.migration.p2p import local_peer, migrate_peer_to_peer
from virtkernel.migration.sequences import SourceSide
from virtkernel.types import MigrationResult

pytestmark = pytest.mark.timeout(30)


def test_source_phase_entry_points_call_their_hooks(make_pair) -> None:
    pair = make_pair()
    dom = pair.dom
    begun = dom.migrate_begin3(None, M.LIVE, "w2", 4)
    assert begun.cookie == b"begin" and begun.xml.startswith("<domain")
    assert dom.migrate_perform3(None, b"c", None, "tcp://h:1", 0, None, 0).cookie == b"perform"
    assert dom.migrate_confirm3(b"f", 0, True) == 0
    assert dom.migrate_begin3_params({"destination_name": "w2"}, 0).cookie == b"begin"
    assert dom.migrate_perform3_params(None, {}, b"c", 0).cookie == b"perform"
    assert dom.migrate_confirm3_params({}, b"f", 0, False) == 0
    assert dom.migrate_perform(b"c", "tcp://h:1", 0, None, 0) == 0
    assert pair.log.phases() == ["src:begin3", "src:perform3", "src:confirm3", "src:begin3_params",
                                 "src:perform3_params", "src:confirm3_params", "src:perform"]


def test_destination_phase_entry_points_call_their_hooks(make_pair) -> None:
    pair = make_pair()
    d = pair.dconn
    assert d.migrate_prepare3(b"b", None, 0, None, 0, "<domain/>").uri_out == "tcp://h2.example:49152"
    assert d.migrate_prepare3_params({}, b"b", 0).cookie == b"prepare"
    assert d.migrate_finish3("web1", b"p", None, None, 0, False).domain.name == "web1"
    assert d.migrate_finish3_params({"destination_name": "w2"}, b"p", 0, False).domain.name == "w2"
    assert d.migrate_prepare(None, 0, None, 0).cookie == b"prepare1"
    assert d.migrate_prepare2(None, 0, None, 0, "<domain/>").cookie == b"prepare2"
    assert d.migrate_finish("w3", b"x", None, 0).name == "w3"
    assert d.migrate_finish2("w4", b"x", None, 0, 0).domain.name == "w4"
    with pytest.raises(virtkernel.NoSupport):
        d.migrate_prepare_tunnel(object(), 0, None, 0, "<domain/>")


@pytest.mark.parametrize("call", [
    lambda p: p.dom.migrate_begin3(None, 0, ""),
    lambda p: p.dom.migrate_perform(None, None, 0, ""),
    lambda p: p.dom.migrate_perform3(dname=""),
    lambda p: p.dom.migrate_begin3_params({"destination_name": ""}),
    lambda p: p.dom.migrate_confirm3_params({"destination_name": ""}),
    lambda p: p.dconn.migrate_prepare(dname=""),
    lambda p: p.dconn.migrate_prepare3(dname=""),
    lambda p: p.dconn.migrate_finish3(""),
    lambda p: p.dconn.migrate_finish3_params({"destination_name": ""}),
    lambda p: p.dconn.migrate_prepare3_params({"destination_name": 5}),
])
def test_an_empty_or_mistyped_destination_name_is_refused(make_pair, call) -> None:
    pair = make_pair()
    with pytest.raises(virtkernel.InvalidArg):
        call(pair)
    assert pair.log.phases() == []


@pytest.mark.parametrize("call", [
    lambda p: p.dom.migrate_begin3(None, 0, ""),
    lambda p: p.dom.migrate_confirm3(),
    lambda p: p.dconn.migrate_prepare3(dname=""),
    lambda p: p.dconn.migrate_finish2("x"),
    lambda p: p.dconn.migrate_prepare_tunnel3_params(object(), {"destination_name": ""}),
])
def test_read_only_comes_before_the_name_check(make_pair, call) -> None:
    pair = make_pair(src_ro=True, dst_ro=True)
    with pytest.raises(virtkernel.OperationDenied):
        call(pair)


def test_tunnel_prepare_checks_the_stream_owner_before_the_name(make_pair) -> None:
    pair = make_pair()

    class Stream:
        connection = pair.sconn

    with pytest.raises(virtkernel.InvalidArg) as info:
        pair.dconn.migrate_prepare_tunnel3_params(Stream(), {"destination_name": ""})
    assert "another connection" in info.value.message


# -- the peer-to-peer helper -------------------------------------------------------------------------------------------

def make_source(pair, calls: list, fail_perform: bool = False) -> SourceSide:
    ref = pair.dom.ref

    def begin(**kw):
        calls.append(("begin", kw))
        return MigrationResult(xml="<domain type='test'><name>web1</name></domain>", cookie=b"b")

    def perform(**kw):
        calls.append(("perform", kw))
        if fail_perform:
            raise virtkernel.VirtError("link down", code=virtkernel.ErrorCode.OPERATION_FAILED)
        return MigrationResult(cookie=b"p")

    def confirm(**kw):
        calls.append(("confirm", kw))

    return SourceSide(ref, begin=begin, perform=perform, confirm=confirm)


def test_p2p_helper_runs_v3_params_against_a_local_peer(make_pair) -> None:
    pair = make_pair()
    calls: list = []
    with local_peer("fake://h2.example/", pair.dconn):
        ref = migrate_peer_to_peer(make_source(pair, calls), "fake://h2.example/", M.PEER2PEER | M.LIVE,
                                   params={"destination_name": "w5", "compression": "zstd"})
    assert ref.name == "w5"
    assert [c[0] for c in calls] == ["begin", "perform", "confirm"]
    assert pair.log.phases() == ["dst:prepare3_params", "dst:finish3_params"]
    assert calls[1][1]["cookiein"] == b"prepare" and calls[2][1]["cancelled"] is False
    assert pair.log.kwargs("dst", "domain_migrate_finish3_params")["cookiein"] == b"p"


def test_p2p_helper_falls_back_to_plain_v3_and_refuses_extended_params(make_pair) -> None:
    pair = make_pair(dst={"features": frozenset(F) - {F.MIGRATION_PARAMS}})
    calls: list = []
    with local_peer("fake://h2.example/", pair.dconn):
        with pytest.raises(virtkernel.ArgumentUnsupported):
            migrate_peer_to_peer(make_source(pair, calls), "fake://h2.example/", 0, params={"compression": "zstd"})
        ref = migrate_peer_to_peer(make_source(pair, calls), "fake://h2.example/", 0,
                                   params={"destination_name": "w6", "migrate_uri": "tcp://h2.example:3"})
    assert ref.name == "w6"
    assert pair.log.kwargs("dst", "domain_migrate_prepare3")["uri_in"] == "tcp://h2.example:3"


def test_p2p_helper_needs_v3_on_the_destination(make_pair) -> None:
    pair = make_pair(dst={"features": frozenset({F.MIGRATION_V2})})
    with local_peer("fake://h2.example/", pair.dconn):
        with pytest.raises(virtkernel.NoSupport) as info:
            migrate_peer_to_peer(make_source(pair, []), "fake://h2.example/", 0)
    assert "protocol 3 on the destination" in info.value.message


def test_p2p_helper_perform_failure_cancels_the_destination(make_pair) -> None:
    pair = make_pair()
    calls: list = []
    with local_peer("fake://h2.example/", pair.dconn):
        with pytest.raises(virtkernel.VirtError) as info:
            migrate_peer_to_peer(make_source(pair, calls, fail_perform=True), "fake://h2.example/", 0)
    assert "link down" in info.value.message
    assert [c[0] for c in calls] == ["begin", "perform"]
    assert pair.log.kwargs("dst", "domain_migrate_finish3")["cancelled"] is True


def test_p2p_helper_opens_and_closes_a_peer_it_opened(make_pair) -> None:
    pair = make_pair()
    opened = []

    def opener(uri):
        opened.append(uri)
        return pair.dconn

    migrate_peer_to_peer(make_source(pair, []), "fake://h2.example/", 0, opener=opener)
    assert opened == ["fake://h2.example/"] and pair.dconn.closed


@pytest.mark.parametrize("call", [
    lambda p: p.dom.migrate_begin3_params({"bogus": 1}),
    lambda p: p.dom.migrate_perform3_params(None, {"bandwidth": -1}),
    lambda p: p.dconn.migrate_prepare3_params({"compression": "lz4"}),
    lambda p: p.dconn.migrate_finish3_params({"destination_name": "w", "parallel.connections": 0}),
])
def test_params_phase_entry_points_validate_against_the_schema(make_pair, call) -> None:
    pair = make_pair()
    with pytest.raises(virtkernel.InvalidArg):
        call(pair)
    assert pair.log.phases() == []
