"""The public Domain object: one method per domain entry point, with libvirt's argument checks in order."""

from __future__ import annotations

import uuid as uuidlib
from typing import TYPE_CHECKING, Any, Optional, Sequence

from . import checks
from .checks import entry_point, exclusive, non_empty, not_none, require, requires
from .enums import (DomainAuthorizedSSHKeysSetFlags as SSHKeys, DomainBlockRebaseFlags as Rebase,
                    DomainCoreDumpFlags as Dump, DomainCoreDumpFormat, DomainDirtyRateCalcFlags as DirtyRate,
                    DomainGetJobStatsFlags as JobStats, DomainInterfaceAddressesSource,
                    DomainLifecycle, DomainLifecycleAction, DomainMemoryFlags as MemoryFlags,
                    DomainMemoryStatTags, DomainMetadataType, DomainModificationImpact as Impact,
                    DomainSaveImageXMLFlags, DomainSaveRestoreFlags as Save, DomainVcpuFlags as Vcpu,
                    DomainXMLFlags, ErrorCode, ErrorDomain, KeycodeSet)
from .errors import InvalidDomain
from .features import DriverFeature
from .migration.public import DomainMigrationMixin
from .typedparams import check as check_params
from .types import (BlockInfo, BlockStats, ControlInfo, DomainInfo, DomainRef, InterfaceAddresses,
                    InterfaceStats, JobInfo, SnapshotRef, TypedParams, VcpuInfo)

if TYPE_CHECKING:
    from .connection import Connection

TYPED_PARAM_STRING_OKAY = 1 << 2
SEND_KEY_MAX_KEYS = 16
BLOCK_STATS_FIELDS = 5
INTERFACE_STATS_FIELDS = 8

_LIVE_CONFIG = ("VIR_DOMAIN_AFFECT_LIVE", "VIR_DOMAIN_AFFECT_CONFIG")


def _cpumap(cpumap: Sequence[bool], function: str) -> tuple[bool, ...]:
    not_none(cpumap, "cpumap", function)
    result = tuple(bool(c) for c in cpumap)
    require(len(result) > 0, f"{function}: cpumap must not be empty")
    return result


