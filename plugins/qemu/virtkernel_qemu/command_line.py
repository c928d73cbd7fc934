"""Build a QEMU argv from a plain `GuestConfig` (a pure function: no I/O, no QEMU needed).

The driver turns domain XML into a `GuestConfig`; `build_argv` turns that into the argument list
for `process.spawn`.  Devices, block nodes and network back-ends use QEMU's JSON syntax (no comma
escaping to get wrong); only ``-chardev``, ``-name`` and a few plain options use ``key=value`` lists,
where commas in values are doubled.

Names the driver can rely on later (hot-unplug, block jobs, query-block):
  * disk: device id = ``Disk.alias`` (default: the target, ``vda``), block nodes
    ``<target>-storage`` (protocol) and ``<target>-format`` (format);
  * NIC n: netdev ``hostnet<n>``, device id ``Nic.alias`` (default ``net<n>``);
  * serial n: chardev ``charserial<n>``, device id ``serial<n>``;
  * monitor: chardev ``charmonitor``, mon ``monitor``; VNC display device ``video0``.

Configuration the target QEMU cannot do raises a VirtError with VIR_ERR_CONFIG_UNSUPPORTED (the
domain XML was valid, QEMU cannot do it), e.g. IDE on q35, read-only IDE disks, host-passthrough
without KVM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError

__all__ = ["DiskBus", "DiskFormat", "DiskDevice", "SourceType", "CacheMode", "Disk", "NetType", "Nic",
           "CharKind", "CharDevice", "Graphics", "GraphicsKind", "BootDevice", "CpuMode", "MonitorSocket",
           "GuestConfig", "build_argv", "ConfigUnsupported"]


class ConfigUnsupported(VirtError):
    """The configuration is valid but this QEMU setup cannot run it (VIR_ERR_CONFIG_UNSUPPORTED)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=ErrorCode.CONFIG_UNSUPPORTED, domain=ErrorDomain.QEMU)


class DiskBus(Enum):
    """Where a disk is attached."""

    VIRTIO = "virtio"
    IDE = "ide"
    SATA = "sata"


class DiskFormat(Enum):
    """Image format of a disk source."""

    RAW = "raw"
    QCOW2 = "qcow2"


class DiskDevice(Enum):
    """What the guest sees."""

    DISK = "disk"
    CDROM = "cdrom"


class SourceType(Enum):
    """Kind of disk source: a regular file or a host block device."""

    FILE = "file"
    BLOCK = "block"


class CacheMode(Enum):
    """libvirt's disk cache modes."""

    DEFAULT = "default"
    NONE = "none"
    WRITETHROUGH = "writethrough"
    WRITEBACK = "writeback"
    DIRECTSYNC = "directsync"
    UNSAFE = "unsafe"


# cache mode -> (O_DIRECT on the host, ignore flushes, guest-visible write cache)
_CACHE_FLAGS = {
    CacheMode.DEFAULT: (False, False, True),
    CacheMode.WRITEBACK: (False, False, True),
    CacheMode.NONE: (True, False, True),
    CacheMode.WRITETHROUGH: (False, False, False),
    CacheMode.DIRECTSYNC: (True, False, False),
    CacheMode.UNSAFE: (False, True, True),
}


@dataclass(frozen=True)
class Disk:
    """A disk or CD-ROM.  `target` is the guest name (vda, hda, sdb): it picks the bus slot."""

    target: str
    source: Optional[str] = None          # None: an empty CD-ROM drive
    bus: DiskBus = DiskBus.VIRTIO
    format: DiskFormat = DiskFormat.RAW
    device: DiskDevice = DiskDevice.DISK
    source_type: SourceType = SourceType.FILE
    readonly: bool = False
    cache: CacheMode = CacheMode.DEFAULT
    boot_index: Optional[int] = None
    alias: Optional[str] = None

    @property
    def device_id(self) -> str:
        """The QEMU device id."""
        return self.alias or self.target

    @property
    def storage_node(self) -> str:
        """The protocol-layer block node name."""
        return f"{self.target}-storage"

    @property
    def format_node(self) -> str:
        """The format-layer block node name (what the device uses)."""
        return f"{self.target}-format"


class NetType(Enum):
    """Network back-end."""

    USER = "user"
    TAP = "tap"


@dataclass(frozen=True)
class Nic:
    """A network interface: user-mode networking, or a tap device by name or by passed descriptor."""

    type: NetType = NetType.USER
    mac: Optional[str] = None
    model: str = "virtio-net-pci"
    ifname: Optional[str] = None          # tap: the host interface name (QEMU opens /dev/net/tun)
    tap_fd: Optional[int] = None          # tap: an open tap descriptor passed to QEMU instead
    boot_index: Optional[int] = None
    alias: Optional[str] = None


