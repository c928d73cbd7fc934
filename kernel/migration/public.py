"""The migration entry points of Domain and Connection: argument checks in libvirt's order, then the orchestration.

The six public entry points (migrate, migrate2, migrate3, migrate_to_uri, migrate_to_uri2, migrate_to_uri3) run
the pre-checks of spec section 3.3 here and hand over to :mod:`virtkernel.migration.entry`, which selects the
protocol (3.4) and runs the phase sequences (3.5, 3.6). The phase entry points ("not for public use") check the
handle, the read-only refusal and the destination name, then call the driver's hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ..checks import entry_point, exclusive, not_none, opt_non_empty, requires
from ..enums import DomainMigrateFlags as Migrate
from ..types import MigrationResult, TypedParams
from .negotiate import Trace

if TYPE_CHECKING:
    from ..connection import Connection
    from ..domain import Domain

_DISK_INC = ("VIR_MIGRATE_NON_SHARED_DISK", "VIR_MIGRATE_NON_SHARED_INC")
_TUNNELLED_PARALLEL = ("VIR_MIGRATE_TUNNELLED", "VIR_MIGRATE_PARALLEL")
_SYNC_WRITES = ("VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES", "VIR_MIGRATE_NON_SHARED_DISK|VIR_MIGRATE_NON_SHARED_INC")


def check_storage_flags(flags: int) -> None:
    """NON_SHARED_DISK excludes NON_SHARED_INC; synchronous writes need one of them (all six entry points)."""
    exclusive(flags, Migrate.NON_SHARED_DISK, Migrate.NON_SHARED_INC, _DISK_INC)
    requires(flags, Migrate.NON_SHARED_SYNCHRONOUS_WRITES, Migrate.NON_SHARED_DISK | Migrate.NON_SHARED_INC,
             _SYNC_WRITES)


def check_tunnelled_parallel(flags: int) -> None:
    """TUNNELLED excludes PARALLEL (Migrate, Migrate2 and the ToURI family)."""
    exclusive(flags, Migrate.TUNNELLED, Migrate.PARALLEL, _TUNNELLED_PARALLEL)


def _dest_conn(dconn: Any, function: str) -> "Connection":
    from ..connection import Connection
    from ..enums import ErrorCode, ErrorDomain
    from ..errors import InvalidConn
    if not isinstance(dconn, Connection) or dconn.closed:
        raise InvalidConn(f"{function}: the destination connection is not a valid open connection",
                          code=ErrorCode.INVALID_CONN, domain=ErrorDomain.DOMAIN)
    return dconn


class DomainMigrationMixin:
    """Migration methods of Domain (kept apart because the orchestration lives in virtkernel.migration)."""

    __slots__ = ()

    # -- public entry points -----------------------------------------------------------------------------------------

    @entry_point
    def migrate(self: "Domain", dconn: "Connection", flags: int = 0, dname: Optional[str] = None,
                uri: Optional[str] = None, bandwidth: int = 0) -> "Domain":
        """Migrate to the host of ``dconn``; return the domain's handle there (virDomainMigrate)."""
        from . import entry
        flags = int(flags)
        self._valid()
        self._ro("virDomainMigrate")
        dconn = _dest_conn(dconn, "virDomainMigrate")
        dconn._ro("virDomainMigrate")
        opt_non_empty(dname, "dname", "virDomainMigrate")
        check_storage_flags(flags)
        check_tunnelled_parallel(flags)
        trace = Trace()
        entry.check_offline(self, dconn, flags, trace)
        entry.check_postcopy_resume(self, flags, "virDomainMigrate")
        return entry.migrate_with_connection(self, dconn, flags, dname=dname, uri=uri, bandwidth=int(bandwidth),
                                             dxml=None, version=1, trace=trace)

    @entry_point
    def migrate2(self: "Domain", dconn: "Connection", dxml: Optional[str] = None, flags: int = 0,
                 dname: Optional[str] = None, uri: Optional[str] = None, bandwidth: int = 0) -> "Domain":
        """Migrate to the host of ``dconn`` with replacement destination XML (virDomainMigrate2)."""
        from . import entry
        flags = int(flags)
        self._valid()
        self._ro("virDomainMigrate2")
        dconn = _dest_conn(dconn, "virDomainMigrate2")
        dconn._ro("virDomainMigrate2")
        opt_non_empty(dname, "dname", "virDomainMigrate2")
        check_storage_flags(flags)
        check_tunnelled_parallel(flags)
        trace = Trace()
        entry.check_offline(self, dconn, flags, trace)
        entry.check_postcopy_resume(self, flags, "virDomainMigrate2")
        return entry.migrate_with_connection(self, dconn, flags, dname=dname, uri=uri, bandwidth=int(bandwidth),
                                             dxml=dxml, version=2, trace=trace)

    @entry_point
    def migrate3(self: "Domain", dconn: "Connection", params: Optional[TypedParams] = None,
                 flags: int = 0) -> "Domain":
        """Migrate to the host of ``dconn`` driven by typed parameters (virDomainMigrate3)."""
        from . import entry
        flags = int(flags)
        self._valid()
        self._ro("virDomainMigrate3")
        dconn = _dest_conn(dconn, "virDomainMigrate3")
        dconn._ro("virDomainMigrate3")
        check_storage_flags(flags)
        entry.refuse_unmanaged_flags_in_migrate3(flags)
        params = entry.validated_params(params, "virDomainMigrate3")
        opt_non_empty(params.get("destination_name"), "destination_name", "virDomainMigrate3")
        trace = Trace()
        entry.check_offline(self, dconn, flags, trace)
        entry.check_postcopy_resume(self, flags, "virDomainMigrate3")
        flags = entry.check_and_clear_change_protection(self, flags, trace)
        return entry.migrate3_with_connection(self, dconn, params, flags, trace)

    @entry_point
    def migrate_to_uri(self: "Domain", duri: str, flags: int = 0, dname: Optional[str] = None,
                       bandwidth: int = 0) -> int:
        """Migrate driven by the source alone: ``duri`` is the destination's URI with PEER2PEER, else a migration URI."""
        from . import entry
        flags = int(flags)
        self._valid()
        self._ro("virDomainMigrateToURI")
        not_none(duri, "duri", "virDomainMigrateToURI")
        opt_non_empty(dname, "dname", "virDomainMigrateToURI")
        check_tunnelled_parallel(flags)
        trace = Trace()
        mode = entry.unmanaged_compat_checks(self, flags, trace)
        entry.check_postcopy_resume(self, flags, "virDomainMigrateToURI")
        if flags & Migrate.PEER2PEER:
            dconnuri, miguri = duri, None
        else:
            dconnuri, miguri = None, duri
        params = entry.build_params(miguri=miguri, dname=dname, xmlin=None, bandwidth=int(bandwidth))
        entry.migrate_unmanaged(self, dconnuri, params, flags, trace, mode, entry_point="virDomainMigrateToURI")
        return 0

    @entry_point
    def migrate_to_uri2(self: "Domain", dconnuri: Optional[str] = None, miguri: Optional[str] = None,
                        dxml: Optional[str] = None, flags: int = 0, dname: Optional[str] = None,
                        bandwidth: int = 0) -> int:
        """Source-driven migration with separate destination and migration URIs and replacement XML."""
        from . import entry
        flags = int(flags)
        self._valid()
        self._ro("virDomainMigrateToURI2")
        opt_non_empty(dname, "dname", "virDomainMigrateToURI2")
        check_tunnelled_parallel(flags)
        trace = Trace()
        mode = entry.unmanaged_compat_checks(self, flags, trace)
        entry.check_postcopy_resume(self, flags, "virDomainMigrateToURI2")
        if flags & Migrate.PEER2PEER:
            not_none(dconnuri, "dconnuri", "virDomainMigrateToURI2")
        else:
            dconnuri = None
        params = entry.build_params(miguri=miguri, dname=dname, xmlin=dxml, bandwidth=int(bandwidth))
        entry.migrate_unmanaged(self, dconnuri, params, flags, trace, mode, entry_point="virDomainMigrateToURI2")
        return 0

    @entry_point
    def migrate_to_uri3(self: "Domain", dconnuri: Optional[str] = None, params: Optional[TypedParams] = None,
                        flags: int = 0) -> int:
        """Source-driven migration with typed parameters."""
        from . import entry
        flags = int(flags)
        self._valid()
        self._ro("virDomainMigrateToURI3")
        check_tunnelled_parallel(flags)
        trace = Trace()
        mode = entry.unmanaged_compat_checks(self, flags, trace)
        entry.check_postcopy_resume(self, flags, "virDomainMigrateToURI3")
        if flags & Migrate.PEER2PEER:
            not_none(dconnuri, "dconnuri", "virDomainMigrateToURI3")
        else:
            dconnuri = None
        params = entry.validated_params(params, "virDomainMigrateToURI3")
        entry.migrate_unmanaged(self, dconnuri, params, flags, trace, mode, entry_point="virDomainMigrateToURI3")
        return 0

    # -- tunables ----------------------------------------------------------------------------------------------------

    @entry_point
    def migrate_set_max_downtime(self, downtime: int, flags: int = 0) -> None:
        """Set the tolerated pause (ms) at the end of a live migration."""
        self._valid()
        self._ro("virDomainMigrateSetMaxDowntime")
        self._call("domain_migrate_set_max_downtime", downtime=int(downtime), flags=int(flags))

    @entry_point
    def migrate_get_max_downtime(self, flags: int = 0) -> int:
        """The tolerated pause (ms)."""
        self._valid()
        return int(self._call("domain_migrate_get_max_downtime", flags=int(flags)))

    @entry_point
    def migrate_set_compression_cache(self, cache_size: int, flags: int = 0) -> None:
        """Set the compression cache size in bytes."""
        self._valid()
        self._ro("virDomainMigrateSetCompressionCache")
        self._call("domain_migrate_set_compression_cache", cache_size=int(cache_size), flags=int(flags))

    @entry_point
    def migrate_get_compression_cache(self, flags: int = 0) -> int:
        """The compression cache size in bytes."""
        self._valid()
        return int(self._call("domain_migrate_get_compression_cache", flags=int(flags)))

    @entry_point
    def migrate_set_max_speed(self, bandwidth: int, flags: int = 0) -> None:
        """Set the bandwidth cap in MiB/s (post-copy cap with MIGRATE_MAX_SPEED_POSTCOPY)."""
        self._valid()
        self._ro("virDomainMigrateSetMaxSpeed")
        self._call("domain_migrate_set_max_speed", bandwidth=int(bandwidth), flags=int(flags))

    @entry_point
    def migrate_get_max_speed(self, flags: int = 0) -> int:
        """The bandwidth cap in MiB/s (refused on read-only connections, like libvirt)."""
        self._valid()
        self._ro("virDomainMigrateGetMaxSpeed")
        return int(self._call("domain_migrate_get_max_speed", flags=int(flags)))

    @entry_point
    def migrate_start_post_copy(self, flags: int = 0) -> None:
        """Switch a running migration to post-copy."""
        self._valid()
        self._ro("virDomainMigrateStartPostCopy")
        self._call("domain_migrate_start_post_copy", flags=int(flags))

    # -- source-side phase entry points ("not for public use") -------------------------------------------------------

    def _phase_checks(self: "Domain", function: str, dname: Optional[str] = None) -> None:
        self._valid()
        self._ro(function)
        opt_non_empty(dname, "dname", function)

    @entry_point
    def migrate_begin3(self: "Domain", xmlin: Optional[str] = None, flags: int = 0, dname: Optional[str] = None,
                       bandwidth: int = 0) -> MigrationResult:
        """v3 source Begin: the XML for the destination and a cookie (not for everyday use)."""
        self._phase_checks("virDomainMigrateBegin3", dname)
        return self._call("domain_migrate_begin3", xmlin=xmlin, flags=int(flags), dname=dname,
                          bandwidth=int(bandwidth))

    @entry_point
    def migrate_begin3_params(self: "Domain", params: Optional[TypedParams] = None, flags: int = 0) -> MigrationResult:
        """v3-params source Begin (not for everyday use)."""
        from .entry import params_dname, validated_params
        params = dict(params or {})
        self._phase_checks("virDomainMigrateBegin3Params", params_dname(params, "virDomainMigrateBegin3Params"))
        params = validated_params(params, "virDomainMigrateBegin3Params")
        return self._call("domain_migrate_begin3_params", params=params, flags=int(flags))

    @entry_point
    def migrate_perform(self: "Domain", cookie: Optional[bytes] = None, uri: Optional[str] = None, flags: int = 0,
                        dname: Optional[str] = None, bandwidth: int = 0) -> int:
        """v1/v2 source Perform (not for everyday use)."""
        self._phase_checks("virDomainMigratePerform", dname)
        return self._call("domain_migrate_perform", cookie=cookie, uri=uri, flags=int(flags), dname=dname,
                          bandwidth=int(bandwidth))

    @entry_point
    def migrate_perform3(self: "Domain", xmlin: Optional[str] = None, cookiein: Optional[bytes] = None,
                         dconnuri: Optional[str] = None, uri: Optional[str] = None, flags: int = 0,
                         dname: Optional[str] = None, bandwidth: int = 0) -> MigrationResult:
        """v3 source Perform, also the whole unmanaged migration (not for everyday use)."""
        self._phase_checks("virDomainMigratePerform3", dname)
        return self._call("domain_migrate_perform3", xmlin=xmlin, cookiein=cookiein, dconnuri=dconnuri, uri=uri,
                          flags=int(flags), dname=dname, bandwidth=int(bandwidth))

    @entry_point
    def migrate_perform3_params(self: "Domain", dconnuri: Optional[str] = None,
                                params: Optional[TypedParams] = None, cookiein: Optional[bytes] = None,
                                flags: int = 0) -> MigrationResult:
        """v3-params source Perform, also the whole unmanaged migration (not for everyday use)."""
        from .entry import params_dname, validated_params
        params = dict(params or {})
        self._phase_checks("virDomainMigratePerform3Params", params_dname(params, "virDomainMigratePerform3Params"))
        params = validated_params(params, "virDomainMigratePerform3Params")
        return self._call("domain_migrate_perform3_params", dconnuri=dconnuri, params=params, cookiein=cookiein,
                          flags=int(flags))

    @entry_point
    def migrate_confirm3(self: "Domain", cookiein: Optional[bytes] = None, flags: int = 0,
                         cancelled: bool = False) -> int:
        """v3 source Confirm: kill the source copy, or resume it when cancelled (not for everyday use)."""
        self._phase_checks("virDomainMigrateConfirm3")
        return self._call("domain_migrate_confirm3", cookiein=cookiein, flags=int(flags), cancelled=bool(cancelled))

    @entry_point
    def migrate_confirm3_params(self: "Domain", params: Optional[TypedParams] = None,
                                cookiein: Optional[bytes] = None, flags: int = 0, cancelled: bool = False) -> int:
        """v3-params source Confirm (not for everyday use)."""
        from .entry import params_dname, validated_params
        params = dict(params or {})
        self._phase_checks("virDomainMigrateConfirm3Params", params_dname(params, "virDomainMigrateConfirm3Params"))
        params = validated_params(params, "virDomainMigrateConfirm3Params")
        return self._call("domain_migrate_confirm3_params", params=params, cookiein=cookiein, flags=int(flags),
                          cancelled=bool(cancelled))


