"""Domain definitions of the test driver: parsed once, completed with libvirt's defaults, printed from a cache."""

from __future__ import annotations

import re
import uuid as uuidlib
from typing import Iterator, Optional

from lxml import etree

from virtkernel.domainxml import CANONICAL_UUID
from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError

from . import xmlwriter

TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
"""Namespace of libvirt's test-driver elements inside a domain (runstate, transient, hasmanagedsave)."""

DEFAULT_ARCH = "i686"
_SIMPLE_TOP = frozenset(("name", "uuid", "memory", "currentMemory", "vcpu", "os", "devices"))
_PLAIN = re.compile(r"[A-Za-z0-9_.-]+")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.+:@-]+")

# Top-level elements in the order libvirt prints them; others keep their place just before <devices>.
_TOP_ORDER = {tag: rank for rank, tag in enumerate((
    "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory", "currentMemory",
    "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads", "iothreadids", "cputune", "numatune",
    "resource", "sysinfo", "bootloader", "bootloader_args", "os", "idmap", "features", "cpu", "clock",
    "on_poweroff", "on_reboot", "on_crash", "on_lockfailure", "pm", "perf", "keywrap", "launchSecurity",
    "devices", "seclabel"))}
_UNKNOWN_TOP_RANK = _TOP_ORDER["devices"] - 0.5
_FOREIGN_TOP_RANK = len(_TOP_ORDER) + 1

# Device kinds in the order libvirt prints them.
_DEVICE_ORDER = {tag: rank for rank, tag in enumerate((
    "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial", "parallel",
    "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video", "hostdev", "redirdev",
    "redirfilter", "hub", "watchdog", "memballoon", "rng", "nvram", "panic", "shmem", "memory", "iommu", "vsock",
    "crypto"))}

_OS_BEFORE_BOOT = ("type", "firmware", "loader", "nvram", "kernel", "initrd", "cmdline", "dtb", "acpi")
_GENERATED_IFNAME_PREFIXES = ("vnet", "macvtap", "macvlan")
# Disk buses with drive addresses: units per bus, buses per controller.
_DRIVE_BUSES = {"ide": ("hd", 2, 2), "scsi": ("sd", 7, 1), "sata": ("sd", 6, 1), "fdc": ("fd", 2, 1)}


def xml_error(message: str, code: ErrorCode = ErrorCode.XML_ERROR,
              domain: ErrorDomain = ErrorDomain.DOMAIN) -> VirtError:
    """An error about a domain XML document."""
    return VirtError(message, code=code, domain=domain)


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                          huge_tree=False, remove_blank_text=True, remove_comments=True, remove_pis=True)


def parse_document(text: str | bytes, what: str = "domain XML") -> etree._Element:
    """Parse untrusted XML (no DTDs, entities or network); malformed input is XML_DETAIL like libvirt."""
    if text is None:
        raise xml_error(f"{what} is missing", ErrorCode.XML_DETAIL)
    data = text.encode() if isinstance(text, str) else bytes(text)
    if not data.strip():
        raise xml_error(f"{what} is empty", ErrorCode.XML_DETAIL)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise xml_error(f"malformed {what}: {exc}", ErrorCode.XML_DETAIL) from None
    if root.getroottree().docinfo.doctype:
        raise xml_error(f"{what} must not contain a DOCTYPE declaration (DTDs and entities are refused)")
    return root


def _drive_index(dev: str, prefix: str) -> Optional[int]:
    letters = dev[len(prefix):] if dev.startswith(prefix) else ""
    if not letters or not letters.isalpha() or not letters.islower():
        return None
    index = 0
    for letter in letters:
        index = index * 26 + (ord(letter) - ord("a") + 1)
    return index - 1


