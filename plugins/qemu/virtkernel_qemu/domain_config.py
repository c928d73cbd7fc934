"""Domain XML -> a `GuestPlan` (what to run) -> `command_line.GuestConfig` (how QEMU runs it).

`plan_guest` reads a DomainDefinition and refuses, with VIR_ERR_CONFIG_UNSUPPORTED and a message naming the
element, anything this driver cannot run -- before anything is started.  `add_defaults` fills in what
libvirt would (UUID, arch and canonical machine type, lifecycle actions, device aliases).  Per-device
parsing (`parse_disk`, `parse_interface`) is shared with hotplug.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional

from lxml import etree

from virtkernel.domainxml import DomainDefinition, parse_size_kib
from virtkernel.enums import DomainLifecycleAction as Action, ErrorCode, ErrorDomain
from virtkernel.errors import VirtError

from .capabilities import Capabilities
from .command_line import (BootDevice, CacheMode, CharDevice, CharKind, CpuMode, Disk, DiskBus, DiskDevice,
                           DiskFormat, GuestConfig, Graphics, GraphicsKind, MonitorSocket, NetType, Nic, SourceType)

__all__ = ["GuestPlan", "NicPlan", "plan_guest", "add_defaults", "guest_config", "parse_disk", "parse_interface",
           "unsupported", "parse_cpuset", "format_cpuset", "ACTIONS", "ARCH"]

ARCH = "x86_64"
NIC_MODELS = {"virtio": "virtio-net-pci", "e1000": "e1000", "rtl8139": "rtl8139", "e1000e": "e1000e"}
ACTIONS = {"destroy": Action.DESTROY, "restart": Action.RESTART, "preserve": Action.PRESERVE,
           "rename-restart": Action.RESTART_RENAME, "coredump-destroy": Action.COREDUMP_DESTROY,
           "coredump-restart": Action.COREDUMP_RESTART}
ACTION_NAMES = {value: name for name, value in ACTIONS.items()}
_SUPPORTED_ACTIONS = {"on_poweroff": {"destroy", "restart"}, "on_reboot": {"restart", "destroy"},
                      "on_crash": {"destroy", "restart", "preserve"}}
_TOP_LEVEL = {"name", "uuid", "title", "description", "metadata", "memory", "currentMemory", "maxMemory", "vcpu",
              "os", "features", "cpu", "clock", "on_poweroff", "on_reboot", "on_crash", "devices", "cputune",
              "memtune", "blkiotune", "resource", "genid"}
_DEVICES = {"emulator", "disk", "interface", "serial", "console", "graphics", "video", "controller", "memballoon",
            "input", "panic"}
_FEATURES = {"acpi", "apic", "pae"}


def unsupported(message: str) -> VirtError:
    """VIR_ERR_CONFIG_UNSUPPORTED in the QEMU area."""
    return VirtError(message, code=ErrorCode.CONFIG_UNSUPPORTED, domain=ErrorDomain.QEMU)


def parse_cpuset(text: str, ncpus: int, what: str) -> tuple[bool, ...]:
    """'0-3,^2' -> a tuple of booleans of length ncpus; VirtError naming `what` when malformed or out of range."""
    chosen: set[int] = set()
    removed: set[int] = set()
    try:
        for part in text.replace(" ", "").split(","):
            if not part:
                continue
            target = chosen
            if part.startswith("^"):
                target, part = removed, part[1:]
            low, _, high = part.partition("-")
            first, last = int(low), int(high or low)
            if first < 0 or last < first:
                raise ValueError
            target.update(range(first, last + 1))
    except ValueError:
        raise VirtError(f"invalid CPU set '{text}' in {what}", code=ErrorCode.XML_ERROR,
                        domain=ErrorDomain.DOMAIN) from None
    cpus = chosen - removed
    if not cpus:
        raise VirtError(f"CPU set '{text}' in {what} selects no CPU", code=ErrorCode.XML_ERROR,
                        domain=ErrorDomain.DOMAIN)
    if max(cpus) >= ncpus:
        raise VirtError(f"CPU set '{text}' in {what} names CPU {max(cpus)}, the host has {ncpus}",
                        code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
    return tuple(i in cpus for i in range(ncpus))


def format_cpuset(cpumap: tuple[bool, ...]) -> str:
    """(True, True, False, True) -> '0-1,3'."""
    parts: list[str] = []
    index = 0
    while index < len(cpumap):
        if cpumap[index]:
            end = index
            while end + 1 < len(cpumap) and cpumap[end + 1]:
                end += 1
            parts.append(str(index) if end == index else f"{index}-{end}")
            index = end + 1
        else:
            index += 1
    return ",".join(parts)


@dataclass(frozen=True)
class NicPlan:
    """A NIC as the plan sees it: the QEMU side plus the XML type (user, ethernet, bridge)."""

    nic: Nic
    xml_type: str
    bridge: Optional[str] = None


@dataclass(frozen=True)
class GuestPlan:
    """Everything a start needs from the domain XML, checked."""

    name: str
    uuid: str
    accel: str
    machine: str
    emulator: str
    memory_kib: int
    current_memory_kib: int
    vcpus: int
    max_vcpus: int
    cpu_mode: CpuMode
    cpu_model: Optional[str]
    boot_order: tuple[BootDevice, ...]
    disks: tuple[Disk, ...]
    nics: tuple[NicPlan, ...]
    serials: tuple[tuple[CharKind, Optional[str]], ...]
    graphics: Graphics
    balloon: bool
    panic: bool
    on_poweroff: str
    on_reboot: str
    on_crash: str
    vcpu_pins: dict[int, str] = field(default_factory=dict)
    emulator_pin: Optional[str] = None
    vcpu_cpuset: Optional[str] = None
    max_memory_kib: Optional[int] = None
    memory_slots: int = 0


def _text(node: Optional[etree._Element], default: Optional[str] = None) -> Optional[str]:
    return node.text.strip() if node is not None and node.text and node.text.strip() else default


def _one_of(value: str, allowed: set[str], element: str) -> str:
    if value not in allowed:
        raise unsupported(f"unsupported value '{value}' in {element} (supported: {', '.join(sorted(allowed))})")
    return value


def _boot_order(node: etree._Element, element: str) -> Optional[int]:
    boot = node.find("boot")
    if boot is None:
        return None
    try:
        order = int(boot.get("order", ""))
    except ValueError:
        raise unsupported(f"<{element}><boot order=...> needs a positive number") from None
    if order < 1:
        raise unsupported(f"<{element}><boot order=...> needs a positive number")
    return order


def _alias(node: etree._Element) -> Optional[str]:
    alias = node.find("alias")
    return alias.get("name") if alias is not None and alias.get("name") else None


def parse_disk(node: etree._Element, machine: str = "pc") -> Disk:
    """A <disk> element -> command_line.Disk; refuses what the driver cannot do, naming the element."""
    kind = node.get("type", "file")
    if kind not in ("file", "block"):
        raise unsupported(f"unsupported disk type '{kind}' in <disk type=...> (supported: file, block)")
    device = node.get("device", "disk")
    if device not in ("disk", "cdrom"):
        raise unsupported(f"unsupported disk device '{device}' in <disk device=...> (supported: disk, cdrom)")
    known = {"driver", "source", "target", "readonly", "boot", "alias", "address", "shareable", "serial"}
    for child in node:
        if isinstance(child.tag, str) and child.tag not in known:
            raise unsupported(f"unsupported element <disk><{child.tag}>")
    target = node.find("target")
    if target is None or not target.get("dev"):
        raise unsupported("<disk> needs <target dev=...>")
    dev = target.get("dev")
    bus = target.get("bus") or {"vd": "virtio", "hd": "ide", "sd": "sata"}.get(dev[:2])
    if bus is None:
        raise unsupported(f"cannot tell the bus of disk '{dev}': give <target bus=...>")
    _one_of(bus, {"virtio", "ide", "sata"}, f"<disk><target bus=...> of '{dev}'")
    driver = node.find("driver")
    fmt = (driver.get("type") if driver is not None else None) or "raw"
    _one_of(fmt, {"raw", "qcow2"}, f"<disk><driver type=...> of '{dev}'")
    if driver is not None and driver.get("name", "qemu") != "qemu":
        raise unsupported(f"unsupported disk driver '{driver.get('name')}' in <disk><driver name=...> of '{dev}'")
    cache = (driver.get("cache") if driver is not None else None) or "default"
    _one_of(cache, {m.value for m in CacheMode}, f"<disk><driver cache=...> of '{dev}'")
    source = node.find("source")
    path = None
    if source is not None:
        path = source.get("file") if kind == "file" else source.get("dev")
    if path is None and device == "disk":
        raise unsupported(f"disk '{dev}' has no <source {'file' if kind == 'file' else 'dev'}=...>")
    if path is not None and not path.startswith("/"):
        raise unsupported(f"disk '{dev}': the source '{path}' is not an absolute path")
    return Disk(target=dev, source=path, bus=DiskBus(bus), format=DiskFormat(fmt), device=DiskDevice(device),
                source_type=SourceType(kind), readonly=node.find("readonly") is not None, cache=CacheMode(cache),
                boot_index=_boot_order(node, "disk"), alias=_alias(node))


def parse_interface(node: etree._Element, index: int) -> NicPlan:
    """An <interface> element -> NicPlan (user networking, a tap by name, or a tap on a bridge)."""
    kind = node.get("type", "user")
    _one_of(kind, {"user", "ethernet", "bridge"}, "<interface type=...>")
    known = {"mac", "model", "source", "target", "boot", "alias", "address", "link"}
    for child in node:
        if isinstance(child.tag, str) and child.tag not in known:
            raise unsupported(f"unsupported element <interface><{child.tag}>")
    mac = node.find("mac")
    model = node.find("model")
    model_name = (model.get("type") if model is not None else None) or "virtio"
    if model_name not in NIC_MODELS:
        raise unsupported(f"unsupported NIC model '{model_name}' in <interface><model type=...> "
                          f"(supported: {', '.join(sorted(NIC_MODELS))})")
    target = node.find("target")
    ifname = target.get("dev") if target is not None else None
    bridge = None
    if kind == "bridge":
        source = node.find("source")
        bridge = source.get("bridge") if source is not None else None
        if not bridge:
            raise unsupported("<interface type='bridge'> needs <source bridge=...>")
    if kind in ("ethernet", "bridge") and not ifname:
        raise unsupported(f"<interface type='{kind}'> needs <target dev=...> naming its tap device")
    nic = Nic(type=NetType.USER if kind == "user" else NetType.TAP, mac=mac.get("address") if mac is not None else None,
              model=NIC_MODELS[model_name], ifname=ifname if kind != "user" else None,
              boot_index=_boot_order(node, "interface"), alias=_alias(node) or f"net{index}")
    return NicPlan(nic, kind, bridge)


def _serials(defn: DomainDefinition) -> tuple[tuple[CharKind, Optional[str]], ...]:
    serials: list[tuple[CharKind, Optional[str]]] = []
    for node in defn.devices("serial"):
        kind = _one_of(node.get("type", "pty"), {"pty", "file", "null"}, "<serial type=...>")
        path = None
        if kind == "file":
            source = node.find("source")
            path = source.get("path") if source is not None else None
            if not path or not path.startswith("/"):
                raise unsupported("<serial type='file'> needs <source path=...> with an absolute path")
        serials.append((CharKind(kind), path))
    consoles = list(defn.devices("console"))
    for node in consoles:
        target = node.find("target")
        if target is not None and target.get("type", "serial") != "serial":
            raise unsupported(f"unsupported console target '{target.get('type')}' in <console><target type=...>")
    if consoles and not serials:  # a console alone means the first serial port
        node = consoles[0]
        kind = _one_of(node.get("type", "pty"), {"pty", "file", "null"}, "<console type=...>")
        source = node.find("source")
        path = source.get("path") if source is not None and kind == "file" else None
        if kind == "file" and (not path or not path.startswith("/")):
            raise unsupported("<console type='file'> needs <source path=...> with an absolute path")
        serials.append((CharKind(kind), path))
    return tuple(serials)


def _graphics(defn: DomainDefinition) -> Graphics:
    nodes = list(defn.devices("graphics"))
    if not nodes:
        return Graphics()
    if len(nodes) > 1:
        raise unsupported("only one <graphics> device is supported")
    node = nodes[0]
    _one_of(node.get("type", ""), {"vnc"}, "<graphics type=...>")
    listen = node.get("listen") or "127.0.0.1"
    listen_node = node.find("listen")
    if listen_node is not None and listen_node.get("address"):
        listen = listen_node.get("address")
    if listen not in ("127.0.0.1", "::1", "localhost"):
        raise unsupported(f"VNC may listen on loopback only, not '{listen}' (<graphics listen=...>)")
    port = node.get("port")
    autoport = node.get("autoport", "yes" if port in (None, "-1") else "no") == "yes"
    return Graphics(kind=GraphicsKind.VNC, listen="127.0.0.1" if listen == "localhost" else listen,
                    port=None if autoport or port in (None, "-1") else int(port))


def _check_elements(defn: DomainDefinition) -> None:
    for child in defn.root:
        if isinstance(child.tag, str) and child.tag not in _TOP_LEVEL:
            raise unsupported(f"unsupported element <{child.tag}>")
    for child in defn.devices():
        if child.tag not in _DEVICES:
            raise unsupported(f"unsupported device <{child.tag}>")
    features = defn.root.find("features")
    if features is not None:
        for child in features:
            if isinstance(child.tag, str) and child.tag not in _FEATURES:
                raise unsupported(f"unsupported element <features><{child.tag}>")
    os_node = defn.root.find("os")
    if os_node is not None:
        for child in os_node:
            if isinstance(child.tag, str) and child.tag not in ("type", "boot"):
                raise unsupported(f"unsupported element <os><{child.tag}>")
    for node in defn.devices("controller"):
        _one_of(node.get("type", ""), {"pci", "ide", "sata", "usb"}, "<controller type=...>")
        if node.get("type") == "usb" and node.get("model") not in (None, "none"):
            raise unsupported("only <controller type='usb' model='none'> is supported")
    for node in defn.devices("video"):
        model = node.find("model")
        _one_of(model.get("type", "") if model is not None else "", {"vga", "none"}, "<video><model type=...>")
    for node in defn.devices("input"):
        _one_of(node.get("bus", "ps2"), {"ps2"}, "<input bus=...>")
    for node in defn.devices("panic"):
        _one_of(node.get("model", "isa"), {"isa"}, "<panic model=...>")
    clock = defn.root.find("clock")
    if clock is not None:
        _one_of(clock.get("offset", "utc"), {"utc"}, "<clock offset=...>")
        for child in clock:
            if isinstance(child.tag, str):
                raise unsupported(f"unsupported element <clock><{child.tag}>")


def _cpu(defn: DomainDefinition, accel: str, caps: Capabilities) -> tuple[CpuMode, Optional[str]]:
    cpu = defn.root.find("cpu")
    if cpu is None:
        return CpuMode.DEFAULT, None
    for child in cpu:
        if isinstance(child.tag, str) and child.tag not in ("model", "topology"):
            raise unsupported(f"unsupported element <cpu><{child.tag}>")
    model = _text(cpu.find("model"))
    mode = cpu.get("mode") or ("custom" if model else "default")
    _one_of(mode, {"host-passthrough", "maximum", "custom"}, "<cpu mode=...>")
    if mode == "host-passthrough":
        if accel != "kvm":
            raise unsupported("<cpu mode='host-passthrough'> needs <domain type='kvm'>")
        return CpuMode.HOST_PASSTHROUGH, None
    if mode == "maximum":
        return CpuMode.MAXIMUM, None
    if not model:
        raise unsupported("<cpu mode='custom'> needs a <model>")
    if model not in caps.cpu_models:
        raise unsupported(f"CPU model '{model}' in <cpu><model> is not known to {caps.binary}")
    return CpuMode.CUSTOM, model


def _tuning(defn: DomainDefinition, max_vcpus: int, ncpus: int) -> tuple[dict[int, str], Optional[str]]:
    pins: dict[int, str] = {}
    emulator = None
    cputune = defn.root.find("cputune")
    if cputune is None:
        return pins, emulator
    for child in cputune:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "vcpupin":
            try:
                vcpu = int(child.get("vcpu", ""))
            except ValueError:
                raise unsupported("<cputune><vcpupin> needs vcpu=N") from None
            if not 0 <= vcpu < max_vcpus:
                raise unsupported(f"<cputune><vcpupin vcpu='{vcpu}'> names a vCPU the domain does not have")
            parse_cpuset(child.get("cpuset", ""), ncpus, f"<cputune><vcpupin vcpu='{vcpu}'>")
            pins[vcpu] = child.get("cpuset", "")
        elif child.tag == "emulatorpin":
            parse_cpuset(child.get("cpuset", ""), ncpus, "<cputune><emulatorpin>")
            emulator = child.get("cpuset")
        elif child.tag not in ("shares", "period", "quota"):
            raise unsupported(f"unsupported element <cputune><{child.tag}>")
        else:
            try:
                int(_text(child, ""))
            except ValueError:
                raise unsupported(f"<cputune><{child.tag}> needs a whole number") from None
    return pins, emulator


def _check_devices(caps: Capabilities, disks: tuple[Disk, ...], nics: tuple[NicPlan, ...],
                   serials: tuple, graphics: Graphics, balloon: bool, panic: bool) -> None:
    """Refuse devices this QEMU binary was built without (never claim what it lacks)."""
    if not caps.devices:
        return  # an old probe without the device list: QEMU itself will say
    wanted: list[tuple[str, str]] = []
    for disk in disks:
        if disk.bus is DiskBus.VIRTIO:
            wanted.append(("virtio-blk-pci", f"<disk> '{disk.target}' on the virtio bus"))
        else:
            wanted.append(("ide-cd" if disk.device is DiskDevice.CDROM else "ide-hd", f"<disk> '{disk.target}'"))
    wanted += [(n.nic.model, f"<interface><model> '{n.nic.model}'") for n in nics]
    if serials:
        wanted.append(("isa-serial", "<serial>"))
    if graphics.kind is GraphicsKind.VNC:
        wanted.append(("VGA", "<graphics type='vnc'>"))
    if balloon:
        wanted.append(("virtio-balloon-pci", "<memballoon model='virtio'>"))
    if panic:
        wanted.append(("pvpanic", "<panic>"))
    for device, element in wanted:
        if device not in caps.devices:
            raise unsupported(f"{element} needs QEMU device '{device}', which {caps.binary} lacks")


def add_defaults(defn: DomainDefinition, caps: Capabilities) -> None:
    """Fill in what the user left out, as libvirt does: UUID, arch and machine, lifecycle actions."""
    defn.ensure_uuid()
    os_node = defn.root.find("os")
    if os_node is None:
        os_node = etree.SubElement(defn.root, "os")
    type_node = os_node.find("type")
    if type_node is None:
        type_node = etree.Element("type")
        os_node.insert(0, type_node)
        type_node.text = "hvm"
    type_node.set("arch", type_node.get("arch") or ARCH)
    machine = type_node.get("machine") or caps.default_machine or "pc"
    type_node.set("machine", caps.canonical_machine(machine) or machine)
    for tag, default in (("on_poweroff", "destroy"), ("on_reboot", "restart"), ("on_crash", "destroy")):
        if defn.root.find(tag) is None:
            node = etree.Element(tag)
            node.text = default
            anchor = defn.root.find("devices")
            (anchor.addprevious(node) if anchor is not None else defn.root.append(node))
    if defn.root.find("devices") is None:
        etree.SubElement(defn.root, "devices")


def plan_guest(defn: DomainDefinition, caps: Capabilities, ncpus: int) -> GuestPlan:
    """Check a (defaulted) definition against this driver and QEMU; the plan of what to run."""
    _check_elements(defn)
    virt_type = defn.type
    _one_of(virt_type, {"kvm", "qemu"}, "<domain type=...>")
    if virt_type == "kvm" and not caps.kvm_usable:
        raise unsupported(f"<domain type='kvm'> needs KVM, which {caps.binary} cannot use on this host "
                          "(use type='qemu')")
    if virt_type == "qemu" and "tcg" not in caps.accelerators:
        raise unsupported(f"<domain type='qemu'> needs TCG, which {caps.binary} lacks")
    accel = "kvm" if virt_type == "kvm" else "tcg"
    if defn.os_type != "hvm":
        raise unsupported(f"unsupported OS type '{defn.os_type}' in <os><type> (supported: hvm)")
    type_node = defn.root.find("os/type")
    arch = type_node.get("arch") or ARCH
    if arch != ARCH:
        raise unsupported(f"unsupported architecture '{arch}' in <os><type arch=...> (supported: {ARCH})")
    machine = type_node.get("machine") or caps.default_machine or "pc"
    if caps.canonical_machine(machine) is None:
        raise unsupported(f"machine type '{machine}' in <os><type machine=...> is not known to {caps.binary}")
    boot_order = []
    for boot in defn.root.findall("os/boot"):
        dev = _one_of(boot.get("dev", ""), {"hd", "cdrom", "network"}, "<os><boot dev=...>")
        boot_order.append(BootDevice(dev))
    memory = defn.memory_kib
    if memory <= 0:
        raise unsupported("<memory> must be larger than zero")
    current = defn.current_memory_kib
    if current > memory:
        raise unsupported("<currentMemory> is larger than <memory>")
    max_memory_kib, slots = None, 0
    max_node = defn.root.find("maxMemory")
    if max_node is not None:
        max_memory_kib = parse_size_kib(max_node.text or "0", max_node.get("unit"), "<maxMemory>")
        slots = int(max_node.get("slots", "0"))
        if slots <= 0:
            raise unsupported("<maxMemory> needs slots=N")
    max_vcpus, vcpus = defn.max_vcpus, defn.vcpus
    if max_vcpus < 1 or not 1 <= vcpus <= max_vcpus:
        raise unsupported(f"<vcpu current='{vcpus}'> must be between 1 and the maximum {max_vcpus}")
    canonical = caps.canonical_machine(machine)
    limit = next((m.cpu_max for m in caps.machines if m.name == canonical), max_vcpus)
    if max_vcpus > limit:
        raise unsupported(f"<vcpu> {max_vcpus} is more than machine '{machine}' allows ({limit})")
    vcpu_node = defn.root.find("vcpu")
    vcpu_cpuset = vcpu_node.get("cpuset") if vcpu_node is not None else None
    if vcpu_cpuset:
        parse_cpuset(vcpu_cpuset, ncpus, "<vcpu cpuset=...>")
    cpu_mode, cpu_model = _cpu(defn, accel, caps)
    disks = tuple(parse_disk(node, machine) for node in defn.devices("disk"))
    nics = tuple(parse_interface(node, index) for index, node in enumerate(defn.devices("interface")))
    aliases = [d.device_id for d in disks] + [n.nic.alias for n in nics]
    duplicate = next((a for a in aliases if aliases.count(a) > 1), None)
    if duplicate:
        raise unsupported(f"device alias '{duplicate}' is used twice")
    balloons = list(defn.devices("memballoon"))
    balloon = True
    if balloons:
        balloon = _one_of(balloons[0].get("model", "virtio"), {"virtio", "none"}, "<memballoon model=...>") == "virtio"
    actions = {}
    for tag, allowed in _SUPPORTED_ACTIONS.items():
        value = _text(defn.root.find(tag), "destroy" if tag != "on_reboot" else "restart")
        actions[tag] = _one_of(value, allowed, f"<{tag}>")
    pins, emulator_pin = _tuning(defn, max_vcpus, ncpus)
    emulator = _text(defn.root.find("devices/emulator"), caps.binary)
    graphics = _graphics(defn)
    serials = _serials(defn)
    panic = any(True for _ in defn.devices("panic"))
    _check_devices(caps, disks, nics, serials, graphics, balloon, panic)
    return GuestPlan(name=defn.name, uuid=defn.uuid or "", accel=accel, machine=machine, emulator=emulator,
                     memory_kib=memory, current_memory_kib=current, vcpus=vcpus, max_vcpus=max_vcpus,
                     cpu_mode=cpu_mode, cpu_model=cpu_model, boot_order=tuple(boot_order), disks=disks, nics=nics,
                     serials=serials, graphics=graphics, balloon=balloon,
                     panic=panic, on_poweroff=actions["on_poweroff"],
                     on_reboot=actions["on_reboot"], on_crash=actions["on_crash"], vcpu_pins=pins,
                     emulator_pin=emulator_pin, vcpu_cpuset=vcpu_cpuset, max_memory_kib=max_memory_kib,
                     memory_slots=slots)


def guest_config(plan: GuestPlan, monitor_fd: int, pidfile: str, *, incoming: Optional[str] = None) -> GuestConfig:
    """The command-line configuration of a plan, with the runtime pieces (monitor descriptor, pidfile)."""
    extra: list[str] = []
    if plan.balloon:
        extra += ["-device", '{"driver":"virtio-balloon-pci","id":"balloon0"}']
    if plan.panic:
        extra += ["-device", '{"driver":"pvpanic","id":"panic0"}']
    if plan.on_reboot == "destroy":
        extra.append("-no-reboot")
    if plan.on_crash == "preserve" and plan.panic:
        extra += ["-action", "panic=pause"]
    return GuestConfig(
        name=plan.name, uuid=plan.uuid, memory_kib=plan.memory_kib, monitor=MonitorSocket(fd=monitor_fd),
        max_memory_kib=plan.max_memory_kib, memory_slots=plan.memory_slots, vcpus=plan.vcpus,
        max_vcpus=plan.max_vcpus, machine=plan.machine, accel=plan.accel, cpu_mode=plan.cpu_mode,
        cpu_model=plan.cpu_model, boot_order=plan.boot_order, disks=plan.disks, nics=tuple(n.nic for n in plan.nics),
        serials=tuple(CharDevice(kind, path) for kind, path in plan.serials), graphics=plan.graphics,
        start_paused=True, pidfile=pidfile, incoming=incoming, no_shutdown=plan.on_poweroff == "restart",
        emulator=plan.emulator, extra_args=tuple(extra))


def with_disks(plan: GuestPlan, disks: tuple[Disk, ...]) -> GuestPlan:
    """The plan with another disk list."""
    return replace(plan, disks=disks)


def lifecycle_action(defn: DomainDefinition, tag: str) -> str:
    """The text of <on_poweroff>/<on_reboot>/<on_crash> with libvirt's defaults."""
    return _text(defn.root.find(tag), "restart" if tag == "on_reboot" else "destroy") or "destroy"


def set_child_text(parent: Any, tag: str, value: Optional[str]) -> None:
    """Set (or with None remove) a child element's text."""
    node = parent.find(tag)
    if value is None:
        if node is not None:
            parent.remove(node)
        return
    if node is None:
        node = etree.SubElement(parent, tag)
    node.text = value
