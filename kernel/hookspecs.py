"""The whole driver table as pluggy hook specifications, grouped like a table of contents.

Driver operations are ``firstresult``: the call stops at the first non-None result. A driver implements the
ones it supports; the kernel turns a missing implementation into the "not supported by the connection driver"
error. Every hook takes keyword arguments, so a driver may accept a subset and new arguments can be added later.
Domain hooks receive ``dom``, the :class:`~virtkernel.types.DomainRef` the driver handed out.
Lifecycle hooks are called on every registered hook plugin at fixed points of a domain's life.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import pluggy

from .types import (BlockInfo, BlockStats, ControlInfo, DomainInfo, DomainRef, DomainStatsRecord,
                    InterfaceAddresses, InterfaceStats, JobInfo, MigrationResult, NodeInfo, SnapshotRef,
                    TypedParams, VcpuInfo)

PROJECT = "virtkernel"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

driver_op = hookspec(firstresult=True)


# --------------------------------------------------------------------------------------------------------------
# Connection
# --------------------------------------------------------------------------------------------------------------

@driver_op
def connect_open(context: Any) -> Optional[bool]:
    """Open the connection described by ``context`` (a DriverContext); raise VirtError to refuse. Stops at the first non-None result."""


@driver_op
def connect_close() -> Optional[bool]:
    """Release everything the connection holds. Stops at the first non-None result."""


@driver_op
def connect_get_type() -> Optional[str]:
    """The hypervisor type name, e.g. "QEMU", "LXC", "TEST". Stops at the first non-None result."""


@driver_op
def connect_get_version() -> Optional[int]:
    """The hypervisor version as major*1,000,000 + minor*1,000 + release. Stops at the first non-None result."""


@driver_op
def connect_get_hostname() -> Optional[str]:
    """The host's name. Stops at the first non-None result."""


@driver_op
def connect_get_uri() -> Optional[str]:
    """The canonical URI of this connection. Stops at the first non-None result."""


@driver_op
def connect_get_capabilities() -> Optional[str]:
    """The host capabilities XML. Stops at the first non-None result."""


@driver_op
def connect_get_sysinfo(flags: int) -> Optional[str]:
    """The host's SMBIOS-style sysinfo XML. Stops at the first non-None result."""


@driver_op
def connect_get_max_vcpus(type: Optional[str]) -> Optional[int]:
    """The largest vCPU count a guest of ``type`` may have. Stops at the first non-None result."""


@driver_op
def connect_is_alive() -> Optional[bool]:
    """Whether the connection still works. Stops at the first non-None result."""


@driver_op
def node_get_info() -> Optional[NodeInfo]:
    """Facts about the host's CPUs and memory. Stops at the first non-None result."""


@driver_op
def node_get_free_memory() -> Optional[int]:
    """Free host memory in bytes. Stops at the first non-None result."""


@driver_op
def connect_add_inhibitor(callback: Callable[[bool], None]) -> Optional[int]:
    """Call callback(True) while guests run on this host and callback(False) when none does. Stops at the first non-None result."""


@driver_op
def connect_remove_inhibitor(callback: Callable[[bool], None]) -> Optional[int]:
    """Stop calling an inhibit callback. Stops at the first non-None result."""


@driver_op
def node_get_security_model() -> Optional[tuple[str, str]]:
    """The host's security model and its DOI. Stops at the first non-None result."""


@driver_op
def node_get_cells_free_memory(start_cell: int, max_cells: int) -> Optional[list[int]]:
    """Free memory in bytes of NUMA cells start_cell.. (at most max_cells). Stops at the first non-None result."""


@driver_op
def node_get_cpu_map(flags: int) -> Optional[tuple[int, tuple[bool, ...], int]]:
    """(number of host CPUs, which are online, how many are online). Stops at the first non-None result."""


@driver_op
def connect_supports_feature(feature: int) -> Optional[bool]:
    """Whether the driver supports a DriverFeature (the capability probe); None counts as "no". Stops at the first non-None result."""


@driver_op
def connect_get_domain_capabilities(emulatorbin: Optional[str], arch: Optional[str], machine: Optional[str],
                                    virttype: Optional[str], flags: int) -> Optional[str]:
    """Domain capabilities XML for an emulator/arch/machine/virt-type combination. Stops at the first non-None result."""


@driver_op
def connect_domain_xml_from_native(native_format: str, native_config: str, flags: int) -> Optional[str]:
    """Convert a hypervisor-native configuration into domain XML. Stops at the first non-None result."""


@driver_op
def connect_domain_xml_to_native(native_format: str, domain_xml: str, flags: int) -> Optional[str]:
    """Convert domain XML into a hypervisor-native configuration. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Listing and lookup
# --------------------------------------------------------------------------------------------------------------

@driver_op
def connect_list_all_domains(flags: int) -> Optional[list[DomainRef]]:
    """All domains matching the CONNECT_LIST_DOMAINS_* filter flags. Stops at the first non-None result."""


@driver_op
def connect_list_domains() -> Optional[list[int]]:
    """IDs of the running domains. Stops at the first non-None result."""


@driver_op
def connect_num_of_domains() -> Optional[int]:
    """Number of running domains. Stops at the first non-None result."""


@driver_op
def connect_list_defined_domains() -> Optional[list[str]]:
    """Names of the inactive persistent domains. Stops at the first non-None result."""


@driver_op
def connect_num_of_defined_domains() -> Optional[int]:
    """Number of inactive persistent domains. Stops at the first non-None result."""


@driver_op
def domain_lookup_by_id(id: int) -> Optional[DomainRef]:
    """The running domain with this id; raise NoDomain when there is none. Stops at the first non-None result."""


@driver_op
def domain_lookup_by_uuid(uuid: str) -> Optional[DomainRef]:
    """The domain with this UUID (text form); raise NoDomain when there is none. Stops at the first non-None result."""


@driver_op
def domain_lookup_by_name(name: str) -> Optional[DomainRef]:
    """The domain with this name; raise NoDomain when there is none. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Lifecycle: define, create, start, stop
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_define_xml(xml: str, flags: int) -> Optional[DomainRef]:
    """Define (or redefine) a persistent domain from XML. Stops at the first non-None result."""


