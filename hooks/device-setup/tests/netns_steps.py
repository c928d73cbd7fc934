"""Run device-setup steps inside the current network namespace and print what the host's links looked like.

Used by test_network.py under `unshare --net` (a private network namespace): argv[1] is the config dir,
argv[2] a JSON list of steps [point, domain-uuid, domain-xml]; prints one JSON snapshot of the links after
each step (or the error message when a step raised).
"""

import json
import sys

from virtkernel.command import run
from virtkernel.lifecycle import DomainHookEvent, HookPoint
from virtkernel_device_setup import DeviceSetup


def snapshot() -> dict:
    links = json.loads(run(["ip", "-json", "link", "show"]).stdout)
    return {link["ifname"]: {"master": link.get("master"), "up": "UP" in link.get("flags", []),
                             "kind": link.get("link_type")}
            for link in links if link["ifname"] != "lo"}


def main() -> None:
    config_dir = sys.argv[1]
    plugin = DeviceSetup()
    for point_name, uuid, xml in json.loads(sys.argv[2]):
        if point_name == "host":  # create a device as the host's administrator would
            run(["ip", *xml.split()])
            print(json.dumps({"links": snapshot()}))
            continue
        point = HookPoint(point_name)
        event = DomainHookEvent(point=point, driver="test", name="vm", uuid=uuid, xml=xml, config_dir=config_dir)
        try:
            getattr(plugin, point.spec_name)(event)
            print(json.dumps({"links": snapshot()}))
        except Exception as exc:
            print(json.dumps({"error": getattr(exc, "message", str(exc)), "links": snapshot()}))


main()