class CharKind(Enum):
    """Character device back-ends for serial ports."""

    PTY = "pty"
    FILE = "file"
    NULL = "null"


@dataclass(frozen=True)
class CharDevice:
    """A serial port's host side (a pty, a file, or nothing); the first one is the console."""

    kind: CharKind = CharKind.PTY
    path: Optional[str] = None            # CharKind.FILE: the log file


class GraphicsKind(Enum):
    """Graphical console."""

    NONE = "none"
    VNC = "vnc"


@dataclass(frozen=True)
class Graphics:
    """A VNC server (with a VGA card); port None picks the first free port from 5900."""

    kind: GraphicsKind = GraphicsKind.NONE
    listen: str = "127.0.0.1"
    port: Optional[int] = None


class BootDevice(Enum):
    """Entries of the domain-wide boot order (<os><boot dev=...>)."""

    HD = "hd"
    CDROM = "cdrom"
    NETWORK = "network"


class CpuMode(Enum):
    """How the guest CPU is chosen."""

    DEFAULT = "default"                   # QEMU's default model
    HOST_PASSTHROUGH = "host-passthrough"  # -cpu host (KVM only)
    MAXIMUM = "maximum"                   # -cpu max
    CUSTOM = "custom"                     # -cpu <cpu_model>


@dataclass(frozen=True)
class MonitorSocket:
    """Where QEMU serves QMP: a unix socket path it creates, or a listening socket passed as fd."""

    path: Optional[str] = None
    fd: Optional[int] = None


@dataclass(frozen=True)
class GuestConfig:
    """Everything the argv builder needs; plain data, filled in by the driver from domain XML."""

    name: str
    uuid: str
    memory_kib: int
    monitor: MonitorSocket
    max_memory_kib: Optional[int] = None  # memory hotplug ceiling (needs memory_slots)
    memory_slots: int = 0
    vcpus: int = 1
    max_vcpus: Optional[int] = None
    machine: str = "pc"
    accel: str = "kvm"
    cpu_mode: CpuMode = CpuMode.DEFAULT
    cpu_model: Optional[str] = None
    boot_order: tuple[BootDevice, ...] = ()
    disks: tuple[Disk, ...] = ()
    nics: tuple[Nic, ...] = ()
    serials: tuple[CharDevice, ...] = ()
    graphics: Graphics = field(default_factory=Graphics)
    start_paused: bool = True
    pidfile: Optional[str] = None
    incoming: Optional[str] = None        # "defer" for restore and incoming migration
    no_shutdown: bool = False             # guest poweroff stops QEMU instead of ending it
    emulator: str = "qemu-system-x86_64"
    extra_args: tuple[str, ...] = ()      # appended verbatim (<qemu:commandline>)

    def passed_fds(self) -> list[int]:
        """Descriptors the argv refers to: pass them to `process.spawn(pass_fds=...)`."""
        fds = [self.monitor.fd] if self.monitor.fd is not None else []
        return fds + [nic.tap_fd for nic in self.nics if nic.tap_fd is not None]


def _escape(value: str) -> str:
    """Double the commas of a value in a QEMU key=value list."""
    return value.replace(",", ",,")


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def _is_q35(machine: str) -> bool:
    return "q35" in machine


def _is_i440fx(machine: str) -> bool:
    return machine == "pc" or machine.startswith("pc-i440fx") or machine.startswith("pc-0") \
        or machine.startswith("pc-1") or machine.startswith("pc-2")


def _slot(disk: Disk) -> int:
    letter = disk.target[-1:]
    if not disk.target[:-1] or not "a" <= letter <= "z":
        raise ConfigUnsupported(f"disk target '{disk.target}' does not name a slot (expected e.g. 'sda')")
    return ord(letter) - ord("a")


def build_argv(config: GuestConfig) -> list[str]:
    """The full QEMU argument list (argv[0] is `config.emulator`) for a guest."""
    _check(config)
    argv = [config.emulator, "-name", f"guest={_escape(config.name)},debug-threads=on",
            "-uuid", config.uuid, "-nodefaults", "-no-user-config", "-msg", "timestamp=on",
            "-machine", config.machine, "-accel", config.accel]
    argv += _cpu(config)
    argv += ["-m", _memory(config), "-smp", _smp(config)]
    argv += _monitor(config.monitor)
    if config.pidfile:
        argv += ["-pidfile", config.pidfile]
    boot_indexes = _boot_indexes(config)
    argv += ["-boot", "strict=on"]
    argv += _disks(config, boot_indexes)
    argv += _nics(config, boot_indexes)
    argv += _serials(config)
    argv += _graphics(config.graphics)
    if config.start_paused:
        argv.append("-S")
    if config.no_shutdown:
        argv.append("-no-shutdown")
    if config.incoming:
        argv += ["-incoming", config.incoming]
    return argv + list(config.extra_args)


