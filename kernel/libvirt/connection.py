"""virConnect and the open functions: libvirt-python's connection class over virtkernel's Connection."""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any, Callable, Optional, Sequence

from .. import connection as kernel_connection
from ..connection import LIB_VERSION, Connection
from ..constants import VIR_CONNECT_RO
from ..domain import Domain
from ..enums import DomainEventID, ErrorCode, ErrorDomain
from ..errors import VirtError
from ..types import TypedParams
from .domain import virDomain
from .errors import error_tuple, get_last_error, raise_for, reset_last_error, translate_errors, translating, unsupported
from .eventloop import LOOP
from .stream import virStream

DEFAULT_URI_VARIABLE = "LIBVIRT_DEFAULT_URI"

# libvirt-python connection methods with no virtkernel counterpart (networks, storage, node devices, ...):
# they answer "not supported", as libvirt does for a driver that lacks them.
UNSUPPORTED_METHODS = (
    "allocPages", "baselineCPU", "baselineHypervisorCPU", "changeBegin", "changeCommit", "changeRollback",
    "compareCPU", "compareHypervisorCPU", "findStoragePoolSources", "getCPUModelNames",
    "getCPUStats", "getFreePages", "getMemoryParameters", "getMemoryStats",
    "getSEVInfo", "getStoragePoolCapabilities", "interfaceDefineXML",
    "interfaceLookupByMACString", "interfaceLookupByName", "listAllDevices", "listAllInterfaces",
    "listAllNWFilterBindings", "listAllNWFilters", "listAllNetworks", "listAllSecrets", "listAllStoragePools",
    "listDefinedInterfaces", "listDefinedNetworks", "listDefinedStoragePools", "listDevices", "listInterfaces",
    "listNWFilters", "listNetworks", "listSecrets", "listStoragePools", "networkCreateXML",
    "networkCreateXMLFlags", "networkDefineXML", "networkDefineXMLFlags", "networkEventDeregisterAny",
    "networkEventRegisterAny", "networkLookupByName", "networkLookupByUUID", "networkLookupByUUIDString",
    "nodeDeviceCreateXML", "nodeDeviceDefineXML", "nodeDeviceEventDeregisterAny",
    "nodeDeviceEventRegisterAny", "nodeDeviceLookupByName", "nodeDeviceLookupSCSIHostByWWN",
    "numOfDefinedInterfaces", "numOfDefinedNetworks", "numOfDefinedStoragePools", "numOfDevices",
    "numOfInterfaces", "numOfNWFilters", "numOfNetworks", "numOfSecrets", "numOfStoragePools",
    "nwfilterBindingCreateXML", "nwfilterBindingLookupByPortDev", "nwfilterDefineXML", "nwfilterDefineXMLFlags",
    "nwfilterLookupByName", "nwfilterLookupByUUID", "nwfilterLookupByUUIDString", "secretDefineXML",
    "secretEventDeregisterAny", "secretEventRegisterAny", "secretLookupByUUID", "secretLookupByUUIDString",
    "secretLookupByUsage", "setIdentity", "setKeepAlive", "setMemoryParameters", "storagePoolCreateXML",
    "storagePoolDefineXML", "storagePoolEventDeregisterAny", "storagePoolEventRegisterAny",
    "storagePoolLookupByName", "storagePoolLookupByTargetPath", "storagePoolLookupByUUID",
    "storagePoolLookupByUUIDString", "storageVolLookupByKey", "storageVolLookupByPath", "suspendForDuration",
)


def _peek(counter: "itertools.count[int]") -> int:
    """The next value of an itertools.count, without taking it."""
    return counter.__reduce__()[1][0]


def _invalid_arg(message: str) -> VirtError:
    return VirtError(message, code=ErrorCode.INVALID_ARG, domain=ErrorDomain.DOMAIN)


