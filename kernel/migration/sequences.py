"""The phase sequences of a migration (spec 3.6) with libvirt's failure handling (3.7).

v1: Prepare → Perform → Finish. v2: source XML → Prepare2 → Perform → Finish2. v3 and v3-with-params:
Begin → Prepare → Perform → Finish → Confirm. A failed Perform or Finish cancels the destination and resumes
the source; the first error is the one the caller sees (clean-up calls cannot overwrite it).

The v3 sequence talks to a :class:`SourceSide` and a :class:`DestinationSide`. For a client-managed migration
both are the drivers' phase hooks (:class:`HookSource`, :class:`HookDestination`); for a peer-to-peer
migration run by a source driver (:mod:`virtkernel.migration.p2p`) the source side is the driver's own code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..driver import DriverCalls
from ..enums import DomainMigrateFlags as Migrate, DomainState, DomainXMLFlags, ErrorCode, ErrorDomain
from ..errors import InternalError, VirtError
from ..features import DriverFeature
from ..types import DomainRef, MigrationResult, TypedParams
from .negotiate import require_hook

log = logging.getLogger(__name__)

SOURCE_ONLY_FLAGS = Migrate.ABORT_ON_ERROR | Migrate.AUTO_CONVERGE
"""Flags that never reach destination-side phases."""


def destination_flags(flags: int) -> int:
    """The flags destination phases receive."""
    return flags & ~SOURCE_ONLY_FLAGS


def phase(what: str, call: Callable[[], Any]) -> Any:
    """Run one phase; a driver bug (non-VirtError) becomes an INTERNAL_ERROR naming the phase."""
    try:
        return call()
    except VirtError:
        raise
    except Exception as exc:  # a driver must raise VirtError; anything else is reported, never leaked
        raise InternalError(f"migration {what} failed inside the driver: {type(exc).__name__}: {exc}") from exc


def _result(what: str, value: Any) -> MigrationResult:
    if value is None:
        raise InternalError(f"the driver's migration {what} returned no result")
    if not isinstance(value, MigrationResult):
        raise InternalError(f"the driver's migration {what} returned {type(value).__name__}, not MigrationResult")
    return value


# -- the two sides ---------------------------------------------------------------------------------------------------

class SourceSide:
    """The source half of a v3 run: Begin, Perform (the data transfer) and Confirm, plus the domain's state.

    ``params`` is the working parameter dict in the v3-params form and None in the plain v3 form.
    """

    def __init__(self, ref: DomainRef, *, begin: Callable[..., MigrationResult],
                 perform: Callable[..., MigrationResult], confirm: Callable[..., Any],
                 is_paused: Callable[[], bool] = lambda: False) -> None:
        self.ref = ref
        self._begin, self._perform, self._confirm, self._is_paused = begin, perform, confirm, is_paused

    @property
    def name(self) -> str:
        """The domain's name on the source."""
        return self.ref.name

    def begin(self, *, params: Optional[TypedParams], xmlin: Optional[str], dname: Optional[str],
              bandwidth: int, flags: int) -> MigrationResult:
        """Begin: the domain XML for the destination and a cookie."""
        return self._begin(params=params, xmlin=xmlin, dname=dname, bandwidth=bandwidth, flags=flags)

    def is_paused(self, params_form: bool) -> bool:
        """Whether the domain is paused now (a failing state query counts as not paused)."""
        try:
            return bool(self._is_paused())
        except Exception:  # libvirt only adds PAUSED when the state query succeeded
            return False

    def perform(self, *, params: Optional[TypedParams], cookiein: Optional[bytes], uri: Optional[str],
                dname: Optional[str], bandwidth: int, flags: int) -> MigrationResult:
        """Perform: send the guest; the returned cookie goes to Finish."""
        return self._perform(params=params, cookiein=cookiein, uri=uri, dname=dname, bandwidth=bandwidth,
                             flags=flags)

    def confirm(self, *, params: Optional[TypedParams], cookiein: Optional[bytes], flags: int,
                cancelled: bool) -> Any:
        """Confirm: kill the source copy (cancelled=False) or resume it (cancelled=True)."""
        return self._confirm(params=params, cookiein=cookiein, flags=flags, cancelled=cancelled)


