"""migrate_to_uri*: compat checks, the "not local" check and the choice of the source's Perform hook (3.3.3-3.5, 3.9)."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel import DriverFeature as F, ErrorCode
from virtkernel.enums import DomainMigrateFlags as M

pytestmark = pytest.mark.timeout(30)

NO_PARAMS = frozenset(F) - {F.MIGRATION_PARAMS}
PROTO2 = frozenset(F) - {F.MIGRATION_PARAMS, F.MIGRATION_V3}


def test_to_uri_needs_a_uri_and_refuses_read_only(make_pair) -> None:
    pair = make_pair()
    with pytest.raises(virtkernel.InvalidArg):
        pair.dom.migrate_to_uri(None)
    ro = make_pair(src_ro=True)
    with pytest.raises(virtkernel.OperationDenied):
        ro.dom.migrate_to_uri(None)


@pytest.mark.parametrize("flags, missing, fragment", [
    (M.PEER2PEER, F.MIGRATION_P2P, "peer-to-peer migration is not supported by the source"),
    (0, F.MIGRATION_DIRECT, "direct migration is not supported by the source"),
    (M.OFFLINE, F.MIGRATION_OFFLINE, "offline migration is not supported by the source"),
])
def test_compat_checks_use_source_probes(make_pair, flags, missing, fragment) -> None:
    pair = make_pair(src={"features": frozenset(F) - {missing}})
    with pytest.raises(virtkernel.ArgumentUnsupported) as info:
        pair.dom.migrate_to_uri("test://h2.example/", flags)
    assert info.value.code == ErrorCode.ARGUMENT_UNSUPPORTED
    assert fragment in info.value.message
    assert pair.log.phases() == []


def test_offline_is_probed_before_peer2peer(make_pair) -> None:
    pair = make_pair(src={"features": frozenset()})
    with pytest.raises(virtkernel.ArgumentUnsupported) as info:
        pair.dom.migrate_to_uri("test://h2.example/", M.OFFLINE | M.PEER2PEER)
    assert "offline" in info.value.message


def test_compat_checks_come_after_tunnelled_parallel_and_before_dconnuri(make_pair) -> None:
    pair = make_pair(src={"features": frozenset()})
    with pytest.raises(virtkernel.InvalidArg) as info:
        pair.dom.migrate_to_uri2(None, None, None, M.PEER2PEER | M.TUNNELLED | M.PARALLEL)
    assert "mutually exclusive" in info.value.message
    with pytest.raises(virtkernel.ArgumentUnsupported):
        pair.dom.migrate_to_uri2(None, None, None, M.PEER2PEER)  # P2P probe fails first
    supported = make_pair()
    with pytest.raises(virtkernel.InvalidArg) as info:
        supported.dom.migrate_to_uri2(None, None, None, M.PEER2PEER)
    assert "dconnuri" in info.value.message


@pytest.mark.parametrize("uri", ["test://localhost/x.xml", "qemu+ssh://localhost.localdomain/system",
                                 "qemu://localhostfoo/system", "test:///tmp/h2.xml", "qemu+unix:///system"])
def test_not_local_check_refuses_uris_that_point_back(make_pair, uri) -> None:
    pair = make_pair()
    with pytest.raises(virtkernel.InvalidArg) as info:
        pair.dom.migrate_to_uri(uri, M.PEER2PEER)
    assert "same host" in info.value.message
    assert pair.log.phases() == []


@pytest.mark.parametrize("uri", ["qemu+unix:///system?socket=/run/other.sock", "qemu+unix:///system?SOCKET=/x",
                                 "test://h2.example/tmp/h2.xml"])
def test_not_local_check_accepts_remote_servers_and_explicit_sockets(make_pair, uri) -> None:
    pair = make_pair()
    assert pair.dom.migrate_to_uri(uri, M.PEER2PEER) == 0
    assert pair.log.kwargs("src", "domain_migrate_perform3_params")["dconnuri"] == uri


def test_p2p_with_params_support_passes_the_whole_param_list(make_pair) -> None:
    pair = make_pair()
    params = {"compression": ["zstd"], "parallel.connections": 4, "destination_name": "w2"}
    pair.dom.migrate_to_uri3("test://h2.example/", params, M.PEER2PEER | M.LIVE)
    kw = pair.log.kwargs("src", "domain_migrate_perform3_params")
    assert kw["params"] == params and kw["cookiein"] is None and kw["flags"] == M.PEER2PEER | M.LIVE
    assert pair.log.phases() == ["src:perform3_params"]


def test_direct_never_uses_params_even_when_supported(make_pair) -> None:
    pair = make_pair()
    pair.dom.migrate_to_uri("tcp://h2.example:4000", M.LIVE, dname="w3", bandwidth=7)
    kw = pair.log.kwargs("src", "domain_migrate_perform3")
    assert kw["dconnuri"] is None and kw["uri"] == "tcp://h2.example:4000"
    assert kw["dname"] == "w3" and kw["bandwidth"] == 7 and kw["xmlin"] is None
    assert "src:MIGRATION_PARAMS" not in pair.log.probes()


def test_protocol3_refuses_extended_params(make_pair) -> None:
    pair = make_pair(src={"features": NO_PARAMS})
    with pytest.raises(virtkernel.ArgumentUnsupported) as info:
        pair.dom.migrate_to_uri3("test://h2.example/", {"compression": "zstd"}, M.PEER2PEER)
    assert "protocol 3" in info.value.message and "compression" in info.value.message


def test_protocol3_gets_xml_and_uri_from_params(make_pair) -> None:
    pair = make_pair(src={"features": NO_PARAMS})
    pair.dom.migrate_to_uri2("test://h2.example/", "tcp://h2.example:1", "<domain/>", M.PEER2PEER, "w4", 2)
    kw = pair.log.kwargs("src", "domain_migrate_perform3")
    assert kw == {"xmlin": "<domain/>", "cookiein": None, "dconnuri": "test://h2.example/",
                  "uri": "tcp://h2.example:1", "flags": int(M.PEER2PEER), "dname": "w4", "bandwidth": 2}


def test_protocol2_refuses_destination_xml(make_pair) -> None:
    pair = make_pair(src={"features": PROTO2})
    with pytest.raises(virtkernel.ArgumentUnsupported) as info:
        pair.dom.migrate_to_uri2(None, "tcp://h2.example:1", "<domain/>")
    assert "protocol 2" in info.value.message and "destination_xml" in info.value.message


def test_protocol2_p2p_cannot_override_the_uri(make_pair) -> None:
    pair = make_pair(src={"features": PROTO2})
    with pytest.raises(virtkernel.InternalError) as info:
        pair.dom.migrate_to_uri2("test://h2.example/", "tcp://h2.example:1", None, M.PEER2PEER)
    assert "peer-to-peer migration URI" in info.value.message


def test_protocol2_p2p_performs_with_the_destination_uri(make_pair) -> None:
    pair = make_pair(src={"features": PROTO2})
    pair.dom.migrate_to_uri("test://h2.example/", M.PEER2PEER, bandwidth=3)
    kw = pair.log.kwargs("src", "domain_migrate_perform")
    assert kw["uri"] == "test://h2.example/" and kw["cookie"] is None and kw["bandwidth"] == 3


def test_protocol2_direct_performs_with_the_migration_uri(make_pair) -> None:
    pair = make_pair(src={"features": PROTO2})
    pair.dom.migrate_to_uri("tcp://h2.example:9", 0)
    assert pair.log.kwargs("src", "domain_migrate_perform")["uri"] == "tcp://h2.example:9"


def test_missing_perform_hook_is_no_support(make_pair) -> None:
    pair = make_pair(src={"missing": ("domain_migrate_perform3_params",)})
    with pytest.raises(virtkernel.NoSupport) as info:
        pair.dom.migrate_to_uri("test://h2.example/", M.PEER2PEER)
    assert "virDomainMigratePerform3Params" in info.value.message


def test_tunnelled_without_p2p_is_left_to_the_driver(make_pair) -> None:
    pair = make_pair()
    pair.dom.migrate_to_uri("tcp://h2.example:9", M.TUNNELLED | M.CHANGE_PROTECTION)
    assert pair.log.kwargs("src", "domain_migrate_perform3")["flags"] == M.TUNNELLED | M.CHANGE_PROTECTION


def test_the_source_drivers_error_is_what_the_caller_sees(make_pair) -> None:
    boom = virtkernel.VirtError("destination refused", code=ErrorCode.OPERATION_FAILED)
    pair = make_pair(src={"fail": {"domain_migrate_perform3_params": boom}})
    with pytest.raises(virtkernel.VirtError) as info:
        pair.dom.migrate_to_uri3("test://h2.example/", {}, M.PEER2PEER)
    assert info.value is boom
