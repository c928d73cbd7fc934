"""Tunables in the domain XML: read them from a definition, and write them back when the XML is printed.

A guest's tunables (blkio weight, memory limits, NUMA memory policy, NIC bandwidth, vCPU/emulator/IOThread
pinning, IOThreads, perf events) live in :class:`~virtkernel_test.guest.Tunables` once the API touched them;
they start from the definition's own ``<blkiotune>``, ``<memtune>``, ``<numatune>``, ``<cputune>``,
``<iothreadids>``, ``<perf>`` and ``<bandwidth>`` elements, and the printed XML shows them where libvirt does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from lxml import etree

from .definition import DomainConfig

if TYPE_CHECKING:
    from .guest import Tunables

UNLIMITED_KIB = 9007199254740991
NUMA_MODES = ("strict", "preferred", "interleave", "restrictive")
CPU_MAP_CPUS = 8
_MEMTUNE = ("hard_limit", "soft_limit", "swap_hard_limit", "min_guarantee")
_BANDWIDTH = {"inbound": ("average", "peak", "burst", "floor"), "outbound": ("average", "peak", "burst")}
BLKIO_DEVICE_FIELDS = ("weight", "read_iops_sec", "write_iops_sec", "read_bytes_sec", "write_bytes_sec")
"""Per-device blkio settings, in the order libvirt prints them inside <blkiotune><device>."""
_TUNING_TAGS = ("blkiotune", "memtune", "cputune", "numatune", "iothreads", "iothreadids", "perf")


def cpuset_text(pin: tuple[bool, ...]) -> str:
    """A CPU map as libvirt's cpuset string ("0-3,5")."""
    ranges: list[str] = []
    start: Optional[int] = None
    for index, on in enumerate(tuple(pin) + (False,)):
        if on and start is None:
            start = index
        elif not on and start is not None:
            ranges.append(str(start) if index - 1 == start else f"{start}-{index - 1}")
            start = None
    return ",".join(ranges)


def cpuset_map(text: str) -> tuple[bool, ...]:
    """A cpuset string as an 8-CPU map (CPUs beyond the map are ignored)."""
    chosen: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        negate = part.startswith("^")
        low, _, high = part.lstrip("^").partition("-")
        try:
            numbers = range(int(low), int(high or low) + 1)
        except ValueError:
            continue
        if negate:
            chosen.difference_update(numbers)
        else:
            chosen.update(numbers)
    return tuple(i in chosen for i in range(CPU_MAP_CPUS))


def _kib(node: Optional[etree._Element]) -> Optional[int]:
    if node is None or not (node.text or "").strip():
        return None
    scale = {"b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "m": 1024, "mib": 1024, "g": 1024 ** 2,
             "gib": 1024 ** 2}.get((node.get("unit") or "KiB").lower(), 1)
    try:
        return int(int(node.text.strip()) * scale)
    except ValueError:
        return None


def read(config: DomainConfig, tunables: "Tunables") -> "Tunables":
    """Fill ``tunables`` from the tuning elements of a definition; returns it."""
    root = config.root
    blkio = root.find("blkiotune")
    if blkio is not None and (blkio.findtext("weight") or "").strip().isdigit():
        tunables.blkio_weight = int(blkio.findtext("weight").strip())
    for device in blkio.findall("device") if blkio is not None else ():
        path = (device.findtext("path") or "").strip()
        values = {name: int(text) for name in BLKIO_DEVICE_FIELDS
                  if (text := (device.findtext(name) or "").strip()).isdigit() and int(text)}
        if path and values:
            tunables.blkio_devices[path] = values
    memtune = root.find("memtune")
    if memtune is not None:
        for name in _MEMTUNE:
            value = _kib(memtune.find(name))
            if value is not None:
                tunables.memory[name] = value
    numa = root.find("numatune/memory")
    if numa is not None:
        mode = numa.get("mode", "strict")
        tunables.numa_mode = NUMA_MODES.index(mode) if mode in NUMA_MODES else 0
        tunables.numa_nodeset = numa.get("nodeset", "")
    cputune = root.find("cputune")
    if cputune is not None:
        for pin in cputune.findall("vcpupin"):
            if (pin.get("vcpu") or "").isdigit():
                tunables.vcpu_pins[int(pin.get("vcpu"))] = cpuset_map(pin.get("cpuset", ""))
        emulator = cputune.find("emulatorpin")
        if emulator is not None:
            tunables.emulator_pin = cpuset_map(emulator.get("cpuset", ""))
    for thread in root.findall("iothreadids/iothread"):
        if (thread.get("id") or "").isdigit():
            tunables.iothreads[int(thread.get("id"))] = None
    if cputune is not None:
        for pin in cputune.findall("iothreadpin"):
            if (pin.get("iothread") or "").isdigit() and int(pin.get("iothread")) in tunables.iothreads:
                tunables.iothreads[int(pin.get("iothread"))] = cpuset_map(pin.get("cpuset", ""))
    for event in root.findall("perf/event"):
        if event.get("enabled") == "yes" and event.get("name"):
            tunables.perf.add(event.get("name"))
    for nic in config.devices("interface"):
        bandwidth = nic.find("bandwidth")
        mac = nic.find("mac")
        if bandwidth is None or mac is None or not mac.get("address"):
            continue
        values: dict[str, int] = {}
        for direction, keys in _BANDWIDTH.items():
            node = bandwidth.find(direction)
            for key in keys if node is not None else ():
                if (node.get(key) or "").isdigit():
                    values[f"{direction}.{key}"] = int(node.get(key))
        tunables.interfaces[mac.get("address")] = values
    return tunables


