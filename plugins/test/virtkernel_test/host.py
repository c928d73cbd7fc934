"""Host descriptions: the built-in default host, and host files in the format libvirt's test driver reads.

A host file is ``<node>`` with ``<cpu>`` (nodes, sockets, cores, threads, active, mhz, model), ``<memory>`` (KiB),
and ``<domain>`` elements, inline or as ``<domain file='relative/or/absolute.xml'/>``. Inside a domain, libvirt's
test namespace (``http://libvirt.org/schemas/domain/test/1.0``) sets the initial state: ``<test:runstate>N``
(a DomainState number, default running), ``<test:transient/>`` and ``<test:hasmanagedsave/>``. Networks,
storage pools and other host objects are accepted and ignored.

Our own namespace ``https://virtkernel.dev/xmlns/test/1`` may switch driver features off (or on) to simulate
older peers::

    <vk:features xmlns:vk="https://virtkernel.dev/xmlns/test/1">
      <vk:disable name="MIGRATION_V3"/>        <!-- any DriverFeature name -->
      <vk:enable name="REMOTE"/>
    </vk:features>
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from lxml import etree

from virtkernel.enums import DomainState, ErrorCode, ErrorDomain
from virtkernel.errors import VirtError
from virtkernel.features import DriverFeature

from .definition import TEST_NS, DomainConfig, parse_document
from .snapshots import STATE_NAMES, Snapshot

VK_NS = "https://virtkernel.dev/xmlns/test/1"
"""Our namespace for test-host extensions (feature switches)."""

DEFAULT_FEATURES = frozenset({
    # What libvirt 9.0's test driver claims ...
    DriverFeature.FD_PASSING, DriverFeature.TYPED_PARAM_STRING, DriverFeature.NETWORK_UPDATE_HAS_CORRECT_ORDER,
    # ... plus what migration between test hosts needs.
    DriverFeature.MIGRATION_V1, DriverFeature.MIGRATION_V2, DriverFeature.MIGRATION_V3,
    DriverFeature.MIGRATION_PARAMS, DriverFeature.MIGRATION_P2P, DriverFeature.MIGRATION_OFFLINE, DriverFeature.MIGRATE_CHANGE_PROTECTION, DriverFeature.XML_MIGRATABLE,
})
"""Features a test host claims unless its description switches them off."""

DEFAULT_DOMAIN_XML = """<domain type='test'>
  <name>test</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <memory unit='KiB'>8388608</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='i686'>hvm</type>
    <boot dev='hd'/>
  </os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <source file='/guest/diskimage1'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>
    <interface type='network'>
      <mac address='aa:bb:cc:dd:ee:ff'/>
      <source network='default'/>
      <target dev='testnet0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
    </interface>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </memballoon>
  </devices>
</domain>
"""
"""The one domain of test:///default (the same guest libvirt's test driver starts with)."""


@dataclass(frozen=True)
class NodeCell:
    """One NUMA cell of the simulated host."""

    memory_kib: int
    cpus: tuple[int, ...]
    page_size_kib: int


@dataclass(frozen=True)
class NodeDescription:
    """The simulated host's CPUs and memory (what virNodeGetInfo reports) and its NUMA cells."""

    model: str = "i686"
    memory_kib: int = 3145728
    cpus: int = 16
    mhz: int = 1400
    nodes: int = 2
    sockets: int = 2
    cores: int = 2
    threads: int = 2
    cells: tuple[NodeCell, ...] = (NodeCell(2097152, tuple(range(0, 8)), 4), NodeCell(4194304, tuple(range(8, 16)), 8))


@dataclass
class DomainSeed:
    """A domain of a host description with its initial state."""

    config: DomainConfig
    state: DomainState = DomainState.RUNNING
    persistent: bool = True
    managed_save: bool = False
    snapshots: list[Snapshot] = field(default_factory=list)


