"""Listing and lookup, node facts, statistics, guest-agent style queries and jobs of the test driver."""

from __future__ import annotations

import os
import time
from typing import Optional

from virtkernel import hookimpl
from virtkernel.enums import (ConnectGetAllDomainStatsFlags as StatsFlags, ConnectListDomainsFlags as ListFlags,
                              DomainInterfaceAddressesSource as AddrSource, DomainMemoryStatTags as Mem, DomainState, DomainStatsTypes,
                              ErrorCode, ErrorDomain)
from virtkernel.errors import NoDomain, VirtError
from virtkernel.features import DriverFeature
from virtkernel.listing import matches_list_filters
from virtkernel.types import (BlockInfo, BlockStats, DomainRef, DomainStatsRecord, InterfaceAddresses,
                              InterfaceStats, NodeInfo, TypedParams)

from .base import DriverBase, check_flags, test_error
from .guest import Guest
from .host import SYSINFO_XML
from .resources import MAX_VCPUS, TYPED_PARAM_STRING_OKAY

GUEST_HOSTNAME = "testhost"
GUEST_TIME = (627319920, 0)
MOUNT_POINTS = ("/", "/boot")
DISK_CAPACITY = 1099506450432
DISK_ALLOCATION = 1099511627776
_ALL_LIST_FLAGS = 0
for _flag in ListFlags:
    _ALL_LIST_FLAGS |= int(_flag)
_STATS_FILTERS = (StatsFlags.ACTIVE | StatsFlags.INACTIVE | StatsFlags.PERSISTENT | StatsFlags.TRANSIENT
                  | StatsFlags.RUNNING | StatsFlags.PAUSED | StatsFlags.SHUTOFF | StatsFlags.OTHER)
_SUPPORTED_STATS = int(DomainStatsTypes.STATE)


def _matches(guest: Guest, flags: int) -> bool:
    """Whether a guest passes the CONNECT_LIST_DOMAINS_* filter groups set in ``flags`` (no checkpoints here)."""
    return matches_list_filters(flags, active=guest.id >= 0, persistent=guest.config is not None,
                                state=lambda: guest.state, managed_save=lambda: guest.managed_save is not None,
                                autostart=lambda: guest.autostart, has_snapshot=lambda: guest.has_snapshots)


CPU_STATS_TOTAL = {"cpu_time": 48772617035, "user_time": 5540000000, "system_time": 6460000000}
"""getCPUStats totals as libvirt's test driver reports them for every domain (ns)."""
CPU_STATS_PER_CPU = (24386308517, 23151740627)
"""Per-CPU cpu_time and vcpu_time of host CPU 0 (CPU i reports them plus i), as libvirt's test driver does."""


def _clock() -> tuple[int, int]:
    """The wall clock in microseconds and in seconds: the base of libvirt's fake I/O counters."""
    now_us = time.time_ns() // 1000
    return now_us, now_us // 1_000_000


