"""Golden scenarios: named call sequences on libvirt's test driver, replayed by runner.run_scenario.

Every scenario opens a fresh connection (test:///default unless it names a host file in hosts/),
runs its steps in order and closes everything, so no state leaks from one scenario to the next.
A step's `error` is the VIR_ERR_ name real libvirt 9.0 answers with; record.py checks it.
"""

from __future__ import annotations

try:
    from .runner import Const, HostUri, Ref, Scenario, Step, Tmp
except ImportError:  # imported from this directory (record.py run as a script)
    from runner import Const, HostUri, Ref, Scenario, Step, Tmp

MIXED_HOST = HostUri("mixed.xml")
SNAPSHOT_HOST = HostUri("snapshots.xml")
# One domain per state, named after it (test:runstate 0..7).
STATES_HOST = HostUri("states.xml")
HOST_STATES = ("nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended")
DEFAULT_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
UUID_A = "c7a5fdbd-edaf-9455-926a-d65c16db1809"
UUID_B = "c7a5fdbd-edaf-9455-926a-d65c16db1810"
ALL_CPUS = (True,) * 8
FIRST_CPU = (True,) + (False,) * 7
SECOND_AND_THIRD_CPU = (False, True, True) + (False,) * 5


def domain_xml(
    name: str,
    uuid: str | None = UUID_A,
    memory_kib: int = 262144,
    current_kib: int | None = None,
    vcpus: int = 1,
    current_vcpus: int | None = None,
    devices: str = "",
    extra: str = "",
) -> str:
    """A small test-driver domain definition."""
    uuid_line = f"<uuid>{uuid}</uuid>" if uuid else ""
    current = f"<currentMemory unit='KiB'>{current_kib}</currentMemory>" if current_kib else ""
    vcpu_current = f" current='{current_vcpus}'" if current_vcpus else ""
    return (
        f"<domain type='test'><name>{name}</name>{uuid_line}"
        f"<memory unit='KiB'>{memory_kib}</memory>{current}"
        f"<vcpu{vcpu_current}>{vcpus}</vcpu><os><type>hvm</type></os>{extra}"
        f"<devices>{devices}</devices></domain>"
    )


DISK_VDB = (
    "<disk type='file' device='disk'><source file='/guest/extra.img'/>"
    "<target dev='vdb' bus='virtio'/></disk>"
)
DISK_VDA_DUP = (
    "<disk type='file' device='disk'><source file='/guest/other.img'/>"
    "<target dev='vda' bus='virtio'/></disk>"
)
CDROM_HDC = (
    "<disk type='file' device='cdrom'><source file='/iso/one.iso'/>"
    "<target dev='hdc' bus='ide'/><readonly/></disk>"
)
CDROM_HDC_CHANGED = (
    "<disk type='file' device='cdrom'><source file='/iso/two.iso'/>"
    "<target dev='hdc' bus='ide'/><readonly/></disk>"
)
NIC_DEFAULT = (
    "<interface type='network'><mac address='aa:bb:cc:dd:ee:ff'/><source network='default'/>"
    "<target dev='testnet0'/></interface>"
)
NIC_LINK_DOWN = (
    "<interface type='network'><mac address='aa:bb:cc:dd:ee:ff'/><source network='default'/>"
    "<link state='down'/></interface>"
)
NIC_EXTRA = (
    "<interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/>"
    "</interface>"
)
NEW_DOMAIN = domain_xml("fresh", UUID_A)
NEW_DOMAIN_WITH_DISK = domain_xml(
    "fresh", UUID_A, devices=DISK_VDB.replace("vdb", "vda") + NIC_EXTRA + CDROM_HDC,
)
SNAPSHOT_XML = "<domainsnapshot><name>{}</name><description>{} snapshot</description></domainsnapshot>"


def snap_xml(name: str) -> str:
    """A named snapshot description."""
    return SNAPSHOT_XML.format(name, name)


def c(method: str, *args, **options) -> Step:
    """A call on the scenario's connection."""
    return Step(method, args, on="conn", **options)


def d(method: str, *args, **options) -> Step:
    """A call on the domain saved as "dom"."""
    return Step(method, args, on="dom", **options)


def on(target: str, method: str, *args, **options) -> Step:
    """A call on any saved object ("libvirt" is the module itself)."""
    return Step(method, args, on=target, **options)


def lookup(name: str = "test", save: str = "dom") -> Step:
    """Look a domain up by name and keep it."""
    return c("lookupByName", name, save=save)


def define(xml: str = NEW_DOMAIN, save: str = "dom") -> Step:
    """Define a persistent domain and keep it."""
    return c("defineXML", xml, save=save)


STATE = d("state")
INFO = d("info")
LIVE_XML = d("XMLDesc", 0)
INACTIVE_XML = d("XMLDesc", Const("VIR_DOMAIN_XML_INACTIVE"))
AFFECT_LIVE = Const("VIR_DOMAIN_AFFECT_LIVE")
AFFECT_CONFIG = Const("VIR_DOMAIN_AFFECT_CONFIG")
AFFECT_CURRENT = Const("VIR_DOMAIN_AFFECT_CURRENT")
NO_DOMAIN = "VIR_ERR_NO_DOMAIN"
OP_INVALID = "VIR_ERR_OPERATION_INVALID"
OP_FAILED = "VIR_ERR_OPERATION_FAILED"
# libvirt's test driver reports most "wrong state" refusals as internal errors.
INTERNAL = "VIR_ERR_INTERNAL_ERROR"
XML_DETAIL = "VIR_ERR_XML_DETAIL"
INVALID_ARG = "VIR_ERR_INVALID_ARG"
NO_SUPPORT = "VIR_ERR_NO_SUPPORT"
DENIED = "VIR_ERR_OPERATION_DENIED"


def scenario(name: str, *steps: Step, **options) -> Scenario:
    """A scenario from its steps."""
    return Scenario(name=name, steps=tuple(steps), **options)


CONNECTION = [
    scenario(
        "connection_identity",
        c("getType"), c("getURI"), c("getVersion"), c("getLibVersion"), c("getHostname"),
        c("isAlive"), c("isSecure"), c("isEncrypted"),
    ),
    scenario(
        "connection_node_facts",
        c("getInfo"), c("getMaxVcpus", None), c("getMaxVcpus", "test"), c("getFreeMemory"),
        c("getCellsFreeMemory", 0, 2), c("getCellsFreeMemory", 1, 1),
        c("getCapabilities", record="extract", paths=(
            "host/cpu/arch", "host/topology/cells/@num", "host/topology/cells/cell/@id",
            "guest/os_type", "guest/arch/@name", "guest/arch/domain/@type", "host/secmodel/model",
        )),
        c("getSysinfo", 0),
    ),
    scenario(
        "connection_custom_host_node_facts",
        c("getInfo"), c("getURI"), c("getType"), c("numOfDomains"), c("numOfDefinedDomains"),
        uri=MIXED_HOST,
    ),
    scenario(
        "connection_open_failures",
        on("libvirt", "open", "test:///no/such/host/file.xml", error="VIR_ERR_XML_ERROR"),
        on("libvirt", "open", "test:///", error=INVALID_ARG),
        on("libvirt", "open", HostUri("bad_runstate.xml"), error="VIR_ERR_XML_ERROR"),
        on("libvirt", "open", "test:///default?unused=1", save="query"), on("query", "getURI"),
        on("libvirt", "openReadOnly", "test:///default", save="ro"),
        on("ro", "getURI"), on("ro", "isAlive"),
    ),
    scenario(
        "connection_second_connection_shares_default_state",
        c("createXML", NEW_DOMAIN, 0),
        on("libvirt", "open", "test:///default", save="other"),
        on("other", "lookupByName", "fresh", save="seen"),
        on("seen", "isActive"), on("other", "numOfDomains"),
    ),
    scenario(
        "connection_read_only_queries",
        c("getType"), c("listDomainsID"), lookup(), STATE, INFO, d("isActive"), LIVE_XML,
        c("listAllDomains", 0),
        read_only=True,
    ),
    scenario(
        "connection_read_only_refusals",
        lookup(),
        c("defineXML", NEW_DOMAIN, error=DENIED),
        c("createXML", NEW_DOMAIN, 0, error=DENIED),
        d("destroy", error=DENIED), d("suspend", error=DENIED), d("resume", error=DENIED),
        d("shutdown", error=DENIED), d("reboot", 0, error=DENIED), d("undefine", error=DENIED),
        d("setMemory", 1024, error=DENIED), d("setVcpus", 1, error=DENIED),
        d("setAutostart", 1, error=DENIED), d("managedSave", 0, error=DENIED),
        d("XMLDesc", Const("VIR_DOMAIN_XML_SECURE"), error=DENIED),
        d("setMetadata", Const("VIR_DOMAIN_METADATA_TITLE"), "t", None, None, 0, error=DENIED),
        d("snapshotCreateXML", snap_xml("s1"), 0, error=DENIED),
        d("setSchedulerParameters", {"weight": 10}, error=DENIED),
        d("pinVcpu", 0, FIRST_CPU, error=DENIED),
        STATE,
        read_only=True,
    ),
]