@driver_op
def domain_undefine(dom: DomainRef, flags: int) -> Optional[int]:
    """Remove a domain's persistent configuration. Stops at the first non-None result."""


@driver_op
def domain_create_xml(xml: str, flags: int, files: list[int]) -> Optional[DomainRef]:
    """Start a new transient domain from XML. Stops at the first non-None result."""


@driver_op
def domain_create(dom: DomainRef, flags: int, files: list[int]) -> Optional[int]:
    """Start a defined domain. Stops at the first non-None result."""


@driver_op
def domain_destroy(dom: DomainRef, flags: int) -> Optional[int]:
    """Stop a running domain at once. Stops at the first non-None result."""


@driver_op
def domain_shutdown(dom: DomainRef, flags: int) -> Optional[int]:
    """Ask the guest to power off. Stops at the first non-None result."""


@driver_op
def domain_reboot(dom: DomainRef, flags: int) -> Optional[int]:
    """Ask the guest to reboot. Stops at the first non-None result."""


@driver_op
def domain_reset(dom: DomainRef, flags: int) -> Optional[int]:
    """Reset the guest like a hardware reset. Stops at the first non-None result."""


@driver_op
def domain_suspend(dom: DomainRef) -> Optional[int]:
    """Pause every vCPU. Stops at the first non-None result."""


@driver_op
def domain_resume(dom: DomainRef) -> Optional[int]:
    """Unpause every vCPU. Stops at the first non-None result."""


@driver_op
def domain_pm_suspend_for_duration(dom: DomainRef, target: int, duration: int, flags: int) -> Optional[int]:
    """Power-management suspend of the guest. Stops at the first non-None result."""


@driver_op
def domain_pm_wakeup(dom: DomainRef, flags: int) -> Optional[int]:
    """Wake a PM-suspended guest. Stops at the first non-None result."""


@driver_op
def domain_get_autostart(dom: DomainRef) -> Optional[bool]:
    """Whether the domain starts with the host. Stops at the first non-None result."""


@driver_op
def domain_set_autostart(dom: DomainRef, autostart: bool) -> Optional[int]:
    """Change whether the domain starts with the host. Stops at the first non-None result."""


@driver_op
def domain_set_lifecycle_action(dom: DomainRef, type: int, action: int, flags: int) -> Optional[int]:
    """Change the on_poweroff / on_reboot / on_crash action. Stops at the first non-None result."""


@driver_op
def domain_rename(dom: DomainRef, new_name: str, flags: int) -> Optional[DomainRef]:
    """Rename an inactive domain and return its new reference. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Identity, state and XML
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_get_os_type(dom: DomainRef) -> Optional[str]:
    """The guest OS type ("hvm", "exe", ...). Stops at the first non-None result."""


@driver_op
def domain_get_info(dom: DomainRef) -> Optional[DomainInfo]:
    """State, memory, vCPUs and CPU time. Stops at the first non-None result."""


@driver_op
def domain_get_state(dom: DomainRef, flags: int) -> Optional[tuple[int, int]]:
    """The (state, reason) pair. Stops at the first non-None result."""


@driver_op
def domain_get_control_info(dom: DomainRef, flags: int) -> Optional[ControlInfo]:
    """State of the management channel to the domain. Stops at the first non-None result."""


@driver_op
def domain_is_active(dom: DomainRef) -> Optional[bool]:
    """Whether the domain is running. Stops at the first non-None result."""


@driver_op
def domain_is_persistent(dom: DomainRef) -> Optional[bool]:
    """Whether the domain has a persistent configuration. Stops at the first non-None result."""


@driver_op
def domain_is_updated(dom: DomainRef) -> Optional[bool]:
    """Whether the configuration changed since the domain started. Stops at the first non-None result."""


@driver_op
def domain_get_xml_desc(dom: DomainRef, flags: int) -> Optional[str]:
    """The domain XML (live, or inactive with XML_INACTIVE). Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Save, restore, managed save, core dump
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_save(dom: DomainRef, to: str, dxml: Optional[str], flags: int) -> Optional[int]:
    """Save the domain's memory to a file (absolute path) and stop it. Stops at the first non-None result."""


@driver_op
def domain_save_params(dom: DomainRef, params: TypedParams, flags: int) -> Optional[int]:
    """Save driven by typed parameters (no file = managed save). Stops at the first non-None result."""


@driver_op
def domain_restore(frm: str, dxml: Optional[str], flags: int) -> Optional[int]:
    """Restore a domain from a save image (absolute path). Stops at the first non-None result."""


