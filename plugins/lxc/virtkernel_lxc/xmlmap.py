"""`<domain type='lxc'>` to ContainerSpec: what the driver accepts, the defaults it fills in, and refusals.

Everything the XML may say is listed here; any other element or value is refused with an error naming it
before anything starts (VIR_ERR_CONFIG_UNSUPPORTED), so a definition never means more than what runs.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Iterable, Optional

from lxml import etree

from virtkernel.domainxml import DomainDefinition, parse_size_kib
from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError

from .spec import DEFAULT_HOST_BINDS, BindMount, ContainerSpec, IdMap, IdMapRange, Interface, IPAddress, TmpfsMount

__all__ = ["Tunables", "ContainerPlan", "unsupported", "xml_error", "check_definition", "plan_container",
           "add_defaults", "host_interface_name", "UNLIMITED_KIB"]

UNLIMITED_KIB = 9007199254740991
"""libvirt's VIR_DOMAIN_MEMORY_PARAM_UNLIMITED: a memory tunable without a limit."""

_TOP = {"name", "uuid", "title", "description", "metadata", "memory", "currentMemory", "vcpu", "cputune",
        "memtune", "os", "on_poweroff", "on_reboot", "on_crash", "devices", "idmap"}
_OS = {"type", "init", "initarg", "initenv", "initdir"}
_CPUTUNE = {"shares", "period", "quota"}
_MEMTUNE = {"hard_limit", "soft_limit", "swap_hard_limit"}
_DEVICES = {"filesystem", "interface", "console", "emulator"}
_LIFECYCLE = {"on_poweroff": "destroy", "on_reboot": "restart", "on_crash": "destroy"}
_HOSTNAME_MAX = 64


def unsupported(message: str) -> VirtError:
    """VIR_ERR_CONFIG_UNSUPPORTED from the lxc driver."""
    return VirtError(message, code=ErrorCode.CONFIG_UNSUPPORTED, domain=ErrorDomain.LXC)


def xml_error(message: str) -> VirtError:
    """VIR_ERR_XML_ERROR from the lxc driver."""
    return VirtError(message, code=ErrorCode.XML_ERROR, domain=ErrorDomain.LXC)


@dataclass(frozen=True)
class Tunables:
    """Memory tunables the spec does not carry (bytes; None = not set)."""

    soft_limit: Optional[int] = None
    swap_hard_limit: Optional[int] = None


@dataclass(frozen=True)
class ContainerPlan:
    """A definition turned into what starts it: the spec and the cgroup tunables the spec does not carry."""

    spec: ContainerSpec
    tunables: Tunables


def _tag(node: etree._Element) -> Optional[str]:
    return node.tag if isinstance(node.tag, str) else None


def _children(node: etree._Element) -> Iterable[etree._Element]:
    return (child for child in node if _tag(child) is not None)


def _only(node: etree._Element, allowed: set[str], where: str) -> None:
    for child in _children(node):
        if child.tag not in allowed:
            raise unsupported(f"unsupported element <{child.tag}> in {where} of an lxc domain")


def _int(text: Optional[str], what: str, minimum: Optional[int] = None) -> int:
    try:
        value = int((text or "").strip())
    except ValueError:
        raise xml_error(f"invalid {what} '{(text or '').strip()}': not an integer") from None
    if minimum is not None and value < minimum:
        raise xml_error(f"invalid {what} '{value}': must be at least {minimum}")
    return value


def _size_bytes(node: etree._Element, what: str) -> int:
    return parse_size_kib((node.text or "").strip(), node.get("unit"), what) * 1024


def check_definition(defn: DomainDefinition) -> None:
    """Refuse a definition this driver cannot run exactly as written (names the element)."""
    plan_container(defn)


def host_interface_name(uuid: str, index: int) -> str:
    """A host-side veth name for a NIC without <target dev>: stable per domain and index, at most 15 bytes."""
    return f"vk{hashlib.sha1(uuid.encode()).hexdigest()[:9]}{index}"[:15]


def add_defaults(defn: DomainDefinition) -> None:
    """What libvirt fills in for an lxc domain: a UUID and a pty console."""
    defn.ensure_uuid()
    devices = defn.devices_element()
    if devices.find("console") is None:
        console = etree.SubElement(devices, "console", type="pty")
        etree.SubElement(console, "target", type="lxc", port="0")


