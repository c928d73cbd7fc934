"""<domain type='lxc'> to ContainerSpec: every row of the README's XML table, and refusals naming the element."""

from __future__ import annotations

import pytest

from virtkernel.domainxml import DomainDefinition
from virtkernel.enums import ErrorCode
from virtkernel.errors import VirtError
from virtkernel_lxc.spec import DEFAULT_HOST_BINDS, BindMount, IdMapRange, IPAddress, TmpfsMount
from virtkernel_lxc.xmlmap import add_defaults, host_interface_name, plan_container

FULL = """
<domain type='lxc'>
  <name>full1</name><uuid>8f0e6c1e-5c43-4a4f-9d0b-2f3c1f0e7a11</uuid>
  <title>t</title><description>d</description><metadata><x xmlns='urn:x'/></metadata>
  <memory unit='MiB'>256</memory><currentMemory unit='MiB'>128</currentMemory>
  <vcpu placement='static' cpuset='0-1' current='1'>2</vcpu>
  <cputune><shares>512</shares><period>50000</period><quota>-1</quota></cputune>
  <memtune><soft_limit unit='MiB'>64</soft_limit><swap_hard_limit unit='MiB'>512</swap_hard_limit></memtune>
  <os><type arch='x86_64'>exe</type><init>/usr/bin/env</init><initarg>a b</initarg><initarg></initarg>
      <initenv name='LANG'>C.UTF-8</initenv><initdir>/srv</initdir></os>
  <idmap><uid start='0' target='100000' count='65536'/><gid start='0' target='100000' count='65536'/></idmap>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/libexec/libvirt_lxc</emulator>
    <filesystem type='mount' accessmode='passthrough'><source dir='/srv/root'/><target dir='/'/></filesystem>
    <filesystem type='mount'><source dir='/srv/data'/><target dir='/data'/><readonly/></filesystem>
    <filesystem type='ram'><source usage='16' units='MiB'/><target dir='/run'/></filesystem>
    <interface type='ethernet'><mac address='02:00:00:00:00:01'/><ip address='192.0.2.2' prefix='30'/>
      <ip address='2001:db8::2' prefix='64'/><route gateway='192.0.2.1'/><route gateway='2001:db8::1'/>
      <mtu size='1400'/></interface>
    <interface type='bridge'><source bridge='br0'/><target dev='veth-web'/><guest dev='lan0'/></interface>
    <console type='pty'><target type='lxc' port='0'/></console>
  </devices>
</domain>
"""


def _plan(xml: str):
    defn = DomainDefinition.from_xml(xml)
    add_defaults(defn)
    return plan_container(defn)


def test_every_supported_element_reaches_the_spec():
    plan = _plan(FULL)
    spec = plan.spec
    assert (spec.name, spec.uuid, spec.hostname) == ("full1", "8f0e6c1e-5c43-4a4f-9d0b-2f3c1f0e7a11", "full1")
    assert spec.memory_limit == 128 << 20  # current memory, libvirt's lxc balloon
    assert (plan.tunables.soft_limit, plan.tunables.swap_hard_limit) == (64 << 20, 512 << 20)
    assert (spec.vcpus, spec.cpuset) == (1, "0-1")
    assert (spec.cpu_shares, spec.cpu_period, spec.cpu_quota) == (512, 50000, None)
    assert (spec.init, spec.args, spec.env, spec.workdir) == ("/usr/bin/env", ["a b", ""], {"LANG": "C.UTF-8"}, "/srv")
    assert spec.idmap.uids == [IdMapRange(0, 100000, 65536)] and spec.idmap.gids == [IdMapRange(0, 100000, 65536)]
    assert spec.root_dir == "/srv/root" and spec.host_binds == []
    assert spec.binds == [BindMount("/srv/data", "/data", True)]
    assert spec.tmpfs == [TmpfsMount("/run", 16 << 20)]
    eth, bridged = spec.interfaces
    assert eth.host_name == host_interface_name(spec.uuid, 0) and eth.container_name == "eth0"
    assert eth.mac == "02:00:00:00:00:01" and eth.mtu == 1400 and eth.bridge is None
    assert eth.addresses == [IPAddress("192.0.2.2", 30), IPAddress("2001:db8::2", 64)]
    assert (eth.gateway4, eth.gateway6) == ("192.0.2.1", "2001:db8::1")
    assert (bridged.host_name, bridged.container_name, bridged.bridge) == ("veth-web", "lan0", "br0")
    assert spec.console is True


