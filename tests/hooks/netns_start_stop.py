"""Start and stop one domain through a driver inside the current network namespace; print the links seen.

Run by test_device_setup_network.py under `unshare --net`: argv[1] is the URI, argv[2] the domain XML. Prints
one JSON object: the links after the start, after the stop, and the error of the start if it failed.
"""

import json
import sys

import virtkernel
from virtkernel.command import run


def links() -> dict:
    found = json.loads(run(["ip", "-json", "link", "show"]).stdout)
    return {link["ifname"]: {"master": link.get("master"), "up": "UP" in link.get("flags", [])}
            for link in found if link["ifname"] != "lo"}


def main() -> None:
    uri, xml = sys.argv[1], sys.argv[2]
    report: dict = {}
    with virtkernel.open(uri) as conn:
        dom = conn.define_xml(xml)
        try:
            dom.create()
        except virtkernel.VirtError as exc:
            report["error"] = exc.message
        report["running"] = links()
        report["active"] = dom.is_active()
        if dom.is_active():
            dom.destroy()
        report["stopped"] = links()
        dom.undefine()
    print(json.dumps(report))


main()
