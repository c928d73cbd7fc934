"""Protocol selection from feature probes (spec 3.4, 3.5), recording a reason for every decision.

The same functions serve the real migration and :func:`virtkernel.migration.plan`, so a plan is exactly what
a migration would do. Every probe is one ``connect_supports_feature`` call; a probe that raises fails the
selection with the driver's error, as in libvirt.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Optional

from ..checks import probe_unsupported
from ..driver import DriverCalls
from ..enums import DomainMigrateFlags as Migrate, ErrorCode, ErrorDomain
from ..errors import NoSupport, OperationInvalid
from ..features import DriverFeature
from ..types import TypedParams

BASIC_PARAMS = frozenset({"migrate_uri", "destination_name", "destination_xml", "bandwidth"})
"""The only parameters protocols older than v3-with-params can carry."""
PROTOCOL2_PARAMS = frozenset({"migrate_uri", "destination_name", "bandwidth"})
"""What the v1/v2 Perform hook of an unmanaged migration can carry (no destination XML)."""


class Protocol(enum.Enum):
    """The hook family a migration runs with."""

    V1 = "v1"
    V2 = "v2"
    V3 = "v3"
    V3_PARAMS = "v3-params"

    def __str__(self) -> str:
        return self.value


class MigrationMode(enum.Enum):
    """Who drives the phases."""

    MANAGED = "client-managed"
    PEER2PEER = "peer-to-peer"
    DIRECT = "direct"

    def __str__(self) -> str:
        return self.value


@dataclass
class Trace:
    """The (decision, reason) lines of one negotiation, in the order they were taken."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def note(self, decision: str, reason: str) -> None:
        """Record one decision and why it was taken."""
        self.lines.append((decision, reason))


def probe(calls: DriverCalls, feature: DriverFeature, side: str, trace: Trace) -> bool:
    """Ask one side's driver about a feature (driver errors propagate); record the answer."""
    answer = calls.supports(feature)
    trace.note(f"probe {feature.name} on {side}", "supported" if answer else "not supported")
    return answer


def probe_both(src: DriverCalls, dst: DriverCalls, feature: DriverFeature, trace: Trace) -> bool:
    """Probe the source, then the destination (both are always asked, as libvirt does)."""
    on_source = probe(src, feature, "source", trace)
    on_dest = probe(dst, feature, "destination", trace)
    return on_source and on_dest


def flag_names(flags: int) -> str:
    """VIR_MIGRATE_* names of a flag set, for messages and plans."""
    names = [f"VIR_MIGRATE_{f.name}" for f in Migrate if f & flags]
    return "|".join(names) if names else "0"


# -- pre-checks that involve probes (3.3) ---------------------------------------------------------------------------

def check_offline(src: DriverCalls, dst: Optional[DriverCalls], flags: int, trace: Trace) -> None:
    """OFFLINE needs MIGRATION_OFFLINE on the source, then (when there is one) on the destination."""
    if not flags & Migrate.OFFLINE:
        return
    if not probe(src, DriverFeature.MIGRATION_OFFLINE, "source", trace):
        raise probe_unsupported("offline migration is not supported by the source host")
    if dst is not None and not probe(dst, DriverFeature.MIGRATION_OFFLINE, "destination", trace):
        raise probe_unsupported("offline migration is not supported by the destination host")
    trace.note("offline migration", "VIR_MIGRATE_OFFLINE requested and both hosts support it"
               if dst is not None else "VIR_MIGRATE_OFFLINE requested and the source supports it")


def check_change_protection(src: DriverCalls, flags: int, trace: Trace) -> int:
    """Client-managed: CHANGE_PROTECTION must be supported by the source; return the flags without it."""
    if flags & Migrate.CHANGE_PROTECTION:
        if not probe(src, DriverFeature.MIGRATE_CHANGE_PROTECTION, "source", trace):
            raise probe_unsupported("cannot enforce change protection: the source host does not support it")
        trace.note("change protection masked", "the client drives the phases; v3 re-adds it to source calls "
                   "when the source supports it")
    return flags & ~Migrate.CHANGE_PROTECTION


def check_unmanaged(src: DriverCalls, flags: int, trace: Trace) -> MigrationMode:
    """The ToURI compat checks that need probes (3.3.4 steps 3 and 4); return the mode."""
    check_offline(src, None, flags, trace)
    if flags & Migrate.PEER2PEER:
        if not probe(src, DriverFeature.MIGRATION_P2P, "source", trace):
            raise probe_unsupported("peer-to-peer migration is not supported by the source host")
        trace.note("peer-to-peer", "VIR_MIGRATE_PEER2PEER requested and the source supports it")
        return MigrationMode.PEER2PEER
    if not probe(src, DriverFeature.MIGRATION_DIRECT, "source", trace):
        raise probe_unsupported("direct migration is not supported by the source host")
    trace.note("direct", "no VIR_MIGRATE_PEER2PEER: the source hypervisor talks to the destination itself")
    return MigrationMode.DIRECT


# -- selection (3.4) ------------------------------------------------------------------------------------------------

def require_p2p_for_connection(src: DriverCalls, trace: Trace) -> None:
    """Migrate/Migrate2 with PEER2PEER: the source must support it (NO_SUPPORT otherwise)."""
    if not probe(src, DriverFeature.MIGRATION_P2P, "source", trace):
        raise NoSupport("peer-to-peer migration is not supported by the source host",
                        code=ErrorCode.NO_SUPPORT, domain=ErrorDomain.DOMAIN)
    trace.note("peer-to-peer", "VIR_MIGRATE_PEER2PEER requested and the source supports it")


