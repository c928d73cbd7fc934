"""veth networking: the container pings the host end over IPv4 and IPv6, with or without a bridge.

The "host" side is a network namespace the launching process creates for the test, so every address
in these tests exists only on our own veth pairs.
"""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from virtkernel_lxc import Interface, IPAddress
from virtkernel.errors import OperationFailed
from virtkernel_lxc.network import container_side_batch, host_side_batch, interface_exists

pytestmark = pytest.mark.timeout(60)

PING_PROBE = """
    import subprocess
    def ping(address):
        done = subprocess.run(["/usr/bin/ping", "-c", "1", "-W", "3", address], capture_output=True, text=True)
        return done.returncode
    result["ping4"] = ping(TARGET4)
    result["ping6"] = ping(TARGET6) if TARGET6 else None
    result["mac"] = open("/sys/class/net/eth0/address").read().strip()
    result["links"] = sorted(os.listdir("/sys/class/net"))
    result["default4"] = [l.split()[2] for l in open("/proc/net/route").read().splitlines()[1:]
                          if l.split()[1] == "00000000"]
"""


def _in_host_netns(handle, *argv: str) -> subprocess.CompletedProcess:
    """Run a program in the network namespace of the container's supervisor (the test's "host")."""
    return subprocess.run(["nsenter", f"--net=/proc/{handle.supervisor_pid}/ns/net", *argv],
                          capture_output=True, text=True, timeout=20)


def test_container_pings_the_host_end_over_ipv4_and_ipv6(containers):
    host = f"vkh{containers.unique_name('')[:8]}"
    iface = Interface(host_name=host, container_name="eth0", mac="02:00:00:ab:cd:ef",
                      addresses=[IPAddress("192.0.2.2", 30), IPAddress("2001:db8:1::2", 64)],
                      host_addresses=[IPAddress("192.0.2.1", 30), IPAddress("2001:db8:1::1", 64)],
                      gateway4="192.0.2.1", gateway6="2001:db8:1::1")
    code = PING_PROBE.replace("TARGET4", "'192.0.2.1'").replace("TARGET6", "'2001:db8:1::1'")
    spec = containers.spec(init=containers.python, args=containers.probe_program(code), interfaces=[iface])
    handle = containers.launch_elsewhere(spec, own_netns=True)
    result = containers.read_probe(handle)
    assert result["ping4"] == 0
    assert result["ping6"] == 0
    assert result["mac"] == "02:00:00:ab:cd:ef"
    assert result["links"] == ["eth0", "lo"]
    assert result["default4"] == [socket.inet_aton("192.0.2.1")[::-1].hex().upper()]  # /proc/net/route hex
    # and the host side reaches the container
    assert _in_host_netns(handle, "ping", "-c", "1", "-W", "3", "192.0.2.2").returncode == 0
    counters = handle.stats().interfaces[host]
    assert counters.rx_packets >= 2 and counters.tx_packets >= 2  # the container's view: it sent and received
    assert counters.rx_bytes > 0 and counters.tx_bytes > 0


def test_host_end_joins_a_bridge(containers):
    bridge = f"vkb{containers.unique_name('')[:8]}"
    host = f"vkh{containers.unique_name('')[:8]}"
    iface = Interface(host_name=host, bridge=bridge, addresses=[IPAddress("192.0.2.10", 29)],
                      mac="02:00:00:00:00:0a")
    code = PING_PROBE.replace("TARGET4", "'192.0.2.9'").replace("TARGET6", "None")
    spec = containers.spec(init=containers.python, args=containers.probe_program(code), interfaces=[iface])
    handle = containers.launch_elsewhere(spec, own_netns=True, setup=[
        f"link add {bridge} type bridge", f"addr add 192.0.2.9/29 dev {bridge}", f"link set {bridge} up"])
    result = containers.read_probe(handle)
    assert result["ping4"] == 0
    link = json.loads(_in_host_netns(handle, "ip", "-j", "link", "show", "dev", host).stdout)[0]
    assert link["master"] == bridge


def test_destroy_removes_the_veth_pair(containers):
    host = f"vkh{containers.unique_name('')[:8]}"
    spec = containers.spec(init="/bin/sleep", args=["1000"], interfaces=[Interface(host_name=host)])
    handle = containers.launch_elsewhere(spec, own_netns=True)
    shown = _in_host_netns(handle, "ip", "-j", "link", "show", "dev", host)
    assert shown.returncode == 0 and json.loads(shown.stdout)[0]["ifname"] == host
    netns = f"/proc/{handle.supervisor_pid}/ns/net"
    # Keep the "host" namespace alive past the supervisor to check the pair is really gone from it.
    keeper = subprocess.Popen(["nsenter", f"--net={netns}", "sleep", "30"])
    try:
        handle.destroy()
        gone = subprocess.run(["nsenter", f"--net=/proc/{keeper.pid}/ns/net", "ip", "-j", "link", "show"],
                              capture_output=True, text=True, timeout=20)
        assert host not in {link["ifname"] for link in json.loads(gone.stdout)}
    finally:
        keeper.kill()
        keeper.wait()


def test_ip_batches_say_what_is_configured():
    iface = Interface(host_name="vkh1", container_name="eth1", bridge="br0", mac="02:00:00:00:00:01", mtu=1400,
                      addresses=[IPAddress("192.0.2.2", 24), IPAddress("2001:db8::2", 64)],
                      host_addresses=[IPAddress("192.0.2.1", 24)], gateway4="192.0.2.1", gateway6="2001:db8::1")
    assert host_side_batch([iface], 4242) == [
        "link add name vkh1 mtu 1400 type veth peer name eth1 address 02:00:00:00:00:01 mtu 1400 netns 4242",
        "link set vkh1 master br0",
        "addr add 192.0.2.1/24 dev vkh1",
        "link set vkh1 up",
    ]
    assert container_side_batch([iface]) == [
        "link set lo up",
        "addr add 192.0.2.2/24 dev eth1",
        "addr add 2001:db8::2/64 dev eth1 nodad",
        "link set eth1 up",
        "route add default via 192.0.2.1 dev eth1",
        "route add ::/0 via 2001:db8::1 dev eth1",
    ]


def test_ip_batch_refuses_tokens_that_could_split_a_line():
    with pytest.raises(ValueError, match="unsafe token"):
        host_side_batch([Interface(host_name="a b")], 1)


def test_a_missing_bridge_fails_the_start_and_leaves_no_veth(containers):
    host = f"vkh{containers.unique_name('')[:8]}"
    spec = containers.spec(init="/bin/sleep", args=["1000"],
                           interfaces=[Interface(host_name=host, bridge="vknobridge0")])
    with pytest.raises(OperationFailed, match="cannot create the container's veth pairs"):
        containers.launch(spec)
    assert not interface_exists(host)
    assert containers.find_cgroup(spec.name) is None


def test_network_is_set_up_again_after_a_reboot(containers):
    host = f"vkh{containers.unique_name('')[:8]}"
    iface = Interface(host_name=host, addresses=[IPAddress("192.0.2.2", 30)],
                      host_addresses=[IPAddress("192.0.2.1", 30)])
    spec = containers.spec(init="/bin/sh", args=["-c", "ping -c 1 -W 3 192.0.2.1 > /dev/null && echo PING-OK; "
                                                       "sleep 1000"], interfaces=[iface])
    handle = containers.launch_elsewhere(spec, own_netns=True)
    with handle.open_console() as console:
        console.read_until(b"PING-OK", timeout=15)
        handle.reboot()
        assert b"PING-OK" in console.read_until(b"PING-OK", timeout=15)
    assert handle.status().boots == 2