LOOKUP = [
    scenario(
        "lookup_by_name",
        lookup(), d("name"), d("ID"), d("UUIDString"),
        c("lookupByName", "nosuch", error=NO_DOMAIN),
        c("lookupByName", "TEST", error=NO_DOMAIN),
        c("lookupByName", "", error=NO_DOMAIN),
    ),
    scenario(
        "lookup_by_id",
        c("lookupByID", 1, save="dom"), d("name"),
        c("lookupByID", 2, error=NO_DOMAIN),
        c("lookupByID", 0, error=NO_DOMAIN),
        c("lookupByID", -1, error=INVALID_ARG),
    ),
    scenario(
        "lookup_by_uuid_string",
        c("lookupByUUIDString", DEFAULT_UUID, save="dom"), d("name"),
        c("lookupByUUIDString", DEFAULT_UUID.upper()),
        c("lookupByUUIDString", "6695eb01f6a4830479aa97f2502e193f"),
        c("lookupByUUIDString", UUID_A, error=NO_DOMAIN),
        c("lookupByUUIDString", "not-a-uuid", error=INVALID_ARG),
    ),
    scenario(
        "lookup_by_uuid_bytes",
        lookup(), d("UUID"),
        c("lookupByUUID", bytes.fromhex(DEFAULT_UUID.replace("-", ""))),
        c("lookupByUUID", bytes.fromhex(UUID_A.replace("-", "")), error=NO_DOMAIN),
    ),
    scenario(
        "lookup_inactive_domain_by_id_fails",
        define(), d("ID"), c("lookupByName", "fresh"), c("lookupByUUIDString", UUID_A),
        c("lookupByID", -1, error=INVALID_ARG), c("lookupByID", 2, error=NO_DOMAIN),
    ),
    scenario(
        "lookup_after_undefine_keeps_stale_handle",
        define(), d("undefine"), d("name"), d("isActive", error=NO_DOMAIN),
        d("info", error=NO_DOMAIN), c("lookupByName", "fresh", error=NO_DOMAIN),
    ),
]

LISTING = [
    scenario(
        "listing_default_host",
        c("listAllDomains", 0), c("listDomainsID"), c("listDefinedDomains"),
        c("numOfDomains"), c("numOfDefinedDomains"),
    ),
    scenario(
        "listing_after_define_and_create",
        define(), c("createXML", domain_xml("temp", UUID_B), 0),
        c("listAllDomains", 0), c("listDomainsID"), c("listDefinedDomains"),
        c("numOfDomains"), c("numOfDefinedDomains"),
    ),
    scenario(
        "listing_all_domains_flags",
        *[
            c("listAllDomains", Const(flag))
            for flag in (
                "VIR_CONNECT_LIST_DOMAINS_ACTIVE", "VIR_CONNECT_LIST_DOMAINS_INACTIVE",
                "VIR_CONNECT_LIST_DOMAINS_PERSISTENT", "VIR_CONNECT_LIST_DOMAINS_TRANSIENT",
                "VIR_CONNECT_LIST_DOMAINS_RUNNING", "VIR_CONNECT_LIST_DOMAINS_PAUSED",
                "VIR_CONNECT_LIST_DOMAINS_SHUTOFF", "VIR_CONNECT_LIST_DOMAINS_OTHER",
                "VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE", "VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE",
                "VIR_CONNECT_LIST_DOMAINS_AUTOSTART", "VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART",
                "VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT", "VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT",
            )
        ],
        c("listAllDomains", Const("VIR_CONNECT_LIST_DOMAINS_ACTIVE", "VIR_CONNECT_LIST_DOMAINS_PERSISTENT")),
        c("listAllDomains", Const("VIR_CONNECT_LIST_DOMAINS_ACTIVE", "VIR_CONNECT_LIST_DOMAINS_INACTIVE")),
        c("listAllDomains", Const("VIR_CONNECT_LIST_DOMAINS_RUNNING", "VIR_CONNECT_LIST_DOMAINS_PAUSED")),
        c("listAllDomains", 1 << 30, error=INVALID_ARG),
        uri=MIXED_HOST,
    ),
    scenario(
        "listing_custom_host_states",
        c("listDomainsID"), c("listDefinedDomains"), c("numOfDomains"), c("numOfDefinedDomains"),
        *[
            step
            for name in ("web", "db", "batch", "parked", "scratch")
            for step in (
                lookup(name, save=name), on(name, "state"), on(name, "info"),
                on(name, "isPersistent"), on(name, "hasManagedSaveImage", 0), on(name, "ID"),
            )
        ],
        uri=MIXED_HOST,
    ),
    scenario(
        "listing_autostart_flags_after_set",
        lookup(), d("setAutostart", 1),
        c("listAllDomains", Const("VIR_CONNECT_LIST_DOMAINS_AUTOSTART")),
        c("listAllDomains", Const("VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART")),
    ),
]

IDENTITY = [
    scenario(
        "identity_running_default_domain",
        lookup(), d("name"), d("ID"), d("UUIDString"), d("UUID"), d("OSType"), d("isActive"),
        d("isPersistent"), d("isUpdated"), INFO, STATE, d("state", 0), d("maxMemory"),
        d("controlInfo", 0), d("hostname", 0), d("autostart"), d("hasManagedSaveImage", 0),
        d("securityLabel"),
    ),
    scenario(
        "identity_defined_domain",
        define(domain_xml("fresh", UUID_A, memory_kib=524288, current_kib=262144, vcpus=4, current_vcpus=2)),
        d("name"), d("ID"), d("UUIDString"), d("OSType"), d("isActive"), d("isPersistent"), INFO, STATE,
        d("maxMemory"), d("autostart"),
    ),
    scenario(
        "identity_domain_without_uuid_gets_generated_one",
        define(domain_xml("anon1", None), save="a"), on("a", "UUIDString"),
        define(domain_xml("anon2", None), save="b"), on("b", "UUIDString"),
        c("lookupByName", "anon1"), on("a", "XMLDesc", 0),
    ),
]

XML = [
    scenario(
        "xml_default_domain_live_and_inactive",
        lookup(), LIVE_XML, INACTIVE_XML, d("XMLDesc", Const("VIR_DOMAIN_XML_SECURE")),
        d("XMLDesc", Const("VIR_DOMAIN_XML_MIGRATABLE")), d("XMLDesc", Const("VIR_DOMAIN_XML_UPDATE_CPU"), error=INVALID_ARG),
    ),
    scenario(
        "xml_defined_domain_round_trip",
        define(NEW_DOMAIN_WITH_DISK), LIVE_XML, INACTIVE_XML,
    ),
    scenario(
        "xml_live_change_differs_from_inactive",
        lookup(), d("setMemoryFlags", 1048576, AFFECT_LIVE), LIVE_XML, INACTIVE_XML,
    ),
    scenario(
        "xml_redefine_running_domain_updates_config_only",
        lookup(),
        define(domain_xml("test", DEFAULT_UUID, memory_kib=4194304, vcpus=2), save="same"),
        on("same", "ID"), d("isUpdated"), d("maxMemory"), LIVE_XML, INACTIVE_XML,
        d("destroy"), LIVE_XML,
    ),
]

DEFINE = [
    scenario(
        "define_valid_domain",
        define(), d("isActive"), d("isPersistent"), d("ID"), STATE, INFO, c("numOfDefinedDomains"),
        events=True,
    ),
    scenario(
        "define_malformed_xml",
        c("defineXML", "<domain type='test'><name>broken</name>", error=XML_DETAIL),
        c("defineXML", "this is not xml", error=XML_DETAIL),
        c("defineXML", "<network><name>n</name></network>", error="VIR_ERR_XML_ERROR"),
        c("defineXML", "<domain type='test'><memory>1024</memory></domain>", error="VIR_ERR_NO_NAME"),
        # The test driver accepts any domain type.
        c("defineXML", "<domain type='kvm'><name>k</name><memory>1024</memory><os><type>hvm</type></os></domain>"),
        c("defineXML", domain_xml("badmem", UUID_B, memory_kib=0), error="VIR_ERR_XML_ERROR"),
        c("defineXML", "", error=XML_DETAIL),
        c("numOfDefinedDomains"),
    ),
    scenario(
        "define_duplicate_name_different_uuid",
        define(domain_xml("fresh", UUID_A)),
        c("defineXML", domain_xml("fresh", UUID_B), error=OP_FAILED),
        c("defineXML", domain_xml("test", UUID_B), error=OP_FAILED),
        c("defineXML", domain_xml("other", UUID_A), error=OP_FAILED),
        c("defineXML", domain_xml("other", DEFAULT_UUID), error=OP_FAILED),
        c("listDefinedDomains"),
    ),
    scenario(
        "define_same_name_same_uuid_updates",
        define(domain_xml("fresh", UUID_A, memory_kib=262144)),
        define(domain_xml("fresh", UUID_A, memory_kib=524288), save="again"),
        d("maxMemory"), on("again", "maxMemory"), c("numOfDefinedDomains"),
        events=True,
    ),
    scenario(
        "define_transient_running_domain_makes_it_persistent",
        c("createXML", NEW_DOMAIN, 0, save="dom"), d("isPersistent"),
        define(NEW_DOMAIN, save="same"), d("isPersistent"), d("isActive"), d("destroy"),
        c("lookupByName", "fresh", save="after"), on("after", "isActive"),
        events=True,
    ),
]

