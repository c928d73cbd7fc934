"""Opening connections, and the public Connection object: one method per connection-level entry point."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid as uuidlib
from typing import Any, Callable, Optional, Sequence

from . import checks
from .checks import entry_point, exclusive, not_none, require
from .discovery import load_driver_class, load_hook_plugins
from .domain import Domain
from .domainxml import DomainDefinition
from .driver import DriverCalls, DriverContext
from .enums import (ConnectListDomainsFlags, DomainEventID, DomainSaveRestoreFlags as Save, ErrorCode,
                    ErrorDomain)
from .errors import InvalidConn, InvalidDomain, VirtError
from .events import DomainEvent, EventBus, EventStream
from .features import DriverFeature
from .hookspecs import hookimpl
from .lifecycle import LifecycleHooks
from .stream import Stream
from .migration.public import ConnectionMigrationMixin
from .types import DomainRef, DomainStatsRecord, NodeInfo, TypedParams
from .uri import ConnectURI, default_uri, parse_uri

log = logging.getLogger(__name__)

LIB_VERSION = 9_000_000
"""The libvirt API level virtkernel implements, as major*1,000,000 + minor*1,000 + release."""


def _check_domain_xml(xml: str, uuid: str) -> None:
    definition = DomainDefinition.from_xml(xml)
    if definition.uuid is not None and definition.uuid != uuid:
        raise VirtError(f"the replacement XML changes the domain's UUID from {uuid} to {definition.uuid}",
                        code=ErrorCode.XML_ERROR, domain=ErrorDomain.DOMAIN)


class KernelEvents:
    """The kernel's own implementation of event registration, on the connection's event bus (drivers may override)."""

    def __init__(self, context: DriverContext) -> None:
        self.context = context
        self._legacy: dict[Any, int] = {}

    @hookimpl(trylast=True)
    def connect_domain_event_register_any(self, dom: Optional[DomainRef], event_id: int,
                                          callback: Callable[[DomainEvent], None], opaque: Any) -> int:
        return self.context.events.subscribe(event_id, callback, dom.uuid if dom is not None else None)

    @hookimpl(trylast=True)
    def connect_domain_event_deregister_any(self, callback_id: int) -> int:
        if not self.context.events.unsubscribe(callback_id):
            raise checks.invalid_arg(f"no domain event callback with id {callback_id} is registered")
        return 0

    @hookimpl(trylast=True)
    def connect_domain_event_register(self, callback: Any, opaque: Any) -> int:
        if callback.key in self._legacy:
            raise checks.invalid_arg("this lifecycle callback is already registered")
        self._legacy[callback.key] = self.context.events.subscribe(DomainEventID.LIFECYCLE, callback)
        return 0

    @hookimpl(trylast=True)
    def connect_domain_event_deregister(self, callback: Any) -> int:
        callback_id = self._legacy.pop(callback, None)
        if callback_id is None:
            raise checks.invalid_arg("this lifecycle callback is not registered")
        self.context.events.unsubscribe(callback_id)
        return 0


class _LegacyCallback:
    """A legacy lifecycle callback wrapper, keyed by the user's callable."""

    def __init__(self, key: Any, deliver: Callable[[DomainEvent], None]) -> None:
        self.key = key
        self.deliver = deliver

    def __call__(self, event: DomainEvent) -> None:
        self.deliver(event)


@entry_point
def open(uri: Optional[str] = None, read_only: bool = False) -> "Connection":
    """Open a connection to the driver named by ``uri`` (default: $VIRTKERNEL_DEFAULT_URI)."""
    text = uri if uri else default_uri()
    if not text:
        raise VirtError("no connection URI given and VIRTKERNEL_DEFAULT_URI is not set",
                        code=ErrorCode.NO_CONNECT, domain=ErrorDomain.NONE)
    parsed = parse_uri(text)
    driver_class = load_driver_class(parsed.driver)
    hook_plugins, _failures = load_hook_plugins()
    return Connection._open(parsed, driver_class, hook_plugins, read_only)


def open_read_only(uri: Optional[str] = None) -> "Connection":
    """Open a read-only connection."""
    return open(uri, read_only=True)