class DomainConfig:
    """One domain definition: the lxml tree with libvirt's defaults applied, hot fields, and cached text.

    Parsing only checks what libvirt checks and reads the hot fields (one pass over the top level); libvirt's
    defaults and element order are applied the first time the tree itself is needed (printing, changes).
    """

    __slots__ = ("_root", "_completed", "name", "uuid", "memory", "current_memory", "max_vcpus", "vcpus", "os_type",
                 "_text", "_live_text", "_plain_arch")

    def __init__(self, root: etree._Element) -> None:
        self._root = root
        self._completed = False
        self._text: Optional[str] = None
        self._live_text: Optional[tuple[int, str]] = None
        self._plain_arch: Optional[str] = None  # set by _scan for a minimal definition (see _simple_text)
        self.name = ""
        self.uuid = ""
        self.memory = 0
        self.current_memory = 0
        self.max_vcpus = 1
        self.vcpus = 1
        self.os_type = ""

    # -- building ---------------------------------------------------------------------------------------------

    @classmethod
    def from_xml(cls, text: str | bytes) -> "DomainConfig":
        """Parse domain XML and check what libvirt checks."""
        return cls.from_element(parse_document(text))

    @classmethod
    def from_element(cls, root: etree._Element) -> "DomainConfig":
        """Check an already parsed <domain> element (taken over, not copied)."""
        if root.tag != "domain":
            raise xml_error(f"unexpected root element <{root.tag}>, expecting <domain>", domain=ErrorDomain.XML)
        config = cls(root)
        config._scan()
        return config

    def copy(self) -> "DomainConfig":
        """An independent copy (same defaults, same cached text)."""
        other = DomainConfig(etree.fromstring(etree.tostring(self.root), _PARSER))
        other._completed = True
        other.name, other.uuid, other.os_type = self.name, self.uuid, self.os_type
        other.memory, other.current_memory = self.memory, self.current_memory
        other.max_vcpus, other.vcpus = self.max_vcpus, self.vcpus
        other._text = self._text
        return other

    @property
    def root(self) -> etree._Element:
        """The tree, completed with libvirt's defaults (done once, on first use)."""
        if not self._completed:
            self._complete()
            self._completed = True
        return self._root

    def _scan(self) -> None:
        root = self._root
        virt_type = root.get("type")
        if not virt_type:
            raise xml_error("missing domain type attribute", ErrorCode.INTERNAL_ERROR)
        if virt_type not in VALID_TYPES:
            raise xml_error(f"invalid domain type {virt_type}", ErrorCode.CONFIG_UNSUPPORTED)
        name = uuid_text = memory = current = vcpu = os_type = devices = os_node = None
        plain = True
        count = 0
        for child in root:
            count += 1
            tag = child.tag
            if tag in _ACTIONS:
                plain = False
                if (child.text or "").strip() not in _ACTIONS[tag]:
                    raise xml_error(f"unknown {tag} action: {(child.text or '').strip()}",
                                    ErrorCode.CONFIG_UNSUPPORTED)
            elif tag == "title":
                plain = False
                if "\n" in (child.text or ""):
                    raise xml_error("title can't contain newlines")
            elif tag == "name":
                name = child
            elif tag == "uuid":
                uuid_text = child
            elif tag == "memory":
                memory = child
            elif tag == "currentMemory":
                current = child
            elif tag == "vcpu":
                vcpu = child
            elif tag == "os":
                os_node = child
                for sub in child:
                    if sub.tag == "type":
                        os_type = (sub.text or "").strip()
                        break
            elif tag == "devices":
                devices = child
            else:
                plain = False
        name_text = (name.text or "").strip() if name is not None else ""
        if not name_text:
            raise xml_error("missing domain name information", ErrorCode.NO_NAME)
        if "/" in name_text:
            raise xml_error(f"name {name_text} cannot contain '/'")
        self.name = name_text
        if uuid_text is None:
            self.uuid = str(uuidlib.uuid4())
        else:
            text = (uuid_text.text or "").strip()
            if not CANONICAL_UUID.fullmatch(text):
                try:
                    text = str(uuidlib.UUID(text))
                except ValueError:
                    raise xml_error("malformed uuid element", ErrorCode.INTERNAL_ERROR) from None
            self.uuid = text
        max_kib = _size_of(memory, "memory")
        if not max_kib:
            raise xml_error("Memory size must be specified via <memory> or in the <numa> configuration")
        cur_kib = _size_of(current, "currentMemory")
        self.memory = max_kib
        self.current_memory = max_kib if not cur_kib or cur_kib > max_kib else cur_kib
        if vcpu is not None:
            try:
                maximum = int((vcpu.text or "1").strip() or "1")
                now = int(vcpu.get("current", maximum))
            except ValueError:
                raise xml_error("invalid vcpu count") from None
            if maximum <= 0:
                raise xml_error("CPU IDs in <numa> exceed the <vcpu> count", ErrorCode.INTERNAL_ERROR)
            if now > maximum:
                raise xml_error("maximum vCPU count must not be less than current vCPU count",
                                ErrorCode.CONFIG_UNSUPPORTED)
            if now <= 0:
                raise xml_error("invalid current vcpus count")
            self.max_vcpus, self.vcpus = maximum, now
        if not os_type:
            raise xml_error("an os <type> must be specified")
        if os_type == "exe" and not (os_node.findtext("init") or "").strip():
            raise xml_error("init binary must be specified")
        self.os_type = os_type
        if devices is not None and len(devices):
            _check_devices(devices)
        elif plain:
            self._plain_arch = _plain_arch(root, count, name_text, name, (uuid_text, memory, current), vcpu, os_node,
                                           devices)

    def _complete(self) -> None:
        root = self._root
        if "id" in root.attrib:
            del root.attrib["id"]
        children: dict[str, etree._Element] = {}
        for child in root:
            tag = child.tag
            if isinstance(tag, str) and tag not in children:
                children[tag] = child
        if "uuid" not in children:
            children["uuid"] = etree.SubElement(root, "uuid")
        children["uuid"].text = self.uuid
        if "memory" not in children:
            children["memory"] = etree.SubElement(root, "memory")
        if "currentMemory" not in children:
            children["currentMemory"] = etree.SubElement(root, "currentMemory")
        _set_size(children["memory"], self.memory)
        _set_size(children["currentMemory"], self.current_memory)
        if "vcpu" not in children:
            children["vcpu"] = etree.SubElement(root, "vcpu")
        self._write_vcpus(self.max_vcpus, self.vcpus, children["vcpu"])
        self._complete_os(children["os"])
        for tag, default in (("on_poweroff", "destroy"), ("on_reboot", "restart"), ("on_crash", "destroy")):
            if tag not in children:
                etree.SubElement(root, tag).text = default
        if "clock" not in children:
            etree.SubElement(root, "clock", offset="utc")
        if "devices" not in children:
            etree.SubElement(root, "devices")
        else:
            self._complete_devices(children["devices"])
        self._order_top_level()

    def _write_memory(self, memory: int, current: int) -> None:
        root = self._root
        _set_size(root.find("memory"), memory)
        _set_size(root.find("currentMemory"), current)
        self.memory, self.current_memory = memory, current

    def _complete_vcpus(self) -> None:
        node = self._root.find("vcpu")
        if node is None:
            node = etree.SubElement(self._root, "vcpu")
        self._write_vcpus(self.max_vcpus, self.vcpus, node)

    def _write_vcpus(self, maximum: int, current: int, node: Optional[etree._Element] = None) -> None:
        node = node if node is not None else self._root.find("vcpu")
        attrs = dict(node.attrib)
        node.attrib.clear()
        node.set("placement", attrs.pop("placement", "static"))
        if "cpuset" in attrs:
            node.set("cpuset", attrs.pop("cpuset"))
        attrs.pop("current", None)
        if current != maximum:
            node.set("current", str(current))
        for key, value in attrs.items():
            node.set(key, value)
        node.text = str(maximum)
        self.max_vcpus, self.vcpus = maximum, current

    @staticmethod
    def _complete_os(os_node: etree._Element) -> None:
        type_node = None
        anchor = None
        has_boot = False
        for child in os_node:
            tag = child.tag
            if tag == "type" and type_node is None:
                type_node = child
            if tag in ("boot", "kernel"):
                has_boot = True
            if tag in _OS_BEFORE_BOOT:
                anchor = child
        if not type_node.get("arch"):
            attrs = dict(type_node.attrib)
            type_node.attrib.clear()
            type_node.set("arch", DEFAULT_ARCH)
            for key, value in attrs.items():
                type_node.set(key, value)
        if not has_boot and type_node.text.strip() == "hvm":
            boot = etree.SubElement(os_node, "boot", dev="hd")
            if anchor is not None and anchor.getnext() is not boot:
                anchor.addnext(boot)

    def _complete_devices(self, devices: Optional[etree._Element] = None) -> None:
        if devices is None:
            devices = self._root.find("devices")
        targets: set[str] = set()
        controllers_needed: list[tuple[str, int]] = []
        nic_index = 0
        for device in devices:
            if device.tag == "disk":
                self._complete_disk(device, targets, controllers_needed)
            elif device.tag == "interface":
                self._complete_interface(device, nic_index)
                nic_index += 1
        present = {(c.get("type"), c.get("index", "0")) for c in devices.iter("controller")}
        for bus, index in controllers_needed:
            if (bus, str(index)) not in present:
                present.add((bus, str(index)))
                etree.SubElement(devices, "controller", type=bus, index=str(index))
        ranks = [_DEVICE_ORDER.get(d.tag, len(_DEVICE_ORDER)) for d in devices]
        if ranks != sorted(ranks):
            devices[:] = sorted(devices, key=lambda d: _DEVICE_ORDER.get(d.tag, len(_DEVICE_ORDER)))

    @staticmethod
    def _complete_disk(disk: etree._Element, targets: set[str], controllers: list[tuple[str, int]]) -> None:
        target = disk.find("target")
        dev = target.get("dev")
        bus = target.get("bus")
        if bus is None:
            bus = next((b for b, (p, _u, _c) in _DRIVE_BUSES.items() if dev.startswith(p)), "virtio")
            if dev.startswith("vd") or dev.startswith("xvd"):
                bus = "virtio" if dev.startswith("vd") else "xen"
            target.set("bus", bus)
        if bus not in _DRIVE_BUSES or disk.find("address") is not None:
            return
        prefix, units, buses = _DRIVE_BUSES[bus]
        index = _drive_index(dev, prefix)
        if index is None:
            return
        per_controller = units * buses
        controller = index // per_controller
        address = etree.SubElement(disk, "address", type="drive", controller=str(controller),
                                   bus=str((index % per_controller) // units), target="0", unit=str(index % units))
        del address  # placed last inside <disk>, as libvirt prints it
        if (bus, controller) not in controllers:
            controllers.append((bus, controller))

    @staticmethod
    def _complete_interface(nic: etree._Element, index: int) -> None:
        existing = nic.find("target")
        if existing is not None:
            # Names with libvirt's generated-name prefixes are dropped and generated again, as libvirt does.
            if not (existing.get("dev") or "").startswith(_GENERATED_IFNAME_PREFIXES):
                return
            nic.remove(existing)
        target = etree.Element("target", dev=f"testnet{index}")
        anchor = nic.find("source")
        if anchor is None:
            anchor = nic.find("mac")
        if anchor is not None:
            anchor.addnext(target)
        else:
            nic.insert(0, target)

    def _order_top_level(self) -> None:
        def rank(element: etree._Element) -> float:
            tag = element.tag
            if not isinstance(tag, str):
                return _UNKNOWN_TOP_RANK
            if tag[0] == "{":
                return _FOREIGN_TOP_RANK
            return _TOP_ORDER.get(tag, _UNKNOWN_TOP_RANK)
        root = self._root
        ranks = [rank(child) for child in root]
        if ranks != sorted(ranks):
            root[:] = sorted(root, key=rank)

    # -- reading ----------------------------------------------------------------------------------------------

    def to_xml(self, domain_id: Optional[int] = None) -> str:
        """The definition as libvirt prints it; with ``domain_id`` as the live XML (id attribute)."""
        if domain_id is not None and domain_id >= 0:
            cached = self._live_text
            if cached is None or cached[0] != domain_id:
                start = f"<domain type='{self._root.get('type')}'"
                inactive = self.to_xml()
                live = inactive.replace(start, f"{start} id='{domain_id}'", 1) if inactive.startswith(start) else \
                    xmlwriter.to_text(self.root, [("id", str(domain_id))])
                cached = self._live_text = (domain_id, live)
            return cached[1]
        text = self._text
        if text is None:
            text = None if self._completed else self._simple_text()
            if text is None:
                text = xmlwriter.to_text(self.root)
            self._text = text
        return text

    def _simple_text(self) -> Optional[str]:
        """The printed XML of a minimal definition, written straight from the scanned fields (no tree work).

        Only for definitions made of nothing but name, uuid, memory, currentMemory, vcpu, an ``hvm`` os type and
        no devices, without anything that would need escaping (decided by ``_scan``); anything else (None) takes
        the general path, which gives the same text (the test suite compares both).
        """
        arch = self._plain_arch
        if arch is None:
            return None
        root = self._root
        current = f" current='{self.vcpus}'" if self.vcpus != self.max_vcpus else ""
        return (f"<domain type='{root.get('type')}'>\n  <name>{self.name}</name>\n  <uuid>{self.uuid}</uuid>\n"
                f"  <memory unit='KiB'>{self.memory}</memory>\n"
                f"  <currentMemory unit='KiB'>{self.current_memory}</currentMemory>\n"
                f"  <vcpu placement='static'{current}>{self.max_vcpus}</vcpu>\n"
                f"  <os>\n    <type arch='{arch}'>hvm</type>\n    <boot dev='hd'/>\n  </os>\n"
                "  <clock offset='utc'/>\n  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
                "  <on_crash>destroy</on_crash>\n  <devices>\n  </devices>\n</domain>\n")

    def changed(self) -> None:
        """Forget the cached text after the tree was modified."""
        self._text = None
        self._live_text = None

    @property
    def title(self) -> Optional[str]:
        """The <title> text."""
        return self.root.findtext("title")

    @property
    def description(self) -> Optional[str]:
        """The <description> text."""
        return self.root.findtext("description")

    def devices(self, tag: Optional[str] = None) -> Iterator[etree._Element]:
        """Device elements, optionally of one kind."""
        devices = self.root.find("devices")
        if devices is None:
            return iter(())
        return (d for d in devices if tag is None or d.tag == tag)

    def find_disk(self, path: str) -> Optional[etree._Element]:
        """The disk whose target dev or source path is ``path``."""
        for disk in self.devices("disk"):
            target = disk.find("target")
            if target is not None and target.get("dev") == path:
                return disk
            source = disk.find("source")
            if source is not None and path in (source.get("file"), source.get("dev"), source.get("name")):
                return disk
        return None

    def find_interface(self, device: str) -> Optional[etree._Element]:
        """The NIC whose target dev or MAC address is ``device``."""
        wanted = device.lower()
        for nic in self.devices("interface"):
            target = nic.find("target")
            if target is not None and target.get("dev") == device:
                return nic
            mac = nic.find("mac")
            if mac is not None and (mac.get("address") or "").lower() == wanted:
                return nic
        return None

    # -- changing ---------------------------------------------------------------------------------------------

    def set_memory(self, memory: Optional[int] = None, current: Optional[int] = None) -> None:
        """Change maximum and/or current memory (KiB); current never exceeds the maximum."""
        self.root  # noqa: B018 - complete the tree before changing it
        memory = self.memory if memory is None else memory
        current = self.current_memory if current is None else current
        self._write_memory(memory, min(current, memory))
        self.changed()

    def set_vcpus(self, maximum: Optional[int] = None, current: Optional[int] = None) -> None:
        """Change the maximum and/or current vCPU count."""
        self.root  # noqa: B018 - complete the tree before changing it
        maximum = self.max_vcpus if maximum is None else maximum
        current = self.vcpus if current is None else current
        self._write_vcpus(maximum, min(current, maximum))
        self.changed()

    def set_name(self, name: str) -> None:
        """Rename the definition."""
        self.root.find("name").text = name
        self.name = name
        self.changed()

    def set_text_element(self, tag: str, value: Optional[str]) -> None:
        """Set or remove <title> / <description>."""
        node = self.root.find(tag)
        if value is None or value == "":
            if node is not None:
                self.root.remove(node)
        else:
            if node is None:
                node = etree.Element(tag)
                self.root.append(node)
                self._order_top_level()
            node.text = value
        self.changed()

    def add_device(self, device: etree._Element) -> None:
        """Add a device (completed like a parsed one: NIC target names, drive addresses, controllers)."""
        devices = self.root.find("devices")
        devices.append(device)
        self._complete_devices()
        self.changed()

    def remove_device(self, device: etree._Element) -> None:
        """Remove a device element of this definition."""
        device.getparent().remove(device)
        self.changed()

    def replace_device(self, old: etree._Element, new: etree._Element) -> None:
        """Put ``new`` where ``old`` was."""
        old.getparent().replace(old, new)
        self.changed()

    def metadata(self, create: bool = False) -> Optional[etree._Element]:
        """The <metadata> element."""
        node = self.root.find("metadata")
        if node is None and create:
            node = etree.SubElement(self.root, "metadata")
            self._order_top_level()
        return node


_UNIT_SCALE = {"b": 1, "byte": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2,
               "mb": 1000**2, "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4, "tib": 1024**4,
               "tb": 1000**4, "p": 1024**5, "pib": 1024**5, "pb": 1000**5, "e": 1024**6, "eib": 1024**6,
               "eb": 1000**6}
VALID_TYPES = frozenset({"none", "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test", "vmware", "hyperv",
                         "vbox", "phyp", "parallels", "bhyve", "vz", "hvf"})
_ACTIONS = {"on_poweroff": ("destroy", "restart", "preserve", "rename-restart"),
            "on_reboot": ("destroy", "restart", "preserve", "rename-restart"),
            "on_crash": ("destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart")}


def _size_of(node: Optional[etree._Element], tag: str) -> Optional[int]:
    """A memory size in KiB with libvirt's unit names (rounded up to whole KiB)."""
    if node is None or node.text is None or not node.text.strip():
        return None
    text = node.text.strip()
    unit = node.get("unit") or "KiB"
    scale = _UNIT_SCALE.get(unit.lower())
    if scale is None:
        raise VirtError(f"unknown suffix '{unit}'", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.NONE)
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise xml_error(f"Invalid value '{text}' for element or attribute './{tag}[1]'", domain=ErrorDomain.XML)
    return (number * scale + 1023) // 1024


def _plain_arch(root: etree._Element, count: int, name: str, name_node: etree._Element,
                sized: tuple[Optional[etree._Element], ...], vcpu: Optional[etree._Element],
                os_node: Optional[etree._Element], devices: Optional[etree._Element]) -> Optional[str]:
    """The os arch when a definition is minimal enough for DomainConfig._simple_text, else None.

    ``sized`` are uuid, memory and currentMemory (their text is rewritten anyway); ``count`` is the number of
    top-level children, which must all be among the elements given (no duplicates, nothing else).
    """
    if os_node is None or count != 2 + (vcpu is not None) + (devices is not None) + sum(e is not None for e in sized):
        return None
    if len(root.attrib) != 1 or root.nsmap or not _PLAIN.fullmatch(root.get("type") or ""):
        return None
    if name_node.text != name or len(name_node) or name_node.keys() or not _PLAIN_NAME.fullmatch(name):
        return None
    for element in sized:
        if element is not None and (len(element) or element.keys() not in _NO_KEYS_OR_UNIT):
            return None
    if vcpu is not None and (len(vcpu) or not _VCPU_KEYS.issuperset(vcpu.keys())
                             or vcpu.get("placement", "static") != "static"):
        return None
    if devices is not None and (len(devices) or devices.keys()):
        return None
    if len(os_node) != 1 or os_node.keys():
        return None
    kind = os_node[0]
    if kind.tag != "type" or kind.text != "hvm":
        return None
    keys = kind.keys()
    if not keys:
        return DEFAULT_ARCH
    arch = kind.get("arch")
    return arch if keys == ["arch"] and _PLAIN.fullmatch(arch) else None


_NO_KEYS_OR_UNIT = ([], ["unit"])
_VCPU_KEYS = frozenset(("placement", "current"))


def _set_size(node: etree._Element, kib: int) -> None:
    node.text = str(kib)
    if node.attrib and (len(node.attrib) != 1 or node.get("unit") != "KiB"):
        node.attrib.clear()
    node.set("unit", "KiB")


def _check_devices(devices: etree._Element) -> None:
    targets: set[str] = set()
    for device in devices:
        if device.tag != "disk":
            continue
        dev = None
        for sub in device:
            if sub.tag == "target":
                dev = sub.get("dev")
                break
        if not dev:
            raise xml_error("missing target information for device")
        if dev in targets:
            raise xml_error(f"target '{dev}' duplicated for disk sources")
        targets.add(dev)


def test_element(root: etree._Element, name: str) -> Optional[etree._Element]:
    """A libvirt test-driver element (runstate, transient, hasmanagedsave) inside a domain."""
    return root.find(f"{{{TEST_NS}}}{name}")