def _check(config: GuestConfig) -> None:
    if config.memory_kib <= 0:
        raise ConfigUnsupported(f"guest '{config.name}' needs a positive amount of memory")
    if config.max_memory_kib is not None:
        if config.memory_slots <= 0:
            raise ConfigUnsupported("a maximum memory size for hotplug needs at least one memory slot")
        if config.max_memory_kib < config.memory_kib:
            raise ConfigUnsupported("the maximum memory size is smaller than the initial memory")
    if config.vcpus < 1 or (config.max_vcpus is not None and config.max_vcpus < config.vcpus):
        raise ConfigUnsupported(f"guest '{config.name}' has {config.vcpus} vCPUs, at most {config.max_vcpus}")
    if (config.monitor.path is None) == (config.monitor.fd is None):
        raise ConfigUnsupported("the QMP monitor needs exactly one of a socket path or a descriptor")
    targets = [disk.target for disk in config.disks]
    duplicates = sorted({target for target in targets if targets.count(target) > 1})
    if duplicates:
        raise ConfigUnsupported(f"disk target '{duplicates[0]}' is used twice")
    explicit = any(d.boot_index is not None for d in config.disks) or any(n.boot_index is not None for n in config.nics)
    if explicit and config.boot_order:
        raise ConfigUnsupported("per-device boot order cannot be mixed with the domain-wide boot order")


def _cpu(config: GuestConfig) -> list[str]:
    if config.cpu_mode is CpuMode.HOST_PASSTHROUGH:
        if config.accel != "kvm":
            raise ConfigUnsupported(f"CPU mode 'host-passthrough' needs KVM, guest '{config.name}' uses "
                                    f"'{config.accel}'")
        return ["-cpu", "host"]
    if config.cpu_mode is CpuMode.MAXIMUM:
        return ["-cpu", "max"]
    if config.cpu_mode is CpuMode.CUSTOM:
        if not config.cpu_model:
            raise ConfigUnsupported("CPU mode 'custom' needs a CPU model name")
        return ["-cpu", config.cpu_model]
    return []


def _memory(config: GuestConfig) -> str:
    value = f"size={config.memory_kib}k"
    if config.max_memory_kib is not None:
        value += f",slots={config.memory_slots},maxmem={config.max_memory_kib}k"
    return value


def _smp(config: GuestConfig) -> str:
    maximum = config.max_vcpus or config.vcpus
    return f"{config.vcpus},maxcpus={maximum},sockets={maximum},cores=1,threads=1"


def _monitor(monitor: MonitorSocket) -> list[str]:
    where = f"fd={monitor.fd}" if monitor.fd is not None else f"path={_escape(str(monitor.path))}"
    return ["-chardev", f"socket,id=charmonitor,{where},server=on,wait=off",
            "-mon", "chardev=charmonitor,id=monitor,mode=control"]


def _boot_indexes(config: GuestConfig) -> dict[tuple[str, int], int]:
    """("disk"|"nic", position) -> bootindex, from per-device indexes or the domain-wide order."""
    indexes: dict[tuple[str, int], int] = {}
    for kind, devices in (("disk", config.disks), ("nic", config.nics)):
        for position, device in enumerate(devices):
            if device.boot_index is not None:
                indexes[(kind, position)] = device.boot_index
    next_index = 1
    for wanted in config.boot_order:
        if wanted is BootDevice.NETWORK:
            key = ("nic", 0) if config.nics else None
        else:
            kind = DiskDevice.CDROM if wanted is BootDevice.CDROM else DiskDevice.DISK
            positions = [i for i, d in enumerate(config.disks) if d.device is kind]
            key = ("disk", positions[0]) if positions else None
        if key is not None and key not in indexes:
            indexes[key] = next_index
            next_index += 1
    return indexes