class Connection(ConnectionMigrationMixin):
    """A connection to one driver instance (one host)."""

    def __init__(self, uri: ConnectURI, calls: DriverCalls, context: DriverContext, read_only: bool) -> None:
        self._uri = uri
        self._calls = calls
        self._context = context
        self._read_only = read_only
        self._closed = False
        self._callbacks: set[int] = set()
        self._lock = threading.Lock()

    @classmethod
    def _open(cls, uri: ConnectURI, driver_class: Any, hook_plugins: list[tuple[str, Any]], read_only: bool) -> "Connection":
        try:
            driver = driver_class()
        except VirtError:
            raise
        except Exception as exc:
            raise VirtError(f"driver '{uri.driver}' failed to initialise: {type(exc).__name__}: {exc}",
                            code=ErrorCode.INTERNAL_ERROR) from exc
        calls = DriverCalls(uri.driver, driver, hook_plugins)
        hooks = LifecycleHooks(calls.plugin_manager, driver=uri.driver, uri=uri.text, validate_xml=_check_domain_xml)
        context = DriverContext(uri=uri, read_only=read_only, scheme=uri.driver, hooks=hooks)
        calls.register(KernelEvents(context), name="virtkernel:events")
        calls.call("connect_open", context=context)
        return cls(uri, calls, context, read_only)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._closed:
            self.close()

    def __repr__(self) -> str:
        return f"<Connection {self._uri.text!r}{' read-only' if self._read_only else ''}{' closed' if self._closed else ''}>"

    # -- plumbing ----------------------------------------------------------------------------------------------------

    @property
    def uri(self) -> ConnectURI:
        """The URI this connection was opened with."""
        return self._uri

    @property
    def read_only(self) -> bool:
        """Whether the connection refuses modifying calls."""
        return self._read_only

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    @property
    def driver(self) -> DriverCalls:
        """The driver facade (for kernel modules such as migration)."""
        return self._calls

    @property
    def events(self) -> EventBus:
        """The event bus drivers emit on."""
        return self._context.events

    def _valid(self) -> None:
        if self._closed:
            raise InvalidConn("the connection is closed", code=ErrorCode.INVALID_CONN, domain=ErrorDomain.NONE)

    def _ro(self, function: str) -> None:
        checks.read_only(self._read_only, function)

    def _domain(self, ref: DomainRef) -> Domain:
        return Domain(self, ref)

    def _dom_ref(self, dom: Domain, function: str) -> DomainRef:
        if not isinstance(dom, Domain):
            raise InvalidDomain(f"{function}: expected a Domain, got {type(dom).__name__}",
                                code=ErrorCode.INVALID_DOMAIN, domain=ErrorDomain.DOM)
        if dom._conn is not self:
            raise checks.invalid_arg(f"{function}: the domain belongs to another connection")
        return dom._ref

    # -- connection --------------------------------------------------------------------------------------------------

    @entry_point
    def close(self) -> int:
        """Close the connection; its event callbacks stop and its handles become invalid."""
        self._valid()
        for callback_id in list(self._callbacks):
            self._context.events.unsubscribe(callback_id)
        self._callbacks.clear()
        try:
            if self._calls.has("connect_close"):
                self._calls.ops.connect_close()
        finally:
            self._closed = True
        return 0

    @entry_point
    def is_alive(self) -> bool:
        """Whether the connection still works."""
        if self._closed:
            return False
        return bool(self._calls.ops.connect_is_alive()) if self._calls.has("connect_is_alive") else True

    @entry_point
    def is_secure(self) -> bool:
        """Whether the channel to the driver is safe from eavesdropping (always, for in-process drivers)."""
        self._valid()
        return self._uri.transport in (None, "unix", "tls", "ssh")

    @entry_point
    def is_encrypted(self) -> bool:
        """Whether the channel to the driver is encrypted (in-process drivers need none)."""
        self._valid()
        return self._uri.transport in ("tls", "ssh")

    @entry_point
    def get_type(self) -> str:
        """The hypervisor type name."""
        self._valid()
        return self._calls.ops.connect_get_type()

    @entry_point
    def get_version(self) -> int:
        """The hypervisor version as major*1,000,000 + minor*1,000 + release."""
        self._valid()
        return int(self._calls.ops.connect_get_version())

    @entry_point
    def get_lib_version(self) -> int:
        """The API level virtkernel implements."""
        self._valid()
        return LIB_VERSION

    @entry_point
    def get_hostname(self) -> str:
        """The host's name."""
        self._valid()
        if self._calls.has("connect_get_hostname"):
            return self._calls.ops.connect_get_hostname()
        return os.uname().nodename

    @entry_point
    def get_uri(self) -> str:
        """The canonical URI of this connection."""
        self._valid()
        if self._calls.has("connect_get_uri"):
            return self._calls.ops.connect_get_uri()
        return self._uri.text

    @entry_point
    def get_capabilities(self) -> str:
        """The host capabilities XML."""
        self._valid()
        return self._calls.ops.connect_get_capabilities()

    @entry_point
    def get_sysinfo(self, flags: int = 0) -> str:
        """The host's sysinfo XML."""
        self._valid()
        return self._calls.ops.connect_get_sysinfo(flags=int(flags))

    @entry_point
    def get_max_vcpus(self, type: Optional[str] = None) -> int:
        """The largest vCPU count a guest may have."""
        self._valid()
        return int(self._calls.ops.connect_get_max_vcpus(type=type))

    @entry_point
    def get_info(self) -> NodeInfo:
        """Facts about the host's CPUs and memory (virNodeGetInfo)."""
        self._valid()
        return self._calls.ops.node_get_info()

    @entry_point
    def get_free_memory(self) -> int:
        """Free host memory in bytes."""
        self._valid()
        return int(self._calls.ops.node_get_free_memory())

    @entry_point
    def add_inhibitor(self, callback: Callable[[bool], None]) -> None:
        """Have ``callback(True)`` called while guests run on this host and ``callback(False)`` when none does.

        A process hosting the drivers uses it to stay alive (and hold off shutdown) while guests run.
        """
        self._valid()
        not_none(callback, "callback", "add_inhibitor")
        self._calls.ops.connect_add_inhibitor(callback=callback)

    @entry_point
    def remove_inhibitor(self, callback: Callable[[bool], None]) -> None:
        """Stop calling an inhibit callback."""
        self._valid()
        self._calls.ops.connect_remove_inhibitor(callback=callback)

    @entry_point
    def get_security_model(self) -> tuple[str, str]:
        """The host's security model and DOI (virNodeGetSecurityModel)."""
        self._valid()
        return self._calls.ops.node_get_security_model()

    @entry_point
    def get_cells_free_memory(self, start_cell: int = 0, max_cells: int = 1) -> list[int]:
        """Free memory in bytes per NUMA cell (virNodeGetCellsFreeMemory)."""
        self._valid()
        require(start_cell >= 0 and max_cells > 0,
                f"virNodeGetCellsFreeMemory: need start_cell >= 0 and max_cells > 0 (got {start_cell}, {max_cells})")
        return list(self._calls.ops.node_get_cells_free_memory(start_cell=int(start_cell), max_cells=int(max_cells)))

    @entry_point
    def get_cpu_map(self, flags: int = 0) -> tuple[int, tuple[bool, ...], int]:
        """(host CPU count, online map, online count) (virNodeGetCPUMap)."""
        self._valid()
        return self._calls.ops.node_get_cpu_map(flags=int(flags))

    @entry_point
    def new_stream(self, flags: int = 0) -> Stream:
        """A stream for consoles and channels (virStreamNew)."""
        self._valid()
        return Stream(self, flags)

    @entry_point
    def supports_feature(self, feature: int) -> bool:
        """The driver's answer to a feature probe."""
        self._valid()
        return self._calls.supports(DriverFeature(feature))

    @entry_point
    def get_domain_capabilities(self, emulatorbin: Optional[str] = None, arch: Optional[str] = None,
                                machine: Optional[str] = None, virttype: Optional[str] = None, flags: int = 0) -> str:
        """Domain capabilities XML for an emulator/arch/machine/virt-type combination."""
        self._valid()
        self._ro("virConnectGetDomainCapabilities")
        return self._calls.ops.connect_get_domain_capabilities(emulatorbin=emulatorbin, arch=arch,
                                machine=machine, virttype=virttype, flags=int(flags))

    @entry_point
    def domain_xml_from_native(self, native_format: str, native_config: str, flags: int = 0) -> str:
        """Convert a hypervisor-native configuration into domain XML."""
        self._valid()
        self._ro("virConnectDomainXMLFromNative")
        not_none(native_format, "native_format", "virConnectDomainXMLFromNative")
        not_none(native_config, "native_config", "virConnectDomainXMLFromNative")
        return self._calls.ops.connect_domain_xml_from_native(native_format=native_format,
                                native_config=native_config, flags=int(flags))

    @entry_point
    def domain_xml_to_native(self, native_format: str, domain_xml: str, flags: int = 0) -> str:
        """Convert domain XML into a hypervisor-native configuration."""
        self._valid()
        self._ro("virConnectDomainXMLToNative")
        not_none(native_format, "native_format", "virConnectDomainXMLToNative")
        not_none(domain_xml, "domain_xml", "virConnectDomainXMLToNative")
        return self._calls.ops.connect_domain_xml_to_native(native_format=native_format,
                                domain_xml=domain_xml, flags=int(flags))

    # -- listing and lookup ------------------------------------------------------------------------------------------

    @entry_point
    def list_all_domains(self, flags: int = 0) -> list[Domain]:
        """Domains matching CONNECT_LIST_DOMAINS_* filters (0 = all)."""
        self._valid()
        refs = self._calls.ops.connect_list_all_domains(flags=int(flags))
        return [Domain(self, ref) for ref in refs]

    @entry_point
    def list_domains(self) -> list[int]:
        """IDs of the running domains."""
        self._valid()
        if self._calls.has("connect_list_domains"):
            return list(self._calls.ops.connect_list_domains())
        return [d._ref.id for d in self.list_all_domains(ConnectListDomainsFlags.ACTIVE)]

    @entry_point
    def num_of_domains(self) -> int:
        """Number of running domains."""
        self._valid()
        if self._calls.has("connect_num_of_domains"):
            return int(self._calls.ops.connect_num_of_domains())
        return len(self._calls.ops.connect_list_all_domains(flags=int(ConnectListDomainsFlags.ACTIVE)))

    @entry_point
    def list_defined_domains(self) -> list[str]:
        """Names of the inactive persistent domains."""
        self._valid()
        if self._calls.has("connect_list_defined_domains"):
            return list(self._calls.ops.connect_list_defined_domains())
        return [d.name for d in self.list_all_domains(ConnectListDomainsFlags.INACTIVE)]

    @entry_point
    def num_of_defined_domains(self) -> int:
        """Number of inactive persistent domains."""
        self._valid()
        if self._calls.has("connect_num_of_defined_domains"):
            return int(self._calls.ops.connect_num_of_defined_domains())
        return len(self._calls.ops.connect_list_all_domains(flags=int(ConnectListDomainsFlags.INACTIVE)))

    @entry_point
    def lookup_by_id(self, id: int) -> Domain:
        """The running domain with this id."""
        self._valid()
        require(isinstance(id, int) and id >= 0, f"virDomainLookupByID: id must be a non-negative integer (got {id!r})")
        return Domain(self, self._calls.ops.domain_lookup_by_id(id=int(id)))

    @entry_point
    def lookup_by_uuid(self, uuid: bytes) -> Domain:
        """The domain with this raw 16-byte UUID."""
        self._valid()
        not_none(uuid, "uuid", "virDomainLookupByUUID")
        try:
            text = str(uuidlib.UUID(bytes=bytes(uuid)))
        except (ValueError, TypeError):
            raise checks.invalid_arg("virDomainLookupByUUID: uuid must be 16 bytes") from None
        return Domain(self, self._calls.ops.domain_lookup_by_uuid(uuid=text))

    @entry_point
    def lookup_by_uuid_string(self, uuidstr: str) -> Domain:
        """The domain with this textual UUID."""
        self._valid()
        not_none(uuidstr, "uuidstr", "virDomainLookupByUUIDString")
        try:
            text = str(uuidlib.UUID(uuidstr.strip()))
        except (ValueError, AttributeError):
            raise checks.invalid_arg(f"invalid UUID '{uuidstr}'") from None
        return Domain(self, self._calls.ops.domain_lookup_by_uuid(uuid=text))

    @entry_point
    def lookup_by_name(self, name: str) -> Domain:
        """The domain with this name."""
        self._valid()
        not_none(name, "name", "virDomainLookupByName")
        return Domain(self, self._calls.ops.domain_lookup_by_name(name=name))

    # -- define, create, restore -------------------------------------------------------------------------------------

    @entry_point
    def define_xml(self, xml: str, flags: int = 0) -> Domain:
        """Define (or redefine) a persistent domain from XML."""
        self._valid()
        self._ro("virDomainDefineXMLFlags" if flags else "virDomainDefineXML")
        not_none(xml, "xml", "virDomainDefineXMLFlags")
        return Domain(self, self._calls.ops.domain_define_xml(xml=xml, flags=int(flags)))

    @entry_point
    def create_xml(self, xml: str, flags: int = 0, files: Optional[Sequence[int]] = None) -> Domain:
        """Start a new transient domain from XML (START_* flags), optionally passing fds."""
        self._valid()
        not_none(xml, "xml", "virDomainCreateXML")
        self._ro("virDomainCreateXML")
        if files:
            if not self._calls.supports(DriverFeature.FD_PASSING):
                raise checks.probe_unsupported("fd passing is not supported by this connection")
        return Domain(self, self._calls.ops.domain_create_xml(xml=xml, flags=int(flags), files=list(files or ())))

    create_linux = create_xml

    @entry_point
    def restore(self, frm: str, dxml: Optional[str] = None, flags: int = 0) -> None:
        """Restore a domain from a save image (SAVE_RUNNING / SAVE_PAUSED choose the state)."""
        self._valid()
        self._ro("virDomainRestoreFlags" if flags or dxml is not None else "virDomainRestore")
        not_none(frm, "from", "virDomainRestoreFlags")
        exclusive(flags, Save.RUNNING, Save.PAUSED, ("VIR_DOMAIN_SAVE_RUNNING", "VIR_DOMAIN_SAVE_PAUSED"))
        if self._calls.has("domain_restore"):
            frm = checks.absolute_path(frm)
        self._calls.ops.domain_restore(frm=frm, dxml=dxml, flags=int(flags))

    @entry_point
    def restore_params(self, params: TypedParams, flags: int = 0) -> None:
        """Restore driven by typed parameters ('file', 'dxml')."""
        self._valid()
        self._ro("virDomainRestoreParams")
        exclusive(flags, Save.RUNNING, Save.PAUSED, ("VIR_DOMAIN_SAVE_RUNNING", "VIR_DOMAIN_SAVE_PAUSED"))
        self._calls.ops.domain_restore_params(params=dict(params or {}), flags=int(flags))

    @entry_point
    def save_image_get_xml_desc(self, file: str, flags: int = 0) -> str:
        """The domain XML stored in a save image."""
        self._valid()
        not_none(file, "file", "virDomainSaveImageGetXMLDesc")
        self._ro("virDomainSaveImageGetXMLDesc")
        if self._calls.has("domain_save_image_get_xml_desc"):
            file = checks.absolute_path(file)
        return self._calls.ops.domain_save_image_get_xml_desc(file=file, flags=int(flags))

    @entry_point
    def save_image_define_xml(self, file: str, dxml: str, flags: int = 0) -> None:
        """Replace the domain XML stored in a save image."""
        self._valid()
        self._ro("virDomainSaveImageDefineXML")
        not_none(file, "file", "virDomainSaveImageDefineXML")
        not_none(dxml, "dxml", "virDomainSaveImageDefineXML")
        exclusive(flags, Save.RUNNING, Save.PAUSED, ("VIR_DOMAIN_SAVE_RUNNING", "VIR_DOMAIN_SAVE_PAUSED"))
        if self._calls.has("domain_save_image_define_xml"):
            file = checks.absolute_path(file)
        self._calls.ops.domain_save_image_define_xml(file=file, dxml=dxml, flags=int(flags))

    # -- statistics --------------------------------------------------------------------------------------------------

    def _stats(self, records: list[DomainStatsRecord]) -> list[tuple[Domain, TypedParams]]:
        return [(Domain(self, r.domain), r.params) for r in records]

    @entry_point
    def get_all_domain_stats(self, stats: int = 0, flags: int = 0) -> list[tuple[Domain, TypedParams]]:
        """Bulk statistics (DOMAIN_STATS_* groups; 0 = all) for every domain matching the flags."""
        self._valid()
        return self._stats(self._calls.ops.connect_get_all_domain_stats(doms=None, stats=int(stats),
                                            flags=int(flags)))

    @entry_point
    def domain_list_get_stats(self, doms: Sequence[Domain], stats: int = 0, flags: int = 0) -> list[tuple[Domain, TypedParams]]:
        """Bulk statistics for an explicit list of domains of this connection."""
        not_none(doms, "doms", "virDomainListGetStats")
        require(len(doms) > 0, "virDomainListGetStats: needs at least one domain")
        self._valid()
        if not self._calls.has("connect_get_all_domain_stats"):
            self._calls.ops.connect_get_all_domain_stats(doms=None, stats=0, flags=0)
        refs = [self._dom_ref(d, "virDomainListGetStats") for d in doms]
        return self._stats(self._calls.ops.connect_get_all_domain_stats(doms=refs, stats=int(stats),
                                            flags=int(flags)))

    # -- events ------------------------------------------------------------------------------------------------------

    def _deliverer(self, callback: Callable[..., Any], opaque: Any) -> Callable[[DomainEvent], None]:
        def deliver(event: DomainEvent) -> None:
            if self._closed:
                return
            callback(self, Domain(self, event.domain), *event.args, opaque)
        return deliver

    @entry_point
    def domain_event_register_any(self, dom: Optional[Domain], event_id: int, callback: Callable[..., Any],
                                  opaque: Any = None) -> int:
        """Call ``callback(conn, dom, *event_values, opaque)`` for event ``event_id`` (of one domain or all)."""
        self._valid()
        ref = None
        if dom is not None:
            ref = self._dom_ref(dom, "virConnectDomainEventRegisterAny")
        not_none(callback, "callback", "virConnectDomainEventRegisterAny")
        require(isinstance(event_id, int) and event_id >= 0,
                f"virConnectDomainEventRegisterAny: event id must be a non-negative integer (got {event_id!r})")
        require(event_id < len(DomainEventID),
                f"virConnectDomainEventRegisterAny: unknown event id {event_id} (known: 0..{len(DomainEventID) - 1})")
        callback_id = int(self._calls.ops.connect_domain_event_register_any(dom=ref, event_id=int(event_id),
                                           callback=self._deliverer(callback, opaque), opaque=opaque))
        self._callbacks.add(callback_id)
        return callback_id

    @entry_point
    def domain_event_deregister_any(self, callback_id: int) -> None:
        """Remove a callback registered with domain_event_register_any."""
        self._valid()
        require(isinstance(callback_id, int) and callback_id >= 0,
                f"virConnectDomainEventDeregisterAny: callback id must be a non-negative integer (got {callback_id!r})")
        self._calls.ops.connect_domain_event_deregister_any(callback_id=int(callback_id))
        self._callbacks.discard(callback_id)

    @entry_point
    def domain_event_register(self, callback: Callable[..., Any], opaque: Any = None) -> None:
        """Legacy: call ``callback(conn, dom, event, detail, opaque)`` for every lifecycle event."""
        self._valid()
        not_none(callback, "callback", "virConnectDomainEventRegister")
        self._calls.call("connect_domain_event_register",
                         callback=_LegacyCallback(callback, self._deliverer(callback, opaque)), opaque=opaque)

    @entry_point
    def domain_event_deregister(self, callback: Callable[..., Any]) -> None:
        """Legacy: remove a lifecycle callback."""
        self._valid()
        not_none(callback, "callback", "virConnectDomainEventDeregister")
        self._calls.ops.connect_domain_event_deregister(callback=callback)

    def event_stream(self, *event_ids: int) -> EventStream:
        """An asyncio stream of events (default: lifecycle) — call from inside a running event loop."""
        self._valid()
        return EventStream(self._context.events, tuple(event_ids) or (int(DomainEventID.LIFECYCLE),),
                           asyncio.get_running_loop())

    def flush_events(self, timeout: float = 5.0) -> bool:
        """Wait until every event emitted so far has been delivered to the callbacks."""
        return self._context.events.flush(timeout)