def test_hard_limit_wins_and_a_minimal_domain_gets_defaults():
    plan = _plan("<domain type='lxc'><name>m</name><memory>65536</memory><memtune><hard_limit unit='MiB'>32"
                 "</hard_limit></memtune><os><type>exe</type></os></domain>")
    assert plan.spec.memory_limit == 32 << 20
    assert plan.spec.init == "/sbin/init" and plan.spec.host_binds == list(DEFAULT_HOST_BINDS)
    defn = DomainDefinition.from_xml("<domain type='lxc'><name>m</name><memory>65536</memory>"
                                     "<os><type>exe</type></os></domain>")
    add_defaults(defn)
    assert defn.uuid and defn.root.find("devices/console").get("type") == "pty"


@pytest.mark.parametrize("fragment, words", [
    ("<features><privnet/></features>", "unsupported element <features>"),
    ("<devices><disk type='file'/></devices>", "unsupported element <disk>"),
    ("<devices><hostdev mode='capabilities'/></devices>", "unsupported element <hostdev>"),
    ("<devices><console type='file'/></devices>", "console type 'file'"),
    ("<devices><console type='pty'/><console type='pty'/></devices>", "only one <console>"),
    ("<devices><interface type='user'/></devices>", "interface type 'user'"),
    ("<devices><interface type='ethernet'><model type='virtio'/></interface></devices>", "unsupported element <model>"),
    ("<devices><interface type='ethernet'><ip address='192.0.2.2' peer='192.0.2.1'/></interface></devices>",
     "attribute 'peer'"),
    ("<devices><interface type='ethernet'><route address='10.0.0.0' prefix='8' gateway='192.0.2.1'/>"
     "</interface></devices>", "only default routes"),
    ("<devices><interface type='bridge'/></devices>", "needs <source bridge='NAME'/>"),
    ("<devices><filesystem type='file'><source file='/x.img'/><target dir='/x'/></filesystem></devices>",
     "filesystem type 'file'"),
    ("<devices><filesystem type='mount'><source dir='/x'/><target dir='/'/><readonly/></filesystem></devices>",
     "read-only root filesystem"),
    ("<devices><filesystem type='mount' accessmode='mapped'><source dir='/x'/><target dir='/y'/></filesystem>"
     "</devices>", "accessmode 'mapped'"),
    ("<cputune><vcpupin vcpu='0' cpuset='0'/></cputune>", "unsupported element <vcpupin>"),
    ("<cputune><quota>10</quota></cputune>", "must be -1 or at least 1000"),
    ("<memtune><min_guarantee>1</min_guarantee></memtune>", "unsupported element <min_guarantee>"),
    ("<on_crash>preserve</on_crash>", "<on_crash>preserve</on_crash> is not supported"),
    ("<resource><partition>/machine</partition></resource>", "unsupported element <resource>"),
    ("<idmap><uid start='0' target='1000' count='10'/></idmap>", "at least one <uid> and one <gid>"),
])
def test_what_cannot_run_as_written_is_refused_naming_it(fragment, words):
    xml = ("<domain type='lxc'><name>r</name><memory>65536</memory><os><type>exe</type></os>"
           f"{fragment}</domain>")
    with pytest.raises(VirtError) as info:
        _plan(xml)
    assert words in info.value.message
    assert info.value.code in (ErrorCode.CONFIG_UNSUPPORTED, ErrorCode.XML_ERROR)


def test_other_domain_types_and_os_types_are_refused():
    for xml, words in [("<domain type='kvm'><name>k</name><memory>1</memory><os><type>exe</type></os></domain>",
                        "domain type 'kvm'"),
                       ("<domain type='lxc'><name>k</name><memory>1</memory><os><type>hvm</type></os></domain>",
                        "os type 'hvm'"),
                       ("<domain type='lxc'><name>k</name><os><type>exe</type></os></domain>", "missing <memory>"),
                       ("<domain type='lxc'><name>..</name><memory>1</memory><os><type>exe</type></os></domain>",
                        "name '..' is not allowed")]:
        with pytest.raises(VirtError) as info:
            _plan(xml)
        assert words in info.value.message
