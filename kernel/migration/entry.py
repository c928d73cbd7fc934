"""What the public migrate entry points do after their argument checks: probe, select, log the plan, run.

Client-managed (3.4.2, 3.4.3): :func:`migrate_with_connection` and :func:`migrate3_with_connection` run the v3,
v2 or v1 sequence of :mod:`.sequences`. Unmanaged (3.5): :func:`migrate_unmanaged` calls the source driver's
Perform3Params, Perform3 or Perform hook once; the driver does the rest (see :mod:`.p2p` for peer-to-peer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

from ..checks import invalid_arg, opt_non_empty
from ..driver import DriverCalls
from ..enums import DomainMigrateFlags as Migrate, DomainPausedReason, DomainState, ErrorCode, ErrorDomain
from ..errors import ArgumentUnsupported, InternalError, OperationInvalid, VirtError
from ..features import DriverFeature
from ..types import DomainRef, MigrationResult, TypedParams
from . import negotiate
from .negotiate import MigrationMode, Protocol, Trace
from .plan import MigrationPlan, complete_plan, log_plan
from .sequences import HookDestination, HookSource, V3Inputs, phase, run_v1, run_v2, run_v3

if TYPE_CHECKING:
    from ..connection import Connection
    from ..domain import Domain


# -- parameters ------------------------------------------------------------------------------------------------------

def params_dname(params: TypedParams, function: str) -> Optional[str]:
    """The destination name from typed parameters (a wrong type is an error)."""
    value = params.get("destination_name")
    if value is not None and not isinstance(value, str):
        raise invalid_arg(f"{function}: parameter 'destination_name' must be a string, not {type(value).__name__}")
    return value


def validated_params(params: Optional[TypedParams], function: str) -> TypedParams:
    """The caller's migration parameters checked against schemas/migration.json (a copy; the caller's is untouched)."""
    from ..typedparams import check
    if params is None:
        return {}
    return dict(check(params, "migration", function=function))


def build_params(miguri: Optional[str], dname: Optional[str], xmlin: Optional[str], bandwidth: int) -> TypedParams:
    """The fixed arguments of migrate/migrate2/migrate_to_uri/migrate_to_uri2 as typed parameters (3.5)."""
    params: TypedParams = {}
    if miguri is not None:
        params["migrate_uri"] = miguri
    if dname is not None:
        params["destination_name"] = dname
    if xmlin is not None:
        params["destination_xml"] = xmlin
    params["bandwidth"] = int(bandwidth)
    return params


# -- checks with probes ------------------------------------------------------------------------------------------------

def check_offline(dom: "Domain", dconn: Optional["Connection"], flags: int, trace: Trace) -> None:
    """OFFLINE needs MIGRATION_OFFLINE on the source, then on the destination."""
    negotiate.check_offline(dom._calls, dconn._calls if dconn is not None else None, flags, trace)


def check_postcopy_resume(dom: "Domain", flags: int, function: str) -> None:
    """VIR_MIGRATE_POSTCOPY_RESUME needs VIR_MIGRATE_POSTCOPY and a domain whose post-copy migration failed.

    The state check asks the source driver (a driver without state queries leaves the check to its phases).
    """
    if not flags & Migrate.POSTCOPY_RESUME:
        return
    if not flags & Migrate.POSTCOPY:
        raise ArgumentUnsupported(f"{function}: resuming a failed post-copy migration (VIR_MIGRATE_POSTCOPY_RESUME) "
                                  "requires post-copy to be enabled (VIR_MIGRATE_POSTCOPY)",
                                  code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.DOMAIN)
    try:
        state, reason = dom._calls.call("domain_get_state", dom=dom.ref, flags=0)
    except VirtError as exc:
        if exc.code == ErrorCode.NO_SUPPORT:
            return
        raise
    if (state, reason) != (DomainState.PAUSED, DomainPausedReason.POSTCOPY_FAILED):
        raise OperationInvalid(f"{function}: post-copy migration of domain '{dom.name}' has not failed (the domain "
                               f"is {describe_state(state, reason)}): VIR_MIGRATE_POSTCOPY_RESUME only resumes a "
                               "post-copy migration that broke, whose source is paused with reason "
                               "'post-copy failed'", code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)


def describe_state(state: int, reason: int) -> str:
    """'paused (post-copy failed)', 'running (booted)', ... for messages."""
    from .. import enums
    try:
        kind = DomainState(state)
    except ValueError:
        return f"in state {state}"
    reasons = getattr(enums, f"Domain{kind.name.title().replace('_', '')}Reason", None)
    try:
        why = reasons(reason).name.lower().replace("_", " ").replace("postcopy", "post-copy") if reasons else ""
    except ValueError:
        why = ""
    return kind.name.lower() + (f" ({why})" if why else "")


def refuse_unmanaged_flags_in_migrate3(flags: int) -> None:
    """migrate3 is client-managed only: PEER2PEER and TUNNELLED are invalid there."""
    if flags & Migrate.PEER2PEER:
        raise invalid_arg("virDomainMigrate3 does not support peer-to-peer migration: use migrate_to_uri3 with "
                          "VIR_MIGRATE_PEER2PEER")
    if flags & Migrate.TUNNELLED:
        raise invalid_arg("tunnelled migration requires peer-to-peer migration (migrate_to_uri3 with "
                          "VIR_MIGRATE_PEER2PEER)")


def check_and_clear_change_protection(dom: "Domain", flags: int, trace: Trace) -> int:
    """Client-managed: the source must support CHANGE_PROTECTION when asked for; the flag is then cleared."""
    return negotiate.check_change_protection(dom._calls, flags, trace)


def unmanaged_compat_checks(dom: "Domain", flags: int, trace: Trace) -> MigrationMode:
    """The ToURI compat checks (3.3.4): storage flags, offline, then peer-to-peer or direct support."""
    from .public import check_storage_flags
    check_storage_flags(flags)
    return negotiate.check_unmanaged(dom._calls, flags, trace)


# -- client-managed ----------------------------------------------------------------------------------------------------

def _plan(dom: "Domain", entry_point: str, destination: Optional[str], flags: int, protocol: Optional[Protocol],
          mode: Optional[MigrationMode], dst: Optional[DriverCalls], trace: Trace,
          params: Optional[TypedParams] = None) -> MigrationPlan:
    plan = MigrationPlan(domain=dom.name, entry_point=entry_point, source=dom.connection.uri.text,
                         destination=destination, flags=flags, protocol=protocol, mode=mode)
    return complete_plan(plan, dom._calls, dst, trace, params)


def migrate_with_connection(dom: "Domain", dconn: "Connection", flags: int, *, dname: Optional[str],
                            uri: Optional[str], bandwidth: int, dxml: Optional[str], version: int,
                            trace: Trace) -> "Domain":
    """virDomainMigrate / virDomainMigrate2 after their checks: peer-to-peer, or v3 → v2 → v1 (3.4.1, 3.4.2)."""
    entry_point = "virDomainMigrate" if version == 1 else "virDomainMigrate2"
    src, dst = dom._calls, dconn._calls
    if flags & Migrate.PEER2PEER:
        negotiate.require_p2p_for_connection(src, trace)
        if version == 1:
            dconnuri, miguri, xmlin = uri or dconn.get_uri(), None, None
        else:
            dconnuri, miguri, xmlin = dconn.get_uri(), uri, dxml
        params = build_params(miguri, dname, xmlin, bandwidth)
        migrate_unmanaged(dom, dconnuri, params, flags, trace, MigrationMode.PEER2PEER,
                          entry_point=entry_point, dst=dst)
        return dconn.lookup_by_name(dname or dom.name)
    flags = negotiate.check_change_protection(src, flags, trace)
    negotiate.refuse_tunnelled_without_p2p(flags)
    protocol = negotiate.select_managed(src, dst, dxml is not None, trace)
    return _run_managed(dom, dconn, protocol, flags, V3Inputs(xmlin=dxml, dname=dname, uri=uri, bandwidth=bandwidth),
                        entry_point, trace)


def migrate3_with_connection(dom: "Domain", dconn: "Connection", params: TypedParams, flags: int,
                             trace: Trace) -> "Domain":
    """virDomainMigrate3 after its checks: v3-params → v3 → v2 → v1 (3.4.3)."""
    protocol = negotiate.select_migrate3(dom._calls, dconn._calls, params, trace)
    if protocol is Protocol.V3_PARAMS:
        inputs = V3Inputs(params=params)
    else:
        inputs = V3Inputs(xmlin=params.get("destination_xml"), dname=params.get("destination_name"),
                          uri=params.get("migrate_uri"), bandwidth=int(params.get("bandwidth", 0)))
    return _run_managed(dom, dconn, protocol, flags, inputs, "virDomainMigrate3", trace)


def _run_managed(dom: "Domain", dconn: "Connection", protocol: Protocol, flags: int, inputs: V3Inputs,
                 entry_point: str, trace: Trace) -> "Domain":
    from ..domain import Domain
    src, dst = dom._calls, dconn._calls
    opt_non_empty(inputs.dname, "dname", entry_point)
    protection = 0
    if protocol in (Protocol.V3, Protocol.V3_PARAMS):
        params_form = protocol is Protocol.V3_PARAMS
        source, dest = HookSource(src, dom.ref), HookDestination(dst)
        source.require_hooks(params_form)
        dest.require_hooks(params_form)
        if negotiate.probe(src, DriverFeature.MIGRATE_CHANGE_PROTECTION, "source", trace):
            protection = int(Migrate.CHANGE_PROTECTION)
            trace.note("change protection", "the source supports it: added to Begin, Perform and Confirm")
    plan_params = inputs.params if inputs.params is not None else {"destination_name": inputs.dname}
    log_plan(_plan(dom, entry_point, dconn.uri.text, flags | protection, protocol, MigrationMode.MANAGED, dst, trace,
                   plan_params))
    if protocol in (Protocol.V3, Protocol.V3_PARAMS):
        ref = run_v3(source, dest, flags, inputs, protection=protection)
    elif protocol is Protocol.V2:
        ref = run_v2(src, dst, dom.ref, flags, inputs.dname, inputs.uri, inputs.bandwidth)
    else:
        ref = run_v1(src, dst, dom.ref, flags, inputs.dname, inputs.uri, inputs.bandwidth)
    if not isinstance(ref, DomainRef):
        raise InternalError(f"the destination returned {type(ref).__name__} instead of the migrated domain")
    return Domain(dconn, ref)


# -- unmanaged (peer-to-peer and direct) -------------------------------------------------------------------------------

def migrate_unmanaged(dom: "Domain", dconnuri: Optional[str], params: TypedParams, flags: int, trace: Trace,
                      mode: MigrationMode, *, entry_point: str = "virDomainMigrateToURI",
                      dst: Optional[DriverCalls] = None) -> Any:
    """The params helper of 3.5: pick the source's Perform hook and call it once."""
    src = dom._calls
    if mode is MigrationMode.PEER2PEER:
        negotiate.check_not_local(dconnuri or "", trace)
    protocol = negotiate.select_unmanaged(src, mode, params, trace)
    log_plan(_plan(dom, entry_point, dconnuri or params.get("migrate_uri"), flags, protocol, mode, dst, trace, params))
    if protocol is Protocol.V3_PARAMS:
        return phase("Perform", lambda: src.call("domain_migrate_perform3_params", dom=dom.ref, dconnuri=dconnuri,
                                                 params=dict(params), cookiein=None, flags=flags))
    dname = params_dname(params, entry_point)
    for name in ("migrate_uri", "destination_xml"):
        if params.get(name) is not None and not isinstance(params[name], str):
            raise invalid_arg(f"{entry_point}: parameter '{name}' must be a string")
    opt_non_empty(dname, "destination_name", entry_point)
    bandwidth = int(params.get("bandwidth", 0))
    if protocol is Protocol.V3:
        return phase("Perform", lambda: src.call("domain_migrate_perform3", dom=dom.ref,
                                                 xmlin=params.get("destination_xml"), cookiein=None,
                                                 dconnuri=dconnuri, uri=params.get("migrate_uri"), flags=flags,
                                                 dname=dname, bandwidth=bandwidth))
    if mode is MigrationMode.PEER2PEER:
        if "migrate_uri" in params:
            raise InternalError("cannot override the peer-to-peer migration URI with protocol 2: the source "
                                "uses the destination's URI")
        uri = dconnuri
    else:
        uri = params.get("migrate_uri")
    result = phase("Perform", lambda: src.call("domain_migrate_perform", dom=dom.ref, cookie=None, uri=uri,
                                               flags=flags, dname=dname, bandwidth=bandwidth))
    if result is None or (isinstance(result, int) and not isinstance(result, bool) and result < 0):
        raise InternalError("the source's migration Perform failed without an error report")
    return result


