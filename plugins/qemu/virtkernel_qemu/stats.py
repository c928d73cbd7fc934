"""Statistics of running guests from QMP and /proc: block, interface, memory, and libvirt's bulk-stats keys."""

from __future__ import annotations

import os
from typing import Any, Optional

from virtkernel.enums import DomainMemoryStatTags as Mem, DomainStatsTypes as Stats, ErrorCode, ErrorDomain
from virtkernel.errors import InvalidArg, OperationInvalid
from virtkernel.types import BlockInfo, BlockStats, InterfaceStats, TypedParams

from . import tuning

__all__ = ["find_disk", "block_stats", "block_info", "interface_stats", "memory_stats", "domain_stats",
           "SUPPORTED_STATS", "balloon_actual_kib"]

SUPPORTED_STATS = Stats.STATE | Stats.CPU_TOTAL | Stats.BALLOON | Stats.VCPU | Stats.INTERFACE | Stats.BLOCK


def find_disk(guest, disk: str):
    """The command_line.Disk a user names by target (vda) or source path; InvalidArg otherwise."""
    for candidate in guest.plan.disks:
        if disk in (candidate.target, candidate.source):
            return candidate
    raise InvalidArg(f"domain '{guest.name}' has no disk '{disk}'", code=ErrorCode.INVALID_ARG,
                     domain=ErrorDomain.QEMU)


def _qdev_id(qdev: str) -> str:
    """'/machine/peripheral/vdb/virtio-backend' -> 'vdb' (QEMU names virtio devices by their path)."""
    parts = qdev.split("/")
    if qdev.startswith("/machine/peripheral/") and len(parts) > 3:
        return parts[3]
    return qdev


def _blockstats(guest) -> dict[str, dict[str, Any]]:
    out = {}
    for entry in guest.monitor.execute("query-blockstats"):
        out[_qdev_id(entry.get("qdev") or entry.get("device") or "")] = entry.get("stats", {})
        if entry.get("node-name"):
            out[entry["node-name"]] = entry.get("stats", {})
    return out