@driver_op
def domain_restore_params(params: TypedParams, flags: int) -> Optional[int]:
    """Restore driven by typed parameters. Stops at the first non-None result."""


@driver_op
def domain_save_image_get_xml_desc(file: str, flags: int) -> Optional[str]:
    """The domain XML stored in a save image. Stops at the first non-None result."""


@driver_op
def domain_save_image_define_xml(file: str, dxml: str, flags: int) -> Optional[int]:
    """Replace the domain XML stored in a save image. Stops at the first non-None result."""


@driver_op
def domain_managed_save(dom: DomainRef, flags: int) -> Optional[int]:
    """Save to the driver-managed image; the next start resumes from it. Stops at the first non-None result."""


@driver_op
def domain_has_managed_save_image(dom: DomainRef, flags: int) -> Optional[bool]:
    """Whether a managed-save image exists. Stops at the first non-None result."""


@driver_op
def domain_managed_save_remove(dom: DomainRef, flags: int) -> Optional[int]:
    """Delete the managed-save image. Stops at the first non-None result."""


@driver_op
def domain_managed_save_get_xml_desc(dom: DomainRef, flags: int) -> Optional[str]:
    """The domain XML inside the managed-save image. Stops at the first non-None result."""


@driver_op
def domain_managed_save_define_xml(dom: DomainRef, dxml: Optional[str], flags: int) -> Optional[int]:
    """Replace the domain XML inside the managed-save image. Stops at the first non-None result."""


@driver_op
def domain_core_dump(dom: DomainRef, to: str, dumpformat: int, flags: int) -> Optional[int]:
    """Dump the guest's memory to a file (absolute path). Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_get_max_memory(dom: DomainRef) -> Optional[int]:
    """Maximum memory in KiB. Stops at the first non-None result."""


@driver_op
def domain_set_max_memory(dom: DomainRef, memory: int) -> Optional[int]:
    """Change maximum memory (KiB). Stops at the first non-None result."""


@driver_op
def domain_set_memory(dom: DomainRef, memory: int, flags: int) -> Optional[int]:
    """Change current (or with MEM_MAXIMUM maximum) memory in KiB, live and/or config. Stops at the first non-None result."""


@driver_op
def domain_set_memory_stats_period(dom: DomainRef, period: int, flags: int) -> Optional[int]:
    """Set the balloon statistics period in seconds (0 disables). Stops at the first non-None result."""


@driver_op
def domain_set_memory_parameters(dom: DomainRef, params: TypedParams, flags: int) -> Optional[int]:
    """Set memory tunables. Stops at the first non-None result."""


@driver_op
def domain_get_memory_parameters(dom: DomainRef, flags: int) -> Optional[TypedParams]:
    """Memory tunables. Stops at the first non-None result."""


@driver_op
def domain_memory_peek(dom: DomainRef, start: int, size: int, flags: int) -> Optional[bytes]:
    """Read guest memory. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# vCPUs, IOThreads, pinning
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_set_vcpus(dom: DomainRef, nvcpus: int, flags: int) -> Optional[int]:
    """Change the vCPU count (current or maximum, live and/or config). Stops at the first non-None result."""


@driver_op
def domain_get_vcpus_flags(dom: DomainRef, flags: int) -> Optional[int]:
    """The current or maximum vCPU count. Stops at the first non-None result."""


@driver_op
def domain_get_max_vcpus(dom: DomainRef) -> Optional[int]:
    """The maximum vCPU count of this guest. Stops at the first non-None result."""


@driver_op
def domain_get_vcpus(dom: DomainRef) -> Optional[tuple[list[VcpuInfo], list[tuple[bool, ...]]]]:
    """Per-vCPU info and each vCPU's host-CPU affinity. Stops at the first non-None result."""


@driver_op
def domain_set_vcpu(dom: DomainRef, vcpumap: str, state: int, flags: int) -> Optional[int]:
    """Enable or disable the vCPUs in a text bitmap. Stops at the first non-None result."""


@driver_op
def domain_pin_vcpu(dom: DomainRef, vcpu: int, cpumap: tuple[bool, ...], flags: int) -> Optional[int]:
    """Set the host-CPU affinity of one vCPU. Stops at the first non-None result."""


@driver_op
def domain_get_vcpu_pin_info(dom: DomainRef, flags: int) -> Optional[list[tuple[bool, ...]]]:
    """Affinity of every vCPU. Stops at the first non-None result."""


@driver_op
def domain_pin_emulator(dom: DomainRef, cpumap: tuple[bool, ...], flags: int) -> Optional[int]:
    """Set the affinity of the emulator threads. Stops at the first non-None result."""


@driver_op
def domain_get_emulator_pin_info(dom: DomainRef, flags: int) -> Optional[tuple[bool, ...]]:
    """Affinity of the emulator threads. Stops at the first non-None result."""


@driver_op
def domain_get_io_thread_info(dom: DomainRef, flags: int) -> Optional[list[tuple[int, tuple[bool, ...]]]]:
    """IOThreads as (id, affinity) pairs. Stops at the first non-None result."""


@driver_op
def domain_pin_io_thread(dom: DomainRef, iothread_id: int, cpumap: tuple[bool, ...], flags: int) -> Optional[int]:
    """Set the affinity of one IOThread. Stops at the first non-None result."""


