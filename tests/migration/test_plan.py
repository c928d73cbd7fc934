"""virtkernel.migration.plan(): the negotiation without migrating, and the plan logged by real migrations."""

from __future__ import annotations

import logging

import pytest

import virtkernel
from virtkernel import DriverFeature as F, ErrorCode
from virtkernel.enums import DomainMigrateFlags as M
from virtkernel.migration import CookieFeature as C, MigrationMode, Protocol, StoragePath, plan

pytestmark = pytest.mark.timeout(30)

FULL = int(C.PERSISTENT | C.STATISTICS | C.NBD)


def test_plan_chooses_like_migrate3_and_explains_every_step(make_pair) -> None:
    pair = make_pair(src={"cookie_features": FULL}, dst={"cookie_features": int(C.PERSISTENT | C.STATISTICS)})
    result = plan(pair.dom, pair.dconn, M.LIVE)
    assert result.ok and result.managed and not result.p2p and not result.direct
    assert result.protocol is Protocol.V3_PARAMS and result.mode is MigrationMode.MANAGED
    assert result.cookie_features == C.PERSISTENT | C.STATISTICS
    assert result.storage is StoragePath.NONE
    decisions = dict(result.decisions)
    assert decisions["probe MIGRATION_PARAMS on source"] == "supported"
    assert "extensible parameters" in decisions["protocol v3-params"]
    assert pair.log.phases() == []  # nothing migrated
    text = result.describe()
    assert "protocol:        v3-params" in text and "persistent, statistics" in text
    assert "would proceed" in text


@pytest.mark.parametrize("dst_features, expected", [
    (frozenset(F) - {F.MIGRATION_PARAMS}, Protocol.V3),
    (frozenset({F.MIGRATION_V2, F.MIGRATION_V1}), Protocol.V2),
    (frozenset({F.MIGRATION_V1}), Protocol.V1),
])
def test_plan_reports_the_fallback_protocol(make_pair, dst_features, expected) -> None:
    pair = make_pair(dst={"features": dst_features})
    assert plan(pair.dom, pair.dconn).protocol is expected


def test_plan_records_a_refusal_instead_of_raising(make_pair) -> None:
    pair = make_pair(dst={"features": frozenset({F.MIGRATION_V2})}, src={"features": frozenset({F.MIGRATION_V3})})
    result = plan(pair.dom, pair.dconn)
    assert not result.ok and result.protocol is None
    assert result.error.code == ErrorCode.NO_SUPPORT
    assert "Refused:" in result.describe() and "NO_SUPPORT" in result.describe()
    with pytest.raises(virtkernel.NoSupport):
        result.raise_for_error()


@pytest.mark.parametrize("src_cf, dst_cf, storage", [
    (FULL, FULL, StoragePath.NBD),
    (FULL, int(C.PERSISTENT), StoragePath.FALLBACK),
    (int(C.PERSISTENT), FULL, StoragePath.FALLBACK),
])
def test_plan_says_which_storage_path(make_pair, src_cf, dst_cf, storage) -> None:
    pair = make_pair(src={"cookie_features": src_cf}, dst={"cookie_features": dst_cf})
    result = plan(pair.dom, pair.dconn, M.NON_SHARED_DISK)
    assert result.storage is storage
    reason = dict(result.decisions)[f"storage: {storage.value}"]
    if storage is StoragePath.FALLBACK:
        side = "source" if not src_cf & C.NBD else "destination"
        assert f"the {side} does not offer NBD" in reason


def test_plan_for_peer2peer_through_a_connection(make_pair) -> None:
    pair = make_pair()
    result = plan(pair.dom, pair.dconn, M.PEER2PEER)
    assert result.p2p and result.protocol is Protocol.V3_PARAMS
    assert dict(result.decisions)["destination is another host"]


def test_plan_for_a_direct_migration_uri(make_pair) -> None:
    pair = make_pair(src={"cookie_features": FULL})
    result = plan(pair.dom, "tcp://h2.example:49152", M.NON_SHARED_INC)
    assert result.direct and result.protocol is Protocol.V3
    assert result.storage is StoragePath.AT_PREPARE
    assert "src:MIGRATION_PARAMS" not in pair.log.probes()


def test_plan_refuses_what_migrate3_refuses(make_pair) -> None:
    pair = make_pair(src={"features": frozenset(F) - {F.MIGRATION_OFFLINE}})
    result = plan(pair.dom, pair.dconn, M.OFFLINE)
    assert result.error.code == ErrorCode.ARGUMENT_UNSUPPORTED
    assert plan(pair.dom, pair.dconn, M.TUNNELLED).error.code == ErrorCode.INVALID_ARG
    assert plan(pair.dom, pair.dconn, 0, {"bogus": 1}).error.code == ErrorCode.INVALID_ARG


def test_plan_shows_change_protection_added_for_v3(make_pair) -> None:
    pair = make_pair()
    assert plan(pair.dom, pair.dconn).flags & M.CHANGE_PROTECTION
    pair2 = make_pair(src={"features": frozenset(F) - {F.MIGRATE_CHANGE_PROTECTION}})
    assert not plan(pair2.dom, pair2.dconn).flags & M.CHANGE_PROTECTION


def test_every_real_migration_logs_its_plan(make_pair, caplog) -> None:
    pair = make_pair()
    with caplog.at_level(logging.INFO, logger="virtkernel.migration"):
        pair.dom.migrate3(pair.dconn, {})
    messages = [r.getMessage() for r in caplog.records if r.name == "virtkernel.migration"]
    assert any("Migration plan for domain 'web1' (virDomainMigrate3)" in m and "v3-params" in m for m in messages)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="virtkernel.migration"):
        pair2 = make_pair()
        pair2.dom.migrate_to_uri("tcp://h2.example:1")
    assert any("(virDomainMigrateToURI)" in r.getMessage() and "mode:            direct" in r.getMessage()
               for r in caplog.records)