def _check_name(name: str) -> None:
    if name in (".", "..") or "\0" in name:
        raise xml_error(f"domain name '{name}' is not allowed for an lxc domain")


def plan_container(defn: DomainDefinition) -> ContainerPlan:
    """The ContainerSpec (and tunables, live XML) for a definition; refuses what it cannot honour."""
    root = defn.root
    if defn.type != "lxc":
        raise unsupported(f"domain type '{defn.type}' is not supported by the lxc driver (use <domain type='lxc'>)")
    _check_name(defn.name)
    _only(root, _TOP, "<domain>")
    uuid = defn.uuid or "00000000-0000-0000-0000-000000000000"
    if root.find("memory") is None:
        raise xml_error("missing <memory> in lxc domain XML")
    spec = ContainerSpec(name=defn.name, uuid=uuid, host_binds=[])
    name_bytes = defn.name.encode()
    spec.hostname = defn.name if len(name_bytes) <= _HOSTNAME_MAX else name_bytes[:_HOSTNAME_MAX].decode(
        "utf-8", "ignore")
    for tag, allowed in _LIFECYCLE.items():
        value = (root.findtext(tag) or allowed).strip()
        if value != allowed:
            raise unsupported(f"<{tag}>{value}</{tag}> is not supported by the lxc driver (only '{allowed}')")
    _plan_os(root, spec)
    _plan_cpu(root, defn, spec)
    tunables = _plan_memory(root, defn, spec)
    _plan_idmap(root, spec)
    _plan_devices(root, spec)
    try:
        spec.validate()
    except ValueError as exc:
        raise xml_error(str(exc)) from None
    return ContainerPlan(spec, tunables)


def _plan_os(root: etree._Element, spec: ContainerSpec) -> None:
    os_node = root.find("os")
    if os_node is None:
        raise xml_error("missing <os> in lxc domain XML (<os><type>exe</type><init>...</init></os>)")
    _only(os_node, _OS, "<os>")
    os_type = (os_node.findtext("type") or "").strip()
    if os_type != "exe":
        raise unsupported(f"os type '{os_type}' is not supported by the lxc driver (only 'exe')")
    init = (os_node.findtext("init") or "/sbin/init").strip()
    if not init.startswith("/"):
        raise xml_error(f"<init> '{init}' must be an absolute path")
    spec.init = init
    spec.args = [node.text or "" for node in os_node.findall("initarg")]
    for node in os_node.findall("initenv"):
        name = node.get("name")
        if not name or "=" in name:
            raise xml_error(f"<initenv> needs a name attribute without '=' (got {name!r})")
        spec.env[name] = node.text or ""
    workdir = os_node.findtext("initdir")
    if workdir is not None:
        if not workdir.strip().startswith("/"):
            raise xml_error(f"<initdir> '{workdir.strip()}' must be an absolute path")
        spec.workdir = workdir.strip()


def _plan_cpu(root: etree._Element, defn: DomainDefinition, spec: ContainerSpec) -> None:
    vcpu = root.find("vcpu")
    if vcpu is not None:
        for attribute in vcpu.attrib:
            if attribute not in ("cpuset", "current", "placement"):
                raise unsupported(f"unsupported attribute '{attribute}' of <vcpu> in an lxc domain")
        if vcpu.get("placement", "static") != "static":
            raise unsupported(f"<vcpu placement='{vcpu.get('placement')}'> is not supported (only 'static')")
        spec.vcpus = defn.vcpus
        if vcpu.get("cpuset"):
            spec.cpuset = vcpu.get("cpuset")
    cputune = root.find("cputune")
    if cputune is not None:
        _only(cputune, _CPUTUNE, "<cputune>")
        if cputune.find("shares") is not None:
            spec.cpu_shares = _int(cputune.findtext("shares"), "<cputune><shares>", 2)
        if cputune.find("period") is not None:
            spec.cpu_period = _int(cputune.findtext("period"), "<cputune><period>", 1000)
        if cputune.find("quota") is not None:
            quota = _int(cputune.findtext("quota"), "<cputune><quota>")
            spec.cpu_quota = None if quota < 0 else quota
            if spec.cpu_quota is not None and spec.cpu_quota < 1000:
                raise xml_error(f"invalid <cputune><quota> '{quota}': must be -1 or at least 1000")