def raw_domain(name: str, memory: str = "<memory unit='KiB'>262144</memory>", vcpu: str = "<vcpu>1</vcpu>",
               os: str = "<os><type>hvm</type></os>", extra: str = "", uuid: str = "") -> str:
    """A domain definition assembled from literal XML pieces (for parser edge cases)."""
    return f"<domain type='test'><name>{name}</name>{uuid}{memory}{vcpu}{os}{extra}</domain>"


TWO_DISKS_SAME_TARGET = (
    "<devices><disk type='file' device='disk'><source file='/a'/><target dev='vda'/></disk>"
    "<disk type='file' device='disk'><source file='/b'/><target dev='vda'/></disk></devices>"
)
ACCEPTED_DEFINITIONS = {
    "mib": raw_domain("mib", memory="<memory unit='MiB'>512</memory>"),
    "current_above_max": raw_domain(
        "current_above_max", memory="<memory unit='GiB'>1</memory><currentMemory unit='GiB'>2</currentMemory>"),
    "no_unit": raw_domain("no_unit", memory="<memory>1024</memory>"),
    "bytes": raw_domain("bytes", memory="<memory unit='b'>1048576000</memory>"),
    "no_vcpu": raw_domain("no_vcpu", vcpu=""),
    "os_linux": raw_domain("os_linux", os="<os><type>linux</type></os>"),
    "os_xen": raw_domain("os_xen", os="<os><type>xen</type></os>"),
    "unknown_element": raw_domain("unknown_element", extra="<frobnicate/>"),
    "actions": raw_domain("actions", extra="<on_poweroff>restart</on_poweroff><on_crash>preserve</on_crash>"),
    "arch_x86_64": raw_domain("arch_x86_64", os="<os><type arch='x86_64'>hvm</type></os>"),
    "features": raw_domain("features", extra="<features><acpi/><apic/><pae/></features>"),
    "topology": raw_domain("topology", vcpu="<vcpu>4</vcpu>",
                           extra="<cpu><topology sockets='1' dies='1' cores='2' threads='2'/></cpu>"),
    "topology_mismatch": raw_domain("topology_mismatch", vcpu="<vcpu>3</vcpu>",
                                    extra="<cpu><topology sockets='1' dies='1' cores='2' threads='2'/></cpu>"),
}
REFUSED_DEFINITIONS = (
    (raw_domain("bad_unit", memory="<memory unit='parsecs'>1</memory>"), INVALID_ARG),
    (raw_domain("negative", memory="<memory>-5</memory>"), "VIR_ERR_XML_ERROR"),
    (raw_domain("no_memory", memory=""), "VIR_ERR_XML_ERROR"),
    (raw_domain("vcpu_current", vcpu="<vcpu current='4'>2</vcpu>"), "VIR_ERR_CONFIG_UNSUPPORTED"),
    (raw_domain("vcpu_zero", vcpu="<vcpu>0</vcpu>"), INTERNAL),
    (raw_domain("a/b"), "VIR_ERR_XML_ERROR"),
    (raw_domain("bad_uuid", uuid="<uuid>zzzz</uuid>"), INTERNAL),
    (raw_domain("no_os", os=""), "VIR_ERR_XML_ERROR"),
    (raw_domain("os_exe", os="<os><type>exe</type></os>"), "VIR_ERR_XML_ERROR"),
    (raw_domain("title", extra="<title>a\nb</title>"), "VIR_ERR_XML_ERROR"),
    (raw_domain("bad_action", extra="<on_reboot>explode</on_reboot>"), "VIR_ERR_CONFIG_UNSUPPORTED"),
    (raw_domain(""), "VIR_ERR_NO_NAME"),
    (raw_domain("dup_disk", extra=TWO_DISKS_SAME_TARGET), "VIR_ERR_XML_ERROR"),
    ("<domain><name>untyped</name><memory>1024</memory><os><type>hvm</type></os></domain>", INTERNAL),
    ("<domain type='bogus'><name>bogus</name><memory>1024</memory><os><type>hvm</type></os></domain>",
     "VIR_ERR_CONFIG_UNSUPPORTED"),
)

DEFINE_PARSING = [
    scenario(
        "define_xml_parser_accepts",
        *[step for key, xml in ACCEPTED_DEFINITIONS.items()
          for step in (c("defineXML", xml, save=key), on(key, "info"), on(key, "XMLDesc", 0))],
    ),
    scenario(
        "define_xml_parser_refuses",
        *[c("defineXML", xml, error=error) for xml, error in REFUSED_DEFINITIONS],
        c("numOfDefinedDomains"),
    ),
]

UNDEFINE = [
    scenario(
        "undefine_shutoff_domain",
        define(), d("undefine"), c("lookupByName", "fresh", error=NO_DOMAIN), c("numOfDefinedDomains"),
        events=True,
    ),
    scenario(
        "undefine_running_domain_becomes_transient",
        lookup(), d("undefine"), d("isPersistent"), d("isActive"), c("lookupByName", "test"),
        d("destroy"), c("lookupByName", "test", error=NO_DOMAIN), c("numOfDomains"),
        events=True,
    ),
    scenario(
        "undefine_transient_domain_is_accepted",
        c("createXML", NEW_DOMAIN, 0, save="dom"), d("undefine"), d("isActive"), d("isPersistent"),
        d("undefineFlags", 0), c("lookupByName", "fresh"),
        events=True,
    ),
    scenario(
        "undefine_with_managed_save",
        lookup(), d("managedSave", 0), d("hasManagedSaveImage", 0),
        d("undefine", error=OP_INVALID),
        d("undefineFlags", Const("VIR_DOMAIN_UNDEFINE_MANAGED_SAVE")),
        c("lookupByName", "test", error=NO_DOMAIN),
    ),
    scenario(
        "undefine_with_snapshot_metadata",
        define(), d("snapshotCreateXML", snap_xml("s1"), 0, save="s1"),
        d("undefine", error=OP_INVALID),
        d("undefineFlags", Const("VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA")),
        c("lookupByName", "fresh", error=NO_DOMAIN),
    ),
    scenario(
        "undefine_flags_plain_and_unknown",
        define(), d("undefineFlags", 1 << 20, error=INVALID_ARG), d("undefineFlags", 0),
        d("undefine", error=NO_DOMAIN),
    ),
]

CREATE = [
    scenario(
        "create_xml_transient",
        c("createXML", NEW_DOMAIN, 0, save="dom"), d("isPersistent"), d("isActive"), d("ID"), STATE, INFO,
        c("listDomainsID"), d("destroy"), c("lookupByName", "fresh", error=NO_DOMAIN),
        d("isActive", error=NO_DOMAIN),
        events=True,
    ),
    scenario(
        "create_xml_flags",
        c("createXML", NEW_DOMAIN, Const("VIR_DOMAIN_START_AUTODESTROY"), error=INVALID_ARG),
        c("createXML", NEW_DOMAIN, Const("VIR_DOMAIN_START_VALIDATE"), save="dom"), STATE,
        c("numOfDomains"),
        events=True,
    ),
    # START_PAUSED alone: libvirt's test driver refuses it, virtkernel's supports it (a deliberate difference),
    # so no later step may depend on the outcome.
    scenario(
        "create_xml_start_paused",
        c("createXML", NEW_DOMAIN, Const("VIR_DOMAIN_START_PAUSED"), error=INVALID_ARG),
        events=True,
    ),
    scenario(
        "create_xml_conflicts",
        c("createXML", domain_xml("test", UUID_B), 0, error=OP_FAILED),
        c("createXML", domain_xml("other", DEFAULT_UUID), 0, error=OP_FAILED),
        c("createXML", "<domain", 0, error=XML_DETAIL),
        define(), c("createXML", NEW_DOMAIN, 0, save="started"), d("isActive"), d("isPersistent"),
    ),
    scenario(
        "create_ids_increase",
        c("createXML", domain_xml("a", UUID_A), 0, save="a"), on("a", "ID"),
        c("createXML", domain_xml("b", UUID_B), 0, save="b"), on("b", "ID"),
        on("a", "destroy"), c("createXML", domain_xml("a", UUID_A), 0, save="a2"), on("a2", "ID"),
    ),
    scenario(
        "create_defined_domain",
        define(), d("create"), d("isActive"), d("ID"), STATE, d("create", error=INTERNAL),
        events=True,
    ),
    scenario(
        "create_with_flags_paused_unsupported",
        define(), d("createWithFlags", Const("VIR_DOMAIN_START_BYPASS_CACHE"), error=INVALID_ARG), d("isActive"),
        # last: virtkernel starts the domain paused here (a deliberate difference), nothing may depend on it
        d("createWithFlags", Const("VIR_DOMAIN_START_PAUSED"), error=INVALID_ARG),
        events=True,
    ),
    scenario(
        "create_with_flags_autodestroy_and_bad_flag",
        define(), d("createWithFlags", 1 << 20, error=INVALID_ARG), d("createWithFlags", 0), STATE,
    ),
]