@driver_op
def domain_add_io_thread(dom: DomainRef, iothread_id: int, flags: int) -> Optional[int]:
    """Add an IOThread. Stops at the first non-None result."""


@driver_op
def domain_del_io_thread(dom: DomainRef, iothread_id: int, flags: int) -> Optional[int]:
    """Remove an IOThread. Stops at the first non-None result."""


@driver_op
def domain_set_io_thread_params(dom: DomainRef, iothread_id: int, params: TypedParams, flags: int) -> Optional[int]:
    """Tune an IOThread. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Tuning: scheduler, blkio, NUMA, interface, block I/O, perf
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_get_scheduler_type(dom: DomainRef) -> Optional[tuple[str, int]]:
    """The scheduler's name and number of parameters. Stops at the first non-None result."""


@driver_op
def domain_get_scheduler_parameters(dom: DomainRef, flags: int) -> Optional[TypedParams]:
    """Scheduler parameters. Stops at the first non-None result."""


@driver_op
def domain_set_scheduler_parameters(dom: DomainRef, params: TypedParams, flags: int) -> Optional[int]:
    """Set scheduler parameters. Stops at the first non-None result."""


@driver_op
def domain_get_blkio_parameters(dom: DomainRef, flags: int) -> Optional[TypedParams]:
    """Block I/O tunables. Stops at the first non-None result."""


@driver_op
def domain_set_blkio_parameters(dom: DomainRef, params: TypedParams, flags: int) -> Optional[int]:
    """Set block I/O tunables. Stops at the first non-None result."""


@driver_op
def domain_get_numa_parameters(dom: DomainRef, flags: int) -> Optional[TypedParams]:
    """NUMA tunables. Stops at the first non-None result."""


@driver_op
def domain_set_numa_parameters(dom: DomainRef, params: TypedParams, flags: int) -> Optional[int]:
    """Set NUMA tunables. Stops at the first non-None result."""


@driver_op
def domain_get_interface_parameters(dom: DomainRef, device: str, flags: int) -> Optional[TypedParams]:
    """Bandwidth parameters of one NIC. Stops at the first non-None result."""


@driver_op
def domain_set_interface_parameters(dom: DomainRef, device: str, params: TypedParams, flags: int) -> Optional[int]:
    """Set bandwidth parameters of one NIC. Stops at the first non-None result."""


@driver_op
def domain_get_block_io_tune(dom: DomainRef, disk: Optional[str], flags: int) -> Optional[TypedParams]:
    """I/O throttling of one disk. Stops at the first non-None result."""


@driver_op
def domain_set_block_io_tune(dom: DomainRef, disk: str, params: TypedParams, flags: int) -> Optional[int]:
    """Set I/O throttling of one disk. Stops at the first non-None result."""


@driver_op
def domain_get_perf_events(dom: DomainRef, flags: int) -> Optional[TypedParams]:
    """Enabled perf events. Stops at the first non-None result."""


@driver_op
def domain_set_perf_events(dom: DomainRef, params: TypedParams, flags: int) -> Optional[int]:
    """Enable or disable perf events. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_block_stats(dom: DomainRef, disk: str) -> Optional[BlockStats]:
    """Fixed block counters of one disk. Stops at the first non-None result."""


@driver_op
def domain_block_stats_flags(dom: DomainRef, disk: str, flags: int) -> Optional[TypedParams]:
    """Block counters of one disk as typed parameters. Stops at the first non-None result."""


@driver_op
def domain_interface_stats(dom: DomainRef, device: str) -> Optional[InterfaceStats]:
    """Counters of one NIC. Stops at the first non-None result."""


@driver_op
def domain_memory_stats(dom: DomainRef, nr_stats: int, flags: int) -> Optional[dict[int, int]]:
    """Balloon/memory statistics as tag -> value. Stops at the first non-None result."""


@driver_op
def domain_get_cpu_stats(dom: DomainRef, start_cpu: int, ncpus: int, flags: int) -> Optional[list[TypedParams]]:
    """CPU usage per host CPU (or the total when start_cpu is -1). Stops at the first non-None result."""


@driver_op
def domain_get_disk_errors(dom: DomainRef, flags: int) -> Optional[dict[str, int]]:
    """Disks that hit I/O errors, with the error code. Stops at the first non-None result."""


@driver_op
def connect_get_all_domain_stats(doms: Optional[list[DomainRef]], stats: int, flags: int) -> Optional[list[DomainStatsRecord]]:
    """Bulk statistics for the given domains, or all domains matching the flags. Stops at the first non-None result."""


@driver_op
def domain_start_dirty_rate_calc(dom: DomainRef, seconds: int, flags: int) -> Optional[int]:
    """Start a memory dirty-rate measurement. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Block devices and block jobs
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_block_peek(dom: DomainRef, disk: str, offset: int, size: int, flags: int) -> Optional[bytes]:
    """Read raw bytes of a disk. Stops at the first non-None result."""


@driver_op
def domain_block_resize(dom: DomainRef, disk: str, size: int, flags: int) -> Optional[int]:
    """Grow or shrink a disk. Stops at the first non-None result."""


@driver_op
def domain_get_block_info(dom: DomainRef, disk: str, flags: int) -> Optional[BlockInfo]:
    """Capacity, allocation and physical size of a disk. Stops at the first non-None result."""


@driver_op
def domain_set_block_threshold(dom: DomainRef, dev: str, threshold: int, flags: int) -> Optional[int]:
    """Arm the block-threshold event for a disk. Stops at the first non-None result."""


