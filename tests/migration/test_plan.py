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


# -- storage without NBD on one side: the plan says what the drivers will do ----------------------------------------

NO_NBD = int(C.PERSISTENT | C.STATISTICS)
QEMU_LIKE_REFUSAL = virtkernel.VirtError(
    "cannot migrate the non-shared disks of domain 'web1': the destination host does not offer NBD storage "
    "migration, and this host cannot copy them another way", code=ErrorCode.OPERATION_UNSUPPORTED)


def fallback_calls(pair) -> list[tuple[str, dict]]:
    return [(host, kw) for host, hook, kw in pair.log.entries
            if hook == "connect_supports_migration_storage_fallback"]


def test_a_driver_that_refuses_the_fallback_makes_the_plan_refuse_with_its_reason(make_pair) -> None:
    pair = make_pair(src={"cookie_features": FULL}, dst={"cookie_features": NO_NBD,
                                                        "storage_fallback": QEMU_LIKE_REFUSAL})
    result = plan(pair.dom, pair.dconn, M.LIVE | M.NON_SHARED_DISK)
    assert result.storage is StoragePath.FALLBACK and not result.ok
    assert result.error is QEMU_LIKE_REFUSAL
    decisions = dict(result.decisions)
    assert decisions["storage: fallback"] == "the destination does not offer NBD storage migration"
    assert decisions["storage fallback"] == f"refused by the destination host: {QEMU_LIKE_REFUSAL}"
    assert f"Refused: {QEMU_LIKE_REFUSAL} (error code OPERATION_UNSUPPORTED)" in result.describe()
    # the destination, whose Prepare comes first, is asked about the destination's missing NBD
    assert fallback_calls(pair) == [("dst", {"domain": "web1", "side": "destination"})]
    with pytest.raises(virtkernel.VirtError) as info:
        result.raise_for_error()
    assert info.value is QEMU_LIKE_REFUSAL


def test_the_destination_is_asked_under_the_name_the_guest_will_have(make_pair) -> None:
    pair = make_pair(src={"cookie_features": FULL}, dst={"cookie_features": NO_NBD, "storage_fallback": True})
    assert plan(pair.dom, pair.dconn, M.NON_SHARED_INC, {"destination_name": "web2"}).ok
    assert fallback_calls(pair) == [("dst", {"domain": "web2", "side": "destination"}),
                                    ("src", {"domain": "web1", "side": "destination"})]


def test_a_source_without_nbd_is_asked_first(make_pair) -> None:
    pair = make_pair(src={"cookie_features": NO_NBD, "storage_fallback": False},
                     dst={"cookie_features": FULL, "storage_fallback": True})
    result = plan(pair.dom, pair.dconn, M.NON_SHARED_DISK)
    assert result.error.code == ErrorCode.OPERATION_UNSUPPORTED
    assert result.error.message == ("cannot migrate the non-shared disks of domain 'web1': the source host does not "
                                    "offer NBD storage migration, and the source host has no other way to copy them")
    assert fallback_calls(pair) == [("src", {"domain": "web1", "side": "source"})]


def test_drivers_that_copy_in_the_stream_keep_the_plan_going(make_pair) -> None:
    pair = make_pair(src={"cookie_features": NO_NBD, "storage_fallback": True},
                     dst={"cookie_features": FULL, "storage_fallback": True})
    result = plan(pair.dom, pair.dconn, M.NON_SHARED_DISK)
    assert result.ok and result.storage is StoragePath.FALLBACK
    assert dict(result.decisions)["storage fallback"] == "both hosts copy the disks inside the migration stream"


def test_drivers_that_do_not_declare_it_are_not_second_guessed(make_pair) -> None:
    pair = make_pair(src={"cookie_features": FULL}, dst={"cookie_features": NO_NBD})
    result = plan(pair.dom, pair.dconn, M.NON_SHARED_DISK)
    assert result.ok and result.storage is StoragePath.FALLBACK
    assert dict(result.decisions)["storage fallback"] == ("neither host says whether it can copy the disks without "
                                                          "NBD: the migration will tell")


def test_nothing_to_copy_needs_no_fallback(make_pair) -> None:
    pair = make_pair(src={"cookie_features": FULL}, dst={"cookie_features": NO_NBD, "storage_fallback": False})
    result = plan(pair.dom, pair.dconn, M.NON_SHARED_DISK, {"migrate_disks": []})
    assert result.ok and result.storage is StoragePath.NONE
    assert dict(result.decisions)["storage: none"] == "'migrate_disks' names no disk: there is nothing to copy"
    assert fallback_calls(pair) == []


def test_a_negotiation_error_comes_before_the_storage_question(make_pair) -> None:
    pair = make_pair(src={"cookie_features": NO_NBD, "storage_fallback": False,
                          "features": frozenset(F) - {F.MIGRATION_OFFLINE}})
    result = plan(pair.dom, pair.dconn, M.OFFLINE | M.NON_SHARED_DISK)
    assert result.error.code == ErrorCode.ARGUMENT_UNSUPPORTED
    assert fallback_calls(pair) == []


def test_a_real_migration_logs_the_storage_refusal_in_its_plan(make_pair, caplog) -> None:
    pair = make_pair(src={"cookie_features": FULL}, dst={"cookie_features": NO_NBD,
                                                        "storage_fallback": QEMU_LIKE_REFUSAL})
    with caplog.at_level(logging.INFO, logger="virtkernel.migration"):
        pair.dom.migrate3(pair.dconn, {}, M.NON_SHARED_DISK)  # the fake phases themselves copy nothing
    assert any(f"Refused: {QEMU_LIKE_REFUSAL}" in r.getMessage() for r in caplog.records)
