"""Phase sequences and failure handling of client-managed migration (spec 3.6, 3.7)."""

from __future__ import annotations

import logging

import pytest

import virtkernel
from virtkernel import DriverFeature as F, ErrorCode, ErrorDomain, VirtError
from virtkernel.enums import DomainMigrateFlags as M, DomainPausedReason

pytestmark = pytest.mark.timeout(30)

V3 = frozenset(F) - {F.MIGRATION_PARAMS}
V3_NO_PROTECTION = V3 - {F.MIGRATE_CHANGE_PROTECTION}
V2 = frozenset({F.MIGRATION_V2, F.MIGRATION_V1, F.XML_MIGRATABLE})
V1 = frozenset({F.MIGRATION_V1})


def failure(message: str, code: ErrorCode = ErrorCode.OPERATION_FAILED,
            domain: ErrorDomain = ErrorDomain.DOMAIN) -> VirtError:
    return VirtError(message, code=code, domain=domain)


# -- v3 ----------------------------------------------------------------------------------------------------------------

def test_v3_runs_five_phases_and_chains_the_cookies(make_pair) -> None:
    pair = make_pair(src={"features": V3}, dst={"features": V3})
    new = pair.dom.migrate(pair.dconn, M.LIVE | M.ABORT_ON_ERROR | M.AUTO_CONVERGE, dname="web7", bandwidth=9)
    assert new.name == "web7" and new.connection is pair.dconn
    log = pair.log
    assert log.phases() == ["src:begin3", "dst:prepare3", "src:perform3", "dst:finish3", "src:confirm3"]
    assert log.kwargs("dst", "domain_migrate_prepare3")["cookiein"] == b"begin"
    assert log.kwargs("src", "domain_migrate_perform3")["cookiein"] == b"prepare"
    assert log.kwargs("dst", "domain_migrate_finish3")["cookiein"] == b"perform"
    assert log.kwargs("src", "domain_migrate_confirm3")["cookiein"] == b"finish"
    assert log.kwargs("src", "domain_migrate_confirm3")["cancelled"] is False
    # Prepare's uri_out is what Perform and Finish use
    assert log.kwargs("src", "domain_migrate_perform3")["uri"] == "tcp://h2.example:49152"
    assert log.kwargs("dst", "domain_migrate_finish3")["uri"] == "tcp://h2.example:49152"
    # source-only flags never reach the destination
    for hook in ("domain_migrate_prepare3", "domain_migrate_finish3"):
        flags = log.kwargs("dst", hook)["flags"]
        assert flags & M.LIVE and not flags & (M.ABORT_ON_ERROR | M.AUTO_CONVERGE)
    assert log.kwargs("src", "domain_migrate_perform3")["flags"] & M.AUTO_CONVERGE
    assert log.kwargs("dst", "domain_migrate_prepare3")["dom_xml"].startswith("<domain")


def test_v3_adds_paused_when_the_source_is_paused(make_pair) -> None:
    pair = make_pair(src={"features": V3, "paused": True}, dst={"features": V3})
    pair.dom.migrate(pair.dconn)
    assert pair.log.kwargs("dst", "domain_migrate_prepare3")["flags"] & M.PAUSED
    pair2 = make_pair(src={"features": frozenset(F), "paused": True})
    pair2.src.state_reason = DomainPausedReason.POSTCOPY_FAILED
    pair2.dom.migrate3(pair2.dconn, {}, M.POSTCOPY | M.POSTCOPY_RESUME)
    assert not pair2.log.kwargs("dst", "domain_migrate_prepare3_params")["flags"] & M.PAUSED


def test_v3_needs_all_five_hooks(make_pair) -> None:
    pair = make_pair(src={"features": V3}, dst={"features": V3, "missing": ("domain_migrate_finish3",)})
    with pytest.raises(virtkernel.NoSupport) as info:
        pair.dom.migrate(pair.dconn)
    assert "virDomainMigrateFinish3" in info.value.message
    assert pair.log.phases() == []


def test_v3_begin_failure_stops_everything(make_pair) -> None:
    boom = failure("begin failed")
    pair = make_pair(src={"features": V3, "fail": {"domain_migrate_begin3": boom}}, dst={"features": V3})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is boom
    assert pair.log.phases() == ["src:begin3"]