@driver_op
def domain_block_job_abort(dom: DomainRef, disk: str, flags: int) -> Optional[int]:
    """Cancel (or pivot) the disk's block job. Stops at the first non-None result."""


@driver_op
def domain_get_block_job_info(dom: DomainRef, disk: str, flags: int) -> Optional[dict[str, int]]:
    """Progress of the disk's block job ({} when there is none). Stops at the first non-None result."""


@driver_op
def domain_block_job_set_speed(dom: DomainRef, disk: str, bandwidth: int, flags: int) -> Optional[int]:
    """Throttle a running block job. Stops at the first non-None result."""


@driver_op
def domain_block_pull(dom: DomainRef, disk: str, bandwidth: int, flags: int) -> Optional[int]:
    """Start a pull job. Stops at the first non-None result."""


@driver_op
def domain_block_rebase(dom: DomainRef, disk: str, base: Optional[str], bandwidth: int, flags: int) -> Optional[int]:
    """Pull up to a base, or copy the chain to a new file. Stops at the first non-None result."""


@driver_op
def domain_block_copy(dom: DomainRef, disk: str, destxml: str, params: TypedParams, flags: int) -> Optional[int]:
    """Start a copy job to a destination described by XML. Stops at the first non-None result."""


@driver_op
def domain_block_commit(dom: DomainRef, disk: str, base: Optional[str], top: Optional[str], bandwidth: int,
                        flags: int) -> Optional[int]:
    """Start a commit job. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Devices, consoles, graphics, input
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_attach_device(dom: DomainRef, xml: str, flags: int) -> Optional[int]:
    """Attach a device (live and/or config). Stops at the first non-None result."""


@driver_op
def domain_detach_device(dom: DomainRef, xml: str, flags: int) -> Optional[int]:
    """Detach a device (live and/or config). Stops at the first non-None result."""


@driver_op
def domain_update_device(dom: DomainRef, xml: str, flags: int) -> Optional[int]:
    """Modify a device (media change, link state, ...). Stops at the first non-None result."""


@driver_op
def domain_detach_device_alias(dom: DomainRef, alias: str, flags: int) -> Optional[int]:
    """Detach a device by alias, asynchronously. Stops at the first non-None result."""


@driver_op
def domain_screenshot(dom: DomainRef, stream: Any, screen: int, flags: int) -> Optional[str]:
    """Send a screenshot to a stream; return its MIME type. Stops at the first non-None result."""


@driver_op
def domain_open_console(dom: DomainRef, dev_name: Optional[str], stream: Any, flags: int) -> Optional[int]:
    """Attach a stream to a console device. Stops at the first non-None result."""


@driver_op
def domain_open_channel(dom: DomainRef, name: Optional[str], stream: Any, flags: int) -> Optional[int]:
    """Attach a stream to a channel device. Stops at the first non-None result."""


@driver_op
def domain_open_graphics(dom: DomainRef, idx: int, fd: int, flags: int) -> Optional[int]:
    """Connect a socket fd to the graphics server. Stops at the first non-None result."""


@driver_op
def domain_open_graphics_fd(dom: DomainRef, idx: int, flags: int) -> Optional[int]:
    """Return one end of a socket pair connected to the graphics server. Stops at the first non-None result."""


@driver_op
def domain_graphics_reload(dom: DomainRef, type: int, flags: int) -> Optional[int]:
    """Reload graphics (e.g. TLS certificates). Stops at the first non-None result."""


@driver_op
def domain_send_key(dom: DomainRef, codeset: int, holdtime: int, keycodes: list[int], flags: int) -> Optional[int]:
    """Inject key presses. Stops at the first non-None result."""


@driver_op
def domain_inject_nmi(dom: DomainRef, flags: int) -> Optional[int]:
    """Send an NMI. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------------------

@driver_op
def connect_domain_event_register(callback: Callable[..., Any], opaque: Any) -> Optional[int]:
    """Register a legacy lifecycle callback. Stops at the first non-None result."""


@driver_op
def connect_domain_event_deregister(callback: Callable[..., Any]) -> Optional[int]:
    """Remove a legacy lifecycle callback. Stops at the first non-None result."""


@driver_op
def connect_domain_event_register_any(dom: Optional[DomainRef], event_id: int, callback: Callable[..., Any],
                                      opaque: Any) -> Optional[int]:
    """Register a callback for one event id, optionally for one domain; return its id. Stops at the first non-None result."""


@driver_op
def connect_domain_event_deregister_any(callback_id: int) -> Optional[int]:
    """Remove a callback by id. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Jobs and backup
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_get_job_info(dom: DomainRef) -> Optional[JobInfo]:
    """Progress of the current job as a fixed struct. Stops at the first non-None result."""


@driver_op
def domain_get_job_stats(dom: DomainRef, flags: int) -> Optional[tuple[int, TypedParams]]:
    """(job type, statistics) of the current or last completed job. Stops at the first non-None result."""


@driver_op
def domain_abort_job(dom: DomainRef, flags: int) -> Optional[int]:
    """Abort the current job. Stops at the first non-None result."""


@driver_op
def domain_backup_begin(dom: DomainRef, backup_xml: str, checkpoint_xml: Optional[str], flags: int) -> Optional[int]:
    """Start a backup job. Stops at the first non-None result."""


@driver_op
def domain_backup_get_xml_desc(dom: DomainRef, flags: int) -> Optional[str]:
    """XML of the active backup job. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Migration tunables
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_migrate_set_max_downtime(dom: DomainRef, downtime: int, flags: int) -> Optional[int]:
    """Set the tolerated pause (ms) at the end of a live migration. Stops at the first non-None result."""