POWER = [
    scenario(
        "destroy_running_then_again",
        lookup(), d("destroy"), STATE, d("ID"), d("isActive"), d("destroy", error=OP_INVALID),
        d("destroyFlags", 0, error=OP_INVALID),
        events=True,
    ),
    scenario(
        "destroy_paused_domain",
        lookup(), d("suspend"), d("destroyFlags", Const("VIR_DOMAIN_DESTROY_GRACEFUL")), STATE,
        events=True,
    ),
    scenario(
        "shutdown_running_and_shutoff",
        lookup(), d("shutdown"), STATE, INFO, d("shutdown", error=INTERNAL),
        d("shutdownFlags", 0, error=INTERNAL),
        events=True,
    ),
    scenario(
        "shutdown_paused_domain",
        lookup(), d("suspend"), d("shutdown"), STATE,
        events=True,
    ),
    scenario(
        "shutdown_flags_modes",
        lookup(), d("shutdownFlags", Const("VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN"), error=INVALID_ARG),
        d("shutdownFlags", Const("VIR_DOMAIN_SHUTDOWN_GUEST_AGENT"), error=INVALID_ARG), STATE,
        d("shutdownFlags", 0), STATE,
    ),
    scenario(
        "reboot_and_reset",
        lookup(), d("reboot", 0), STATE, d("ID"), d("reset", 0), STATE, d("destroy"),
        d("reboot", 0, error=OP_INVALID), d("reset", 0, error=OP_INVALID),
        events=True,
    ),
    scenario(
        "reboot_paused_domain",
        lookup(), d("suspend"), d("reboot", 0), STATE, d("reset", 0), STATE,
        events=True,
    ),
    scenario(
        "transient_domain_shutdown_disappears",
        c("createXML", NEW_DOMAIN, 0, save="dom"), d("shutdown"), c("lookupByName", "fresh", error=NO_DOMAIN),
        c("numOfDomains"),
        events=True,
    ),
]

SUSPEND = [
    scenario(
        "suspend_resume_running",
        lookup(), d("suspend"), STATE, INFO, d("suspend", error=INTERNAL), d("resume"), STATE,
        d("resume", error=INTERNAL),
        events=True,
    ),
    scenario(
        "suspend_resume_shutoff_refused",
        define(), d("suspend", error=INTERNAL), d("resume", error=INTERNAL), STATE,
    ),
    scenario(
        "suspend_resume_custom_host_states",
        lookup("db", "db"), on("db", "state"), on("db", "suspend", error=INTERNAL), on("db", "resume"),
        on("db", "state"),
        lookup("batch", "batch"), on("batch", "suspend", error=INTERNAL), on("batch", "resume", error=INTERNAL),
        uri=MIXED_HOST, events=True,
    ),
    scenario(
        "suspend_then_save_and_restore_comes_back_running",
        lookup(), d("suspend"), d("save", Tmp("paused.img")), STATE,
        c("restore", Tmp("paused.img")), STATE,
        events=True,
    ),
]

SAVE = [
    scenario(
        "save_restore_round_trip",
        lookup(), d("save", Tmp("test.img")), STATE, d("isActive"), d("ID"),
        c("restore", Tmp("test.img")), STATE, d("isActive"), d("ID"),
        c("restore", Tmp("test.img"), error=OP_INVALID),
        events=True,
    ),
    scenario(
        "save_shutoff_domain_refused",
        define(), d("save", Tmp("fresh.img"), error=OP_INVALID),
    ),
    scenario(
        "restore_garbage_and_missing_files",
        c("restore", Tmp("garbage.img"), error="VIR_ERR_INTERNAL_ERROR"),
        c("restore", Tmp("empty.img"), error="VIR_ERR_SYSTEM_ERROR"),
        c("restore", Tmp("missing.img"), error="VIR_ERR_SYSTEM_ERROR"),
        c("numOfDomains"),
        files={"garbage.img": b"this is not a save image\n" * 4, "empty.img": b""},
    ),
    scenario(
        "save_to_unwritable_path",
        lookup(), d("save", "/nonexistent-dir/x.img", error="VIR_ERR_SYSTEM_ERROR"), STATE,
    ),
    scenario(
        "save_restore_flags",
        lookup(), d("saveFlags", Tmp("a.img"), None, Const("VIR_DOMAIN_SAVE_PAUSED"), error=INVALID_ARG),
        d("saveFlags", Tmp("a.img"), None, Const("VIR_DOMAIN_SAVE_RUNNING"), error=INVALID_ARG),
        d("saveFlags", Tmp("a.img"), None, Const("VIR_DOMAIN_SAVE_RUNNING", "VIR_DOMAIN_SAVE_PAUSED"),
          error=INVALID_ARG),
        STATE, d("saveFlags", Tmp("a.img"), None, 0), STATE,
        c("saveImageGetXMLDesc", Tmp("a.img"), 0),
        c("restoreFlags", Tmp("a.img"), None, Const("VIR_DOMAIN_SAVE_PAUSED"), error=INVALID_ARG),
        c("restoreFlags", Tmp("a.img"), None, 0), STATE,
        events=True,
    ),
    scenario(
        "restore_after_undefine_recreates_domain",
        lookup(), d("save", Tmp("t.img")), d("undefine"), c("lookupByName", "test", error=NO_DOMAIN),
        c("restore", Tmp("t.img")), c("lookupByName", "test", save="back"), on("back", "isPersistent"),
        on("back", "state"),
    ),
]

MANAGED_SAVE = [
    scenario(
        "managed_save_and_start",
        lookup(), d("hasManagedSaveImage", 0), d("managedSave", 0), d("hasManagedSaveImage", 0), STATE,
        c("listAllDomains", Const("VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE")),
        d("create"), STATE, d("hasManagedSaveImage", 0),
        events=True,
    ),
    scenario(
        "managed_save_remove",
        lookup(), d("managedSave", 0), d("managedSaveRemove", 0), d("hasManagedSaveImage", 0),
        d("managedSaveRemove", 0), d("create"), STATE,
        events=True,
    ),
    scenario(
        "managed_save_refusals",
        define(), d("managedSave", 0, error=OP_INVALID),
        c("createXML", domain_xml("temp", UUID_B), 0, save="temp"),
        on("temp", "managedSave", 0, error=OP_INVALID),
        d("hasManagedSaveImage", 0),
    ),
    scenario(
        "managed_save_paused_flags",
        lookup(), d("managedSave", Const("VIR_DOMAIN_SAVE_PAUSED")), d("create"), STATE,
        events=True,
    ),
    scenario(
        "managed_save_custom_host_start",
        lookup("parked", "dom"), d("hasManagedSaveImage", 0), STATE, d("create"), STATE,
        d("hasManagedSaveImage", 0),
        uri=MIXED_HOST, events=True,
    ),
    scenario(
        "managed_save_start_with_force_boot",
        lookup(), d("managedSave", 0),
        d("createWithFlags", Const("VIR_DOMAIN_START_FORCE_BOOT"), error=INVALID_ARG), STATE,
        d("hasManagedSaveImage", 0), d("createWithFlags", 0), STATE,
        events=True,
    ),
]

