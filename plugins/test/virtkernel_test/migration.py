"""Migration phases of the test driver: two ``test:///…`` hosts in one process migrate domains for real.

The guest's "memory" travels over an in-process wire: the destination's Prepare opens an incoming slot at a
migration URI (``tcp://HOSTNAME:PORT``, port from the shared :class:`~virtkernel.migration.PortAllocator`),
the source's Perform pauses the guest and sends its live definition, state and statistics to that slot, and
the destination's Finish starts the guest from what arrived. Cookies are real
:class:`~virtkernel.migration.MigrationCookie` documents (host identity, persistent definition, statistics,
NBD storage), so every negotiation rule of the kernel is exercised.

What this mixin needs from the test driver class that inherits it (it calls nothing private):

* ``self.context`` — the :class:`~virtkernel.DriverContext` stored by ``connect_open`` (URI, events, hooks);
* the driver's own hook methods, called on ``self`` with keyword arguments filtered to what each accepts:
  ``domain_lookup_by_uuid``, ``domain_lookup_by_name``, ``domain_get_xml_desc``, ``domain_is_persistent``,
  ``domain_get_state``, ``domain_get_info``, ``domain_define_xml`` (making a running transient domain
  persistent), ``domain_undefine``; optional: ``connect_get_hostname``, ``domain_get_block_info``;
* the run-state changes of a migrating guest, with libvirt's MIGRATED reasons and events (migrating.py):
  ``migration_pause_source``, ``migration_resume_source``, ``migration_stop_source``,
  ``migration_start_incoming(xml)`` (paused), ``migration_finish_incoming(dom, paused)``,
  ``migration_discard_incoming``;
* ``connect_supports_feature`` answering MIGRATION_V1/V2/V3/PARAMS/P2P/OFFLINE/MIGRATE_CHANGE_PROTECTION
  (switchable off in the host XML); MIGRATION_DIRECT is off by default (switched on, a direct migration
  finds no prepared destination on the wire and fails cleanly: there is no listening test hypervisor);
* optional ``self.host_uuid`` (str): the host's UUID when the host XML gives one;
* optional ``self.guest(ref)`` returning an object with a ``job_stats`` slot: finished migration jobs are
  also published there, for a driver whose getJobStats(COMPLETED) reads that slot.

Jobs: libvirt's test driver answers getJobInfo/getJobStats/abortJob with NO_SUPPORT (the golden data holds
the test driver to that for domains that never migrated), so this mixin does not implement those hooks.
Migration jobs are tracked in ``driver.migration_jobs`` (a :class:`~virtkernel.migration.JobTracker`) and
exposed by ``migration_job_known(dom)``, ``migration_job_info(dom)``, ``migration_job_stats(dom, flags)`` and
``migration_abort_job(dom)``; the driver's job hooks (jobs.py) delegate to them.

Host switches, read from the host XML file (``test:///ABS/PATH.xml``), one optional element below its root::

    <vk:migration xmlns:vk='https://virtkernel.dev/xmlns/test/1'
                  host-uuid='…' cookie-features='persistent statistics nbd' mandatory='statistics'
                  iterations='3' iteration-delay='0.01'>
      <vk:fail phase='perform' message='cable unplugged'/>   <!-- begin|prepare|perform|finish|confirm -->
    </vk:migration>

(the protocol switches are the driver's ``<vk:features><vk:disable name='MIGRATION_V3'/></vk:features>``).

Without a host UUID the host's UUID is derived from the URI, so two host files are two hosts.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, Optional


from virtkernel import hookimpl
from virtkernel.domainxml import parse_xml, renamed_xml
from virtkernel.enums import (DomainMigrateFlags as M, DomainState,
                              DomainXMLFlags, ErrorCode, ErrorDomain)
from virtkernel.errors import ArgumentUnsupported, NoDomain, OperationFailed, OperationInvalid, VirtError
from virtkernel.lifecycle import HookPoint
from virtkernel.migration import (CookieFeature, JobOperation, JobTracker, MigrationCookie, NbdDisk,
                                  PortAllocator, emit_migration_iteration, incoming_uri, parse_migration_uri)
from virtkernel.migration.p2p import migrate_peer_to_peer
from virtkernel.migration.sequences import SourceSide
from virtkernel.migration import NbdSection, StoragePath
from virtkernel.migration.storage import PrecreatedDisks, chosen_path, destination_answer, source_offer
from virtkernel.types import DomainRef, JobInfo, MigrationResult, TypedParams

log = logging.getLogger(__name__)

SWITCHES_NS = "https://virtkernel.dev/xmlns/test/1"
"""The test driver's own namespace for host-file extensions (the same one its feature switches use)."""
PHASES = ("begin", "prepare", "perform", "finish", "confirm")
DEFAULT_COOKIE_FEATURES = CookieFeature.PERSISTENT | CookieFeature.STATISTICS | CookieFeature.NBD
STATS_PREFIX = "domain."