@driver_op
def domain_migrate_get_max_downtime(dom: DomainRef, flags: int) -> Optional[int]:
    """The tolerated pause (ms). Stops at the first non-None result."""


@driver_op
def domain_migrate_set_compression_cache(dom: DomainRef, cache_size: int, flags: int) -> Optional[int]:
    """Set the compression cache size in bytes. Stops at the first non-None result."""


@driver_op
def domain_migrate_get_compression_cache(dom: DomainRef, flags: int) -> Optional[int]:
    """The compression cache size in bytes. Stops at the first non-None result."""


@driver_op
def domain_migrate_set_max_speed(dom: DomainRef, bandwidth: int, flags: int) -> Optional[int]:
    """Set the bandwidth cap in MiB/s (post-copy cap with MIGRATE_MAX_SPEED_POSTCOPY). Stops at the first non-None result."""


@driver_op
def domain_migrate_get_max_speed(dom: DomainRef, flags: int) -> Optional[int]:
    """The bandwidth cap in MiB/s. Stops at the first non-None result."""


@driver_op
def domain_migrate_start_post_copy(dom: DomainRef, flags: int) -> Optional[int]:
    """Switch a running migration to post-copy. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Migration phases (called by the kernel's migration logic, never by users directly)
# --------------------------------------------------------------------------------------------------------------

@driver_op
def connect_get_migration_cookie_features() -> Optional[int]:
    """The migration cookie features (a CookieFeature flag set) this host understands. Stops at the first non-None result."""


@driver_op
def connect_supports_migration_storage_fallback(domain: str, side: str) -> Optional[bool]:
    """Whether this host copies the domain's non-shared disks inside the migration stream when side ('source'/'destination') lacks NBD; may raise its refusal instead of answering False. Stops at the first non-None result."""


@driver_op
def domain_migrate_prepare(uri_in: Optional[str], flags: int, dname: Optional[str], bandwidth: int) -> Optional[MigrationResult]:
    """v1 destination Prepare: cookie and uri_out. Stops at the first non-None result."""


@driver_op
def domain_migrate_perform(dom: DomainRef, cookie: Optional[bytes], uri: Optional[str], flags: int,
                           dname: Optional[str], bandwidth: int) -> Optional[int]:
    """v1/v2 source Perform. Stops at the first non-None result."""


@driver_op
def domain_migrate_finish(dname: str, cookie: Optional[bytes], uri: Optional[str], flags: int) -> Optional[DomainRef]:
    """v1 destination Finish. Stops at the first non-None result."""


@driver_op
def domain_migrate_prepare2(uri_in: Optional[str], flags: int, dname: Optional[str], bandwidth: int,
                            dom_xml: str) -> Optional[MigrationResult]:
    """v2 destination Prepare with the domain XML. Stops at the first non-None result."""


@driver_op
def domain_migrate_finish2(dname: str, cookie: Optional[bytes], uri: Optional[str], flags: int,
                           retcode: int) -> Optional[MigrationResult]:
    """v2 destination Finish; MigrationResult.domain is None when cancelled. Stops at the first non-None result."""


@driver_op
def domain_migrate_prepare_tunnel(stream: Any, flags: int, dname: Optional[str], bandwidth: int,
                                  dom_xml: str) -> Optional[int]:
    """v2 tunnelled destination Prepare. Stops at the first non-None result."""


@driver_op
def domain_migrate_begin3(dom: DomainRef, xmlin: Optional[str], flags: int, dname: Optional[str],
                          bandwidth: int) -> Optional[MigrationResult]:
    """v3 source Begin: the XML for the destination and a cookie. Stops at the first non-None result."""


@driver_op
def domain_migrate_prepare3(cookiein: Optional[bytes], uri_in: Optional[str], flags: int, dname: Optional[str],
                            bandwidth: int, dom_xml: str) -> Optional[MigrationResult]:
    """v3 destination Prepare: cookie and uri_out. Stops at the first non-None result."""


@driver_op
def domain_migrate_prepare_tunnel3(stream: Any, cookiein: Optional[bytes], flags: int, dname: Optional[str],
                                   bandwidth: int, dom_xml: str) -> Optional[MigrationResult]:
    """v3 tunnelled destination Prepare. Stops at the first non-None result."""


@driver_op
def domain_migrate_perform3(dom: DomainRef, xmlin: Optional[str], cookiein: Optional[bytes],
                            dconnuri: Optional[str], uri: Optional[str], flags: int, dname: Optional[str],
                            bandwidth: int) -> Optional[MigrationResult]:
    """v3 source Perform. Stops at the first non-None result."""


@driver_op
def domain_migrate_finish3(dname: str, cookiein: Optional[bytes], dconnuri: Optional[str], uri: Optional[str],
                           flags: int, cancelled: bool) -> Optional[MigrationResult]:
    """v3 destination Finish; MigrationResult.domain is None when the guest did not arrive. Stops at the first non-None result."""


