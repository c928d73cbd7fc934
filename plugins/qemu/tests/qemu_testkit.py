"""Helpers shared by the qemu plugin's tests (a uniquely named module: never import ``conftest`` by name)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

import virtkernel
from guest import GUEST_MEMORY_MIB, count_passes, wait_for_serial
from virtkernel.enums import DomainState
from virtkernel_qemu.capabilities import kvm_device_usable
from virtkernel_qemu.migration import PORTS
from virtkernel_qemu.monitor import Monitor
from virtkernel_qemu.process import QemuProcess

QEMU = "qemu-system-x86_64"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Fail in CI, skip elsewhere, when a prerequisite is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {reason}")
    pytest.skip(reason)


kvm_usable = kvm_device_usable
"""True when /dev/kvm can be opened read-write (what the driver itself checks)."""


def unused_port(address: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel's pick, outside any fixed range other test runs use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


@dataclass
class RunningGuest:
    """A test guest started by the `boot_guest` fixture."""

    process: QemuProcess
    monitor: Monitor
    serial: Path
    socket_path: Path

    def wait_passes(self, passes: int, timeout: float = 60) -> str:
        """Wait until the serial log shows `passes` more B's than now; returns the log text."""
        start = count_passes(self.serial.read_text()) if self.serial.exists() else 0
        return wait_for_serial(self.serial, lambda text: count_passes(text) >= start + passes,
                               timeout=timeout, process=self.process)


def guest_argv(qemu_binary: str, accel: str, disk: Path, serial: Path, *extra: str,
               machine: str = "pc") -> list[str]:
    """argv of the test guest booting from `disk`, monitor on fd 3 (see `boot_guest`)."""
    return [qemu_binary, "-nodefaults", "-no-user-config", "-machine", machine, "-accel", accel,
            "-m", str(GUEST_MEMORY_MIB), "-display", "none",
            "-blockdev", f'{{"driver":"file","filename":"{disk}","node-name":"disk0"}}',
            "-device", "ide-hd,drive=disk0,bus=ide.0,bootindex=1", "-serial", f"file:{serial}",
            "-chardev", "socket,id=monitor,fd=3,server=on,wait=off", "-mon", "chardev=monitor,mode=control",
            *extra]


@dataclass
class Hosts:
    """Two qemu:///embed hosts of the `hosts` fixture (a = source, b = destination) and the guest's files."""

    root: Path
    a: virtkernel.Connection
    b: virtkernel.Connection
    disk: Path
    serial: Path

    def xml(self, name: str = "g1", disk: Path | None = None, extra: str = "") -> str:
        """Domain XML of the test guest (TCG, 128 MiB, the disk on IDE, the serial port into `serial`)."""
        return (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
                "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>"
                "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                f"<source file='{disk or self.disk}'/><target dev='hda' bus='ide'/></disk>{extra}"
                f"<serial type='file'><source path='{self.serial}'/></serial></devices></domain>")

    def passes(self) -> int:
        """How many passes the guest has printed so far."""
        return count_passes(self.serial.read_text()) if self.serial.exists() else 0

    def wait_passes(self, more: int = 1, timeout: float = 20) -> None:
        """Wait until the guest prints `more` passes."""
        start = self.passes()
        wait_for_serial(self.serial, lambda text: count_passes(text) >= start + more, timeout=timeout)

    def boot(self, xml: str | None = None, persistent: bool = False):
        """Start the guest on host a (defined first when persistent) and wait for its first pass."""
        if persistent:
            dom = self.a.define_xml(xml or self.xml())
            dom.create()
        else:
            dom = self.a.create_xml(xml or self.xml())
        self.wait_passes(1)
        return dom

    def b_path(self, *parts: str) -> Path:
        """A path below host b's root."""
        return self.root / "b" / Path(*parts)

    def assert_nothing_on_destination(self, name: str = "g1", created: list[Path] = ()) -> None:
        """No domain, no QEMU, no status or process file, no disk we created, no reserved port."""
        assert [d.name for d in self.b.list_all_domains(0)] == []
        run = self.b_path("run", "qemu")
        leftovers = sorted(p.name for p in run.glob(f"{name}.*") if not p.name.endswith(".log"))
        assert leftovers == [], leftovers
        for path in created:
            assert not path.exists(), f"pre-created disk {path} was left behind"
        assert PORTS.in_use() == frozenset()

    def assert_source_running(self, dom) -> None:
        """The guest still runs on the source and keeps printing passes."""
        assert dom.get_state()[0] == DomainState.RUNNING
        self.wait_passes(2)


# ------------------------------------------------------------------------------ two hosts in network namespaces

@dataclass
class TwoHosts:
    """Two namespaces with one veth end each: addresses per family, the link names."""

    source_ns: str
    dest_ns: str
    source_link: str
    dest_link: str
    source_v4: str = "10.250.0.1"
    dest_v4: str = "10.250.0.2"
    source_v6: str = "fd00:250::1"
    dest_v6: str = "fd00:250::2"

    def run(self, ns: str, *argv: str) -> None:
        subprocess.run(["ip", "netns", "exec", ns, *argv], check=True, capture_output=True)

    def link(self, up: bool) -> None:
        """Take the source's end of the wire down (or up again)."""
        self.run(self.source_ns, "ip", "link", "set", self.source_link, "up" if up else "down")


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


@contextlib.contextmanager
def veth_joined_namespaces() -> Iterator[TwoHosts]:
    """Two fresh network namespaces joined by a veth pair with IPv4 and IPv6 addresses; deleted afterwards."""
    tag = f"{os.getpid() % 100000}"
    hosts = TwoHosts(f"vkmig-a{tag}", f"vkmig-b{tag}", f"vka{tag}", f"vkb{tag}")
    _ip("netns", "add", hosts.source_ns)
    try:
        _ip("netns", "add", hosts.dest_ns)
        _ip("link", "add", hosts.source_link, "netns", hosts.source_ns, "type", "veth", "peer", "name",
            hosts.dest_link, "netns", hosts.dest_ns)
        for ns, link, v4, v6 in ((hosts.source_ns, hosts.source_link, hosts.source_v4, hosts.source_v6),
                                 (hosts.dest_ns, hosts.dest_link, hosts.dest_v4, hosts.dest_v6)):
            hosts.run(ns, "ip", "link", "set", "lo", "up")
            hosts.run(ns, "ip", "addr", "add", f"{v4}/24", "dev", link)
            hosts.run(ns, "ip", "-6", "addr", "add", f"{v6}/64", "dev", link, "nodad")
            hosts.run(ns, "ip", "link", "set", link, "up")
        yield hosts
    finally:
        subprocess.run(["ip", "netns", "del", hosts.source_ns], capture_output=True)
        subprocess.run(["ip", "netns", "del", hosts.dest_ns], capture_output=True)


def wrapper(path: Path, ns: str, qemu_binary: str) -> Path:
    """An emulator that runs QEMU inside network namespace `ns` (the domain XML's <emulator>)."""
    path.write_text(f"#!/bin/sh\nexec ip netns exec {ns} {qemu_binary} \"$@\"\n")
    path.chmod(0o755)
    return path