DUMP = [
    scenario(
        "core_dump_running",
        lookup(), d("coreDump", Tmp("core"), 0), STATE,
        d("coreDump", Tmp("core2"), Const("VIR_DUMP_CRASH")), STATE,
        d("coreDump", Tmp("core3"), 0, error=OP_INVALID),
        events=True,
    ),
    scenario(
        "core_dump_flags_and_paths",
        lookup(), d("coreDump", Tmp("c1"), Const("VIR_DUMP_LIVE"), error=INVALID_ARG), STATE,
        d("coreDump", "/nonexistent-dir/core", 0, error="VIR_ERR_SYSTEM_ERROR"),
        d("coreDump", Tmp("c2"), Const("VIR_DUMP_CRASH", "VIR_DUMP_LIVE"), error=INVALID_ARG),
        d("coreDumpWithFormat", Tmp("c3"), Const("VIR_DOMAIN_CORE_DUMP_FORMAT_RAW"), 0),
        d("coreDumpWithFormat", Tmp("c4"), Const("VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_ZLIB"), 0,
          error="VIR_ERR_OPERATION_UNSUPPORTED"),
        d("coreDump", Tmp("c5"), Const("VIR_DUMP_RESET"), error=INVALID_ARG), STATE,
        events=True,
    ),
]

MEMORY = [
    scenario(
        "memory_set_running",
        lookup(), d("maxMemory"), d("setMemory", 1048576), INFO,
        d("setMemory", 8388608), d("setMemory", 8388609, error=INVALID_ARG),
        d("setMemory", 0, error=INVALID_ARG), INFO,
    ),
    scenario(
        "memory_set_flags_live_config_current",
        lookup(), d("setMemoryFlags", 1048576, AFFECT_LIVE), INFO,
        d("setMemoryFlags", 524288, AFFECT_CONFIG), INFO, INACTIVE_XML,
        d("setMemoryFlags", 786432, AFFECT_CURRENT), INFO,
        d("setMemoryFlags", 1024, Const("VIR_DOMAIN_AFFECT_LIVE", "VIR_DOMAIN_AFFECT_CONFIG"), error=INVALID_ARG),
        INFO,
    ),
    scenario(
        "memory_set_max",
        lookup(), d("setMaxMemory", 4194304, error=OP_INVALID),
        d("setMemoryFlags", 4194304, Const("VIR_DOMAIN_MEM_MAXIMUM", "VIR_DOMAIN_AFFECT_CONFIG")),
        d("maxMemory"), INACTIVE_XML,
        d("setMemoryFlags", 4194304, Const("VIR_DOMAIN_MEM_MAXIMUM", "VIR_DOMAIN_AFFECT_LIVE"),
          error=OP_INVALID),
    ),
    scenario(
        "memory_shutoff_domain",
        define(domain_xml("fresh", UUID_A, memory_kib=524288, current_kib=262144)),
        d("maxMemory"), d("setMemory", 393216, error=OP_INVALID), INFO,
        d("setMemoryFlags", 100, AFFECT_LIVE, error=OP_INVALID),
        d("setMemoryFlags", 393216, AFFECT_CONFIG), INFO, d("setMemoryFlags", 393216, AFFECT_CURRENT), INFO,
        d("setMemoryFlags", 2097152, AFFECT_CONFIG, error=INVALID_ARG),
        d("setMaxMemory", 1048576), d("maxMemory"), INFO, d("setMaxMemory", 0, error=INVALID_ARG),
    ),
]

VCPUS = [
    scenario(
        "vcpus_running_counts",
        lookup(), d("vcpusFlags", Const("VIR_DOMAIN_VCPU_MAXIMUM")), d("vcpusFlags", AFFECT_LIVE),
        d("vcpusFlags", AFFECT_CONFIG), d("vcpusFlags", 0), d("vcpus"), c("getMaxVcpus", "test"),
    ),
    scenario(
        "vcpus_set_running",
        lookup(), d("setVcpus", 1), d("vcpusFlags", AFFECT_LIVE), d("vcpusFlags", AFFECT_CONFIG), INFO,
        d("vcpus"), d("setVcpus", 3, error=INVALID_ARG), d("setVcpus", 0, error=INVALID_ARG),
        d("setVcpus", 2), INFO,
    ),
    scenario(
        "vcpus_set_flags",
        lookup(), d("setVcpusFlags", 1, AFFECT_CONFIG), d("vcpusFlags", AFFECT_CONFIG),
        d("vcpusFlags", AFFECT_LIVE),
        d("setVcpusFlags", 4, Const("VIR_DOMAIN_VCPU_MAXIMUM", "VIR_DOMAIN_AFFECT_CONFIG")),
        d("vcpusFlags", Const("VIR_DOMAIN_VCPU_MAXIMUM", "VIR_DOMAIN_AFFECT_CONFIG")),
        d("setVcpusFlags", 4, Const("VIR_DOMAIN_VCPU_MAXIMUM", "VIR_DOMAIN_AFFECT_LIVE"), error=INVALID_ARG),
        d("setVcpusFlags", 1, AFFECT_LIVE), d("vcpusFlags", AFFECT_LIVE),
        d("setVcpusFlags", 1, Const("VIR_DOMAIN_VCPU_GUEST"), error=INVALID_ARG),
        INACTIVE_XML,
    ),
    scenario(
        "vcpus_shutoff_domain",
        define(domain_xml("fresh", UUID_A, vcpus=4, current_vcpus=2)),
        d("vcpusFlags", Const("VIR_DOMAIN_VCPU_MAXIMUM")), d("vcpusFlags", AFFECT_CONFIG),
        d("vcpusFlags", AFFECT_LIVE, error=OP_INVALID), d("vcpus", error=OP_INVALID),
        d("setVcpus", 3, error=OP_INVALID), d("setVcpusFlags", 3, AFFECT_CONFIG), d("vcpusFlags", 0),
        d("setVcpusFlags", 5, AFFECT_CONFIG, error=INVALID_ARG), INFO,
    ),
    scenario(
        "vcpus_pinning",
        lookup(), d("vcpuPinInfo", 0), d("pinVcpu", 0, FIRST_CPU), d("vcpuPinInfo", 0), d("vcpus"),
        d("pinVcpuFlags", 1, SECOND_AND_THIRD_CPU, AFFECT_CONFIG, error=INVALID_ARG),
        d("pinVcpuFlags", 1, SECOND_AND_THIRD_CPU, AFFECT_LIVE, error=INVALID_ARG),
        d("pinVcpuFlags", 1, SECOND_AND_THIRD_CPU, 0), d("vcpuPinInfo", AFFECT_CONFIG),
        d("vcpuPinInfo", AFFECT_LIVE),
        d("pinVcpu", 5, FIRST_CPU, error=INVALID_ARG),
        # An all-empty map is accepted by the test driver.
        d("pinVcpu", 0, (False,) * 8), d("vcpuPinInfo", 0),
        INACTIVE_XML,
    ),
    scenario(
        "vcpus_pinning_shutoff_domain",
        define(domain_xml("fresh", UUID_A, vcpus=2)), d("vcpuPinInfo", 0),
        d("pinVcpu", 0, FIRST_CPU, error=OP_INVALID),
        d("pinVcpuFlags", 0, FIRST_CPU, AFFECT_CONFIG, error=INVALID_ARG), d("vcpuPinInfo", AFFECT_CONFIG),
    ),
    scenario(
        "emulator_pinning",
        lookup(), d("emulatorPinInfo", 0), d("pinEmulator", SECOND_AND_THIRD_CPU, 0), d("emulatorPinInfo", 0),
        d("pinEmulator", (False,) * 8, 0, error=INVALID_ARG),
        d("pinEmulator", FIRST_CPU, AFFECT_CONFIG), d("emulatorPinInfo", AFFECT_CONFIG),
    ),
]

TUNING = [
    scenario(
        "tuning_scheduler",
        lookup(), d("schedulerType"), d("schedulerParameters"),
        # The binding adds VIR_TYPED_PARAM_STRING_OKAY, which the test driver refuses.
        d("schedulerParametersFlags", 0, error=INVALID_ARG),
        d("setSchedulerParameters", {"weight": 100}), d("schedulerParameters"),
        d("setSchedulerParametersFlags", {"weight": 7}, AFFECT_CONFIG, error=INVALID_ARG),
        d("setSchedulerParametersFlags", {"weight": 7}, 0, error=INVALID_ARG), d("schedulerParameters"),
        d("setSchedulerParameters", {"cap": 10}, raises="LookupError"),
    ),
    scenario(
        "tuning_scheduler_shutoff",
        define(), d("schedulerType"), d("schedulerParameters"),
        d("setSchedulerParameters", {"weight": 3}), d("schedulerParameters"),
    ),
    scenario(
        "tuning_blkio",
        lookup(), d("blkioParameters", 0), d("setBlkioParameters", {"weight": 500}, 0), d("blkioParameters", 0),
        d("setBlkioParameters", {"weight": 5000}, 0), d("blkioParameters", 0),
        d("setBlkioParameters", {"bogus": 1}, 0, raises="LookupError"),
        d("blkioParameters", AFFECT_CONFIG),
    ),
    scenario(
        "tuning_memory_parameters",
        lookup(), d("memoryParameters", 0),
        d("setMemoryParameters", {"hard_limit": 4194304, "soft_limit": 2097152}, 0), d("memoryParameters", 0),
        d("setMemoryParameters", {"soft_limit": 8388608, "hard_limit": 1048576}, 0), d("memoryParameters", 0),
        d("setMemoryParameters", {"bogus": 1}, 0, raises="LookupError"),
        d("memoryParameters", AFFECT_CONFIG),
    ),
    scenario(
        "tuning_numa_parameters",
        lookup(), d("numaParameters", 0),
        d("setNumaParameters", {"numa_nodeset": "0"}, 0), d("numaParameters", 0),
        d("setNumaParameters", {"numa_mode": 99}, 0, error=INVALID_ARG),
    ),
    scenario(
        "tuning_interface_parameters",
        lookup(), d("interfaceParameters", "testnet0", 0), d("interfaceParameters", "aa:bb:cc:dd:ee:ff", 0),
        d("setInterfaceParameters", "testnet0", {"inbound.average": 1000, "outbound.peak": 2000}, 0),
        d("interfaceParameters", "testnet0", 0),
        d("interfaceParameters", "nosuch0", 0, error=INVALID_ARG),
        d("setInterfaceParameters", "testnet0", {"bogus": 1}, 0, raises="LookupError"),
    ),
]

