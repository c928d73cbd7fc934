"""The smaller entry points libvirt's test driver also answers: node facts, IOThreads, perf events, block I/O
tuning, lifecycle actions, and guest-side calls (filesystems, memory peek, keys, signals, passwords)."""

from __future__ import annotations

from typing import Optional

from virtkernel import hookimpl
from virtkernel.enums import (DomainLifecycle, DomainLifecycleAction, DomainMemoryFlags,
                              DomainModificationImpact as Impact, ErrorCode, ErrorDomain)
from virtkernel.errors import VirtError
from virtkernel.types import DomainRef, TypedParams

from .base import DriverBase, check_flags, exclusive_live_config, test_error
from .resources import CPU_MAP_CPUS, TYPED_PARAM_STRING_OKAY, _impact
from .statistics import MOUNT_POINTS

SECURITY_MODEL = ("testSecurity", "")
PERF_EVENTS = ("cmt", "mbmt", "mbml", "cpu_cycles", "instructions", "cache_references", "cache_misses",
               "branch_instructions", "branch_misses", "bus_cycles", "stalled_cycles_frontend",
               "stalled_cycles_backend", "ref_cpu_cycles", "cpu_clock", "task_clock", "page_faults",
               "context_switches", "cpu_migrations", "page_faults_min", "page_faults_maj", "alignment_faults",
               "emulation_faults")
BLOCK_IO_TUNE_KEYS = ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec", "read_iops_sec",
                      "write_iops_sec", "total_bytes_sec_max", "read_bytes_sec_max", "write_bytes_sec_max",
                      "total_iops_sec_max", "read_iops_sec_max", "write_iops_sec_max", "size_iops_sec",
                      "group_name", "total_bytes_sec_max_length", "read_bytes_sec_max_length",
                      "write_bytes_sec_max_length", "total_iops_sec_max_length", "read_iops_sec_max_length",
                      "write_iops_sec_max_length")
_LIFECYCLE_TAGS = {DomainLifecycle.POWEROFF: "on_poweroff", DomainLifecycle.REBOOT: "on_reboot",
                   DomainLifecycle.CRASH: "on_crash"}
_ACTION_WORDS = {DomainLifecycleAction.DESTROY: "destroy", DomainLifecycleAction.RESTART: "restart",
                 DomainLifecycleAction.RESTART_RENAME: "rename-restart", DomainLifecycleAction.PRESERVE: "preserve",
                 DomainLifecycleAction.COREDUMP_DESTROY: "coredump-destroy",
                 DomainLifecycleAction.COREDUMP_RESTART: "coredump-restart"}
MAX_SIGNAL = 65


