"""Live migration phases of the qemu driver (between two qemu:/// hosts, e.g. two qemu:///embed roots).

The kernel (virtkernel.migration) negotiates the protocol and runs Begin → Prepare → Perform → Finish →
Confirm; this mixin implements those phase hooks (v3 with params; plain v3 delegates) and the offline path
on top of the QMP choreography in `migration_qmp`, `migration_nbd` and `migration_settings`:

* **Begin** (source): the domain XML for the destination and a cookie with the persistent definition and,
  for VIR_MIGRATE_NON_SHARED_*, the disks to copy (`<nbd>`: target and size).  PERSIST_DEST makes the
  `persistent` section mandatory: a destination that cannot take the persistent definition must refuse
  rather than drop it.
* **Prepare** (destination): reads the cookie (mandatory features it lacks → refusal naming the feature),
  runs the MIGRATE lifecycle hook (may rewrite the XML or refuse), pre-creates the offered disks at the
  listed sizes (an existing smaller disk is refused), starts QEMU with ``-incoming defer`` (paused), sets
  the capabilities both sides must share, listens (``tcp:[::]:PORT`` when the host name resolves to IPv6,
  ``0.0.0.0`` otherwise, a unix socket for ``unix://`` URIs; port from a `PortAllocator`), and serves the
  disks over NBD (writable exports); the answer cookie carries the NBD port.
* **Perform** (source): one migration job (getJobStats with libvirt's keys, MIGRATION_ITERATION events,
  abortJob → ``migrate_cancel``); mirrors each disk into the destination's exports and waits for all of
  them to be READY, then ``migrate``; post-copy when asked (switch with migrate_start_post_copy, e.g. after
  the first pass); returns at completion (or when post-copy has started) with the statistics in the cookie.
* **Finish** (destination): waits for the stream, stops the NBD server, makes the domain persistent when
  asked, resumes it (events STARTED/MIGRATED and RESUMED/MIGRATED) unless VIR_MIGRATE_PAUSED.  Cancelled,
  it kills the incoming QEMU and removes exactly what Prepare created (QEMU, domain, disks, status file,
  port).
* **Confirm** (source): stops the source copy (STOPPED/MIGRATED), undefines it with UNDEFINE_SOURCE;
  cancelled, it cancels the mirrors and resumes the guest if the migration had paused it.

Storage: NBD is the path when both cookies offer it.  Otherwise disks to copy mean a refusal (see
`migration_block`: QEMU's older block migration cannot copy ``-blockdev`` disks), at Begin, Prepare or Perform.

Post-copy failing midway (a broken or silent channel after the switch, or abortJob with
VIR_DOMAIN_ABORT_JOB_POSTCOPY): both QEMUs are kept, paused, with libvirt's POSTCOPY_FAILED reasons and
events, and the call fails naming VIR_MIGRATE_POSTCOPY_RESUME; the same phases with that flag resume the
migration (``migrate-recover`` on a new port, ``migrate`` with ``resume``).  See `migration_postcopy`.

What this mixin needs from the driver class that inherits it (driver.py's internal API):
``self.host`` (the shared `host.QemuHost`: guests, store, events, hooks, capabilities),
``self.start_incoming(definition, owned=...)`` (QEMU started paused with ``-incoming defer``), ``self.finish_incoming``,
``self.stop(guest, reason, kill=...)``, ``self.resume(guest, reason, detail)`` and ``self.persist(guest, definition)``.
The driver delegates ``connect_supports_feature`` for the migration features to
`migration_supports_feature`; the job hooks (getJobInfo/getJobStats/abortJob), the migration tunables,
``connect_get_migration_cookie_features`` and ``connect_supports_migration_storage_fallback`` are implemented
here.  Per-host settings: `CONFIG_FILE`.

Tests: tests/test_migration_phases.py (two embed hosts), test_migration_netns.py (two network namespaces),
test_migration_postcopy_resume.py (post-copy broken midway and resumed), test_migration_engine.py (the QMP
choreography on bare QEMU), test_migration_cli.py, test_migration_settings.py.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional


from virtkernel import hookimpl
from virtkernel.domainxml import DomainDefinition, renamed_xml
from virtkernel.enums import (DomainAbortJobFlags, DomainEventResumedDetailType as Resumed,
                              DomainEventType as Event, DomainMigrateFlags as M, DomainMigrateMaxSpeedFlags,
                              DomainPausedReason, DomainRunningReason, DomainShutoffReason, DomainState, ErrorCode,
                              ErrorDomain)
from virtkernel.errors import ArgumentUnsupported, NoDomain, OperationFailed, OperationInvalid, VirtError
from virtkernel.features import DriverFeature
from virtkernel.lifecycle import HookPoint
from virtkernel.migration import (CookieFeature, JobOperation, JobTracker, MigrationCookie, NbdDisk, NbdSection,
                                  PortAllocator, StoragePath, emit_migration_iteration, incoming_uri,
                                  parse_migration_uri)
from virtkernel.migration.job import KNOWN_STATS
from virtkernel.migration.storage import (PrecreatedDisks, chosen_path, destination_answer, disks_to_migrate,
                                         source_offer)
from virtkernel.types import DomainRef, JobInfo, MigrationResult, TypedParams

from .migration_block import NbdSide, must_refuse, storage_refusal
from .migration_nbd import DiskMirrors, MirrorSpec, NbdEndpoint, NbdServer, disk_size, precreate_disk
from .migration_postcopy import (bytes_read, failed_postcopy_guest, keep_job_paused, mark_destination_failed,
                                 mark_destination_recovered, mark_source_failed, mark_source_postcopy,
                                 new_log_lines, postcopy_failed, require_postcopy_flag)
from .migration_qmp import (DEFAULT_STALL_TIMEOUT, POSTCOPY_STATES, EarlySetup, IncomingMigration,
                            OutgoingMigration, PostcopyPaused, pause_postcopy, qemu_uri, recover_incoming,
                            start_incoming)
from .migration_settings import MiB, UNLIMITED_BANDWIDTH_MIB, DomainTunables, MigrationTuning
from .monitor import MonitorClosed, QMPCommandError

if TYPE_CHECKING:
    from .host import Guest

__all__ = ["QemuMigrationPhases", "PORTS", "COOKIE_FEATURES"]

log = logging.getLogger(__name__)

COOKIE_FEATURES = CookieFeature.PERSISTENT | CookieFeature.STATISTICS | CookieFeature.NBD
"""What this driver writes and reads in migration cookies."""

PORTS = PortAllocator(name="qemu migration")
"""Listening ports of incoming migrations and NBD servers (machine-wide, so one allocator per process)."""

MIGRATION_FEATURES = {DriverFeature.MIGRATION_V3: True, DriverFeature.MIGRATION_PARAMS: True,
                      DriverFeature.MIGRATION_OFFLINE: True, DriverFeature.MIGRATE_CHANGE_PROTECTION: True,
                      DriverFeature.MIGRATION_V2: False, DriverFeature.MIGRATION_V1: False,
                      DriverFeature.MIGRATION_P2P: False, DriverFeature.MIGRATION_DIRECT: False}
"""Answers for the migration feature probes (v1/v2 and unmanaged modes are not implemented)."""

CONFIG_FILE = "migration.conf"
"""Optional per-host file in the host's config dir (ROOT/etc/qemu for embed), JSON:
``{"cookie_features": ["persistent", "statistics", "nbd"], "stall_timeout": 30}`` -- the cookie features this
host supports (fewer, to model an older host) and how long a migration may make no progress before it is
cancelled (a dead link otherwise blocks QEMU for the kernel's TCP retransmission timeout)."""


@functools.lru_cache(maxsize=None)
def _host_uuid(uri: str) -> str:
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "virtkernel-qemu-host:" + uri))