STATS = [
    scenario(
        "stats_block",
        lookup(), d("blockStats", "vda"), d("blockStats", "/guest/diskimage1"),
        d("blockStats", "vdz", error=INVALID_ARG), d("blockStatsFlags", "vda", 0, error=NO_SUPPORT),
        d("blockInfo", "vda", 0), d("blockInfo", "/guest/diskimage1", 0),
        d("blockInfo", "vdz", 0, error=INVALID_ARG),
        d("destroy"), d("blockStats", "vda", error=OP_INVALID), d("blockInfo", "vda", 0),
    ),
    scenario(
        "stats_interface",
        lookup(), d("interfaceStats", "testnet0"), d("interfaceStats", "aa:bb:cc:dd:ee:ff"),
        d("interfaceStats", "nosuch0", error=INVALID_ARG),
        d("destroy"), d("interfaceStats", "testnet0", error=OP_INVALID),
    ),
    scenario(
        "stats_memory",
        lookup(), d("memoryStats"), d("setMemory", 1048576), d("memoryStats"),
        d("destroy"), d("memoryStats", error=OP_INVALID),
    ),
    scenario(
        "stats_cpu",
        lookup(), d("getCPUStats", True), d("getCPUStats", False), d("destroy"),
        d("getCPUStats", True, error=OP_INVALID),
    ),
    scenario(
        "stats_all_domains",
        c("getAllDomainStats"),
        c("getAllDomainStats", Const("VIR_DOMAIN_STATS_STATE")),
        c("getAllDomainStats", Const("VIR_DOMAIN_STATS_CPU_TOTAL", "VIR_DOMAIN_STATS_BALLOON",
                                     "VIR_DOMAIN_STATS_VCPU", "VIR_DOMAIN_STATS_INTERFACE",
                                     "VIR_DOMAIN_STATS_BLOCK")),
        c("getAllDomainStats", 0, Const("VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE")),
        c("getAllDomainStats", 0, Const("VIR_CONNECT_GET_ALL_DOMAINS_STATS_INACTIVE")),
        c("getAllDomainStats", 0, Const("VIR_CONNECT_GET_ALL_DOMAINS_STATS_PAUSED")),
        c("getAllDomainStats", Const("VIR_DOMAIN_STATS_PERF"),
          Const("VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS"), error="VIR_ERR_ARGUMENT_UNSUPPORTED"),
        uri=MIXED_HOST,
    ),
    scenario(
        "stats_domain_list",
        lookup(), c("domainListGetStats", [Ref("dom")]),
        c("domainListGetStats", [Ref("dom")], Const("VIR_DOMAIN_STATS_STATE", "VIR_DOMAIN_STATS_BALLOON")),
        d("suspend"), c("domainListGetStats", [Ref("dom")], Const("VIR_DOMAIN_STATS_STATE")),
        define(save="fresh"),
        c("domainListGetStats", [Ref("dom"), Ref("fresh")], Const("VIR_DOMAIN_STATS_STATE")),
        c("domainListGetStats", [Ref("dom"), Ref("fresh")], Const("VIR_DOMAIN_STATS_STATE"),
          Const("VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING")),
    ),
]

AUTOSTART = [
    scenario(
        "autostart_toggle",
        lookup(), d("autostart"), d("setAutostart", 1), d("autostart"), d("setAutostart", 0), d("autostart"),
    ),
    scenario(
        "autostart_transient_is_accepted",
        c("createXML", NEW_DOMAIN, 0, save="dom"), d("autostart"), d("setAutostart", 1), d("autostart"),
    ),
]

RENAME = [
    scenario(
        "rename_shutoff_domain",
        define(), d("rename", "renamed", 0), d("name"), c("lookupByName", "fresh", error=NO_DOMAIN),
        c("lookupByName", "renamed", save="again"), on("again", "UUIDString"), c("listDefinedDomains"),
        events=True,
    ),
    scenario(
        "rename_refusals",
        lookup(), d("rename", "other", 0, error=OP_INVALID),
        define(save="fresh"), on("fresh", "rename", "test", 0, error=OP_INVALID),
        on("fresh", "rename", "", 0, error=INVALID_ARG),
        c("createXML", domain_xml("temp", UUID_B), 0, save="temp"),
        on("temp", "rename", "temp2", 0, error=OP_INVALID),
    ),
]

METADATA = [
    scenario(
        "metadata_title_description",
        lookup(),
        d("metadata", Const("VIR_DOMAIN_METADATA_TITLE"), None, 0, error="VIR_ERR_NO_DOMAIN_METADATA"),
        d("setMetadata", Const("VIR_DOMAIN_METADATA_TITLE"), "My title", None, None, 0),
        d("metadata", Const("VIR_DOMAIN_METADATA_TITLE"), None, 0),
        d("setMetadata", Const("VIR_DOMAIN_METADATA_DESCRIPTION"), "Longer\ndescription", None, None, 0),
        d("metadata", Const("VIR_DOMAIN_METADATA_DESCRIPTION"), None, 0),
        d("setMetadata", Const("VIR_DOMAIN_METADATA_TITLE"), "two\nlines", None, None, 0, error=INVALID_ARG),
        d("setMetadata", Const("VIR_DOMAIN_METADATA_TITLE"), None, None, None, 0),
        d("metadata", Const("VIR_DOMAIN_METADATA_TITLE"), None, 0, error="VIR_ERR_NO_DOMAIN_METADATA"),
        LIVE_XML,
    ),
    scenario(
        "metadata_element",
        lookup(),
        d("metadata", Const("VIR_DOMAIN_METADATA_ELEMENT"), "http://example.org/app", 0,
          error="VIR_ERR_NO_DOMAIN_METADATA"),
        d("setMetadata", Const("VIR_DOMAIN_METADATA_ELEMENT"), "<info owner='ops'><tier>gold</tier></info>",
          "app", "http://example.org/app", 0),
        d("metadata", Const("VIR_DOMAIN_METADATA_ELEMENT"), "http://example.org/app", 0),
        d("metadata", Const("VIR_DOMAIN_METADATA_ELEMENT"), None, 0, error=INVALID_ARG),
        d("setMetadata", Const("VIR_DOMAIN_METADATA_ELEMENT"), "<x/>", None, "http://example.org/other", 0,
          error=INVALID_ARG),
        d("setMetadata", Const("VIR_DOMAIN_METADATA_ELEMENT"), "<broken", "app", "http://example.org/app", 0,
          error=XML_DETAIL),
        LIVE_XML,
        d("setMetadata", Const("VIR_DOMAIN_METADATA_ELEMENT"), None, None, "http://example.org/app", 0),
        d("metadata", Const("VIR_DOMAIN_METADATA_ELEMENT"), "http://example.org/app", 0,
          error="VIR_ERR_NO_DOMAIN_METADATA"),
    ),
    scenario(
        "metadata_live_and_config",
        lookup(),
        d("setMetadata", Const("VIR_DOMAIN_METADATA_TITLE"), "live only", None, None, AFFECT_LIVE),
        d("metadata", Const("VIR_DOMAIN_METADATA_TITLE"), None, AFFECT_LIVE),
        d("metadata", Const("VIR_DOMAIN_METADATA_TITLE"), None, AFFECT_CONFIG, error="VIR_ERR_NO_DOMAIN_METADATA"),
        d("setMetadata", Const("VIR_DOMAIN_METADATA_DESCRIPTION"), "config only", None, None, AFFECT_CONFIG),
        d("metadata", Const("VIR_DOMAIN_METADATA_DESCRIPTION"), None, AFFECT_CONFIG),
        d("metadata", Const("VIR_DOMAIN_METADATA_DESCRIPTION"), None, AFFECT_LIVE,
          error="VIR_ERR_NO_DOMAIN_METADATA"),
        d("metadata", 7, None, 0, error=INVALID_ARG),
    ),
    scenario(
        "xml_custom_host_domains",
        *[step for name in ("web", "db", "batch", "parked", "scratch")
          for step in (lookup(name, save=name), on(name, "XMLDesc", 0))],
        uri=MIXED_HOST,
    ),
    scenario(
        "metadata_from_host_file",
        lookup("web", "dom"), d("metadata", Const("VIR_DOMAIN_METADATA_TITLE"), None, 0),
        c("listAllDomains", 0),
        uri=MIXED_HOST,
    ),
]

