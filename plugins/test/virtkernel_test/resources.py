"""State, XML, memory, vCPUs, pinning, tuning parameters and metadata of test-driver guests."""

from __future__ import annotations

import time
from typing import Optional

from lxml import etree

from virtkernel import hookimpl
from virtkernel.enums import (DomainMemoryModFlags as MemMod, DomainMetadataType as Metadata,
                              DomainModificationImpact as Impact, DomainVcpuFlags as Vcpu,
                              DomainXMLFlags, ErrorCode, ErrorDomain)
from virtkernel.errors import VirtError
from virtkernel.types import ControlInfo, DomainInfo, DomainRef, TypedParams, VcpuInfo

from .base import DriverBase, check_flags, exclusive_live_config, not_running, test_error
from .definition import DomainConfig, parse_document
from .guest import Guest, Tunables
from .tunexml import BLKIO_DEVICE_FIELDS

TYPED_PARAM_STRING_OKAY = 1 << 2
MAX_VCPUS = 32
_XML_FLAGS = DomainXMLFlags.SECURE | DomainXMLFlags.INACTIVE | DomainXMLFlags.MIGRATABLE
_NUMA_MODES = 4  # strict, preferred, interleave, restrictive


def _impact(guest: Guest, flags: int, one: bool = False) -> tuple[bool, bool]:
    """Which definitions a LIVE/CONFIG/CURRENT call affects: (live, config); refuses LIVE on an inactive guest.

    With ``one`` the call works on exactly one definition and LIVE together with CONFIG is refused.
    """
    if one:
        exclusive_live_config(flags)
    live = bool(flags & Impact.LIVE)
    config = bool(flags & Impact.CONFIG)
    if not live and not config:
        if guest.active:
            live = True
        else:
            config = True
    if live and not guest.active:
        raise not_running()
    if config and not guest.persistent:
        raise VirtError("transient domains do not have any persistent config", code=ErrorCode.OPERATION_INVALID,
                        domain=ErrorDomain.DOMAIN)
    return live, config


def _one_def(guest: Guest, flags: int) -> tuple[DomainConfig, bool]:
    """The single definition a getter reads: (definition, is_live)."""
    live, _config = _impact(guest, flags & (Impact.LIVE | Impact.CONFIG), one=True)
    if live:
        return guest.live, True  # type: ignore[return-value]
    return guest.config, False  # type: ignore[return-value]


CPU_MAP_CPUS = 8
"""How many host CPUs affinity maps cover: libvirt's test driver reports an 8-CPU map (virNodeGetCPUMap)."""


def _host_cpus(driver: DriverBase) -> int:
    return driver.host.node.cpus


def _all_cpus(driver: DriverBase) -> tuple[bool, ...]:
    """The affinity of an unpinned vCPU: every host CPU, as an 8-CPU map."""
    cpus = min(_host_cpus(driver), CPU_MAP_CPUS)
    return (True,) * cpus + (False,) * (CPU_MAP_CPUS - cpus)