class ConnectionMigrationMixin:
    """Destination-side migration phase entry points of Connection (not for everyday use)."""

    __slots__ = ()

    def _phase_checks(self: "Connection", function: str, dname: Optional[str] = None) -> None:
        self._valid()
        self._ro(function)
        opt_non_empty(dname, "dname", function)

    def _stream_owner_check(self: "Connection", stream: Any, function: str) -> None:
        from ..checks import invalid_arg
        owner = getattr(stream, "connection", None)
        if owner is not None and owner is not self:
            raise invalid_arg(f"{function}: the stream belongs to another connection")

    @entry_point
    def migrate_prepare(self: "Connection", uri_in: Optional[str] = None, flags: int = 0,
                        dname: Optional[str] = None, bandwidth: int = 0) -> MigrationResult:
        """v1 destination Prepare: cookie and uri_out (not for everyday use)."""
        self._phase_checks("virDomainMigratePrepare", dname)
        return self._calls.call("domain_migrate_prepare", uri_in=uri_in, flags=int(flags), dname=dname,
                                bandwidth=int(bandwidth))

    @entry_point
    def migrate_prepare2(self: "Connection", uri_in: Optional[str] = None, flags: int = 0,
                         dname: Optional[str] = None, bandwidth: int = 0, dom_xml: Optional[str] = None) -> MigrationResult:
        """v2 destination Prepare with the domain XML (not for everyday use)."""
        self._phase_checks("virDomainMigratePrepare2", dname)
        return self._calls.call("domain_migrate_prepare2", uri_in=uri_in, flags=int(flags), dname=dname,
                                bandwidth=int(bandwidth), dom_xml=dom_xml)

    @entry_point
    def migrate_prepare_tunnel(self: "Connection", stream: Any, flags: int = 0, dname: Optional[str] = None,
                               bandwidth: int = 0, dom_xml: Optional[str] = None) -> int:
        """v2 tunnelled destination Prepare: migration data arrives on ``stream`` (not for everyday use)."""
        self._phase_checks("virDomainMigratePrepareTunnel", dname)
        self._stream_owner_check(stream, "virDomainMigratePrepareTunnel")
        return self._calls.call("domain_migrate_prepare_tunnel", stream=stream, flags=int(flags), dname=dname,
                                bandwidth=int(bandwidth), dom_xml=dom_xml)

    @entry_point
    def migrate_prepare3(self: "Connection", cookiein: Optional[bytes] = None, uri_in: Optional[str] = None,
                         flags: int = 0, dname: Optional[str] = None, bandwidth: int = 0,
                         dom_xml: Optional[str] = None) -> MigrationResult:
        """v3 destination Prepare: cookie and uri_out (not for everyday use)."""
        self._phase_checks("virDomainMigratePrepare3", dname)
        return self._calls.call("domain_migrate_prepare3", cookiein=cookiein, uri_in=uri_in, flags=int(flags),
                                dname=dname, bandwidth=int(bandwidth), dom_xml=dom_xml)

    @entry_point
    def migrate_prepare_tunnel3(self: "Connection", stream: Any, cookiein: Optional[bytes] = None, flags: int = 0,
                                dname: Optional[str] = None, bandwidth: int = 0,
                                dom_xml: Optional[str] = None) -> MigrationResult:
        """v3 tunnelled destination Prepare (not for everyday use)."""
        self._phase_checks("virDomainMigratePrepareTunnel3", dname)
        self._stream_owner_check(stream, "virDomainMigratePrepareTunnel3")
        return self._calls.call("domain_migrate_prepare_tunnel3", stream=stream, cookiein=cookiein, flags=int(flags),
                                dname=dname, bandwidth=int(bandwidth), dom_xml=dom_xml)

    @entry_point
    def migrate_prepare3_params(self: "Connection", params: Optional[TypedParams] = None,
                                cookiein: Optional[bytes] = None, flags: int = 0) -> MigrationResult:
        """v3-params destination Prepare (not for everyday use)."""
        from .entry import params_dname, validated_params
        params = dict(params or {})
        self._phase_checks("virDomainMigratePrepare3Params", params_dname(params, "virDomainMigratePrepare3Params"))
        params = validated_params(params, "virDomainMigratePrepare3Params")
        return self._calls.call("domain_migrate_prepare3_params", params=params, cookiein=cookiein, flags=int(flags))

    @entry_point
    def migrate_prepare_tunnel3_params(self: "Connection", stream: Any, params: Optional[TypedParams] = None,
                                       cookiein: Optional[bytes] = None, flags: int = 0) -> MigrationResult:
        """v3-params tunnelled destination Prepare (not for everyday use)."""
        from .entry import params_dname, validated_params
        self._valid()
        self._ro("virDomainMigratePrepareTunnel3Params")
        self._stream_owner_check(stream, "virDomainMigratePrepareTunnel3Params")
        params = dict(params or {})
        opt_non_empty(params_dname(params, "virDomainMigratePrepareTunnel3Params"), "destination_name",
                      "virDomainMigratePrepareTunnel3Params")
        params = validated_params(params, "virDomainMigratePrepareTunnel3Params")
        return self._calls.call("domain_migrate_prepare_tunnel3_params", stream=stream, params=params,
                                cookiein=cookiein, flags=int(flags))

    @entry_point
    def migrate_finish(self: "Connection", dname: str, cookie: Optional[bytes] = None, uri: Optional[str] = None,
                       flags: int = 0) -> "Domain":
        """v1 destination Finish: the arrived domain (not for everyday use)."""
        from ..domain import Domain
        from ..errors import InternalError
        self._phase_checks("virDomainMigrateFinish", dname)
        ref = self._calls.call("domain_migrate_finish", dname=dname, cookie=cookie, uri=uri, flags=int(flags))
        if ref is None:
            raise InternalError("the destination's migration Finish returned no domain")
        return Domain(self, ref)

    @entry_point
    def migrate_finish2(self: "Connection", dname: str, cookie: Optional[bytes] = None, uri: Optional[str] = None,
                        flags: int = 0, retcode: int = 0) -> MigrationResult:
        """v2 destination Finish; ``.domain`` is None when the migration was cancelled (not for everyday use)."""
        self._phase_checks("virDomainMigrateFinish2", dname)
        return self._calls.call("domain_migrate_finish2", dname=dname, cookie=cookie, uri=uri, flags=int(flags),
                                retcode=int(retcode))

    @entry_point
    def migrate_finish3(self: "Connection", dname: str, cookiein: Optional[bytes] = None,
                        dconnuri: Optional[str] = None, uri: Optional[str] = None, flags: int = 0,
                        cancelled: bool = False) -> MigrationResult:
        """v3 destination Finish; ``.domain`` is None when the guest did not arrive (not for everyday use)."""
        self._phase_checks("virDomainMigrateFinish3", dname)
        return self._calls.call("domain_migrate_finish3", dname=dname, cookiein=cookiein, dconnuri=dconnuri, uri=uri,
                                flags=int(flags), cancelled=bool(cancelled))

    @entry_point
    def migrate_finish3_params(self: "Connection", params: Optional[TypedParams] = None,
                               cookiein: Optional[bytes] = None, flags: int = 0,
                               cancelled: bool = False) -> MigrationResult:
        """v3-params destination Finish (not for everyday use)."""
        from .entry import params_dname, validated_params
        params = dict(params or {})
        self._phase_checks("virDomainMigrateFinish3Params", params_dname(params, "virDomainMigrateFinish3Params"))
        params = validated_params(params, "virDomainMigrateFinish3Params")
        return self._calls.call("domain_migrate_finish3_params", params=params, cookiein=cookiein, flags=int(flags),
                                cancelled=bool(cancelled))
