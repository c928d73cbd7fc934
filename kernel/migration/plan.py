"""Explainable negotiation: which protocol, mode, cookie features and storage path a migration would use, and why.

:func:`plan` runs the same checks and feature probes as a real migration without migrating anything. Every
real migration logs the same plan at INFO level (logger ``virtkernel.migration``).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Union

from ..driver import DriverCalls
from ..enums import DomainMigrateFlags as Migrate, ErrorCode, ErrorDomain
from ..errors import VirtError
from ..types import TypedParams
from .cookie import CookieFeature
from .negotiate import MigrationMode, Protocol, Trace, flag_names

if TYPE_CHECKING:
    from ..connection import Connection
    from ..domain import Domain

log = logging.getLogger("virtkernel.migration")

NON_SHARED = Migrate.NON_SHARED_DISK | Migrate.NON_SHARED_INC


class StoragePath(enum.Enum):
    """How non-shared disks travel."""

    NONE = "none"
    """Storage is shared (no NON_SHARED_* flag): nothing to copy."""
    NBD = "nbd"
    """The destination pre-creates the disks and serves them over NBD; the source mirrors into them."""
    FALLBACK = "fallback"
    """One side lacks NBD: disks travel by the driver's fallback (an in-stream copy), or the driver refuses."""
    AT_PREPARE = "decided-at-prepare"
    """The destination is not known yet (direct migration): it decides during Prepare."""

    def __str__(self) -> str:
        return self.value


def cookie_features_of(calls: DriverCalls) -> Optional[CookieFeature]:
    """The cookie features a driver declares through ``connect_get_migration_cookie_features``, None if it does not."""
    if not calls.has("connect_get_migration_cookie_features"):
        return None
    declared = calls.ops.connect_get_migration_cookie_features()
    return None if declared is None else CookieFeature(int(declared))


@dataclass
class MigrationPlan:
    """What a migration would do (or why it would be refused), with the reason for every decision."""

    domain: str
    entry_point: str
    source: str
    destination: Optional[str]
    flags: int
    protocol: Optional[Protocol] = None
    mode: Optional[MigrationMode] = None
    offline: bool = False
    source_cookie_features: Optional[CookieFeature] = None
    destination_cookie_features: Optional[CookieFeature] = None
    cookie_features: CookieFeature = CookieFeature(0)
    storage: StoragePath = StoragePath.NONE
    decisions: list[tuple[str, str]] = field(default_factory=list)
    error: Optional[VirtError] = None

    @property
    def ok(self) -> bool:
        """Whether the migration would go ahead."""
        return self.error is None

    @property
    def managed(self) -> bool:
        """The client drives the phases."""
        return self.mode is MigrationMode.MANAGED

    @property
    def p2p(self) -> bool:
        """The source drives the phases over its own connection to the destination."""
        return self.mode is MigrationMode.PEER2PEER

    @property
    def direct(self) -> bool:
        """The source hypervisor talks to the destination hypervisor without a destination connection."""
        return self.mode is MigrationMode.DIRECT

    def raise_for_error(self) -> None:
        """Raise the error the migration would fail with, if any."""
        if self.error is not None:
            raise self.error

    def describe(self) -> str:
        """A human-readable account of the plan (what ``virtkernel migrate --dry-run`` prints)."""
        def features(value: Optional[CookieFeature]) -> str:
            if value is None:
                return "(not declared)"
            return ", ".join(value.names()) or "(none)"

        lines = [f"Migration plan for domain '{self.domain}' ({self.entry_point})",
                 f"  source:          {self.source}",
                 f"  destination:     {self.destination or '(given by the migration URI)'}",
                 f"  mode:            {self.mode or '-'}",
                 f"  protocol:        {self.protocol or '-'}",
                 f"  offline:         {'yes' if self.offline else 'no'}",
                 f"  flags:           {flag_names(self.flags)}",
                 f"  cookie features: {features(self.cookie_features)}"
                 f" (source offers {features(self.source_cookie_features)};"
                 f" destination offers {features(self.destination_cookie_features)})",
                 f"  storage:         {self.storage}",
                 "Decisions:"]
        lines += [f"  - {decision}: {reason}" for decision, reason in self.decisions]
        if self.error is not None:
            lines.append(f"Refused: {self.error} (error code {self.error.code.name})")
        else:
            lines.append("Result: the migration would proceed")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()


