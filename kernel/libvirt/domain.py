"""virDomain: libvirt-python's domain class over virtkernel's Domain, with libvirt-python's result shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..domain import Domain
from ..enums import DomainModificationImpact
from ..errors import VirtError
from ..types import TypedParams
from .errors import raise_for, translate_errors, unsupported
from .params import merge_for_set
from .snapshot import virDomainSnapshot
from .stream import virStream

if TYPE_CHECKING:
    from .connection import virConnect

# libvirt-python's names for the memory statistic tags (VIR_DOMAIN_MEMORY_STAT_*).
MEMORY_STAT_NAMES = {
    0: "swap_in", 1: "swap_out", 2: "major_fault", 3: "minor_fault", 4: "unused", 5: "available",
    6: "actual", 7: "rss", 8: "usable", 9: "last_update", 10: "disk_caches", 11: "hugetlb_pgalloc",
    12: "hugetlb_pgfail",
}

# libvirt-python methods with no virtkernel counterpart: they answer "not supported" like a driver lacking them.
UNSUPPORTED_METHODS = {
    "checkpointCreateXML": "virDomainCheckpointCreateXML",
    "checkpointLookupByName": "virDomainCheckpointLookupByName",
    "listAllCheckpoints": "virDomainListAllCheckpoints",
}


def _kernel_stream(stream: Any) -> Any:
    if not isinstance(stream, virStream):
        raise TypeError("expected a virStream from virConnect.newStream()")
    return stream._o


def _bools(cpumap: Sequence[bool]) -> tuple[bool, ...]:
    return tuple(bool(cpu) for cpu in cpumap)


@translate_errors
class virDomain:  # noqa: N801 - libvirt-python's name
    """A domain handle of a virConnect (libvirt-python's virDomain)."""

    def __init__(self, conn: "virConnect", _obj: Domain) -> None:
        if not isinstance(_obj, Domain):
            raise TypeError("virDomain wraps a virtkernel Domain; get one from a virConnect lookup")
        self._conn = conn
        self._o = _obj
        next(conn._taken)  # conn._acquire(), inlined: this runs for every handle a lookup or listing returns

    def __del__(self) -> None:
        conn = self.__dict__.get("_conn")
        if conn is None:
            return
        try:
            next(conn._dropped)
            if conn._close_requested:
                conn._close_if_unused()
        except Exception:  # interpreter shutdown: module globals may already be gone
            pass

    def __repr__(self) -> str:
        return f"<virDomain {self._o.name!r}>"

    # -- identity ----------------------------------------------------------------------------------------------------

    def connect(self) -> "virConnect":
        """The connection this domain belongs to."""
        return self._conn

    def c_pointer(self) -> int:
        """An integer identifying the underlying handle."""
        return id(self._o)

    def name(self) -> str:
        """The domain's name."""
        return self._o.get_name()

    def ID(self) -> int:  # noqa: N802
        """The hypervisor id (-1 when not running)."""
        return self._o.get_id()

    def UUID(self) -> bytes:  # noqa: N802
        """The 16-byte UUID."""
        return self._o.get_uuid()

    def UUIDString(self) -> str:  # noqa: N802
        """The UUID as text."""
        return self._o.get_uuid_string()

    def OSType(self) -> str:  # noqa: N802
        """The guest OS type."""
        return self._o.get_os_type()

    def info(self) -> list[int]:
        """[state, maxMem KiB, memory KiB, nrVirtCpu, cpuTime ns]."""
        return list(self._o.get_info())

    def state(self, flags: int = 0) -> list[int]:
        """[state, reason]."""
        return list(self._o.get_state(flags))

    def controlInfo(self, flags: int = 0) -> list[int]:  # noqa: N802
        """[state, details, stateTime] of the management channel."""
        return list(self._o.get_control_info(flags))

    def isActive(self) -> int:  # noqa: N802
        """1 when running, else 0."""
        return int(self._o.is_active())

    def isPersistent(self) -> int:  # noqa: N802
        """1 when the domain has a persistent configuration."""
        return int(self._o.is_persistent())

    def isUpdated(self) -> int:  # noqa: N802
        """1 when the configuration changed since the domain started."""
        return int(self._o.is_updated())

    def XMLDesc(self, flags: int = 0) -> str:  # noqa: N802
        """The domain XML."""
        return self._o.get_xml_desc(flags)

    def autostart(self) -> int:
        """1 when the domain starts with the host."""
        return int(self._o.get_autostart())

    def setAutostart(self, autostart: int) -> int:  # noqa: N802
        """Change autostart."""
        self._o.set_autostart(bool(autostart))
        return 0

    def hostname(self, flags: int = 0) -> str:
        """The guest's hostname."""
        return self._o.get_hostname(flags)

    def securityLabel(self) -> list[Any]:  # noqa: N802
        """[label, enforcing]."""
        return list(self._o.get_security_label())

    def securityLabelList(self) -> list[list[Any]]:  # noqa: N802
        """Every security label as [label, enforcing]."""
        return [list(label) for label in self._o.get_security_label_list()]

    def messages(self, flags: int = 0) -> list[str]:
        """Tainting and deprecation messages."""
        return list(self._o.get_messages(flags))

    def metadata(self, type: int, uri: Optional[str], flags: int = 0) -> str:  # noqa: A002
        """Title, description or a namespaced metadata element."""
        return self._o.get_metadata(type, uri, flags)

    def setMetadata(self, type: int, metadata: Optional[str], key: Optional[str], uri: Optional[str],  # noqa: A002,N802
                    flags: int = 0) -> int:
        """Set or remove title, description or a namespaced metadata element."""
        self._o.set_metadata(type, metadata, key, uri, flags)
        return 0

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def create(self) -> int:
        """Start the defined domain."""
        self._o.create(0)
        return 0

    def createWithFlags(self, flags: int = 0) -> int:  # noqa: N802
        """Start the defined domain with VIR_DOMAIN_START_* flags."""
        self._o.create(flags)
        return 0

    def createWithFiles(self, files: list[int], flags: int = 0) -> int:  # noqa: N802
        """Start the defined domain passing open file descriptors."""
        self._o.create(flags, files=files)
        return 0

    def destroy(self) -> int:
        """Stop the domain at once."""
        self._o.destroy(0)
        return 0

    def destroyFlags(self, flags: int = 0) -> int:  # noqa: N802
        """Stop the domain at once (VIR_DOMAIN_DESTROY_* flags)."""
        self._o.destroy(flags)
        return 0

    def shutdown(self) -> int:
        """Ask the guest to power off."""
        self._o.shutdown(0)
        return 0

    def shutdownFlags(self, flags: int = 0) -> int:  # noqa: N802
        """Ask the guest to power off with a chosen method."""
        self._o.shutdown(flags)
        return 0

    def reboot(self, flags: int = 0) -> int:
        """Ask the guest to reboot."""
        self._o.reboot(flags)
        return 0

    def reset(self, flags: int = 0) -> int:
        """Reset the guest."""
        self._o.reset(flags)
        return 0

    def suspend(self) -> int:
        """Pause the domain."""
        self._o.suspend()
        return 0

    def resume(self) -> int:
        """Unpause the domain."""
        self._o.resume()
        return 0

    def undefine(self) -> int:
        """Remove the persistent configuration."""
        self._o.undefine(0)
        return 0

    def undefineFlags(self, flags: int = 0) -> int:  # noqa: N802
        """Remove the persistent configuration (VIR_DOMAIN_UNDEFINE_* flags)."""
        self._o.undefine(flags)
        return 0

    def rename(self, new_name: str, flags: int = 0) -> int:
        """Rename the domain."""
        self._o.rename(new_name, flags)
        return 0

    def setLifecycleAction(self, type: int, action: int, flags: int = 0) -> int:  # noqa: A002,N802
        """Change the on_poweroff / on_reboot / on_crash action."""
        self._o.set_lifecycle_action(type, action, flags)
        return 0

    def pMSuspendForDuration(self, target: int, duration: int, flags: int = 0) -> int:  # noqa: N802
        """Power-management suspend."""
        self._o.pm_suspend_for_duration(target, duration, flags)
        return 0

    def pMWakeup(self, flags: int = 0) -> int:  # noqa: N802
        """Wake a PM-suspended guest."""
        self._o.pm_wakeup(flags)
        return 0

    def injectNMI(self, flags: int = 0) -> int:  # noqa: N802
        """Send an NMI."""
        self._o.inject_nmi(flags)
        return 0

    def sendKey(self, codeset: int, holdtime: int, keycodes: list[int], nkeycodes: int,  # noqa: N802
                flags: int = 0) -> int:
        """Inject key presses (the first ``nkeycodes`` of ``keycodes``)."""
        self._o.send_key(codeset, holdtime, list(keycodes)[:nkeycodes], flags)
        return 0

    def sendProcessSignal(self, pid_value: int, signum: int, flags: int = 0) -> int:  # noqa: N802
        """Signal a process inside the guest."""
        self._o.send_process_signal(pid_value, signum, flags)
        return 0

    # -- save, managed save, dump ------------------------------------------------------------------------------------

    def save(self, to: str) -> int:
        """Save the domain's memory to a file and stop it."""
        self._o.save(to)
        return 0

    def saveFlags(self, to: str, dxml: Optional[str] = None, flags: int = 0) -> int:  # noqa: N802
        """Save with replacement XML and VIR_DOMAIN_SAVE_* flags."""
        self._o.save(to, dxml, flags)
        return 0

    def saveParams(self, params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Save driven by typed parameters."""
        self._o.save_params(params, flags)
        return 0

    def managedSave(self, flags: int = 0) -> int:  # noqa: N802
        """Save to the managed image."""
        self._o.managed_save(flags)
        return 0

    def hasManagedSaveImage(self, flags: int = 0) -> int:  # noqa: N802
        """1 when a managed-save image exists."""
        return int(self._o.has_managed_save_image(flags))

    def managedSaveRemove(self, flags: int = 0) -> int:  # noqa: N802
        """Delete the managed-save image."""
        self._o.managed_save_remove(flags)
        return 0

    def managedSaveGetXMLDesc(self, flags: int = 0) -> str:  # noqa: N802
        """The XML inside the managed-save image."""
        return self._o.managed_save_get_xml_desc(flags)

    def managedSaveDefineXML(self, dxml: Optional[str], flags: int = 0) -> int:  # noqa: N802
        """Replace the XML inside the managed-save image."""
        self._o.managed_save_define_xml(dxml, flags)
        return 0

    def coreDump(self, to: str, flags: int = 0) -> int:  # noqa: N802
        """Dump the guest's memory to a file."""
        self._o.core_dump(to, flags)
        return 0

    def coreDumpWithFormat(self, to: str, dumpformat: int, flags: int = 0) -> int:  # noqa: N802
        """Dump the guest's memory in a chosen format."""
        self._o.core_dump_with_format(to, dumpformat, flags)
        return 0

    # -- memory ------------------------------------------------------------------------------------------------------

    def maxMemory(self) -> int:  # noqa: N802
        """Maximum memory in KiB."""
        return self._o.get_max_memory()

    def setMaxMemory(self, memory: int) -> int:  # noqa: N802
        """Change the maximum memory (KiB)."""
        self._o.set_max_memory(memory)
        return 0

    def setMemory(self, memory: int) -> int:  # noqa: N802
        """Change the live memory (KiB)."""
        self._o.set_memory(memory, DomainModificationImpact.LIVE)
        return 0

    def setMemoryFlags(self, memory: int, flags: int = 0) -> int:  # noqa: N802
        """Change memory with VIR_DOMAIN_AFFECT_* / VIR_DOMAIN_MEM_MAXIMUM flags."""
        self._o.set_memory(memory, flags)
        return 0

    def setMemoryStatsPeriod(self, period: int, flags: int = 0) -> int:  # noqa: N802
        """Set the balloon statistics period."""
        self._o.set_memory_stats_period(period, flags)
        return 0

    def memoryStats(self) -> dict[str, int]:  # noqa: N802
        """Memory statistics by libvirt-python's names (actual, rss, ...)."""
        stats = self._o.memory_stats()
        return {MEMORY_STAT_NAMES.get(tag, str(tag)) if isinstance(tag, int) else tag: value
                for tag, value in stats.items()}

    def memoryParameters(self, flags: int = 0) -> TypedParams:  # noqa: N802
        """Memory tunables."""
        return dict(self._o.get_memory_parameters(flags))

    def setMemoryParameters(self, params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Set memory tunables (names the getter reports)."""
        self._o.set_memory_parameters(merge_for_set(self._o.get_memory_parameters(flags), params), flags)
        return 0

    def memoryPeek(self, start: int, size: int, flags: int = 0) -> bytes:  # noqa: N802
        """Read guest memory."""
        return self._o.memory_peek(start, size, flags)

    # -- vCPUs -------------------------------------------------------------------------------------------------------

    def maxVcpus(self) -> int:  # noqa: N802
        """The guest's maximum vCPU count."""
        return self._o.get_max_vcpus()

    def vcpusFlags(self, flags: int = 0) -> int:  # noqa: N802
        """The current or maximum vCPU count."""
        return self._o.get_vcpus_flags(flags)

    def setVcpus(self, nvcpus: int) -> int:  # noqa: N802
        """Change the live vCPU count."""
        self._o.set_vcpus(nvcpus, DomainModificationImpact.LIVE)
        return 0

    def setVcpusFlags(self, nvcpus: int, flags: int = 0) -> int:  # noqa: N802
        """Change the vCPU count with VIR_DOMAIN_AFFECT_* / VIR_DOMAIN_VCPU_* flags."""
        self._o.set_vcpus(nvcpus, flags)
        return 0

    def setVcpu(self, vcpumap: str, state: int, flags: int = 0) -> int:  # noqa: N802
        """Enable or disable individual vCPUs."""
        self._o.set_vcpu(vcpumap, state, flags)
        return 0

    def vcpus(self) -> tuple[list[tuple[int, int, int, int]], list[tuple[bool, ...]]]:
        """([(number, state, cpuTime, cpu), ...], [affinity per vCPU, ...])."""
        infos, maps = self._o.get_vcpus()
        return [tuple(info) for info in infos], [_bools(cpumap) for cpumap in maps]

    def pinVcpu(self, vcpu: int, cpumap: Sequence[bool]) -> int:  # noqa: N802
        """Pin a vCPU (the legacy call: current state, no impact flags)."""
        self._o.pin_vcpu(vcpu, cpumap, DomainModificationImpact.CURRENT)
        return 0

    def pinVcpuFlags(self, vcpu: int, cpumap: Sequence[bool], flags: int = 0) -> int:  # noqa: N802
        """Pin a vCPU with VIR_DOMAIN_AFFECT_* flags."""
        self._o.pin_vcpu(vcpu, cpumap, flags)
        return 0

    def vcpuPinInfo(self, flags: int = 0) -> list[tuple[bool, ...]]:  # noqa: N802
        """The affinity of the current vCPUs (libvirt-python asks for as many maps as info() counts vCPUs)."""
        count = self._o.get_info().nr_virt_cpu
        return [_bools(cpumap) for cpumap in self._o.get_vcpu_pin_info(flags)[:count]]

    def pinEmulator(self, cpumap: Sequence[bool], flags: int = 0) -> int:  # noqa: N802
        """Pin the emulator threads."""
        self._o.pin_emulator(cpumap, flags)
        return 0

    def emulatorPinInfo(self, flags: int = 0) -> tuple[bool, ...]:  # noqa: N802
        """The emulator threads' affinity."""
        return _bools(self._o.get_emulator_pin_info(flags))

    def ioThreadInfo(self, flags: int = 0) -> list[tuple[int, list[bool]]]:  # noqa: N802
        """IOThreads as (id, affinity)."""
        return [(int(iothread), list(_bools(cpumap))) for iothread, cpumap in self._o.get_io_thread_info(flags)]

    def pinIOThread(self, iothread_val: int, cpumap: Sequence[bool], flags: int = 0) -> int:  # noqa: N802
        """Pin an IOThread."""
        self._o.pin_io_thread(iothread_val, cpumap, flags)
        return 0

    def addIOThread(self, iothread_id: int, flags: int = 0) -> int:  # noqa: N802
        """Add an IOThread."""
        self._o.add_io_thread(iothread_id, flags)
        return 0

    def delIOThread(self, iothread_id: int, flags: int = 0) -> int:  # noqa: N802
        """Remove an IOThread."""
        self._o.del_io_thread(iothread_id, flags)
        return 0

    def setIOThreadParams(self, iothread_val: int, params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Tune an IOThread."""
        self._o.set_io_thread_params(iothread_val, params, flags)
        return 0

    def guestVcpus(self, flags: int = 0) -> Optional[TypedParams]:  # noqa: N802
        """The guest agent's view of vCPUs; None on failure, as libvirt-python returns."""
        try:
            return dict(self._o.get_guest_vcpus(flags))
        except VirtError as error:
            raise_for(error)  # reported, but libvirt-python returns None here instead of raising
            return None

    def setGuestVcpus(self, cpumap: str, state: int, flags: int = 0) -> int:  # noqa: N802
        """Online or offline vCPUs inside the guest."""
        self._o.set_guest_vcpus(cpumap, state, flags)
        return 0

    # -- tuning ------------------------------------------------------------------------------------------------------

    def schedulerType(self) -> list[Any]:  # noqa: N802
        """[scheduler name, number of parameters]."""
        return list(self._o.get_scheduler_type())

    def schedulerParameters(self) -> TypedParams:  # noqa: N802
        """Scheduler parameters (legacy call)."""
        return dict(self._o.get_scheduler_parameters_legacy())

    def schedulerParametersFlags(self, flags: int = 0) -> TypedParams:  # noqa: N802
        """Scheduler parameters with VIR_DOMAIN_AFFECT_* flags."""
        return dict(self._o.get_scheduler_parameters(flags))

    def setSchedulerParameters(self, params: TypedParams) -> int:  # noqa: N802
        """Set scheduler parameters (legacy call; names the getter reports)."""
        self._o.set_scheduler_parameters(merge_for_set(self._o.get_scheduler_parameters_legacy(), params), 0)
        return 0

    def setSchedulerParametersFlags(self, params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Set scheduler parameters with VIR_DOMAIN_AFFECT_* flags."""
        self._o.set_scheduler_parameters(merge_for_set(self._o.get_scheduler_parameters(flags), params), flags)
        return 0

    def blkioParameters(self, flags: int = 0) -> TypedParams:  # noqa: N802
        """Block I/O tunables."""
        return dict(self._o.get_blkio_parameters(flags))

    def setBlkioParameters(self, params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Set block I/O tunables."""
        self._o.set_blkio_parameters(merge_for_set(self._o.get_blkio_parameters(flags), params), flags)
        return 0

    def numaParameters(self, flags: int = 0) -> TypedParams:  # noqa: N802
        """NUMA tunables."""
        return dict(self._o.get_numa_parameters(flags))

    def setNumaParameters(self, params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Set NUMA tunables."""
        self._o.set_numa_parameters(merge_for_set(self._o.get_numa_parameters(flags), params), flags)
        return 0

    def interfaceParameters(self, device: str, flags: int = 0) -> TypedParams:  # noqa: N802
        """Bandwidth parameters of one NIC."""
        return dict(self._o.get_interface_parameters(device, flags))

    def setInterfaceParameters(self, device: str, params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Set bandwidth parameters of one NIC."""
        current = self._o.get_interface_parameters(device, flags)
        self._o.set_interface_parameters(device, merge_for_set(current, params), flags)
        return 0

    def blockIoTune(self, disk: Optional[str], flags: int = 0) -> TypedParams:  # noqa: N802
        """I/O throttling of one disk."""
        return dict(self._o.get_block_io_tune(disk, flags))

    def setBlockIoTune(self, disk: str, params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Set I/O throttling of one disk."""
        current = self._o.get_block_io_tune(disk, flags)
        self._o.set_block_io_tune(disk, merge_for_set(current, params), flags)
        return 0

    def perfEvents(self, flags: int = 0) -> TypedParams:  # noqa: N802
        """Enabled perf events."""
        return dict(self._o.get_perf_events(flags))

    def setPerfEvents(self, params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Enable or disable perf events."""
        self._o.set_perf_events(merge_for_set(self._o.get_perf_events(flags), params), flags)
        return 0

    def launchSecurityInfo(self, flags: int = 0) -> TypedParams:  # noqa: N802
        """Launch security measurement."""
        return dict(self._o.get_launch_security_info(flags))

    def setLaunchSecurityState(self, params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Inject a launch secret."""
        self._o.set_launch_security_state(params, flags)
        return 0

    # -- statistics --------------------------------------------------------------------------------------------------

    def blockStats(self, path: str) -> tuple[int, ...]:  # noqa: N802
        """(rd_req, rd_bytes, wr_req, wr_bytes, errs) of one disk."""
        return tuple(self._o.block_stats(path))

    def blockStatsFlags(self, path: str, flags: int = 0) -> TypedParams:  # noqa: N802
        """Block counters as typed parameters."""
        return dict(self._o.block_stats_flags(path, flags))

    def interfaceStats(self, path: str) -> tuple[int, ...]:  # noqa: N802
        """(rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes, tx_packets, tx_errs, tx_drop)."""
        return tuple(self._o.interface_stats(path))

    def blockInfo(self, path: str, flags: int = 0) -> list[int]:  # noqa: N802
        """[capacity, allocation, physical] in bytes."""
        return list(self._o.get_block_info(path, flags))

    def getCPUStats(self, total: bool, flags: int = 0) -> list[TypedParams]:  # noqa: N802
        """CPU usage: a one-element list with the totals, or one dict per host CPU."""
        return [dict(stats) for stats in self._o.get_cpu_stats(total=bool(total), flags=flags)]

    def diskErrors(self, flags: int = 0) -> dict[str, int]:  # noqa: N802
        """Disks with I/O errors."""
        return dict(self._o.get_disk_errors(flags))

    def startDirtyRateCalc(self, seconds: int, flags: int = 0) -> int:  # noqa: N802
        """Start a dirty-rate measurement."""
        self._o.start_dirty_rate_calc(seconds, flags)
        return 0

    # -- block devices and jobs --------------------------------------------------------------------------------------

    def blockPeek(self, disk: str, offset: int, size: int, flags: int = 0) -> bytes:  # noqa: N802
        """Read raw bytes of a disk."""
        return self._o.block_peek(disk, offset, size, flags)

    def blockResize(self, disk: str, size: int, flags: int = 0) -> int:  # noqa: N802
        """Resize a disk."""
        self._o.block_resize(disk, size, flags)
        return 0

    def setBlockThreshold(self, dev: str, threshold: int, flags: int = 0) -> int:  # noqa: N802
        """Arm the block-threshold event."""
        self._o.set_block_threshold(dev, threshold, flags)
        return 0

    def blockJobAbort(self, disk: str, flags: int = 0) -> int:  # noqa: N802
        """Cancel or pivot a block job."""
        self._o.block_job_abort(disk, flags)
        return 0

    def blockJobInfo(self, path: str, flags: int = 0) -> dict[str, int]:  # noqa: N802
        """Progress of a block job ({} when there is none)."""
        return dict(self._o.get_block_job_info(path, flags))

    def blockJobSetSpeed(self, disk: str, bandwidth: int, flags: int = 0) -> int:  # noqa: N802
        """Throttle a block job."""
        self._o.block_job_set_speed(disk, bandwidth, flags)
        return 0

    def blockPull(self, disk: str, bandwidth: int = 0, flags: int = 0) -> int:  # noqa: N802
        """Start a pull job."""
        self._o.block_pull(disk, bandwidth, flags)
        return 0

    def blockRebase(self, disk: str, base: Optional[str], bandwidth: int = 0, flags: int = 0) -> int:  # noqa: N802
        """Start a rebase or copy job."""
        self._o.block_rebase(disk, base, bandwidth, flags)
        return 0

    def blockCopy(self, disk: str, destxml: str, params: Optional[TypedParams] = None,  # noqa: N802
                  flags: int = 0) -> int:
        """Start a copy job."""
        self._o.block_copy(disk, destxml, params, flags)
        return 0

    def blockCommit(self, disk: str, base: Optional[str], top: Optional[str], bandwidth: int = 0,  # noqa: N802
                    flags: int = 0) -> int:
        """Start a commit job."""
        self._o.block_commit(disk, base, top, bandwidth, flags)
        return 0

    def jobInfo(self) -> list[int]:  # noqa: N802
        """The twelve fields of virDomainGetJobInfo."""
        return list(self._o.get_job_info())

    def jobStats(self, flags: int = 0) -> dict[str, Any]:  # noqa: N802
        """Job statistics, with the job type under "type"."""
        job_type, stats = self._o.get_job_stats(flags)
        return {"type": int(job_type), **stats}

    def abortJob(self) -> int:  # noqa: N802
        """Abort the current job."""
        self._o.abort_job(0)
        return 0

    def abortJobFlags(self, flags: int = 0) -> int:  # noqa: N802
        """Abort the current job with flags."""
        self._o.abort_job(flags)
        return 0

    def backupBegin(self, backupXML: str, checkpointXML: Optional[str], flags: int = 0) -> int:  # noqa: N802,N803
        """Start a backup job."""
        self._o.backup_begin(backupXML, checkpointXML, flags)
        return 0

    def backupGetXMLDesc(self, flags: int = 0) -> str:  # noqa: N802
        """XML of the running backup job."""
        return self._o.backup_get_xml_desc(flags)

    # -- devices, consoles, graphics ---------------------------------------------------------------------------------

    def attachDevice(self, xml: str) -> int:  # noqa: N802
        """Attach a device to the running domain."""
        self._o.attach_device(xml, DomainModificationImpact.LIVE)
        return 0

    def attachDeviceFlags(self, xml: str, flags: int = 0) -> int:  # noqa: N802
        """Attach a device with VIR_DOMAIN_AFFECT_* flags."""
        self._o.attach_device(xml, flags)
        return 0

    def detachDevice(self, xml: str) -> int:  # noqa: N802
        """Detach a device from the running domain."""
        self._o.detach_device(xml, DomainModificationImpact.LIVE)
        return 0

    def detachDeviceFlags(self, xml: str, flags: int = 0) -> int:  # noqa: N802
        """Detach a device with VIR_DOMAIN_AFFECT_* flags."""
        self._o.detach_device(xml, flags)
        return 0

    def detachDeviceAlias(self, alias: str, flags: int = 0) -> int:  # noqa: N802
        """Detach a device by alias."""
        self._o.detach_device_alias(alias, flags)
        return 0

    def updateDeviceFlags(self, xml: str, flags: int = 0) -> int:  # noqa: N802
        """Modify a device."""
        self._o.update_device(xml, flags)
        return 0

    def screenshot(self, stream: Any, screen: int, flags: int = 0) -> str:
        """Send a screenshot to a stream; returns its MIME type."""
        return self._o.screenshot(_kernel_stream(stream), screen, flags)

    def openConsole(self, dev_name: Optional[str], st: Any, flags: int = 0) -> int:  # noqa: N802
        """Attach a stream to a console."""
        self._o.open_console(dev_name, _kernel_stream(st), flags)
        return 0

    def openChannel(self, name: Optional[str], st: Any, flags: int = 0) -> int:  # noqa: N802
        """Attach a stream to a channel."""
        self._o.open_channel(name, _kernel_stream(st), flags)
        return 0

    def openGraphics(self, idx: int, fd: int, flags: int = 0) -> int:  # noqa: N802
        """Connect a socket to the graphics server."""
        self._o.open_graphics(idx, fd, flags)
        return 0

    def openGraphicsFD(self, idx: int, flags: int = 0) -> int:  # noqa: N802
        """A socket connected to the graphics server."""
        return self._o.open_graphics_fd(idx, flags)

    def FDAssociate(self, name: str, files: list[int], flags: int = 0) -> int:  # noqa: N802
        """Associate file descriptors with the domain."""
        self._o.fd_associate(name, files, flags)
        return 0

    # -- guest agent -------------------------------------------------------------------------------------------------

    def getTime(self, flags: int = 0) -> dict[str, int]:  # noqa: N802
        """The guest clock as {"seconds": ..., "nseconds": ...}."""
        seconds, nseconds = self._o.get_time(flags)
        return {"seconds": int(seconds), "nseconds": int(nseconds)}

    def setTime(self, time: Optional[dict[str, int]] = None, flags: int = 0) -> int:  # noqa: N802
        """Set the guest clock from {"seconds": ..., "nseconds": ...}."""
        if not isinstance(time, dict):
            raise TypeError("setTime: time must be a dict with 'seconds' and optionally 'nseconds'")
        if "seconds" not in time:
            raise LookupError("Dictionary must contain 'seconds'")
        self._o.set_time(int(time["seconds"]), int(time.get("nseconds", 0)), flags)
        return 0

    def fsFreeze(self, mountpoints: Optional[list[str]] = None, flags: int = 0) -> int:  # noqa: N802
        """Freeze guest filesystems; returns how many."""
        return self._o.fs_freeze(mountpoints, flags)

    def fsThaw(self, mountpoints: Optional[list[str]] = None, flags: int = 0) -> int:  # noqa: N802
        """Thaw guest filesystems; returns how many."""
        return self._o.fs_thaw(mountpoints, flags)

    def fSTrim(self, mountPoint: Optional[str], minimum: int, flags: int = 0) -> int:  # noqa: N802,N803
        """Discard unused blocks in guest filesystems."""
        self._o.fs_trim(mountPoint, minimum, flags)
        return 0

    def fsInfo(self, flags: int = 0) -> list[tuple[str, str, str, list[str]]]:  # noqa: N802
        """Guest mount points as (mountpoint, name, fstype, [device aliases])."""
        return [(mount, name, fstype, list(devices)) for mount, name, fstype, devices in self._o.get_fs_info(flags)]

    def interfaceAddresses(self, source: int, flags: int = 0) -> dict[str, dict[str, Any]]:  # noqa: N802
        """{name: {"hwaddr": ..., "addrs": [{"type", "addr", "prefix"}, ...]}}."""
        result: dict[str, dict[str, Any]] = {}
        for iface in self._o.interface_addresses(source, flags):
            result[iface.name] = {
                "hwaddr": iface.hwaddr,
                "addrs": [{"type": int(kind), "addr": addr, "prefix": int(prefix)}
                          for kind, addr, prefix in iface.addrs],
            }
        return result

    def setUserPassword(self, user: str, password: str, flags: int = 0) -> int:  # noqa: N802
        """Change a guest user's password."""
        self._o.set_user_password(user, password, flags)
        return 0

    def guestInfo(self, types: int = 0, flags: int = 0) -> TypedParams:  # noqa: N802
        """Guest agent information."""
        return dict(self._o.get_guest_info(types, flags))

    def agentSetResponseTimeout(self, timeout: int, flags: int = 0) -> int:  # noqa: N802
        """Set the guest agent reply timeout."""
        self._o.agent_set_response_timeout(timeout, flags)
        return 0

    def authorizedSSHKeysGet(self, user: str, flags: int = 0) -> list[str]:  # noqa: N802
        """A guest user's authorized SSH keys."""
        return list(self._o.authorized_ssh_keys_get(user, flags))

    def authorizedSSHKeysSet(self, user: str, keys: Optional[list[str]] = None, flags: int = 0) -> int:  # noqa: N802
        """Replace, add or remove a guest user's authorized SSH keys."""
        self._o.authorized_ssh_keys_set(user, keys, flags)
        return 0

    # -- snapshots ---------------------------------------------------------------------------------------------------

    def snapshotCreateXML(self, xmlDesc: str, flags: int = 0) -> virDomainSnapshot:  # noqa: N802,N803
        """Create a snapshot."""
        return virDomainSnapshot(self, self._o.snapshot_create_xml(xmlDesc, flags))

    def snapshotCurrent(self, flags: int = 0) -> virDomainSnapshot:  # noqa: N802
        """The current snapshot."""
        return virDomainSnapshot(self, self._o.snapshot_current(flags))

    def snapshotLookupByName(self, name: str, flags: int = 0) -> virDomainSnapshot:  # noqa: N802
        """A snapshot by name."""
        return virDomainSnapshot(self, self._o.snapshot_lookup_by_name(name, flags))

    def listAllSnapshots(self, flags: int = 0) -> list[virDomainSnapshot]:  # noqa: N802
        """Snapshots matching VIR_DOMAIN_SNAPSHOT_LIST_* flags."""
        return [virDomainSnapshot(self, snap) for snap in self._o.list_all_snapshots(flags)]

    def snapshotListNames(self, flags: int = 0) -> list[str]:  # noqa: N802
        """Names of the snapshots matching the flags."""
        return list(self._o.snapshot_list_names(flags))

    def snapshotNum(self, flags: int = 0) -> int:  # noqa: N802
        """How many snapshots match the flags."""
        return self._o.snapshot_num(flags)

    def hasCurrentSnapshot(self, flags: int = 0) -> int:  # noqa: N802
        """1 when the domain has a current snapshot."""
        return int(self._o.has_current_snapshot(flags))

    def revertToSnapshot(self, snap: virDomainSnapshot, flags: int = 0) -> int:  # noqa: N802
        """Revert to a snapshot."""
        if not isinstance(snap, virDomainSnapshot):
            raise TypeError("revertToSnapshot: snap must be a virDomainSnapshot")
        self._o.revert_to_snapshot(snap._o, flags)
        return 0

    # -- migration ---------------------------------------------------------------------------------------------------

    def _kernel_migration(self, method: str, c_name: str) -> Any:
        function = getattr(self._o, method, None)
        if function is None:
            raise unsupported(c_name)
        return function

    @staticmethod
    def _destination(dconn: Any) -> Any:
        from .connection import virConnect
        if not isinstance(dconn, virConnect):
            raise TypeError("the destination must be a virConnect")
        return dconn._o

    def _wrap_migrated(self, dconn: Any, result: Any) -> Any:
        return virDomain(dconn, result) if isinstance(result, Domain) else result

    def migrate(self, dconn: Any, flags: int = 0, dname: Optional[str] = None, uri: Optional[str] = None,
                bandwidth: int = 0) -> "virDomain":
        """Migrate to the connection ``dconn``; returns the domain there."""
        function = self._kernel_migration("migrate", "virDomainMigrate")
        return self._wrap_migrated(dconn, function(self._destination(dconn), flags, dname, uri, bandwidth))

    def migrate2(self, dconn: Any, dxml: Optional[str] = None, flags: int = 0, dname: Optional[str] = None,
                 uri: Optional[str] = None, bandwidth: int = 0) -> "virDomain":
        """Migrate with replacement XML."""
        function = self._kernel_migration("migrate2", "virDomainMigrate2")
        return self._wrap_migrated(dconn, function(self._destination(dconn), dxml, flags, dname, uri, bandwidth))

    def migrate3(self, dconn: Any, params: TypedParams, flags: int = 0) -> "virDomain":
        """Migrate driven by typed parameters."""
        function = self._kernel_migration("migrate3", "virDomainMigrate3")
        return self._wrap_migrated(dconn, function(self._destination(dconn), params, flags))

    def migrateToURI(self, duri: str, flags: int = 0, dname: Optional[str] = None,  # noqa: N802
                     bandwidth: int = 0) -> int:
        """Peer-to-peer or direct migration to a URI."""
        self._kernel_migration("migrate_to_uri", "virDomainMigrateToURI")(duri, flags, dname, bandwidth)
        return 0

    def migrateToURI2(self, dconnuri: Optional[str] = None, miguri: Optional[str] = None,  # noqa: N802
                      dxml: Optional[str] = None, flags: int = 0, dname: Optional[str] = None,
                      bandwidth: int = 0) -> int:
        """Migration to a URI with replacement XML."""
        function = self._kernel_migration("migrate_to_uri2", "virDomainMigrateToURI2")
        function(dconnuri, miguri, dxml, flags, dname, bandwidth)
        return 0

    def migrateToURI3(self, dconnuri: Optional[str], params: TypedParams, flags: int = 0) -> int:  # noqa: N802
        """Migration to a URI driven by typed parameters."""
        self._kernel_migration("migrate_to_uri3", "virDomainMigrateToURI3")(dconnuri, params, flags)
        return 0

    def migrateSetMaxDowntime(self, downtime: int, flags: int = 0) -> int:  # noqa: N802
        """Set the tolerated pause at the end of a migration (ms)."""
        self._o.migrate_set_max_downtime(downtime, flags)
        return 0

    def migrateGetMaxDowntime(self, flags: int = 0) -> Optional[int]:  # noqa: N802
        """The tolerated pause (ms); None on failure, as libvirt-python returns."""
        try:
            return self._o.migrate_get_max_downtime(flags)
        except VirtError as error:
            raise_for(error)  # reported, but libvirt-python returns None here instead of raising
            return None

    def migrateSetCompressionCache(self, cacheSize: int, flags: int = 0) -> int:  # noqa: N802,N803
        """Set the compression cache size (bytes)."""
        self._o.migrate_set_compression_cache(cacheSize, flags)
        return 0

    def migrateGetCompressionCache(self, flags: int = 0) -> Optional[int]:  # noqa: N802
        """The compression cache size; None on failure, as libvirt-python returns."""
        try:
            return self._o.migrate_get_compression_cache(flags)
        except VirtError as error:
            raise_for(error)  # reported, but libvirt-python returns None here instead of raising
            return None

    def migrateSetMaxSpeed(self, bandwidth: int, flags: int = 0) -> int:  # noqa: N802
        """Set the migration bandwidth cap (MiB/s)."""
        self._o.migrate_set_max_speed(bandwidth, flags)
        return 0

    def migrateGetMaxSpeed(self, flags: int = 0) -> int:  # noqa: N802
        """The migration bandwidth cap (MiB/s)."""
        return self._o.migrate_get_max_speed(flags)

    def migrateStartPostCopy(self, flags: int = 0) -> int:  # noqa: N802
        """Switch a running migration to post-copy."""
        self._o.migrate_start_post_copy(flags)
        return 0


def _unsupported_method(python_name: str, c_name: str) -> Any:
    def method(self: Any, *_args: Any, **_kwargs: Any) -> Any:
        raise raise_for(unsupported(c_name))
    method.__name__ = python_name
    method.__doc__ = f"Not supported by virtkernel ({c_name}): raises libvirtError VIR_ERR_NO_SUPPORT."
    return method


for _python_name, _c_name in UNSUPPORTED_METHODS.items():
    setattr(virDomain, _python_name, _unsupported_method(_python_name, _c_name))
