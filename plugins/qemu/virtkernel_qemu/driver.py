"""The qemu driver (entry point ``qemu``): real QEMU/KVM guests behind virtkernel's API.

URIs: ``qemu:///embed?root=DIR`` (everything under DIR, no daemon), ``qemu:///session`` (the user's XDG
directories) and ``qemu:///system`` (root; /etc/virtkernel/qemu, /var/lib/virtkernel/qemu,
/run/virtkernel/qemu).  One `QemuDriver` per connection; connections to the same host in a process share a
`host.QemuHost` (guests, watcher, event bus ``"qemu:" + uri``); two roots are two independent hosts.

Settings: HOOKS_DIR/qemu.conf (ROOT/etc/qemu.conf for embed), TOML, key ``save_image_format`` (raw, gzip,
bzip2, xz or lzop; default raw) for save and managed save.

Internal API for the migration phases (`migration.QemuMigrationPhases`, which this class inherits), all on
``self`` (a connected driver):

* ``self.host`` -- the `QemuHost`: ``host.guest(name)`` / ``host.find(dom_ref)`` / ``host.running(dom_ref)``
  give a `Guest` (``.lock`` an RLock to hold for the whole job, ``.monitor`` the `monitor.Monitor` of the
  running QEMU, ``.process`` its `process.QemuProcess`, ``.live`` / ``.config`` the DomainDefinitions,
  ``.state`` / ``.reason`` / ``.set_state()``, ``.ref()``); ``host.events`` the shared EventBus;
  ``host.emit(guest, event, detail)``; ``host.run_hook(HookPoint.X, guest, definition, sub_op)``;
  ``host.write_status(guest)`` (rewrite the status file after changing state or live XML);
  ``host.capabilities()`` the probed `capabilities.Capabilities` (``.features`` a FeatureSet).
* ``self.start_incoming(xml_or_definition, owned=False)`` -> Guest: define a transient guest (or reuse the
  persistent one of that name and UUID), run PREPARE and START hooks, start QEMU with ``-incoming defer`` and
  -S; the guest is paused (reason migration) with its monitor ready for ``migrate-incoming``.  Refuses
  unsupported XML before anything runs; undoes everything on failure.  ``owned``: the definition is handed
  over and becomes the live XML without a copy.
* ``self.finish_incoming(guest, paused=False, running_reason=MIGRATED, started_detail=MIGRATED)``: ``cont``
  unless paused, STARTED event (and SUSPENDED when paused), STARTED hook.
* ``self.stop(guest, reason, kill=False)`` (reason a DomainShutoffReason, e.g. MIGRATED or FAILED): end QEMU
  (``kill``: SIGKILL at once, nothing left to save), free every resource, STOPPED event with the matching
  detail, STOPPED/RELEASE hooks; a transient guest is forgotten.
* ``self.suspend(guest, reason, detail)`` / ``self.resume(guest, reason, detail)``: QMP stop/cont with state
  and events (e.g. DomainPausedReason.MIGRATION with DomainEventSuspendedDetailType.MIGRATED).
* ``self.persist(guest, definition)``: make a guest persistent (VIR_MIGRATE_PERSIST_DEST).
"""

from __future__ import annotations

import os
import shlex
import socket
import tempfile
import tomllib
from typing import Any, Optional, Union

from lxml import etree

from virtkernel import checks, hookimpl
from virtkernel.listing import matches_list_filters
from virtkernel.domainxml import DomainDefinition, validate
from virtkernel.enums import (ConnectGetAllDomainStatsFlags as StatsFlags, ConnectListDomainsFlags as ListFlags,
                              DomainConsoleFlags, DomainCoreDumpFlags as DumpFlags,
                              DomainCoreDumpFormat as DumpFormat, DomainCreateFlags, DomainDefineFlags,
                              DomainDestroyFlags, DomainEventID,
                              DomainEventDefinedDetailType as Defined, DomainEventResumedDetailType as Resumed,
                              DomainEventStartedDetailType as Started, DomainEventSuspendedDetailType as Suspended,
                              DomainEventType as Event, DomainEventUndefinedDetailType as Undefined,
                              DomainMemoryFlags, DomainMemoryModFlags as MemFlags, DomainModificationImpact as Impact,
                              DomainPausedReason, DomainRebootFlags, DomainRunningReason,
                              DomainSaveRestoreFlags as SaveFlags, DomainShutdownFlags, DomainShutoffReason,
                              DomainState, DomainUndefineFlags, DomainVcpuFlags,
                              DomainXMLFlags, ErrorCode, ErrorDomain)
from virtkernel.errors import InvalidArg, NoDomain, NoSupport, OperationFailed, OperationInvalid, VirtError
from virtkernel.features import DriverFeature
from virtkernel.lifecycle import HookPoint
from virtkernel.types import (BlockInfo, BlockStats, ControlInfo, DomainInfo, DomainRef, DomainStatsRecord,
                              InterfaceStats, NodeInfo, TypedParams, VcpuInfo)

from . import hostinfo, saveimage, stats, tunables, tuning
from .command_line import build_argv
from .console import ConsoleRelay, console_pty
from .domain_config import (ACTION_NAMES, GuestPlan, format_cpuset, guest_config, parse_cpuset,
                            plan_guest, set_child_text)
from .host import Guest, QemuHost, not_running
from .lifecycle import (autostart_all, finish_start, handle_exit, plan_definition, query_running, reconnect_all,
                        resume_guest, start_guest, stop_guest, suspend_guest)
from .metadata import get_metadata, set_metadata
from .migration import QemuMigrationPhases
from .migration_postcopy import refuse_in_failed_postcopy
from .monitor import QMPCommandError
from .paths import QemuPaths

__all__ = ["QemuDriver"]

TYPED_PARAM_STRING_OKAY = 1 << 2
_STATS_FILTERS = (StatsFlags.ACTIVE | StatsFlags.INACTIVE | StatsFlags.PERSISTENT | StatsFlags.TRANSIENT
                  | StatsFlags.RUNNING | StatsFlags.PAUSED | StatsFlags.SHUTOFF | StatsFlags.OTHER)
_FEATURES = frozenset({DriverFeature.TYPED_PARAM_STRING, DriverFeature.XML_MIGRATABLE})
_DUMP_FORMATS = {DumpFormat.RAW: "elf", DumpFormat.KDUMP_ZLIB: "kdump-zlib", DumpFormat.KDUMP_LZO: "kdump-lzo",
                 DumpFormat.KDUMP_SNAPPY: "kdump-snappy", DumpFormat.WIN_DMP: "win-dmp"}


def _pick_up(host: QemuHost) -> None:
    """What the first connection of a process does: reconnect to running guests, then autostart."""
    reconnect_all(host)
    autostart_all(host)


def check_flags(flags: int, allowed: int, function: str) -> None:
    """Refuse flags outside `allowed` as libvirt does."""
    checks.check_flags(flags, allowed, function, ErrorDomain.QEMU)


def _no_domain(what: str) -> NoDomain:
    return NoDomain(f"no domain with matching {what}", code=ErrorCode.NO_DOMAIN, domain=ErrorDomain.QEMU)


def _invalid(message: str) -> OperationInvalid:
    return OperationInvalid(message, code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)


