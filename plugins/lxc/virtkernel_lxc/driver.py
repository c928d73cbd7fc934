"""The lxc driver (entry point ``lxc``): real containers behind virtkernel's API.

``lxc:///system`` (root; config in /etc/virtkernel/lxc, state in /run/virtkernel/lxc) and
``lxc:///embed?root=DIR`` (everything under DIR; ``&spares=N`` keeps N spare supervisors ready for fast starts).
One driver instance per connection; connections to the same host in a process share an LxcHost (host.py).
"""

from __future__ import annotations

import socket
import threading
from typing import Any, Optional

from lxml import etree

from virtkernel import hookimpl
from virtkernel.checks import check_flags
from virtkernel.listing import matches_list_filters
from virtkernel.cgroup import DomainCgroup
from virtkernel.command import run
from virtkernel.domainxml import DomainDefinition, validate
from virtkernel.enums import (ConnectGetAllDomainStatsFlags as StatsFlags, ConnectListDomainsFlags as ListFlags,
                              DomainConsoleFlags, DomainCreateFlags, DomainDefineFlags,
                              DomainEventDefinedDetailType as Defined, DomainEventType as Event,
                              DomainEventUndefinedDetailType as Undefined, DomainMemoryModFlags as MemFlags,
                              DomainMemoryStatTags as Mem, DomainModificationImpact as Impact, DomainPausedReason,
                              DomainRebootFlags, DomainRunningReason, DomainShutdownFlags, DomainShutoffReason,
                              DomainState, DomainStatsTypes as Stats, DomainVcpuFlags, DomainXMLFlags, ErrorCode,
                              ErrorDomain)
from virtkernel.errors import InvalidArg, NoDomain, NoSupport, OperationInvalid, VirtError
from virtkernel.features import DriverFeature
from virtkernel.types import DomainInfo, DomainRef, DomainStatsRecord, InterfaceStats, NodeInfo, TypedParams

from . import hostinfo
from .control import ControlClient
from .host import SHUTOFF_REASON, LxcHost, not_running
from .outcome import StopReason
from .paths import HostPaths
from .store import Record
from .xmlmap import UNLIMITED_KIB, add_defaults, plan_container

__all__ = ["LxcDriver"]

TYPED_PARAM_STRING_OKAY = 1 << 2
_XML_FLAGS = DomainXMLFlags.SECURE | DomainXMLFlags.INACTIVE | DomainXMLFlags.UPDATE_CPU | DomainXMLFlags.MIGRATABLE
_STATS_FILTERS = (StatsFlags.ACTIVE | StatsFlags.INACTIVE | StatsFlags.PERSISTENT | StatsFlags.TRANSIENT
                  | StatsFlags.RUNNING | StatsFlags.PAUSED | StatsFlags.SHUTOFF | StatsFlags.OTHER)
_SUPPORTED_STATS = Stats.STATE | Stats.CPU_TOTAL | Stats.BALLOON | Stats.VCPU | Stats.INTERFACE
_FEATURES = frozenset({DriverFeature.TYPED_PARAM_STRING})


def _check_flags(flags: int, allowed: int, function: str) -> None:
    check_flags(flags, allowed, function, ErrorDomain.LXC)


def _no_domain(what: str) -> NoDomain:
    return NoDomain(f"no domain with matching {what}", code=ErrorCode.NO_DOMAIN, domain=ErrorDomain.LXC)


def _transient_config(name: str) -> OperationInvalid:
    return OperationInvalid(f"domain '{name}' is transient: it has no persistent configuration to change",
                            code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)


