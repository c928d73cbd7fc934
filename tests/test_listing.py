"""The domain-list filter groups behave like libvirt's for every driver."""

from __future__ import annotations

import pytest

from virtkernel import ConnectListDomainsFlags as F, DomainState
from virtkernel.listing import matches_list_filters

RUNNING_PERSISTENT = dict(active=True, persistent=True, state=DomainState.RUNNING, autostart=True)
PAUSED_TRANSIENT = dict(active=True, persistent=False, state=DomainState.PAUSED)
SHUTOFF_SAVED = dict(active=False, persistent=True, state=DomainState.SHUTOFF, managed_save=True)
CRASHED = dict(active=False, persistent=True, state=DomainState.CRASHED, has_snapshot=True)


@pytest.mark.parametrize("flags, expected", [
    (0, [True, True, True, True]),
    (F.ACTIVE, [True, True, False, False]),
    (F.ACTIVE | F.INACTIVE, [True, True, True, True]),
    (F.TRANSIENT, [False, True, False, False]),
    (F.PAUSED | F.SHUTOFF, [False, True, True, False]),
    (F.OTHER, [False, False, False, True]),
    (F.MANAGEDSAVE, [False, False, True, False]),
    (F.NO_MANAGEDSAVE | F.PERSISTENT, [True, False, False, True]),
    (F.AUTOSTART, [True, False, False, False]),
    (F.HAS_SNAPSHOT, [False, False, False, True]),
    (F.INACTIVE | F.NO_SNAPSHOT, [False, False, True, False]),
    (F.HAS_CHECKPOINT, [False, False, False, False]),
])
def test_filter_groups(flags, expected) -> None:
    domains = [RUNNING_PERSISTENT, PAUSED_TRANSIENT, SHUTOFF_SAVED, CRASHED]
    assert [matches_list_filters(flags, **d) for d in domains] == expected


def test_facts_are_computed_only_when_their_group_is_asked_for() -> None:
    def never() -> bool:
        raise AssertionError("computed without being asked for")
    assert matches_list_filters(F.ACTIVE, active=True, persistent=never, state=never, autostart=never)
    assert not matches_list_filters(F.NO_AUTOSTART, active=True, persistent=True, state=1, autostart=lambda: True)
