"""Fixed-shape values that cross the boundary between the kernel and its drivers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

from .enums import DomainState

TypedParams = dict[str, Any]
"""Typed parameters: a plain dict of name -> int, float, bool or str, checked against a JSON Schema at the edge."""


@dataclass(frozen=True, slots=True)
class DomainRef:
    """What a driver hands back to identify a domain: its name, UUID (text form) and id (-1 when inactive)."""

    name: str
    uuid: str
    id: int = -1


@dataclass(frozen=True, slots=True)
class SnapshotRef:
    """A snapshot of a domain, by name."""

    domain: DomainRef
    name: str


class DomainInfo(NamedTuple):
    """virDomainGetInfo's answer: state, max memory and memory in KiB, vCPU count, CPU time in ns."""

    state: int
    max_mem: int
    memory: int
    nr_virt_cpu: int
    cpu_time: int


class NodeInfo(NamedTuple):
    """virNodeGetInfo's answer: CPU model, memory in KiB, CPUs, MHz, NUMA nodes, sockets, cores, threads."""

    model: str
    memory: int
    cpus: int
    mhz: int
    nodes: int
    sockets: int
    cores: int
    threads: int


class VcpuInfo(NamedTuple):
    """One vCPU: number, state, CPU time in ns and the host CPU it last ran on."""

    number: int
    state: int
    cpu_time: int
    cpu: int


class BlockInfo(NamedTuple):
    """A disk's capacity, allocation and physical size in bytes."""

    capacity: int
    allocation: int
    physical: int


class BlockStats(NamedTuple):
    """A disk's read requests, read bytes, write requests, write bytes and errors (-1 = unknown)."""

    rd_req: int
    rd_bytes: int
    wr_req: int
    wr_bytes: int
    errs: int


class InterfaceStats(NamedTuple):
    """A NIC's counters (-1 = unknown)."""

    rx_bytes: int
    rx_packets: int
    rx_errs: int
    rx_drop: int
    tx_bytes: int
    tx_packets: int
    tx_errs: int
    tx_drop: int


class JobInfo(NamedTuple):
    """virDomainGetJobInfo's fixed struct."""

    type: int
    time_elapsed: int
    time_remaining: int
    data_total: int
    data_processed: int
    data_remaining: int
    mem_total: int
    mem_processed: int
    mem_remaining: int
    file_total: int
    file_processed: int
    file_remaining: int


class ControlInfo(NamedTuple):
    """State of the management channel to the domain."""

    state: int
    details: int
    state_time: int


@dataclass(slots=True)
class InterfaceAddresses:
    """A guest NIC with its MAC and IP addresses (type, address, prefix)."""

    name: str
    hwaddr: Optional[str]
    addrs: list[tuple[int, str, int]] = field(default_factory=list)


@dataclass(slots=True)
class DomainStatsRecord:
    """One domain's bulk statistics."""

    domain: DomainRef
    params: TypedParams


@dataclass(slots=True)
class MigrationResult:
    """What a migration phase hook returns: an optional value (XML, URI, domain) and an optional cookie."""

    cookie: Optional[bytes] = None
    uri_out: Optional[str] = None
    xml: Optional[str] = None
    domain: Optional[DomainRef] = None


__all__ = [
    "TypedParams", "DomainRef", "SnapshotRef", "DomainInfo", "NodeInfo", "VcpuInfo", "BlockInfo", "BlockStats",
    "InterfaceStats", "JobInfo", "ControlInfo", "InterfaceAddresses", "DomainStatsRecord", "MigrationResult",
    "DomainState",
]
