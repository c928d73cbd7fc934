"""A small in-memory driver for the facade's tests: a few domains, lifecycle events, typed parameters."""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, Optional

from virtkernel import DomainRef, DriverFeature, NoDomain, OperationInvalid, SnapshotRef, hookimpl
from virtkernel.enums import (DomainEventStartedDetailType, DomainEventStoppedDetailType,
                              DomainEventSuspendedDetailType, DomainEventType, DomainState, ErrorCode, ErrorDomain)
from virtkernel.errors import InvalidArg, VirtError
from virtkernel.types import (BlockInfo, DomainInfo, DomainStatsRecord, InterfaceAddresses, NodeInfo, VcpuInfo)

STRING_OKAY = 1 << 2


@dataclass
class MiniDomain:
    """One domain of the mini host."""

    name: str
    uuid: str
    state: int = DomainState.SHUTOFF
    id: int = -1
    memory: int = 524288
    vcpus: int = 2
    scheduler: dict[str, Any] = field(default_factory=lambda: {"weight": 50, "cap": 0})
    blkio: dict[str, Any] = field(default_factory=lambda: {"weight": 500, "device_weight": ""})
    snapshots: list[str] = field(default_factory=list)

    def ref(self) -> DomainRef:
        return DomainRef(self.name, self.uuid, self.id)


