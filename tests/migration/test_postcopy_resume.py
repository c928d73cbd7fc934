"""VIR_MIGRATE_POSTCOPY_RESUME at the entry points: it needs VIR_MIGRATE_POSTCOPY and a failed post-copy migration.

The real resume (two QEMUs, a broken link) is tested in plugins/qemu/tests/test_migration_postcopy_resume.py.
"""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel import DriverFeature as F, ErrorCode, VirtError
from virtkernel.enums import DomainMigrateFlags as M, DomainPausedReason

pytestmark = pytest.mark.timeout(30)

RESUME = M.LIVE | M.POSTCOPY | M.POSTCOPY_RESUME


def entry_points(pair):
    """Every client-managed entry point, called with ``flags``."""
    return {
        "migrate": lambda flags: pair.dom.migrate(pair.dconn, flags),
        "migrate2": lambda flags: pair.dom.migrate2(pair.dconn, None, flags),
        "migrate3": lambda flags: pair.dom.migrate3(pair.dconn, {}, flags),
    }


@pytest.mark.parametrize("entry", ["migrate", "migrate2", "migrate3"])
def test_resume_without_postcopy_is_refused_before_any_phase(make_pair, entry) -> None:
    pair = make_pair(src={"paused": True})
    pair.src.state_reason = DomainPausedReason.POSTCOPY_FAILED
    with pytest.raises(VirtError) as refused:
        entry_points(pair)[entry](int(M.LIVE | M.POSTCOPY_RESUME))
    assert refused.value.code == ErrorCode.ARGUMENT_UNSUPPORTED
    assert "requires post-copy to be enabled (VIR_MIGRATE_POSTCOPY)" in str(refused.value)
    assert pair.log.phases() == []


@pytest.mark.parametrize("paused, reason, described", [(False, 1, "running (booted)"),
                                                       (True, DomainPausedReason.USER, "paused (user)"),
                                                       (True, DomainPausedReason.POSTCOPY, "paused (post-copy)")])
@pytest.mark.parametrize("entry", ["migrate", "migrate2", "migrate3"])
def test_resume_of_a_domain_whose_postcopy_did_not_fail_is_invalid(make_pair, entry, paused, reason,
                                                                   described) -> None:
    pair = make_pair(src={"paused": paused})
    pair.src.state_reason = int(reason)
    with pytest.raises(VirtError) as refused:
        entry_points(pair)[entry](int(RESUME))
    assert refused.value.code == ErrorCode.OPERATION_INVALID
    assert "post-copy migration of domain 'web1' has not failed" in str(refused.value)
    assert described in str(refused.value)
    assert pair.log.phases() == []


def test_resume_of_a_failed_postcopy_runs_the_v3_phases_without_paused(make_pair) -> None:
    pair = make_pair(src={"paused": True})
    pair.src.state_reason = DomainPausedReason.POSTCOPY_FAILED
    moved = pair.dom.migrate3(pair.dconn, {}, int(RESUME))
    assert moved.name == "web1"
    assert pair.log.phases() == ["src:begin3_params", "dst:prepare3_params", "src:perform3_params",
                                 "dst:finish3_params", "src:confirm3_params"]
    flags = pair.log.kwargs("dst", "domain_migrate_prepare3_params")["flags"]
    assert flags & M.POSTCOPY_RESUME and flags & M.POSTCOPY and not flags & M.PAUSED


def test_resume_to_uri_is_checked_too(make_pair) -> None:
    pair = make_pair(src={"features": frozenset(F)})
    with pytest.raises(VirtError) as refused:
        pair.dom.migrate_to_uri3("fake://h2.example/", {}, int(RESUME | M.PEER2PEER))
    assert refused.value.code == ErrorCode.OPERATION_INVALID
    with pytest.raises(VirtError) as refused:
        pair.dom.migrate_to_uri3("fake://h2.example/", {}, int(M.POSTCOPY_RESUME | M.PEER2PEER))
    assert refused.value.code == ErrorCode.ARGUMENT_UNSUPPORTED


def test_test_driver_domain_never_in_failed_postcopy(tmp_path) -> None:
    conn = virtkernel.open("test:///default")
    try:
        dom = conn.lookup_by_name("test")
        with pytest.raises(VirtError) as refused:
            dom.migrate3(conn, {}, int(RESUME))
        assert refused.value.code == ErrorCode.OPERATION_INVALID and "has not failed" in str(refused.value)
    finally:
        conn.close()