@translate_errors
class virConnect:  # noqa: N801 - libvirt-python's name
    """A connection (libvirt-python's virConnect); domains and snapshots keep it alive like libvirt's references."""

    def __init__(self, _obj: Optional[Connection] = None) -> None:
        if not isinstance(_obj, Connection):
            raise TypeError("virConnect wraps a virtkernel Connection; use libvirt.open()")
        self._o = _obj
        self._lock = threading.Lock()
        # Handles taken and dropped, as two atomic counters (next() on itertools.count holds the GIL throughout).
        self._taken = itertools.count()
        self._dropped = itertools.count()
        self._close_requested = False
        self._legacy_callbacks: dict[Callable[..., Any], int] = {}
        self._close_callback: Optional[tuple[Callable[..., Any], Any]] = None

    # -- references, like libvirt's: close() waits for the last domain handle -----------------------------------------

    def _acquire(self) -> None:
        next(self._taken)

    def _release(self) -> None:
        next(self._dropped)
        if self._close_requested:
            self._close_if_unused()

    def _close_if_unused(self) -> None:
        with self._lock:
            close_now = self._live_handles() == 0 and not self._o.closed
        if close_now:
            self._close_kernel()

    def _live_handles(self) -> int:
        return _peek(self._taken) - _peek(self._dropped)

    def _close_kernel(self) -> None:
        try:
            self._o.close()
        except VirtError:
            pass

    def __del__(self) -> None:
        kernel = getattr(self, "_o", None)
        try:
            if kernel is not None and not kernel.closed:
                self._close_kernel()
        except Exception:  # interpreter shutdown: module globals may already be gone
            pass

    def __enter__(self) -> "virConnect":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<virConnect {self._o.uri.text!r}>"

    def c_pointer(self) -> int:
        """An integer identifying the underlying connection."""
        return id(self._o)

    def close(self) -> int:
        """Close the connection; returns how many handles and event callbacks still keep it open (0: closed)."""
        with self._lock:
            if self._o.closed or self._close_requested:
                raise raise_for(VirtError("the connection is already closed", code=ErrorCode.INVALID_CONN))
            live = self._live_handles()
            if live:
                self._close_requested = True
                return live
        self._o.close()
        self._close_callback = None
        return 0

    # -- identity and host facts -------------------------------------------------------------------------------------

    def getType(self) -> str:  # noqa: N802
        """The hypervisor type name."""
        return self._o.get_type()

    def getVersion(self) -> int:  # noqa: N802
        """The hypervisor version."""
        return self._o.get_version()

    def getLibVersion(self) -> int:  # noqa: N802
        """The library version."""
        return self._o.get_lib_version()

    def getHostname(self) -> str:  # noqa: N802
        """The host's name."""
        return self._o.get_hostname()

    def getURI(self) -> str:  # noqa: N802
        """The connection URI."""
        return self._o.get_uri()

    def getCapabilities(self) -> str:  # noqa: N802
        """The capabilities XML."""
        return self._o.get_capabilities()

    def getDomainCapabilities(self, emulatorbin: Optional[str] = None, arch: Optional[str] = None,  # noqa: N802
                              machine: Optional[str] = None, virttype: Optional[str] = None, flags: int = 0) -> str:
        """The domain capabilities XML."""
        return self._o.get_domain_capabilities(emulatorbin, arch, machine, virttype, flags)

    def getSysinfo(self, flags: int = 0) -> str:  # noqa: N802
        """The host's sysinfo XML."""
        return self._o.get_sysinfo(flags)

    def getMaxVcpus(self, type: Optional[str]) -> int:  # noqa: A002,N802
        """The largest vCPU count a guest of ``type`` may have."""
        return self._o.get_max_vcpus(type)

    def getInfo(self) -> list[Any]:  # noqa: N802
        """[model, memory MiB, cpus, MHz, NUMA nodes, sockets, cores, threads]."""
        info = self._o.get_info()
        return [info.model, info.memory >> 10, info.cpus, info.mhz, info.nodes, info.sockets, info.cores,
                info.threads]

    def getFreeMemory(self) -> Optional[int]:  # noqa: N802
        """Free host memory in bytes; None on failure, as libvirt-python returns."""
        try:
            return self._o.get_free_memory()
        except VirtError as error:
            raise_for(error)  # reported, but libvirt-python returns None here instead of raising
            return None

    def getCellsFreeMemory(self, startCell: int, maxCells: int) -> list[int]:  # noqa: N802,N803
        """Free memory per NUMA cell in bytes."""
        return list(self._o.get_cells_free_memory(startCell, maxCells))

    def getCPUMap(self, flags: int = 0) -> tuple[int, list[bool], int]:  # noqa: N802
        """(host CPU count, online map, online count)."""
        count, cpumap, online = self._o.get_cpu_map(flags)
        return int(count), [bool(cpu) for cpu in cpumap], int(online)

    def getSecurityModel(self) -> list[str]:  # noqa: N802
        """[security model, DOI]."""
        return list(self._o.get_security_model())

    def newStream(self, flags: int = 0) -> virStream:  # noqa: N802
        """A stream for consoles, channels and screenshots."""
        return virStream(self, self._o.new_stream(flags))

    def isAlive(self) -> int:  # noqa: N802
        """1 while the connection works."""
        return int(self._o.is_alive())

    def isSecure(self) -> int:  # noqa: N802
        """1 when the channel cannot be eavesdropped."""
        return int(self._o.is_secure())

    def isEncrypted(self) -> int:  # noqa: N802
        """1 when the channel is encrypted."""
        return int(self._o.is_encrypted())

    def registerCloseCallback(self, cb: Callable[..., Any], opaque: Any) -> int:  # noqa: N802
        """Remember a callback for an unexpected close (a local driver never closes unexpectedly)."""
        self._close_callback = (cb, opaque)
        return 0

    def unregisterCloseCallback(self) -> int:  # noqa: N802
        """Forget the close callback."""
        self._close_callback = None
        return 0

    def virConnGetLastError(self) -> Optional[tuple[Any, ...]]:  # noqa: N802
        """The calling thread's last error."""
        last = get_last_error()
        return error_tuple(last) if last is not None else None

    def virConnResetLastError(self) -> None:  # noqa: N802
        """Forget the calling thread's last error."""
        reset_last_error()

    # -- lookup and listing ------------------------------------------------------------------------------------------

    def lookupByName(self, name: str) -> virDomain:  # noqa: N802
        """The domain with this name."""
        return virDomain(self, self._o.lookup_by_name(name))

    def lookupByID(self, id: int) -> virDomain:  # noqa: A002,N802
        """The running domain with this id."""
        return virDomain(self, self._o.lookup_by_id(id))

    def lookupByUUID(self, uuid: bytes) -> virDomain:  # noqa: N802
        """The domain with this 16-byte UUID."""
        return virDomain(self, self._o.lookup_by_uuid(uuid))

    def lookupByUUIDString(self, uuidstr: str) -> virDomain:  # noqa: N802
        """The domain with this textual UUID."""
        return virDomain(self, self._o.lookup_by_uuid_string(uuidstr))

    def listAllDomains(self, flags: int = 0) -> list[virDomain]:  # noqa: N802
        """Domains matching VIR_CONNECT_LIST_DOMAINS_* flags (0: all)."""
        return [virDomain(self, dom) for dom in self._o.list_all_domains(flags)]

    def listDomainsID(self) -> list[int]:  # noqa: N802
        """Ids of the running domains."""
        return list(self._o.list_domains())

    def listDefinedDomains(self) -> list[str]:  # noqa: N802
        """Names of the inactive persistent domains."""
        return list(self._o.list_defined_domains())

    def numOfDomains(self) -> int:  # noqa: N802
        """How many domains run."""
        return self._o.num_of_domains()

    def numOfDefinedDomains(self) -> int:  # noqa: N802
        """How many persistent domains are inactive."""
        return self._o.num_of_defined_domains()

    # -- define, create, restore -------------------------------------------------------------------------------------

    def defineXML(self, xml: str) -> virDomain:  # noqa: N802
        """Define a persistent domain."""
        return virDomain(self, self._o.define_xml(xml, 0))

    def defineXMLFlags(self, xml: str, flags: int = 0) -> virDomain:  # noqa: N802
        """Define a persistent domain with VIR_DOMAIN_DEFINE_* flags."""
        return virDomain(self, self._o.define_xml(xml, flags))

    def createXML(self, xmlDesc: str, flags: int = 0) -> virDomain:  # noqa: N802,N803
        """Start a transient domain."""
        return virDomain(self, self._o.create_xml(xmlDesc, flags))

    def createLinux(self, xmlDesc: str, flags: int = 0) -> virDomain:  # noqa: N802,N803
        """Start a transient domain (old name of createXML)."""
        return virDomain(self, self._o.create_xml(xmlDesc, flags))

    def createXMLWithFiles(self, xmlDesc: str, files: list[int], flags: int = 0) -> virDomain:  # noqa: N802,N803
        """Start a transient domain passing open file descriptors."""
        return virDomain(self, self._o.create_xml(xmlDesc, flags, files=files))

    def restore(self, frm: str) -> int:
        """Restore a domain from a save image."""
        self._o.restore(frm)
        return 0

    def restoreFlags(self, frm: str, dxml: Optional[str] = None, flags: int = 0) -> int:  # noqa: N802
        """Restore with replacement XML and VIR_DOMAIN_SAVE_* flags."""
        self._o.restore(frm, dxml, flags)
        return 0

    def restoreParams(self, params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Restore driven by typed parameters."""
        self._o.restore_params(params, flags)
        return 0

    def saveImageGetXMLDesc(self, file: str, flags: int = 0) -> str:  # noqa: N802
        """The domain XML inside a save image."""
        return self._o.save_image_get_xml_desc(file, flags)

    def saveImageDefineXML(self, file: str, dxml: str, flags: int = 0) -> int:  # noqa: N802
        """Replace the domain XML inside a save image."""
        self._o.save_image_define_xml(file, dxml, flags)
        return 0

    def domainXMLFromNative(self, nativeFormat: str, nativeConfig: str, flags: int = 0) -> str:  # noqa: N802,N803
        """Domain XML from a native configuration."""
        return self._o.domain_xml_from_native(nativeFormat, nativeConfig, flags)

    def domainXMLToNative(self, nativeFormat: str, domainXml: str, flags: int = 0) -> str:  # noqa: N802,N803
        """A native configuration from domain XML."""
        return self._o.domain_xml_to_native(nativeFormat, domainXml, flags)

    # -- statistics --------------------------------------------------------------------------------------------------

    def getAllDomainStats(self, stats: int = 0, flags: int = 0) -> list[tuple[virDomain, TypedParams]]:  # noqa: N802
        """[(domain, {stat: value}), ...] for every domain matching the flags."""
        return [(virDomain(self, dom), params) for dom, params in self._o.get_all_domain_stats(stats, flags)]

    def domainListGetStats(self, doms: Sequence[virDomain], stats: int = 0,  # noqa: N802
                           flags: int = 0) -> list[tuple[virDomain, TypedParams]]:
        """[(domain, {stat: value}), ...] for the given domains."""
        kernel_domains = []
        for dom in doms:
            if not isinstance(dom, virDomain):
                raise TypeError("domainListGetStats: doms must be virDomain objects")
            kernel_domains.append(dom._o)
        return [(virDomain(self, dom), params)
                for dom, params in self._o.domain_list_get_stats(kernel_domains, stats, flags)]

    # -- events ------------------------------------------------------------------------------------------------------

    def _forwarder(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """A kernel callback that hands ``callback(conn, dom, *values, opaque)`` to the event loop."""
        LOOP.watch_connection(self._o)

        def forward(_kernel_conn: Connection, kernel_domain: Domain, *values: Any) -> None:
            LOOP.deliver(self._dispatch, (callback, kernel_domain, values))
        return forward

    def _dispatch(self, callback: Callable[..., Any], kernel_domain: Domain, values: tuple[Any, ...]) -> None:
        if self._o.closed:
            return
        callback(self, virDomain(self, kernel_domain), *values)

    def domainEventRegisterAny(self, dom: Optional[virDomain], eventID: int,  # noqa: N802,N803
                               cb: Callable[..., Any], opaque: Any) -> int:
        """Call ``cb(conn, dom, *event values, opaque)`` for event ``eventID``; returns the callback id."""
        if dom is not None and not isinstance(dom, virDomain):
            raise TypeError("domainEventRegisterAny: dom must be a virDomain or None")
        if not callable(cb):
            raise TypeError("domainEventRegisterAny: cb must be callable")
        callback_id = self._o.domain_event_register_any(dom._o if dom is not None else None, eventID,
                                                        self._forwarder(cb), opaque)
        self._acquire()  # like libvirt, a registered callback holds a reference on the connection
        return callback_id

    def domainEventDeregisterAny(self, callbackID: int) -> int:  # noqa: N802,N803
        """Remove a callback registered with domainEventRegisterAny."""
        self._o.domain_event_deregister_any(callbackID)
        self._release()
        return 0

    def domainEventRegister(self, cb: Callable[..., Any], opaque: Any) -> int:  # noqa: N802
        """Legacy: ``cb(conn, dom, event, detail, opaque)`` for every lifecycle event."""
        if not callable(cb):
            raise TypeError("domainEventRegister: cb must be callable")
        if cb in self._legacy_callbacks:
            raise raise_for(_invalid_arg("this lifecycle callback is already registered"))
        callback_id = self._o.domain_event_register_any(None, int(DomainEventID.LIFECYCLE), self._forwarder(cb),
                                                        opaque)
        self._legacy_callbacks[cb] = callback_id
        self._acquire()
        return 0

    def domainEventDeregister(self, cb: Callable[..., Any]) -> int:  # noqa: N802
        """Legacy: remove a lifecycle callback."""
        callback_id = self._legacy_callbacks.pop(cb, None)
        if callback_id is None:
            raise raise_for(_invalid_arg("this lifecycle callback is not registered"))
        self._o.domain_event_deregister_any(callback_id)
        self._release()
        return 0


def _unsupported_method(python_name: str) -> Any:
    c_name = "virConnect" + python_name[:1].upper() + python_name[1:]

    def method(self: Any, *_args: Any, **_kwargs: Any) -> Any:
        raise raise_for(unsupported(c_name))
    method.__name__ = python_name
    method.__doc__ = f"Not supported by virtkernel ({c_name}): raises libvirtError VIR_ERR_NO_SUPPORT."
    return method


for _name in UNSUPPORTED_METHODS:
    if not hasattr(virConnect, _name):
        setattr(virConnect, _name, _unsupported_method(_name))


# --- opening -------------------------------------------------------------------------------------------------------

def _uri(name: Optional[str]) -> Optional[str]:
    return name if name else (os.environ.get(DEFAULT_URI_VARIABLE) or None)


@translating
def open(name: Optional[str] = None) -> virConnect:  # noqa: A001 - libvirt-python's name
    """Open a read-write connection to ``name`` (default: $LIBVIRT_DEFAULT_URI, then $VIRTKERNEL_DEFAULT_URI)."""
    return virConnect(kernel_connection.open(_uri(name)))


@translating
def openReadOnly(name: Optional[str] = None) -> virConnect:  # noqa: N802
    """Open a read-only connection."""
    return virConnect(kernel_connection.open(_uri(name), read_only=True))


@translating
def openAuth(uri: Optional[str], auth: Optional[list[Any]] = None, flags: int = 0) -> virConnect:  # noqa: N802
    """Open a connection; ``auth`` ([credential types, callback, data]) is accepted and unused by local drivers."""
    read_only = bool(int(flags) & VIR_CONNECT_RO)
    return virConnect(kernel_connection.open(_uri(uri), read_only=read_only))


def getVersion(name: Optional[str] = None) -> Any:  # noqa: N802
    """The library version, or (library version, driver version) when a driver type is named."""
    if name is None:
        return LIB_VERSION
    return (LIB_VERSION, LIB_VERSION)


def virInitialize() -> int:  # noqa: N802
    """Nothing to initialise; kept for programs that call it."""
    return 0