class HookSource(SourceSide):
    """The source side as the source driver's phase hooks (client-managed migration)."""

    def __init__(self, calls: DriverCalls, ref: DomainRef) -> None:
        self.calls = calls
        self.ref = ref

    def require_hooks(self, params_form: bool) -> None:
        """NO_SUPPORT unless Begin, Perform and Confirm are implemented."""
        suffix = "_params" if params_form else ""
        for hook, public in (("begin3", "Begin3"), ("perform3", "Perform3"), ("confirm3", "Confirm3")):
            require_hook(self.calls, f"domain_migrate_{hook}{suffix}",
                         f"virDomainMigrate{public}{'Params' if params_form else ''}")

    def begin(self, *, params, xmlin, dname, bandwidth, flags):  # type: ignore[no-untyped-def]
        if params is not None:
            return _result("Begin", self.calls.call("domain_migrate_begin3_params", dom=self.ref, params=params,
                                                    flags=flags))
        return _result("Begin", self.calls.call("domain_migrate_begin3", dom=self.ref, xmlin=xmlin, flags=flags,
                                                dname=dname, bandwidth=bandwidth))

    def is_paused(self, params_form: bool) -> bool:
        try:
            if params_form:
                state = self.calls.call("domain_get_state", dom=self.ref, flags=0)[0]
            else:
                state = self.calls.call("domain_get_info", dom=self.ref).state
        except Exception:  # libvirt only adds PAUSED when the state query succeeded
            return False
        return state == DomainState.PAUSED

    def perform(self, *, params, cookiein, uri, dname, bandwidth, flags):  # type: ignore[no-untyped-def]
        if params is not None:
            return _result("Perform", self.calls.call("domain_migrate_perform3_params", dom=self.ref, dconnuri=None,
                                                      params=params, cookiein=cookiein, flags=flags))
        return _result("Perform", self.calls.call("domain_migrate_perform3", dom=self.ref, xmlin=None,
                                                  cookiein=cookiein, dconnuri=None, uri=uri, flags=flags,
                                                  dname=dname, bandwidth=bandwidth))

    def confirm(self, *, params, cookiein, flags, cancelled):  # type: ignore[no-untyped-def]
        if params is not None:
            return self.calls.call("domain_migrate_confirm3_params", dom=self.ref, params=params, cookiein=cookiein,
                                   flags=flags, cancelled=cancelled)
        return self.calls.call("domain_migrate_confirm3", dom=self.ref, cookiein=cookiein, flags=flags,
                               cancelled=cancelled)


class DestinationSide:
    """The destination half of a v3 run: the destination driver's Prepare and Finish hooks."""

    def __init__(self, calls: DriverCalls) -> None:
        self.calls = calls

    def require_hooks(self, params_form: bool) -> None:
        """NO_SUPPORT unless Prepare and Finish are implemented."""
        suffix = "_params" if params_form else ""
        for hook, public in (("prepare3", "Prepare3"), ("finish3", "Finish3")):
            require_hook(self.calls, f"domain_migrate_{hook}{suffix}",
                         f"virDomainMigrate{public}{'Params' if params_form else ''}")

    def prepare(self, *, params: Optional[TypedParams], cookiein: Optional[bytes], uri: Optional[str],
                dname: Optional[str], bandwidth: int, dom_xml: str, flags: int) -> MigrationResult:
        """Prepare: get ready to receive; returns a cookie and maybe the URI to send to."""
        if params is not None:
            return _result("Prepare", self.calls.call("domain_migrate_prepare3_params", params=params,
                                                      cookiein=cookiein, flags=flags))
        return _result("Prepare", self.calls.call("domain_migrate_prepare3", cookiein=cookiein, uri_in=uri,
                                                  flags=flags, dname=dname, bandwidth=bandwidth, dom_xml=dom_xml))

    def finish(self, *, params: Optional[TypedParams], cookiein: Optional[bytes], dname: str, uri: Optional[str],
               flags: int, cancelled: bool) -> MigrationResult:
        """Finish: start (or discard, when cancelled) the arrived guest."""
        if params is not None:
            value = self.calls.call("domain_migrate_finish3_params", params=params, cookiein=cookiein, flags=flags,
                                    cancelled=cancelled)
        else:
            value = self.calls.call("domain_migrate_finish3", dname=dname, cookiein=cookiein, dconnuri=None,
                                    uri=uri, flags=flags, cancelled=cancelled)
        return value if value is not None else MigrationResult()


HookDestination = DestinationSide


# -- v3 and v3-with-params -------------------------------------------------------------------------------------------

@dataclass
class V3Inputs:
    """What a v3 run starts from: the fixed arguments (plain form) or the parameter dict (params form)."""

    params: Optional[TypedParams] = None
    xmlin: Optional[str] = None
    dname: Optional[str] = None
    uri: Optional[str] = None
    bandwidth: int = 0


class _FirstError:
    """The first meaningful error of a run, snapshotted once (libvirt's "preserve last error")."""

    def __init__(self) -> None:
        self.error: Optional[VirtError] = None

    def save(self, error: Optional[VirtError]) -> None:
        if self.error is None and error is not None:
            self.error = error