def test_v3_prepare_failure_without_protection_stops(make_pair) -> None:
    boom = failure("no room on the destination")
    pair = make_pair(src={"features": V3_NO_PROTECTION}, dst={"features": V3, "fail": {"domain_migrate_prepare3": boom}})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is boom
    assert pair.log.phases() == ["src:begin3", "dst:prepare3"]


def test_v3_prepare_failure_with_protection_confirms_the_cancellation(make_pair) -> None:
    boom = failure("no room on the destination")
    pair = make_pair(src={"features": V3}, dst={"features": V3, "fail": {"domain_migrate_prepare3": boom}})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is boom
    assert pair.log.phases() == ["src:begin3", "dst:prepare3", "src:confirm3"]
    assert pair.log.kwargs("src", "domain_migrate_confirm3")["cancelled"] is True


def test_v3_missing_uri_cancels_at_finish_and_confirm(make_pair) -> None:
    pair = make_pair(src={"features": V3}, dst={"features": V3, "uri_out": None})
    with pytest.raises(virtkernel.InternalError) as info:
        pair.dom.migrate(pair.dconn)
    assert "did not set a migration URI" in info.value.message
    assert pair.log.phases() == ["src:begin3", "dst:prepare3", "dst:finish3", "src:confirm3"]
    assert pair.log.kwargs("dst", "domain_migrate_finish3")["cancelled"] is True
    assert pair.log.kwargs("dst", "domain_migrate_finish3")["cookiein"] == b"prepare"
    assert pair.log.kwargs("src", "domain_migrate_confirm3")["cancelled"] is True


def test_v3_caller_uri_is_enough_when_prepare_returns_none(make_pair) -> None:
    pair = make_pair(src={"features": V3}, dst={"features": V3, "uri_out": None})
    pair.dom.migrate(pair.dconn, uri="tcp://h2.example:5000")
    assert pair.log.kwargs("src", "domain_migrate_perform3")["uri"] == "tcp://h2.example:5000"


def test_v3_offline_skips_perform_and_discards_prepares_cookie(make_pair) -> None:
    pair = make_pair(src={"features": V3}, dst={"features": V3})
    pair.dom.migrate(pair.dconn, M.OFFLINE | M.PERSIST_DEST)
    assert pair.log.phases() == ["src:begin3", "dst:prepare3", "dst:finish3", "src:confirm3"]
    finish = pair.log.kwargs("dst", "domain_migrate_finish3")
    assert finish["cookiein"] is None and finish["cancelled"] is False


def test_v3_perform_failure_cancels_the_destination_and_skips_confirm(make_pair) -> None:
    boom = failure("connection reset during migration")
    pair = make_pair(src={"features": V3, "fail": {"domain_migrate_perform3": boom}}, dst={"features": V3})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is boom
    assert pair.log.phases() == ["src:begin3", "dst:prepare3", "src:perform3", "dst:finish3"]
    assert pair.log.kwargs("dst", "domain_migrate_finish3")["cancelled"] is True
    assert "web1" not in pair.dst.domains


def test_v3_first_error_wins_over_finish_error(make_pair) -> None:
    perform_error = failure("perform broke")
    finish_error = failure("finish broke too")
    pair = make_pair(src={"features": V3, "fail": {"domain_migrate_perform3": perform_error}},
                     dst={"features": V3, "fail": {"domain_migrate_finish3": finish_error}})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is perform_error
    assert virtkernel.get_last_error() is perform_error


def test_v3_qemu_override_reports_finishs_more_specific_error(make_pair) -> None:
    generic = failure("migration failed", ErrorCode.OPERATION_FAILED, ErrorDomain.QEMU)
    specific = failure("guest crashed on the destination", ErrorCode.INTERNAL_ERROR, ErrorDomain.QEMU)
    pair = make_pair(src={"features": V3, "fail": {"domain_migrate_perform3": generic}},
                     dst={"features": V3, "fail": {"domain_migrate_finish3": specific}})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is specific