def block_stats(guest, disk: str) -> BlockStats:
    """Read/write requests and bytes of one disk."""
    target = find_disk(guest, disk)
    stats = _blockstats(guest).get(target.device_id)
    if stats is None:
        raise OperationInvalid(f"QEMU reports no statistics for disk '{disk}' of domain '{guest.name}'",
                               code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
    return BlockStats(stats.get("rd_operations", 0), stats.get("rd_bytes", 0), stats.get("wr_operations", 0),
                      stats.get("wr_bytes", 0), -1)


def block_info(guest, disk: str) -> BlockInfo:
    """Capacity (guest-visible size), allocation and physical size of one disk."""
    target = find_disk(guest, disk)
    capacity = 0
    for entry in guest.monitor.execute("query-block"):
        if _qdev_id(entry.get("qdev") or "") == target.device_id \
                or entry.get("inserted", {}).get("node-name") == target.format_node:
            capacity = entry.get("inserted", {}).get("image", {}).get("virtual-size", 0)
    allocation = physical = 0
    if target.source:
        try:
            info = os.stat(target.source)
            physical = info.st_size
            allocation = info.st_blocks * 512
        except OSError:
            pass
    return BlockInfo(capacity, allocation, physical)


def _tap_counters(ifname: str) -> Optional[InterfaceStats]:
    """A host device's counters from /proc/self/net/dev (this process's network namespace), guest's view."""
    try:
        with open("/proc/self/net/dev") as dev:
            lines = dev.readlines()[2:]
    except OSError:
        return None
    for line in lines:
        name, _, values = line.partition(":")
        if name.strip() == ifname:
            v = [int(x) for x in values.split()]
            # receive: bytes packets errs drop ...(8 fields); transmit: bytes packets errs drop ...
            rx_bytes, rx_packets, rx_errs, rx_drop = v[0:4]
            tx_bytes, tx_packets, tx_errs, tx_drop = v[8:12]
            # the host's transmit side is the guest's receive side
            return InterfaceStats(tx_bytes, tx_packets, tx_errs, tx_drop, rx_bytes, rx_packets, rx_errs, rx_drop)
    return None


def interface_stats(guest, device: str) -> InterfaceStats:
    """Counters of one NIC (by tap name, MAC or alias), seen from the guest."""
    for plan in guest.plan.nics:
        nic = plan.nic
        if device in (nic.ifname, nic.mac, nic.alias):
            if nic.ifname is None:
                raise OperationInvalid(f"interface '{device}' of domain '{guest.name}' uses user-mode networking, "
                                       "which has no host device to count on", code=ErrorCode.OPERATION_INVALID,
                                       domain=ErrorDomain.QEMU)
            counters = _tap_counters(nic.ifname)
            if counters is None:
                raise OperationInvalid(f"tap device '{nic.ifname}' of domain '{guest.name}' is gone",
                                       code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.QEMU)
            return counters
    raise InvalidArg(f"domain '{guest.name}' has no interface '{device}'", code=ErrorCode.INVALID_ARG,
                     domain=ErrorDomain.QEMU)


def balloon_actual_kib(guest) -> int:
    """The guest's current memory as the balloon reports it."""
    if guest.plan is None or not guest.plan.balloon:
        return guest.live.current_memory_kib
    try:
        return guest.monitor.execute("query-balloon")["actual"] // 1024
    except Exception:  # noqa: BLE001 - no balloon answer: report the configured value
        return guest.live.current_memory_kib


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_stats(guest) -> dict[int, int]:
    """Balloon and host-side memory statistics (tag -> KiB)."""
    return {int(Mem.ACTUAL_BALLOON): balloon_actual_kib(guest), int(Mem.RSS): _rss_kib(guest.process.pid)}


def domain_stats(guest, groups: int, state: tuple[int, int]) -> TypedParams:
    """One domain's bulk statistics with libvirt's key names."""
    params: TypedParams = {}
    active = guest.active and guest.monitor is not None
    defn = guest.current
    if groups & Stats.STATE:
        params.update({"state.state": int(state[0]), "state.reason": int(state[1])})
    if groups & Stats.CPU_TOTAL and active:
        total, user, system = tuning.process_cpu_time_ns(guest.process.pid)
        params.update({"cpu.time": total, "cpu.user": user, "cpu.system": system})
    if groups & Stats.BALLOON:
        params["balloon.maximum"] = defn.memory_kib
        params["balloon.current"] = balloon_actual_kib(guest) if active else defn.current_memory_kib
        if active:
            params["balloon.rss"] = _rss_kib(guest.process.pid)
    if groups & Stats.VCPU:
        params.update({"vcpu.current": defn.vcpus, "vcpu.maximum": defn.max_vcpus})
        if active:
            for index, tid in enumerate(tuning.vcpu_threads(guest)):
                cpu_time, _cpu = tuning.thread_times(guest.process.pid, tid)
                params[f"vcpu.{index}.state"] = 1
                params[f"vcpu.{index}.time"] = cpu_time
    if groups & Stats.INTERFACE and active:
        nics = list(guest.plan.nics)
        params["net.count"] = len(nics)
        for index, plan in enumerate(nics):
            nic = plan.nic
            prefix = f"net.{index}."
            params[prefix + "name"] = nic.ifname or nic.alias
            counters = _tap_counters(nic.ifname) if nic.ifname else None
            if counters is not None:
                params.update({prefix + "rx.bytes": counters.rx_bytes, prefix + "rx.pkts": counters.rx_packets,
                               prefix + "rx.errs": counters.rx_errs, prefix + "rx.drop": counters.rx_drop,
                               prefix + "tx.bytes": counters.tx_bytes, prefix + "tx.pkts": counters.tx_packets,
                               prefix + "tx.errs": counters.tx_errs, prefix + "tx.drop": counters.tx_drop})
    if groups & Stats.BLOCK and active:
        disks = list(guest.plan.disks)
        stats = _blockstats(guest)
        params["block.count"] = len(disks)
        for index, disk in enumerate(disks):
            prefix = f"block.{index}."
            params[prefix + "name"] = disk.target
            if disk.source:
                params[prefix + "path"] = disk.source
            entry = stats.get(disk.device_id, {})
            params.update({prefix + "rd.reqs": entry.get("rd_operations", 0),
                           prefix + "rd.bytes": entry.get("rd_bytes", 0),
                           prefix + "rd.times": entry.get("rd_total_time_ns", 0),
                           prefix + "wr.reqs": entry.get("wr_operations", 0),
                           prefix + "wr.bytes": entry.get("wr_bytes", 0),
                           prefix + "wr.times": entry.get("wr_total_time_ns", 0),
                           prefix + "fl.reqs": entry.get("flush_operations", 0),
                           prefix + "fl.times": entry.get("flush_total_time_ns", 0)})
            if disk.source:
                info = block_info(guest, disk.target)
                params.update({prefix + "allocation": info.allocation, prefix + "capacity": info.capacity,
                               prefix + "physical": info.physical})
    return params