def _plan_memory(root: etree._Element, defn: DomainDefinition, spec: ContainerSpec) -> Tunables:
    if defn.memory_kib <= 0:
        raise xml_error("<memory> of an lxc domain must be larger than zero")
    if defn.current_memory_kib > defn.memory_kib:
        raise xml_error(f"<currentMemory> ({defn.current_memory_kib} KiB) is larger than <memory> "
                        f"({defn.memory_kib} KiB)")
    spec.memory_limit = defn.current_memory_kib * 1024
    memtune = root.find("memtune")
    soft = swap = None
    if memtune is not None:
        _only(memtune, _MEMTUNE, "<memtune>")
        hard_node = memtune.find("hard_limit")
        if hard_node is not None:
            hard = _size_bytes(hard_node, "<memtune><hard_limit>")
            if hard < UNLIMITED_KIB * 1024:
                spec.memory_limit = hard
        soft_node = memtune.find("soft_limit")
        if soft_node is not None:
            soft = _size_bytes(soft_node, "<memtune><soft_limit>")
        swap_node = memtune.find("swap_hard_limit")
        if swap_node is not None:
            swap = _size_bytes(swap_node, "<memtune><swap_hard_limit>")
            if swap < (spec.memory_limit or 0):
                raise xml_error("<memtune><swap_hard_limit> must not be smaller than the memory limit")
    return Tunables(soft_limit=soft if soft is None or soft < UNLIMITED_KIB * 1024 else None,
                    swap_hard_limit=swap if swap is None or swap < UNLIMITED_KIB * 1024 else None)


def _plan_idmap(root: etree._Element, spec: ContainerSpec) -> None:
    idmap = root.find("idmap")
    if idmap is None:
        return
    _only(idmap, {"uid", "gid"}, "<idmap>")
    ranges: dict[str, list[IdMapRange]] = {"uid": [], "gid": []}
    for node in _children(idmap):
        ranges[node.tag].append(IdMapRange(inside=_int(node.get("start"), f"<idmap><{node.tag}> start", 0),
                                           outside=_int(node.get("target"), f"<idmap><{node.tag}> target", 0),
                                           count=_int(node.get("count"), f"<idmap><{node.tag}> count", 1)))
    if not ranges["uid"] or not ranges["gid"]:
        raise xml_error("<idmap> needs at least one <uid> and one <gid> range")
    spec.idmap = IdMap(uids=ranges["uid"], gids=ranges["gid"])


def _plan_devices(root: etree._Element, spec: ContainerSpec) -> None:
    devices = root.find("devices")
    consoles = 0
    if devices is not None:
        _only(devices, _DEVICES, "<devices>")
        index = 0
        for device in _children(devices):
            if device.tag == "filesystem":
                _plan_filesystem(device, spec)
            elif device.tag == "interface":
                spec.interfaces.append(_plan_interface(device, spec.uuid, index))
                index += 1
            elif device.tag == "console":
                consoles += 1
                if device.get("type", "pty") != "pty":
                    raise unsupported(f"console type '{device.get('type')}' is not supported (only 'pty')")
                target = device.find("target")
                if target is not None and target.get("type", "lxc") != "lxc":
                    raise unsupported(f"console target type '{target.get('type')}' is not supported (only 'lxc')")
    if consoles > 1:
        raise unsupported("an lxc domain may have only one <console>")
    spec.console = True
    if spec.root_dir is None:
        spec.host_binds = list(DEFAULT_HOST_BINDS)