@dataclass
class HostDescription:
    """Everything a test host starts with."""

    node: NodeDescription
    domains: list[DomainSeed]
    features: frozenset[DriverFeature] = DEFAULT_FEATURES
    path: Optional[str] = None
    directory: Optional[str] = None
    notes: list[str] = field(default_factory=list)


def default_host() -> HostDescription:
    """The host of test:///default: one running domain 'test'."""
    return HostDescription(node=NodeDescription(), domains=[DomainSeed(DomainConfig.from_xml(DEFAULT_DOMAIN_XML))])


def host_error(path: str, problem: str, code: ErrorCode = ErrorCode.XML_ERROR, where: str = "") -> VirtError:
    """An error about a host description file, naming the file.

    With ``where`` (the element at fault) the problem comes first, in libvirt's words where libvirt has them,
    and the file and element follow in parentheses.
    """
    if where:
        return VirtError(f"{problem} (test host file '{path}', {where})", code=code, domain=ErrorDomain.TEST)
    return VirtError(f"test host file '{path}': {problem}", code=code, domain=ErrorDomain.TEST)


def load_host_file(path: str) -> HostDescription:
    """Read a host description file (re-read on every open, like libvirt)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise host_error(path, f"failed to parse xml document: cannot read it ({exc.strerror})") from None
    try:
        root = parse_document(data, "host description")
    except VirtError as exc:
        raise host_error(path, exc.message) from None
    if root.tag != "node":
        raise host_error(path, f"the root element is <{root.tag}>, expected <node>")
    directory = os.path.dirname(path)
    node = _parse_node(root, path)
    features = _parse_features(root, path)
    domains: list[DomainSeed] = []
    for index, element in enumerate(root.findall("domain"), start=1):
        domains.append(_parse_domain(element, index, directory, path))
    names: set[str] = set()
    uuids: set[str] = set()
    for seed in domains:
        if seed.config.name in names or seed.config.uuid in uuids:
            raise host_error(path, f"domain '{seed.config.name}' is described twice (same name or UUID)",
                             ErrorCode.OPERATION_FAILED)
        names.add(seed.config.name)
        uuids.add(seed.config.uuid)
    return HostDescription(node=node, domains=domains, features=features, path=path, directory=directory)


def _int_child(cpu: etree._Element, tag: str, default: int, path: str) -> int:
    text = cpu.findtext(tag)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise host_error(path, f"<cpu><{tag}> must be a whole number, not '{text.strip()}'") from None
    if value <= 0:
        raise host_error(path, f"<cpu><{tag}> must be positive, not {value}")
    return value


def _parse_node(root: etree._Element, path: str) -> NodeDescription:
    base = NodeDescription()
    cpu = root.find("cpu")
    memory_text = root.findtext("memory")
    memory = base.memory_kib
    if memory_text is not None:
        try:
            memory = int(memory_text.strip())
        except ValueError:
            raise host_error(path, f"<memory> must be a whole number of KiB, not '{memory_text.strip()}'") from None
    if cpu is None:
        return NodeDescription(memory_kib=memory, cells=())
    nodes = _int_child(cpu, "nodes", base.nodes, path)
    sockets = _int_child(cpu, "sockets", base.sockets, path)
    cores = _int_child(cpu, "cores", base.cores, path)
    threads = _int_child(cpu, "threads", base.threads, path)
    total = nodes * sockets * cores * threads
    active = _int_child(cpu, "active", total, path)
    return NodeDescription(
        model=(cpu.findtext("model") or base.model).strip(), memory_kib=memory, cpus=min(active, total),
        mhz=_int_child(cpu, "mhz", base.mhz, path), nodes=nodes, sockets=sockets, cores=cores, threads=threads,
        cells=())


def _parse_features(root: etree._Element, path: str) -> frozenset[DriverFeature]:
    features = set(DEFAULT_FEATURES)
    for block in root.findall(f"{{{VK_NS}}}features"):
        for switch in block:
            if not isinstance(switch.tag, str):
                continue
            action = etree.QName(switch).localname
            name = (switch.get("name") or "").strip().upper()
            if action not in ("enable", "disable"):
                raise host_error(path, f"unknown feature switch <{action}> (use <enable name=.../> or <disable name=.../>)")
            try:
                feature = DriverFeature[name]
            except KeyError:
                known = ", ".join(f.name for f in DriverFeature)
                raise host_error(path, f"unknown driver feature '{name}' (known: {known})") from None
            if action == "enable":
                features.add(feature)
            else:
                features.discard(feature)
    return frozenset(features)


def _parse_domain(element: etree._Element, index: int, directory: str, path: str) -> DomainSeed:
    reference = element.get("file")
    where = f"domain #{index}"
    if reference is not None:
        target = reference if os.path.isabs(reference) else os.path.join(directory, reference)
        where = f"domain file '{target}'"
        try:
            with open(target, "rb") as handle:
                element = parse_document(handle.read(), "domain XML")
        except OSError as exc:
            raise host_error(path, f"cannot read {where}: {exc.strerror}") from None
        except VirtError as exc:
            raise host_error(path, f"{where}: {exc.message}") from None
    state = DomainState.RUNNING
    runstate = element.find(f"{{{TEST_NS}}}runstate")
    if runstate is not None:
        try:
            state = DomainState(int((runstate.text or "").strip()))
        except ValueError:
            raise host_error(path, f"{where}: invalid runstate '{(runstate.text or '').strip()}'") from None
    transient = element.find(f"{{{TEST_NS}}}transient") is not None
    managed_save = element.find(f"{{{TEST_NS}}}hasmanagedsave") is not None
    snapshot_nodes = element.findall(f"{{{TEST_NS}}}domainsnapshot")
    for child in list(element):
        if isinstance(child.tag, str) and child.tag.startswith(f"{{{TEST_NS}}}"):
            element.remove(child)
    etree.cleanup_namespaces(element)
    try:
        config = DomainConfig.from_element(etree.fromstring(etree.tostring(element)))
    except VirtError as exc:
        raise host_error(path, f"{where}: {exc.message}") from None
    snapshots = [_parse_snapshot(node, where, path, config) for node in snapshot_nodes]
    if transient and state == DomainState.SHUTOFF:
        raise host_error(path, "transient domain cannot have runstate 'shutoff'", where=where)
    for snapshot in snapshots:
        if snapshot.domain_xml is None:
            snapshot.domain_xml = config.to_xml()
    return DomainSeed(config=config, state=state, persistent=not transient, managed_save=managed_save,
                      snapshots=snapshots)


_SNAPSHOT_STATES = {name: number for number, name in STATE_NAMES.items()}


def _parse_snapshot(node: etree._Element, where: str, path: str, owner: DomainConfig) -> Snapshot:
    """A snapshot described inside a host-file domain (libvirt's <test:domainsnapshot>)."""
    def text(tag: str) -> Optional[str]:
        found = node.find(f"{{{TEST_NS}}}{tag}")
        if found is None:
            found = node.find(tag)
        return found.text.strip() if found is not None and found.text else None

    name = text("name")
    if not name:
        raise host_error(path, f"{where}: a snapshot without a <name>")
    state_word = text("state") or "shutoff"
    state = _SNAPSHOT_STATES.get(state_word)
    if state is None:
        raise host_error(path, f"{where}: snapshot '{name}' has an unknown <state> '{state_word}'")
    parent_node = node.find("parent")
    if parent_node is None:
        parent_node = node.find(f"{{{TEST_NS}}}parent")
    parent = None
    if parent_node is not None:
        parent = (parent_node.findtext("name") or parent_node.findtext(f"{{{TEST_NS}}}name") or "").strip() or None
    created = text("creationTime")
    domain = node.find("domain")
    if domain is None:
        domain = node.find(f"{{{TEST_NS}}}domain")
    domain_xml = None
    disks: tuple[str, ...] = ()
    if domain is not None:
        domain = etree.fromstring(etree.tostring(domain))
        uuid_node = domain.find("uuid")
        if uuid_node is None:
            name_node = domain.find("name")
            uuid_node = etree.Element("uuid")
            if name_node is not None:
                name_node.addnext(uuid_node)
            else:
                domain.insert(0, uuid_node)
            uuid_node.text = owner.uuid
        try:
            snap_config = DomainConfig.from_element(domain)
        except VirtError as exc:
            raise host_error(path, f"{where}: snapshot '{name}': {exc.message}") from None
        domain_xml = snap_config.to_xml()
        disks = tuple(t.get("dev") for d in snap_config.devices("disk")
                      if (t := d.find("target")) is not None and t.get("dev"))
    try:
        creation = int(created) if created else 0
    except ValueError:
        raise host_error(path, f"{where}: snapshot '{name}' has an invalid <creationTime>") from None
    return Snapshot(name=name, description=text("description"), state=state, domain_xml=domain_xml,  # type: ignore[arg-type]
                    disks=disks, creation_time=creation, parent=parent)


def capabilities_xml(node: NodeDescription) -> str:
    """The capabilities document of a test host (the same shape libvirt's test driver prints)."""
    cells = []
    for index, cell in enumerate(node.cells):
        cpus = "".join(
            f"            <cpu id='{cpu}' socket_id='{index}' die_id='0' core_id='{pos}' siblings='{cpu}'/>\n"
            for pos, cpu in enumerate(cell.cpus))
        pages = cell.memory_kib // cell.page_size_kib
        cells.append(
            f"        <cell id='{index}'>\n"
            f"          <memory unit='KiB'>{cell.memory_kib}</memory>\n"
            f"          <pages unit='KiB' size='{cell.page_size_kib}'>{pages}</pages>\n"
            f"          <pages unit='KiB' size='2048'>0</pages>\n"
            f"          <pages unit='KiB' size='1048576'>0</pages>\n"
            f"          <cpus num='{len(cell.cpus)}'>\n{cpus}          </cpus>\n"
            f"        </cell>\n")
    guests = "".join(
        "  <guest>\n"
        f"    <os_type>{os_type}</os_type>\n"
        "    <arch name='i686'>\n"
        "      <wordsize>32</wordsize>\n"
        "      <emulator>/usr/bin/test-hv</emulator>\n"
        "      <domain type='test'/>\n"
        "    </arch>\n"
        "    <features>\n"
        "      <pae/>\n"
        "      <nonpae/>\n"
        "    </features>\n"
        "  </guest>\n\n" for os_type in ("hvm", "xen"))
    return (
        "<capabilities>\n\n"
        "  <host>\n"
        "    <cpu>\n"
        "      <arch>i686</arch>\n"
        "      <features>\n"
        "        <pae/>\n"
        "        <nonpae/>\n"
        "      </features>\n"
        "      <pages unit='KiB' size='4'/>\n"
        "      <pages unit='KiB' size='8'/>\n"
        "      <pages unit='KiB' size='2048'/>\n"
        "      <pages unit='KiB' size='1048576'/>\n"
        "    </cpu>\n"
        "    <power_management/>\n"
        "    <iommu support='no'/>\n"
        "    <topology>\n"
        f"      <cells num='{len(node.cells)}'>\n{''.join(cells)}      </cells>\n"
        "    </topology>\n"
        "    <secmodel>\n"
        "      <model>testSecurity</model>\n"
        "      <doi></doi>\n"
        "    </secmodel>\n"
        "  </host>\n\n"
        f"{guests}"
        "</capabilities>\n")


SYSINFO_XML = """<sysinfo type='smbios'>
  <bios>
    <entry name='vendor'>LENOVO</entry>
    <entry name='version'>G4ETA1WW (2.61 )</entry>
    <entry name='date'>05/07/2014</entry>
    <entry name='release'>2.61</entry>
  </bios>
</sysinfo>
"""
"""The SMBIOS description every test host reports."""