def _disks(config: GuestConfig, boot_indexes: dict[tuple[str, int], int]) -> list[str]:
    argv: list[str] = []
    needs_ahci = False
    for position, disk in enumerate(config.disks):
        direct, no_flush, write_cache = _CACHE_FLAGS[disk.cache]
        cdrom = disk.device is DiskDevice.CDROM
        readonly = disk.readonly or cdrom
        if disk.source is not None:
            cache = {"direct": direct, "no-flush": no_flush}
            driver = "host_device" if disk.source_type is SourceType.BLOCK else "file"
            argv += ["-blockdev", _json({"driver": driver, "filename": disk.source, "node-name": disk.storage_node,
                                         "cache": cache, "read-only": readonly, "discard": "unmap"})]
            argv += ["-blockdev", _json({"driver": disk.format.value, "file": disk.storage_node,
                                         "node-name": disk.format_node, "cache": cache, "read-only": readonly})]
        elif not cdrom:
            raise ConfigUnsupported(f"disk '{disk.target}' has no source")
        device: dict[str, Any] = {"id": disk.device_id}
        if disk.bus is DiskBus.VIRTIO:
            if cdrom:
                raise ConfigUnsupported(f"CD-ROM '{disk.target}' cannot be on the virtio bus")
            device = {"driver": "virtio-blk-pci", **device}
        elif disk.bus is DiskBus.IDE:
            if not _is_i440fx(config.machine):
                raise ConfigUnsupported(f"IDE disk '{disk.target}': machine '{config.machine}' has no IDE "
                                        "controller (use the sata bus)")
            slot = _slot(disk)
            if slot > 3:
                raise ConfigUnsupported(f"IDE disk '{disk.target}': only hda to hdd exist")
            device = {"driver": "ide-cd" if cdrom else "ide-hd", **device,
                      "bus": f"ide.{slot // 2}", "unit": slot % 2}
        else:
            slot = _slot(disk)
            if slot > 5:
                raise ConfigUnsupported(f"SATA disk '{disk.target}': only sda to sdf exist")
            if _is_q35(config.machine):
                bus = f"ide.{slot}"  # q35's built-in AHCI controller
            else:
                needs_ahci = True
                bus = f"sata0.{slot}"
            device = {"driver": "ide-cd" if cdrom else "ide-hd", **device, "bus": bus}
        if readonly and not cdrom and disk.bus is not DiskBus.VIRTIO:
            raise ConfigUnsupported(f"read-only disk '{disk.target}' is only supported on the virtio bus")
        if disk.source is not None:
            device["drive"] = disk.format_node
        if not cdrom:
            device["write-cache"] = "on" if write_cache else "off"
        if ("disk", position) in boot_indexes:
            device["bootindex"] = boot_indexes[("disk", position)]
        argv += ["-device", _json(device)]
    if needs_ahci:
        argv[0:0] = ["-device", _json({"driver": "ahci", "id": "sata0"})]
    return argv


def _nics(config: GuestConfig, boot_indexes: dict[tuple[str, int], int]) -> list[str]:
    argv: list[str] = []
    for number, nic in enumerate(config.nics):
        netdev: dict[str, Any] = {"type": nic.type.value, "id": f"hostnet{number}"}
        if nic.type is NetType.TAP:
            if (nic.ifname is None) == (nic.tap_fd is None):
                raise ConfigUnsupported(f"tap interface {number} needs exactly one of a name or a descriptor")
            if nic.tap_fd is not None:
                netdev["fd"] = str(nic.tap_fd)
            else:
                netdev.update({"ifname": nic.ifname, "script": "no", "downscript": "no"})
        device: dict[str, Any] = {"driver": nic.model, "netdev": f"hostnet{number}", "id": nic.alias or f"net{number}"}
        if nic.mac:
            device["mac"] = nic.mac
        if ("nic", number) in boot_indexes:
            device["bootindex"] = boot_indexes[("nic", number)]
        argv += ["-netdev", _json(netdev), "-device", _json(device)]
    return argv


def _serials(config: GuestConfig) -> list[str]:
    argv: list[str] = []
    for number, serial in enumerate(config.serials):
        chardev = f"{serial.kind.value},id=charserial{number}"
        if serial.kind is CharKind.FILE:
            if not serial.path:
                raise ConfigUnsupported(f"serial port {number} logs to a file but has no path")
            chardev += f",path={_escape(serial.path)},append=on"
        argv += ["-chardev", chardev,
                 "-device", _json({"driver": "isa-serial", "chardev": f"charserial{number}", "id": f"serial{number}"})]
    return argv


def _graphics(graphics: Graphics) -> list[str]:
    if graphics.kind is GraphicsKind.NONE:
        return ["-display", "none"]
    host = f"[{graphics.listen}]" if ":" in graphics.listen else graphics.listen
    if graphics.port is None:
        display = f"{host}:0,to=100"
    elif graphics.port < 5900:
        raise ConfigUnsupported(f"VNC port {graphics.port} is below 5900")
    else:
        display = f"{host}:{graphics.port - 5900}"
    return ["-display", "none", "-vnc", display, "-device", _json({"driver": "VGA", "id": "video0"})]