def complete_plan(plan: MigrationPlan, src: DriverCalls, dst: Optional[DriverCalls], trace: Trace,
                  params: Optional[TypedParams] = None) -> MigrationPlan:
    """Fill in cookie features and the storage path from what the drivers declare; attach the trace.

    When disks must move without NBD, the drivers are asked whether they copy them another way: a refusal
    becomes the plan's error (unless negotiation already failed), in the driver's own words.
    """
    plan.offline = bool(plan.flags & Migrate.OFFLINE)
    plan.source_cookie_features = cookie_features_of(src)
    plan.destination_cookie_features = cookie_features_of(dst) if dst is not None else None
    source_features = plan.source_cookie_features or CookieFeature(0)
    if dst is not None:
        plan.cookie_features = source_features & (plan.destination_cookie_features or CookieFeature(0))
        trace.note("cookie features", "the features both hosts declare: "
                   + (", ".join(plan.cookie_features.names()) or "none"))
    else:
        plan.cookie_features = source_features
        trace.note("cookie features", "only the source is known; the destination accepts or drops optional ones")
    plan.storage = _storage_path(plan, dst is not None, params or {}, trace)
    if plan.storage is StoragePath.FALLBACK and not plan.offline and plan.error is None:
        plan.error = _storage_fallback_refusal(plan, src, dst, params or {}, trace)
    plan.decisions = list(trace.lines)
    return plan


def _storage_path(plan: MigrationPlan, dest_known: bool, params: TypedParams, trace: Trace) -> StoragePath:
    if not plan.flags & NON_SHARED:
        trace.note("storage: none", "no VIR_MIGRATE_NON_SHARED_* flag, the disks are shared")
        return StoragePath.NONE
    wanted = params.get("migrate_disks")
    if wanted is not None and not isinstance(wanted, str) and not list(wanted):
        trace.note("storage: none", "'migrate_disks' names no disk: there is nothing to copy")
        return StoragePath.NONE
    source_nbd = bool((plan.source_cookie_features or 0) & CookieFeature.NBD)
    if not source_nbd:
        trace.note("storage: fallback", "the source does not offer NBD storage migration")
        return StoragePath.FALLBACK
    if not dest_known:
        trace.note("storage: decided at Prepare", "the source offers NBD; the destination answers during Prepare")
        return StoragePath.AT_PREPARE
    if not (plan.destination_cookie_features or 0) & CookieFeature.NBD:
        trace.note("storage: fallback", "the destination does not offer NBD storage migration")
        return StoragePath.FALLBACK
    trace.note("storage: nbd", "both hosts offer NBD: the destination pre-creates the disks and serves them")
    return StoragePath.NBD


FALLBACK_PROBE = "connect_supports_migration_storage_fallback"


def _storage_fallback_refusal(plan: MigrationPlan, src: DriverCalls, dst: Optional[DriverCalls],
                              params: TypedParams, trace: Trace) -> Optional[VirtError]:
    """Ask the drivers, in the order a migration reaches them, whether they copy disks without NBD."""
    side = "destination" if (plan.source_cookie_features or 0) & CookieFeature.NBD else "source"
    dest_name = params.get("destination_name") or plan.domain
    hosts = [("source", src, plan.domain), ("destination", dst, dest_name)]
    if side == "destination":  # its Prepare runs before the source's Perform would start copying
        hosts.reverse()
    undeclared = []
    for host, calls, name in hosts:
        if calls is None:
            continue
        if not calls.has(FALLBACK_PROBE):
            undeclared.append(host)
            continue
        try:
            offered = calls.call(FALLBACK_PROBE, domain=name, side=side)
        except VirtError as exc:
            trace.note("storage fallback", f"refused by the {host} host: {exc}")
            return exc
        if offered is None:
            undeclared.append(host)
            continue
        if not offered:
            trace.note("storage fallback", f"refused by the {host} host: it has no other way to copy disks")
            return VirtError(
                f"cannot migrate the non-shared disks of domain '{name}': the {side} host does not offer NBD "
                f"storage migration, and the {host} host has no other way to copy them",
                code=ErrorCode.OPERATION_UNSUPPORTED, domain=ErrorDomain.DOMAIN)
    if undeclared:
        who = "neither host says" if len(undeclared) == 2 else f"the {undeclared[0]} host does not say"
        trace.note("storage fallback", f"{who} whether it can copy the disks without NBD: the migration will tell")
    elif dst is None:
        trace.note("storage fallback", "the source copies the disks inside the migration stream (the destination "
                   "is not known yet)")
    else:
        trace.note("storage fallback", "both hosts copy the disks inside the migration stream")
    return None


def log_plan(plan: MigrationPlan) -> None:
    """Log a real migration's plan at INFO."""
    if log.isEnabledFor(logging.INFO):  # describing it costs more than the rest of the negotiation
        log.info("%s", plan.describe())


def plan(domain: "Domain", dest_conn: Union["Connection", str, None] = None, flags: int = 0,
         params: Optional[dict[str, Any]] = None) -> MigrationPlan:
    """Negotiate a migration without migrating: the same checks and probes, the decisions and their reasons.

    ``dest_conn`` is a destination Connection (planned like migrate3, or like migrate with PEER2PEER), or a URI
    (planned like migrate_to_uri3: the destination's URI with PEER2PEER, else a migration URI), or None (a
    direct migration whose URI comes from ``params['migrate_uri']``). Negotiation failures are not raised but
    recorded in ``plan.error`` (see :meth:`MigrationPlan.raise_for_error`).
    """
    from . import entry
    return entry.plan_only(domain, dest_conn, int(flags), params)