def _plan_filesystem(device: etree._Element, spec: ContainerSpec) -> None:
    kind = device.get("type", "mount")
    _only(device, {"source", "target", "readonly", "driver"}, f"<filesystem type='{kind}'>")
    driver = device.find("driver")
    if driver is not None and driver.get("type", "path") != "path":
        raise unsupported(f"filesystem driver type '{driver.get('type')}' is not supported (only 'path')")
    if device.get("accessmode", "passthrough") != "passthrough":
        raise unsupported(f"filesystem accessmode '{device.get('accessmode')}' is not supported "
                          "(only 'passthrough')")
    target_node = device.find("target")
    target = target_node.get("dir") if target_node is not None else None
    if not target or not target.startswith("/"):
        raise xml_error(f"<filesystem type='{kind}'> needs <target dir='/absolute/path'/>")
    readonly = device.find("readonly") is not None
    source = device.find("source")
    if kind == "mount":
        source_dir = source.get("dir") if source is not None else None
        if not source_dir or not source_dir.startswith("/"):
            raise xml_error(f"<filesystem type='mount'> for '{target}' needs <source dir='/absolute/path'/>")
        if target.rstrip("/") == "":
            if spec.root_dir is not None:
                raise xml_error("an lxc domain may have only one root filesystem (target dir='/')")
            spec.root_dir = source_dir
            if readonly:
                raise unsupported("a read-only root filesystem is not supported by the lxc driver")
        else:
            spec.binds.append(BindMount(source=source_dir, target=target, readonly=readonly))
    elif kind == "ram":
        if readonly:
            raise unsupported("a read-only <filesystem type='ram'> is not supported")
        size = None
        if source is not None and source.get("usage") is not None:
            size = parse_size_kib(source.get("usage"), source.get("units", "KiB"), "<source usage>") * 1024
        spec.tmpfs.append(TmpfsMount(target=target, size=size))
    else:
        raise unsupported(f"filesystem type '{kind}' is not supported by the lxc driver (only 'mount' and 'ram')")


def _plan_interface(device: etree._Element, uuid: str, index: int) -> Interface:
    kind = device.get("type")
    if kind not in ("ethernet", "bridge"):
        raise unsupported(f"interface type '{kind}' is not supported by the lxc driver (only 'ethernet' and "
                          "'bridge')")
    _only(device, {"mac", "target", "guest", "ip", "route", "source", "mtu"}, f"<interface type='{kind}'>")
    target = device.find("target")
    guest = device.find("guest")
    host_name = target.get("dev") if target is not None and target.get("dev") else host_interface_name(uuid, index)
    iface = Interface(host_name=host_name,
                      container_name=guest.get("dev") if guest is not None and guest.get("dev") else f"eth{index}")
    if kind == "bridge":
        source = device.find("source")
        if source is None or not source.get("bridge"):
            raise xml_error("<interface type='bridge'> needs <source bridge='NAME'/>")
        iface.bridge = source.get("bridge")
    elif device.find("source") is not None:
        raise unsupported("<source> of an <interface type='ethernet'> is not supported by the lxc driver")
    mac = device.find("mac")
    if mac is not None:
        iface.mac = mac.get("address")
    mtu = device.find("mtu")
    if mtu is not None:
        iface.mtu = _int(mtu.get("size"), "<mtu size>", 68)
    for ip in device.findall("ip"):
        for attribute in ip.attrib:
            if attribute not in ("address", "prefix", "family"):
                raise unsupported(f"unsupported attribute '{attribute}' of <interface><ip> in an lxc domain")
        try:
            address = ipaddress.ip_address(ip.get("address", ""))
        except ValueError:
            raise xml_error(f"invalid <ip address='{ip.get('address', '')}'> of interface {host_name}") from None
        prefix = _int(ip.get("prefix"), "<ip prefix>", 0) if ip.get("prefix") else (24 if address.version == 4 else 64)
        iface.addresses.append(IPAddress(str(address), prefix))
    for route in device.findall("route"):
        gateway = route.get("gateway")
        address = route.get("address")
        try:
            gateway_ip = ipaddress.ip_address(gateway or "")
        except ValueError:
            raise xml_error(f"invalid <route gateway='{gateway}'> of interface {host_name}") from None
        if address is not None and ipaddress.ip_address(address).packed.strip(b"\0"):
            raise unsupported(f"only default routes are supported on lxc interfaces (<route address='{address}'>)")
        if gateway_ip.version == 4:
            iface.gateway4 = str(gateway_ip)
        else:
            iface.gateway6 = str(gateway_ip)
    return iface