class QemuDriver(QemuMigrationPhases):
    """One connection to a qemu host."""

    def __init__(self) -> None:
        self.context: Any = None
        self.paths: Optional[QemuPaths] = None
        self.host: Optional[QemuHost] = None

    # ================================================================================== connection

    @hookimpl
    def connect_open(self, context: Any) -> bool:
        self.context = context
        self.paths = QemuPaths.for_uri(context.uri)
        context.use_shared_events(self.paths.key)
        context.hooks.config_dir = str(self.paths.hooks_dir)
        context.hooks.state_dir = str(self.paths.run_dir)
        self.host = QemuHost.attach(self.paths, self, context.hooks, _pick_up)
        self.host.exit_handler = lambda guest, process: handle_exit(self.host, guest, process)
        return True

    @hookimpl
    def connect_close(self) -> bool:
        if self.host is not None:
            self.host.detach(self)
            self.host = None
        return True

    @hookimpl
    def connect_get_type(self) -> str:
        return "QEMU"

    @hookimpl
    def connect_get_version(self) -> int:
        return self.host.capabilities().version_number

    @hookimpl
    def connect_get_hostname(self) -> str:
        return socket.gethostname()

    @hookimpl
    def connect_get_uri(self) -> str:
        return self.paths.uri

    @hookimpl
    def connect_is_alive(self) -> bool:
        return self.host is not None

    @hookimpl
    def connect_supports_feature(self, feature: int) -> bool:
        migration = getattr(self, "migration_supports_feature", None)
        answer = migration(feature) if migration is not None else None
        if answer is not None:  # the migration phases answer for the migration features
            return bool(answer)
        try:
            return DriverFeature(feature) in _FEATURES
        except ValueError:
            return False

    @hookimpl
    def connect_get_capabilities(self) -> str:
        return hostinfo.capabilities_xml(self.host.capabilities())

    @hookimpl
    def connect_get_domain_capabilities(self, emulatorbin: Optional[str], arch: Optional[str],
                                        machine: Optional[str], virttype: Optional[str], flags: int) -> str:
        check_flags(flags, 0, "qemuConnectGetDomainCapabilities")
        caps = self.host.capabilities(emulatorbin or "qemu-system-x86_64")
        return hostinfo.domain_capabilities_xml(caps, arch, machine, virttype)

    @hookimpl
    def connect_domain_xml_to_native(self, native_format: str, domain_xml: str, flags: int) -> str:
        check_flags(flags, 0, "qemuConnectDomainXMLToNative")
        if native_format != "qemu-argv":
            raise InvalidArg(f"unsupported native format '{native_format}' (supported: qemu-argv)",
                             code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        defn = self._parse(domain_xml)
        plan = plan_guest(defn, self.host.capabilities(), self.host.ncpus)
        files = self.host.store.files(defn.name)
        argv = build_argv(guest_config(plan, 3, str(files.pidfile)))
        return shlex.join(argv)

    @hookimpl
    def connect_get_max_vcpus(self, type: Optional[str]) -> int:
        if type not in (None, "kvm", "qemu", "KVM", "QEMU"):
            raise InvalidArg(f"unknown virtualization type '{type}'", code=ErrorCode.INVALID_ARG,
                             domain=ErrorDomain.QEMU)
        caps = self.host.capabilities()
        return max((m.cpu_max for m in caps.machines), default=1)

    @hookimpl
    def node_get_info(self) -> NodeInfo:
        return hostinfo.node_info()

    @hookimpl
    def node_get_free_memory(self) -> int:
        return hostinfo.free_memory()

    # ================================================================================== inhibitor

    @hookimpl
    def connect_add_inhibitor(self, callback) -> int:
        """Call callback(True) while guests run on this host and callback(False) when none does any more."""
        self.host.add_inhibitor(callback)
        return 0

    @hookimpl
    def connect_remove_inhibitor(self, callback) -> int:
        """Stop calling an inhibit callback."""
        self.host.remove_inhibitor(callback)
        return 0

    # ================================================================================== lookup and list

    @hookimpl
    def domain_lookup_by_name(self, name: str) -> DomainRef:
        guest = self.host.guests.get(name)
        if guest is None:
            raise _no_domain(f"name '{name}'")
        return guest.ref()

    @hookimpl
    def domain_lookup_by_uuid(self, uuid: str) -> DomainRef:
        for guest in list(self.host.guests.values()):
            if guest.uuid == uuid:
                return guest.ref()
        raise _no_domain(f"uuid '{uuid}'")

    @hookimpl
    def domain_lookup_by_id(self, id: int) -> DomainRef:
        for guest in list(self.host.guests.values()):
            if guest.active and guest.id == id:
                return guest.ref()
        raise _no_domain(f"id {id}")

    def _state(self, guest: Guest) -> tuple[int, int]:
        return guest.state, guest.reason

    def _matches(self, guest: Guest, flags: int) -> bool:
        # no snapshots or checkpoints in this driver: those facts stay False
        return matches_list_filters(
            flags, active=guest.active, persistent=guest.persistent, state=guest.state,
            autostart=lambda: self.host.store.autostart(guest.name),
            managed_save=lambda: self.host.store.managed_save_path(guest.name).exists())

    @hookimpl
    def connect_list_all_domains(self, flags: int) -> list[DomainRef]:
        allowed = 0
        for flag in ListFlags:
            allowed |= int(flag)
        check_flags(flags, allowed, "qemuConnectListAllDomains")
        return [g.ref() for g in list(self.host.guests.values()) if self._matches(g, flags)]

    @hookimpl
    def connect_list_domains(self) -> list[int]:
        return [g.id for g in list(self.host.guests.values()) if g.active]

    @hookimpl
    def connect_num_of_domains(self) -> int:
        return sum(1 for g in list(self.host.guests.values()) if g.active)

    @hookimpl
    def connect_list_defined_domains(self) -> list[str]:
        return [g.name for g in list(self.host.guests.values()) if not g.active and g.persistent]

    @hookimpl
    def connect_num_of_defined_domains(self) -> int:
        return len(self.connect_list_defined_domains())

    # ================================================================================== define

    def _parse(self, xml: Union[str, DomainDefinition], validate_schema: bool = False) -> DomainDefinition:
        return self._parse_and_plan(xml, validate_schema)[0]

    def _parse_and_plan(self, xml: Union[str, DomainDefinition], validate_schema: bool = False, *,
                        copy: bool = True) -> tuple[DomainDefinition, GuestPlan]:
        """A defaulted private definition and its plan (refuses what cannot run, naming the element).

        copy=False: a definition given is defaulted in place (the caller hands it over).
        """
        given = isinstance(xml, DomainDefinition)
        defn = xml if given else DomainDefinition.from_xml(xml)
        if validate_schema:
            validate(defn)
        return plan_definition(self.host, defn, copy=given and copy)

    def _check_identity(self, defn: DomainDefinition) -> Optional[Guest]:
        existing = self.host.guests.get(defn.name)
        if existing is not None and existing.uuid != defn.uuid:
            raise VirtError(f"domain '{defn.name}' already exists with uuid {existing.uuid}",
                            code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.DOMAIN)
        for guest in list(self.host.guests.values()):
            if guest.uuid == defn.uuid and guest.name != defn.name:
                raise VirtError(f"domain '{guest.name}' already exists with uuid {guest.uuid}",
                                code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.DOMAIN)
        return existing

    @hookimpl
    def domain_define_xml(self, xml: str, flags: int) -> DomainRef:
        check_flags(flags, DomainDefineFlags.VALIDATE, "qemuDomainDefineXMLFlags")
        defn = self._parse(xml, bool(flags & DomainDefineFlags.VALIDATE))
        with self.host.lock:
            existing = self._check_identity(defn)
            guest = existing or Guest(defn.name, defn.uuid or "")
            with guest.lock:
                was_persistent = guest.persistent
                self.host.store.write_config(defn)
                guest.config = defn
                if guest.active:
                    guest.updated = True
                self.host.guests[defn.name] = guest
        self.host.emit(guest, Event.DEFINED, Defined.UPDATED if was_persistent else Defined.ADDED)
        return guest.ref()

    @hookimpl
    def domain_undefine(self, dom: DomainRef, flags: int) -> int:
        check_flags(flags, 0x7f, "qemuDomainUndefineFlags")
        guest = self.host.find(dom)
        with guest.lock:
            if not guest.persistent:
                raise _invalid(f"cannot undefine transient domain '{guest.name}'")
            image = self.host.store.managed_save_path(guest.name)
            if image.exists():
                if not flags & DomainUndefineFlags.MANAGED_SAVE:
                    raise _invalid(f"refusing to undefine domain '{guest.name}' while it has a managed save image")
                image.unlink()
            self.host.store.remove_config(guest.name)
            guest.config = None
            self.host.forget_if_unused(guest)
        self.host.emit(guest, Event.UNDEFINED, Undefined.REMOVED)
        return 0

    def persist(self, guest: Guest, definition: DomainDefinition) -> None:
        """Give a (running) guest a persistent config."""
        with guest.lock:
            defn = self._parse(definition)
            self.host.store.write_config(defn)
            guest.config = defn
        self.host.emit(guest, Event.DEFINED, Defined.ADDED)

    # ================================================================================== start and stop

    def _start(self, guest: Guest, definition: DomainDefinition, paused: bool) -> None:
        if guest.active:
            raise _invalid(f"domain '{guest.name}' is already running")
        start_guest(self.host, guest, definition, paused=paused)

    @hookimpl
    def domain_create_xml(self, xml: str, flags: int) -> DomainRef:
        check_flags(flags, DomainCreateFlags.PAUSED | DomainCreateFlags.VALIDATE | DomainCreateFlags.AUTODESTROY,
                    "qemuDomainCreateXML")
        if flags & DomainCreateFlags.AUTODESTROY:
            raise NoSupport("VIR_DOMAIN_START_AUTODESTROY is not supported by the qemu driver",
                            code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.QEMU)
        defn = self._parse(xml, bool(flags & DomainCreateFlags.VALIDATE))
        with self.host.lock:
            existing = self._check_identity(defn)
            if existing is not None and existing.active:
                raise _invalid(f"domain '{defn.name}' is already running")
            guest = existing or Guest(defn.name, defn.uuid or "")
            self.host.guests[defn.name] = guest
        with guest.lock:
            try:
                self._start(guest, defn, bool(flags & DomainCreateFlags.PAUSED))
            finally:
                self.host.forget_if_unused(guest)
        return guest.ref()

    @hookimpl
    def domain_create(self, dom: DomainRef, flags: int) -> DomainRef:
        check_flags(flags, DomainCreateFlags.PAUSED | DomainCreateFlags.FORCE_BOOT | DomainCreateFlags.BYPASS_CACHE,
                    "qemuDomainCreateWithFlags")
        guest = self.host.find(dom)
        with guest.lock:
            if guest.active:
                raise _invalid(f"domain '{guest.name}' is already running")
            image = self.host.store.managed_save_path(guest.name)
            if image.exists():
                if flags & DomainCreateFlags.FORCE_BOOT:
                    image.unlink()
                else:
                    self._restore(str(image), None, SaveFlags.PAUSED if flags & DomainCreateFlags.PAUSED else 0,
                                  managed=guest)
                    return guest.ref()
            self._start(guest, guest.config, bool(flags & DomainCreateFlags.PAUSED))
        return guest.ref()

    @hookimpl
    def domain_destroy(self, dom: DomainRef, flags: int) -> DomainRef:
        check_flags(flags, DomainDestroyFlags.GRACEFUL, "qemuDomainDestroyFlags")
        guest = self.host.running(dom)
        with guest.lock:
            if not guest.active:
                raise not_running(guest.name)
            stop_guest(self.host, guest, DomainShutoffReason.DESTROYED,
                       graceful=bool(flags & DomainDestroyFlags.GRACEFUL))
        return DomainRef(guest.name, guest.uuid, -1)

    def _acpi_allowed(self, flags: int, allowed: int, function: str) -> None:
        check_flags(flags, allowed, function)
        if flags & ~int(allowed & 1) & allowed:
            raise NoSupport("only the ACPI power button method is supported by the qemu driver",
                            code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.QEMU)

    @hookimpl
    def domain_shutdown(self, dom: DomainRef, flags: int) -> int:
        self._acpi_allowed(flags, DomainShutdownFlags.ACPI_POWER_BTN | DomainShutdownFlags.GUEST_AGENT,
                           "qemuDomainShutdownFlags")
        guest = self.host.running(dom)
        with guest.lock:
            if guest.state not in (DomainState.RUNNING, DomainState.PAUSED):
                raise _invalid(f"domain '{guest.name}' is not running")
            guest.monitor.execute("system_powerdown")
        return 0

    @hookimpl
    def domain_reboot(self, dom: DomainRef, flags: int) -> int:
        self._acpi_allowed(flags, DomainRebootFlags.ACPI_POWER_BTN | DomainRebootFlags.GUEST_AGENT,
                           "qemuDomainReboot")
        guest = self.host.running(dom)
        with guest.lock:
            # libvirt's "fake reboot": the guest powers off through ACPI, QEMU stays (shutdown action
            # pause) and the SHUTDOWN event handler resets and resumes it instead of ending it
            if guest.state != DomainState.RUNNING:
                raise _invalid(f"domain '{guest.name}' is not running")
            guest.monitor.execute("set-action", {"shutdown": "pause"})
            guest.extra["fake_reboot"] = True
            guest.monitor.execute("system_powerdown")
        return 0

    @hookimpl
    def domain_reset(self, dom: DomainRef, flags: int) -> int:
        check_flags(flags, 0, "qemuDomainReset")
        guest = self.host.running(dom)
        with guest.lock:
            guest.monitor.execute("system_reset")
        return 0

    @hookimpl
    def domain_suspend(self, dom: DomainRef) -> int:
        guest = self.host.running(dom)
        with guest.lock:
            if not guest.active:
                raise not_running(guest.name)
            if guest.state == DomainState.PAUSED:
                return 0  # a failed post-copy source too: already paused, as libvirt answers
            refuse_in_failed_postcopy(guest, "suspend")  # QMP stop would wait for vCPUs blocked on pages
            suspend_guest(self.host, guest)
        return 0

    @hookimpl
    def domain_resume(self, dom: DomainRef) -> int:
        guest = self.host.running(dom)
        with guest.lock:
            if guest.state == DomainState.CRASHED:
                raise _invalid(f"domain '{guest.name}' crashed; it cannot be resumed")
            if guest.state != DomainState.PAUSED:
                raise _invalid(f"domain '{guest.name}' is not paused")
            refuse_in_failed_postcopy(guest, "resume")
            resume_guest(self.host, guest)
        return 0

    @hookimpl
    def domain_get_autostart(self, dom: DomainRef) -> bool:
        return self.host.store.autostart(self.host.find(dom).name)

    @hookimpl
    def domain_set_autostart(self, dom: DomainRef, autostart: bool) -> int:
        guest = self.host.find(dom)
        if not guest.persistent:
            raise _invalid(f"cannot set autostart for transient domain '{guest.name}'")
        self.host.store.set_autostart(guest.name, bool(autostart))
        return 0

    @hookimpl
    def domain_set_lifecycle_action(self, dom: DomainRef, type: int, action: int, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "qemuDomainSetLifecycleAction")
        tags = {0: "on_poweroff", 1: "on_reboot", 2: "on_crash"}
        if type not in tags or action not in ACTION_NAMES:
            raise InvalidArg(f"unknown lifecycle type {type} or action {action}", code=ErrorCode.INVALID_ARG,
                             domain=ErrorDomain.QEMU)
        tag, name = tags[type], ACTION_NAMES[action]
        guest = self.host.find(dom)
        with guest.lock:
            live, config = self._impact(guest, flags)
            definitions = ([guest.live.copy()] if live else []) + ([guest.config.copy()] if config else [])
            for defn in definitions:
                set_child_text(defn.root, tag, name)
                plan_guest(defn, self.host.capabilities(), self.host.ncpus)  # refuses what is not supported
            if live:
                qemu_action = {"on_poweroff": ("shutdown", "pause" if name == "restart" else "poweroff"),
                               "on_reboot": ("reboot", "shutdown" if name == "destroy" else "reset"),
                               "on_crash": ("panic", "pause" if name == "preserve" else "none")}[tag]
                guest.monitor.execute("set-action", {qemu_action[0]: qemu_action[1]})
                guest.live = definitions[0]
                guest.plan = plan_guest(guest.live, self.host.capabilities(), self.host.ncpus)
                self.host.write_status(guest)
            if config:
                guest.config = definitions[-1]
                self._save_config(guest)
        return 0

    # ---- for the migration phases -----------------------------------------------------------------

    def start_incoming(self, xml: Union[str, DomainDefinition], *, owned: bool = False) -> Guest:
        """Start QEMU waiting for an incoming stream (see the module docstring).

        owned: `xml` is a definition the caller hands over (it becomes the live XML, without a copy).
        """
        defn, plan = self._parse_and_plan(xml, copy=not owned)
        with self.host.lock:
            existing = self._check_identity(defn)
            if existing is not None and existing.active:
                raise _invalid(f"domain '{defn.name}' is already running")
            guest = existing or Guest(defn.name, defn.uuid or "")
            self.host.guests[defn.name] = guest
        with guest.lock:
            try:
                start_guest(self.host, guest, defn, paused=True, incoming="defer", planned=plan)
            finally:
                self.host.forget_if_unused(guest)
        return guest

    def finish_incoming(self, guest: Guest, *, paused: bool = False,
                        running_reason: int = DomainRunningReason.MIGRATED,
                        started_detail: int = Started.MIGRATED) -> None:
        """Run a guest whose incoming stream completed; STARTED event and hook."""
        with guest.lock:
            finish_start(self.host, guest, paused=paused, running_reason=running_reason,
                         started_detail=started_detail)

    def stop(self, guest: Guest, reason: int, *, kill: bool = False) -> None:
        """End a running guest with a shut-off reason (event detail to match); `kill`: SIGKILL at once."""
        with guest.lock:
            if guest.active:
                stop_guest(self.host, guest, reason, kill=kill)

    def suspend(self, guest: Guest, reason: int = DomainPausedReason.USER,
                detail: int = Suspended.PAUSED) -> None:
        """Pause a running guest with a reason and event detail."""
        with guest.lock:
            suspend_guest(self.host, guest, reason, detail)

    def resume(self, guest: Guest, reason: int = DomainRunningReason.UNPAUSED,
               detail: int = Resumed.UNPAUSED) -> None:
        """Resume a paused guest with a reason and event detail."""
        with guest.lock:
            resume_guest(self.host, guest, reason, detail)

    # ================================================================================== state and XML

    @hookimpl
    def domain_get_os_type(self, dom: DomainRef) -> str:
        return self.host.find(dom).current.os_type or "hvm"

    @hookimpl
    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        guest = self.host.find(dom)
        defn = guest.current
        cpu_time, memory = 0, defn.current_memory_kib
        if guest.active and guest.process is not None:
            cpu_time = tuning.process_cpu_time_ns(guest.process.pid)[0]
            if guest.monitor is not None and guest.plan is not None:
                try:
                    memory = stats.balloon_actual_kib(guest)
                except VirtError:
                    pass
        return DomainInfo(guest.state, defn.memory_kib, memory, defn.vcpus, cpu_time)

    @hookimpl
    def domain_get_state(self, dom: DomainRef, flags: int) -> tuple[int, int]:
        check_flags(flags, 0, "qemuDomainGetState")
        return self._state(self.host.find(dom))

    @hookimpl
    def domain_get_control_info(self, dom: DomainRef, flags: int) -> ControlInfo:
        check_flags(flags, 0, "qemuDomainGetControlInfo")
        guest = self.host.running(dom)
        free = guest.lock.acquire(blocking=False)
        if free:
            guest.lock.release()
        return ControlInfo(0 if free else 1, 0, 0)  # OK, or JOB while an operation holds the domain

    @hookimpl
    def domain_is_active(self, dom: DomainRef) -> bool:
        return self.host.find(dom).active

    @hookimpl
    def domain_is_persistent(self, dom: DomainRef) -> bool:
        return self.host.find(dom).persistent

    @hookimpl
    def domain_is_updated(self, dom: DomainRef) -> bool:
        return self.host.find(dom).updated

    @hookimpl
    def domain_get_xml_desc(self, dom: DomainRef, flags: int) -> str:
        check_flags(flags, DomainXMLFlags.SECURE | DomainXMLFlags.INACTIVE | DomainXMLFlags.UPDATE_CPU
                    | DomainXMLFlags.MIGRATABLE, "qemuDomainGetXMLDesc")
        guest = self.host.find(dom)
        if flags & DomainXMLFlags.INACTIVE and guest.config is not None:
            defn = guest.config.copy()
        else:
            defn = guest.current.copy()
            if guest.active:
                defn.root.set("id", str(guest.id))
        if flags & DomainXMLFlags.MIGRATABLE:
            defn.root.attrib.pop("id", None)
        return defn.to_xml()

    # ================================================================================== save and restore

    def _save_format(self) -> saveimage.Compression:
        conf = self.paths.hooks_dir / "qemu.conf"
        try:
            data = tomllib.loads(conf.read_text())
        except FileNotFoundError:
            return saveimage.Compression.RAW
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise VirtError(f"cannot read {conf}: {exc}", code=ErrorCode.CONF_SYNTAX, domain=ErrorDomain.QEMU) from exc
        return saveimage.Compression.from_name(str(data.get("save_image_format", "raw")))

    def _save(self, guest: Guest, path: str, dxml: Optional[str], flags: int) -> None:
        if not guest.active:
            raise not_running(guest.name)
        refuse_in_failed_postcopy(guest, "save")
        xml_defn = guest.live.copy()
        if dxml:
            replacement = self._parse(dxml)
            if replacement.name != guest.name or replacement.uuid != guest.uuid:
                raise InvalidArg("the replacement XML must keep the domain's name and UUID",
                                 code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
            xml_defn = replacement
        running = guest.state == DomainState.RUNNING
        if flags & SaveFlags.RUNNING:
            running = True
        elif flags & SaveFlags.PAUSED:
            running = False
        if guest.state == DomainState.RUNNING:
            guest.expected["STOP"] += 1
            guest.set_state(DomainState.PAUSED, DomainPausedReason.SAVE)
        try:
            saveimage.save(guest.monitor, path, xml_defn.to_xml(), compression=self._save_format(), running=running)
        except BaseException:
            # saveimage resumes a guest it paused; the STOP/RESUME events still queued are checked against QEMU
            # when they are handled, so none is expected any more
            guest.expected.clear()
            if guest.active and guest.state == DomainState.PAUSED and guest.reason == DomainPausedReason.SAVE:
                if query_running(guest) is False:
                    try:  # the save failed after pausing and before resuming: the guest must run again
                        guest.monitor.execute("cont")
                    except VirtError:
                        pass
                if query_running(guest) is not False:
                    guest.set_state(DomainState.RUNNING, DomainRunningReason.SAVE_CANCELED)
            raise
        stop_guest(self.host, guest, DomainShutoffReason.SAVED)

    @hookimpl
    def domain_save(self, dom: DomainRef, to: str, dxml: Optional[str], flags: int) -> DomainRef:
        check_flags(flags, SaveFlags.BYPASS_CACHE | SaveFlags.RUNNING | SaveFlags.PAUSED, "qemuDomainSaveFlags")
        guest = self.host.running(dom)
        with guest.lock:
            self._save(guest, to, dxml, flags)
        return DomainRef(guest.name, guest.uuid, -1)

    @hookimpl
    def domain_save_params(self, dom: DomainRef, params: TypedParams, flags: int) -> DomainRef:
        check_flags(flags, SaveFlags.BYPASS_CACHE | SaveFlags.RUNNING | SaveFlags.PAUSED, "qemuDomainSaveParams")
        unknown = sorted(set(params) - {"file", "dxml"})
        if unknown:
            raise InvalidArg(f"parameter '{unknown[0]}' is not supported by the qemu driver",
                             code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.QEMU)
        guest = self.host.running(dom)
        with guest.lock:
            if "file" in params:
                self._save(guest, params["file"], params.get("dxml"), flags)
            else:
                if not guest.persistent:
                    raise _invalid(f"cannot do managed save for transient domain '{guest.name}'")
                self._save(guest, str(self.host.store.managed_save_path(guest.name)), params.get("dxml"), flags)
        return DomainRef(guest.name, guest.uuid, -1)

    @hookimpl
    def domain_restore_params(self, params: TypedParams, flags: int) -> int:
        check_flags(flags, SaveFlags.BYPASS_CACHE | SaveFlags.RUNNING | SaveFlags.PAUSED, "qemuDomainRestoreParams")
        unknown = sorted(set(params) - {"file", "dxml"})
        if unknown or "file" not in params:
            raise InvalidArg(f"parameter '{unknown[0]}' is not supported by the qemu driver" if unknown
                             else "restore needs the 'file' parameter", code=ErrorCode.INVALID_ARG,
                             domain=ErrorDomain.QEMU)
        self._restore(params["file"], params.get("dxml"), flags)
        return 0

    def _restore(self, path: str, dxml: Optional[str], flags: int, managed: Optional[Guest] = None) -> Guest:
        header = saveimage.read_header(path)
        defn = DomainDefinition.from_xml(dxml or header.xml)
        if dxml:
            original = DomainDefinition.from_xml(header.xml)
            if defn.name != original.name or defn.uuid != original.uuid:
                raise InvalidArg("the replacement XML must keep the domain's name and UUID",
                                 code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        defn = self._parse(defn)
        with self.host.lock:
            existing = self._check_identity(defn)
            if existing is not None and existing.active:
                raise _invalid(f"domain '{defn.name}' is already running")
            guest = existing or Guest(defn.name, defn.uuid or "")
            self.host.guests[defn.name] = guest
        with guest.lock:
            try:
                rewritten = self.host.run_hook(HookPoint.RESTORE, guest, defn, "begin")
                if rewritten and rewritten.strip() != defn.to_xml().strip():
                    defn = self._parse(rewritten)
                start_guest(self.host, guest, defn, paused=True, incoming="defer")
                try:
                    saveimage.restore(guest.monitor, path, header=header)
                except BaseException:
                    if guest.active:
                        stop_guest(self.host, guest, DomainShutoffReason.FAILED, emit=False)
                    raise
                paused = not header.running
                if flags & SaveFlags.RUNNING:
                    paused = False
                elif flags & SaveFlags.PAUSED:
                    paused = True
                finish_start(self.host, guest, paused=paused, running_reason=DomainRunningReason.RESTORED,
                             started_detail=Started.RESTORED)
                if managed is not None:
                    os.unlink(path)
            finally:
                self.host.forget_if_unused(guest)
        return guest

    @hookimpl
    def domain_restore(self, frm: str, dxml: Optional[str], flags: int) -> int:
        check_flags(flags, SaveFlags.BYPASS_CACHE | SaveFlags.RUNNING | SaveFlags.PAUSED, "qemuDomainRestoreFlags")
        self._restore(frm, dxml, flags)
        return 0

    @hookimpl
    def domain_save_image_get_xml_desc(self, file: str, flags: int) -> str:
        check_flags(flags, 1, "qemuDomainSaveImageGetXMLDesc")
        return saveimage.read_header(file).xml

    @hookimpl
    def domain_save_image_define_xml(self, file: str, dxml: str, flags: int) -> int:
        check_flags(flags, SaveFlags.RUNNING | SaveFlags.PAUSED, "qemuDomainSaveImageDefineXML")
        header = saveimage.read_header(file)
        old = DomainDefinition.from_xml(header.xml)
        new = self._parse(dxml)
        if new.name != old.name or new.uuid != old.uuid:
            raise InvalidArg("the replacement XML must keep the domain's name and UUID",
                             code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        running = True if flags & SaveFlags.RUNNING else False if flags & SaveFlags.PAUSED else None
        saveimage.update_xml(file, new.to_xml(), running=running)
        return 0

    @hookimpl
    def domain_managed_save(self, dom: DomainRef, flags: int) -> DomainRef:
        check_flags(flags, SaveFlags.BYPASS_CACHE | SaveFlags.RUNNING | SaveFlags.PAUSED, "qemuDomainManagedSave")
        guest = self.host.running(dom)
        with guest.lock:
            if not guest.persistent:
                raise _invalid(f"cannot do managed save for transient domain '{guest.name}'")
            self._save(guest, str(self.host.store.managed_save_path(guest.name)), None, flags)
        return DomainRef(guest.name, guest.uuid, -1)

    @hookimpl
    def domain_has_managed_save_image(self, dom: DomainRef, flags: int) -> bool:
        check_flags(flags, 0, "qemuDomainHasManagedSaveImage")
        return self.host.store.managed_save_path(self.host.find(dom).name).exists()

    @hookimpl
    def domain_managed_save_remove(self, dom: DomainRef, flags: int) -> int:
        check_flags(flags, 0, "qemuDomainManagedSaveRemove")
        path = self.host.store.managed_save_path(self.host.find(dom).name)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        return 0

    def _managed_image(self, dom: DomainRef) -> str:
        guest = self.host.find(dom)
        path = self.host.store.managed_save_path(guest.name)
        if not path.exists():
            raise _invalid(f"domain '{guest.name}' has no managed save image")
        return str(path)

    @hookimpl
    def domain_managed_save_get_xml_desc(self, dom: DomainRef, flags: int) -> str:
        check_flags(flags, 1, "qemuDomainManagedSaveGetXMLDesc")
        return saveimage.read_header(self._managed_image(dom)).xml

    @hookimpl
    def domain_managed_save_define_xml(self, dom: DomainRef, dxml: Optional[str], flags: int) -> int:
        return self.domain_save_image_define_xml(self._managed_image(dom), dxml, flags)

    @hookimpl
    def domain_core_dump(self, dom: DomainRef, to: str, dumpformat: int, flags: int) -> int:
        check_flags(flags, DumpFlags.CRASH | DumpFlags.LIVE | DumpFlags.BYPASS_CACHE | DumpFlags.RESET
                    | DumpFlags.MEMORY_ONLY, "qemuDomainCoreDumpWithFormat")
        if flags & DumpFlags.CRASH and flags & DumpFlags.LIVE:
            raise InvalidArg("crash and live flags are mutually exclusive", code=ErrorCode.INVALID_ARG,
                             domain=ErrorDomain.QEMU)
        guest = self.host.running(dom)
        fmt = _DUMP_FORMATS.get(DumpFormat(dumpformat)) if dumpformat in DumpFormat._value2member_map_ else None
        if fmt is None:
            raise InvalidArg(f"unknown dump format {dumpformat}", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        with guest.lock:
            if not guest.active:
                raise not_running(guest.name)
            refuse_in_failed_postcopy(guest, "dump the memory of")
            formats = [f["format"] if isinstance(f, dict) else f for f in
                       guest.monitor.execute("query-dump-guest-memory-capability").get("formats", [])]
            if fmt not in formats:
                raise NoSupport(f"this QEMU cannot write dumps in format '{fmt}'",
                                code=ErrorCode.OPERATION_UNSUPPORTED, domain=ErrorDomain.QEMU)
            was_running = guest.state == DomainState.RUNNING
            if was_running and not flags & DumpFlags.LIVE:
                suspend_guest(self.host, guest, DomainPausedReason.DUMP, Suspended.PAUSED)
            try:
                fd = os.open(to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise VirtError(f"cannot create dump file '{to}': {exc.strerror}", code=ErrorCode.SYSTEM_ERROR,
                                domain=ErrorDomain.QEMU) from exc
            try:
                guest.monitor.send_fd(fd, "vk-dump")
                guest.monitor.execute("dump-guest-memory", {"paging": False, "protocol": "fd:vk-dump",
                                                            "format": fmt}, timeout=None)
            finally:
                os.close(fd)
            if flags & DumpFlags.CRASH:
                stop_guest(self.host, guest, DomainShutoffReason.CRASHED)
                return 0
            if flags & DumpFlags.RESET:
                guest.monitor.execute("system_reset")
            if was_running and not flags & DumpFlags.LIVE:
                resume_guest(self.host, guest)
        return 0

    # ================================================================================== memory

    def _impact(self, guest: Guest, flags: int) -> tuple[bool, bool]:
        """(live, config) for AFFECT_* flags, with libvirt's checks."""
        live = bool(flags & Impact.LIVE)
        config = bool(flags & Impact.CONFIG)
        if not live and not config:
            live, config = guest.active, not guest.active
        if live and not guest.active:
            raise _invalid(f"domain '{guest.name}' is not running")
        if config and not guest.persistent:
            raise _invalid(f"domain '{guest.name}' is transient: it has no persistent configuration to change")
        return live, config

    def _save_config(self, guest: Guest) -> None:
        self.host.store.write_config(guest.config)

    @hookimpl
    def domain_get_max_memory(self, dom: DomainRef) -> int:
        return self.host.find(dom).current.memory_kib

    @hookimpl
    def domain_set_max_memory(self, dom: DomainRef, memory: int) -> int:
        return self.domain_set_memory(dom, memory, MemFlags.MAXIMUM)

    @hookimpl
    def domain_set_memory(self, dom: DomainRef, memory: int, flags: int) -> int:
        check_flags(flags, MemFlags.LIVE | MemFlags.CONFIG | MemFlags.MAXIMUM, "qemuDomainSetMemoryFlags")
        guest = self.host.find(dom)
        with guest.lock:
            live, config = self._impact(guest, flags & ~MemFlags.MAXIMUM)
            if flags & MemFlags.MAXIMUM:
                if live:
                    raise NoSupport("cannot resize the maximum memory of a running domain",
                                    code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
                defn = guest.config.copy()
                current = min(defn.current_memory_kib, memory)
                defn.memory_kib = memory
                defn.current_memory_kib = current
                plan_guest(defn, self.host.capabilities(), self.host.ncpus)
                guest.config = defn
                self._save_config(guest)
                return 0
            if live and memory > guest.live.memory_kib:
                raise InvalidArg("cannot set memory higher than max memory", code=ErrorCode.INVALID_ARG,
                                 domain=ErrorDomain.QEMU)
            if config and memory > guest.config.memory_kib:
                raise InvalidArg("cannot set memory higher than max memory", code=ErrorCode.INVALID_ARG,
                                 domain=ErrorDomain.QEMU)
            if live:
                if guest.plan is None or not guest.plan.balloon:
                    raise _invalid(f"domain '{guest.name}' has no memory balloon device")
                guest.monitor.execute("balloon", {"value": memory * 1024})
                guest.live.current_memory_kib = memory
                self.host.write_status(guest)
            if config:
                guest.config.current_memory_kib = memory
                self._save_config(guest)
        return 0

    @hookimpl
    def domain_memory_stats(self, dom: DomainRef, nr_stats: int, flags: int) -> dict[int, int]:
        check_flags(flags, 0, "qemuDomainMemoryStats")
        guest = self.host.running(dom)
        return dict(list(stats.memory_stats(guest).items())[:nr_stats])

    def _tunables(self, dom: DomainRef, flags: int, known: dict, function: str) -> TypedParams:
        flags &= ~TYPED_PARAM_STRING_OKAY
        check_flags(flags, Impact.LIVE | Impact.CONFIG, function)
        guest = self.host.find(dom)
        live, _config = self._impact(guest, flags)
        if live:
            group = tuning.domain_cgroup(self.host, guest, create=False)
            if group is not None:
                return tunables.read_cgroup(group, known)
            return tunables.read_xml(guest.live.root, known)
        return tunables.read_xml(guest.config.root, known)

    def _set_tunables(self, dom: DomainRef, params: TypedParams, flags: int, known: dict, function: str) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, function)
        tunables.check_params(params, known)
        guest = self.host.find(dom)
        with guest.lock:
            live, config = self._impact(guest, flags)
            if live:
                tunables.apply_params(tuning.domain_cgroup(self.host, guest), params)
                tunables.write_xml(guest.live.root, params, known)
                self.host.write_status(guest)
            if config:
                tunables.write_xml(guest.config.root, params, known)
                self._save_config(guest)
        return 0

    @hookimpl
    def domain_get_memory_parameters(self, dom: DomainRef, flags: int) -> TypedParams:
        return self._tunables(dom, flags, tunables.MEMORY_PARAMS, "qemuDomainGetMemoryParameters")

    @hookimpl
    def domain_set_memory_parameters(self, dom: DomainRef, params: TypedParams, flags: int) -> int:
        return self._set_tunables(dom, params, flags, tunables.MEMORY_PARAMS, "qemuDomainSetMemoryParameters")

    @hookimpl
    def domain_get_scheduler_type(self, dom: DomainRef) -> tuple[str, int]:
        self.host.find(dom)
        return "posix", 3

    @hookimpl
    def domain_get_scheduler_parameters(self, dom: DomainRef, flags: int) -> TypedParams:
        return self._tunables(dom, flags, tunables.SCHEDULER_PARAMS, "qemuDomainGetSchedulerParametersFlags")

    @hookimpl
    def domain_set_scheduler_parameters(self, dom: DomainRef, params: TypedParams, flags: int) -> int:
        return self._set_tunables(dom, params, flags, tunables.SCHEDULER_PARAMS,
                                  "qemuDomainSetSchedulerParametersFlags")

    @hookimpl
    def domain_get_blkio_parameters(self, dom: DomainRef, flags: int) -> TypedParams:
        return self._tunables(dom, flags, tunables.BLKIO_PARAMS, "qemuDomainGetBlkioParameters")

    @hookimpl
    def domain_set_blkio_parameters(self, dom: DomainRef, params: TypedParams, flags: int) -> int:
        return self._set_tunables(dom, params, flags, tunables.BLKIO_PARAMS, "qemuDomainSetBlkioParameters")

    # ================================================================================== vCPUs

    @hookimpl
    def domain_get_vcpus_flags(self, dom: DomainRef, flags: int) -> int:
        check_flags(flags, DomainVcpuFlags.LIVE | DomainVcpuFlags.CONFIG | DomainVcpuFlags.MAXIMUM,
                    "qemuDomainGetVcpusFlags")
        guest = self.host.find(dom)
        live, _ = self._impact(guest, flags & ~DomainVcpuFlags.MAXIMUM)
        defn = guest.live if live else guest.config
        return defn.max_vcpus if flags & DomainVcpuFlags.MAXIMUM else defn.vcpus

    @hookimpl
    def domain_get_max_vcpus(self, dom: DomainRef) -> int:
        guest = self.host.running(dom)
        return guest.live.max_vcpus

    @hookimpl
    def domain_set_vcpus(self, dom: DomainRef, nvcpus: int, flags: int) -> int:
        check_flags(flags, DomainVcpuFlags.LIVE | DomainVcpuFlags.CONFIG | DomainVcpuFlags.MAXIMUM,
                    "qemuDomainSetVcpusFlags")
        guest = self.host.find(dom)
        with guest.lock:
            live, config = self._impact(guest, flags & ~DomainVcpuFlags.MAXIMUM)
            if live:
                if flags & DomainVcpuFlags.MAXIMUM:
                    raise InvalidArg("cannot change the maximum vCPU count of a running domain",
                                     code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
                self._hotplug_vcpus(guest, nvcpus)
            if not config:
                return 0
            defn = guest.config.copy()
            if flags & DomainVcpuFlags.MAXIMUM:
                current = min(defn.vcpus, nvcpus)
                defn.max_vcpus = nvcpus
                defn.vcpus = current
            else:
                if nvcpus > defn.max_vcpus:
                    raise InvalidArg(f"requested vcpus {nvcpus} is greater than max allowable vcpus {defn.max_vcpus}",
                                     code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
                defn.vcpus = nvcpus
            plan_guest(defn, self.host.capabilities(), self.host.ncpus)
            guest.config = defn
            self._save_config(guest)
        return 0

    def _hotplug_vcpus(self, guest: Guest, nvcpus: int) -> None:
        """Plug vCPUs in (device_add) or out (device_del, the guest must let go) until nvcpus are online."""
        if not 1 <= nvcpus <= guest.live.max_vcpus:
            raise InvalidArg(f"requested vcpus {nvcpus} is not between 1 and the maximum {guest.live.max_vcpus}",
                             code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        slots = sorted(guest.monitor.execute("query-hotpluggable-cpus"),
                       key=lambda c: tuple(sorted(c["props"].items())))
        online = [c for c in slots if c.get("qom-path")]
        free = [c for c in slots if not c.get("qom-path")]
        while len(online) < nvcpus:
            slot = free.pop(0)
            vcpu_id = f"vcpu{len(online)}"
            guest.monitor.execute("device_add", {"driver": slot["type"], "id": vcpu_id, **slot["props"]})
            online.append(slot)
        if len(online) > nvcpus:
            from . import hotplug
            removable = [c for c in online if c["qom-path"].startswith("/machine/peripheral/")]
            for slot in reversed(removable[len(removable) - (len(online) - nvcpus):]):
                alias = slot["qom-path"].rsplit("/", 1)[-1]
                with guest.monitor.expect_event("DEVICE_DELETED", lambda e, a=alias: e.data.get("device") == a) \
                        as waiter:
                    try:
                        guest.monitor.execute("device_del", {"id": alias})
                    except QMPCommandError as exc:
                        raise OperationFailed(f"cannot unplug vCPU '{alias}' of domain '{guest.name}': {exc.desc}",
                                              domain=ErrorDomain.QEMU) from None
                    try:
                        waiter.wait(hotplug.DETACH_TIMEOUT)
                    except VirtError:
                        raise VirtError(f"the guest of domain '{guest.name}' did not release vCPU '{alias}' within "
                                        f"{hotplug.DETACH_TIMEOUT:g} s", code=ErrorCode.OPERATION_TIMEOUT,
                                        domain=ErrorDomain.QEMU) from None
            if len(removable) < len(online) - nvcpus:
                raise InvalidArg("only vCPUs plugged in while the domain runs can be unplugged",
                                 code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
        guest.live.vcpus = nvcpus
        self.host.write_status(guest)

    @hookimpl
    def domain_get_vcpus(self, dom: DomainRef) -> tuple[list[VcpuInfo], list[tuple[bool, ...]]]:
        guest = self.host.running(dom)
        infos, maps = [], []
        for index, tid in enumerate(tuning.vcpu_threads(guest)):
            cpu_time, cpu = tuning.thread_times(guest.process.pid, tid)
            infos.append(VcpuInfo(index, 1, cpu_time, cpu))
            maps.append(tuning.thread_affinity(tid, self.host.ncpus))
        return infos, maps

    def _set_pin(self, defn: DomainDefinition, tag: str, vcpu: Optional[int], cpumap: tuple[bool, ...]) -> None:
        root = defn.root
        cputune = root.find("cputune")
        if cputune is None:
            cputune = etree.Element("cputune")
            anchor = root.find("os")
            (anchor.addprevious(cputune) if anchor is not None else root.append(cputune))
        node = None
        for child in cputune.findall(tag):
            if vcpu is None or child.get("vcpu") == str(vcpu):
                node = child
        if all(cpumap[:self.host.ncpus]):
            if node is not None:
                cputune.remove(node)
        else:
            if node is None:
                node = etree.SubElement(cputune, tag)
                if vcpu is not None:
                    node.set("vcpu", str(vcpu))
            node.set("cpuset", format_cpuset(cpumap))
        if len(cputune) == 0:
            root.remove(cputune)

    def _cpumap(self, cpumap: tuple[bool, ...]) -> tuple[bool, ...]:
        ncpus = self.host.ncpus
        if any(cpumap[ncpus:]):
            raise InvalidArg(f"the CPU map names CPUs the host does not have (it has {ncpus})",
                             code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        full = tuple(cpumap[:ncpus]) + (False,) * max(0, ncpus - len(cpumap))
        if not any(full):
            raise InvalidArg("the CPU map selects no CPU", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        return full

    @hookimpl
    def domain_pin_vcpu(self, dom: DomainRef, vcpu: int, cpumap: tuple[bool, ...], flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "qemuDomainPinVcpuFlags")
        guest = self.host.find(dom)
        cpumap = self._cpumap(cpumap)
        with guest.lock:
            live, config = self._impact(guest, flags)
            for defn in ([guest.live] if live else []) + ([guest.config] if config else []):
                if not 0 <= vcpu < defn.max_vcpus:
                    raise InvalidArg(f"vCPU {vcpu} is out of range (the domain has {defn.max_vcpus})",
                                     code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
            if live:
                threads = tuning.vcpu_threads(guest)
                if vcpu >= len(threads):
                    raise InvalidArg(f"vCPU {vcpu} is not online", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
                tuning.set_thread_affinity(threads[vcpu], cpumap, guest.name)
                self._set_pin(guest.live, "vcpupin", vcpu, cpumap)
                self.host.write_status(guest)
            if config:
                self._set_pin(guest.config, "vcpupin", vcpu, cpumap)
                self._save_config(guest)
        return 0

    def _pins_from_xml(self, defn: DomainDefinition) -> list[tuple[bool, ...]]:
        ncpus = self.host.ncpus
        all_cpus = tuple([True] * ncpus)
        vcpu_node = defn.root.find("vcpu")
        default = parse_cpuset(vcpu_node.get("cpuset"), ncpus, "<vcpu cpuset>") \
            if vcpu_node is not None and vcpu_node.get("cpuset") else all_cpus
        maps = [default] * defn.max_vcpus
        for node in defn.root.findall("cputune/vcpupin"):
            index = int(node.get("vcpu"))
            if index < len(maps):
                maps[index] = parse_cpuset(node.get("cpuset"), ncpus, "<vcpupin>")
        return maps

    @hookimpl
    def domain_get_vcpu_pin_info(self, dom: DomainRef, flags: int) -> list[tuple[bool, ...]]:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "qemuDomainGetVcpuPinInfo")
        guest = self.host.find(dom)
        live, _ = self._impact(guest, flags)
        if live:
            return [tuning.thread_affinity(tid, self.host.ncpus) for tid in tuning.vcpu_threads(guest)]
        return self._pins_from_xml(guest.config)

    @hookimpl
    def domain_pin_emulator(self, dom: DomainRef, cpumap: tuple[bool, ...], flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "qemuDomainPinEmulator")
        guest = self.host.find(dom)
        cpumap = self._cpumap(cpumap)
        with guest.lock:
            live, config = self._impact(guest, flags)
            if live:
                for tid in tuning.emulator_threads(guest):
                    tuning.set_thread_affinity(tid, cpumap, guest.name)
                self._set_pin(guest.live, "emulatorpin", None, cpumap)
                self.host.write_status(guest)
            if config:
                self._set_pin(guest.config, "emulatorpin", None, cpumap)
                self._save_config(guest)
        return 0

    @hookimpl
    def domain_get_emulator_pin_info(self, dom: DomainRef, flags: int) -> tuple[bool, ...]:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "qemuDomainGetEmulatorPinInfo")
        guest = self.host.find(dom)
        live, _ = self._impact(guest, flags)
        if live:
            return tuning.thread_affinity(guest.process.pid, self.host.ncpus)
        text = guest.config.root.find("cputune/emulatorpin")
        if text is not None:
            return parse_cpuset(text.get("cpuset"), self.host.ncpus, "<emulatorpin>")
        return tuple([True] * self.host.ncpus)

    # ================================================================================== statistics

    @hookimpl
    def domain_get_cpu_stats(self, dom: DomainRef, start_cpu: int, ncpus: int, flags: int) -> list[TypedParams]:
        flags &= ~TYPED_PARAM_STRING_OKAY
        check_flags(flags, 0, "qemuDomainGetCPUStats")
        guest = self.host.running(dom)
        total, user, system = tuning.process_cpu_time_ns(guest.process.pid)
        if start_cpu == -1:
            vcpu_time = sum(tuning.thread_times(guest.process.pid, tid)[0] for tid in tuning.vcpu_threads(guest))
            return [{"cpu_time": total, "user_time": user, "system_time": system, "vcpu_time": vcpu_time}]
        usage = tuning.percpu_usage(guest.cgroup) if guest.cgroup is not None else None
        if usage is None:
            raise NoSupport(f"per-CPU statistics of domain '{guest.name}' need its cpuacct cgroup, which is made "
                            "when a CPU, memory or block I/O tunable is first set",
                            code=ErrorCode.OPERATION_UNSUPPORTED, domain=ErrorDomain.QEMU)
        if start_cpu >= len(usage):
            raise InvalidArg(f"start_cpu {start_cpu} is beyond the host's {len(usage)} CPUs",
                             code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        end = len(usage) if ncpus < 0 else min(len(usage), start_cpu + ncpus)
        return [{"cpu_time": value} for value in usage[start_cpu:end]]

    @hookimpl
    def domain_block_stats(self, dom: DomainRef, disk: str) -> BlockStats:
        return stats.block_stats(self.host.running(dom), disk)

    @hookimpl
    def domain_block_stats_flags(self, dom: DomainRef, disk: str, flags: int) -> TypedParams:
        check_flags(flags & ~TYPED_PARAM_STRING_OKAY, 0, "qemuDomainBlockStatsFlags")
        s = stats.block_stats(self.host.running(dom), disk)
        return {"rd_operations": s.rd_req, "rd_bytes": s.rd_bytes, "wr_operations": s.wr_req,
                "wr_bytes": s.wr_bytes}

    @hookimpl
    def domain_get_block_info(self, dom: DomainRef, disk: str, flags: int) -> BlockInfo:
        check_flags(flags, 0, "qemuDomainGetBlockInfo")
        guest = self.host.find(dom)
        if guest.active:
            return stats.block_info(guest, disk)
        from .domain_config import parse_disk
        for node in guest.config.devices("disk"):
            parsed = parse_disk(node)
            if disk in (parsed.target, parsed.source) and parsed.source:
                info = os.stat(parsed.source)
                return BlockInfo(info.st_size, info.st_blocks * 512, info.st_size)
        raise InvalidArg(f"domain '{guest.name}' has no disk '{disk}'", code=ErrorCode.INVALID_ARG,
                         domain=ErrorDomain.QEMU)

    @hookimpl
    def domain_block_resize(self, dom: DomainRef, disk: str, size: int, flags: int) -> int:
        check_flags(flags, 1, "qemuDomainBlockResize")
        guest = self.host.running(dom)
        with guest.lock:
            target = stats.find_disk(guest, disk)
            size_bytes = size if flags & 1 else size * 1024
            if target.source is None:
                raise _invalid(f"disk '{disk}' has no medium")
            guest.monitor.execute("block_resize", {"node-name": target.format_node, "size": size_bytes})
        return 0

    @hookimpl
    def domain_interface_stats(self, dom: DomainRef, device: str) -> InterfaceStats:
        return stats.interface_stats(self.host.running(dom), device)

    @hookimpl
    def connect_get_all_domain_stats(self, doms: Optional[list[DomainRef]], stats: int, flags: int
                                     ) -> list[DomainStatsRecord]:
        from . import stats as stats_module
        check_flags(flags, _STATS_FILTERS | StatsFlags.ENFORCE_STATS | StatsFlags.NOWAIT | StatsFlags.BACKING,
                    "qemuConnectGetAllDomainStats")
        supported = int(stats_module.SUPPORTED_STATS)
        if stats == 0:
            stats = supported
        elif flags & StatsFlags.ENFORCE_STATS and stats & ~supported:
            raise NoSupport(f"statistics group 0x{stats & ~supported:x} is not supported by the qemu driver",
                            code=ErrorCode.NO_SUPPORT, domain=ErrorDomain.QEMU)
        if doms is None:
            guests = [g for g in list(self.host.guests.values()) if self._matches(g, flags & _STATS_FILTERS)]
        else:
            guests = [self.host.find(d) for d in doms]
        records = []
        for guest in guests:
            with guest.lock:
                records.append(DomainStatsRecord(guest.ref(), stats_module.domain_stats(guest, stats,
                                                                                          self._state(guest))))
        return records

    @hookimpl
    def domain_memory_peek(self, dom: DomainRef, start: int, size: int, flags: int) -> bytes:
        check_flags(flags, DomainMemoryFlags.VIRTUAL | DomainMemoryFlags.PHYSICAL, "qemuDomainMemoryPeek")
        if not flags & (DomainMemoryFlags.VIRTUAL | DomainMemoryFlags.PHYSICAL):
            raise InvalidArg("flags parameter must be VIR_MEMORY_VIRTUAL or VIR_MEMORY_PHYSICAL",
                             code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        guest = self.host.running(dom)
        with guest.lock, tempfile.NamedTemporaryFile(dir=self.paths.run_dir, prefix=".peek-") as scratch:
            command = "pmemsave" if flags & DomainMemoryFlags.PHYSICAL else "memsave"
            guest.monitor.execute(command, {"val": start, "size": size, "filename": scratch.name})
            return scratch.read()

    @hookimpl
    def domain_get_disk_errors(self, dom: DomainRef, flags: int) -> dict[str, int]:
        check_flags(flags, 0, "qemuDomainGetDiskErrors")
        guest = self.host.running(dom)
        codes = {"failed": 1, "nospace": 2}
        errors = {}
        for block in guest.monitor.execute("query-block"):
            status = block.get("io-status", "ok")
            if status != "ok":
                qdev = block.get("qdev", "")
                disk = next((d for d in guest.plan.disks if qdev.endswith(d.device_id)
                             or f"/{d.device_id}/" in qdev), None)
                errors[disk.target if disk else qdev] = codes.get(status, 1)
        return errors

    @hookimpl
    def domain_inject_nmi(self, dom: DomainRef, flags: int) -> int:
        check_flags(flags, 0, "qemuDomainInjectNMI")
        guest = self.host.running(dom)
        with guest.lock:
            guest.monitor.execute("inject-nmi")
        return 0

    # ================================================================================== metadata

    @hookimpl
    def domain_set_metadata(self, dom: DomainRef, type: int, metadata: Optional[str], key: Optional[str],
                            uri: Optional[str], flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "qemuDomainSetMetadata")
        guest = self.host.find(dom)
        with guest.lock:
            live, config = self._impact(guest, flags)
            for defn in ([guest.live] if live else []) + ([guest.config] if config else []):
                set_metadata(defn, type, metadata, key, uri)
            if live:
                self.host.write_status(guest)
            if config:
                self._save_config(guest)
        self.host.events.emit(DomainEventID.METADATA_CHANGE, guest.ref(), int(type), uri)
        return 0

    @hookimpl
    def domain_get_metadata(self, dom: DomainRef, type: int, uri: Optional[str], flags: int) -> str:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "qemuDomainGetMetadata")
        guest = self.host.find(dom)
        live, _config = self._impact(guest, flags)
        return get_metadata(guest.live if live else guest.config, type, uri)

    # ================================================================================== console

    @hookimpl
    def domain_open_console(self, dom: DomainRef, dev_name: Optional[str], stream: Any, flags: int) -> int:
        check_flags(flags, DomainConsoleFlags.FORCE | DomainConsoleFlags.SAFE, "qemuDomainOpenConsole")
        guest = self.host.running(dom)
        with guest.lock:
            path = console_pty(guest, dev_name)
            if guest.console is not None and guest.console.active:
                if not flags & DomainConsoleFlags.FORCE:
                    raise OperationFailed(f"an active console session exists for domain '{guest.name}'",
                                          domain=ErrorDomain.QEMU)
                guest.console.close()
            guest.console = ConsoleRelay(path, stream.socket)
        return 0

    # ================================================================================== devices

    @hookimpl
    def domain_attach_device(self, dom: DomainRef, xml: str, flags: int) -> int:
        from . import hotplug
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "qemuDomainAttachDeviceFlags")
        guest = self.host.find(dom)
        with guest.lock:
            live, config = self._impact(guest, flags)
            hotplug.attach(self, guest, xml, live=live, config=config)
        return 0

    @hookimpl
    def domain_detach_device(self, dom: DomainRef, xml: str, flags: int) -> int:
        from . import hotplug
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "qemuDomainDetachDeviceFlags")
        guest = self.host.find(dom)
        with guest.lock:
            live, config = self._impact(guest, flags)
            hotplug.detach(self, guest, xml, live=live, config=config)
        return 0

    @hookimpl
    def domain_detach_device_alias(self, dom: DomainRef, alias: str, flags: int) -> int:
        from . import hotplug
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "qemuDomainDetachDeviceAlias")
        guest = self.host.find(dom)
        with guest.lock:
            live, config = self._impact(guest, flags)
            hotplug.detach_alias(self, guest, alias, live=live, config=config)
        return 0

    @hookimpl
    def domain_update_device(self, dom: DomainRef, xml: str, flags: int) -> int:
        from . import hotplug
        check_flags(flags, Impact.LIVE | Impact.CONFIG | 4, "qemuDomainUpdateDeviceFlags")
        guest = self.host.find(dom)
        with guest.lock:
            live, config = self._impact(guest, flags & ~4)
            hotplug.update(self, guest, xml, live=live, config=config, force=bool(flags & 4))
        return 0
