"""A program written for libvirt-python; run with LIBVIRT_MODULE=virtkernel.libvirt it uses the facade instead."""

import importlib
import os
import sys

libvirt = importlib.import_module(os.environ.get("LIBVIRT_MODULE", "libvirt"))

XML = ("<domain type='test'><name>sample</name><uuid>0f0e0d0c-0b0a-0908-0706-050403020100</uuid>"
       "<memory unit='KiB'>262144</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/></domain>")
STATES = {getattr(libvirt, n): n for n in ("VIR_DOMAIN_RUNNING", "VIR_DOMAIN_PAUSED", "VIR_DOMAIN_SHUTOFF")}


def main() -> int:
    libvirt.registerErrorHandler(lambda ctx, err: print("handler:", ctx, err[0], err[1]), "ctx")
    libvirt.virEventRegisterDefaultImpl()
    conn = libvirt.open("test:///default")
    events = []
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                lambda c, d, ev, detail, opaque: events.append((d.name(), ev, detail, opaque)), "op")

    def pump():
        fired = []
        timer = libvirt.virEventAddTimeout(0, lambda t, o: fired.append(t), None)
        while not fired:
            libvirt.virEventRunDefaultImpl()
        libvirt.virEventRemoveTimeout(timer)
        while events:
            print("event:", *events.pop(0))

    print("type:", conn.getType(), "uri:", conn.getURI(), "node:", conn.getInfo())
    for dom in sorted(conn.listAllDomains(), key=lambda d: d.name()):
        state, reason = dom.state()
        print("domain:", dom.name(), dom.ID(), STATES.get(state, state), reason, dom.info()[:4])
    dom = conn.defineXML(XML)
    pump()
    for step in ("create", "suspend", "resume", "destroy"):
        print(step, "->", getattr(dom, step)(), dom.state(), dom.ID())
        pump()
    try:
        dom.destroy()
    except libvirt.libvirtError as error:
        print("error:", error.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID, error.get_error_domain())
    snap = dom.snapshotCreateXML("<domainsnapshot><name>first</name></domainsnapshot>", 0)
    print("snapshots:", dom.snapshotListNames(), snap.getName(), snap.isCurrent())
    print("vcpus:", dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG), "max memory:", dom.maxMemory())
    print("undefine:", dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA))
    pump()
    try:
        conn.lookupByName("sample")
    except libvirt.libvirtError as error:
        print("lookup:", error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN)
    del dom, snap
    print("close:", conn.close())
    return 0


if __name__ == "__main__":
    sys.exit(main())
