"""The hooks engineer's shared suites (hook scripts, Python hook plugins, device setup) on real containers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

import virtkernel
from virtkernel_hook_scripts.testsuite import *  # noqa: F401,F403 - the shared hook tests
from virtkernel_hook_scripts.testsuite import HookHost

pytestmark = pytest.mark.timeout(120)


class HostOnLxcDriver(HookHost):
    """lxc:///embed?root=WORKDIR/root: HOOKDIR is ROOT/etc/hooks; containers run /bin/sleep."""

    driver = "lxc"
    features = frozenset({"reconnect"})

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.root = workdir / "root"
        self.uri = f"lxc:///embed?root={self.root}"

    @property
    def config_dir(self) -> Path:
        path = self.root / "etc"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def open(self) -> virtkernel.Connection:
        return virtkernel.open(self.uri)

    def open_after_restart(self) -> virtkernel.Connection:
        # The host's in-process state goes with its last connection: the next one starts afresh, as a new
        # process would, and picks up the running containers (the suite closes its connections first).
        return virtkernel.open(self.uri)

    def domain_xml(self, name: str) -> str:
        return ("<domain type='lxc'><name>placeholder</name><memory unit='MiB'>64</memory>"
                "<os><type>exe</type><init>/bin/sleep</init><initarg>1000</initarg></os><devices/></domain>")

    def close(self) -> None:
        """Destroy what a failed test left running."""
        hooks = self.config_dir / "hooks"
        shutil.rmtree(hooks, ignore_errors=True)  # no hook script may run (or refuse) during the clean-up
        with virtkernel.open(self.uri) as conn:
            for dom in conn.list_all_domains(virtkernel.ConnectListDomainsFlags.ACTIVE):
                dom.destroy()
        from virtkernel.cgroup import detect_layout, sanitize_name
        from virtkernel.uri import parse_uri
        from virtkernel_lxc.paths import HostPaths
        driver = sanitize_name(HostPaths.for_uri(parse_uri(self.uri)).cgroup_driver)
        left = [str(h.own_dir / "virtkernel" / driver) for h in detect_layout().group_hierarchies
                if (h.own_dir / "virtkernel" / driver).exists()]
        assert not left, f"cgroups left behind: {left}"


@pytest.fixture
def hook_host(tmp_path: Path) -> Iterator[HostOnLxcDriver]:
    host = HostOnLxcDriver(tmp_path)
    yield host
    host.close()


# device-setup's shared suite is about <disk> images, which lxc domains do not have: it is not run here;
# the test below proves the driver refuses the element instead of ignoring it.


def test_lxc_refuses_the_disk_element_device_setup_would_describe(tmp_path: Path) -> None:
    host = HostOnLxcDriver(tmp_path)
    xml = host.domain_xml("disk1").replace("<devices/>", "<devices><disk type='file' device='disk'><source "
                                           f"file='{tmp_path}/x.raw'/><target dev='vdb'/></disk></devices>")
    with host.open() as conn, pytest.raises(virtkernel.VirtError) as info:
        conn.define_xml(xml.replace("placeholder", "disk1"))
    assert "unsupported element <disk>" in info.value.message
    assert not os.path.exists(f"{tmp_path}/x.raw")