@driver_op
def domain_migrate_confirm3(dom: DomainRef, cookiein: Optional[bytes], flags: int, cancelled: bool) -> Optional[int]:
    """v3 source Confirm: kill the source copy, or resume it when cancelled. Stops at the first non-None result."""


@driver_op
def domain_migrate_begin3_params(dom: DomainRef, params: TypedParams, flags: int) -> Optional[MigrationResult]:
    """v3-params source Begin. Stops at the first non-None result."""


@driver_op
def domain_migrate_prepare3_params(params: TypedParams, cookiein: Optional[bytes], flags: int) -> Optional[MigrationResult]:
    """v3-params destination Prepare. Stops at the first non-None result."""


@driver_op
def domain_migrate_prepare_tunnel3_params(stream: Any, params: TypedParams, cookiein: Optional[bytes],
                                          flags: int) -> Optional[MigrationResult]:
    """v3-params tunnelled destination Prepare. Stops at the first non-None result."""


@driver_op
def domain_migrate_perform3_params(dom: DomainRef, dconnuri: Optional[str], params: TypedParams,
                                   cookiein: Optional[bytes], flags: int) -> Optional[MigrationResult]:
    """v3-params source Perform. Stops at the first non-None result."""


@driver_op
def domain_migrate_finish3_params(params: TypedParams, cookiein: Optional[bytes], flags: int,
                                  cancelled: bool) -> Optional[MigrationResult]:
    """v3-params destination Finish. Stops at the first non-None result."""


@driver_op
def domain_migrate_confirm3_params(dom: DomainRef, params: TypedParams, cookiein: Optional[bytes], flags: int,
                                   cancelled: bool) -> Optional[int]:
    """v3-params source Confirm. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Guest agent, guest filesystems, guest-side info
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_fs_trim(dom: DomainRef, mount_point: Optional[str], minimum: int, flags: int) -> Optional[int]:
    """Discard unused blocks in guest filesystems. Stops at the first non-None result."""


@driver_op
def domain_fs_freeze(dom: DomainRef, mountpoints: Optional[list[str]], flags: int) -> Optional[int]:
    """Freeze guest filesystems; return how many. Stops at the first non-None result."""


@driver_op
def domain_fs_thaw(dom: DomainRef, mountpoints: Optional[list[str]], flags: int) -> Optional[int]:
    """Thaw guest filesystems; return how many. Stops at the first non-None result."""


@driver_op
def domain_get_fs_info(dom: DomainRef, flags: int) -> Optional[list[tuple[str, str, str, list[str]]]]:
    """Guest mount points as (mountpoint, name, fstype, device aliases). Stops at the first non-None result."""


@driver_op
def domain_get_time(dom: DomainRef, flags: int) -> Optional[tuple[int, int]]:
    """The guest clock as (seconds, nanoseconds). Stops at the first non-None result."""


@driver_op
def domain_set_time(dom: DomainRef, seconds: int, nseconds: int, flags: int) -> Optional[int]:
    """Set the guest clock. Stops at the first non-None result."""


@driver_op
def domain_set_user_password(dom: DomainRef, user: str, password: str, flags: int) -> Optional[int]:
    """Change a guest user's password. Stops at the first non-None result."""


@driver_op
def domain_get_hostname(dom: DomainRef, flags: int) -> Optional[str]:
    """The guest's hostname. Stops at the first non-None result."""


@driver_op
def domain_interface_addresses(dom: DomainRef, source: int, flags: int) -> Optional[list[InterfaceAddresses]]:
    """Guest NICs with their addresses. Stops at the first non-None result."""


@driver_op
def domain_get_guest_vcpus(dom: DomainRef, flags: int) -> Optional[TypedParams]:
    """The guest agent's view of vCPUs. Stops at the first non-None result."""


@driver_op
def domain_set_guest_vcpus(dom: DomainRef, cpumap: str, state: int, flags: int) -> Optional[int]:
    """Online or offline vCPUs inside the guest. Stops at the first non-None result."""


@driver_op
def domain_get_guest_info(dom: DomainRef, types: int, flags: int) -> Optional[TypedParams]:
    """Guest agent information groups. Stops at the first non-None result."""


@driver_op
def domain_agent_set_response_timeout(dom: DomainRef, timeout: int, flags: int) -> Optional[int]:
    """Set the guest agent reply timeout. Stops at the first non-None result."""


@driver_op
def domain_authorized_ssh_keys_get(dom: DomainRef, user: str, flags: int) -> Optional[list[str]]:
    """A guest user's authorized SSH keys. Stops at the first non-None result."""


@driver_op
def domain_authorized_ssh_keys_set(dom: DomainRef, user: str, keys: Optional[list[str]], flags: int) -> Optional[int]:
    """Replace, append or remove a guest user's authorized SSH keys. Stops at the first non-None result."""