class Domain(DomainMigrationMixin):
    """A handle on one domain of a connection; the guest itself is unaffected when the handle goes away."""

    __slots__ = ("_conn", "_ref", "_calls")

    def __init__(self, conn: "Connection", ref: DomainRef) -> None:
        self._conn = conn
        self._ref = ref
        self._calls = conn._calls

    # -- identity (no hooks) -----------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"<Domain name={self._ref.name!r} uuid={self._ref.uuid} id={self._ref.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Domain) and other._conn is self._conn and other._ref.uuid == self._ref.uuid

    def __hash__(self) -> int:
        return hash(self._ref.uuid)

    @property
    def name(self) -> str:
        """The domain's name."""
        return self._ref.name

    @property
    def uuid(self) -> str:
        """The domain's UUID in text form."""
        return self._ref.uuid

    @property
    def ref(self) -> DomainRef:
        """The driver's reference for this domain."""
        return self._ref

    @property
    def connection(self) -> "Connection":
        """The connection this handle belongs to."""
        return self._conn

    def _valid(self) -> None:
        if self._conn._closed:
            raise InvalidDomain("the domain handle's connection is closed", code=ErrorCode.INVALID_DOMAIN,
                                domain=ErrorDomain.DOM)

    def _ro(self, function: str, area: ErrorDomain = ErrorDomain.DOMAIN) -> None:
        checks.read_only(self._conn._read_only, function, area)

    def _call(self, hook: str, **kwargs: Any) -> Any:
        result = getattr(self._calls.ops, hook)(dom=self._ref, **kwargs)
        if isinstance(result, DomainRef):
            self._ref = result
        return result

    def _string_ok(self) -> int:
        return TYPED_PARAM_STRING_OKAY if self._calls.supports(DriverFeature.TYPED_PARAM_STRING) else 0

    def _set_params(self, params: TypedParams, family: Optional[str], function: str) -> TypedParams:
        return check_params(params, family, string_ok=bool(self._string_ok()), function=function)

    @entry_point
    def get_connect(self) -> "Connection":
        """The owning connection."""
        self._valid()
        return self._conn

    @entry_point
    def get_name(self) -> str:
        """The domain's name."""
        self._valid()
        return self._ref.name

    @entry_point
    def get_uuid(self) -> bytes:
        """The raw 16-byte UUID."""
        self._valid()
        return uuidlib.UUID(self._ref.uuid).bytes

    @entry_point
    def get_uuid_string(self) -> str:
        """The UUID as text."""
        self._valid()
        return self._ref.uuid

    @entry_point
    def get_id(self) -> int:
        """The hypervisor id, or -1 when the domain is not running."""
        self._valid()
        return self._ref.id

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    @entry_point
    def undefine(self, flags: int = 0) -> None:
        """Remove the persistent configuration; a running domain becomes transient."""
        self._valid()
        self._ro("virDomainUndefineFlags" if flags else "virDomainUndefine")
        self._call("domain_undefine", flags=int(flags))

    @entry_point
    def create(self, flags: int = 0, files: Optional[Sequence[int]] = None) -> None:
        """Start a defined domain (START_* flags), optionally passing open fds to its init."""
        self._valid()
        self._ro("virDomainCreateWithFlags" if flags else "virDomainCreate")
        if files:
            if not self._calls.supports(DriverFeature.FD_PASSING):
                raise checks.probe_unsupported("fd passing is not supported by this connection")
        self._call("domain_create", flags=int(flags), files=list(files or ()))

    @entry_point
    def destroy(self, flags: int = 0) -> None:
        """Stop the running domain at once (DESTROY_* flags)."""
        self._valid()
        self._ro("virDomainDestroyFlags" if flags else "virDomainDestroy")
        self._call("domain_destroy", flags=int(flags))

    @entry_point
    def shutdown(self, flags: int = 0) -> None:
        """Ask the guest OS to power off (SHUTDOWN_* method flags; 0 lets the driver choose)."""
        self._valid()
        self._ro("virDomainShutdownFlags" if flags else "virDomainShutdown")
        self._call("domain_shutdown", flags=int(flags))

    @entry_point
    def reboot(self, flags: int = 0) -> None:
        """Ask the guest to reboot."""
        self._valid()
        self._ro("virDomainReboot")
        self._call("domain_reboot", flags=int(flags))

    @entry_point
    def reset(self, flags: int = 0) -> None:
        """Reset the guest like a hardware reset button."""
        self._valid()
        self._ro("virDomainReset")
        self._call("domain_reset", flags=int(flags))

    @entry_point
    def suspend(self) -> None:
        """Pause every vCPU."""
        self._valid()
        self._ro("virDomainSuspend")
        self._call("domain_suspend")

    @entry_point
    def resume(self) -> None:
        """Unpause every vCPU."""
        self._valid()
        self._ro("virDomainResume")
        self._call("domain_resume")

    @entry_point
    def pm_suspend_for_duration(self, target: int, duration: int, flags: int = 0) -> None:
        """Power-management suspend (mem/disk/hybrid) with an optional timed wake-up."""
        self._valid()
        self._ro("virDomainPMSuspendForDuration")
        self._call("domain_pm_suspend_for_duration", target=int(target), duration=int(duration), flags=int(flags))

    @entry_point
    def pm_wakeup(self, flags: int = 0) -> None:
        """Wake a PM-suspended guest."""
        self._valid()
        self._ro("virDomainPMWakeup")
        self._call("domain_pm_wakeup", flags=int(flags))

    @entry_point
    def get_autostart(self) -> bool:
        """Whether the domain starts with the host."""
        self._valid()
        return bool(self._call("domain_get_autostart"))

    @entry_point
    def set_autostart(self, autostart: bool) -> None:
        """Change whether the domain starts with the host."""
        self._valid()
        self._ro("virDomainSetAutostart")
        self._call("domain_set_autostart", autostart=bool(autostart))

    @entry_point
    def set_lifecycle_action(self, type: int, action: int, flags: int = 0) -> None:
        """Change the on_poweroff / on_reboot / on_crash action."""
        self._valid()
        self._ro("virDomainSetLifecycleAction")
        require(0 <= type < len(DomainLifecycle), f"virDomainSetLifecycleAction: invalid lifecycle type {type}")
        require(0 <= action < len(DomainLifecycleAction),
                f"virDomainSetLifecycleAction: invalid lifecycle action {action}")
        self._call("domain_set_lifecycle_action", type=int(type), action=int(action), flags=int(flags))

    @entry_point
    def rename(self, new_name: str, flags: int = 0) -> None:
        """Rename the domain."""
        self._valid()
        non_empty(new_name, "new_name", "virDomainRename")
        self._ro("virDomainRename")
        self._call("domain_rename", new_name=new_name, flags=int(flags))

    # -- state and XML -----------------------------------------------------------------------------------------------

    @entry_point
    def get_os_type(self) -> str:
        """The guest OS type ("hvm", "exe", ...)."""
        self._valid()
        return self._call("domain_get_os_type")

    @entry_point
    def get_info(self) -> DomainInfo:
        """State, max memory and memory (KiB), vCPU count and CPU time (ns)."""
        self._valid()
        return self._calls.ops.domain_get_info(dom=self._ref)

    @entry_point
    def get_state(self, flags: int = 0) -> tuple[int, int]:
        """The (state, reason) pair."""
        self._valid()
        return self._calls.ops.domain_get_state(dom=self._ref, flags=int(flags))

    @entry_point
    def get_control_info(self, flags: int = 0) -> ControlInfo:
        """State of the management channel to the domain."""
        self._valid()
        return self._call("domain_get_control_info", flags=int(flags))

    @entry_point
    def is_active(self) -> bool:
        """Whether the domain is running."""
        self._valid()
        return bool(self._call("domain_is_active"))

    @entry_point
    def is_persistent(self) -> bool:
        """Whether the domain has a persistent configuration."""
        self._valid()
        return bool(self._call("domain_is_persistent"))

    @entry_point
    def is_updated(self) -> bool:
        """Whether the configuration changed since the domain started."""
        self._valid()
        return bool(self._call("domain_is_updated"))

    @entry_point
    def get_xml_desc(self, flags: int = 0) -> str:
        """The domain XML (XML_INACTIVE for the next-boot configuration)."""
        self._valid()
        if self._conn._read_only and flags & (DomainXMLFlags.SECURE | DomainXMLFlags.MIGRATABLE):
            checks.read_only(True, "virDomainGetXMLDesc with secure or migratable flags")
        return self._calls.ops.domain_get_xml_desc(dom=self._ref, flags=int(flags))

    # -- save, restore, managed save, dump --------------------------------------------------------------------------

    @entry_point
    def save(self, to: str, dxml: Optional[str] = None, flags: int = 0) -> None:
        """Save the memory state to a file and stop the domain."""
        self._valid()
        self._ro("virDomainSaveFlags" if flags or dxml is not None else "virDomainSave")
        not_none(to, "to", "virDomainSaveFlags")
        exclusive(flags, Save.RUNNING, Save.PAUSED, ("VIR_DOMAIN_SAVE_RUNNING", "VIR_DOMAIN_SAVE_PAUSED"))
        if not self._calls.has("domain_save"):
            self._call("domain_save", to=to, dxml=dxml, flags=int(flags))
        self._call("domain_save", to=checks.absolute_path(to), dxml=dxml, flags=int(flags))

    @entry_point
    def save_params(self, params: TypedParams, flags: int = 0) -> None:
        """Save driven by typed parameters ('file', 'dxml'); without a file this is a managed save."""
        self._valid()
        self._ro("virDomainSaveParams")
        exclusive(flags, Save.RUNNING, Save.PAUSED, ("VIR_DOMAIN_SAVE_RUNNING", "VIR_DOMAIN_SAVE_PAUSED"))
        self._call("domain_save_params", params=dict(params or {}), flags=int(flags))

    @entry_point
    def managed_save(self, flags: int = 0) -> None:
        """Save to the driver-managed image; the next start resumes from it."""
        self._valid()
        self._ro("virDomainManagedSave")
        exclusive(flags, Save.RUNNING, Save.PAUSED, ("VIR_DOMAIN_SAVE_RUNNING", "VIR_DOMAIN_SAVE_PAUSED"))
        self._call("domain_managed_save", flags=int(flags))

    @entry_point
    def has_managed_save_image(self, flags: int = 0) -> bool:
        """Whether a managed-save image exists."""
        self._valid()
        return bool(self._call("domain_has_managed_save_image", flags=int(flags)))

    @entry_point
    def managed_save_remove(self, flags: int = 0) -> None:
        """Delete the managed-save image."""
        self._valid()
        self._ro("virDomainManagedSaveRemove")
        self._call("domain_managed_save_remove", flags=int(flags))

    @entry_point
    def managed_save_get_xml_desc(self, flags: int = 0) -> str:
        """The domain XML inside the managed-save image."""
        self._valid()
        if self._conn._read_only and flags & DomainSaveImageXMLFlags.XML_SECURE:
            checks.read_only(True, "virDomainManagedSaveGetXMLDesc with secure flag")
        return self._call("domain_managed_save_get_xml_desc", flags=int(flags))

    @entry_point
    def managed_save_define_xml(self, dxml: Optional[str], flags: int = 0) -> None:
        """Replace the domain XML inside the managed-save image."""
        exclusive(flags, Save.RUNNING, Save.PAUSED, ("VIR_DOMAIN_SAVE_RUNNING", "VIR_DOMAIN_SAVE_PAUSED"))
        self._valid()
        self._ro("virDomainManagedSaveDefineXML")
        self._call("domain_managed_save_define_xml", dxml=dxml, flags=int(flags))

    @entry_point
    def core_dump(self, to: str, flags: int = 0, dumpformat: int = DomainCoreDumpFormat.RAW) -> None:
        """Dump the guest's memory to a file (DUMP_* flags, CORE_DUMP_FORMAT_* format)."""
        self._valid()
        self._ro("virDomainCoreDumpWithFormat")
        not_none(to, "to", "virDomainCoreDumpWithFormat")
        require(0 <= dumpformat < len(DomainCoreDumpFormat), f"virDomainCoreDumpWithFormat: unknown dump format {dumpformat}")
        exclusive(flags, Dump.CRASH, Dump.LIVE, ("VIR_DUMP_CRASH", "VIR_DUMP_LIVE"))
        exclusive(flags, Dump.CRASH, Dump.RESET, ("VIR_DUMP_CRASH", "VIR_DUMP_RESET"))
        exclusive(flags, Dump.LIVE, Dump.RESET, ("VIR_DUMP_LIVE", "VIR_DUMP_RESET"))
        if not self._calls.has("domain_core_dump"):
            self._call("domain_core_dump", to=to, dumpformat=int(dumpformat), flags=int(flags))
        self._call("domain_core_dump", to=checks.absolute_path(to), dumpformat=int(dumpformat), flags=int(flags))

    def core_dump_with_format(self, to: str, dumpformat: int, flags: int = 0) -> None:
        """Core dump in a chosen format (same as core_dump with ``dumpformat``)."""
        self.core_dump(to, flags, dumpformat)

    # -- memory ------------------------------------------------------------------------------------------------------

    @entry_point
    def get_max_memory(self) -> int:
        """Maximum memory in KiB."""
        self._valid()
        value = self._call("domain_get_max_memory")
        if not value:
            raise checks.invalid_arg("the driver reported no maximum memory")
        return int(value)

    @entry_point
    def set_max_memory(self, memory: int) -> None:
        """Change the maximum memory (KiB)."""
        self._valid()
        self._ro("virDomainSetMaxMemory")
        checks.memory_size(memory, "virDomainSetMaxMemory")
        self._call("domain_set_max_memory", memory=int(memory))

    @entry_point
    def set_memory(self, memory: int, flags: int = Impact.LIVE) -> None:
        """Change current memory in KiB (AFFECT_* flags; MEM_MAXIMUM changes the maximum instead)."""
        self._valid()
        self._ro("virDomainSetMemoryFlags" if flags != Impact.LIVE else "virDomainSetMemory")
        checks.memory_size(memory, "virDomainSetMemoryFlags")
        self._call("domain_set_memory", memory=int(memory), flags=int(flags))

    @entry_point
    def set_memory_stats_period(self, period: int, flags: int = 0) -> None:
        """Set the balloon statistics period in seconds (0 disables)."""
        self._valid()
        self._ro("virDomainSetMemoryStatsPeriod")
        require(period >= 0, f"virDomainSetMemoryStatsPeriod: period must not be negative (got {period})")
        self._call("domain_set_memory_stats_period", period=int(period), flags=int(flags))

    @entry_point
    def set_memory_parameters(self, params: TypedParams, flags: int = 0) -> None:
        """Set memory tunables (hard_limit, soft_limit, swap_hard_limit, min_guarantee in KiB)."""
        self._valid()
        self._ro("virDomainSetMemoryParameters")
        not_none(params, "params", "virDomainSetMemoryParameters")
        require(len(params) > 0, "virDomainSetMemoryParameters: params must not be empty")
        params = self._set_params(params, "memory", "virDomainSetMemoryParameters")
        self._call("domain_set_memory_parameters", params=dict(params), flags=int(flags))

    @entry_point
    def get_memory_parameters(self, flags: int = 0) -> TypedParams:
        """Memory tunables."""
        self._valid()
        flags |= self._string_ok()
        exclusive(flags, Impact.LIVE, Impact.CONFIG, _LIVE_CONFIG)
        return self._call("domain_get_memory_parameters", flags=int(flags))

    @entry_point
    def memory_peek(self, start: int, size: int, flags: int) -> bytes:
        """Read guest memory (MEMORY_VIRTUAL or MEMORY_PHYSICAL)."""
        self._valid()
        self._ro("virDomainMemoryPeek")
        exclusive(flags, MemoryFlags.VIRTUAL, MemoryFlags.PHYSICAL, ("VIR_MEMORY_VIRTUAL", "VIR_MEMORY_PHYSICAL"))
        return self._call("domain_memory_peek", start=int(start), size=int(size), flags=int(flags))

    # -- vCPUs, IOThreads, pinning -----------------------------------------------------------------------------------

    @entry_point
    def set_vcpus(self, nvcpus: int, flags: int = Impact.LIVE) -> None:
        """Change the vCPU count (VCPU_MAXIMUM needs AFFECT_CONFIG; VCPU_GUEST excludes it)."""
        self._valid()
        self._ro("virDomainSetVcpusFlags" if flags != Impact.LIVE else "virDomainSetVcpus")
        requires(flags, Vcpu.MAXIMUM, Impact.CONFIG, ("VIR_DOMAIN_VCPU_MAXIMUM", "VIR_DOMAIN_AFFECT_CONFIG"))
        exclusive(flags, Vcpu.GUEST, Impact.CONFIG, ("VIR_DOMAIN_VCPU_GUEST", "VIR_DOMAIN_AFFECT_CONFIG"))
        require(nvcpus != 0, "virDomainSetVcpusFlags: nvcpus must not be 0")
        require(0 < nvcpus <= checks.INT_MAX, f"virDomainSetVcpusFlags: invalid vCPU count {nvcpus}")
        self._call("domain_set_vcpus", nvcpus=int(nvcpus), flags=int(flags))

    @entry_point
    def get_vcpus_flags(self, flags: int = 0) -> int:
        """The current (or with VCPU_MAXIMUM the maximum) vCPU count."""
        self._valid()
        if flags & Vcpu.GUEST:
            self._ro("virDomainGetVcpusFlags with VCPU_GUEST")
        exclusive(flags, Impact.LIVE, Impact.CONFIG, _LIVE_CONFIG)
        return int(self._call("domain_get_vcpus_flags", flags=int(flags)))

    @entry_point
    def get_max_vcpus(self) -> int:
        """The maximum vCPU count of this guest."""
        self._valid()
        return int(self._call("domain_get_max_vcpus"))

    @entry_point
    def get_vcpus(self) -> tuple[list[VcpuInfo], list[tuple[bool, ...]]]:
        """Per-vCPU info and each vCPU's host-CPU affinity."""
        self._valid()
        return self._call("domain_get_vcpus")

    @entry_point
    def set_vcpu(self, vcpumap: str, state: int, flags: int = 0) -> None:
        """Enable or disable the vCPUs listed in a text bitmap (e.g. "1-3,^2")."""
        self._valid()
        self._ro("virDomainSetVcpu")
        not_none(vcpumap, "vcpumap", "virDomainSetVcpu")
        self._call("domain_set_vcpu", vcpumap=vcpumap, state=int(state), flags=int(flags))

    @entry_point
    def pin_vcpu(self, vcpu: int, cpumap: Sequence[bool], flags: int = Impact.LIVE) -> None:
        """Set the host-CPU affinity of one vCPU (cpumap: one bool per host CPU)."""
        self._valid()
        self._ro("virDomainPinVcpuFlags" if flags != Impact.LIVE else "virDomainPinVcpu")
        pins = _cpumap(cpumap, "virDomainPinVcpuFlags")
        self._call("domain_pin_vcpu", vcpu=int(vcpu), cpumap=pins, flags=int(flags))

    @entry_point
    def get_vcpu_pin_info(self, flags: int = 0) -> list[tuple[bool, ...]]:
        """The affinity of every vCPU."""
        self._valid()
        exclusive(flags, Impact.LIVE, Impact.CONFIG, _LIVE_CONFIG)
        return self._call("domain_get_vcpu_pin_info", flags=int(flags))

    @entry_point
    def pin_emulator(self, cpumap: Sequence[bool], flags: int = 0) -> None:
        """Set the affinity of the emulator threads."""
        self._valid()
        self._ro("virDomainPinEmulator")
        pins = _cpumap(cpumap, "virDomainPinEmulator")
        self._call("domain_pin_emulator", cpumap=pins, flags=int(flags))

    @entry_point
    def get_emulator_pin_info(self, flags: int = 0) -> tuple[bool, ...]:
        """The affinity of the emulator threads."""
        self._valid()
        exclusive(flags, Impact.LIVE, Impact.CONFIG, _LIVE_CONFIG)
        return self._call("domain_get_emulator_pin_info", flags=int(flags))

    @entry_point
    def get_io_thread_info(self, flags: int = 0) -> list[tuple[int, tuple[bool, ...]]]:
        """IOThreads as (id, affinity) pairs."""
        self._valid()
        exclusive(flags, Impact.LIVE, Impact.CONFIG, _LIVE_CONFIG)
        return self._call("domain_get_io_thread_info", flags=int(flags))

    @entry_point
    def pin_io_thread(self, iothread_id: int, cpumap: Sequence[bool], flags: int = 0) -> None:
        """Set the affinity of one IOThread."""
        self._valid()
        self._ro("virDomainPinIOThread")
        pins = _cpumap(cpumap, "virDomainPinIOThread")
        self._call("domain_pin_io_thread", iothread_id=int(iothread_id), cpumap=pins, flags=int(flags))

    @entry_point
    def add_io_thread(self, iothread_id: int, flags: int = 0) -> None:
        """Add an IOThread."""
        self._valid()
        self._ro("virDomainAddIOThread")
        self._call("domain_add_io_thread", iothread_id=int(iothread_id), flags=int(flags))

    @entry_point
    def del_io_thread(self, iothread_id: int, flags: int = 0) -> None:
        """Remove an IOThread."""
        self._valid()
        self._ro("virDomainDelIOThread")
        require(iothread_id != 0, "virDomainDelIOThread: iothread_id must not be 0")
        self._call("domain_del_io_thread", iothread_id=int(iothread_id), flags=int(flags))

    @entry_point
    def set_io_thread_params(self, iothread_id: int, params: TypedParams, flags: int = 0) -> None:
        """Tune an IOThread (polling, thread pool)."""
        self._valid()
        self._ro("virDomainSetIOThreadParams")
        not_none(params, "params", "virDomainSetIOThreadParams")
        require(len(params) > 0, "virDomainSetIOThreadParams: params must not be empty")
        params = self._set_params(params, "iothread", "virDomainSetIOThreadParams")
        self._call("domain_set_io_thread_params", iothread_id=int(iothread_id), params=dict(params), flags=int(flags))

    # -- tuning ------------------------------------------------------------------------------------------------------

    @entry_point
    def get_scheduler_type(self) -> tuple[str, int]:
        """The scheduler's name and its number of parameters."""
        self._valid()
        return self._call("domain_get_scheduler_type")

    @entry_point
    def get_scheduler_parameters(self, flags: int = 0) -> TypedParams:
        """Scheduler parameters."""
        self._valid()
        flags |= self._string_ok()
        exclusive(flags, Impact.LIVE, Impact.CONFIG, _LIVE_CONFIG)
        return self._call("domain_get_scheduler_parameters", flags=int(flags))

    @entry_point
    def get_scheduler_parameters_legacy(self) -> TypedParams:
        """Scheduler parameters as the legacy virDomainGetSchedulerParameters asks: no flags, no string values."""
        self._valid()
        return self._call("domain_get_scheduler_parameters", flags=0)

    @entry_point
    def set_scheduler_parameters(self, params: TypedParams, flags: int = 0) -> None:
        """Set scheduler parameters (cpu_shares, vcpu_period, vcpu_quota, ...)."""
        self._valid()
        self._ro("virDomainSetSchedulerParametersFlags" if flags else "virDomainSetSchedulerParameters")
        not_none(params, "params", "virDomainSetSchedulerParametersFlags")
        params = self._set_params(params, "scheduler", "virDomainSetSchedulerParametersFlags")
        self._call("domain_set_scheduler_parameters", params=dict(params), flags=int(flags))

    @entry_point
    def get_blkio_parameters(self, flags: int = 0) -> TypedParams:
        """Block I/O tunables."""
        self._valid()
        flags |= self._string_ok()
        exclusive(flags, Impact.LIVE, Impact.CONFIG, _LIVE_CONFIG)
        return self._call("domain_get_blkio_parameters", flags=int(flags))

    @entry_point
    def set_blkio_parameters(self, params: TypedParams, flags: int = 0) -> None:
        """Set block I/O tunables."""
        self._valid()
        self._ro("virDomainSetBlkioParameters")
        not_none(params, "params", "virDomainSetBlkioParameters")
        params = self._set_params(params, "blkio", "virDomainSetBlkioParameters")
        self._call("domain_set_blkio_parameters", params=dict(params), flags=int(flags))

    @entry_point
    def get_numa_parameters(self, flags: int = 0) -> TypedParams:
        """NUMA tunables."""
        self._valid()
        flags |= self._string_ok()
        return self._call("domain_get_numa_parameters", flags=int(flags))

    @entry_point
    def set_numa_parameters(self, params: TypedParams, flags: int = 0) -> None:
        """Set NUMA tunables (numa_mode, numa_nodeset)."""
        self._valid()
        self._ro("virDomainSetNumaParameters")
        not_none(params, "params", "virDomainSetNumaParameters")
        require(len(params) > 0, "virDomainSetNumaParameters: params must not be empty")
        params = self._set_params(params, "numa", "virDomainSetNumaParameters")
        self._call("domain_set_numa_parameters", params=dict(params), flags=int(flags))

    @entry_point
    def get_interface_parameters(self, device: str, flags: int = 0) -> TypedParams:
        """Bandwidth parameters of one NIC."""
        self._valid()
        flags |= self._string_ok()
        return self._call("domain_get_interface_parameters", device=device, flags=int(flags))

    @entry_point
    def set_interface_parameters(self, device: str, params: TypedParams, flags: int = 0) -> None:
        """Set bandwidth parameters of one NIC."""
        self._valid()
        self._ro("virDomainSetInterfaceParameters")
        not_none(params, "params", "virDomainSetInterfaceParameters")
        require(len(params) > 0, "virDomainSetInterfaceParameters: params must not be empty")
        params = self._set_params(params, "interface", "virDomainSetInterfaceParameters")
        self._call("domain_set_interface_parameters", device=device, params=dict(params), flags=int(flags))

    @entry_point
    def get_block_io_tune(self, disk: Optional[str], flags: int = 0) -> TypedParams:
        """I/O throttling of one disk."""
        self._valid()
        not_none(disk, "disk", "virDomainGetBlockIoTune")
        flags |= self._string_ok()
        exclusive(flags, Impact.LIVE, Impact.CONFIG, _LIVE_CONFIG)
        return self._call("domain_get_block_io_tune", disk=disk, flags=int(flags))

    @entry_point
    def set_block_io_tune(self, disk: str, params: TypedParams, flags: int = 0) -> None:
        """Set I/O throttling of one disk."""
        self._valid()
        self._ro("virDomainSetBlockIoTune")
        not_none(disk, "disk", "virDomainSetBlockIoTune")
        require(params is not None and len(params) > 0, "virDomainSetBlockIoTune: params must not be empty")
        params = self._set_params(params, "block_iotune", "virDomainSetBlockIoTune")
        self._call("domain_set_block_io_tune", disk=disk, params=dict(params), flags=int(flags))

    @entry_point
    def get_perf_events(self, flags: int = 0) -> TypedParams:
        """Enabled perf events."""
        self._valid()
        return self._call("domain_get_perf_events", flags=int(flags))

    @entry_point
    def set_perf_events(self, params: TypedParams, flags: int = 0) -> None:
        """Enable or disable perf events."""
        self._valid()
        self._ro("virDomainSetPerfEvents")
        not_none(params, "params", "virDomainSetPerfEvents")
        require(len(params) > 0, "virDomainSetPerfEvents: params must not be empty")
        params = self._set_params(params, "perf", "virDomainSetPerfEvents")
        self._call("domain_set_perf_events", params=dict(params), flags=int(flags))

    # -- statistics --------------------------------------------------------------------------------------------------

    @entry_point
    def block_stats(self, disk: str) -> BlockStats:
        """Read/write requests and bytes and errors of one disk (-1 where unknown)."""
        self._valid()
        not_none(disk, "disk", "virDomainBlockStats")
        return self._call("domain_block_stats", disk=disk)

    @entry_point
    def block_stats_flags(self, disk: str, flags: int = 0) -> TypedParams:
        """Block counters of one disk as typed parameters ("" = whole domain where supported)."""
        self._valid()
        not_none(disk, "disk", "virDomainBlockStatsFlags")
        flags |= self._string_ok()
        return self._call("domain_block_stats_flags", disk=disk, flags=int(flags))

    @entry_point
    def interface_stats(self, device: str) -> InterfaceStats:
        """Counters of one NIC (-1 where unknown)."""
        self._valid()
        not_none(device, "device", "virDomainInterfaceStats")
        return self._call("domain_interface_stats", device=device)

    @entry_point
    def memory_stats(self, flags: int = 0) -> dict[int, int]:
        """Balloon and memory statistics as DomainMemoryStatTags -> value."""
        self._valid()
        return self._call("domain_memory_stats", nr_stats=int(DomainMemoryStatTags.NR), flags=int(flags))

    @entry_point
    def get_cpu_stats(self, total: bool = False, start_cpu: int = 0, ncpus: int = -1, flags: int = 0) -> list[TypedParams]:
        """CPU usage: one dict per host CPU, or a single total (total=True)."""
        self._valid()
        if total:
            start_cpu, ncpus = -1, 1
        elif start_cpu < 0:
            raise checks.invalid_arg(f"virDomainGetCPUStats: start_cpu must be -1 (total) or >= 0 (got {start_cpu})")
        flags |= self._string_ok()
        return self._call("domain_get_cpu_stats", start_cpu=int(start_cpu), ncpus=int(ncpus), flags=int(flags))

    @entry_point
    def get_disk_errors(self, flags: int = 0) -> dict[str, int]:
        """Disks that hit I/O errors, with the error code."""
        self._valid()
        return self._call("domain_get_disk_errors", flags=int(flags))

    @entry_point
    def start_dirty_rate_calc(self, seconds: int, flags: int = 0) -> None:
        """Start a memory dirty-rate measurement (results in the DIRTYRATE stats group)."""
        self._valid()
        self._ro("virDomainStartDirtyRateCalc")
        exclusive(flags, DirtyRate.DIRTY_BITMAP, DirtyRate.DIRTY_RING,
                  ("VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_BITMAP", "VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_RING"))
        self._call("domain_start_dirty_rate_calc", seconds=int(seconds), flags=int(flags))

    # -- block devices and jobs --------------------------------------------------------------------------------------

    @entry_point
    def block_peek(self, disk: str, offset: int, size: int, flags: int = 0) -> bytes:
        """Read raw bytes of a disk."""
        self._valid()
        self._ro("virDomainBlockPeek")
        non_empty(disk, "disk", "virDomainBlockPeek")
        return self._call("domain_block_peek", disk=disk, offset=int(offset), size=int(size), flags=int(flags))

    @entry_point
    def block_resize(self, disk: str, size: int, flags: int = 0) -> None:
        """Grow or shrink a disk (KiB, or bytes with BLOCK_RESIZE_BYTES)."""
        self._valid()
        self._ro("virDomainBlockResize")
        not_none(disk, "disk", "virDomainBlockResize")
        self._call("domain_block_resize", disk=disk, size=int(size), flags=int(flags))

    @entry_point
    def get_block_info(self, disk: str, flags: int = 0) -> BlockInfo:
        """Capacity, allocation and physical size of a disk in bytes."""
        self._valid()
        non_empty(disk, "disk", "virDomainGetBlockInfo")
        return self._call("domain_get_block_info", disk=disk, flags=int(flags))

    @entry_point
    def set_block_threshold(self, dev: str, threshold: int, flags: int = 0) -> None:
        """Arm the block-threshold event for a disk."""
        self._valid()
        self._ro("virDomainSetBlockThreshold")
        not_none(dev, "dev", "virDomainSetBlockThreshold")
        self._call("domain_set_block_threshold", dev=dev, threshold=int(threshold), flags=int(flags))

    @entry_point
    def block_job_abort(self, disk: str, flags: int = 0) -> None:
        """Cancel (or pivot) the disk's block job."""
        self._valid()
        self._ro("virDomainBlockJobAbort")
        not_none(disk, "disk", "virDomainBlockJobAbort")
        self._call("domain_block_job_abort", disk=disk, flags=int(flags))

    @entry_point
    def get_block_job_info(self, disk: str, flags: int = 0) -> dict[str, int]:
        """Progress of the disk's block job ({} when there is none)."""
        self._valid()
        not_none(disk, "disk", "virDomainGetBlockJobInfo")
        return self._call("domain_get_block_job_info", disk=disk, flags=int(flags))

    @entry_point
    def block_job_set_speed(self, disk: str, bandwidth: int, flags: int = 0) -> None:
        """Throttle a running block job."""
        self._valid()
        self._ro("virDomainBlockJobSetSpeed")
        not_none(disk, "disk", "virDomainBlockJobSetSpeed")
        self._call("domain_block_job_set_speed", disk=disk, bandwidth=int(bandwidth), flags=int(flags))

    @entry_point
    def block_pull(self, disk: str, bandwidth: int = 0, flags: int = 0) -> None:
        """Start a pull job."""
        self._valid()
        self._ro("virDomainBlockPull")
        not_none(disk, "disk", "virDomainBlockPull")
        self._call("domain_block_pull", disk=disk, bandwidth=int(bandwidth), flags=int(flags))

    @entry_point
    def block_rebase(self, disk: str, base: Optional[str], bandwidth: int = 0, flags: int = 0) -> None:
        """Pull up to ``base``, or with BLOCK_REBASE_COPY copy the chain to the new file ``base``."""
        self._valid()
        self._ro("virDomainBlockRebase")
        not_none(disk, "disk", "virDomainBlockRebase")
        if flags & Rebase.COPY:
            not_none(base, "base", "virDomainBlockRebase")
        elif flags & (Rebase.SHALLOW | Rebase.REUSE_EXT | Rebase.COPY_RAW | Rebase.COPY_DEV):
            raise checks.invalid_arg("virDomainBlockRebase: these flags require a copy job (VIR_DOMAIN_BLOCK_REBASE_COPY)")
        self._call("domain_block_rebase", disk=disk, base=base, bandwidth=int(bandwidth), flags=int(flags))

    @entry_point
    def block_copy(self, disk: str, destxml: str, params: Optional[TypedParams] = None, flags: int = 0) -> None:
        """Start a copy job to a destination described by disk XML."""
        self._valid()
        self._ro("virDomainBlockCopy")
        not_none(disk, "disk", "virDomainBlockCopy")
        not_none(destxml, "destxml", "virDomainBlockCopy")
        self._call("domain_block_copy", disk=disk, destxml=destxml, params=dict(params or {}), flags=int(flags))

    @entry_point
    def block_commit(self, disk: str, base: Optional[str] = None, top: Optional[str] = None, bandwidth: int = 0,
                     flags: int = 0) -> None:
        """Start a commit job merging top..base."""
        self._valid()
        self._ro("virDomainBlockCommit")
        not_none(disk, "disk", "virDomainBlockCommit")
        self._call("domain_block_commit", disk=disk, base=base, top=top, bandwidth=int(bandwidth), flags=int(flags))

    # -- devices, consoles, graphics, input --------------------------------------------------------------------------

    @entry_point
    def attach_device(self, xml: str, flags: int = Impact.LIVE) -> None:
        """Attach a device described by XML (AFFECT_LIVE / AFFECT_CONFIG / AFFECT_CURRENT)."""
        self._valid()
        not_none(xml, "xml", "virDomainAttachDeviceFlags")
        self._ro("virDomainAttachDeviceFlags" if flags != Impact.LIVE else "virDomainAttachDevice")
        self._call("domain_attach_device", xml=xml, flags=int(flags))

    @entry_point
    def detach_device(self, xml: str, flags: int = Impact.LIVE) -> None:
        """Detach a device described by XML."""
        self._valid()
        not_none(xml, "xml", "virDomainDetachDeviceFlags")
        self._ro("virDomainDetachDeviceFlags" if flags != Impact.LIVE else "virDomainDetachDevice")
        self._call("domain_detach_device", xml=xml, flags=int(flags))

    @entry_point
    def update_device(self, xml: str, flags: int = 0) -> None:
        """Modify a device (media change, link state, ...)."""
        self._valid()
        not_none(xml, "xml", "virDomainUpdateDeviceFlags")
        self._ro("virDomainUpdateDeviceFlags")
        self._call("domain_update_device", xml=xml, flags=int(flags))

    @entry_point
    def detach_device_alias(self, alias: str, flags: int = 0) -> None:
        """Detach a device by its alias; completion arrives as a DEVICE_REMOVED event."""
        self._valid()
        not_none(alias, "alias", "virDomainDetachDeviceAlias")
        self._ro("virDomainDetachDeviceAlias")
        self._call("domain_detach_device_alias", alias=alias, flags=int(flags))

    def _stream_check(self, stream: Any, function: str) -> None:
        self._valid()
        not_none(stream, "stream", function)
        self._ro(function)
        owner = getattr(stream, "connection", None)
        if owner is not None and owner is not self._conn:
            raise checks.invalid_arg(f"{function}: the stream belongs to another connection")

    @entry_point
    def screenshot(self, stream: Any, screen: int = 0, flags: int = 0) -> str:
        """Send a screenshot of one display head to a stream; return its MIME type."""
        self._stream_check(stream, "virDomainScreenshot")
        return self._call("domain_screenshot", stream=stream, screen=int(screen), flags=int(flags))

    @entry_point
    def open_console(self, dev_name: Optional[str], stream: Any, flags: int = 0) -> None:
        """Attach a stream to a console device (the first console when dev_name is None)."""
        self._stream_check(stream, "virDomainOpenConsole")
        self._call("domain_open_console", dev_name=dev_name, stream=stream, flags=int(flags))

    @entry_point
    def open_channel(self, name: Optional[str], stream: Any, flags: int = 0) -> None:
        """Attach a stream to a channel device."""
        self._stream_check(stream, "virDomainOpenChannel")
        self._call("domain_open_channel", name=name, stream=stream, flags=int(flags))

    @entry_point
    def open_graphics(self, idx: int, fd: int, flags: int = 0) -> None:
        """Connect a caller's socket fd to the graphics server."""
        import os
        import stat
        self._valid()
        require(fd >= 0, f"virDomainOpenGraphics: fd must not be negative (got {fd})")
        try:
            mode = os.fstat(fd).st_mode
        except OSError as exc:
            raise checks.invalid_arg(f"virDomainOpenGraphics: cannot stat fd {fd}: {exc.strerror}") from None
        require(stat.S_ISSOCK(mode), f"virDomainOpenGraphics: fd {fd} is not a socket")
        self._ro("virDomainOpenGraphics")
        if not self._calls.supports(DriverFeature.FD_PASSING):
            raise checks.probe_unsupported("fd passing is not supported by this connection")
        self._call("domain_open_graphics", idx=int(idx), fd=int(fd), flags=int(flags))

    @entry_point
    def open_graphics_fd(self, idx: int, flags: int = 0) -> int:
        """Return one end of a socket pair connected to the graphics server."""
        self._valid()
        self._ro("virDomainOpenGraphicsFD")
        if not self._calls.supports(DriverFeature.FD_PASSING):
            raise checks.probe_unsupported("fd passing is not supported by this connection")
        return self._call("domain_open_graphics_fd", idx=int(idx), flags=int(flags))

    @entry_point
    def graphics_reload(self, type: int = 0, flags: int = 0) -> None:
        """Reload graphics (e.g. TLS certificates)."""
        self._valid()
        self._ro("virDomainGraphicsReload")
        self._call("domain_graphics_reload", type=int(type), flags=int(flags))

    @entry_point
    def send_key(self, codeset: int, holdtime: int, keycodes: Sequence[int], flags: int = 0) -> None:
        """Inject key presses."""
        self._valid()
        self._ro("virDomainSendKey")
        not_none(keycodes, "keycodes", "virDomainSendKey")
        require(len(keycodes) > 0, "virDomainSendKey: keycodes must not be empty")
        require(0 <= codeset < len(KeycodeSet), f"virDomainSendKey: unknown keycode set {codeset}")
        require(len(keycodes) <= SEND_KEY_MAX_KEYS,
                f"virDomainSendKey: at most {SEND_KEY_MAX_KEYS} keys at a time (got {len(keycodes)})")
        self._call("domain_send_key", codeset=int(codeset), holdtime=int(holdtime), keycodes=list(keycodes),
                   flags=int(flags))

    @entry_point
    def inject_nmi(self, flags: int = 0) -> None:
        """Send an NMI."""
        self._valid()
        self._ro("virDomainInjectNMI")
        self._call("domain_inject_nmi", flags=int(flags))

    # -- jobs and backup ---------------------------------------------------------------------------------------------

    @entry_point
    def get_job_info(self) -> JobInfo:
        """Progress of the current job as a fixed struct."""
        self._valid()
        return self._call("domain_get_job_info")

    @entry_point
    def get_job_stats(self, flags: int = 0) -> tuple[int, TypedParams]:
        """(job type, statistics) of the current job, or of the last completed one with JOB_STATS_COMPLETED."""
        self._valid()
        requires(flags, JobStats.KEEP_COMPLETED, JobStats.COMPLETED,
                 ("VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED", "VIR_DOMAIN_JOB_STATS_COMPLETED"))
        return self._call("domain_get_job_stats", flags=int(flags))

    @entry_point
    def abort_job(self, flags: int = 0) -> None:
        """Abort the current job."""
        self._valid()
        self._ro("virDomainAbortJobFlags" if flags else "virDomainAbortJob")
        self._call("domain_abort_job", flags=int(flags))

    @entry_point
    def backup_begin(self, backup_xml: str, checkpoint_xml: Optional[str] = None, flags: int = 0) -> None:
        """Start a backup job."""
        self._valid()
        not_none(backup_xml, "backup_xml", "virDomainBackupBegin")
        self._ro("virDomainBackupBegin")
        self._call("domain_backup_begin", backup_xml=backup_xml, checkpoint_xml=checkpoint_xml, flags=int(flags))

    @entry_point
    def backup_get_xml_desc(self, flags: int = 0) -> str:
        """XML of the active backup job."""
        self._valid()
        return self._call("domain_backup_get_xml_desc", flags=int(flags))

    # -- guest agent, filesystems, guest-side info -------------------------------------------------------------------

    @entry_point
    def fs_trim(self, mount_point: Optional[str] = None, minimum: int = 0, flags: int = 0) -> None:
        """Discard unused blocks in guest filesystems."""
        self._valid()
        self._ro("virDomainFSTrim")
        self._call("domain_fs_trim", mount_point=mount_point, minimum=int(minimum), flags=int(flags))

    @entry_point
    def fs_freeze(self, mountpoints: Optional[Sequence[str]] = None, flags: int = 0) -> int:
        """Freeze guest filesystems (all when None); return how many were frozen."""
        self._valid()
        self._ro("virDomainFSFreeze")
        return int(self._call("domain_fs_freeze", mountpoints=list(mountpoints) if mountpoints else None,
                              flags=int(flags)))

    @entry_point
    def fs_thaw(self, mountpoints: Optional[Sequence[str]] = None, flags: int = 0) -> int:
        """Thaw guest filesystems; return how many were thawed."""
        self._valid()
        self._ro("virDomainFSThaw")
        return int(self._call("domain_fs_thaw", mountpoints=list(mountpoints) if mountpoints else None,
                              flags=int(flags)))

    @entry_point
    def get_fs_info(self, flags: int = 0) -> list[tuple[str, str, str, list[str]]]:
        """Guest mount points as (mountpoint, name, fstype, device aliases)."""
        self._valid()
        self._ro("virDomainGetFSInfo")
        return self._call("domain_get_fs_info", flags=int(flags))

    @entry_point
    def get_time(self, flags: int = 0) -> tuple[int, int]:
        """The guest clock as (seconds, nanoseconds)."""
        self._valid()
        self._ro("virDomainGetTime")
        return self._call("domain_get_time", flags=int(flags))

    @entry_point
    def set_time(self, seconds: int, nseconds: int = 0, flags: int = 0) -> None:
        """Set the guest clock (TIME_SYNC syncs it from the RTC)."""
        self._valid()
        self._ro("virDomainSetTime")
        self._call("domain_set_time", seconds=int(seconds), nseconds=int(nseconds), flags=int(flags))

    @entry_point
    def set_user_password(self, user: str, password: str, flags: int = 0) -> None:
        """Change a guest user's password."""
        self._valid()
        self._ro("virDomainSetUserPassword")
        not_none(user, "user", "virDomainSetUserPassword")
        not_none(password, "password", "virDomainSetUserPassword")
        self._call("domain_set_user_password", user=user, password=password, flags=int(flags))

    @entry_point
    def get_hostname(self, flags: int = 0) -> str:
        """The guest's hostname."""
        self._valid()
        self._ro("virDomainGetHostname")
        return self._call("domain_get_hostname", flags=int(flags))

    @entry_point
    def interface_addresses(self, source: int = DomainInterfaceAddressesSource.LEASE, flags: int = 0) -> list[InterfaceAddresses]:
        """Guest NICs with their MAC and IP addresses, from leases, the guest agent or ARP."""
        self._valid()
        if source == DomainInterfaceAddressesSource.AGENT:
            self._ro("virDomainInterfaceAddresses from the guest agent")
        return self._call("domain_interface_addresses", source=int(source), flags=int(flags))

    @entry_point
    def get_guest_vcpus(self, flags: int = 0) -> TypedParams:
        """The guest agent's view of vCPUs."""
        self._valid()
        self._ro("virDomainGetGuestVcpus")
        return self._call("domain_get_guest_vcpus", flags=int(flags))

    @entry_point
    def set_guest_vcpus(self, cpumap: str, state: int, flags: int = 0) -> None:
        """Online or offline vCPUs inside the guest."""
        self._valid()
        self._ro("virDomainSetGuestVcpus")
        not_none(cpumap, "cpumap", "virDomainSetGuestVcpus")
        self._call("domain_set_guest_vcpus", cpumap=cpumap, state=int(state), flags=int(flags))

    @entry_point
    def get_guest_info(self, types: int = 0, flags: int = 0) -> TypedParams:
        """Guest agent information groups (GUEST_INFO_*; 0 = all supported)."""
        self._valid()
        self._ro("virDomainGetGuestInfo")
        return self._call("domain_get_guest_info", types=int(types), flags=int(flags))

    @entry_point
    def agent_set_response_timeout(self, timeout: int, flags: int = 0) -> None:
        """Set the guest agent reply timeout (-2 block, -1 default, 0 no wait, >0 seconds)."""
        self._valid()
        self._ro("virDomainAgentSetResponseTimeout")
        self._call("domain_agent_set_response_timeout", timeout=int(timeout), flags=int(flags))

    @entry_point
    def authorized_ssh_keys_get(self, user: str, flags: int = 0) -> list[str]:
        """A guest user's authorized SSH keys."""
        self._valid()
        not_none(user, "user", "virDomainAuthorizedSSHKeysGet")
        self._ro("virDomainAuthorizedSSHKeysGet")
        return self._call("domain_authorized_ssh_keys_get", user=user, flags=int(flags))

    @entry_point
    def authorized_ssh_keys_set(self, user: str, keys: Optional[Sequence[str]], flags: int = 0) -> None:
        """Replace (or append/remove with the flags) a guest user's authorized SSH keys."""
        self._valid()
        not_none(user, "user", "virDomainAuthorizedSSHKeysSet")
        if flags & (SSHKeys.APPEND | SSHKeys.REMOVE):
            not_none(keys, "keys", "virDomainAuthorizedSSHKeysSet")
        exclusive(flags, SSHKeys.APPEND, SSHKeys.REMOVE, ("VIR_DOMAIN_AUTHORIZED_SSH_KEYS_SET_APPEND",
                                                          "VIR_DOMAIN_AUTHORIZED_SSH_KEYS_SET_REMOVE"))
        self._ro("virDomainAuthorizedSSHKeysSet")
        self._call("domain_authorized_ssh_keys_set", user=user, keys=list(keys) if keys is not None else None,
                   flags=int(flags))

    @entry_point
    def send_process_signal(self, pid_value: int, signum: int, flags: int = 0) -> None:
        """Signal a process (negative: a process group) inside the guest."""
        self._valid()
        require(pid_value != 0, "virDomainSendProcessSignal: pid_value must not be 0")
        self._ro("virDomainSendProcessSignal")
        self._call("domain_send_process_signal", pid_value=int(pid_value), signum=int(signum), flags=int(flags))

    # -- metadata, security, messages, fds ---------------------------------------------------------------------------

    @entry_point
    def set_metadata(self, type: int, metadata: Optional[str], key: Optional[str] = None, uri: Optional[str] = None,
                     flags: int = 0) -> None:
        """Set (or with metadata=None remove) the title, description or a namespaced element."""
        self._valid()
        self._ro("virDomainSetMetadata")
        if type == DomainMetadataType.TITLE:
            require(metadata is None or "\n" not in metadata, "virDomainSetMetadata: a title may not contain a newline")
        if type in (DomainMetadataType.TITLE, DomainMetadataType.DESCRIPTION):
            require(uri is None, "virDomainSetMetadata: uri must be None for a title or description")
            require(key is None, "virDomainSetMetadata: key must be None for a title or description")
        elif type == DomainMetadataType.ELEMENT:
            not_none(uri, "uri", "virDomainSetMetadata")
            if metadata is not None:
                not_none(key, "key", "virDomainSetMetadata")
        self._call("domain_set_metadata", type=int(type), metadata=metadata, key=key, uri=uri, flags=int(flags))

    @entry_point
    def get_metadata(self, type: int, uri: Optional[str] = None, flags: int = 0) -> str:
        """The title, description, or a namespaced element by its namespace URI."""
        self._valid()
        exclusive(flags, Impact.LIVE, Impact.CONFIG, _LIVE_CONFIG)
        if type in (DomainMetadataType.TITLE, DomainMetadataType.DESCRIPTION):
            require(uri is None, "virDomainGetMetadata: uri must be None for a title or description")
        elif type == DomainMetadataType.ELEMENT:
            not_none(uri, "uri", "virDomainGetMetadata")
        return self._call("domain_get_metadata", type=int(type), uri=uri, flags=int(flags))

    @entry_point
    def get_security_label(self) -> tuple[str, bool]:
        """The primary security label and whether it is enforced."""
        self._valid()
        return self._call("domain_get_security_label")

    @entry_point
    def get_security_label_list(self) -> list[tuple[str, bool]]:
        """All security labels."""
        self._valid()
        return self._call("domain_get_security_label_list")

    @entry_point
    def get_launch_security_info(self, flags: int = 0) -> TypedParams:
        """Launch measurement and related facts."""
        self._valid()
        self._ro("virDomainGetLaunchSecurityInfo")
        flags |= self._string_ok()
        return self._call("domain_get_launch_security_info", flags=int(flags))

    @entry_point
    def set_launch_security_state(self, params: TypedParams, flags: int = 0) -> None:
        """Inject a launch secret into a paused secure guest."""
        self._valid()
        not_none(params, "params", "virDomainSetLaunchSecurityState")
        require(len(params) > 0, "virDomainSetLaunchSecurityState: params must not be empty")
        self._ro("virDomainSetLaunchSecurityState")
        params = self._set_params(params, None, "virDomainSetLaunchSecurityState")
        self._call("domain_set_launch_security_state", params=dict(params), flags=int(flags))

    @entry_point
    def get_messages(self, flags: int = 0) -> list[str]:
        """Tainting and deprecation messages recorded for the guest."""
        self._valid()
        return self._call("domain_get_messages", flags=int(flags))

    @entry_point
    def fd_associate(self, name: str, fds: Sequence[int], flags: int = 0) -> None:
        """Associate a named group of fds with the domain for later use."""
        if not self._calls.supports(DriverFeature.FD_PASSING):
            raise checks.probe_unsupported("fd passing is not supported by this connection")
        require(bool(fds), "virDomainFDAssociate: fds must not be empty")
        self._ro("virDomainFDAssociate")
        self._valid()
        self._call("domain_fd_associate", name=name, fds=list(fds), flags=int(flags))

    # -- snapshots ---------------------------------------------------------------------------------------------------

    @entry_point
    def snapshot_create_xml(self, xml: str, flags: int = 0) -> "DomainSnapshot":
        """Create a snapshot from snapshot XML."""
        self._valid()
        not_none(xml, "xml", "virDomainSnapshotCreateXML")
        self._ro("virDomainSnapshotCreateXML", ErrorDomain.DOMAIN_SNAPSHOT)
        return DomainSnapshot(self, self._call("domain_snapshot_create_xml", xml=xml, flags=int(flags)))

    @entry_point
    def list_all_snapshots(self, flags: int = 0) -> list["DomainSnapshot"]:
        """Snapshots of the domain matching SNAPSHOT_LIST_* flags."""
        self._valid()
        return [DomainSnapshot(self, ref) for ref in self._call("domain_list_all_snapshots", flags=int(flags))]

    @entry_point
    def snapshot_lookup_by_name(self, name: str, flags: int = 0) -> "DomainSnapshot":
        """A snapshot by name."""
        self._valid()
        not_none(name, "name", "virDomainSnapshotLookupByName")
        return DomainSnapshot(self, self._call("domain_snapshot_lookup_by_name", name=name, flags=int(flags)))

    @entry_point
    def has_current_snapshot(self, flags: int = 0) -> bool:
        """Whether the domain has a current snapshot."""
        self._valid()
        return bool(self._call("domain_has_current_snapshot", flags=int(flags)))

    @entry_point
    def snapshot_current(self, flags: int = 0) -> "DomainSnapshot":
        """The current snapshot."""
        self._valid()
        return DomainSnapshot(self, self._call("domain_snapshot_current", flags=int(flags)))

    @entry_point
    def snapshot_num(self, flags: int = 0) -> int:
        """How many snapshots match the flags."""
        return len(self.list_all_snapshots(flags))

    @entry_point
    def snapshot_list_names(self, flags: int = 0) -> list[str]:
        """Names of the snapshots matching the flags."""
        return [s.name for s in self.list_all_snapshots(flags)]

    @entry_point
    def revert_to_snapshot(self, snapshot: "DomainSnapshot", flags: int = 0) -> None:
        """Revert the domain to a snapshot."""
        snapshot.revert(flags)