@pytest.mark.parametrize("finish_code", [ErrorCode.MIGRATE_FINISH_OK])
def test_v3_qemu_override_does_not_apply_to_finish_ok(make_pair, finish_code) -> None:
    generic = failure("migration failed", ErrorCode.OPERATION_FAILED, ErrorDomain.QEMU)
    pair = make_pair(src={"features": V3, "fail": {"domain_migrate_perform3": generic}},
                     dst={"features": V3, "fail": {"domain_migrate_finish3": failure("x", finish_code, ErrorDomain.QEMU)}})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is generic


def test_v3_finish_failure_resumes_the_source(make_pair) -> None:
    boom = failure("could not start the guest on the destination")
    pair = make_pair(src={"features": V3}, dst={"features": V3, "fail": {"domain_migrate_finish3": boom}})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is boom
    assert pair.log.phases()[-1] == "src:confirm3"
    confirm = pair.log.kwargs("src", "domain_migrate_confirm3")
    assert confirm["cancelled"] is True and confirm["cookiein"] is None


def test_v3_finish_keeping_the_domain_despite_cancellation_wins(make_pair, caplog) -> None:
    boom = failure("perform broke")
    pair = make_pair(src={"features": V3, "fail": {"domain_migrate_perform3": boom}},
                     dst={"features": V3, "keep_when_cancelled": True})
    with caplog.at_level(logging.ERROR):
        new = pair.dom.migrate(pair.dconn)
    assert new.name == "web1"
    assert "ignored the cancellation" in caplog.text
    assert "src:confirm3" not in pair.log.phases()  # Perform failed: the source already knows


def test_v3_uri_missing_but_finish_keeps_domain_confirms_success(make_pair) -> None:
    pair = make_pair(src={"features": V3}, dst={"features": V3, "uri_out": None, "keep_when_cancelled": True})
    new = pair.dom.migrate(pair.dconn)
    assert new.name == "web1"
    assert pair.log.kwargs("src", "domain_migrate_confirm3")["cancelled"] is False


def test_v3_confirm_failure_is_only_a_warning(make_pair, caplog) -> None:
    pair = make_pair(src={"features": V3, "fail": {"domain_migrate_confirm3": failure("confirm broke")}},
                     dst={"features": V3})
    with caplog.at_level(logging.WARNING):
        new = pair.dom.migrate(pair.dconn)
    assert new.name == "web1"
    assert "Confirm failed" in caplog.text


def test_v3_driver_bug_becomes_an_internal_error_naming_the_phase(make_pair) -> None:
    pair = make_pair(src={"features": V3}, dst={"features": V3, "fail": {"domain_migrate_prepare3": KeyError("x")}})
    with pytest.raises(virtkernel.InternalError) as info:
        pair.dom.migrate(pair.dconn)
    assert "Prepare" in info.value.message and "KeyError" in info.value.message


def test_v3_params_perform_failure(make_pair) -> None:
    boom = failure("perform broke")
    pair = make_pair(src={"fail": {"domain_migrate_perform3_params": boom}})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate3(pair.dconn, {"destination_name": "x1"})
    assert info.value is boom
    assert pair.log.phases() == ["src:begin3_params", "dst:prepare3_params", "src:perform3_params",
                                 "dst:finish3_params"]
    assert pair.log.kwargs("dst", "domain_migrate_finish3_params")["cancelled"] is True


# -- v2 ----------------------------------------------------------------------------------------------------------------

def test_v2_fetches_migratable_xml_and_runs_prepare2_perform_finish2(make_pair) -> None:
    pair = make_pair(src={"features": V2}, dst={"features": V2})
    new = pair.dom.migrate(pair.dconn, M.LIVE | M.AUTO_CONVERGE)
    assert new.name == "web1"
    assert pair.log.phases() == ["dst:prepare2", "src:perform", "dst:finish2"]
    assert pair.log.kwargs("src", "domain_get_xml_desc")["flags"] == virtkernel.DomainXMLFlags.MIGRATABLE
    assert pair.log.kwargs("src", "domain_migrate_perform")["cookie"] == b"prepare2"
    finish = pair.log.kwargs("dst", "domain_migrate_finish2")
    assert finish["cookie"] == b"prepare2" and finish["retcode"] == 0
    assert not finish["flags"] & M.AUTO_CONVERGE