@driver_op
def domain_send_process_signal(dom: DomainRef, pid_value: int, signum: int, flags: int) -> Optional[int]:
    """Signal a process inside the guest. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Metadata, security, messages, fd association
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_set_metadata(dom: DomainRef, type: int, metadata: Optional[str], key: Optional[str],
                        uri: Optional[str], flags: int) -> Optional[int]:
    """Set or remove the title, description or a namespaced element. Stops at the first non-None result."""


@driver_op
def domain_get_metadata(dom: DomainRef, type: int, uri: Optional[str], flags: int) -> Optional[str]:
    """The title, description or a namespaced element. Stops at the first non-None result."""


@driver_op
def domain_get_security_label(dom: DomainRef) -> Optional[tuple[str, bool]]:
    """The primary security label and whether it is enforced. Stops at the first non-None result."""


@driver_op
def domain_get_security_label_list(dom: DomainRef) -> Optional[list[tuple[str, bool]]]:
    """All security labels. Stops at the first non-None result."""


@driver_op
def domain_get_launch_security_info(dom: DomainRef, flags: int) -> Optional[TypedParams]:
    """Launch measurement and related facts. Stops at the first non-None result."""


@driver_op
def domain_set_launch_security_state(dom: DomainRef, params: TypedParams, flags: int) -> Optional[int]:
    """Inject a launch secret. Stops at the first non-None result."""


@driver_op
def domain_get_messages(dom: DomainRef, flags: int) -> Optional[list[str]]:
    """Tainting and deprecation messages. Stops at the first non-None result."""


@driver_op
def domain_fd_associate(dom: DomainRef, name: str, fds: list[int], flags: int) -> Optional[int]:
    """Associate a named group of fds with the domain. Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Snapshots
# --------------------------------------------------------------------------------------------------------------

@driver_op
def domain_snapshot_create_xml(dom: DomainRef, xml: str, flags: int) -> Optional[SnapshotRef]:
    """Create a snapshot from snapshot XML. Stops at the first non-None result."""


@driver_op
def domain_list_all_snapshots(dom: DomainRef, flags: int) -> Optional[list[SnapshotRef]]:
    """Snapshots of the domain matching the flags. Stops at the first non-None result."""


@driver_op
def domain_snapshot_lookup_by_name(dom: DomainRef, name: str, flags: int) -> Optional[SnapshotRef]:
    """A snapshot by name. Stops at the first non-None result."""


@driver_op
def domain_has_current_snapshot(dom: DomainRef, flags: int) -> Optional[bool]:
    """Whether the domain has a current snapshot. Stops at the first non-None result."""


@driver_op
def domain_snapshot_current(dom: DomainRef, flags: int) -> Optional[SnapshotRef]:
    """The current snapshot. Stops at the first non-None result."""


@driver_op
def domain_snapshot_get_xml_desc(snapshot: SnapshotRef, flags: int) -> Optional[str]:
    """A snapshot's XML. Stops at the first non-None result."""


@driver_op
def domain_snapshot_get_parent(snapshot: SnapshotRef, flags: int) -> Optional[SnapshotRef]:
    """A snapshot's parent. Stops at the first non-None result."""


@driver_op
def domain_snapshot_list_all_children(snapshot: SnapshotRef, flags: int) -> Optional[list[SnapshotRef]]:
    """A snapshot's children (descendants with SNAPSHOT_LIST_DESCENDANTS). Stops at the first non-None result."""


@driver_op
def domain_snapshot_is_current(snapshot: SnapshotRef, flags: int) -> Optional[bool]:
    """Whether the snapshot is the current one. Stops at the first non-None result."""


@driver_op
def domain_snapshot_has_metadata(snapshot: SnapshotRef, flags: int) -> Optional[bool]:
    """Whether the snapshot has metadata. Stops at the first non-None result."""


@driver_op
def domain_revert_to_snapshot(snapshot: SnapshotRef, flags: int) -> Optional[int]:
    """Revert the domain to a snapshot. Stops at the first non-None result."""


@driver_op
def domain_snapshot_delete(snapshot: SnapshotRef, flags: int) -> Optional[int]:
    """Delete a snapshot (and its children with SNAPSHOT_DELETE_CHILDREN). Stops at the first non-None result."""


# --------------------------------------------------------------------------------------------------------------
# Lifecycle hooks: called on every hook plugin, in registration order
# --------------------------------------------------------------------------------------------------------------

@hookspec
def domain_hook_prepare(event: Any) -> None:
    """Before anything of a start is done (event: a DomainHookEvent); raise to abort the start."""


@hookspec
def domain_hook_start(event: Any) -> None:
    """When the guest's resources are ready, just before it runs; raise to abort the start."""


@hookspec
def domain_hook_started(event: Any) -> None:
    """After the guest started running."""


@hookspec
def domain_hook_stopped(event: Any) -> None:
    """After the guest stopped; failures are logged and do not stop the teardown."""


@hookspec
def domain_hook_release(event: Any) -> None:
    """After the guest's resources were released; failures are logged and do not stop the teardown."""


@hookspec
def domain_hook_migrate(event: Any) -> Optional[str]:
    """On the destination before an incoming guest is prepared; may return replacement domain XML, raise to refuse."""


@hookspec
def domain_hook_restore(event: Any) -> Optional[str]:
    """Before a saved image is started; may return replacement domain XML, raise to refuse."""


@hookspec
def domain_hook_reconnect(event: Any) -> None:
    """When a driver picks up a running guest after a restart."""


@hookspec
def domain_hook_attach(event: Any) -> None:
    """When a guest started outside virtkernel is taken over."""


@hookspec
def daemon_hook_start(event: Any) -> None:
    """When the process hosting the drivers starts."""


@hookspec
def daemon_hook_shutdown(event: Any) -> None:
    """When the process hosting the drivers shuts down."""


@hookspec
def daemon_hook_reload(event: Any) -> None:
    """When the process hosting the drivers reloads its configuration."""