class ExtraOps(DriverBase):
    """Node facts and the less common domain calls."""

    # -- node -------------------------------------------------------------------------------------------------

    @hookimpl
    def node_get_security_model(self) -> tuple[str, str]:
        return SECURITY_MODEL

    @hookimpl
    def node_get_cells_free_memory(self, start_cell: int, max_cells: int) -> list[int]:
        cells = self.host.node.cells
        if start_cell < 0 or (cells and start_cell >= len(cells)) or (not cells and start_cell > 0):
            raise test_error(ErrorCode.INVALID_ARG, f"Range exceeds available cells (start {start_cell}, "
                                                    f"{len(cells)} cells)")
        if not cells:
            return [self.host.node.memory_kib]
        # libvirt's test driver reports each cell's memory figure (KiB) as its free memory.
        return [cell.memory_kib for cell in cells[start_cell:start_cell + max_cells]]

    @hookimpl
    def node_get_cpu_map(self, flags: int) -> tuple[int, tuple[bool, ...], int]:
        check_flags(flags, 0, "testNodeGetCPUMap")
        online = (True, False, True, False, True, False, False, False)
        return CPU_MAP_CPUS, online, sum(online)

    # -- lifecycle actions ------------------------------------------------------------------------------------

    @hookimpl
    def domain_set_lifecycle_action(self, dom: DomainRef, type: int, action: int, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainSetLifecycleAction")
        word = _ACTION_WORDS.get(action)
        if word is None or (type != DomainLifecycle.CRASH and word.startswith("coredump")):
            raise VirtError(f"lifecycle action '{action}' is not allowed for event type {type}",
                            code=ErrorCode.OPERATION_UNSUPPORTED, domain=ErrorDomain.TEST)
        with self.host.lock:
            guest = self.guest(dom)
            live, config = _impact(guest, flags)
            targets = ([guest.live_for_change()] if live else []) + ([guest.config_for_change()] if config else [])
            for target in targets:
                node = target.root.find(_LIFECYCLE_TAGS[DomainLifecycle(type)])
                node.text = word
                target.changed()
            return 0

    # -- IOThreads --------------------------------------------------------------------------------------------

    def _iothreads(self, dom: DomainRef, flags: int) -> list[dict[int, Optional[tuple[bool, ...]]]]:
        guest = self.guest(dom)
        live, config = _impact(guest, flags)
        return ([guest.tunables(True).iothreads] if live else []) + ([guest.config_tunables.iothreads] if config
                                                                      else [])

    @hookimpl
    def domain_get_io_thread_info(self, dom: DomainRef, flags: int) -> list[tuple[int, tuple[bool, ...]]]:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainGetIOThreadInfo")
        exclusive_live_config(flags)
        guest = self.guest(dom)
        table = self._iothreads(dom, flags)[0]
        vcpus = min(guest.current.vcpus, CPU_MAP_CPUS)
        default = (True,) * vcpus + (False,) * (CPU_MAP_CPUS - vcpus)
        return [(number, pin if pin is not None else default) for number, pin in sorted(table.items())]

    @hookimpl
    def domain_add_io_thread(self, dom: DomainRef, iothread_id: int, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainAddIOThread")
        if iothread_id <= 0:
            raise test_error(ErrorCode.INVALID_ARG, f"invalid value of {iothread_id} for iothread_id")
        with self.host.lock:
            tables = self._iothreads(dom, flags)
            for table in tables:
                if iothread_id in table:
                    raise VirtError(f"an IOThread is already using iothread_id '{iothread_id}'",
                                    code=ErrorCode.INVALID_ARG, domain=ErrorDomain.DOMAIN)
            for table in tables:
                table[iothread_id] = None
            return 0

    @hookimpl
    def domain_del_io_thread(self, dom: DomainRef, iothread_id: int, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainDelIOThread")
        with self.host.lock:
            tables = self._iothreads(dom, flags)
            for table in tables:
                if iothread_id not in table:
                    raise VirtError(f"cannot find IOThread '{iothread_id}' in iothreadids list",
                                    code=ErrorCode.INVALID_ARG, domain=ErrorDomain.DOMAIN)
            for table in tables:
                del table[iothread_id]
            return 0

    @hookimpl
    def domain_pin_io_thread(self, dom: DomainRef, iothread_id: int, cpumap: tuple[bool, ...], flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainPinIOThread")
        pin = tuple(cpumap[:CPU_MAP_CPUS]) + (False,) * (CPU_MAP_CPUS - len(cpumap))
        with self.host.lock:
            tables = self._iothreads(dom, flags)
            for table in tables:
                if iothread_id not in table:
                    raise test_error(ErrorCode.INVALID_ARG, f"iothreadid {iothread_id} not found")
            for table in tables:
                table[iothread_id] = pin
            return 0

    @hookimpl
    def domain_set_io_thread_params(self, dom: DomainRef, iothread_id: int, params: TypedParams, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainSetIOThreadParams")
        with self.host.lock:
            for table in self._iothreads(dom, flags):
                if iothread_id not in table:
                    raise test_error(ErrorCode.INVALID_ARG, f"iothreadid {iothread_id} not found")
            return 0

    # -- perf events and block I/O tuning ---------------------------------------------------------------------

    @hookimpl
    def domain_get_perf_events(self, dom: DomainRef, flags: int) -> TypedParams:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainGetPerfEvents")
        guest = self.guest(dom)
        live, _config = _impact(guest, flags, one=True)
        enabled = guest.tunables(True).perf if live else guest.config_tunables.perf
        return {name: name in enabled for name in PERF_EVENTS}

    @hookimpl
    def domain_set_perf_events(self, dom: DomainRef, params: TypedParams, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainSetPerfEvents")
        unknown = sorted(set(params) - set(PERF_EVENTS))
        if unknown:
            raise test_error(ErrorCode.INVALID_ARG, f"unknown perf event '{unknown[0]}'")
        with self.host.lock:
            guest = self.guest(dom)
            live, config = _impact(guest, flags)
            for tunables in ([guest.tunables(True)] if live else []) + ([guest.config_tunables] if config else []):
                for name, value in params.items():
                    if value:
                        tunables.perf.add(name)
                    else:
                        tunables.perf.discard(name)
            return 0

    def _disk_key(self, dom: DomainRef, disk: str, live: bool) -> str:
        guest = self.guest(dom)
        definition = guest.live if live else guest.config
        element = definition.find_disk(disk) if definition is not None else None
        if element is None:
            raise test_error(ErrorCode.INVALID_ARG, f"disk '{disk}' was not found in the domain config")
        return element.find("target").get("dev")

    @hookimpl
    def domain_get_block_io_tune(self, dom: DomainRef, disk: Optional[str], flags: int) -> TypedParams:
        check_flags(flags & ~TYPED_PARAM_STRING_OKAY, Impact.LIVE | Impact.CONFIG, "testDomainGetBlockIoTune")
        guest = self.guest(dom)
        live, _config = _impact(guest, flags & (Impact.LIVE | Impact.CONFIG), one=True)
        key = self._disk_key(dom, disk or "", live)
        values = (guest.tunables(True) if live else guest.config_tunables).block_io.get(key, {})
        return {name: values.get(name, "" if name == "group_name" else 0) for name in BLOCK_IO_TUNE_KEYS}

    @hookimpl
    def domain_set_block_io_tune(self, dom: DomainRef, disk: str, params: TypedParams, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainSetBlockIoTune")
        unknown = sorted(set(params) - set(BLOCK_IO_TUNE_KEYS))
        if unknown:
            raise test_error(ErrorCode.INVALID_ARG, f"unknown block I/O tuning parameter '{unknown[0]}'")
        with self.host.lock:
            guest = self.guest(dom)
            live, config = _impact(guest, flags)
            for is_live in ([True] if live else []) + ([False] if config else []):
                key = self._disk_key(dom, disk, is_live)
                table = (guest.tunables(True) if is_live else guest.config_tunables).block_io
                values = dict(table.get(key, {}))
                values.update(params)
                for base in ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec",
                             "read_iops_sec", "write_iops_sec"):
                    limit = values.get(f"{base}_max", 0)
                    if limit and values.get(base, 0) > limit:
                        raise test_error(ErrorCode.INVALID_ARG, f"{base} cannot be set higher than {base}_max")
                table[key] = values
            return 0

    # -- guest-side calls -------------------------------------------------------------------------------------

    @hookimpl
    def domain_get_fs_info(self, dom: DomainRef, flags: int) -> list[tuple[str, str, str, list[str]]]:
        check_flags(flags, 0, "testDomainGetFSInfo")
        guest = self.active_guest(dom)
        disks = [t.get("dev") for d in guest.current.devices("disk") if (t := d.find("target")) is not None]
        first = disks[0] if disks else "vda"
        return [(mount, f"{first}{index}", "ext4", [first]) for index, mount in enumerate(MOUNT_POINTS, start=1)]

    @hookimpl
    def domain_fs_trim(self, dom: DomainRef, mount_point: Optional[str], minimum: int, flags: int) -> int:
        check_flags(flags, 0, "testDomainFSTrim")
        self.active_guest(dom)
        if mount_point is not None and mount_point not in MOUNT_POINTS:
            raise test_error(ErrorCode.OPERATION_INVALID, f"mount point not found: {mount_point}")
        return 0

    @hookimpl
    def domain_get_guest_vcpus(self, dom: DomainRef, flags: int) -> TypedParams:
        check_flags(flags, 0, "testDomainGetGuestVcpus")
        self.guest(dom)
        return {}

    @hookimpl
    def domain_set_user_password(self, dom: DomainRef, user: str, password: str, flags: int) -> int:
        check_flags(flags, 1, "testDomainSetUserPassword")
        self.active_guest(dom)
        return 0

    @hookimpl
    def domain_memory_peek(self, dom: DomainRef, start: int, size: int, flags: int) -> bytes:
        check_flags(flags, DomainMemoryFlags.VIRTUAL | DomainMemoryFlags.PHYSICAL, "testDomainMemoryPeek")
        self.active_guest(dom)
        if not flags & (DomainMemoryFlags.VIRTUAL | DomainMemoryFlags.PHYSICAL):
            raise test_error(ErrorCode.INVALID_ARG, "flags parameter must be VIR_MEMORY_VIRTUAL or VIR_MEMORY_PHYSICAL")
        return bytes((start + i) & 0xFF for i in range(size))

    @hookimpl
    def domain_get_disk_errors(self, dom: DomainRef, flags: int) -> dict[str, int]:
        check_flags(flags, 0, "testDomainGetDiskErrors")
        guest = self.active_guest(dom)
        # libvirt's test driver reports an unspecified error on every disk.
        return {t.get("dev"): 1 for d in guest.current.devices("disk") if (t := d.find("target")) is not None}

    @hookimpl
    def domain_get_messages(self, dom: DomainRef, flags: int) -> list[str]:
        check_flags(flags, 3, "testDomainGetMessages")
        self.guest(dom)
        return []

    @hookimpl
    def domain_send_process_signal(self, dom: DomainRef, pid_value: int, signum: int, flags: int) -> int:
        check_flags(flags, 0, "testDomainSendProcessSignal")
        if not 0 <= signum < MAX_SIGNAL:
            raise test_error(ErrorCode.INVALID_ARG, f"signum value {signum} is out of range")
        self.guest(dom)
        return 0

    @hookimpl
    def domain_inject_nmi(self, dom: DomainRef, flags: int) -> int:
        check_flags(flags, 0, "testDomainInjectNMI")
        self.active_guest(dom)
        return 0

    @hookimpl
    def domain_send_key(self, dom: DomainRef, codeset: int, holdtime: int, keycodes: list[int], flags: int) -> int:
        check_flags(flags, 0, "testDomainSendKey")
        self.active_guest(dom)
        return 0

