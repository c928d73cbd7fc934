"""libvirt's domain-list filter groups (CONNECT_LIST_DOMAINS_*), decided once for every driver."""

from __future__ import annotations

from typing import Callable, Union

from .enums import ConnectListDomainsFlags as ListFlags, DomainState

Fact = Union[bool, Callable[[], bool]]
"""A yes/no fact about a domain, or a callable computing it only when a filter asks."""

STATE_FILTERS = ListFlags.RUNNING | ListFlags.PAUSED | ListFlags.SHUTOFF | ListFlags.OTHER
"""The filter group on the domain's state."""

_STATE_FLAG = {DomainState.RUNNING: ListFlags.RUNNING, DomainState.PAUSED: ListFlags.PAUSED,
               DomainState.SHUTOFF: ListFlags.SHUTOFF}

_GROUPS = (("active", ListFlags.ACTIVE, ListFlags.INACTIVE),
           ("persistent", ListFlags.PERSISTENT, ListFlags.TRANSIENT),
           ("managed_save", ListFlags.MANAGEDSAVE, ListFlags.NO_MANAGEDSAVE),
           ("autostart", ListFlags.AUTOSTART, ListFlags.NO_AUTOSTART),
           ("has_snapshot", ListFlags.HAS_SNAPSHOT, ListFlags.NO_SNAPSHOT),
           ("has_checkpoint", ListFlags.HAS_CHECKPOINT, ListFlags.NO_CHECKPOINT))


def _value(fact: Fact) -> bool:
    return fact() if callable(fact) else bool(fact)


def matches_list_filters(flags: int, *, active: Fact, persistent: Fact, state: Union[int, Callable[[], int]],
                         managed_save: Fact = False, autostart: Fact = False, has_snapshot: Fact = False,
                         has_checkpoint: Fact = False) -> bool:
    """Whether a domain passes every filter group set in ``flags`` (a group with no bit set does not filter).

    Within a group the domain must match one of the bits set, as libvirt does; facts given as callables are
    evaluated only when their group is asked for.
    """
    if not flags:
        return True
    facts = {"active": active, "persistent": persistent, "managed_save": managed_save, "autostart": autostart,
             "has_snapshot": has_snapshot, "has_checkpoint": has_checkpoint}
    for name, yes, no in _GROUPS:
        if flags & (yes | no) and not flags & (yes if _value(facts[name]) else no):
            return False
    if flags & STATE_FILTERS:
        current = state() if callable(state) else state
        if not flags & _STATE_FLAG.get(DomainState(current), ListFlags.OTHER):
            return False
    return True
