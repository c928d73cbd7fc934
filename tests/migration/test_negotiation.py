"""Argument checks in libvirt's order and protocol selection from feature probes (spec 3.3, 3.4)."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel import DriverFeature as F, ErrorCode
from virtkernel.enums import DomainMigrateFlags as M

pytestmark = pytest.mark.timeout(30)

V123 = frozenset(F) - {F.MIGRATION_PARAMS}


def codes(exc_info) -> ErrorCode:
    return exc_info.value.code


# -- migrate / migrate2: checks in order ---------------------------------------------------------------------------

def test_read_only_source_is_refused_before_anything_else(make_pair) -> None:
    pair = make_pair(src_ro=True)
    with pytest.raises(virtkernel.VirtError) as info:
        pair.dom.migrate(None, M.NON_SHARED_DISK | M.NON_SHARED_INC, dname="")
    assert info.value.code == ErrorCode.OPERATION_DENIED
    assert "virDomainMigrate" in info.value.message
    assert pair.log.phases() == []


def test_invalid_destination_then_read_only_destination(make_pair) -> None:
    pair = make_pair(dst_ro=True)
    with pytest.raises(virtkernel.VirtError) as info:
        pair.dom.migrate("not a connection")
    assert info.value.code == ErrorCode.INVALID_CONN
    with pytest.raises(virtkernel.VirtError) as info:
        pair.dom.migrate(pair.dconn, dname="")
    assert info.value.code == ErrorCode.OPERATION_DENIED


def test_closed_destination_is_an_invalid_connection(make_pair) -> None:
    pair = make_pair()
    dom = pair.dom
    pair.dconn.close()
    with pytest.raises(virtkernel.VirtError) as info:
        dom.migrate(pair.dconn)
    assert info.value.code == ErrorCode.INVALID_CONN


@pytest.mark.parametrize("flags, kwargs, fragment", [
    (0, {"dname": ""}, "dname"),
    (M.NON_SHARED_DISK | M.NON_SHARED_INC, {}, "mutually exclusive"),
    (M.TUNNELLED | M.PARALLEL, {}, "mutually exclusive"),
    (M.NON_SHARED_SYNCHRONOUS_WRITES, {}, "is required by flag 'VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES'"),
])
def test_argument_errors_come_before_any_probe(make_pair, flags, kwargs, fragment) -> None:
    pair = make_pair()
    with pytest.raises(virtkernel.InvalidArg) as info:
        pair.dom.migrate(pair.dconn, flags, **kwargs)
    assert fragment in info.value.message
    assert pair.log.probes() == []


def test_dname_is_checked_before_the_flags(make_pair) -> None:
    pair = make_pair()
    with pytest.raises(virtkernel.InvalidArg) as info:
        pair.dom.migrate(pair.dconn, M.NON_SHARED_DISK | M.NON_SHARED_INC, dname="")
    assert "dname" in info.value.message


@pytest.mark.parametrize("side", ["src", "dst"])
def test_offline_needs_support_on_source_then_destination(make_pair, side) -> None:
    pair = make_pair(**{side: {"features": frozenset(F) - {F.MIGRATION_OFFLINE}}})
    with pytest.raises(virtkernel.ArgumentUnsupported) as info:
        pair.dom.migrate(pair.dconn, M.OFFLINE | M.PERSIST_DEST)
    expected = "source host" if side == "src" else "destination host"
    assert expected in info.value.message and "offline" in info.value.message
    probes = pair.log.probes()
    assert probes[0] == "src:MIGRATION_OFFLINE"
    assert probes == (["src:MIGRATION_OFFLINE"] if side == "src" else ["src:MIGRATION_OFFLINE", "dst:MIGRATION_OFFLINE"])
    assert pair.log.phases() == []


# -- migrate / migrate2 without PEER2PEER: selection ---------------------------------------------------------------

@pytest.mark.parametrize("src_has, dst_has, expected", [
    ({F.MIGRATION_V1, F.MIGRATION_V2, F.MIGRATION_V3}, {F.MIGRATION_V1, F.MIGRATION_V2, F.MIGRATION_V3}, "v3"),
    ({F.MIGRATION_V1, F.MIGRATION_V2, F.MIGRATION_V3}, {F.MIGRATION_V1, F.MIGRATION_V2}, "v2"),
    ({F.MIGRATION_V1, F.MIGRATION_V2}, {F.MIGRATION_V1, F.MIGRATION_V2, F.MIGRATION_V3}, "v2"),
    ({F.MIGRATION_V1, F.MIGRATION_V3}, {F.MIGRATION_V1, F.MIGRATION_V2}, "v1"),
])
def test_the_best_protocol_both_sides_have_is_chosen(make_pair, src_has, dst_has, expected) -> None:
    pair = make_pair(src={"features": frozenset(src_has)}, dst={"features": frozenset(dst_has)})
    new = pair.dom.migrate(pair.dconn, M.LIVE)
    assert new.name == "web1" and new.connection is pair.dconn
    first_phase = {"v3": "src:begin3", "v2": "dst:prepare2", "v1": "dst:prepare"}[expected]
    assert pair.log.phases()[0] == first_phase


def test_both_sides_are_probed_even_when_the_source_says_no(make_pair) -> None:
    pair = make_pair(src={"features": frozenset({F.MIGRATION_V2})}, dst={"features": frozenset({F.MIGRATION_V2})})
    pair.dom.migrate(pair.dconn)
    assert pair.log.probes()[:4] == ["src:MIGRATION_V3", "dst:MIGRATION_V3", "src:MIGRATION_V2", "dst:MIGRATION_V2"]


def test_no_common_protocol_is_not_supported(make_pair) -> None:
    pair = make_pair(src={"features": frozenset({F.MIGRATION_V3})}, dst={"features": frozenset({F.MIGRATION_V2})})
    with pytest.raises(virtkernel.NoSupport) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value.code == ErrorCode.NO_SUPPORT
    assert "share no migration protocol" in info.value.message
    assert pair.log.phases() == []


def test_replacement_xml_needs_protocol_3(make_pair) -> None:
    pair = make_pair(src={"features": frozenset({F.MIGRATION_V2})}, dst={"features": frozenset({F.MIGRATION_V2})})
    with pytest.raises(virtkernel.ArgumentUnsupported) as info:
        pair.dom.migrate2(pair.dconn, dxml="<domain/>")
    assert "target XML" in info.value.message
    assert pair.log.phases() == []


def test_tunnelled_without_peer2peer_is_an_invalid_operation(make_pair) -> None:
    pair = make_pair()
    with pytest.raises(virtkernel.OperationInvalid) as info:
        pair.dom.migrate(pair.dconn, M.TUNNELLED)
    assert info.value.code == ErrorCode.OPERATION_INVALID
    assert "peer-to-peer" in info.value.message


def test_change_protection_requested_but_unsupported(make_pair) -> None:
    pair = make_pair(src={"features": frozenset(F) - {F.MIGRATE_CHANGE_PROTECTION}})
    with pytest.raises(virtkernel.ArgumentUnsupported) as info:
        pair.dom.migrate(pair.dconn, M.CHANGE_PROTECTION)
    assert "change protection" in info.value.message


def test_change_protection_is_masked_then_re_added_to_source_calls_only(make_pair) -> None:
    pair = make_pair()
    pair.dom.migrate(pair.dconn, M.LIVE)  # not requested, but the source supports it: v3 adds it
    log = pair.log
    for hook in ("domain_migrate_begin3", "domain_migrate_perform3", "domain_migrate_confirm3"):
        assert log.kwargs("src", hook)["flags"] & M.CHANGE_PROTECTION, hook
    for hook in ("domain_migrate_prepare3", "domain_migrate_finish3"):
        assert not log.kwargs("dst", hook)["flags"] & M.CHANGE_PROTECTION, hook


def test_change_protection_not_added_when_the_source_lacks_it(make_pair) -> None:
    pair = make_pair(src={"features": frozenset(F) - {F.MIGRATE_CHANGE_PROTECTION}})
    pair.dom.migrate(pair.dconn, M.LIVE)
    assert not pair.log.kwargs("src", "domain_migrate_begin3")["flags"] & M.CHANGE_PROTECTION


def test_a_probe_error_fails_the_migration_with_the_drivers_error(make_pair) -> None:
    boom = virtkernel.VirtError("probe exploded", code=ErrorCode.INTERNAL_ERROR)
    pair = make_pair(dst={"fail": {"connect_supports_feature": boom}})
    with pytest.raises(virtkernel.VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is boom


# -- migrate with PEER2PEER ------------------------------------------------------------------------------------------

def test_peer2peer_unsupported_by_the_source_is_no_support(make_pair) -> None:
    pair = make_pair(src={"features": frozenset(F) - {F.MIGRATION_P2P}})
    with pytest.raises(virtkernel.NoSupport) as info:
        pair.dom.migrate(pair.dconn, M.PEER2PEER)
    assert info.value.code == ErrorCode.NO_SUPPORT and "peer-to-peer" in info.value.message


def test_peer2peer_via_migrate_uses_the_destination_uri_and_looks_the_result_up(make_pair) -> None:
    pair = make_pair()
    pair.dst.domains["web1"] = virtkernel.DomainRef("web1", "5e1bd4b4-7e0b-4b0e-9a59-a5d1f1b0c0de", 4)
    new = pair.dom.migrate(pair.dconn, M.PEER2PEER | M.CHANGE_PROTECTION | M.TUNNELLED, bandwidth=5)
    assert new.connection is pair.dconn and new.get_id() == 4
    kw = pair.log.kwargs("src", "domain_migrate_perform3_params")
    assert kw["dconnuri"] == "fake://h2.example/"
    assert kw["params"] == {"bandwidth": 5}
    assert kw["flags"] & M.CHANGE_PROTECTION and kw["flags"] & M.TUNNELLED  # kept untouched for the driver
    assert kw["cookiein"] is None


def test_peer2peer_migrate2_passes_uri_as_the_migration_uri(make_pair) -> None:
    pair = make_pair()
    pair.dst.domains["web2"] = virtkernel.DomainRef("web2", "5e1bd4b4-7e0b-4b0e-9a59-a5d1f1b0c0de", 4)
    pair.dom.migrate2(pair.dconn, "<domain/>", M.PEER2PEER, dname="web2", uri="tcp://h2.example:4444")
    kw = pair.log.kwargs("src", "domain_migrate_perform3_params")
    assert kw["dconnuri"] == "fake://h2.example/"
    assert kw["params"] == {"migrate_uri": "tcp://h2.example:4444", "destination_name": "web2",
                            "destination_xml": "<domain/>", "bandwidth": 0}


def test_peer2peer_to_a_destination_without_server_is_the_same_host(make_pair) -> None:
    pair = make_pair()
    with pytest.raises(virtkernel.InvalidArg) as info:
        pair.dom.migrate(pair.dconn, M.PEER2PEER, uri="qemu:///system")
    assert "same host" in info.value.message
    assert pair.log.phases() == []


# -- migrate3 ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flag, fragment", [(M.PEER2PEER, "migrate_to_uri3"), (M.TUNNELLED, "peer-to-peer")])
def test_migrate3_refuses_unmanaged_flags(make_pair, flag, fragment) -> None:
    pair = make_pair()
    with pytest.raises(virtkernel.InvalidArg) as info:
        pair.dom.migrate3(pair.dconn, {}, flag)
    assert fragment in info.value.message


def test_migrate3_checks_the_storage_flags_before_peer2peer(make_pair) -> None:
    pair = make_pair()
    with pytest.raises(virtkernel.InvalidArg) as info:
        pair.dom.migrate3(pair.dconn, {}, M.PEER2PEER | M.NON_SHARED_DISK | M.NON_SHARED_INC)
    assert "mutually exclusive" in info.value.message


@pytest.mark.parametrize("params, fragment", [
    ({"bandwidth": "fast"}, "bandwidth"),
    ({"nonsense": 1}, "nonsense"),
    ({"destination_name": ""}, "destination_name"),
    ({"compression.mt.level": 12}, "out of range"),
])
def test_migrate3_validates_parameters(make_pair, params, fragment) -> None:
    pair = make_pair()
    with pytest.raises(virtkernel.InvalidArg) as info:
        pair.dom.migrate3(pair.dconn, params)
    assert fragment in info.value.message
    assert pair.log.probes() == []


def test_migrate3_uses_v3_params_when_both_support_them(make_pair) -> None:
    pair = make_pair()
    caller = {"destination_name": "web9", "compression": "zstd", "bandwidth": 10}
    new = pair.dom.migrate3(pair.dconn, caller, M.LIVE)
    assert new.name == "web9"
    assert caller == {"destination_name": "web9", "compression": "zstd", "bandwidth": 10}  # untouched
    assert pair.log.phases() == ["src:begin3_params", "dst:prepare3_params", "src:perform3_params",
                                 "dst:finish3_params", "src:confirm3_params"]
    prepare = pair.log.kwargs("dst", "domain_migrate_prepare3_params")["params"]
    assert prepare["destination_xml"].startswith("<domain")  # Begin's XML replaces/inserts destination_xml
    perform = pair.log.kwargs("src", "domain_migrate_perform3_params")["params"]
    assert perform["migrate_uri"] == "tcp://h2.example:49152"  # Prepare's uri_out is stored in the params


def test_migrate3_fills_in_the_source_name_before_finish(make_pair) -> None:
    pair = make_pair()
    pair.dom.migrate3(pair.dconn, {})
    assert pair.log.kwargs("dst", "domain_migrate_finish3_params")["params"]["destination_name"] == "web1"
    assert "destination_name" not in pair.log.kwargs("dst", "domain_migrate_prepare3_params")["params"]


def test_migrate3_without_params_support_refuses_extended_params(make_pair) -> None:
    pair = make_pair(dst={"features": V123})
    with pytest.raises(virtkernel.ArgumentUnsupported) as info:
        pair.dom.migrate3(pair.dconn, {"compression": "zstd"})
    assert "compression" in info.value.message
    assert pair.log.phases() == []


def test_migrate3_falls_back_to_plain_v3_with_the_basic_params(make_pair) -> None:
    pair = make_pair(src={"features": V123})
    pair.dom.migrate3(pair.dconn, {"destination_name": "web2", "migrate_uri": "tcp://h2.example:7000",
                                   "bandwidth": 3, "destination_xml": XML_WEB2})
    begin = pair.log.kwargs("src", "domain_migrate_begin3")
    assert begin["xmlin"] == XML_WEB2 and begin["dname"] == "web2" and begin["bandwidth"] == 3
    prepare = pair.log.kwargs("dst", "domain_migrate_prepare3")
    assert prepare["uri_in"] == "tcp://h2.example:7000"


def test_migrate3_with_v2_refuses_destination_xml(make_pair) -> None:
    v2 = frozenset({F.MIGRATION_V2, F.MIGRATION_V1})
    pair = make_pair(src={"features": v2}, dst={"features": v2})
    with pytest.raises(virtkernel.ArgumentUnsupported):
        pair.dom.migrate3(pair.dconn, {"destination_xml": XML_WEB2})
    pair.dom.migrate3(pair.dconn, {"destination_name": "w2"})
    assert pair.log.phases()[0] == "dst:prepare2"


def test_migrate3_change_protection_unsupported(make_pair) -> None:
    pair = make_pair(src={"features": frozenset(F) - {F.MIGRATE_CHANGE_PROTECTION}})
    with pytest.raises(virtkernel.ArgumentUnsupported):
        pair.dom.migrate3(pair.dconn, {}, M.CHANGE_PROTECTION)


XML_WEB2 = "<domain type='test'><name>web2</name><memory>1024</memory></domain>"