def refuse_tunnelled_without_p2p(flags: int) -> None:
    """Migrate/Migrate2 without PEER2PEER cannot tunnel (OPERATION_INVALID)."""
    if flags & Migrate.TUNNELLED:
        raise OperationInvalid("tunnelled migration requires peer-to-peer migration (VIR_MIGRATE_PEER2PEER)",
                               code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)


def select_managed(src: DriverCalls, dst: DriverCalls, has_dxml: bool, trace: Trace) -> Protocol:
    """Migrate/Migrate2 without PEER2PEER: v3, else v2, else v1, by what both sides answer."""
    if probe_both(src, dst, DriverFeature.MIGRATION_V3, trace):
        trace.note("protocol v3", "both hosts support migration protocol 3")
        return Protocol.V3
    return _older_protocol(src, dst, has_dxml, trace, "destination XML")


def _older_protocol(src: DriverCalls, dst: DriverCalls, has_dxml: bool, trace: Trace, what: str) -> Protocol:
    for feature, protocol in ((DriverFeature.MIGRATION_V2, Protocol.V2), (DriverFeature.MIGRATION_V1, Protocol.V1)):
        if probe_both(src, dst, feature, trace):
            if has_dxml:
                raise probe_unsupported(f"cannot change the target XML ({what}) with migration protocol "
                                        f"{protocol.value[1:]}: both hosts need protocol 3")
            trace.note(f"protocol {protocol}", f"both hosts support migration protocol {protocol.value[1:]} "
                       "but not a newer one")
            return protocol
    trace.note("no protocol", "the hosts share no migration protocol")
    raise NoSupport("migration is not supported: the source and destination hosts share no migration protocol",
                    code=ErrorCode.NO_SUPPORT, domain=ErrorDomain.DOMAIN)


def select_migrate3(src: DriverCalls, dst: DriverCalls, params: TypedParams, trace: Trace) -> Protocol:
    """Migrate3: v3 with params, else (only the four basic params allowed) v3, v2, v1."""
    if probe_both(src, dst, DriverFeature.MIGRATION_PARAMS, trace):
        trace.note("protocol v3-params", "both hosts support migration protocol 3 with extensible parameters")
        return Protocol.V3_PARAMS
    extended = sorted(set(params) - BASIC_PARAMS)
    if extended:
        raise probe_unsupported("migration with extensible parameters is not supported by both hosts but "
                                f"extended parameters were passed: {', '.join(extended)}")
    if probe_both(src, dst, DriverFeature.MIGRATION_V3, trace):
        trace.note("protocol v3", "both hosts support migration protocol 3 but not extensible parameters")
        return Protocol.V3
    return _older_protocol(src, dst, "destination_xml" in params, trace, "destination_xml")


def select_unmanaged(src: DriverCalls, mode: MigrationMode, params: TypedParams, trace: Trace) -> Protocol:
    """ToURI family and P2P via Migrate: Perform3Params (P2P only), else Perform3, else the v2 Perform."""
    if mode is MigrationMode.PEER2PEER and probe(src, DriverFeature.MIGRATION_PARAMS, "source", trace):
        require_hook(src, "domain_migrate_perform3_params", "virDomainMigratePerform3Params")
        trace.note("source Perform3Params", "peer-to-peer and the source supports extensible parameters")
        return Protocol.V3_PARAMS
    if probe(src, DriverFeature.MIGRATION_V3, "source", trace):
        require_hook(src, "domain_migrate_perform3", "virDomainMigratePerform3")
        extra = sorted(set(params) - BASIC_PARAMS)
        if extra:
            raise probe_unsupported(f"some parameters are not supported by migration protocol 3: {', '.join(extra)}")
        trace.note("source Perform3", "the source supports migration protocol 3"
                   + (" but not extensible parameters" if mode is MigrationMode.PEER2PEER else
                      " (direct migration never uses extensible parameters)"))
        return Protocol.V3
    require_hook(src, "domain_migrate_perform", "virDomainMigratePerform")
    extra = sorted(set(params) - PROTOCOL2_PARAMS)
    if extra:
        raise probe_unsupported(f"some parameters are not supported by migration protocol 2: {', '.join(extra)}")
    trace.note("source Perform (protocol 2)", "the source supports neither protocol 3 nor extensible parameters")
    return Protocol.V2


def require_hook(calls: DriverCalls, hook: str, public: str) -> None:
    """NO_SUPPORT unless the driver implements ``hook``."""
    if not calls.has(hook):
        raise NoSupport(f"this function is not supported by the connection driver '{calls.scheme}': {public}",
                        code=ErrorCode.NO_SUPPORT, domain=ErrorDomain.DOMAIN)


def check_not_local(dconnuri: str, trace: Trace) -> None:
    """Peer-to-peer: refuse a destination URI that points back at this host (spec 3.9)."""
    from ..checks import invalid_arg
    from ..uri import parse_uri
    parsed = parse_uri(dconnuri)
    if parsed.host is not None:
        if parsed.host.lower().startswith("localhost"):
            raise invalid_arg(f"attempt to migrate to the same host: the destination URI '{dconnuri}' names "
                              f"'{parsed.host}'")
    else:
        unix_socket = parsed.transport == "unix" and any(k.lower() == "socket" for k in parsed.query)
        if not unix_socket:
            raise invalid_arg(f"attempt to migrate to the same host: the destination URI '{dconnuri}' names no "
                              "server (use a host name, or a '+unix' URI with a 'socket' parameter)")
    trace.note("destination is another host", f"'{dconnuri}' names a remote server or an explicit socket")