def test_v2_without_migratable_xml_uses_secure_and_update_cpu(make_pair) -> None:
    features = frozenset({F.MIGRATION_V2})
    pair = make_pair(src={"features": features}, dst={"features": features})
    pair.dom.migrate(pair.dconn)
    flags = pair.log.kwargs("src", "domain_get_xml_desc")["flags"]
    assert flags == virtkernel.DomainXMLFlags.SECURE | virtkernel.DomainXMLFlags.UPDATE_CPU


def test_v2_perform_failure_cancels_finish2_and_reports_performs_error(make_pair) -> None:
    boom = failure("perform broke")
    pair = make_pair(src={"features": V2, "fail": {"domain_migrate_perform": boom}}, dst={"features": V2})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is boom
    assert pair.log.kwargs("dst", "domain_migrate_finish2")["retcode"] == 1


def test_v2_missing_uri_still_calls_finish2_cancelled(make_pair) -> None:
    pair = make_pair(src={"features": V2}, dst={"features": V2, "uri_out": None})
    with pytest.raises(virtkernel.InternalError) as info:
        pair.dom.migrate(pair.dconn)
    assert "Prepare2 did not set" in info.value.message
    assert pair.log.phases() == ["dst:prepare2", "dst:finish2"]
    assert pair.log.kwargs("dst", "domain_migrate_finish2")["retcode"] == 1


def test_v2_prepare_failure_stops(make_pair) -> None:
    boom = failure("prepare2 broke")
    pair = make_pair(src={"features": V2}, dst={"features": V2, "fail": {"domain_migrate_prepare2": boom}})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is boom and pair.log.phases() == ["dst:prepare2"]


def test_v2_needs_the_xml_hook(make_pair) -> None:
    pair = make_pair(src={"features": V2, "missing": ("domain_get_xml_desc",)}, dst={"features": V2})
    with pytest.raises(virtkernel.NoSupport):
        pair.dom.migrate(pair.dconn)


# -- v1 ----------------------------------------------------------------------------------------------------------------

def test_v1_prepare_perform_finish_with_one_cookie(make_pair) -> None:
    pair = make_pair(src={"features": V1, "paused": True}, dst={"features": V1})
    new = pair.dom.migrate(pair.dconn, dname="w1b")
    assert new.name == "w1b"
    assert pair.log.phases() == ["dst:prepare", "src:perform", "dst:finish"]
    assert pair.log.kwargs("src", "domain_migrate_perform")["cookie"] == b"prepare1"
    assert pair.log.kwargs("dst", "domain_migrate_finish")["cookie"] == b"prepare1"
    assert pair.log.kwargs("dst", "domain_migrate_prepare")["flags"] & M.PAUSED


def test_v1_perform_failure_does_not_tell_the_destination(make_pair) -> None:
    boom = failure("perform broke")
    pair = make_pair(src={"features": V1, "fail": {"domain_migrate_perform": boom}}, dst={"features": V1})
    with pytest.raises(VirtError) as info:
        pair.dom.migrate(pair.dconn)
    assert info.value is boom
    assert pair.log.phases() == ["dst:prepare", "src:perform"]


def test_v1_missing_uri_is_an_internal_error(make_pair) -> None:
    pair = make_pair(src={"features": V1}, dst={"features": V1, "uri_out": None})
    with pytest.raises(virtkernel.InternalError):
        pair.dom.migrate(pair.dconn)
    assert pair.log.phases() == ["dst:prepare"]


def test_v1_without_finish_looks_the_domain_up(make_pair) -> None:
    pair = make_pair(src={"features": V1}, dst={"features": V1, "missing": ("domain_migrate_finish",)})
    pair.dst.domains["web1"] = virtkernel.DomainRef("web1", "5e1bd4b4-7e0b-4b0e-9a59-a5d1f1b0c0de", 11)
    new = pair.dom.migrate(pair.dconn)
    assert new.get_id() == 11
    assert pair.log.phases() == ["dst:prepare", "src:perform"]