def _block_counters() -> BlockStats:
    """Ever increasing fake disk counters, with libvirt's test driver's formula."""
    base, seconds = _clock()
    return BlockStats(base // 10, base // 20, base // 30, base // 40, seconds // 2)


def _interface_counters() -> InterfaceStats:
    """Ever increasing fake NIC counters, with libvirt's test driver's formula."""
    base, seconds = _clock()
    return InterfaceStats(base // 10, base // 100, seconds, seconds // 2, base // 20, base // 110, seconds // 3,
                          seconds // 4)


class QueryOps(DriverBase):
    """Everything that looks at a host or guest without changing it (plus fs freeze and time)."""

    # -- connection and node ----------------------------------------------------------------------------------

    @hookimpl
    def connect_get_type(self) -> str:
        return "TEST"

    @hookimpl
    def connect_get_version(self) -> int:
        return 2

    @hookimpl
    def connect_get_capabilities(self) -> str:
        return self.host.capabilities

    @hookimpl
    def connect_get_sysinfo(self, flags: int) -> str:
        check_flags(flags, 0, "testConnectGetSysinfo")
        return SYSINFO_XML

    @hookimpl
    def connect_get_max_vcpus(self, type: Optional[str]) -> int:
        return MAX_VCPUS

    @hookimpl
    def connect_is_alive(self) -> bool:
        return True

    @hookimpl
    def connect_supports_feature(self, feature: int) -> bool:
        try:
            return DriverFeature(feature) in self.host.features
        except ValueError:
            return False

    @hookimpl
    def node_get_info(self) -> NodeInfo:
        node = self.host.node
        return NodeInfo(node.model, node.memory_kib, node.cpus, node.mhz, node.nodes, node.sockets, node.cores,
                        node.threads)

    @hookimpl
    def node_get_free_memory(self) -> int:
        # libvirt's test driver reports the node memory figure (in KiB) here; we keep its number.
        return self.host.node.memory_kib

    # -- listing and lookup -----------------------------------------------------------------------------------

    @hookimpl
    def connect_list_all_domains(self, flags: int) -> list[DomainRef]:
        check_flags(flags, _ALL_LIST_FLAGS, "testConnectListAllDomains")
        guests = self.host.by_uuid.values()
        if not flags:
            return [g.ref for g in guests]
        return [g.ref for g in guests if _matches(g, flags)]

    @hookimpl
    def connect_list_domains(self) -> list[int]:
        return sorted(self.host.by_id)

    @hookimpl
    def connect_num_of_domains(self) -> int:
        return len(self.host.by_id)

    @hookimpl
    def connect_list_defined_domains(self) -> list[str]:
        return [g.name for g in self.host.by_uuid.values() if g.id < 0]

    @hookimpl
    def connect_num_of_defined_domains(self) -> int:
        return len(self.host.by_uuid) - len(self.host.by_id)

    @hookimpl
    def domain_lookup_by_id(self, id: int) -> DomainRef:
        guest = self.host.by_id.get(id)
        if guest is None:
            raise NoDomain(f"no domain with matching id {id}", code=ErrorCode.NO_DOMAIN, domain=ErrorDomain.TEST)
        return guest.ref

    @hookimpl
    def domain_lookup_by_uuid(self, uuid: str) -> DomainRef:
        guest = self.host.by_uuid.get(uuid)
        if guest is None:
            raise NoDomain(f"no domain with matching uuid '{uuid}'", code=ErrorCode.NO_DOMAIN,
                           domain=ErrorDomain.TEST)
        return guest.ref

    @hookimpl
    def domain_lookup_by_name(self, name: str) -> DomainRef:
        return self.host.by_name_or_fail(name).ref

    # -- statistics -------------------------------------------------------------------------------------------

    @hookimpl
    def connect_get_all_domain_stats(self, doms: Optional[list[DomainRef]], stats: int,
                                     flags: int) -> list[DomainStatsRecord]:
        check_flags(flags, _STATS_FILTERS | StatsFlags.NOWAIT | StatsFlags.BACKING | StatsFlags.ENFORCE_STATS,
                    "testConnectGetAllDomainStats")
        if flags & StatsFlags.ENFORCE_STATS and stats & ~_SUPPORTED_STATS:
            raise test_error(ErrorCode.ARGUMENT_UNSUPPORTED, f"Stats types bits 0x{stats & ~_SUPPORTED_STATS:x} "
                                                             f"are not supported by this daemon")
        want_state = not stats or stats & DomainStatsTypes.STATE
        host = self.host
        if doms is None:
            guests = list(host.by_uuid.values())
        else:
            guests = [g for g in (host.by_uuid.get(d.uuid) for d in doms) if g is not None]
        filters = flags & _STATS_FILTERS
        records = []
        for guest in guests:
            if filters and not _matches(guest, filters):
                continue
            params = {"state.state": int(guest.state), "state.reason": guest.reason} if want_state else {}
            records.append(DomainStatsRecord(guest.ref, params))
        return records

    @hookimpl
    def domain_block_stats(self, dom: DomainRef, disk: str) -> BlockStats:
        guest = self.active_guest(dom)
        self._disk(guest, disk)
        return _block_counters()

    def _disk(self, guest: Guest, path: str) -> None:
        if path == "":
            raise test_error(ErrorCode.OPERATION_UNSUPPORTED, "summary statistics are not supported yet")
        if guest.current.find_disk(path) is None:
            raise test_error(ErrorCode.INVALID_ARG, f"invalid path: {path}")

    @hookimpl
    def domain_get_block_info(self, dom: DomainRef, disk: str, flags: int) -> BlockInfo:
        check_flags(flags, 0, "testDomainGetBlockInfo")
        guest = self.guest(dom)
        if guest.current.find_disk(disk) is None:
            raise test_error(ErrorCode.INVALID_ARG, f"invalid path {disk} not assigned to domain")
        return BlockInfo(DISK_CAPACITY, DISK_ALLOCATION, DISK_ALLOCATION)

    @hookimpl
    def domain_interface_stats(self, dom: DomainRef, device: str) -> InterfaceStats:
        guest = self.active_guest(dom)
        if guest.current.find_interface(device) is None:
            raise VirtError(f"'{device}' is not a known interface", code=ErrorCode.INVALID_ARG,
                            domain=ErrorDomain.DOMAIN)
        return _interface_counters()

    @hookimpl
    def domain_memory_stats(self, dom: DomainRef, nr_stats: int, flags: int) -> dict[int, int]:
        check_flags(flags, 0, "testDomainMemoryStats")
        guest = self.active_guest(dom)
        if not any(b.get("model") != "none" for b in guest.current.devices("memballoon")):
            return {}  # libvirt's test driver reports nothing without a balloon device
        current = guest.current.current_memory
        return {Mem.ACTUAL_BALLOON: current, Mem.SWAP_IN: 0, Mem.SWAP_OUT: 0, Mem.MAJOR_FAULT: 0,
                Mem.MINOR_FAULT: 0, Mem.UNUSED: current // 2, Mem.AVAILABLE: current, Mem.USABLE: current // 2,
                Mem.LAST_UPDATE: GUEST_TIME[0], Mem.DISK_CACHES: current // 8, Mem.HUGETLB_PGALLOC: 0,
                Mem.HUGETLB_PGFAIL: 0, Mem.RSS: current // 2}

    @hookimpl
    def domain_get_cpu_stats(self, dom: DomainRef, start_cpu: int, ncpus: int, flags: int) -> list[TypedParams]:
        check_flags(flags & ~TYPED_PARAM_STRING_OKAY, 0, "testDomainGetCPUStats")
        self.active_guest(dom)
        # libvirt's test driver answers the same fixed figures for every domain, one entry per host CPU
        if start_cpu == -1:
            return [dict(CPU_STATS_TOTAL)]
        cpus = self._stats_cpus()
        end = cpus if ncpus < 0 else min(cpus, start_cpu + ncpus)
        return [{"cpu_time": CPU_STATS_PER_CPU[0] + i, "vcpu_time": CPU_STATS_PER_CPU[1] + i}
                for i in range(start_cpu, end)]

    def _stats_cpus(self) -> int:
        """Host CPUs in per-CPU statistics: a host file's CPU count; for test:///default, this machine's (libvirt)."""
        if self.host.path is None:
            return os.cpu_count() or 1
        return self.host.node.cpus

    # -- guest-agent style queries ----------------------------------------------------------------------------

    @hookimpl
    def domain_get_hostname(self, dom: DomainRef, flags: int) -> str:
        check_flags(flags, 3, "testDomainGetHostname")
        self.active_guest(dom)
        return GUEST_HOSTNAME

    @hookimpl
    def domain_get_time(self, dom: DomainRef, flags: int) -> tuple[int, int]:
        check_flags(flags, 0, "testDomainGetTime")
        guest = self.guest(dom)
        if guest.state != DomainState.RUNNING:
            raise test_error(ErrorCode.OPERATION_INVALID, "domain is not running")
        return GUEST_TIME

    @hookimpl
    def domain_set_time(self, dom: DomainRef, seconds: int, nseconds: int, flags: int) -> int:
        check_flags(flags, 1, "testDomainSetTime")
        self.active_guest(dom)
        return 0

    def _mounts(self, mountpoints: Optional[list[str]]) -> list[str]:
        if not mountpoints:
            return list(MOUNT_POINTS)
        for mount in mountpoints:
            if mount not in MOUNT_POINTS:
                raise VirtError(f"mount point not found: {mount}", code=ErrorCode.OPERATION_INVALID,
                                domain=ErrorDomain.TEST)
        return list(dict.fromkeys(mountpoints))

    @hookimpl
    def domain_fs_freeze(self, dom: DomainRef, mountpoints: Optional[list[str]], flags: int) -> int:
        check_flags(flags, 0, "testDomainFSFreeze")
        with self.host.lock:
            guest = self.active_guest(dom)
            mounts = self._mounts(mountpoints)
            guest.frozen_mounts = set(guest.frozen_mounts) | set(mounts)
            return len(mounts)

    @hookimpl
    def domain_fs_thaw(self, dom: DomainRef, mountpoints: Optional[list[str]], flags: int) -> int:
        check_flags(flags, 0, "testDomainFSThaw")
        with self.host.lock:
            guest = self.active_guest(dom)
            mounts = [m for m in self._mounts(mountpoints) if m in guest.frozen_mounts]
            guest.frozen_mounts = set(guest.frozen_mounts) - set(mounts)
            return len(mounts)

    @hookimpl
    def domain_interface_addresses(self, dom: DomainRef, source: int, flags: int) -> list[InterfaceAddresses]:
        check_flags(flags, 0, "testDomainInterfaceAddresses")
        if source not in (AddrSource.LEASE, AddrSource.AGENT, AddrSource.ARP):
            raise test_error(ErrorCode.ARGUMENT_UNSUPPORTED, f"Unknown IP address data source {source}")
        guest = self.active_guest(dom)
        result = []
        for index, nic in enumerate(guest.current.devices("interface")):
            target = nic.find("target")
            mac = nic.find("mac")
            name = target.get("dev") if target is not None else f"testnet{index}"
            result.append(InterfaceAddresses(name, mac.get("address") if mac is not None else None,
                                             [(0, f"192.168.122.{3 + index}", 24)]))
        return result
