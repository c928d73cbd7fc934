"""The shared hook suites (hook scripts, Python hook plugins, device setup) run against the test driver."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Iterator, Optional

import pytest

import virtkernel
from virtkernel_device_setup.testsuite import *  # noqa: F401,F403 - the shared device-setup tests
from virtkernel_hook_scripts.testsuite import *  # noqa: F401,F403 - the shared hook tests
from virtkernel_hook_scripts.testsuite import HookHost


class HostOnTestDriver(HookHost):
    """test:///default (or a host file) whose hook config dir is a temporary directory (?config=CONFIG_DIR)."""

    driver = "test"
    features = frozenset({"save", "migrate"})

    def __init__(self, workdir: Path, host_file: Optional[Path] = None) -> None:
        super().__init__(workdir)
        self.host_file = host_file
        self._keeper: Optional[virtkernel.Connection] = None
        self._peers: list["HostOnTestDriver"] = []

    @property
    def config_dir(self) -> Path:
        path = self.workdir / "etc"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def uri(self) -> str:
        path = str(self.host_file) if self.host_file else "/default"
        return f"test://{path}?config={urllib.parse.quote(str(self.config_dir), safe='/')}"

    def open(self) -> virtkernel.Connection:
        if self._keeper is None and self.host_file is None:
            # test:///default forgets its guests when its last connection closes: keep one open for the test
            self._keeper = virtkernel.open(self.uri)
        return virtkernel.open(self.uri)

    def domain_xml(self, name: str) -> str:
        return ("<domain type='test'><name>placeholder</name><memory unit='KiB'>8192</memory><vcpu>1</vcpu>"
                "<os><type arch='i686'>hvm</type></os><devices/></domain>")

    def peer(self) -> "HostOnTestDriver":
        workdir = self.workdir / "peer"
        workdir.mkdir()
        host_file = workdir / "host.xml"
        host_file.write_text("<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads>"
                             "<active>2</active><mhz>2000</mhz><model>i686</model></cpu><memory>2097152</memory>"
                             "</node>")
        peer = HostOnTestDriver(workdir, host_file)
        self._peers.append(peer)
        return peer

    def close(self) -> None:
        """Stop and undefine what the test left on test:///default, then let the shared state go."""
        if self._keeper is None:
            return
        for dom in self._keeper.list_all_domains():
            if dom.name == "test":
                continue
            if dom.is_active():
                dom.destroy()
            if dom.is_persistent():
                dom.undefine()
        self._keeper.close()


@pytest.fixture
def hook_host(tmp_path: Path) -> Iterator[HostOnTestDriver]:
    host = HostOnTestDriver(tmp_path)
    yield host
    host.close()