def _error(message: str, code: ErrorCode = ErrorCode.OPERATION_FAILED) -> VirtError:
    return VirtError(message, code=code, domain=ErrorDomain.QEMU)


@dataclass
class _Outgoing:
    """Source side of one migration, from Begin to Confirm."""

    ref: DomainRef
    flags: int
    offline: bool = False
    offer: Optional[NbdSection] = None
    job_started: bool = False
    migration: Optional[OutgoingMigration] = None
    early_setup: Optional[EarlySetup] = None
    mirrors: Optional[DiskMirrors] = None
    was_running: bool = False
    completed: bool = False
    stats: dict[str, int] = field(default_factory=dict)
    resume: bool = False              # VIR_MIGRATE_POSTCOPY_RESUME: continues a failed post-copy migration


@dataclass
class _Incoming:
    """Destination side of one migration, from Prepare to Finish."""

    name: str
    uuid: str
    flags: int
    uri: str
    port: Optional[int] = None
    persistent_xml: Optional[str] = None
    source_host_uuid: Optional[str] = None
    created_guest: bool = False
    started: bool = False
    disks: Optional[PrecreatedDisks] = None
    nbd: Optional[NbdServer] = None
    incoming: Optional[IncomingMigration] = None
    offline: bool = False
    xml: Optional[str] = None
    resume: bool = False              # VIR_MIGRATE_POSTCOPY_RESUME: the guest is already here


class _HostMigrations:
    """Per-host migration state shared by every connection to the host in this process."""

    def __init__(self, events: Any) -> None:
        self.jobs = JobTracker(events=events)
        self.outgoing: dict[str, _Outgoing] = {}
        self.incoming: dict[str, _Incoming] = {}
        self.tunables: dict[str, DomainTunables] = {}
        self.lock = threading.RLock()
        self.config: Optional[tuple[tuple, dict[str, Any]]] = None  # (file version, parsed migration.conf)


_STATES: dict[str, _HostMigrations] = {}
_STATES_LOCK = threading.Lock()


