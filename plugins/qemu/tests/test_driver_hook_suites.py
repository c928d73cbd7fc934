"""The hooks engineer's shared suites (hook scripts, Python hook plugins, device setup) on real qemu guests."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

import virtkernel
from virtkernel_device_setup import testsuite as device_setup_suite
from virtkernel_device_setup.testsuite import *  # noqa: F401,F403 - the shared device-setup tests
from virtkernel_hook_scripts.testsuite import *  # noqa: F401,F403 - the shared hook tests
from virtkernel_hook_scripts.testsuite import HookHost
from virtkernel_qemu import testguest

from driver_support import VIRT_TYPE, new_host

pytestmark = pytest.mark.timeout(120)
assert device_setup_suite.__all__  # imported above by name


class HostOnQemuDriver(HookHost):
    """qemu:///embed?root=ROOT: HOOKDIR is ROOT/etc/hooks; domains run the test guest under TCG."""

    driver = "qemu"
    features = frozenset({"save", "reconnect", "migrate"})

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.embed = new_host()
        self.root = self.embed.root
        self.uri = self.embed.uri

    @property
    def config_dir(self) -> Path:
        path = self.root / "etc"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def open(self) -> virtkernel.Connection:
        return virtkernel.open(self.uri)

    def peer(self) -> "HostOnQemuDriver":
        """A second qemu:///embed root in this process to migrate to."""
        if getattr(self, "_peer", None) is None:
            (self.workdir / "peer").mkdir(exist_ok=True)
            self._peer = HostOnQemuDriver(self.workdir / "peer")
        return self._peer

    def open_after_restart(self) -> virtkernel.Connection:
        # the suite closes its connections first: the next open starts the host afresh and reconnects
        return virtkernel.open(self.uri)

    def domain_xml(self, name: str) -> str:
        stem = hashlib.sha1(name.encode()).hexdigest()[:12]
        disk = testguest.write_disk_image(self.root / f"{stem}.img")
        return testguest.domain_xml("placeholder", disk, self.root / f"{stem}.serial", virt_type=VIRT_TYPE)

    def close(self) -> None:
        """Destroy what a failed test left running and remove the root."""
        shutil.rmtree(self.config_dir / "hooks", ignore_errors=True)
        self.embed.cleanup()
        if getattr(self, "_peer", None) is not None:
            self._peer.close()


def _image_info_of_an_image_in_use(path: Path) -> dict:
    """qemu-img info with -U: a running QEMU holds a write lock on its disks (the suite's helper omits -U)."""
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return json.loads(out)


@pytest.fixture
def hook_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostOnQemuDriver]:
    monkeypatch.setattr(device_setup_suite, "_image", _image_info_of_an_image_in_use)
    host = HostOnQemuDriver(tmp_path)
    yield host
    host.close()