class LxcDriver:
    """One connection to an lxc host."""

    def __init__(self) -> None:
        self.context: Any = None
        self.paths: Optional[HostPaths] = None
        self.host: Optional[LxcHost] = None
        self._lock = threading.RLock()

    # ================================================================================== connection

    @hookimpl
    def connect_open(self, context: Any) -> bool:
        self.context = context
        self.paths = HostPaths.for_uri(context.uri)
        spares_text = context.uri.param("spares", "0")
        if not spares_text.isdigit() or int(spares_text) > 8:
            raise InvalidArg(f"cannot open '{context.uri.text}': spares must be a number from 0 to 8, "
                             f"not '{spares_text}'", domain=ErrorDomain.LXC)
        context.use_shared_events(self.paths.events_key)
        context.hooks.config_dir = self.paths.hooks_config_dir
        context.hooks.state_dir = self.paths.state_dir
        self.host = LxcHost.attach(self.paths, self, context.hooks, int(spares_text))
        return True

    @hookimpl
    def connect_close(self) -> bool:
        if self.host is not None:
            self.host.detach(self)
            self.host = None
        return True

    @hookimpl
    def connect_get_type(self) -> str:
        return "LXC"

    @hookimpl
    def connect_get_version(self) -> int:
        return hostinfo.kernel_version()

    @hookimpl
    def connect_get_hostname(self) -> str:
        return socket.gethostname()

    @hookimpl
    def connect_get_uri(self) -> str:
        return self.paths.uri

    @hookimpl
    def connect_get_capabilities(self) -> str:
        return hostinfo.capabilities_xml()

    @hookimpl
    def connect_is_alive(self) -> bool:
        return self.host is not None

    @hookimpl
    def connect_supports_feature(self, feature: int) -> bool:
        try:
            return DriverFeature(feature) in _FEATURES
        except ValueError:
            return False

    @hookimpl
    def node_get_info(self) -> NodeInfo:
        return hostinfo.node_info()

    # ================================================================================== lookup

    def _record(self, dom: DomainRef) -> Record:
        record = self.host.store.record(dom.name)
        if record is None or (dom.uuid and record.uuid != dom.uuid):
            raise NoDomain(f"no domain with matching name '{dom.name}'", code=ErrorCode.NO_DOMAIN,
                           domain=ErrorDomain.LXC)
        if record.active:
            self.host.track(record)
        return record

    def _running(self, dom: DomainRef) -> Record:
        record = self._record(dom)
        if not record.active:
            raise not_running(record.name)
        return record

    @hookimpl
    def domain_lookup_by_name(self, name: str) -> DomainRef:
        record = self.host.store.record(name)
        if record is None:
            raise _no_domain(f"name '{name}'")
        return self.host.ref(record)

    @hookimpl
    def domain_lookup_by_uuid(self, uuid: str) -> DomainRef:
        for record in self.host.store.records():
            if record.uuid == uuid:
                return self.host.ref(record)
        raise _no_domain(f"uuid '{uuid}'")

    @hookimpl
    def domain_lookup_by_id(self, id: int) -> DomainRef:
        for record in self.host.store.records():
            if record.active and record.id == id:
                return self.host.ref(record)
        raise _no_domain(f"id {id}")

    def _state(self, record: Record) -> tuple[int, int]:
        if record.active:
            status = self.host.store.status(record.name)
            if status.get("paused"):
                return DomainState.PAUSED, status.get("paused_reason", DomainPausedReason.USER)
            return DomainState.RUNNING, status.get("running_reason", DomainRunningReason.UNKNOWN)
        stopped = self.host.store.last_stop(record.name)
        if stopped is None:
            return DomainState.SHUTOFF, DomainShutoffReason.UNKNOWN
        return DomainState.SHUTOFF, SHUTOFF_REASON[StopReason(stopped["reason"])]

    def _matches(self, record: Record, flags: int) -> bool:
        # containers have no managed save, snapshots or checkpoints: those facts stay False
        return matches_list_filters(flags, active=record.active, persistent=record.persistent,
                                    state=lambda: self._state(record)[0],
                                    autostart=lambda: self.host.store.autostart(record.name))

    @hookimpl
    def connect_list_all_domains(self, flags: int) -> list[DomainRef]:
        allowed = 0
        for flag in ListFlags:
            allowed |= int(flag)
        _check_flags(flags, allowed, "lxcConnectListAllDomains")
        return [self.host.ref(r) for r in self.host.store.records() if self._matches(r, flags)]

    @hookimpl
    def connect_list_domains(self) -> list[int]:
        return [r.id for r in self.host.store.records() if r.active]

    @hookimpl
    def connect_num_of_domains(self) -> int:
        return sum(1 for r in self.host.store.records() if r.active)

    @hookimpl
    def connect_list_defined_domains(self) -> list[str]:
        return [r.name for r in self.host.store.records() if not r.active and r.persistent]

    @hookimpl
    def connect_num_of_defined_domains(self) -> int:
        return len(self.connect_list_defined_domains())

    # ================================================================================== define

    def _parse(self, xml: str, validate_schema: bool) -> DomainDefinition:
        defn = DomainDefinition.from_xml(xml)
        if validate_schema:
            validate(defn)
        add_defaults(defn)
        plan_container(defn)  # refuses what cannot run, naming the element
        return defn

    def _check_identity(self, defn: DomainDefinition) -> Optional[Record]:
        """Refuse a name held by another UUID and a UUID held by another name; the existing record of the name."""
        existing = self.host.store.record(defn.name)
        if existing is not None and existing.uuid != defn.uuid:
            raise VirtError(f"domain '{defn.name}' already exists with uuid {existing.uuid}",
                            code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.DOMAIN)
        holder = self.host.store.holder_of_uuid(defn.uuid) if existing is None else None
        if holder is not None and holder != defn.name:
            raise VirtError(f"domain '{holder}' already exists with uuid {defn.uuid}",
                            code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.DOMAIN)
        return existing

    @hookimpl
    def domain_define_xml(self, xml: str, flags: int) -> DomainRef:
        _check_flags(flags, DomainDefineFlags.VALIDATE, "lxcDomainDefineXMLFlags")
        defn = self._parse(xml, bool(flags & DomainDefineFlags.VALIDATE))
        store = self.host.store
        with store.locked():
            existing = self._check_identity(defn)
            store.write_config(defn)
        record = Record(name=defn.name, uuid=defn.uuid or "", config=defn,
                        live=existing.live if existing is not None else None,
                        supervisor_pid=existing.supervisor_pid if existing is not None else None)
        detail = Defined.UPDATED if existing is not None and existing.persistent else Defined.ADDED
        ref = self.host.ref(record)
        self.host.events.emit_lifecycle(ref, Event.DEFINED, detail)
        return ref

    @hookimpl
    def domain_undefine(self, dom: DomainRef, flags: int) -> int:
        _check_flags(flags, 0x7f, "lxcDomainUndefineFlags")  # libvirt accepts (and ignores) the extra-data flags
        store = self.host.store
        with store.locked():
            record = self._record(dom)
            if not record.persistent:
                raise OperationInvalid(f"cannot undefine transient domain '{record.name}'",
                                       code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)
            store.remove_config(record.name)
            if not record.active:
                store.remove_state(record.name)
        self.host.events.emit_lifecycle(self.host.ref(record), Event.UNDEFINED, Undefined.REMOVED)
        return 0

    # ================================================================================== start and stop

    @hookimpl
    def domain_create_xml(self, xml: str, flags: int) -> DomainRef:
        _check_flags(flags, DomainCreateFlags.PAUSED | DomainCreateFlags.VALIDATE, "lxcDomainCreateXMLWithFiles")
        defn = self._parse(xml, bool(flags & DomainCreateFlags.VALIDATE))
        store = self.host.store
        with store.locked():
            existing = self._check_identity(defn)
            if existing is not None and existing.active:
                raise OperationInvalid(f"domain '{defn.name}' is already running", code=ErrorCode.OPERATION_INVALID,
                                       domain=ErrorDomain.DOMAIN)
            record = self.host.start(defn, paused=bool(flags & DomainCreateFlags.PAUSED))
        return self.host.ref(record)

    @hookimpl
    def domain_create(self, dom: DomainRef, flags: int) -> DomainRef:
        _check_flags(flags, DomainCreateFlags.PAUSED, "lxcDomainCreateWithFiles")
        store = self.host.store
        with store.locked():
            record = self._record(dom)
            if record.active:
                raise OperationInvalid(f"domain '{record.name}' is already running", code=ErrorCode.OPERATION_INVALID,
                                       domain=ErrorDomain.DOMAIN)
            started = self.host.start(record.config, paused=bool(flags & DomainCreateFlags.PAUSED))
        return self.host.ref(started)

    @hookimpl
    def domain_destroy(self, dom: DomainRef, flags: int) -> DomainRef:
        _check_flags(flags, 0, "lxcDomainDestroyFlags")
        record = self._running(dom)
        self.host.destroy(record)
        return DomainRef(record.name, record.uuid, -1)

    @hookimpl
    def domain_shutdown(self, dom: DomainRef, flags: int) -> int:
        _check_flags(flags, DomainShutdownFlags.SIGNAL, "lxcDomainShutdownFlags")
        self.host.shutdown(self._running(dom))
        return 0

    @hookimpl
    def domain_reboot(self, dom: DomainRef, flags: int) -> int:
        _check_flags(flags, DomainRebootFlags.SIGNAL, "lxcDomainReboot")
        self.host.reboot(self._running(dom))
        return 0

    @hookimpl
    def domain_suspend(self, dom: DomainRef) -> int:
        self.host.suspend(self._running(dom))
        return 0

    @hookimpl
    def domain_resume(self, dom: DomainRef) -> int:
        self.host.resume(self._running(dom))
        return 0

    @hookimpl
    def domain_get_autostart(self, dom: DomainRef) -> bool:
        return self.host.store.autostart(self._record(dom).name)

    @hookimpl
    def domain_set_autostart(self, dom: DomainRef, autostart: bool) -> int:
        record = self._record(dom)
        if not record.persistent:
            raise OperationInvalid(f"cannot set autostart for transient domain '{record.name}'",
                                   code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)
        self.host.store.set_autostart(record.name, bool(autostart))
        return 0

    # ================================================================================== state and XML

    @hookimpl
    def domain_get_os_type(self, dom: DomainRef) -> str:
        return self._record(dom).current.os_type or "exe"

    @hookimpl
    def domain_is_active(self, dom: DomainRef) -> bool:
        return self._record(dom).active

    @hookimpl
    def domain_is_persistent(self, dom: DomainRef) -> bool:
        return self._record(dom).persistent

    @hookimpl
    def domain_get_state(self, dom: DomainRef, flags: int) -> tuple[int, int]:
        _check_flags(flags, 0, "lxcDomainGetState")
        state, reason = self._state(self._record(dom))
        return int(state), int(reason)

    def _cgroup(self, record: Record) -> Optional[DomainCgroup]:
        return self.host.cgroup_of(record.name) if record.active else None

    @hookimpl
    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        record = self._record(dom)
        defn = record.current
        state = self._state(record)[0]
        memory, cpu_time = defn.current_memory_kib, 0
        group = self._cgroup(record)
        if group is not None:
            memory = group.memory_usage() // 1024
            cpu_time = group.cpu_time_ns()
        return DomainInfo(int(state), defn.memory_kib, memory, defn.vcpus, cpu_time)

    @hookimpl
    def domain_get_xml_desc(self, dom: DomainRef, flags: int) -> str:
        _check_flags(flags, _XML_FLAGS, "lxcDomainGetXMLDesc")
        record = self._record(dom)
        if flags & DomainXMLFlags.INACTIVE and record.config is not None:
            return record.config.to_xml()
        return record.current.to_xml()

    @hookimpl
    def domain_get_hostname(self, dom: DomainRef, flags: int) -> str:
        _check_flags(flags, 0, "lxcDomainGetHostname")
        record = self._running(dom)
        container = self.host.container(record)
        result = run(["nsenter", f"--target={container.status().init_pid}", "--uts", "cat",
                      "/proc/sys/kernel/hostname"], timeout=10, error_domain=ErrorDomain.LXC)
        return result.stdout_text.strip()

    # ================================================================================== memory

    def _impact(self, record: Record, flags: int) -> tuple[bool, bool]:
        """(live, config) for LIVE/CONFIG/CURRENT flags; errors for a stopped live or a transient config."""
        live, config = bool(flags & Impact.LIVE), bool(flags & Impact.CONFIG)
        if not live and not config:
            live, config = record.active, not record.active
        if live and not record.active:
            raise not_running(record.name)
        if config and not record.persistent:
            raise _transient_config(record.name)
        return live, config

    def _save(self, record: Record, live_defn: Optional[DomainDefinition], config_defn: Optional[DomainDefinition]) -> None:
        with self.host.store.locked():
            if live_defn is not None:
                self.host.store.write_live(live_defn)
            if config_defn is not None:
                self.host.store.write_config(config_defn)

    @hookimpl
    def domain_get_max_memory(self, dom: DomainRef) -> int:
        return self._record(dom).current.memory_kib

    @hookimpl
    def domain_set_max_memory(self, dom: DomainRef, memory: int) -> int:
        return self.domain_set_memory(dom, memory, MemFlags.MAXIMUM)

    @hookimpl
    def domain_set_memory(self, dom: DomainRef, memory: int, flags: int) -> int:
        _check_flags(flags, MemFlags.LIVE | MemFlags.CONFIG | MemFlags.MAXIMUM, "lxcDomainSetMemoryFlags")
        record = self._record(dom)
        live, config = self._impact(record, flags)
        live_defn = record.live.copy() if live else None
        config_defn = record.config.copy() if config else None
        if flags & MemFlags.MAXIMUM:
            if live:
                raise OperationInvalid("cannot resize the maximum memory of a running container",
                                       code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)
            config_defn.memory_kib = memory
            if config_defn.current_memory_kib > memory:
                config_defn.current_memory_kib = memory
        else:
            for defn in (d for d in (live_defn, config_defn) if d is not None):
                if memory > defn.memory_kib:
                    raise InvalidArg(f"cannot set memory higher than max memory ({defn.memory_kib} KiB)",
                                     code=ErrorCode.INVALID_ARG, domain=ErrorDomain.DOMAIN)
                defn.current_memory_kib = memory
            if live:
                self._cgroup(record).set_memory_limit(memory * 1024)
        self._save(record, live_defn, config_defn)
        return 0

    @hookimpl
    def domain_get_memory_parameters(self, dom: DomainRef, flags: int) -> TypedParams:
        flags &= ~TYPED_PARAM_STRING_OKAY
        _check_flags(flags, Impact.LIVE | Impact.CONFIG, "lxcDomainGetMemoryParameters")
        record = self._record(dom)
        live, _ = self._impact(record, flags)
        if live:
            group = self._cgroup(record)

            def kib(value: Optional[int]) -> int:
                return UNLIMITED_KIB if value is None else min(value // 1024, UNLIMITED_KIB)
            swap = None
            try:
                swap = group.swap_hard_limit()
            except VirtError:
                pass
            return {"hard_limit": kib(group.memory_limit()), "soft_limit": kib(group.memory_soft_limit()),
                    "swap_hard_limit": kib(swap)}
        plan = plan_container(record.config)
        memtune = record.config.root.find("memtune")
        hard = memtune.find("hard_limit") if memtune is not None else None
        return {"hard_limit": plan.spec.memory_limit // 1024 if hard is not None else UNLIMITED_KIB,
                "soft_limit": (plan.tunables.soft_limit // 1024 if plan.tunables.soft_limit is not None
                               else UNLIMITED_KIB),
                "swap_hard_limit": (plan.tunables.swap_hard_limit // 1024
                                    if plan.tunables.swap_hard_limit is not None else UNLIMITED_KIB)}

    @hookimpl
    def domain_set_memory_parameters(self, dom: DomainRef, params: TypedParams, flags: int) -> int:
        _check_flags(flags, Impact.LIVE | Impact.CONFIG, "lxcDomainSetMemoryParameters")
        if "min_guarantee" in params:
            raise InvalidArg("parameter 'min_guarantee' is not supported by the lxc driver",
                             code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.LXC)
        record = self._record(dom)
        live, config = self._impact(record, flags)
        defns = [d for d in ((record.live.copy() if live else None), (record.config.copy() if config else None))]
        for defn in (d for d in defns if d is not None):
            _write_memtune(defn, params)
            plan_container(defn)  # refuses e.g. a swap limit below the memory limit
        if live:
            group = self._cgroup(record)

            def limit(value: int) -> Optional[int]:
                return None if value >= UNLIMITED_KIB else value * 1024
            if "hard_limit" in params:
                group.set_memory_limit(limit(params["hard_limit"]))
            if "soft_limit" in params:
                group.set_memory_soft_limit(limit(params["soft_limit"]))
            if "swap_hard_limit" in params:
                group.set_swap_hard_limit(limit(params["swap_hard_limit"]))
        self._save(record, defns[0], defns[1])
        return 0

    @hookimpl
    def domain_memory_stats(self, dom: DomainRef, nr_stats: int, flags: int) -> dict[int, int]:
        _check_flags(flags, 0, "lxcDomainMemoryStats")
        record = self._running(dom)
        usage = self._cgroup(record).memory_usage() // 1024
        stats = {int(Mem.ACTUAL_BALLOON): record.current.current_memory_kib, int(Mem.RSS): usage}
        return dict(list(stats.items())[:nr_stats])

    # ================================================================================== CPU

    @hookimpl
    def domain_get_vcpus_flags(self, dom: DomainRef, flags: int) -> int:
        _check_flags(flags, DomainVcpuFlags.LIVE | DomainVcpuFlags.CONFIG | DomainVcpuFlags.MAXIMUM,
                     "lxcDomainGetVcpusFlags")
        record = self._record(dom)
        live, _ = self._impact(record, flags & ~DomainVcpuFlags.MAXIMUM)
        defn = record.live if live else record.config
        return defn.max_vcpus if flags & DomainVcpuFlags.MAXIMUM else defn.vcpus

    @hookimpl
    def domain_get_max_vcpus(self, dom: DomainRef) -> int:
        return self._record(dom).current.max_vcpus

    @hookimpl
    def domain_get_scheduler_type(self, dom: DomainRef) -> tuple[str, int]:
        self._record(dom)
        return "posix", 3

    @hookimpl
    def domain_get_scheduler_parameters(self, dom: DomainRef, flags: int) -> TypedParams:
        flags &= ~TYPED_PARAM_STRING_OKAY
        _check_flags(flags, Impact.LIVE | Impact.CONFIG, "lxcDomainGetSchedulerParametersFlags")
        record = self._record(dom)
        live, _ = self._impact(record, flags)
        if live:
            group = self._cgroup(record)
            period, quota = group.cpu_quota()
            return {"cpu_shares": group.cpu_shares(), "vcpu_period": period,
                    "vcpu_quota": -1 if quota is None else quota}
        cputune = record.config.root.find("cputune")

        def value(tag: str) -> int:
            text = cputune.findtext(tag) if cputune is not None else None
            return int(text) if text else 0
        return {"cpu_shares": value("shares"), "vcpu_period": value("period"), "vcpu_quota": value("quota")}

    @hookimpl
    def domain_set_scheduler_parameters(self, dom: DomainRef, params: TypedParams, flags: int) -> int:
        _check_flags(flags, Impact.LIVE | Impact.CONFIG, "lxcDomainSetSchedulerParametersFlags")
        unknown = sorted(set(params) - {"cpu_shares", "vcpu_period", "vcpu_quota"})
        if unknown:
            raise InvalidArg(f"parameter '{unknown[0]}' is not supported by the lxc driver",
                             code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.LXC)
        record = self._record(dom)
        live, config = self._impact(record, flags)
        live_defn = record.live.copy() if live else None
        config_defn = record.config.copy() if config else None
        for defn in (d for d in (live_defn, config_defn) if d is not None):
            _write_cputune(defn, params)
            plan_container(defn)  # range checks with an error naming the element
        if live:
            group = self._cgroup(record)
            if "cpu_shares" in params:
                group.set_cpu_shares(params["cpu_shares"])
            if "vcpu_period" in params or "vcpu_quota" in params:
                period, quota = group.cpu_quota()
                if params.get("vcpu_period"):
                    period = params["vcpu_period"]
                if "vcpu_quota" in params and params["vcpu_quota"] != 0:
                    quota = None if params["vcpu_quota"] < 0 else params["vcpu_quota"]
                group.set_cpu_quota(period, quota)
        self._save(record, live_defn, config_defn)
        return 0

    @hookimpl
    def domain_get_cpu_stats(self, dom: DomainRef, start_cpu: int, ncpus: int, flags: int) -> list[TypedParams]:
        flags &= ~TYPED_PARAM_STRING_OKAY
        _check_flags(flags, 0, "lxcDomainGetCPUStats")
        record = self._running(dom)
        group = self._cgroup(record)
        if start_cpu == -1:
            total, user, system = hostinfo.cpu_times(group)
            stats: TypedParams = {"cpu_time": total}
            if user is not None:
                stats.update(user_time=user, system_time=system)
            return [stats]
        usage = hostinfo.percpu_usage(group)
        if usage is None:
            raise NoSupport("per-CPU statistics are not available from this host's cgroups",
                            code=ErrorCode.NO_SUPPORT, domain=ErrorDomain.LXC)
        if start_cpu >= len(usage):
            raise InvalidArg(f"start_cpu {start_cpu} is beyond the host's {len(usage)} CPUs",
                             code=ErrorCode.INVALID_ARG, domain=ErrorDomain.LXC)
        end = len(usage) if ncpus < 0 else min(len(usage), start_cpu + ncpus)
        return [{"cpu_time": value} for value in usage[start_cpu:end]]

    # ================================================================================== network and stats

    def _interface_counters(self, record: Record) -> list[tuple[str, str, InterfaceStats]]:
        """(host name, mac, counters as the container sees them) of every veth."""
        stats = self.host.container(record).stats().interfaces
        out = []
        for device in record.current.devices("interface"):
            target = device.find("target")
            name = target.get("dev") if target is not None else None
            mac = device.find("mac")
            counters = stats.get(name)
            if name and counters is not None:
                out.append((name, mac.get("address") if mac is not None else "", _as_stats(counters)))
        return out

    @hookimpl
    def domain_interface_stats(self, dom: DomainRef, device: str) -> InterfaceStats:
        record = self._running(dom)
        for name, mac, counters in self._interface_counters(record):
            if device in (name, mac):
                return counters
        raise InvalidArg(f"domain '{record.name}' has no interface '{device}'", code=ErrorCode.INVALID_ARG,
                         domain=ErrorDomain.LXC)

    @hookimpl
    def connect_get_all_domain_stats(self, doms: Optional[list[DomainRef]], stats: int, flags: int
                                     ) -> list[DomainStatsRecord]:
        _check_flags(flags, _STATS_FILTERS | StatsFlags.ENFORCE_STATS | StatsFlags.NOWAIT | StatsFlags.BACKING,
                     "lxcConnectGetAllDomainStats")
        if stats == 0:
            stats = int(_SUPPORTED_STATS)
        elif flags & StatsFlags.ENFORCE_STATS and stats & ~int(_SUPPORTED_STATS):
            raise NoSupport(f"statistics group 0x{stats & ~int(_SUPPORTED_STATS):x} is not supported by the lxc "
                            "driver", code=ErrorCode.NO_SUPPORT, domain=ErrorDomain.LXC)
        if doms is None:
            records = [r for r in self.host.store.records() if self._matches(r, flags & _STATS_FILTERS)]
        else:
            records = [self._record(d) for d in doms]
        return [DomainStatsRecord(self.host.ref(r), self._stats(r, stats)) for r in records]

    def _stats(self, record: Record, groups: int) -> TypedParams:
        params: TypedParams = {}
        defn = record.current
        group = self._cgroup(record)
        if groups & Stats.STATE:
            state, reason = self._state(record)
            params.update({"state.state": int(state), "state.reason": int(reason)})
        if groups & Stats.CPU_TOTAL and group is not None:
            total, user, system = hostinfo.cpu_times(group)
            params["cpu.time"] = total
            if user is not None:
                params.update({"cpu.user": user, "cpu.system": system})
        if groups & Stats.BALLOON:
            params["balloon.maximum"] = defn.memory_kib
            params["balloon.current"] = defn.current_memory_kib
            if group is not None:
                params["balloon.rss"] = group.memory_usage() // 1024
        if groups & Stats.VCPU:
            params.update({"vcpu.current": defn.vcpus, "vcpu.maximum": defn.max_vcpus})
        if groups & Stats.INTERFACE and record.active:
            counters = self._interface_counters(record)
            params["net.count"] = len(counters)
            for index, (name, _mac, c) in enumerate(counters):
                prefix = f"net.{index}."
                params.update({prefix + "name": name, prefix + "rx.bytes": c.rx_bytes, prefix + "rx.pkts": c.rx_packets,
                               prefix + "rx.errs": c.rx_errs, prefix + "rx.drop": c.rx_drop,
                               prefix + "tx.bytes": c.tx_bytes, prefix + "tx.pkts": c.tx_packets,
                               prefix + "tx.errs": c.tx_errs, prefix + "tx.drop": c.tx_drop})
        return params

    # ================================================================================== console

    @hookimpl
    def domain_open_console(self, dom: DomainRef, dev_name: Optional[str], stream: Any, flags: int) -> int:
        _check_flags(flags, DomainConsoleFlags.FORCE | DomainConsoleFlags.SAFE, "lxcDomainOpenConsole")
        record = self._running(dom)
        if dev_name not in (None, "console0"):
            raise InvalidArg(f"domain '{record.name}' has no console device '{dev_name}' (it has console0)",
                             code=ErrorCode.INVALID_ARG, domain=ErrorDomain.LXC)
        client = ControlClient(self.host.store.state(record.name).control_socket, record.name)
        sock, reader, _ = client.open("console", force=bool(flags & DomainConsoleFlags.FORCE))
        sock.settimeout(None)
        if reader.buffer:
            stream.socket.sendall(bytes(reader.buffer))  # bytes that came with the reply, then the relay
            _relay(stream.socket, sock)
        else:
            stream.attach(sock)
        return 0


def _as_stats(counters: Any) -> InterfaceStats:
    return InterfaceStats(counters.rx_bytes, counters.rx_packets, counters.rx_errs, counters.rx_drop,
                          counters.tx_bytes, counters.tx_packets, counters.tx_errs, counters.tx_drop)


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways between two sockets on daemon threads until either side closes."""
    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    for src, dst in ((a, b), (b, a)):
        threading.Thread(target=pump, args=(src, dst), name="lxc-console-relay", daemon=True).start()


def _set_child(parent: Any, tag: str, value: Optional[str]) -> None:
    node = parent.find(tag)
    if value is None:
        if node is not None:
            parent.remove(node)
        return
    if node is None:
        node = etree.SubElement(parent, tag)
    node.text = value


def _section(defn: DomainDefinition, tag: str) -> Any:
    node = defn.root.find(tag)
    if node is None:
        node = etree.Element(tag)
        anchor = defn.root.find("os")
        (anchor.addprevious(node) if anchor is not None else defn.root.append(node))
    return node


def _write_cputune(defn: DomainDefinition, params: TypedParams) -> None:
    cputune = _section(defn, "cputune")
    if "cpu_shares" in params:
        _set_child(cputune, "shares", str(params["cpu_shares"]))
    if params.get("vcpu_period"):
        _set_child(cputune, "period", str(params["vcpu_period"]))
    if params.get("vcpu_quota"):
        _set_child(cputune, "quota", str(params["vcpu_quota"]))


def _write_memtune(defn: DomainDefinition, params: TypedParams) -> None:
    memtune = _section(defn, "memtune")
    for name in ("hard_limit", "soft_limit", "swap_hard_limit"):
        if name in params:
            value = params[name]
            _set_child(memtune, name, None if value >= UNLIMITED_KIB else str(value))
            node = memtune.find(name)
            if node is not None:
                node.set("unit", "KiB")
    if len(memtune) == 0:
        defn.root.remove(memtune)