PORTS = PortAllocator(name="test-driver migration", check_bind=False)
"""Ports of the in-process wire (nothing listens for real, so no bind check)."""


@dataclass
class _Slot:
    """One incoming migration on the wire: what the destination waits for and what the source sent."""

    host_uuid: str
    domain_name: str
    payload: Optional[dict[str, Any]] = None


_WIRE: dict[str, _Slot] = {}
_WIRE_LOCK = threading.Lock()


@dataclass
class MigrationSwitches:
    """The host's migration switches from its host XML."""

    host_uuid: Optional[str] = None
    cookie_features: CookieFeature = DEFAULT_COOKIE_FEATURES
    mandatory: CookieFeature = CookieFeature(0)
    fail: dict[str, str] = field(default_factory=dict)
    iterations: int = 1
    iteration_delay: float = 0.0


def read_switches(path: Optional[str]) -> MigrationSwitches:
    """Parse the <migration> switches of a host XML file (defaults when there is none)."""
    switches = MigrationSwitches()
    if not path or not os.path.isfile(path):
        return switches
    with open(path, "rb") as handle:
        root = parse_xml(handle.read(), "test host description")
    node = root.find(f"{{{SWITCHES_NS}}}migration")
    if node is None:
        return switches
    switches.host_uuid = node.get("host-uuid")
    if node.get("cookie-features") is not None:
        switches.cookie_features = _features(node.get("cookie-features", ""))
    switches.mandatory = _features(node.get("mandatory", ""))
    switches.iterations = max(1, int(node.get("iterations", "1")))
    switches.iteration_delay = float(node.get("iteration-delay", "0"))
    for fail in node.findall(f"{{{SWITCHES_NS}}}fail"):
        phase = fail.get("phase", "")
        if phase not in PHASES:
            raise VirtError(f"unknown migration phase '{phase}' in the test host's <fail> switch "
                            f"(known: {', '.join(PHASES)})", code=ErrorCode.XML_ERROR, domain=ErrorDomain.TEST)
        switches.fail[phase] = fail.get("message") or f"injected failure in the {phase} phase"
    return switches


def _features(text: str) -> CookieFeature:
    result = CookieFeature(0)
    for name in text.split():
        feature = CookieFeature.from_element(name)
        if feature is None:
            raise VirtError(f"unknown migration cookie feature '{name}' in the test host description",
                            code=ErrorCode.XML_ERROR, domain=ErrorDomain.TEST)
        result |= feature
    return result


@dataclass
class _Outgoing:
    """Source-side record of a migration between Begin and Confirm."""

    ref: DomainRef
    flags: int
    paused_by_us: bool = False
    job_started: bool = False
    offline: bool = False
    stats: dict[str, int] = field(default_factory=dict)
    offer: Optional[NbdSection] = None
    storage: StoragePath = StoragePath.NONE


@dataclass
class _Incoming:
    """Destination-side record of a migration between Prepare and Finish."""

    name: Optional[str]
    uuid: Optional[str]
    xml: Optional[str]
    flags: int
    uri: str
    port: Optional[int]
    source_host_uuid: Optional[str]
    persistent_xml: Optional[str] = None
    ref: Optional[DomainRef] = None
    disks: Optional[PrecreatedDisks] = None
    offline: bool = False