class ResourceOps(DriverBase):
    """Queries and tunables of a guest."""

    # -- identity and state -----------------------------------------------------------------------------------

    @hookimpl
    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        guest = self.guest(dom)
        current = guest.live if guest.live is not None else guest.config
        return DomainInfo(int(guest.state), current.memory, current.current_memory, current.vcpus,
                          guest.cpu_time_ns())

    @hookimpl
    def domain_get_state(self, dom: DomainRef, flags: int) -> tuple[int, int]:
        guest = self.guest(dom)
        return int(guest.state), guest.reason

    @hookimpl
    def domain_get_os_type(self, dom: DomainRef) -> str:
        self.guest(dom)
        return "linux"

    @hookimpl
    def domain_get_control_info(self, dom: DomainRef, flags: int) -> ControlInfo:
        check_flags(flags, 0, "testDomainGetControlInfo")
        self.guest(dom)
        return ControlInfo(0, 0, 0)

    @hookimpl
    def domain_is_active(self, dom: DomainRef) -> bool:
        return self.guest(dom).active

    @hookimpl
    def domain_is_persistent(self, dom: DomainRef) -> bool:
        return self.guest(dom).persistent

    @hookimpl
    def domain_is_updated(self, dom: DomainRef) -> bool:
        return self.guest(dom).updated

    @hookimpl
    def domain_get_xml_desc(self, dom: DomainRef, flags: int) -> str:
        check_flags(flags, _XML_FLAGS, "testDomainGetXMLDesc")
        return self.guest(dom).xml(inactive=bool(flags & DomainXMLFlags.INACTIVE))

    @hookimpl
    def domain_get_security_label(self, dom: DomainRef) -> tuple[str, bool]:
        guest = self.guest(dom)
        return ("libvirt-test", True) if guest.active else ("", False)

    # -- memory -----------------------------------------------------------------------------------------------

    @hookimpl
    def domain_get_max_memory(self, dom: DomainRef) -> int:
        return self.guest(dom).current.memory

    @hookimpl
    def domain_set_max_memory(self, dom: DomainRef, memory: int) -> int:
        return self.domain_set_memory(dom, memory, MemMod.MAXIMUM)

    @hookimpl
    def domain_set_memory(self, dom: DomainRef, memory: int, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG | MemMod.MAXIMUM, "testDomainSetMemoryFlags")
        with self.host.lock:
            guest = self.guest(dom)
            if flags & MemMod.MAXIMUM:
                live, config = _impact(guest, flags & ~int(MemMod.MAXIMUM))
                if live:
                    raise test_error(ErrorCode.OPERATION_INVALID,
                                     "cannot resize the maximum memory on an active domain")
                guest.config_for_change().set_memory(memory=memory)
                return 0
            live, config = _impact(guest, flags, one=True)
            targets = ([guest.live_for_change()] if live else []) + ([guest.config_for_change()] if config else [])
            for target in targets:
                if memory > target.memory:
                    raise test_error(ErrorCode.INVALID_ARG, "cannot set memory higher than max memory")
            for target in targets:
                target.set_memory(current=memory)
            return 0

    @hookimpl
    def domain_set_memory_stats_period(self, dom: DomainRef, period: int, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainSetMemoryStatsPeriod")
        with self.host.lock:
            _impact(self.guest(dom), flags)
            return 0

    # -- vCPUs ------------------------------------------------------------------------------------------------

    @hookimpl
    def domain_get_vcpus_flags(self, dom: DomainRef, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG | Vcpu.MAXIMUM | Vcpu.GUEST, "testDomainGetVcpusFlags")
        guest = self.guest(dom)
        if flags & Vcpu.GUEST:
            raise test_error(ErrorCode.INVALID_ARG, "the test driver has no guest agent to ask for vCPU counts")
        definition, _live = _one_def(guest, flags)
        return definition.max_vcpus if flags & Vcpu.MAXIMUM else definition.vcpus

    @hookimpl
    def domain_get_max_vcpus(self, dom: DomainRef) -> int:
        return self.domain_get_vcpus_flags(dom, Impact.LIVE | Vcpu.MAXIMUM if self.guest(dom).active
                                           else Impact.CONFIG | Vcpu.MAXIMUM)

    @hookimpl
    def domain_set_vcpus(self, dom: DomainRef, nvcpus: int, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG | Vcpu.MAXIMUM, "testDomainSetVcpusFlags")
        with self.host.lock:
            guest = self.guest(dom)
            live, config = _impact(guest, flags & ~int(Vcpu.MAXIMUM))
            if flags & Vcpu.MAXIMUM:
                if live:
                    raise test_error(ErrorCode.INVALID_ARG, "cannot change the maximum vCPU count of an active domain")
                if nvcpus > MAX_VCPUS:
                    raise test_error(ErrorCode.INVALID_ARG,
                                     f"requested cpu amount exceeds maximum supported amount ({nvcpus} > {MAX_VCPUS})")
                guest.config_for_change().set_vcpus(maximum=nvcpus)
                return 0
            targets = ([guest.live_for_change()] if live else []) + ([guest.config_for_change()] if config else [])
            for target in targets:
                if nvcpus > target.max_vcpus:
                    raise test_error(ErrorCode.INVALID_ARG,
                                     f"requested cpu amount exceeds maximum ({nvcpus} > {target.max_vcpus})")
            for target in targets:
                target.set_vcpus(current=nvcpus)
            if live:
                pins = guest.tunables(True).vcpu_pins
                for vcpu in [v for v in pins if v >= nvcpus]:
                    del pins[vcpu]
            return 0

    @hookimpl
    def domain_get_vcpus(self, dom: DomainRef) -> tuple[list[VcpuInfo], list[tuple[bool, ...]]]:
        guest = self.guest(dom)
        if not guest.active:
            raise test_error(ErrorCode.OPERATION_INVALID, "cannot list vcpus for an inactive domain")
        everything = _all_cpus(self)
        pins = guest.tunables(True).vcpu_pins
        cpu_time = time.time_ns() // 10_000  # like libvirt's test driver: a tenth of the wall clock in µs
        infos, maps = [], []
        for number in range(guest.current.vcpus):
            pin = pins.get(number)
            if pin is None:
                pin, last = everything, _host_cpus(self) - 1
            else:
                last = max((i for i, on in enumerate(pin) if on), default=-1)
            infos.append(VcpuInfo(number, 1, cpu_time, last))
            maps.append(pin)
        return infos, maps

    @hookimpl
    def domain_pin_vcpu(self, dom: DomainRef, vcpu: int, cpumap: tuple[bool, ...], flags: int) -> int:
        check_flags(flags, 0, "testDomainPinVcpuFlags")
        with self.host.lock:
            guest = self.guest(dom)
            if not guest.active:
                raise test_error(ErrorCode.OPERATION_INVALID, "cannot pin vcpus on an inactive domain")
            if vcpu < 0 or vcpu >= guest.current.vcpus:
                raise test_error(ErrorCode.INVALID_ARG, f"requested vcpu '{vcpu}' is not present in the domain")
            guest.tunables(True).vcpu_pins[vcpu] = self._host_map(cpumap)
            return 0

    @staticmethod
    def _host_map(cpumap: tuple[bool, ...]) -> tuple[bool, ...]:
        return tuple(cpumap[:CPU_MAP_CPUS]) + (False,) * (CPU_MAP_CPUS - len(cpumap))

    @hookimpl
    def domain_get_vcpu_pin_info(self, dom: DomainRef, flags: int) -> list[tuple[bool, ...]]:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainGetVcpuPinInfo")
        guest = self.guest(dom)
        definition, live = _one_def(guest, flags)
        everything = _all_cpus(self)
        pins = guest.tunables(live).vcpu_pins if live else guest.config_tunables.vcpu_pins
        # every vCPU up to the maximum, online or not, as libvirt fills the maps a caller asks for
        return [pins.get(number, everything) for number in range(definition.max_vcpus)]

    @hookimpl
    def domain_pin_emulator(self, dom: DomainRef, cpumap: tuple[bool, ...], flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainPinEmulator")
        with self.host.lock:
            guest = self.guest(dom)
            live, config = _impact(guest, flags, one=True)
            pin = self._host_map(cpumap)
            if not any(pin):
                raise test_error(ErrorCode.INVALID_ARG, "Empty cpu list for pinning")
            if live:
                guest.tunables(True).emulator_pin = pin
            if config:
                guest.config_tunables.emulator_pin = pin
            return 0

    @hookimpl
    def domain_get_emulator_pin_info(self, dom: DomainRef, flags: int) -> tuple[bool, ...]:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainGetEmulatorPinInfo")
        guest = self.guest(dom)
        _definition, live = _one_def(guest, flags)
        pin = guest.tunables(live).emulator_pin
        return pin if pin is not None else _all_cpus(self)

    # -- scheduler, blkio, memory, NUMA, interface parameters -------------------------------------------------

    @hookimpl
    def domain_get_scheduler_type(self, dom: DomainRef) -> tuple[str, int]:
        self.guest(dom)
        return "fair", 1

    @hookimpl
    def domain_get_scheduler_parameters(self, dom: DomainRef, flags: int) -> TypedParams:
        # libvirt's test driver accepts no flag here, not even the STRING_OKAY bit the library adds for a driver
        # claiming typed string parameters: only the legacy getter (flags 0) succeeds
        check_flags(flags, 0, "testDomainGetSchedulerParametersFlags")
        self.guest(dom)
        return {"weight": 50}

    @hookimpl
    def domain_set_scheduler_parameters(self, dom: DomainRef, params: TypedParams, flags: int) -> int:
        check_flags(flags, 0, "testDomainSetSchedulerParametersFlags")
        self.guest(dom)
        unknown = sorted(set(params) - {"weight"})
        if unknown:
            raise test_error(ErrorCode.INVALID_ARG, f"scheduler parameter '{unknown[0]}' is not supported")
        # libvirt's test driver accepts the weight and keeps reporting its fixed value (50).
        return 0

    def _tunables_for(self, dom: DomainRef, flags: int) -> list[Tunables]:
        guest = self.guest(dom)
        live, config = _impact(guest, flags & (Impact.LIVE | Impact.CONFIG), one=True)
        return ([guest.tunables(True)] if live else []) + ([guest.config_tunables] if config else [])

    @hookimpl
    def domain_get_blkio_parameters(self, dom: DomainRef, flags: int) -> TypedParams:
        check_flags(flags, Impact.LIVE | Impact.CONFIG | TYPED_PARAM_STRING_OKAY, "testDomainGetBlkioParameters")
        tunables = self._tunables_for(dom, flags)[0]
        answer: TypedParams = {"weight": tunables.blkio_weight}
        for name in BLKIO_DEVICE_FIELDS:
            answer[f"device_{name}"] = ",".join(f"{path},{values[name]}" for path, values
                                                in tunables.blkio_devices.items() if values.get(name))
        return answer

    @hookimpl
    def domain_set_blkio_parameters(self, dom: DomainRef, params: TypedParams, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainSetBlkioParameters")
        changes = [(name, _blkio_devices(f"device_{name}", str(params[f"device_{name}"])))
                   for name in BLKIO_DEVICE_FIELDS if f"device_{name}" in params]
        with self.host.lock:
            weight = params.get("weight")
            for tunables in self._tunables_for(dom, flags):
                if weight is not None:
                    tunables.blkio_weight = int(weight)
                for name, devices in changes:
                    _merge_blkio(tunables.blkio_devices, name, devices)
            return 0

    @hookimpl
    def domain_get_memory_parameters(self, dom: DomainRef, flags: int) -> TypedParams:
        check_flags(flags, Impact.LIVE | Impact.CONFIG | TYPED_PARAM_STRING_OKAY, "testDomainGetMemoryParameters")
        return dict(self._tunables_for(dom, flags)[0].memory)

    @hookimpl
    def domain_set_memory_parameters(self, dom: DomainRef, params: TypedParams, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainSetMemoryParameters")
        unknown = sorted(set(params) - {"hard_limit", "soft_limit", "swap_hard_limit"})
        if unknown:
            raise test_error(ErrorCode.INVALID_ARG, f"memory parameter '{unknown[0]}' is not supported")
        with self.host.lock:
            guest = self.guest(dom)
            targets = self._tunables_for(dom, flags)
            reference = guest.tunables(True).memory if guest.active else guest.config_tunables.memory
            if "hard_limit" in params or "swap_hard_limit" in params:
                hard = params.get("hard_limit", reference["hard_limit"])
                swap = params.get("swap_hard_limit", reference["swap_hard_limit"])
                if hard > swap:
                    raise test_error(ErrorCode.INVALID_ARG, "memory hard_limit tunable value must be lower than "
                                                            "or equal to swap_hard_limit")
            for tunables in targets:
                tunables.memory.update({k: int(v) for k, v in params.items()})
            return 0

    @hookimpl
    def domain_get_numa_parameters(self, dom: DomainRef, flags: int) -> TypedParams:
        check_flags(flags, Impact.LIVE | Impact.CONFIG | TYPED_PARAM_STRING_OKAY, "testDomainGetNumaParameters")
        tunables = self._tunables_for(dom, flags)[0]
        return {"numa_mode": tunables.numa_mode, "numa_nodeset": tunables.numa_nodeset}

    @hookimpl
    def domain_set_numa_parameters(self, dom: DomainRef, params: TypedParams, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainSetNumaParameters")
        mode = params.get("numa_mode")
        if mode is not None and not 0 <= mode < _NUMA_MODES:
            raise test_error(ErrorCode.INVALID_ARG, f"unsupported numatune mode: '{mode}'")
        nodeset = params.get("numa_nodeset")
        if nodeset is not None:
            _parse_cpuset(nodeset)
        with self.host.lock:
            for tunables in self._tunables_for(dom, flags):
                if mode is not None:
                    tunables.numa_mode = int(mode)
                if nodeset is not None:
                    tunables.numa_nodeset = nodeset
            return 0

    @hookimpl
    def domain_get_interface_parameters(self, dom: DomainRef, device: str, flags: int) -> TypedParams:
        check_flags(flags, Impact.LIVE | Impact.CONFIG | TYPED_PARAM_STRING_OKAY,
                    "testDomainGetInterfaceParameters")
        guest = self.guest(dom)
        definition, live = _one_def(guest, flags)
        key = self._interface_key(definition, device)
        values = guest.tunables(live).interfaces.get(key, {}) if live else guest.config_tunables.interfaces.get(key, {})
        return {name: values.get(name, 0) for name in _BANDWIDTH_KEYS}

    @hookimpl
    def domain_set_interface_parameters(self, dom: DomainRef, device: str, params: TypedParams, flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainSetInterfaceParameters")
        with self.host.lock:
            guest = self.guest(dom)
            live, config = _impact(guest, flags, one=True)
            for is_live in ([True] if live else []) + ([False] if config else []):
                definition = guest.live if is_live else guest.config
                key = self._interface_key(definition, device)
                table = guest.tunables(True).interfaces if is_live else guest.config_tunables.interfaces
                values = dict(table.get(key, {}))
                values.update({k: int(v) for k, v in params.items()})
                if not values.get("inbound.average") and not values.get("inbound.floor"):
                    for name in ("inbound.average", "inbound.peak", "inbound.burst", "inbound.floor"):
                        values.pop(name, None)
                if not values.get("outbound.average"):
                    for name in ("outbound.average", "outbound.peak", "outbound.burst"):
                        values.pop(name, None)
                table[key] = values
            return 0

    @staticmethod
    def _interface_key(definition: DomainConfig, device: str) -> str:
        nic = definition.find_interface(device)
        if nic is None:
            raise VirtError(f"Can't find device {device}", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.DOMAIN)
        mac = nic.find("mac")
        return (mac.get("address") if mac is not None else None) or device

    # -- metadata ---------------------------------------------------------------------------------------------

    @hookimpl
    def domain_set_metadata(self, dom: DomainRef, type: int, metadata: Optional[str], key: Optional[str],
                            uri: Optional[str], flags: int) -> int:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainSetMetadata")
        with self.host.lock:
            guest = self.guest(dom)
            live, config = _impact(guest, flags)
            if type not in (Metadata.DESCRIPTION, Metadata.TITLE, Metadata.ELEMENT):
                raise VirtError(f"unknown metadata type '{type}'", code=ErrorCode.INVALID_ARG,
                                domain=ErrorDomain.DOMAIN)
            element = None
            if type == Metadata.ELEMENT and metadata is not None:
                element = parse_document(metadata, "metadata")
            targets = ([guest.live_for_change()] if live else []) + ([guest.config_for_change()] if config else [])
            for target in targets:
                if type == Metadata.TITLE:
                    target.set_text_element("title", metadata)
                elif type == Metadata.DESCRIPTION:
                    target.set_text_element("description", metadata)
                else:
                    _set_metadata_element(target, element, key, uri)
            return 0

    @hookimpl
    def domain_get_metadata(self, dom: DomainRef, type: int, uri: Optional[str], flags: int) -> str:
        check_flags(flags, Impact.LIVE | Impact.CONFIG, "testDomainGetMetadata")
        guest = self.guest(dom)
        definition, _live = _one_def(guest, flags)
        if type == Metadata.TITLE:
            value = definition.title
        elif type == Metadata.DESCRIPTION:
            value = definition.description
        elif type == Metadata.ELEMENT:
            value = None
            container = definition.metadata()
            if container is not None:
                for child in container:
                    if isinstance(child.tag, str) and etree.QName(child).namespace == uri:
                        value = _metadata_fragment(child)
                        break
        else:
            raise VirtError(f"unknown metadata type '{type}'", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.DOMAIN)
        if value is None or value == "":
            raise VirtError("Requested metadata element is not present", code=ErrorCode.NO_DOMAIN_METADATA,
                            domain=ErrorDomain.DOMAIN)
        return value


_BANDWIDTH_KEYS = ("inbound.average", "inbound.peak", "inbound.burst", "inbound.floor", "outbound.average",
                   "outbound.peak", "outbound.burst")


def _parse_cpuset(text: str) -> set[int]:
    """A libvirt cpuset string ("0-3,^2,5") as a set; INVALID_ARG when malformed or empty."""
    result: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                raise ValueError(text)
            negate = part.startswith("^")
            part = part.lstrip("^")
            low, _, high = part.partition("-")
            numbers = range(int(low), int(high or low) + 1)
            if negate:
                result.difference_update(numbers)
            else:
                result.update(numbers)
    except ValueError:
        raise test_error(ErrorCode.INVALID_ARG, f"Failed to parse bitmap '{text}'") from None
    if not result:
        raise test_error(ErrorCode.OPERATION_INVALID, f"Invalid nodeset of 'numatune': {text}")
    return result


def _set_metadata_element(target: DomainConfig, element: Optional[etree._Element], key: Optional[str],
                          uri: Optional[str]) -> None:
    container = target.metadata(create=element is not None)
    if container is not None:
        for child in list(container):
            if isinstance(child.tag, str) and etree.QName(child).namespace == uri:
                container.remove(child)
    if element is not None:
        prefix = key or "ns0"
        renamed = _in_namespace(element, uri or "", prefix)
        container.append(renamed)
    if container is not None and len(container) == 0:
        target.root.remove(container)
    target.changed()


def _in_namespace(element: etree._Element, uri: str, prefix: str) -> etree._Element:
    """A copy of ``element`` with every un-namespaced node moved into ``uri`` under ``prefix``."""
    nsmap = {prefix: uri}

    def convert(node: etree._Element) -> etree._Element:
        local = etree.QName(node).localname
        namespace = etree.QName(node).namespace or uri
        copy = etree.Element(f"{{{namespace}}}{local}", nsmap=nsmap)
        for name, value in node.attrib.items():
            copy.set(name, value)
        copy.text = node.text
        copy.tail = None
        for child in node:
            if isinstance(child.tag, str):
                copy.append(convert(child))
        return copy

    return convert(element)


def _metadata_fragment(element: etree._Element) -> str:
    """A metadata element as libvirt returns it: without its namespace."""
    def strip(node: etree._Element) -> etree._Element:
        copy = etree.Element(etree.QName(node).localname)
        for name, value in node.attrib.items():
            copy.set(name, value)
        copy.text = node.text
        for child in node:
            if isinstance(child.tag, str):
                copy.append(strip(child))
        return copy
    return etree.tostring(strip(element), encoding="unicode", pretty_print=True).rstrip("\n")


def _blkio_devices(param: str, text: str) -> list[tuple[str, int]]:
    """Parse a per-device blkio parameter ("/dev/sda,100,/dev/sdb,200") as libvirt does."""
    if not text:
        return []
    parts = text.split(",")
    if len(parts) % 2:
        raise VirtError(f"unable to parse blkio device '{param}' '{text}'", code=ErrorCode.INVALID_ARG,
                        domain=ErrorDomain.DOMAIN)
    devices: list[tuple[str, int]] = []
    for path, value in zip(parts[::2], parts[1::2]):
        if not value.isdigit():
            raise VirtError(f"invalid value '{value}' for parameter '{param}' of device '{path}'",
                            code=ErrorCode.INVALID_ARG, domain=ErrorDomain.DOMAIN)
        devices.append((path, int(value)))
    return devices


def _merge_blkio(known: dict[str, dict[str, int]], name: str, devices: list[tuple[str, int]]) -> None:
    """Set one per-device value; a device whose values are all 0 is dropped, a new one needs a non-zero value."""
    for path, value in devices:
        values = known.get(path)
        if values is None:
            if value:
                known[path] = {name: value}
            continue
        values[name] = value
        if not any(values.values()):
            del known[path]