class MiniDriver:
    """Scheme "mini": a fresh host per connection with one running domain "alpha"."""

    def __init__(self) -> None:
        self.domains: dict[str, MiniDomain] = {}
        self.next_id = 1
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def connect_open(self, context: Any) -> bool:
        self.context = context
        alpha = MiniDomain("alpha", "11111111-2222-3333-4444-555555555555")
        self.domains[alpha.name] = alpha
        self._start(alpha)
        return True

    def _start(self, dom: MiniDomain) -> None:
        dom.state, dom.id = DomainState.RUNNING, self.next_id
        self.next_id += 1

    def _get(self, ref: DomainRef) -> MiniDomain:
        for dom in self.domains.values():
            if dom.uuid == ref.uuid:
                return dom
        raise NoDomain(f"domain '{ref.name}' does not exist", code=ErrorCode.NO_DOMAIN, domain=ErrorDomain.TEST)

    def _running(self, dom: MiniDomain) -> None:
        if dom.state != DomainState.RUNNING:
            raise OperationInvalid(f"domain '{dom.name}' is not running", code=ErrorCode.OPERATION_INVALID,
                                   domain=ErrorDomain.TEST)

    # -- connection ------------------------------------------------------------------------------------------------

    @hookimpl
    def connect_supports_feature(self, feature: int) -> bool:
        return feature == DriverFeature.TYPED_PARAM_STRING

    @hookimpl
    def connect_get_type(self) -> str:
        return "MINI"

    @hookimpl
    def connect_get_version(self) -> int:
        return 1_000_000

    @hookimpl
    def node_get_info(self) -> NodeInfo:
        return NodeInfo("x86_64", 4 * 1024 * 1024, 4, 2000, 1, 1, 4, 1)

    @hookimpl
    def connect_list_all_domains(self, flags: int) -> list[DomainRef]:
        return [d.ref() for d in self.domains.values()]

    @hookimpl
    def domain_lookup_by_name(self, name: str) -> DomainRef:
        if name not in self.domains:
            raise NoDomain(f"domain '{name}' does not exist", code=ErrorCode.NO_DOMAIN, domain=ErrorDomain.TEST)
        return self.domains[name].ref()

    @hookimpl
    def domain_define_xml(self, xml: str, flags: int) -> DomainRef:
        from virtkernel.domainxml import DomainDefinition
        definition = DomainDefinition.from_xml(xml)
        dom = MiniDomain(definition.name, definition.uuid or str(uuidlib.uuid4()))
        self.domains[dom.name] = dom
        self.context.events.emit_lifecycle(dom.ref(), DomainEventType.DEFINED, 0)
        return dom.ref()

    @hookimpl
    def connect_get_all_domain_stats(self, doms: Optional[list[DomainRef]], stats: int,
                                     flags: int) -> list[DomainStatsRecord]:
        chosen = [self._get(r) for r in doms] if doms is not None else list(self.domains.values())
        return [DomainStatsRecord(d.ref(), {"state.state": int(d.state), "state.reason": 1}) for d in chosen]

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    @hookimpl
    def domain_create(self, dom: DomainRef, flags: int) -> DomainRef:
        mini = self._get(dom)
        if mini.state != DomainState.SHUTOFF:
            raise OperationInvalid("domain is already running", code=ErrorCode.OPERATION_INVALID,
                                   domain=ErrorDomain.TEST)
        self._start(mini)
        self.context.events.emit_lifecycle(mini.ref(), DomainEventType.STARTED, DomainEventStartedDetailType.BOOTED)
        return mini.ref()

    @hookimpl
    def domain_destroy(self, dom: DomainRef, flags: int) -> DomainRef:
        mini = self._get(dom)
        if mini.state == DomainState.SHUTOFF:
            raise OperationInvalid("domain is not running", code=ErrorCode.OPERATION_INVALID,
                                   domain=ErrorDomain.TEST)
        mini.state, mini.id = DomainState.SHUTOFF, -1
        self.context.events.emit_lifecycle(mini.ref(), DomainEventType.STOPPED,
                                           DomainEventStoppedDetailType.DESTROYED)
        return mini.ref()

    @hookimpl
    def domain_suspend(self, dom: DomainRef) -> int:
        mini = self._get(dom)
        self._running(mini)
        mini.state = DomainState.PAUSED
        self.context.events.emit_lifecycle(mini.ref(), DomainEventType.SUSPENDED,
                                           DomainEventSuspendedDetailType.PAUSED)
        return 0

    @hookimpl
    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        mini = self._get(dom)
        return DomainInfo(int(mini.state), 1048576, mini.memory, mini.vcpus, 12345)

    @hookimpl
    def domain_get_state(self, dom: DomainRef, flags: int) -> tuple[int, int]:
        return (int(self._get(dom).state), 1)

    @hookimpl
    def domain_is_active(self, dom: DomainRef) -> bool:
        return self._get(dom).state != DomainState.SHUTOFF

    @hookimpl
    def domain_get_max_memory(self, dom: DomainRef) -> int:
        return 1048576

    @hookimpl
    def domain_get_vcpus(self, dom: DomainRef) -> tuple[list[VcpuInfo], list[tuple[bool, ...]]]:
        mini = self._get(dom)
        self._running(mini)
        return ([VcpuInfo(n, 1, 1000 * n, n) for n in range(mini.vcpus)],
                [(True, False, True, False)] * mini.vcpus)

    @hookimpl
    def domain_pin_vcpu(self, dom: DomainRef, vcpu: int, cpumap: tuple[bool, ...], flags: int) -> int:
        self.calls.append(("domain_pin_vcpu", flags))
        return 0

    @hookimpl
    def domain_get_block_info(self, dom: DomainRef, disk: str, flags: int) -> BlockInfo:
        return BlockInfo(100, 50, 100)

    @hookimpl
    def domain_memory_stats(self, dom: DomainRef, nr_stats: int, flags: int) -> dict[int, int]:
        return {6: 524288, 7: 1000, 9: 1700000000}

    @hookimpl
    def domain_get_time(self, dom: DomainRef, flags: int) -> tuple[int, int]:
        return (1234567890, 5)

    @hookimpl
    def domain_interface_addresses(self, dom: DomainRef, source: int, flags: int) -> list[InterfaceAddresses]:
        return [InterfaceAddresses("eth0", "52:54:00:00:00:01", [(0, "192.0.2.5", 24)])]

    @hookimpl
    def domain_get_job_stats(self, dom: DomainRef, flags: int) -> tuple[int, dict[str, Any]]:
        return (0, {})

    @hookimpl
    def domain_open_console(self, dom: DomainRef, dev_name: Optional[str], stream: Any, flags: int) -> int:
        self._running(self._get(dom))
        stream.socket.sendall(b"login: ")
        self.console = stream.socket
        return 0

    # -- typed parameters ----------------------------------------------------------------------------------------

    @hookimpl
    def domain_get_scheduler_type(self, dom: DomainRef) -> tuple[str, int]:
        return ("credit", 2)

    @hookimpl
    def domain_get_scheduler_parameters(self, dom: DomainRef, flags: int) -> dict[str, Any]:
        self.calls.append(("domain_get_scheduler_parameters", flags))
        return dict(self._get(dom).scheduler)

    @hookimpl
    def domain_set_scheduler_parameters(self, dom: DomainRef, params: dict[str, Any], flags: int) -> int:
        self.calls.append(("domain_set_scheduler_parameters", (dict(params), flags)))
        self._get(dom).scheduler.update(params)
        return 0

    @hookimpl
    def domain_get_blkio_parameters(self, dom: DomainRef, flags: int) -> dict[str, Any]:
        if flags & ~STRING_OKAY & ~3:
            raise InvalidArg(f"unsupported flags (0x{flags:x})", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.TEST)
        return dict(self._get(dom).blkio)

    @hookimpl
    def domain_set_blkio_parameters(self, dom: DomainRef, params: dict[str, Any], flags: int) -> int:
        self._get(dom).blkio.update(params)
        return 0

    # -- snapshots -----------------------------------------------------------------------------------------------------

    @hookimpl
    def domain_snapshot_create_xml(self, dom: DomainRef, xml: str, flags: int) -> SnapshotRef:
        from lxml import etree
        name = etree.fromstring(xml.encode()).findtext("name")
        self._get(dom).snapshots.append(name)
        return SnapshotRef(dom, name)

    @hookimpl
    def domain_list_all_snapshots(self, dom: DomainRef, flags: int) -> list[SnapshotRef]:
        return [SnapshotRef(dom, name) for name in self._get(dom).snapshots]

    @hookimpl
    def domain_snapshot_get_parent(self, snapshot: SnapshotRef, flags: int) -> SnapshotRef:
        names = self._get(snapshot.domain).snapshots
        index = names.index(snapshot.name)
        if index == 0:
            raise VirtError("snapshot has no parent", code=ErrorCode.NO_DOMAIN_SNAPSHOT, domain=ErrorDomain.TEST)
        return SnapshotRef(snapshot.domain, names[index - 1])

    @hookimpl
    def domain_snapshot_list_all_children(self, snapshot: SnapshotRef, flags: int) -> list[SnapshotRef]:
        names = self._get(snapshot.domain).snapshots
        index = names.index(snapshot.name)
        return [SnapshotRef(snapshot.domain, n) for n in names[index + 1:index + 2]]

    @hookimpl
    def domain_snapshot_is_current(self, snapshot: SnapshotRef, flags: int) -> bool:
        return self._get(snapshot.domain).snapshots[-1] == snapshot.name