# -- plan without migrating ------------------------------------------------------------------------------------------

def plan_only(dom: "Domain", dest: Union["Connection", str, None], flags: int,
              params: Optional[TypedParams]) -> MigrationPlan:
    """The negotiation part of migrate3 / migrate(PEER2PEER) / migrate_to_uri3, recorded instead of executed."""
    from ..connection import Connection
    from .public import check_storage_flags, check_tunnelled_parallel
    trace = Trace()
    dst = dest._calls if isinstance(dest, Connection) else None
    if isinstance(dest, Connection):
        entry_point = "virDomainMigrate (peer-to-peer)" if flags & Migrate.PEER2PEER else "virDomainMigrate3"
        destination: Optional[str] = dest.uri.text
    else:
        entry_point = "virDomainMigrateToURI3"
        destination = dest
    protocol: Optional[Protocol] = None
    mode: Optional[MigrationMode] = None
    error: Optional[VirtError] = None
    working: TypedParams = {}
    try:
        dom._valid()
        working = validated_params(params, "plan")
        check_storage_flags(flags)
        check_postcopy_resume(dom, flags, entry_point)
        if isinstance(dest, Connection):
            dest._valid()
            if flags & Migrate.PEER2PEER:
                check_tunnelled_parallel(flags)
                check_offline(dom, dest, flags, trace)
                negotiate.require_p2p_for_connection(dom._calls, trace)
                mode = MigrationMode.PEER2PEER
                dconnuri = dest.get_uri()
                negotiate.check_not_local(dconnuri, trace)
                protocol = negotiate.select_unmanaged(dom._calls, mode, working, trace)
            else:
                refuse_unmanaged_flags_in_migrate3(flags)
                opt_non_empty(working.get("destination_name"), "destination_name", entry_point)
                check_offline(dom, dest, flags, trace)
                flags = check_and_clear_change_protection(dom, flags, trace)
                mode = MigrationMode.MANAGED
                protocol = negotiate.select_migrate3(dom._calls, dest._calls, working, trace)
                if negotiate.probe(dom._calls, DriverFeature.MIGRATE_CHANGE_PROTECTION, "source", trace) and \
                        protocol in (Protocol.V3, Protocol.V3_PARAMS):
                    flags |= Migrate.CHANGE_PROTECTION
                    trace.note("change protection", "the source supports it: added to Begin, Perform and Confirm")
        else:
            check_tunnelled_parallel(flags)
            mode = unmanaged_compat_checks(dom, flags, trace)
            if mode is MigrationMode.PEER2PEER:
                if dest is None:
                    raise invalid_arg("virDomainMigrateToURI3: peer-to-peer migration needs the destination's URI")
                negotiate.check_not_local(dest, trace)
            elif dest is not None:
                working.setdefault("migrate_uri", dest)
            protocol = negotiate.select_unmanaged(dom._calls, mode, working, trace)
    except VirtError as exc:
        error = exc
        trace.note("refused", str(exc))
    plan = MigrationPlan(domain=dom.name, entry_point=entry_point, source=dom.connection.uri.text,
                         destination=destination, flags=flags, protocol=protocol, mode=mode, error=error)
    return complete_plan(plan, dom._calls, dst, trace, working)


__all__ = ["params_dname", "validated_params", "build_params", "check_postcopy_resume", "migrate_with_connection",
           "migrate3_with_connection", "migrate_unmanaged", "plan_only", "MigrationResult"]