class TestMigrationPhases:
    """The test driver's implementation of the migration phase hooks (v1, v2, v3, v3-params, peer-to-peer)."""

    __test__ = False  # not a pytest test class, despite its name

    # -- plumbing ----------------------------------------------------------------------------------------------------

    def _own(self, hook: str, **kwargs: Any) -> Any:
        """Call one of the driver's own hook methods with the keyword arguments it accepts."""
        method = getattr(self, hook, None)
        if method is None:
            raise VirtError(f"the test driver cannot migrate: it lacks {hook}", code=ErrorCode.NO_SUPPORT,
                            domain=ErrorDomain.TEST)
        accepted = inspect.signature(method).parameters
        return method(**{k: v for k, v in kwargs.items() if k in accepted})

    @property
    def _mig(self) -> dict[str, Any]:
        state = self.__dict__.get("_migration_state")
        if state is None:
            context = getattr(self, "context", None)
            path = context.uri.path if context is not None else None
            switches = read_switches(path)
            host_uuid = getattr(self, "host_uuid", None) or switches.host_uuid
            if not host_uuid:
                host_uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"virtkernel-test-host:{path or 'default'}"))
            events = context.events if context is not None else None
            state = {"switches": switches, "host_uuid": str(uuidlib.UUID(host_uuid)), "outgoing": {},
                     "incoming": {}, "jobs": JobTracker(events=events), "volumes": {}, "lock": threading.RLock(),
                     "migrated": set()}
            self.__dict__["_migration_state"] = state
        return state

    @property
    def migration_cookie_features(self) -> CookieFeature:
        """The cookie features this host supports (host switch ``cookie-features``)."""
        return self._mig["switches"].cookie_features

    @hookimpl
    def connect_get_migration_cookie_features(self) -> int:
        return int(self.migration_cookie_features)

    @hookimpl
    def connect_supports_migration_storage_fallback(self, domain: str, side: str) -> bool:
        # without NBD on a side, Perform still goes ahead and labels the transfer 'fallback'
        return True

    @property
    def migration_host_uuid(self) -> str:
        """This host's UUID as written in migration cookies."""
        return self._mig["host_uuid"]

    @property
    def migration_jobs(self) -> JobTracker:
        """The host's domain jobs (migration in/out)."""
        return self._mig["jobs"]

    def _start_job(self, dom: DomainRef, operation: JobOperation) -> None:
        with self._mig["lock"]:
            self._mig["migrated"].add(dom.uuid)
        self.migration_jobs.start(dom, operation, async_=True)

    def migration_job_known(self, dom: DomainRef) -> bool:
        """Whether ``dom`` has (or had, on this host) a migration job: only then do the job entry points answer."""
        with self._mig["lock"]:
            return dom.uuid in self._mig["migrated"]

    @property
    def migration_volumes(self) -> dict[str, int]:
        """Disks this host pre-created for incoming NBD storage migrations: 'domain/target' -> size."""
        return self._mig["volumes"]

    def _hostname(self) -> str:
        try:
            name = self._own("connect_get_hostname")
        except VirtError:
            name = None
        return name or f"testhost-{self.migration_host_uuid[:8]}"

    def _maybe_fail(self, phase: str) -> None:
        message = self._mig["switches"].fail.get(phase)
        if message is not None:
            raise OperationFailed(f"migration {phase} failed on test host {self._hostname()}: {message}",
                                  code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.TEST)

    def _write(self, cookie: MigrationCookie) -> bytes:
        mandatory = self._mig["switches"].mandatory & cookie.features
        cookie.require(mandatory)
        return cookie.to_bytes()

    def _read(self, data: Optional[bytes], peer: Optional[str] = None) -> Optional[MigrationCookie]:
        if data is None:
            return None
        return MigrationCookie.parse(data, supported=self.migration_cookie_features,
                                     local_host_uuid=self.migration_host_uuid, peer_host_uuid=peer)

    # -- source: Begin -----------------------------------------------------------------------------------------------

    def _begin(self, dom: DomainRef, xmlin: Optional[str], flags: int, dname: Optional[str],
               params: Optional[TypedParams] = None) -> MigrationResult:
        state, _reason = self._own("domain_get_state", dom=dom, flags=0)
        offline = bool(flags & M.OFFLINE)
        _refuse_tunnelled(flags)
        _refuse_postcopy_resume(flags)
        if offline and not flags & M.PERSIST_DEST:
            raise OperationInvalid("offline migration requires VIR_MIGRATE_PERSIST_DEST",
                                   code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.TEST)
        persistent = bool(self._own("domain_is_persistent", dom=dom))
        if offline:
            if not persistent:
                raise OperationInvalid(f"domain '{dom.name}' is transient: there is nothing to migrate offline",
                                       code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.TEST)
        elif state not in (DomainState.RUNNING, DomainState.PAUSED):
            raise OperationInvalid(f"domain '{dom.name}' is not running", code=ErrorCode.OPERATION_INVALID,
                                   domain=ErrorDomain.TEST)
        self._check_not_migrating(dom)
        xml_flags = DomainXMLFlags.MIGRATABLE | DomainXMLFlags.SECURE
        if offline:
            xml_flags |= DomainXMLFlags.INACTIVE
        xml = xmlin or self._own("domain_get_xml_desc", dom=dom, flags=int(xml_flags))
        if dname:
            xml = renamed_xml(xml, dname)
        outgoing = _Outgoing(dom, flags, offline=offline)
        cookie = MigrationCookie(name=dom.name, uuid=dom.uuid, hostname=self._hostname(),
                                 host_uuid=self.migration_host_uuid)
        supported = self.migration_cookie_features
        if persistent and supported & CookieFeature.PERSISTENT:
            inactive = self._own("domain_get_xml_desc", dom=dom,
                                 flags=int(DomainXMLFlags.INACTIVE | DomainXMLFlags.SECURE))
            cookie.persistent_xml = renamed_xml(inactive, dname)
        if supported & CookieFeature.STATISTICS:
            cookie.statistics = self._domain_statistics(dom)
        if not offline:
            cookie.nbd = outgoing.offer = source_offer(self._disks(dom), flags, supported, params)
        data = self._write(cookie)
        self._maybe_fail("begin")
        with self._mig["lock"]:
            self._check_not_migrating(dom)
            if flags & M.CHANGE_PROTECTION:
                # change protection: the source job spans every phase until Confirm
                self._start_job(dom, JobOperation.MIGRATION_OUT)
                outgoing.job_started = True
            self._mig["outgoing"][dom.uuid] = outgoing
        return MigrationResult(xml=xml, cookie=data)

    def _check_not_migrating(self, dom: DomainRef) -> None:
        """Refuse a second migration while one holds the domain (a Begin without protection holds nothing)."""
        with self._mig["lock"]:
            current = self._mig["outgoing"].get(dom.uuid)
            if current is not None and (current.job_started or current.paused_by_us):
                raise OperationInvalid(f"domain '{dom.name}' is already being migrated",
                                       code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.TEST)

    def pending_incoming(self) -> list[str]:
        """Migration URIs this host has prepared and not yet finished."""
        with self._mig["lock"]:
            return sorted(self._mig["incoming"])

    def active_outgoing(self) -> list[str]:
        """Names of the domains this host is migrating away right now (holding a job or paused for it)."""
        with self._mig["lock"]:
            return sorted(o.ref.name for o in self._mig["outgoing"].values() if o.job_started or o.paused_by_us)

    def _domain_statistics(self, dom: DomainRef) -> dict[str, int]:
        info = self._own("domain_get_info", dom=dom)
        return {"memory_total": int(info.memory) * 1024, "cpu_time": int(info.cpu_time),
                "vcpus": int(info.nr_virt_cpu)}

    def _disks(self, dom: DomainRef) -> list[NbdDisk]:
        xml = self._own("domain_get_xml_desc", dom=dom, flags=0)
        disks = []
        for disk in parse_xml(xml, "domain XML").iterfind("devices/disk"):
            target = disk.find("target")
            if target is None or disk.get("device", "disk") != "disk" or not target.get("dev"):
                continue
            capacity = 0
            if hasattr(self, "domain_get_block_info"):
                try:
                    capacity = int(self._own("domain_get_block_info", dom=dom, disk=target.get("dev"),
                                             flags=0).capacity)
                except VirtError:
                    capacity = 0
            disks.append(NbdDisk(target.get("dev"), capacity))
        return disks

    @hookimpl
    def domain_migrate_begin3(self, dom: DomainRef, xmlin: Optional[str], flags: int, dname: Optional[str],
                              bandwidth: int) -> MigrationResult:
        return self._begin(dom, xmlin, flags, dname)

    @hookimpl
    def domain_migrate_begin3_params(self, dom: DomainRef, params: TypedParams, flags: int) -> MigrationResult:
        return self._begin(dom, params.get("destination_xml"), flags, params.get("destination_name"), params)

    # -- destination: Prepare ----------------------------------------------------------------------------------------

    def _prepare(self, cookiein: Optional[bytes], uri_in: Optional[str], flags: int, dname: Optional[str],
                 dom_xml: Optional[str], params: Optional[TypedParams] = None) -> MigrationResult:
        _refuse_postcopy_resume(flags)
        begin = self._read(cookiein)
        name = dname or (begin.name if begin is not None else None)
        if dom_xml is not None:
            dom_xml = self.context.hooks.run(HookPoint.MIGRATE, name=name or "", uuid=begin.uuid if begin else "",
                                             xml=dom_xml, sub_operation="begin") if hasattr(self, "context") else dom_xml
            definition = parse_xml(dom_xml, "incoming domain XML")
            name = dname or definition.findtext("name")
            if dname:
                dom_xml = renamed_xml(dom_xml, dname)
        uuid = begin.uuid if begin is not None else (_uuid_of(dom_xml) if dom_xml else None)
        self._refuse_conflicts(name, uuid)
        incoming_at = incoming_uri(uri_in or (params or {}).get("migrate_uri"), self._hostname(), PORTS,
                                   resolver=None, listen_address=(params or {}).get("listen_address"))
        record = _Incoming(name=name, uuid=uuid, xml=dom_xml, flags=flags, uri=str(incoming_at.uri),
                           port=incoming_at.allocated_port,
                           source_host_uuid=begin.host_uuid if begin is not None else None,
                           persistent_xml=(params or {}).get("persistent_xml") or
                           (begin.persistent_xml if begin is not None else None),
                           offline=bool(flags & M.OFFLINE))
        answer = MigrationCookie(name=name or "", uuid=uuid or "00000000-0000-0000-0000-000000000000",
                                 hostname=self._hostname(), host_uuid=self.migration_host_uuid)
        try:
            with _WIRE_LOCK:
                if record.uri in _WIRE:
                    raise OperationFailed(f"migration URI {record.uri} is already in use",
                                          code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.TEST)
                _WIRE[record.uri] = _Slot(self.migration_host_uuid, name)
            if not record.offline and dom_xml is not None:
                record.ref = self._own("migration_start_incoming", xml=dom_xml)
                self._start_job(record.ref, JobOperation.MIGRATION_IN)
            if begin is not None and not record.offline:
                answer.nbd, record.disks = destination_answer(
                    begin.nbd, self.migration_cookie_features, PORTS,
                    lambda disk: self._create_volume(name or "", disk), self._remove_volume)
            self._maybe_fail("prepare")
        except BaseException as exc:
            self._discard_incoming(record, exc)
            raise
        with self._mig["lock"]:
            self._mig["incoming"][record.uri] = record
        return MigrationResult(cookie=self._write(answer), uri_out=record.uri)

    def _refuse_conflicts(self, name: Optional[str], uuid: Optional[str]) -> None:
        if name is None:
            return
        with self._mig["lock"]:
            if any(r.name == name for r in self._mig["incoming"].values()):
                raise OperationInvalid(f"domain '{name}' is already being migrated to this host",
                                       code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.TEST)
        try:
            existing = self._own("domain_lookup_by_name", name=name)
        except NoDomain:
            existing = None
        if existing is not None:
            if uuid is not None and existing.uuid != uuid:
                raise OperationInvalid(f"a different domain named '{name}' (UUID {existing.uuid}) already exists "
                                       "on the destination", code=ErrorCode.OPERATION_INVALID,
                                       domain=ErrorDomain.TEST)
            state, _ = self._own("domain_get_state", dom=existing, flags=0)
            if state not in (DomainState.SHUTOFF,):
                raise OperationInvalid(f"domain '{name}' is already active on the destination",
                                       code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.TEST)

    def _create_volume(self, name: str, disk: NbdDisk) -> str:
        key = f"{name}/{disk.target}"
        with self._mig["lock"]:
            if key in self.migration_volumes:
                raise OperationFailed(f"disk '{disk.target}' of domain '{name}' already exists on the destination",
                                      code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.TEST)
            self.migration_volumes[key] = disk.capacity
        return key

    def _remove_volume(self, key: str) -> None:
        with self._mig["lock"]:
            self.migration_volumes.pop(key, None)

    def _discard_incoming(self, record: _Incoming, error: Optional[BaseException] = None) -> None:
        """Undo everything Prepare did on this host (the guest, pre-created disks, port, wire slot)."""
        if record.ref is not None:
            self.migration_jobs.end(record.ref, error=error or OperationFailed("migration cancelled"))
            self._publish_completed_job(record.ref)
            try:
                self._own("migration_discard_incoming", dom=record.ref)
            except VirtError as exc:
                log.warning("could not remove the incoming domain '%s': %s", record.name, exc)
        if record.disks is not None:
            record.disks.rollback()
        with _WIRE_LOCK:
            _WIRE.pop(record.uri, None)
        PORTS.release(record.port)
        with self._mig["lock"]:
            if self._mig["incoming"].get(record.uri) is record:
                del self._mig["incoming"][record.uri]

    @hookimpl
    def domain_migrate_prepare3(self, cookiein: Optional[bytes], uri_in: Optional[str], flags: int,
                                dname: Optional[str], bandwidth: int, dom_xml: str) -> MigrationResult:
        return self._prepare(cookiein, uri_in, flags, dname, dom_xml)

    @hookimpl
    def domain_migrate_prepare3_params(self, params: TypedParams, cookiein: Optional[bytes],
                                       flags: int) -> MigrationResult:
        return self._prepare(cookiein, params.get("migrate_uri"), flags, params.get("destination_name"),
                             params.get("destination_xml"), params)

    @hookimpl
    def domain_migrate_prepare2(self, uri_in: Optional[str], flags: int, dname: Optional[str], bandwidth: int,
                                dom_xml: str) -> MigrationResult:
        return self._prepare(None, uri_in, flags, dname, dom_xml)

    @hookimpl
    def domain_migrate_prepare(self, uri_in: Optional[str], flags: int, dname: Optional[str],
                               bandwidth: int) -> MigrationResult:
        return self._prepare(None, uri_in, flags, dname, None)

    # -- source: Perform ---------------------------------------------------------------------------------------------

    def _perform(self, dom: DomainRef, cookiein: Optional[bytes], uri: Optional[str], flags: int,
                 dname: Optional[str], params: Optional[TypedParams] = None) -> MigrationResult:
        with self._mig["lock"]:
            outgoing = self._mig["outgoing"].get(dom.uuid)
        if outgoing is None:  # protocol 1/2: no Begin ran
            outgoing = _Outgoing(dom, flags)
            with self._mig["lock"]:
                self._mig["outgoing"][dom.uuid] = outgoing
        try:
            prepared = self._read(cookiein)
            if not outgoing.job_started:
                self._start_job(dom, JobOperation.MIGRATION_OUT)
                outgoing.job_started = True
            job = self.migration_jobs.current(dom)
            state, _ = self._own("domain_get_state", dom=dom, flags=0)
            if state == DomainState.RUNNING:
                self._own("migration_pause_source", dom=dom)
                outgoing.paused_by_us = True
            outgoing.storage = chosen_path(flags, outgoing.offer, prepared.nbd if prepared is not None else None)
            payload = self._transfer(dom, flags, job)
            payload["storage"] = outgoing.storage.value
            self._maybe_fail("perform")
            target = parse_migration_uri(uri) if uri else None
            with _WIRE_LOCK:
                slot = _WIRE.get(str(target)) if target is not None else None
                if slot is None:
                    raise OperationFailed(f"no destination is waiting for the migration at {uri}",
                                          code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.TEST)
                if slot.host_uuid == self.migration_host_uuid:
                    raise OperationInvalid("attempt to migrate a domain to the host it runs on",
                                           code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.TEST)
                slot.payload = payload
        except BaseException as exc:
            self._abort_outgoing(outgoing, exc)
            raise
        outgoing.stats = payload["stats"]
        cookie = MigrationCookie(name=dom.name, uuid=dom.uuid, hostname=self._hostname(),
                                 host_uuid=self.migration_host_uuid)
        if self.migration_cookie_features & CookieFeature.STATISTICS:
            cookie.statistics = dict(payload["stats"])
        return MigrationResult(cookie=self._write(cookie))

    def _transfer(self, dom: DomainRef, flags: int, job: Any) -> dict[str, Any]:
        """Send the guest: memory in iterations (abortable, with MIGRATION_ITERATION events)."""
        switches: MigrationSwitches = self._mig["switches"]
        started = time.monotonic()
        memory = self._domain_statistics(dom)["memory_total"]
        for iteration in range(1, switches.iterations + 1):
            if job is not None:
                job.check_abort()
                remaining = memory * (switches.iterations - iteration) // switches.iterations
                job.update(memory_total=memory, memory_processed=memory - remaining, memory_remaining=remaining,
                           memory_iteration=iteration, data_total=memory, data_processed=memory - remaining,
                           data_remaining=remaining)
            if hasattr(self, "context"):
                emit_migration_iteration(self.context.events, dom, iteration)
            if switches.iteration_delay:
                time.sleep(switches.iteration_delay)
        if job is not None:
            job.check_abort()
        xml = self._own("domain_get_xml_desc", dom=dom, flags=int(DomainXMLFlags.MIGRATABLE | DomainXMLFlags.SECURE))
        stats = {"memory_total": memory, "memory_processed": memory, "memory_remaining": 0,
                 "memory_iteration": switches.iterations, "downtime": 1,
                 "time_elapsed": int((time.monotonic() - started) * 1000)}
        return {"xml": xml, "paused": bool(flags & M.PAUSED), "stats": stats}

    def _abort_outgoing(self, outgoing: _Outgoing, error: Optional[BaseException]) -> None:
        """The source gives up: resume the guest if we paused it, end the job, forget the migration."""
        if outgoing.paused_by_us:
            try:
                self._own("migration_resume_source", dom=outgoing.ref)
            except VirtError as exc:
                log.warning("could not resume '%s' after a failed migration: %s", outgoing.ref.name, exc)
            outgoing.paused_by_us = False
        if outgoing.job_started:
            self.migration_jobs.end(outgoing.ref, error=error or OperationFailed("migration cancelled"))
            self._publish_completed_job(outgoing.ref)
            outgoing.job_started = False
        with self._mig["lock"]:
            self._mig["outgoing"].pop(outgoing.ref.uuid, None)

    def _peer_to_peer(self, dom: DomainRef, dconnuri: str, flags: int, params: Optional[TypedParams],
                      xmlin: Optional[str], dname: Optional[str], uri: Optional[str], bandwidth: int) -> MigrationResult:
        _refuse_tunnelled(flags)
        _refuse_postcopy_resume(flags)
        source = SourceSide(
            dom,
            begin=lambda params, xmlin, dname, bandwidth, flags: self._begin(dom, xmlin, flags, dname, params),
            perform=lambda params, cookiein, uri, dname, bandwidth, flags: self._perform(dom, cookiein, uri, flags,
                                                                                         dname, params),
            confirm=lambda params, cookiein, flags, cancelled: self._confirm(dom, cookiein, flags, cancelled),
            is_paused=lambda: self._own("domain_get_state", dom=dom, flags=0)[0] == DomainState.PAUSED)
        try:
            migrate_peer_to_peer(source, dconnuri, flags, params=params, xmlin=xmlin, dname=dname, uri=uri,
                                 bandwidth=bandwidth)
        except BaseException as exc:
            with self._mig["lock"]:
                outgoing = self._mig["outgoing"].get(dom.uuid)
            if outgoing is not None:  # e.g. Prepare failed without change protection: Confirm never ran
                self._abort_outgoing(outgoing, exc)
            raise
        return MigrationResult()

    @hookimpl
    def domain_migrate_perform3(self, dom: DomainRef, xmlin: Optional[str], cookiein: Optional[bytes],
                                dconnuri: Optional[str], uri: Optional[str], flags: int, dname: Optional[str],
                                bandwidth: int) -> MigrationResult:
        if flags & M.PEER2PEER:
            return self._peer_to_peer(dom, dconnuri or "", flags, None, xmlin, dname, uri, bandwidth)
        return self._perform(dom, cookiein, uri, flags, dname)

    @hookimpl
    def domain_migrate_perform3_params(self, dom: DomainRef, dconnuri: Optional[str], params: TypedParams,
                                       cookiein: Optional[bytes], flags: int) -> MigrationResult:
        if flags & M.PEER2PEER:
            return self._peer_to_peer(dom, dconnuri or "", flags, params, None, None, None, 0)
        return self._perform(dom, cookiein, params.get("migrate_uri"), flags, params.get("destination_name"), params)

    @hookimpl
    def domain_migrate_perform(self, dom: DomainRef, cookie: Optional[bytes], uri: Optional[str], flags: int,
                               dname: Optional[str], bandwidth: int) -> int:
        if flags & M.PEER2PEER:
            raise ArgumentUnsupported("the test driver runs peer-to-peer migration with protocol 3 only",
                                      code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.TEST)
        self._perform(dom, cookie, uri, flags, dname)
        # protocols 1 and 2 have no Confirm: the source lets go as soon as the data is sent
        self._confirm(dom, None, flags, cancelled=False)
        return 0

    # -- destination: Finish -----------------------------------------------------------------------------------------

    def _finish(self, dname: str, uri: Optional[str], cookiein: Optional[bytes], flags: int, cancelled: bool,
                params: Optional[TypedParams] = None) -> MigrationResult:
        with self._mig["lock"]:
            record = self._mig["incoming"].get(uri) if uri else None
            if record is None:
                record = next((r for r in self._mig["incoming"].values() if r.name == dname), None)
        if record is None:
            raise NoDomain(f"no incoming migration of domain '{dname}' on this host",
                           code=ErrorCode.NO_DOMAIN, domain=ErrorDomain.TEST)
        if cancelled:
            self._discard_incoming(record)
            return MigrationResult()
        try:
            performed = self._read(cookiein, record.source_host_uuid)
            with _WIRE_LOCK:
                slot = _WIRE.get(record.uri)
            payload = slot.payload if slot is not None else None
            if payload is None and not record.offline:
                raise OperationFailed(f"no migration data for domain '{dname}' arrived at {record.uri}",
                                      code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.TEST)
            self._maybe_fail("finish")
            ref = record.ref
            if not record.offline:
                if ref is None:  # protocol 1: the definition travelled with the data
                    xml = renamed_xml(payload["xml"], dname)
                    ref = record.ref = self._own("migration_start_incoming", xml=xml)
                    self._start_job(ref, JobOperation.MIGRATION_IN)
                ref = self._own("migration_finish_incoming", dom=ref,
                                paused=bool(flags & M.PAUSED or payload.get("paused")))
            if flags & M.PERSIST_DEST:
                persistent = (params or {}).get("persistent_xml") or record.persistent_xml or record.xml \
                    or (payload or {}).get("xml")
                defined = self._own("domain_define_xml", xml=renamed_xml(persistent, dname), flags=0)
                if ref is None:
                    ref = defined
            if ref is None:
                raise OperationFailed(f"offline migration of '{dname}' produced no domain",
                                      code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.TEST)
            stats = dict((performed.statistics or {}) if performed is not None else {})
            job = self.migration_jobs.current(record.ref) if record.ref is not None else None
            if job is not None:
                job.update(**{k: v for k, v in stats.items() if k in _JOB_KEYS})
                self.migration_jobs.end(record.ref)
                self._publish_completed_job(record.ref)
        except BaseException as exc:
            self._discard_incoming(record, exc)
            raise
        if record.disks is not None:
            record.disks.commit()
        with _WIRE_LOCK:
            _WIRE.pop(record.uri, None)
        PORTS.release(record.port)
        with self._mig["lock"]:
            self._mig["incoming"].pop(record.uri, None)
        answer = MigrationCookie(name=dname, uuid=ref.uuid, hostname=self._hostname(),
                                 host_uuid=self.migration_host_uuid)
        current = self._own("domain_lookup_by_uuid", uuid=ref.uuid)
        return MigrationResult(cookie=self._write(answer), domain=current)

    @hookimpl
    def domain_migrate_finish3(self, dname: str, cookiein: Optional[bytes], dconnuri: Optional[str],
                               uri: Optional[str], flags: int, cancelled: bool) -> MigrationResult:
        return self._finish(dname, uri, cookiein, flags, cancelled)

    @hookimpl
    def domain_migrate_finish3_params(self, params: TypedParams, cookiein: Optional[bytes], flags: int,
                                      cancelled: bool) -> MigrationResult:
        return self._finish(params["destination_name"], params.get("migrate_uri"), cookiein, flags, cancelled,
                            params)

    @hookimpl
    def domain_migrate_finish2(self, dname: str, cookie: Optional[bytes], uri: Optional[str], flags: int,
                               retcode: int) -> MigrationResult:
        return self._finish(dname, uri, None, flags, bool(retcode))

    @hookimpl
    def domain_migrate_finish(self, dname: str, cookie: Optional[bytes], uri: Optional[str], flags: int) -> DomainRef:
        return self._finish(dname, uri, None, flags, False).domain

    # -- source: Confirm ---------------------------------------------------------------------------------------------

    def _confirm(self, dom: DomainRef, cookiein: Optional[bytes], flags: int, cancelled: bool) -> int:
        with self._mig["lock"]:
            outgoing = self._mig["outgoing"].get(dom.uuid)
        if outgoing is None:
            raise OperationInvalid(f"domain '{dom.name}' is not being migrated", code=ErrorCode.OPERATION_INVALID,
                                   domain=ErrorDomain.TEST)
        if cookiein is not None:
            self._read(cookiein)
        self._maybe_fail("confirm")
        if cancelled:
            self._abort_outgoing(outgoing, OperationFailed("the destination cancelled the migration",
                                                           code=ErrorCode.OPERATION_FAILED,
                                                           domain=ErrorDomain.TEST))
            return 0
        if not outgoing.offline:
            self._own("migration_stop_source", dom=dom)
        if flags & M.UNDEFINE_SOURCE:
            try:
                if self._own("domain_is_persistent", dom=dom):
                    self._own("domain_undefine", dom=dom, flags=0)
            except NoDomain:
                pass  # a transient domain vanished when it stopped
        if outgoing.job_started:
            job = self.migration_jobs.current(dom)
            if job is not None and outgoing.stats:
                job.update(**{k: v for k, v in outgoing.stats.items() if k in _JOB_KEYS})
            self.migration_jobs.end(dom)
            self._publish_completed_job(dom)
        with self._mig["lock"]:
            self._mig["outgoing"].pop(dom.uuid, None)
        return 0

    @hookimpl
    def domain_migrate_confirm3(self, dom: DomainRef, cookiein: Optional[bytes], flags: int,
                                cancelled: bool) -> int:
        return self._confirm(dom, cookiein, flags, cancelled)

    @hookimpl
    def domain_migrate_confirm3_params(self, dom: DomainRef, params: TypedParams, cookiein: Optional[bytes],
                                       flags: int, cancelled: bool) -> int:
        return self._confirm(dom, cookiein, flags, cancelled)

    # -- jobs (the driver's job hooks ask these first) -----------------------------------------------------------

    def migration_job_info(self, dom: DomainRef) -> Optional[JobInfo]:
        """getJobInfo of a running migration job of ``dom``, or None when no migration job runs."""
        return self.migration_jobs.query_info(dom)

    def migration_job_stats(self, dom: DomainRef, flags: int) -> Optional[tuple[int, TypedParams]]:
        """getJobStats of the running migration job (or, with COMPLETED, of the last one), or None."""
        return self.migration_jobs.query_stats(dom, flags)

    def migration_abort_job(self, dom: DomainRef) -> bool:
        """Abort a running migration job of ``dom``; False when none runs (the driver then reports its own error)."""
        if self.migration_jobs.current(dom) is None:
            return False
        self.migration_jobs.abort(dom)
        return True

    def _publish_completed_job(self, ref: DomainRef) -> None:
        """Hand the finished job's statistics to the guest's completed-job slot (what getJobStats(COMPLETED) shows)."""
        kind, stats = self.migration_jobs.stats(ref, completed=True, keep_completed=True)
        guest_of = getattr(self, "guest", None)
        if not stats or guest_of is None:
            return
        try:
            guest = guest_of(ref)
        except VirtError:
            return  # a transient source guest is gone once it stopped
        if hasattr(guest, "job_stats"):
            guest.job_stats = (int(kind), dict(stats))


_JOB_KEYS = {"memory_total", "memory_processed", "memory_remaining", "memory_iteration", "downtime",
             "data_total", "data_processed", "data_remaining", "disk_total", "disk_processed", "disk_remaining"}


def _refuse_postcopy_resume(flags: int) -> None:
    if flags & M.POSTCOPY_RESUME:
        raise ArgumentUnsupported("the test driver has no post-copy migration to resume: "
                                  "VIR_MIGRATE_POSTCOPY_RESUME is not supported",
                                  code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.TEST)


def _refuse_tunnelled(flags: int) -> None:
    if flags & M.TUNNELLED:
        raise ArgumentUnsupported("tunnelled migration is not supported by the test driver",
                                  code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.TEST)




def _uuid_of(xml: str) -> Optional[str]:
    text = parse_xml(xml, "domain XML").findtext("uuid")
    return str(uuidlib.UUID(text.strip())) if text else None