DEVICES = [
    # libvirt 9.0's test driver has no device hot-plug entry points at all: every call is refused
    # before the XML is even parsed, and the domain XML stays as it was.
    scenario(
        "devices_hotplug_not_supported_running",
        lookup(), d("attachDevice", DISK_VDB, error=NO_SUPPORT),
        d("attachDeviceFlags", DISK_VDB, AFFECT_CONFIG, error=NO_SUPPORT),
        d("detachDevice", DISK_VDB, error=NO_SUPPORT),
        d("detachDeviceFlags", DISK_VDB, AFFECT_LIVE, error=NO_SUPPORT),
        d("updateDeviceFlags", NIC_LINK_DOWN, AFFECT_LIVE, error=NO_SUPPORT),
        d("attachDevice", "<disk", error=NO_SUPPORT),
        d("detachDeviceAlias", "ua-disk0", 0, error=NO_SUPPORT),
        LIVE_XML,
    ),
    scenario(
        "devices_hotplug_not_supported_shutoff",
        define(NEW_DOMAIN_WITH_DISK), d("attachDeviceFlags", DISK_VDB, AFFECT_CONFIG, error=NO_SUPPORT),
        d("updateDeviceFlags", CDROM_HDC_CHANGED, AFFECT_CONFIG, error=NO_SUPPORT), INACTIVE_XML,
    ),
    scenario(
        "devices_changed_by_redefinition",
        define(NEW_DOMAIN), INACTIVE_XML,
        define(domain_xml("fresh", UUID_A, devices=DISK_VDB + NIC_EXTRA + CDROM_HDC), save="same"), INACTIVE_XML,
        define(domain_xml("fresh", UUID_A, devices=DISK_VDB + NIC_LINK_DOWN + CDROM_HDC_CHANGED), save="same2"),
        INACTIVE_XML, d("create"), LIVE_XML, d("interfaceStats", "aa:bb:cc:dd:ee:ff"), d("blockInfo", "vdb", 0),
    ),
    scenario(
        "devices_redefine_running_applies_at_next_start",
        lookup(), define(domain_xml("test", DEFAULT_UUID, memory_kib=8388608, devices=DISK_VDB), save="same"),
        LIVE_XML, INACTIVE_XML, d("destroy"), d("create"), LIVE_XML,
        d("blockStats", "vda", error=INVALID_ARG), d("blockInfo", "vdb", 0),
    ),
]

GUEST = [
    scenario(
        "guest_agent_queries_running",
        lookup(), d("hostname", 0), d("getTime", 0), d("fsFreeze"), d("fsThaw"),
        d("fsFreeze", ["/"]), d("fsThaw", ["/"]),
        d("interfaceAddresses", Const("VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE"), 0),
        d("interfaceAddresses", Const("VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT"), 0),
        d("interfaceAddresses", Const("VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP"), 0),
        d("setTime", {"seconds": 1234567890, "nseconds": 0}, 0),
    ),
    scenario(
        "guest_agent_queries_shutoff",
        define(), d("hostname", 0, error=OP_INVALID), d("getTime", 0, error=OP_INVALID),
        d("fsFreeze", error=OP_INVALID), d("fsThaw", error=OP_INVALID),
        d("interfaceAddresses", 0, 0, error=OP_INVALID),
    ),
    scenario(
        "guest_agent_queries_paused",
        lookup(), d("suspend"), d("hostname", 0), d("getTime", 0, error=OP_INVALID), d("fsFreeze"),
    ),
]

SNAPSHOTS = [
    scenario(
        "snapshot_tree",
        lookup(), d("hasCurrentSnapshot", 0), d("snapshotCurrent", 0, error="VIR_ERR_NO_DOMAIN_SNAPSHOT"),
        d("snapshotCreateXML", snap_xml("s1"), 0, save="s1"),
        d("snapshotCreateXML", snap_xml("s2"), 0, save="s2"),
        d("snapshotCreateXML", snap_xml("s3"), 0, save="s3"),
        d("snapshotNum", 0), d("snapshotListNames", 0), d("listAllSnapshots", 0),
        d("listAllSnapshots", Const("VIR_DOMAIN_SNAPSHOT_LIST_ROOTS")),
        d("listAllSnapshots", Const("VIR_DOMAIN_SNAPSHOT_LIST_LEAVES")),
        d("snapshotCurrent", 0), d("hasCurrentSnapshot", 0),
        on("s1", "getName"), on("s2", "getParent", 0), on("s1", "getParent", 0, error="VIR_ERR_NO_DOMAIN_SNAPSHOT"),
        on("s1", "numChildren", 0), on("s1", "numChildren", Const("VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS")),
        on("s1", "listAllChildren", 0), on("s1", "listChildrenNames", 0),
        on("s1", "isCurrent", 0), on("s3", "isCurrent", 0), on("s1", "hasMetadata", 0),
        on("s2", "getXMLDesc", 0), on("s2", "getDomain"), on("s2", "getConnect"),
        d("snapshotLookupByName", "s2", 0), d("snapshotLookupByName", "nosuch", 0,
                                              error="VIR_ERR_NO_DOMAIN_SNAPSHOT"),
        d("snapshotCreateXML", snap_xml("s1"), 0, error=OP_FAILED),
    ),
    scenario(
        "snapshot_revert_states",
        lookup(), d("snapshotCreateXML", snap_xml("running"), 0, save="running"),
        d("suspend"), d("snapshotCreateXML", snap_xml("paused"), 0, save="paused"),
        d("destroy"), d("snapshotCreateXML", snap_xml("off"), 0, save="off"),
        d("revertToSnapshot", Ref("running"), 0), STATE,
        d("revertToSnapshot", Ref("paused"), 0), STATE,
        d("revertToSnapshot", Ref("off"), 0), STATE,
        d("revertToSnapshot", Ref("off"), Const("VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING")), STATE,
        d("revertToSnapshot", Ref("running"), Const("VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED")), STATE,
        d("snapshotCurrent", 0),
        events=True,
    ),
    scenario(
        "snapshot_delete_with_children",
        lookup(), d("snapshotCreateXML", snap_xml("a"), 0, save="a"),
        d("snapshotCreateXML", snap_xml("b"), 0, save="b"),
        d("snapshotCreateXML", snap_xml("c"), 0, save="c"),
        d("revertToSnapshot", Ref("a"), 0),
        d("snapshotCreateXML", snap_xml("d"), 0, save="d"),
        on("a", "listChildrenNames", 0), on("a", "numChildren", Const("VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS")),
        on("b", "delete", Const("VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY")), d("snapshotListNames", 0),
        on("b", "getParent", 0),
        on("a", "delete", 0), d("snapshotListNames", 0), on("b", "getParent", 0, error="VIR_ERR_NO_DOMAIN_SNAPSHOT"),
        on("d", "getParent", 0, error="VIR_ERR_NO_DOMAIN_SNAPSHOT"),
        on("a", "getName"), on("a", "getXMLDesc", 0, error="VIR_ERR_NO_DOMAIN_SNAPSHOT"),
        on("b", "delete", Const("VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN")), d("snapshotListNames", 0),
        d("snapshotNum", 0),
    ),
    scenario(
        "snapshot_delete_metadata_only_and_current",
        lookup(), d("snapshotCreateXML", snap_xml("x"), 0, save="x"),
        d("snapshotCreateXML", snap_xml("y"), 0, save="y"),
        on("y", "delete", Const("VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY"), error=INVALID_ARG), on("y", "delete", 0), d("snapshotListNames", 0),
        d("hasCurrentSnapshot", 0), on("x", "isCurrent", 0),
        on("x", "delete", Const("VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN", "VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY"),
           error=INVALID_ARG),
    ),
    scenario(
        "snapshot_create_flags",
        lookup(), d("snapshotCreateXML", snap_xml("h"), Const("VIR_DOMAIN_SNAPSHOT_CREATE_HALT"), save="h"),
        STATE, d("snapshotCreateXML", snap_xml("n"), Const("VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA"), error=INVALID_ARG),
        d("snapshotListNames", 0),
        d("snapshotCreateXML", "<domainsnapshot><name>bad", 0, error=XML_DETAIL),
        d("snapshotCreateXML", snap_xml("r"), Const("VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE"),
          error=INTERNAL),
        events=True,
    ),
    scenario(
        "snapshot_shutoff_domain",
        define(), d("snapshotCreateXML", snap_xml("cold"), 0, save="cold"), on("cold", "getXMLDesc", 0),
        d("create"), d("revertToSnapshot", Ref("cold"), 0), STATE,
        c("listAllDomains", Const("VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT")),
        events=True,
    ),
]