def run_v3(source: SourceSide, dest: DestinationSide, flags: int, inputs: V3Inputs, *,
           protection: int = 0) -> DomainRef:
    """Begin → Prepare → Perform → Finish → Confirm; return the domain on the destination or raise the first error.

    ``protection`` (CHANGE_PROTECTION or 0) is added to every source-side call, never to the destination's.
    """
    params = dict(inputs.params) if inputs.params is not None else None  # the caller's dict is never modified
    params_form = params is not None
    dname, uri, bandwidth = inputs.dname, inputs.uri, inputs.bandwidth
    if params is not None:
        dname = params.get("destination_name")
    first = _FirstError()
    cancelled = True
    notify_source = True
    ddomain: Optional[DomainRef] = None

    begin = phase("Begin", lambda: source.begin(params=params, xmlin=inputs.xmlin, dname=dname,
                                                 bandwidth=bandwidth, flags=flags | protection))
    dom_xml = begin.xml
    if dom_xml is None:
        raise InternalError("the source's migration Begin returned no domain XML")
    if source.is_paused(params_form) and not flags & Migrate.POSTCOPY_RESUME:
        flags |= Migrate.PAUSED
    destflags = destination_flags(flags)
    cookie: Optional[bytes] = begin.cookie

    prepared: Optional[MigrationResult] = None
    try:
        if params is not None:
            params["destination_xml"] = dom_xml
        prepared = phase("Prepare", lambda: dest.prepare(params=params, cookiein=cookie, uri=uri, dname=dname,
                                                          bandwidth=bandwidth, dom_xml=dom_xml, flags=destflags))
    except VirtError as exc:
        if not protection:
            raise
        # the job Begin started on the source must be ended: straight to Confirm
        first.save(exc)
        cookie = None
    if prepared is not None:
        cookie = prepared.cookie
        go_perform = True
        if prepared.uri_out:
            uri = prepared.uri_out
            if params is not None:
                params["migrate_uri"] = prepared.uri_out
        elif not uri and not (params or {}).get("migrate_uri"):
            first.save(InternalError("the destination's migration Prepare did not set a migration URI"))
            go_perform = False
        if go_perform and flags & Migrate.OFFLINE:
            cookie = None  # offline: nothing to send, Prepare's cookie is discarded
            cancelled = False
            go_perform = False
        if go_perform:
            try:
                performed = phase("Perform", lambda: source.perform(params=params, cookiein=cookie, uri=uri,
                                                                     dname=dname, bandwidth=bandwidth,
                                                                     flags=flags | protection))
                cookie = performed.cookie
                cancelled = False
            except VirtError as exc:
                first.save(exc)
                notify_source = False  # the source already aborted itself
                cookie = None
                cancelled = True

        finish_error: Optional[VirtError] = None
        finished: Optional[MigrationResult] = None
        finish_name = dname or source.name
        if params is not None and "destination_name" not in params:
            params["destination_name"] = source.name
        try:
            finished = phase("Finish", lambda: dest.finish(params=params, cookiein=cookie, dname=finish_name,
                                                            uri=uri, flags=destflags, cancelled=cancelled))
            ddomain = finished.domain
        except VirtError as exc:
            finish_error = exc
        cookie = finished.cookie if finished is not None else None
        if cancelled:
            if ddomain is not None:
                log.error("migration of '%s': the destination's Finish ignored the cancellation and kept the domain",
                          source.name)
            elif _qemu_override(first.error, finish_error):
                first.error = None
        cancelled = ddomain is None
        if ddomain is None and finish_error is None and first.error is None:
            finish_error = InternalError(f"domain '{finish_name}' did not arrive on the destination")
        first.save(finish_error)

    if notify_source:
        try:
            phase("Confirm", lambda: source.confirm(params=params, cookiein=cookie, flags=flags | protection,
                                                     cancelled=cancelled))
        except VirtError as exc:
            log.warning("migration of '%s': the source's Confirm failed (%s); the guest may be left paused on the "
                        "source", source.name, exc)
    if ddomain is None:
        raise first.error or InternalError("migration failed without an error report")
    if first.error is not None:
        log.warning("migration of '%s' completed although an earlier phase reported: %s", source.name, first.error)
    return ddomain


def _qemu_override(saved: Optional[VirtError], current: Optional[VirtError]) -> bool:
    """Finish's QEMU error replaces a generic QEMU OPERATION_FAILED from Perform (libvirt's rule)."""
    return (saved is not None and current is not None
            and saved.domain == ErrorDomain.QEMU and saved.code == ErrorCode.OPERATION_FAILED
            and current.domain == ErrorDomain.QEMU and current.code != ErrorCode.MIGRATE_FINISH_OK)