class QemuMigrationPhases:
    """The qemu driver's implementation of the migration phase hooks (see the module docstring)."""

    # -- plumbing ----------------------------------------------------------------------------------------------

    @property
    def _mig(self) -> _HostMigrations:
        host = self.host
        with _STATES_LOCK:
            state = _STATES.get(host.paths.key)
            if state is None:
                state = _STATES[host.paths.key] = _HostMigrations(host.events)
            return state

    @property
    def migration_jobs(self) -> JobTracker:
        """This host's domain jobs (migration in and out)."""
        return self._mig.jobs

    @property
    def migration_host_uuid(self) -> str:
        """This host's UUID in cookies: derived from its URI, so two roots are two hosts."""
        return _host_uuid(self.host.paths.uri)

    def _mig_config(self) -> dict[str, Any]:
        """migration.conf (read again only when the file changed: every phase asks, several times)."""
        path = os.path.join(self.host.paths.config_dir, CONFIG_FILE)
        try:
            info = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except OSError as exc:
            raise _error(f"cannot read {path}: {exc}", ErrorCode.CONFIG_UNSUPPORTED) from None
        state = self._mig
        version = (path, info.st_mtime_ns, info.st_size, info.st_ino)
        cached = state.config
        if cached is not None and cached[0] == version:
            return cached[1]
        import json
        try:
            with open(path, encoding="utf-8") as file:
                config = json.loads(file.read())
            if not isinstance(config, dict):
                raise ValueError("expected a JSON object")
        except (OSError, ValueError) as exc:
            raise _error(f"cannot read {path}: {exc}", ErrorCode.CONFIG_UNSUPPORTED) from None
        state.config = (version, config)
        return config

    @property
    def migration_cookie_features(self) -> CookieFeature:
        """Cookie features this host supports (COOKIE_FEATURES unless migration.conf restricts them)."""
        names = self._mig_config().get("cookie_features")
        if names is None:
            return COOKIE_FEATURES
        features = CookieFeature(0)
        for name in names:
            feature = CookieFeature.from_element(name)
            if feature is None:
                raise _error(f"unknown cookie feature '{name}' in {CONFIG_FILE}", ErrorCode.CONFIG_UNSUPPORTED)
            features |= feature
        return features & COOKIE_FEATURES

    @property
    def migration_stall_timeout(self) -> float:
        """Seconds without progress after which a pre-copy migration is cancelled (migration.conf 'stall_timeout')."""
        return float(self._mig_config().get("stall_timeout", DEFAULT_STALL_TIMEOUT))

    def migration_supports_feature(self, feature: int) -> Optional[bool]:
        """The answer for a migration feature probe, None for features that are not about migration."""
        try:
            return MIGRATION_FEATURES.get(DriverFeature(feature))
        except ValueError:
            return None

    @hookimpl
    def connect_get_migration_cookie_features(self) -> int:
        return int(self.migration_cookie_features)

    @hookimpl
    def connect_supports_migration_storage_fallback(self, domain: str, side: str) -> bool:
        # never True: QEMU's block migration cannot copy -blockdev disks (migration_block.py)
        raise storage_refusal(domain, NbdSide(side), self._mig_features().has_block_migration)

    def _mig_hostname(self) -> str:
        return socket.gethostname() or "localhost"

    def _mig_features(self):
        return self.host.capabilities().features

    def _mig_read_cookie(self, data: Optional[bytes], peer: Optional[str] = None) -> Optional[MigrationCookie]:
        if data is None:
            return None
        return MigrationCookie.parse(data, supported=self.migration_cookie_features,
                                     local_host_uuid=self.migration_host_uuid, peer_host_uuid=peer)

    def _mig_new_cookie(self, name: str, uuid: str) -> MigrationCookie:
        return MigrationCookie(name=name, uuid=uuid, hostname=self._mig_hostname(), host_uuid=self.migration_host_uuid)

    def _mig_tunables(self, dom: DomainRef) -> DomainTunables:
        with self._mig.lock:
            return self._mig.tunables.setdefault(dom.uuid, DomainTunables())

    # -- source: Begin ---------------------------------------------------------------------------------------------

    def _mig_begin(self, dom: DomainRef, xmlin: Optional[str], flags: int, dname: Optional[str],
                   params: Optional[TypedParams]) -> MigrationResult:
        _refuse_unsupported_flags(flags)
        if flags & M.POSTCOPY_RESUME:
            return self._mig_begin_resume(dom, xmlin, flags, dname)
        guest = self.host.find(dom)
        offline = bool(flags & M.OFFLINE)
        with guest.lock:
            if offline:
                if not flags & M.PERSIST_DEST:
                    raise OperationInvalid("offline migration requires VIR_MIGRATE_PERSIST_DEST",
                                           code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
                if guest.config is None:
                    raise OperationInvalid(f"domain '{dom.name}' is transient: there is nothing to migrate offline",
                                           code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
                if guest.active:
                    raise OperationInvalid(f"domain '{dom.name}' is running: offline migration needs it shut off",
                                           code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
                definition = guest.config
            else:
                if not guest.active:
                    raise lifecycle_not_running(dom.name)
                definition = guest.live
            with self._mig.lock:
                current = self._mig.outgoing.get(dom.uuid)
                # a Begin whose Prepare failed without change protection never reaches Confirm: it holds nothing
                if current is not None and (current.job_started or current.migration is not None):
                    raise OperationInvalid(f"domain '{dom.name}' is already being migrated",
                                           code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
            xml = xmlin or definition.to_xml()
            if dname:
                xml = renamed_xml(xml, dname)
            cookie = self._mig_new_cookie(dom.name, dom.uuid)
            supported = self.migration_cookie_features
            if guest.config is not None and supported & CookieFeature.PERSISTENT:
                persistent = guest.config.to_xml()
                cookie.persistent_xml = renamed_xml(persistent, dname)
                if flags & M.PERSIST_DEST:
                    cookie.require(CookieFeature.PERSISTENT)
            outgoing = _Outgoing(dom, flags, offline=offline)
            if not offline:
                disks = [NbdDisk(disk.target, disk_size(disk.source)) for disk in _migratable_disks(guest)]
                cookie.nbd = outgoing.offer = source_offer(disks, flags, supported, params)
                if not supported & CookieFeature.NBD and disks_to_migrate(disks, flags, params):
                    raise storage_refusal(dom.name, NbdSide.SOURCE, self._mig_features().has_block_migration)
                outgoing.early_setup = self._mig_early_setup(guest, dom, flags, params)
            if flags & M.CHANGE_PROTECTION and not offline:
                self.migration_jobs.start(dom, JobOperation.MIGRATION_OUT, async_=True)
                outgoing.job_started = True
            with self._mig.lock:
                self._mig.outgoing[dom.uuid] = outgoing
        return MigrationResult(xml=xml, cookie=cookie.to_bytes())

    def _mig_early_setup(self, guest, dom: DomainRef, flags: int,
                         params: Optional[TypedParams]) -> Optional[EarlySetup]:
        """Send the source's migration settings while the destination QEMU starts (Perform checks them again)."""
        try:
            tuning = MigrationTuning.from_request(flags, params, self._mig_tunables(dom))
            setup = tuning.source_setup(self._mig_features())
        except VirtError:
            return None  # Perform reports it
        return EarlySetup(guest.monitor, setup) if guest.monitor is not None and EarlySetup.allowed(setup) else None

    @hookimpl
    def domain_migrate_begin3_params(self, dom: DomainRef, params: TypedParams, flags: int) -> MigrationResult:
        return self._mig_begin(dom, params.get("destination_xml"), flags, params.get("destination_name"), params)

    @hookimpl
    def domain_migrate_begin3(self, dom: DomainRef, xmlin: Optional[str], flags: int, dname: Optional[str],
                              bandwidth: int) -> MigrationResult:
        return self._mig_begin(dom, xmlin, flags, dname, {"bandwidth": bandwidth} if bandwidth else {})

    # -- destination: Prepare -------------------------------------------------------------------------------------

    def _mig_prepare(self, cookiein: Optional[bytes], uri_in: Optional[str], flags: int, dname: Optional[str],
                     dom_xml: str, params: TypedParams) -> MigrationResult:
        _refuse_unsupported_flags(flags)
        if flags & M.POSTCOPY_RESUME:
            return self._mig_prepare_resume(cookiein, uri_in, flags, dname, dom_xml, params)
        begin = self._mig_read_cookie(cookiein)
        definition = DomainDefinition.from_xml(dom_xml)
        name = dname or definition.name
        if cookiein is not None and not self.migration_cookie_features & CookieFeature.NBD and must_refuse(
                MigrationCookie.parse(cookiein, supported=self.migration_cookie_features | CookieFeature.NBD,
                                      local_host_uuid=self.migration_host_uuid).nbd):
            raise storage_refusal(name, NbdSide.DESTINATION, self._mig_features().has_block_migration)
        uuid = definition.uuid or (begin.uuid if begin is not None else "")
        xml = self.host.hooks.run(HookPoint.MIGRATE, name=name, uuid=uuid, xml=dom_xml, sub_operation="begin")
        if isinstance(xml, str) and xml != dom_xml:  # a hook rewrote it
            definition = DomainDefinition.from_xml(xml)
        if dname:
            definition = DomainDefinition.from_xml(renamed_xml(definition.to_xml(), dname))
        offline = bool(flags & M.OFFLINE)
        record = _Incoming(name=name, uuid=uuid, flags=flags, uri="", offline=offline,
                           source_host_uuid=begin.host_uuid if begin is not None else None,
                           persistent_xml=params.get("persistent_xml")
                           or (begin.persistent_xml if begin is not None else None), xml=definition.to_xml())
        with self._mig.lock:
            if name in self._mig.incoming:
                raise OperationInvalid(f"domain '{name}' is already being migrated to this host",
                                       code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
            self._mig.incoming[name] = record
        answer = self._mig_new_cookie(name, uuid)
        try:
            if offline:
                record.uri = f"tcp://{self._mig_hostname()}"
                if flags & M.PERSIST_DEST and record.persistent_xml is None:
                    record.persistent_xml = record.xml
                return MigrationResult(cookie=answer.to_bytes(), uri_out=record.uri)
            self._mig_refuse_conflicts(record)
            at = incoming_uri(uri_in, self._mig_hostname(), PORTS, listen_address=params.get("listen_address"))
            record.port = at.allocated_port
            record.uri = str(at.uri)
            offered = begin.nbd if begin is not None else None
            answer.nbd, record.disks = destination_answer(
                offered, self.migration_cookie_features, PORTS,
                lambda disk: self._mig_precreate(definition, disk), _remove_disk)
            guest = self.start_incoming(definition, owned=True)
            record.started = True
            with guest.lock:
                tuning = MigrationTuning.from_request(flags, params, destination=True)
                if at.uri.scheme == "unix":
                    listen = qemu_uri("unix", path=at.uri.path)
                else:
                    listen = qemu_uri("tcp", host=at.listen_address, port=at.uri.port)
                record.incoming = start_incoming(guest.monitor, listen, tuning.destination_setup(self._mig_features()))
                if answer.nbd is not None:
                    record.nbd = NbdServer(guest.monitor)
                    endpoint = _nbd_endpoint(at.uri, record.disks.port, listen=at.listen_address)
                    record.nbd.start(endpoint, {d.target: d.format_node for d in _migratable_disks(guest)
                                                if d.target in {o.target for o in answer.nbd.disks}})
            self.migration_jobs.start(guest.ref(), JobOperation.MIGRATION_IN, async_=True)
        except BaseException as exc:
            self._mig_discard_incoming(record, exc)
            raise
        return MigrationResult(cookie=answer.to_bytes(), uri_out=record.uri)

    def _mig_refuse_conflicts(self, record: _Incoming) -> None:
        """Refuse an incoming domain whose name or UUID is taken by another or a running domain here."""
        with self.host.lock:
            guest = self.host.guests.get(record.name)
            if guest is not None:
                if guest.uuid and record.uuid and guest.uuid != record.uuid:
                    raise OperationInvalid(f"a different domain named '{record.name}' (UUID {guest.uuid}) already "
                                           "exists on the destination", code=ErrorCode.OPERATION_INVALID,
                                           domain=ErrorDomain.QEMU)
                if guest.active:
                    raise OperationInvalid(f"domain '{record.name}' is already active on the destination",
                                           code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)

    def _mig_precreate(self, definition: DomainDefinition, disk: NbdDisk) -> Optional[str]:
        for node in definition.devices("disk"):
            target = node.find("target")
            source = node.find("source")
            if target is not None and target.get("dev") == disk.target and source is not None:
                path = source.get("file") or source.get("dev")
                driver = node.find("driver")
                fmt = driver.get("type", "raw") if driver is not None else "raw"
                if path is None:
                    break
                return path if precreate_disk(path, disk.capacity, fmt) else None
        raise _error(f"the incoming domain '{definition.name}' has no disk '{disk.target}' with a source to copy "
                     "into", ErrorCode.INVALID_ARG)

    def _mig_discard_incoming(self, record: _Incoming, error: Optional[BaseException] = None) -> None:
        """Undo everything Prepare did here: QEMU, domain, status file, disks, port, job.

        Except after the switch to post-copy: the destination then holds the only running copy of the guest
        (the source's is incomplete), so its QEMU is kept, paused, for recovery (see migration_qmp).
        """
        host = self.host
        guest = host.guests.get(record.name)
        # QEMU's own status decides (our event follower may lag behind): after the switch, keep it
        if guest is not None and (record.started or record.resume) and mark_destination_failed(host, guest):
            if record.nbd is not None:
                record.nbd.stop()
            keep_job_paused(host, self.migration_jobs, guest, error or postcopy_failed(record.name, "cancelled"))
            if record.incoming is not None:
                record.incoming.close()
            if record.disks is not None:
                record.disks.commit()  # they hold the guest's disks now
            PORTS.release(record.port)
            record.port = None
            with self._mig.lock:
                if self._mig.incoming.get(record.name) is record:
                    del self._mig.incoming[record.name]
            return
        if record.incoming is not None:
            record.incoming.close()
        if record.started or record.resume:
            # by UUID: the guest may already be gone (QEMU 7.2 exits when its incoming stream breaks)
            self.migration_jobs.end(DomainRef(record.name, record.uuid, -1),
                                    error=error or OperationFailed("migration cancelled"))
        if guest is not None and record.started:
            if record.nbd is not None:
                record.nbd.stop()
            try:
                self.stop(guest, DomainShutoffReason.FAILED)
            except VirtError as exc:
                log.warning("could not stop the incoming QEMU of '%s': %s", record.name, exc)
        if record.disks is not None:
            record.disks.rollback()
        PORTS.release(record.port)
        record.port = None
        with self._mig.lock:
            if self._mig.incoming.get(record.name) is record:
                del self._mig.incoming[record.name]

    @hookimpl
    def domain_migrate_prepare3_params(self, params: TypedParams, cookiein: Optional[bytes],
                                       flags: int) -> MigrationResult:
        xml = params.get("destination_xml")
        if not xml:
            raise _error("the migration parameters carry no domain XML", ErrorCode.INVALID_ARG)
        return self._mig_prepare(cookiein, params.get("migrate_uri"), flags, params.get("destination_name"), xml,
                             params)

    @hookimpl
    def domain_migrate_prepare3(self, cookiein: Optional[bytes], uri_in: Optional[str], flags: int,
                                dname: Optional[str], bandwidth: int, dom_xml: str) -> MigrationResult:
        return self._mig_prepare(cookiein, uri_in, flags, dname, dom_xml, {})

    # -- source: Perform -------------------------------------------------------------------------------------------

    def _mig_perform(self, dom: DomainRef, cookiein: Optional[bytes], uri: Optional[str], flags: int,
                     params: TypedParams) -> MigrationResult:
        with self._mig.lock:
            outgoing = self._mig.outgoing.get(dom.uuid)
        if outgoing is None:
            raise OperationInvalid(f"domain '{dom.name}' has no migration in progress (Begin did not run)",
                                   code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
        guest = self.host.running(dom)
        if outgoing.resume:
            return self._mig_perform_resume(dom, guest, outgoing, uri, flags, params)
        try:
            answer = self._mig_read_cookie(cookiein)
            if not outgoing.job_started:
                self.migration_jobs.start(dom, JobOperation.MIGRATION_OUT, async_=True)
                outgoing.job_started = True
            job = self.migration_jobs.current(dom)
            tuning = MigrationTuning.from_request(flags, params, self._mig_tunables(dom))
            features = self._mig_features()
            setup = tuning.source_setup(features)
            if not uri:
                raise _error("no migration URI: the destination did not say where to send the guest",
                             ErrorCode.INTERNAL_ERROR)
            target = parse_migration_uri(uri)
            storage = chosen_path(flags, outgoing.offer, answer.nbd if answer is not None else None)
            if storage is StoragePath.FALLBACK and must_refuse(outgoing.offer):
                raise storage_refusal(dom.name, NbdSide.DESTINATION, features.has_block_migration)
            monitor = guest.monitor
            if storage is StoragePath.NBD:
                outgoing.mirrors = DiskMirrors(monitor, incremental=bool(flags & M.NON_SHARED_INC))
                wanted = {d.target for d in outgoing.offer.disks}
                outgoing.mirrors.start(_nbd_endpoint(target, answer.nbd.port),
                                       [MirrorSpec(d.target, d.format_node) for d in _migratable_disks(guest)
                                        if d.target in wanted])
                outgoing.mirrors.wait_ready(abort_requested=lambda: job.abort_requested,
                                            on_progress=lambda p: job.update(disk_processed=p[0], disk_total=p[1],
                                                                             disk_remaining=p[1] - p[0]))
            outgoing.was_running = guest.state == DomainState.RUNNING
            guest.extra["pause_reason"] = DomainPausedReason.MIGRATION
            guest.extra["postcopy_migration"] = tuning.postcopy  # a STOP may then be the switch to post-copy
            events = self.host.events
            migration = outgoing.migration = OutgoingMigration(
                monitor, on_progress=lambda stats: job.update(**_known(stats)),
                on_iteration=lambda n: emit_migration_iteration(events, dom, n),
                abort_requested=lambda: job.abort_requested,
                disk_progress=outgoing.mirrors.progress if outgoing.mirrors is not None else lambda: None,
                stall_timeout=self.migration_stall_timeout)
            if target.scheme == "unix":
                send_to = qemu_uri("unix", path=target.path)
            else:
                send_to = qemu_uri("tcp", host=target.host, port=target.port)
            migration.start(send_to, setup, early=outgoing.early_setup)
            outgoing.stats = migration.wait(until_postcopy=tuning.postcopy)
            outgoing.completed = migration.status == "completed"
            if outgoing.mirrors is not None:
                outgoing.mirrors.complete()
                outgoing.mirrors = None
        except PostcopyPaused as exc:
            self._mig_abort_outgoing(outgoing, exc)
            raise postcopy_failed(dom.name, exc) from None
        except BaseException as exc:
            self._mig_abort_outgoing(outgoing, exc)
            raise
        return self._mig_perform_answer(dom, outgoing)

    def _mig_perform_answer(self, dom: DomainRef, outgoing: _Outgoing) -> MigrationResult:
        # a resume passed through post-copy again even if its last pages went before we looked
        if outgoing.migration is not None and (outgoing.migration.status in POSTCOPY_STATES or outgoing.resume):
            guest = self.host.find(dom)
            with guest.lock:
                guest.extra.pop("pause_reason", None)
                mark_source_postcopy(self.host, guest)
        cookie = self._mig_new_cookie(dom.name, dom.uuid)
        if self.migration_cookie_features & CookieFeature.STATISTICS:
            cookie.statistics = dict(outgoing.stats)
        return MigrationResult(cookie=cookie.to_bytes())

    def _mig_abort_outgoing(self, outgoing: _Outgoing, error: Optional[BaseException]) -> None:
        """The source gives up: stop mirrors and the migration, resume the guest if it ran, end the job."""
        guest = self.host.guests.get(outgoing.ref.name)
        if outgoing.early_setup is not None:
            outgoing.early_setup.wait()
        if outgoing.mirrors is not None:
            outgoing.mirrors.cancel()
            outgoing.mirrors = None
        # after the switch to post-copy the source must never cancel (the guest runs on the destination):
        # QEMU's own status decides, the migration is paused and both halves are kept for a resume
        postcopy = guest is not None and guest.active and (outgoing.resume or outgoing.migration is not None) \
            and mark_source_failed(self.host, guest)
        if outgoing.migration is not None:
            if not postcopy and outgoing.migration.status not in ("completed", "failed", "cancelled", "none"):
                outgoing.migration.cancel()
            if postcopy and outgoing.job_started:
                self._mig_record_last_figures(outgoing)
            outgoing.migration.close()
        if not postcopy and guest is not None and guest.active and guest.monitor is not None:
            guest.extra.pop("pause_reason", None)
            try:
                status = guest.monitor.execute("query-status")
                if outgoing.was_running and not status.get("running"):
                    self.resume(guest, DomainRunningReason.MIGRATION_CANCELED, Resumed.MIGRATED)
            except (VirtError, MonitorClosed) as exc:
                log.warning("could not resume '%s' after a failed migration: %s", outgoing.ref.name, exc)
        if postcopy:
            error = postcopy_failed(outgoing.ref.name, getattr(error, "message", None) or error or "cancelled")
        if outgoing.job_started and postcopy:
            keep_job_paused(self.host, self.migration_jobs, guest, error)  # until resumed or destroyed
            outgoing.job_started = False
        elif outgoing.job_started:
            self.migration_jobs.end(outgoing.ref, error=error or OperationFailed("migration cancelled"))
            outgoing.job_started = False
        with self._mig.lock:
            if self._mig.outgoing.get(outgoing.ref.uuid) is outgoing:
                del self._mig.outgoing[outgoing.ref.uuid]

    def _mig_end_incoming_job(self, record: _Incoming, guest: "Guest",
                              performed: Optional[MigrationCookie]) -> DomainRef:
        """The destination's migration is complete: stop watching it, end its job with the source's figures;
        the domain's reference."""
        record.incoming.close()
        ref = guest.ref()
        self._mig_update_job(ref, performed.statistics if performed is not None else None)
        self.migration_jobs.end(ref)
        return ref

    def _mig_update_job(self, ref: DomainRef, stats: Optional[dict[str, Any]]) -> None:
        """Record statistics (libvirt's keys; others are dropped) in the domain's running job, if one runs."""
        job = self.migration_jobs.current(ref)
        if job is not None and stats:
            job.update(**_known(stats))

    def _mig_record_last_figures(self, outgoing: _Outgoing) -> None:
        """The paused job keeps what QEMU transferred up to the failure (the last progress poll may be older)."""
        try:
            self._mig_update_job(outgoing.ref, outgoing.migration.query())
        except (VirtError, MonitorClosed) as exc:
            log.debug("no final figures for the failed post-copy migration of '%s': %s", outgoing.ref.name, exc)

    @hookimpl
    def domain_migrate_perform3_params(self, dom: DomainRef, dconnuri: Optional[str], params: TypedParams,
                                       cookiein: Optional[bytes], flags: int) -> MigrationResult:
        if flags & M.PEER2PEER:
            raise ArgumentUnsupported("peer-to-peer migration is not supported by the qemu driver",
                                      code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.QEMU)
        return self._mig_perform(dom, cookiein, params.get("migrate_uri"), flags, params)

    @hookimpl
    def domain_migrate_perform3(self, dom: DomainRef, xmlin: Optional[str], cookiein: Optional[bytes],
                                dconnuri: Optional[str], uri: Optional[str], flags: int, dname: Optional[str],
                                bandwidth: int) -> MigrationResult:
        if flags & M.PEER2PEER:
            raise ArgumentUnsupported("peer-to-peer migration is not supported by the qemu driver",
                                      code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.QEMU)
        return self._mig_perform(dom, cookiein, uri, flags, {"bandwidth": bandwidth} if bandwidth else {})

    # -- destination: Finish --------------------------------------------------------------------------------------

    def _mig_finish(self, dname: str, cookiein: Optional[bytes], flags: int, cancelled: bool,
                    params: TypedParams) -> MigrationResult:
        with self._mig.lock:
            record = self._mig.incoming.get(dname)
        if record is None:
            raise NoDomain(f"no incoming migration of domain '{dname}' on this host", code=ErrorCode.NO_DOMAIN,
                           domain=ErrorDomain.QEMU)
        if cancelled:
            self._mig_discard_incoming(record)
            return MigrationResult()
        if record.resume:
            return self._mig_finish_resume(record, cookiein, flags, params)
        host = self.host
        try:
            performed = self._mig_read_cookie(cookiein, record.source_host_uuid)
            if record.offline:
                guest = self._mig_define(record, params)
                ref = guest.ref()
            else:
                guest = host.guest(record.name)
                with guest.lock:
                    postcopy = bool(flags & M.POSTCOPY)
                    status = record.incoming.wait(until_postcopy=postcopy)
                    if record.nbd is not None:
                        record.nbd.stop()
                    if flags & M.PERSIST_DEST:
                        self._mig_define(record, params)
                    in_postcopy = status == "postcopy-active"
                    self.finish_incoming(guest, paused=bool(flags & M.PAUSED), running_reason=(
                        DomainRunningReason.POSTCOPY if in_postcopy else DomainRunningReason.MIGRATED))
                    if not flags & M.PAUSED:
                        host.emit(guest, Event.RESUMED, Resumed.POSTCOPY if in_postcopy else Resumed.MIGRATED)
                if in_postcopy:
                    # the guest runs here and pulls its last pages from the source
                    self._mig_wait_postcopy(guest, record, flags)
                ref = self._mig_end_incoming_job(record, guest, performed)
        except PostcopyPaused as exc:
            error = postcopy_failed(record.name, exc)
            self._mig_discard_incoming(record, error)
            raise error from None
        except BaseException as exc:
            self._mig_discard_incoming(record, exc)
            raise
        if record.disks is not None:
            record.disks.commit()
        PORTS.release(record.port)
        with self._mig.lock:
            self._mig.incoming.pop(record.name, None)
        return MigrationResult(cookie=self._mig_new_cookie(record.name, record.uuid).to_bytes(), domain=ref)

    def _mig_define(self, record: _Incoming, params: TypedParams):
        """Make the arrived domain persistent (PERSIST_DEST) from the persistent definition that travelled."""
        xml = params.get("persistent_xml") or record.persistent_xml or record.xml
        definition = DomainDefinition.from_xml(renamed_xml(xml, record.name))
        guest = self.host.guests.get(record.name)
        if guest is None:  # offline: the domain is new here
            from .host import Guest
            with self.host.lock:
                guest = self.host.guests.setdefault(record.name, Guest(record.name, record.uuid))
        self.persist(guest, definition)
        return guest

    @hookimpl
    def domain_migrate_finish3_params(self, params: TypedParams, cookiein: Optional[bytes], flags: int,
                                      cancelled: bool) -> MigrationResult:
        return self._mig_finish(params["destination_name"], cookiein, flags, cancelled, params)

    @hookimpl
    def domain_migrate_finish3(self, dname: str, cookiein: Optional[bytes], dconnuri: Optional[str],
                               uri: Optional[str], flags: int, cancelled: bool) -> MigrationResult:
        return self._mig_finish(dname, cookiein, flags, cancelled, {})

    # -- source: Confirm -------------------------------------------------------------------------------------------

    def _mig_confirm(self, dom: DomainRef, cookiein: Optional[bytes], flags: int, cancelled: bool) -> int:
        with self._mig.lock:
            outgoing = self._mig.outgoing.get(dom.uuid)
        if outgoing is None:
            raise OperationInvalid(f"domain '{dom.name}' is not being migrated", code=ErrorCode.OPERATION_INVALID,
                                   domain=ErrorDomain.QEMU)
        if cancelled:
            self._mig_abort_outgoing(outgoing, OperationFailed("the destination did not take the domain",
                                                           domain=ErrorDomain.QEMU))
            return 0
        host = self.host
        guest = host.find(dom)
        try:
            if outgoing.migration is not None and not outgoing.completed:
                outgoing.stats = outgoing.migration.wait()  # post-copy: until the last page has gone
            if outgoing.migration is not None:
                outgoing.migration.close()
            job = self.migration_jobs.current(dom)
            if job is not None and outgoing.stats:
                job.update(**_known(outgoing.stats))
            if outgoing.job_started:
                self.migration_jobs.end(dom)
                outgoing.job_started = False
            with guest.lock:
                guest.extra.pop("pause_reason", None)
                if guest.active and not outgoing.offline:
                    # completed: its disks were flushed and handed over, nothing is left to save, so no
                    # graceful shutdown (we hold guest.lock, the exit watcher waits for stop())
                    self.stop(guest, DomainShutoffReason.MIGRATED, kill=outgoing.completed or (
                        outgoing.migration is not None and outgoing.migration.status == "completed"))
                if flags & M.UNDEFINE_SOURCE and guest.config is not None:
                    host.store.remove_config(guest.name)
                    guest.config = None
                    host.forget_if_unused(guest)
        finally:
            with self._mig.lock:
                self._mig.outgoing.pop(dom.uuid, None)
                self._mig.tunables.pop(dom.uuid, None)
        return 0

    @hookimpl
    def domain_migrate_confirm3_params(self, dom: DomainRef, params: TypedParams, cookiein: Optional[bytes],
                                       flags: int, cancelled: bool) -> int:
        return self._mig_confirm(dom, cookiein, flags, cancelled)

    @hookimpl
    def domain_migrate_confirm3(self, dom: DomainRef, cookiein: Optional[bytes], flags: int, cancelled: bool) -> int:
        return self._mig_confirm(dom, cookiein, flags, cancelled)

    # -- post-copy recovery (VIR_MIGRATE_POSTCOPY_RESUME, see migration_postcopy) -----------------------------------

    def _mig_begin_resume(self, dom: DomainRef, xmlin: Optional[str], flags: int,
                          dname: Optional[str]) -> MigrationResult:
        """Begin of a resume: the domain must be a failed post-copy migration QEMU can continue."""
        require_postcopy_flag(flags)
        guest = self.host.find(dom)
        with guest.lock:
            failed_postcopy_guest(self.host, guest.name, "source")
            with self._mig.lock:
                current = self._mig.outgoing.get(dom.uuid)
                if current is not None and (current.job_started or current.migration is not None):
                    raise OperationInvalid(f"domain '{dom.name}' is already being migrated",
                                           code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
            xml = renamed_xml(xmlin or guest.live.to_xml(), dname)
            cookie = self._mig_new_cookie(dom.name, dom.uuid)
            if guest.config is not None and self.migration_cookie_features & CookieFeature.PERSISTENT:
                cookie.persistent_xml = renamed_xml(guest.config.to_xml(), dname)
            outgoing = _Outgoing(dom, flags, resume=True)
            if flags & M.CHANGE_PROTECTION:
                self.migration_jobs.start(dom, JobOperation.MIGRATION_OUT, async_=True, take_over_paused=True)
                outgoing.job_started = True
            with self._mig.lock:
                self._mig.outgoing[dom.uuid] = outgoing
        return MigrationResult(xml=xml, cookie=cookie.to_bytes())

    def _mig_prepare_resume(self, cookiein: Optional[bytes], uri_in: Optional[str], flags: int,
                            dname: Optional[str], dom_xml: str, params: TypedParams) -> MigrationResult:
        """Prepare of a resume: ``migrate-recover`` on a new port of the guest that waits here."""
        require_postcopy_flag(flags)
        begin = self._mig_read_cookie(cookiein)
        definition = DomainDefinition.from_xml(dom_xml)
        name = dname or definition.name
        guest = failed_postcopy_guest(self.host, name, "destination")
        if definition.uuid and guest.uuid and definition.uuid != guest.uuid:
            raise OperationInvalid(f"domain '{name}' on the destination (UUID {guest.uuid}) is not the one being "
                                   "migrated", code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
        record = _Incoming(name=name, uuid=guest.uuid, flags=flags, uri="", resume=True, xml=definition.to_xml(),
                           source_host_uuid=begin.host_uuid if begin is not None else None,
                           persistent_xml=params.get("persistent_xml")
                           or (begin.persistent_xml if begin is not None else None))
        with self._mig.lock:
            if name in self._mig.incoming:
                raise OperationInvalid(f"domain '{name}' is already being migrated to this host",
                                       code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
            self._mig.incoming[name] = record
        try:
            at = incoming_uri(uri_in, self._mig_hostname(), PORTS, listen_address=params.get("listen_address"))
            record.port = at.allocated_port
            record.uri = str(at.uri)
            if at.uri.scheme == "unix":
                listen = qemu_uri("unix", path=at.uri.path)
            else:
                listen = qemu_uri("tcp", host=at.listen_address, port=at.uri.port)
            with guest.lock:
                record.incoming = recover_incoming(guest.monitor, listen)
            self.migration_jobs.start(guest.ref(), JobOperation.MIGRATION_IN, async_=True, take_over_paused=True)
        except BaseException as exc:
            self._mig_discard_incoming(record, exc)
            raise
        answer = self._mig_new_cookie(name, guest.uuid)
        return MigrationResult(cookie=answer.to_bytes(), uri_out=record.uri)

    def _mig_perform_resume(self, dom: DomainRef, guest, outgoing: _Outgoing, uri: Optional[str], flags: int,
                            params: TypedParams) -> MigrationResult:
        """Perform of a resume: ``migrate`` with ``resume`` to the destination's new address."""
        try:
            if not outgoing.job_started:
                self.migration_jobs.start(dom, JobOperation.MIGRATION_OUT, async_=True, take_over_paused=True)
                outgoing.job_started = True
            job = self.migration_jobs.current(dom)
            if not uri:
                raise _error("no migration URI: the destination did not say where to send the guest",
                             ErrorCode.INTERNAL_ERROR)
            target = parse_migration_uri(uri)
            monitor = guest.monitor
            # the post-copy bandwidth asked for now (or set with migrate_set_max_speed) applies to the rest;
            # parameters may change in this state, capabilities may not
            speed = params.get("bandwidth.postcopy", self._mig_tunables(dom).postcopy_speed_mib)
            if speed is not None:
                monitor.execute("migrate-set-parameters", {"max-postcopy-bandwidth": int(speed) * MiB})
            events = self.host.events
            migration = outgoing.migration = OutgoingMigration(
                monitor, on_progress=lambda stats: job.update(**_known(stats)),
                on_iteration=lambda n: emit_migration_iteration(events, dom, n),
                abort_requested=lambda: job.abort_requested, stall_timeout=self.migration_stall_timeout,
                qemu_errors=new_log_lines(guest.process.files.log if guest.process is not None else None))
            if target.scheme == "unix":
                send_to = qemu_uri("unix", path=target.path)
            else:
                send_to = qemu_uri("tcp", host=target.host, port=target.port)
            migration.start(send_to, resume=True)
            outgoing.stats = migration.wait(until_postcopy=True)
            outgoing.completed = migration.status == "completed"
        except PostcopyPaused as exc:
            self._mig_abort_outgoing(outgoing, exc)
            raise postcopy_failed(dom.name, exc) from None
        except BaseException as exc:
            self._mig_abort_outgoing(outgoing, exc)
            raise
        return self._mig_perform_answer(dom, outgoing)

    def _mig_wait_postcopy(self, guest, record: _Incoming, flags: int) -> None:
        """Destination: wait until the post-copy phase completes (a stalled one is paused), then RUNNING/MIGRATED."""
        assert record.incoming is not None
        pid = guest.process.pid if guest.process is not None else None
        record.incoming.wait(progress=lambda: bytes_read(pid), stall_timeout=self.migration_stall_timeout)
        self._mig_arrived(guest, flags)

    def _mig_arrived(self, guest, flags: int) -> None:
        """A post-copy migration completed: the running guest here holds all of it (RUNNING/MIGRATED)."""
        with guest.lock:
            if guest.active and guest.state == DomainState.RUNNING:
                guest.set_state(DomainState.RUNNING, DomainRunningReason.MIGRATED)
                self.host.write_status(guest)
                if not flags & M.PAUSED:
                    self.host.emit(guest, Event.RESUMED, Resumed.MIGRATED)

    def _mig_finish_resume(self, record: _Incoming, cookiein: Optional[bytes], flags: int,
                           params: TypedParams) -> MigrationResult:
        """Finish of a resume: wait for the last page, then the guest runs here as after any migration."""
        host = self.host
        try:
            performed = self._mig_read_cookie(cookiein, record.source_host_uuid)
            guest = host.guest(record.name)
            assert record.incoming is not None
            with guest.lock:
                mark_destination_recovered(host, guest)  # recovered, not done
            record.incoming.status = guest.monitor.execute("query-migrate").get("status", "")
            if record.incoming.status in POSTCOPY_STATES:
                self._mig_wait_postcopy(guest, record, flags)
            else:
                record.incoming.wait()  # completed (or failed: raises)
                self._mig_arrived(guest, flags)
            with guest.lock:
                if flags & M.PERSIST_DEST:
                    self._mig_define(record, params)
                if guest.incoming:  # the first Finish never started it: it starts now
                    self.finish_incoming(guest, paused=bool(flags & M.PAUSED))
                    if not flags & M.PAUSED:
                        host.emit(guest, Event.RESUMED, Resumed.MIGRATED)
            ref = self._mig_end_incoming_job(record, guest, performed)
        except PostcopyPaused as exc:
            error = postcopy_failed(record.name, exc)
            self._mig_discard_incoming(record, error)
            raise error from None
        except BaseException as exc:
            self._mig_discard_incoming(record, exc)
            raise
        PORTS.release(record.port)
        with self._mig.lock:
            self._mig.incoming.pop(record.name, None)
        return MigrationResult(cookie=self._mig_new_cookie(record.name, record.uuid).to_bytes(), domain=ref)

    # -- jobs ------------------------------------------------------------------------------------------------------

    def migration_job_info(self, dom: DomainRef) -> Optional[JobInfo]:
        """getJobInfo of a running migration of ``dom``, None when none runs."""
        return self.migration_jobs.query_info(dom)

    def migration_job_stats(self, dom: DomainRef, flags: int) -> Optional[tuple[int, TypedParams]]:
        """getJobStats of the running migration (or with COMPLETED, the last one), None when there is none."""
        return self.migration_jobs.query_stats(dom, flags)

    def migration_abort_job(self, dom: DomainRef, postcopy: bool = False) -> bool:
        """Abort a running migration of ``dom``; False when none runs.

        After the switch to post-copy a migration cannot be aborted; with ``postcopy``
        (VIR_DOMAIN_ABORT_JOB_POSTCOPY) it is paused instead, as a failure would (see migration_postcopy).
        """
        job = self.migration_jobs.current(dom)
        if job is None:
            return False
        if job.operation == JobOperation.MIGRATION_IN:
            raise OperationInvalid(f"cannot abort the incoming migration of domain '{dom.name}' here: abort the "
                                   "job on the source host", code=ErrorCode.OPERATION_INVALID,
                                   domain=ErrorDomain.QEMU)
        with self._mig.lock:
            outgoing = self._mig.outgoing.get(dom.uuid)
        in_postcopy = outgoing is not None and outgoing.migration is not None \
            and outgoing.migration.status.startswith("postcopy")
        if postcopy:
            if not in_postcopy:
                raise OperationInvalid(f"the current job of domain '{dom.name}' is not an outgoing migration in "
                                       "post-copy mode", code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
            pause_postcopy(self.host.running(dom).monitor)
            return True
        if in_postcopy:
            raise OperationInvalid(f"cannot abort the migration of domain '{dom.name}': it is in post-copy mode "
                                   "and the guest already runs on the destination (VIR_DOMAIN_ABORT_JOB_POSTCOPY "
                                   "pauses it instead)", code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
        self.migration_jobs.abort(dom)
        return True

    @hookimpl
    def domain_get_job_info(self, dom: DomainRef) -> JobInfo:
        info = self.migration_job_info(dom)
        if info is not None:
            return info
        self.host.find(dom)
        return self.migration_jobs.info(dom)

    @hookimpl
    def domain_get_job_stats(self, dom: DomainRef, flags: int) -> tuple[int, TypedParams]:
        result = self.migration_job_stats(dom, flags)
        if result is not None:
            return result
        self.host.find(dom)
        return 0, {}

    @hookimpl
    def domain_abort_job(self, dom: DomainRef, flags: int) -> int:
        _no_flags(flags & ~DomainAbortJobFlags.POSTCOPY)
        if not self.migration_abort_job(dom, postcopy=bool(flags & DomainAbortJobFlags.POSTCOPY)):
            self.host.find(dom)
            raise OperationInvalid(f"no job is active on domain '{dom.name}'", code=ErrorCode.OPERATION_INVALID,
                                   domain=ErrorDomain.QEMU)
        return 0

    # -- migration tunables ----------------------------------------------------------------------------------------

    def _mig_live_parameters(self, dom: DomainRef, parameters: dict[str, Any]) -> None:
        """Apply to a migration already running (QEMU takes parameter changes mid-way)."""
        with self._mig.lock:
            outgoing = self._mig.outgoing.get(dom.uuid)
        if outgoing is not None and outgoing.migration is not None:
            self.host.running(dom).monitor.execute("migrate-set-parameters", parameters)

    @hookimpl
    def domain_migrate_set_max_downtime(self, dom: DomainRef, downtime: int, flags: int) -> int:
        _no_flags(flags)
        self.host.running(dom)
        self._mig_tunables(dom).max_downtime_ms = int(downtime)
        self._mig_live_parameters(dom, {"downtime-limit": int(downtime)})
        return 0

    @hookimpl
    def domain_migrate_get_max_downtime(self, dom: DomainRef, flags: int) -> int:
        _no_flags(flags)
        guest = self.host.running(dom)
        value = self._mig_tunables(dom).max_downtime_ms
        if value is None:
            value = int(guest.monitor.execute("query-migrate-parameters").get("downtime-limit", 300))
        return value

    @hookimpl
    def domain_migrate_set_max_speed(self, dom: DomainRef, bandwidth: int, flags: int) -> int:
        postcopy = bool(flags & DomainMigrateMaxSpeedFlags.POSTCOPY)
        if flags & ~DomainMigrateMaxSpeedFlags.POSTCOPY:
            _no_flags(flags & ~DomainMigrateMaxSpeedFlags.POSTCOPY)
        self.host.find(dom)
        if bandwidth > UNLIMITED_BANDWIDTH_MIB:
            raise _error(f"bandwidth must be at most {UNLIMITED_BANDWIDTH_MIB} MiB/s", ErrorCode.OVERFLOW)
        tunables = self._mig_tunables(dom)
        if postcopy:
            tunables.postcopy_speed_mib = int(bandwidth)
            self._mig_live_parameters(dom, {"max-postcopy-bandwidth": int(bandwidth) * MiB})
        else:
            tunables.max_speed_mib = int(bandwidth)
            self._mig_live_parameters(dom, {"max-bandwidth": int(bandwidth or UNLIMITED_BANDWIDTH_MIB) * MiB})
        return 0

    @hookimpl
    def domain_migrate_get_max_speed(self, dom: DomainRef, flags: int) -> int:
        self.host.find(dom)
        tunables = self._mig_tunables(dom)
        if flags & DomainMigrateMaxSpeedFlags.POSTCOPY:
            return tunables.postcopy_speed_mib or 0
        return tunables.max_speed_mib or UNLIMITED_BANDWIDTH_MIB

    @hookimpl
    def domain_migrate_set_compression_cache(self, dom: DomainRef, cache_size: int, flags: int) -> int:
        _no_flags(flags)
        guest = self.host.running(dom)
        if not self._mig_features().supports_xbzrle:
            raise _error("this QEMU has no xbzrle compression", ErrorCode.OPERATION_UNSUPPORTED)
        guest.monitor.execute("migrate-set-parameters", {"xbzrle-cache-size": int(cache_size)})
        self._mig_tunables(dom).xbzrle_cache_bytes = int(cache_size)
        return 0

    @hookimpl
    def domain_migrate_get_compression_cache(self, dom: DomainRef, flags: int) -> int:
        _no_flags(flags)
        guest = self.host.running(dom)
        return int(guest.monitor.execute("query-migrate-parameters").get("xbzrle-cache-size", 0))

    @hookimpl
    def domain_migrate_start_post_copy(self, dom: DomainRef, flags: int) -> int:
        _no_flags(flags)
        self.host.running(dom)
        with self._mig.lock:
            outgoing = self._mig.outgoing.get(dom.uuid)
        if outgoing is None or outgoing.migration is None:
            raise OperationInvalid(f"domain '{dom.name}' is not being migrated", code=ErrorCode.OPERATION_INVALID,
                                   domain=ErrorDomain.QEMU)
        if not outgoing.flags & M.POSTCOPY:
            raise OperationInvalid(f"the migration of domain '{dom.name}' was not started with "
                                   "VIR_MIGRATE_POSTCOPY", code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
        try:
            outgoing.migration.start_postcopy()
        except QMPCommandError as exc:
            raise OperationInvalid(f"cannot switch the migration of domain '{dom.name}' to post-copy: {exc.desc}",
                                   code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU) from None
        return 0


# -- helpers ---------------------------------------------------------------------------------------------------------

def lifecycle_not_running(name: str) -> OperationInvalid:
    """The error for migrating a domain that does not run (without VIR_MIGRATE_OFFLINE)."""
    return OperationInvalid(f"domain '{name}' is not running", code=ErrorCode.OPERATION_INVALID,
                            domain=ErrorDomain.QEMU)


_UNSUPPORTED = M.TUNNELLED | M.RDMA_PIN_ALL | M.TLS | M.ZEROCOPY


def _refuse_unsupported_flags(flags: int) -> None:
    bad = flags & _UNSUPPORTED
    if bad:
        names = ", ".join(f"VIR_MIGRATE_{f.name}" for f in M if f & bad)
        raise ArgumentUnsupported(f"the qemu driver does not support {names}", code=ErrorCode.ARGUMENT_UNSUPPORTED,
                                  domain=ErrorDomain.QEMU)


def _no_flags(flags: int) -> None:
    if flags:
        raise VirtError(f"unsupported flags (0x{flags:x})", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)


def _known(stats: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in stats.items() if key in KNOWN_STATS}


def _migratable_disks(guest) -> list:
    """The guest's writable file/block disks with a source (what storage migration copies)."""
    plan = guest.plan
    if plan is None:
        return []
    return [d for d in plan.disks if d.source and d.device.value == "disk" and not d.readonly]


def _remove_disk(path: Optional[str]) -> None:
    if path is not None:
        try:
            Path(path).unlink()
        except FileNotFoundError:
            pass


def _nbd_endpoint(uri, port: Optional[int], listen: Optional[str] = None) -> NbdEndpoint:
    """Where the NBD server listens (listen given) or is reached: next to a unix socket, else host:port."""
    if uri.scheme == "unix":
        return NbdEndpoint(path=f"{uri.path}.nbd")
    return NbdEndpoint(host=listen or uri.host, port=port)