SNAPSHOT_HOST_SCENARIOS = [
    scenario(
        "snapshot_host_file_tree",
        lookup("vault"), STATE, d("hasCurrentSnapshot", 0), d("snapshotCurrent", 0), d("snapshotListNames", 0),
        d("snapshotLookupByName", "base", 0, save="base"), d("snapshotLookupByName", "patched", 0, save="patched"),
        on("patched", "getParent", 0), on("base", "listChildrenNames", 0), on("base", "getXMLDesc", 0),
        on("patched", "isCurrent", 0),
        *[
            d("listAllSnapshots", Const(flag))
            for flag in (
                "VIR_DOMAIN_SNAPSHOT_LIST_ROOTS", "VIR_DOMAIN_SNAPSHOT_LIST_LEAVES",
                "VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES", "VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE",
                "VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE", "VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL",
                "VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL", "VIR_DOMAIN_SNAPSHOT_LIST_METADATA",
                "VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL", "VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY",
            )
        ],
        c("listAllDomains", Const("VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT")),
        uri=SNAPSHOT_HOST,
    ),
    scenario(
        "snapshot_host_file_revert",
        lookup("vault"), d("snapshotLookupByName", "patched", 0, save="patched"),
        d("snapshotLookupByName", "base", 0, save="base"),
        d("revertToSnapshot", Ref("patched"), 0), STATE, INFO, d("maxMemory"), INACTIVE_XML,
        d("revertToSnapshot", Ref("base"), 0), STATE, d("maxMemory"), d("snapshotCurrent", 0),
        d("undefine", error=OP_INVALID), on("base", "delete", Const("VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN")),
        d("snapshotNum", 0), d("undefine"),
        uri=SNAPSHOT_HOST, events=True,
    ),
    scenario(
        "snapshot_revert_paused_domain_to_running_snapshot",
        lookup(), d("snapshotCreateXML", snap_xml("up"), 0, save="up"), d("suspend"),
        d("revertToSnapshot", Ref("up"), 0), STATE,
        d("revertToSnapshot", Ref("up"), Const("VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED")), STATE,
        d("revertToSnapshot", Ref("up"), Const("VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING",
                                                "VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED"), error=INVALID_ARG),
        events=True,
    ),
]

JOBS = [
    scenario(
        "jobs_and_migration_tunables",
        lookup(), d("jobInfo", error=NO_SUPPORT), d("jobStats", 0, error=NO_SUPPORT),
        d("abortJob", error=NO_SUPPORT),
        d("migrateGetMaxDowntime", 0), d("migrateSetMaxDowntime", 500, 0, error=NO_SUPPORT),
        d("migrateGetMaxSpeed", 0, error=NO_SUPPORT), d("migrateSetMaxSpeed", 100, 0, error=NO_SUPPORT),
        d("migrateGetCompressionCache", 0),
    ),
    scenario(
        "jobs_shutoff_domain",
        define(), d("jobInfo", error=NO_SUPPORT), d("abortJob", error=NO_SUPPORT),
        d("migrateGetMaxDowntime", 0),
    ),
]

EVENTS = [
    scenario(
        "events_full_lifecycle",
        define(), d("create"), d("suspend"), d("resume"), d("save", Tmp("e.img")), c("restore", Tmp("e.img")),
        d("managedSave", 0), d("create"), d("reboot", 0), d("shutdown"), d("createWithFlags", 0),
        d("destroy"), d("undefine"),
        events=True,
    ),
    scenario(
        "events_transient_domain",
        c("createXML", NEW_DOMAIN, 0, save="dom"), d("suspend"), d("resume"), d("destroy"),
        c("createXML", NEW_DOMAIN, 0, save="again"), on("again", "shutdown"),
        events=True,
    ),
    scenario(
        "events_custom_host",
        lookup("web", "dom"), d("suspend"), d("destroy"), lookup("scratch", "s"), on("s", "destroy"),
        uri=MIXED_HOST, events=True,
    ),
    scenario(
        "events_failed_calls_emit_nothing",
        lookup(), d("resume", error=INTERNAL), d("create", error=INTERNAL), d("destroy"),
        d("destroy", error=OP_INVALID), d("suspend", error=INTERNAL),
        events=True,
    ),
]

# Calls each state refuses, with the error libvirt's test driver answers (it says "internal error"
# for most wrong-state calls, "operation invalid" for the rest).
STATE_REFUSALS: dict[str, tuple[tuple[Step, ...], tuple[Step, ...]]] = {
    "running": ((lookup(),), (d("create", error=INTERNAL), d("resume", error=INTERNAL))),
    "paused": ((lookup(), d("suspend")), (d("create", error=INTERNAL), d("suspend", error=INTERNAL))),
    "shutoff": ((lookup(), d("destroy")), (
        d("suspend", error=INTERNAL), d("resume", error=INTERNAL), d("shutdown", error=INTERNAL),
        d("reboot", 0, error=OP_INVALID), d("reset", 0, error=OP_INVALID), d("destroy", error=OP_INVALID),
        d("save", Tmp("s.img"), error=OP_INVALID), d("managedSave", 0, error=OP_INVALID),
        d("coreDump", Tmp("core"), 0, error=OP_INVALID), d("memoryStats", error=OP_INVALID),
        d("vcpus", error=OP_INVALID), d("getCPUStats", True, error=OP_INVALID),
    )),
}

STATE_MACHINE = [
    scenario(f"state_refusals_when_{label}", *setup, *refused, STATE, INFO, events=True)
    for label, (setup, refused) in STATE_REFUSALS.items()
] + [
    scenario(
        "state_reasons_sequence",
        lookup(), STATE, d("suspend"), STATE, d("resume"), STATE, d("shutdown"), STATE, d("create"), STATE,
        d("destroy"), STATE, d("createWithFlags", 0), d("suspend"), STATE,
        d("save", Tmp("x.img")), STATE, c("restore", Tmp("x.img")), STATE,
        d("managedSave", 0), STATE, d("create"), STATE, d("coreDump", Tmp("c"), Const("VIR_DUMP_CRASH")), STATE,
    ),
]

def refusal_in_state(state: str, method: str) -> str | None:
    """What libvirt's test driver answers for a lifecycle call in a state (None: it does it).

    Only "paused" counts as paused and only "shutoff" as inactive: crashed, pmsuspended, blocked
    and nostate domains are treated like running ones.
    """
    if method == "resume" and state != "paused":
        return INTERNAL
    if method == "create" and state != "shutoff":
        return INTERNAL
    if method == "suspend" and state in ("paused", "shutoff"):
        return INTERNAL
    if method == "shutdown" and state == "shutoff":
        return INTERNAL
    if method in ("reboot", "destroy") and state == "shutoff":
        return OP_INVALID
    return None


# Every lifecycle call on a domain loaded in every state (fresh host per call).
EVERY_STATE = [
    scenario(
        f"every_state_{label}_{method}",
        lookup(label), STATE, d("isActive"), d(method, *args, error=refusal_in_state(label, method)), STATE,
        uri=STATES_HOST, events=True,
    )
    for label in HOST_STATES
    for method, args in (
        ("suspend", ()), ("resume", ()), ("shutdown", ()), ("reboot", (0,)), ("destroy", ()), ("create", ()),
    )
] + [
    scenario(
        "every_state_wakeup_and_ids",
        *[step for label in HOST_STATES for step in (
            lookup(label, save=label), on(label, "ID"), on(label, "pMWakeup", 0, error=NO_SUPPORT))],
        c("listDomainsID"), c("numOfDomains"), c("numOfDefinedDomains"),
        uri=STATES_HOST,
    ),
]

SCENARIOS: list[Scenario] = (
    CONNECTION + LOOKUP + LISTING + IDENTITY + XML + DEFINE + DEFINE_PARSING + UNDEFINE + CREATE + POWER + SUSPEND + SAVE
    + MANAGED_SAVE + DUMP + MEMORY + VCPUS + TUNING + STATS + AUTOSTART + RENAME + METADATA + DEVICES
    + GUEST + SNAPSHOTS + SNAPSHOT_HOST_SCENARIOS + JOBS + EVENTS + STATE_MACHINE + EVERY_STATE
)