# -- v2 and v1 (client-managed only) ---------------------------------------------------------------------------------

def _paused(src: DriverCalls, ref: DomainRef) -> bool:
    try:
        return src.call("domain_get_info", dom=ref).state == DomainState.PAUSED
    except Exception:
        return False


def run_v2(src: DriverCalls, dst: DriverCalls, ref: DomainRef, flags: int, dname: Optional[str],
           uri: Optional[str], bandwidth: int) -> DomainRef:
    """Source XML → Prepare2 → Perform → Finish2 (Finish2 always runs once Prepare2 succeeded)."""
    require_hook(src, "domain_get_xml_desc", "virDomainGetXMLDesc")
    if src.supports(DriverFeature.XML_MIGRATABLE):
        xml_flags = DomainXMLFlags.MIGRATABLE
    else:
        xml_flags = DomainXMLFlags.SECURE | DomainXMLFlags.UPDATE_CPU
    dom_xml = phase("XML fetch", lambda: src.call("domain_get_xml_desc", dom=ref, flags=int(xml_flags)))
    if dom_xml is None:
        raise InternalError(f"the source returned no XML for domain '{ref.name}'")
    if _paused(src, ref):
        flags |= Migrate.PAUSED
    destflags = destination_flags(flags)
    prepared = _result("Prepare2", phase("Prepare2", lambda: dst.call(
        "domain_migrate_prepare2", uri_in=uri, flags=destflags, dname=dname, bandwidth=bandwidth, dom_xml=dom_xml)))
    first = _FirstError()
    cookie = prepared.cookie
    cancelled = True
    if not uri and not prepared.uri_out:
        first.save(InternalError("the destination's migration Prepare2 did not set a migration URI"))
    else:
        uri = prepared.uri_out or uri
        try:
            phase("Perform", lambda: _int_result("Perform", src.call(
                "domain_migrate_perform", dom=ref, cookie=cookie, uri=uri, flags=flags, dname=dname,
                bandwidth=bandwidth)))
            cancelled = False
        except VirtError as exc:
            first.save(exc)
    finish_name = dname or ref.name
    ddomain: Optional[DomainRef] = None
    try:
        finished = phase("Finish2", lambda: dst.call("domain_migrate_finish2", dname=finish_name, cookie=cookie,
                                                      uri=uri, flags=destflags, retcode=int(cancelled)))
        ddomain = finished.domain if isinstance(finished, MigrationResult) else finished
    except VirtError as exc:
        first.save(exc)
    if cancelled and ddomain is not None:
        log.error("migration of '%s': the destination's Finish2 ignored the cancellation and kept the domain",
                  ref.name)
    if ddomain is None:
        raise first.error or InternalError(f"domain '{finish_name}' did not arrive on the destination")
    return ddomain


def run_v1(src: DriverCalls, dst: DriverCalls, ref: DomainRef, flags: int, dname: Optional[str],
           uri: Optional[str], bandwidth: int) -> DomainRef:
    """Prepare → Perform → Finish (or a lookup by name when the destination has no Finish)."""
    if _paused(src, ref):
        flags |= Migrate.PAUSED
    destflags = destination_flags(flags)
    prepared = _result("Prepare", phase("Prepare", lambda: dst.call(
        "domain_migrate_prepare", uri_in=uri, flags=destflags, dname=dname, bandwidth=bandwidth)))
    if not uri and not prepared.uri_out:
        raise InternalError("the destination's migration Prepare did not set a migration URI")
    uri = prepared.uri_out or uri
    cookie = prepared.cookie
    phase("Perform", lambda: _int_result("Perform", src.call("domain_migrate_perform", dom=ref, cookie=cookie,
                                                             uri=uri, flags=flags, dname=dname, bandwidth=bandwidth)))
    finish_name = dname or ref.name
    if dst.has("domain_migrate_finish"):
        ddomain = phase("Finish", lambda: dst.call("domain_migrate_finish", dname=finish_name, cookie=cookie, uri=uri,
                                                    flags=destflags))
        if ddomain is None:
            raise InternalError(f"domain '{finish_name}' did not arrive on the destination")
        return ddomain
    return phase("lookup", lambda: dst.call("domain_lookup_by_name", name=finish_name))


def _int_result(what: str, value: Any) -> Any:
    if value is None:
        raise InternalError(f"the driver's migration {what} returned no result")
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise InternalError(f"the driver's migration {what} failed without an error report")
    return value