def _after(root: etree._Element, element: etree._Element, anchors: tuple[str, ...]) -> None:
    """Insert ``element`` after the last present anchor (in libvirt's order), else at the top."""
    for tag in reversed(anchors):
        found = root.find(tag)
        if found is not None:
            found.addnext(element)
            return
    root.insert(0, element)


def write(config: DomainConfig, tunables: "Tunables", domain_id: Optional[int]) -> str:
    """The definition's XML with ``tunables`` in place of its own tuning elements."""
    from . import xmlwriter
    root = etree.fromstring(etree.tostring(config.root))
    for tag in _TUNING_TAGS:
        for node in root.findall(tag):
            root.remove(node)
    head = ("name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory", "currentMemory")
    if tunables.blkio_weight or tunables.blkio_devices:
        blkio = etree.Element("blkiotune")
        if tunables.blkio_weight:
            etree.SubElement(blkio, "weight").text = str(tunables.blkio_weight)
        for path, values in tunables.blkio_devices.items():
            device = etree.SubElement(blkio, "device")
            etree.SubElement(device, "path").text = path
            for name in BLKIO_DEVICE_FIELDS:
                if values.get(name):
                    etree.SubElement(device, name).text = str(values[name])
        _after(root, blkio, head)
    limits = {k: v for k, v in tunables.memory.items() if v != UNLIMITED_KIB and not (k == "min_guarantee" and not v)}
    if limits:
        memtune = etree.Element("memtune")
        for name in _MEMTUNE:
            if name in limits:
                etree.SubElement(memtune, name, unit="KiB").text = str(limits[name])
        _after(root, memtune, head + ("blkiotune",))
    vcpu_anchor = head + ("blkiotune", "memtune", "memoryBacking", "vcpu")
    if tunables.iothreads:
        threads = etree.Element("iothreads")
        threads.text = str(len(tunables.iothreads))
        _after(root, threads, vcpu_anchor)
        ids = etree.Element("iothreadids")
        for number in sorted(tunables.iothreads):
            etree.SubElement(ids, "iothread", id=str(number))
        threads.addnext(ids)
    pinned_threads = {n: p for n, p in tunables.iothreads.items() if p is not None}
    if tunables.vcpu_pins or tunables.emulator_pin is not None or pinned_threads:
        cputune = etree.Element("cputune")
        for vcpu in sorted(tunables.vcpu_pins):
            etree.SubElement(cputune, "vcpupin", vcpu=str(vcpu), cpuset=cpuset_text(tunables.vcpu_pins[vcpu]))
        if tunables.emulator_pin is not None:
            etree.SubElement(cputune, "emulatorpin", cpuset=cpuset_text(tunables.emulator_pin))
        for number in sorted(pinned_threads):
            etree.SubElement(cputune, "iothreadpin", iothread=str(number), cpuset=cpuset_text(pinned_threads[number]))
        _after(root, cputune, vcpu_anchor + ("vcpus", "iothreads", "iothreadids"))
    if tunables.numa_nodeset or tunables.numa_mode:
        numatune = etree.Element("numatune")
        memory = etree.SubElement(numatune, "memory", mode=NUMA_MODES[tunables.numa_mode])
        if tunables.numa_nodeset:
            memory.set("nodeset", tunables.numa_nodeset)
        _after(root, numatune, vcpu_anchor + ("vcpus", "iothreads", "iothreadids", "cputune"))
    if tunables.perf:
        perf = etree.Element("perf")
        for name in sorted(tunables.perf):
            etree.SubElement(perf, "event", name=name, enabled="yes")
        _after(root, perf, ("os", "features", "cpu", "clock", "on_poweroff", "on_reboot", "on_crash", "pm"))
    devices = root.find("devices")
    for nic in devices.iter("interface") if devices is not None else ():
        mac = nic.find("mac")
        values = tunables.interfaces.get(mac.get("address") if mac is not None else "")
        old = nic.find("bandwidth")
        if old is not None:
            nic.remove(old)
        if not values:
            continue
        bandwidth = etree.Element("bandwidth")
        for direction, keys in _BANDWIDTH.items():
            attrs = {k: str(values[f"{direction}.{k}"]) for k in keys if values.get(f"{direction}.{k}")}
            if attrs:
                etree.SubElement(bandwidth, direction, attrs)
        if len(bandwidth):
            _after(nic, bandwidth, ("mac", "source"))
    return xmlwriter.to_text(root, [("id", str(domain_id))] if domain_id is not None and domain_id >= 0 else None)