class DomainSnapshot:
    """A handle on one snapshot of a domain."""

    __slots__ = ("_domain", "_ref")

    def __init__(self, domain: Domain, ref: SnapshotRef) -> None:
        self._domain = domain
        self._ref = ref

    def __repr__(self) -> str:
        return f"<DomainSnapshot {self._ref.name!r} of {self._domain.name!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DomainSnapshot) and other._domain == self._domain and other._ref.name == self._ref.name

    def __hash__(self) -> int:
        return hash((self._domain.uuid, self._ref.name))

    @property
    def name(self) -> str:
        """The snapshot's name."""
        return self._ref.name

    @property
    def domain(self) -> Domain:
        """The domain this snapshot belongs to."""
        return self._domain

    def _call(self, hook: str, **kwargs: Any) -> Any:
        self._domain._valid()
        return getattr(self._domain._calls.ops, hook)(snapshot=self._ref, **kwargs)

    @entry_point
    def get_xml_desc(self, flags: int = 0) -> str:
        """The snapshot's XML."""
        return self._call("domain_snapshot_get_xml_desc", flags=int(flags))

    @entry_point
    def get_parent(self, flags: int = 0) -> "DomainSnapshot":
        """The parent snapshot."""
        return DomainSnapshot(self._domain, self._call("domain_snapshot_get_parent", flags=int(flags)))

    @entry_point
    def list_all_children(self, flags: int = 0) -> list["DomainSnapshot"]:
        """Children (or all descendants with SNAPSHOT_LIST_DESCENDANTS)."""
        return [DomainSnapshot(self._domain, r) for r in self._call("domain_snapshot_list_all_children", flags=int(flags))]

    @entry_point
    def is_current(self, flags: int = 0) -> bool:
        """Whether this is the domain's current snapshot."""
        return bool(self._call("domain_snapshot_is_current", flags=int(flags)))

    @entry_point
    def has_metadata(self, flags: int = 0) -> bool:
        """Whether the snapshot has metadata."""
        return bool(self._call("domain_snapshot_has_metadata", flags=int(flags)))

    @entry_point
    def revert(self, flags: int = 0) -> None:
        """Revert the domain to this snapshot."""
        self._domain._ro("virDomainRevertToSnapshot", ErrorDomain.DOMAIN_SNAPSHOT)
        self._call("domain_revert_to_snapshot", flags=int(flags))

    @entry_point
    def delete(self, flags: int = 0) -> None:
        """Delete this snapshot (SNAPSHOT_DELETE_CHILDREN also deletes its descendants)."""
        self._domain._ro("virDomainSnapshotDelete", ErrorDomain.DOMAIN_SNAPSHOT)
        self._call("domain_snapshot_delete", flags=int(flags))
