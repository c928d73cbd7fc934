"""Helpers and fixtures for the driver's tests: a qemu:///embed host in a short temporary root, test-guest XML."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

import virtkernel
from virtkernel.enums import ConnectListDomainsFlags
from virtkernel_qemu import testguest

from qemu_testkit import QEMU, require

VIRT_TYPE = "kvm" if os.environ.get("VIRTKERNEL_TEST_ACCEL", "tcg") == "kvm" else "qemu"


class EmbedHost:
    """One qemu:///embed root: connections, test-guest XML, a serial log per guest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = f"qemu:///embed?root={root}"
        self.images = root / "images"
        self.images.mkdir(parents=True, exist_ok=True)

    def open(self) -> virtkernel.Connection:
        """A new connection to this host."""
        return virtkernel.open(self.uri)

    def serial(self, name: str) -> Path:
        """Where the guest's serial port is logged."""
        return self.images / f"{name}.serial"

    def xml(self, name: str, *, extra_devices: str = "", memory_mib: int = testguest.GUEST_MEMORY_MIB,
            extra: str = "", virt_type: str = VIRT_TYPE) -> str:
        """Domain XML of the test guest (a fresh boot disk per name)."""
        disk = testguest.write_disk_image(self.images / f"{name}.img")
        xml = testguest.domain_xml(name, disk, self.serial(name), virt_type=virt_type, memory_mib=memory_mib,
                                   extra_devices=extra_devices)
        return xml.replace("</domain>", extra + "</domain>") if extra else xml

    def wait_passes(self, name: str, passes: int = 1, timeout: float = 30) -> str:
        """Wait until the guest printed `passes` more B's than now."""
        path = self.serial(name)
        start = testguest.count_passes(path.read_text()) if path.exists() else 0
        return testguest.wait_for_serial(path, lambda text: testguest.count_passes(text) >= start + passes,
                                         timeout=timeout)

    def cleanup(self) -> None:
        """Destroy whatever still runs and remove the root."""
        try:
            with self.open() as conn:
                for dom in conn.list_all_domains(ConnectListDomainsFlags.ACTIVE):
                    try:
                        dom.destroy()
                    except virtkernel.VirtError:
                        pass
        except virtkernel.VirtError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def new_host() -> EmbedHost:
    """A host in a fresh short directory under /tmp."""
    require(shutil.which(QEMU) is not None, f"{QEMU} is not installed")
    return EmbedHost(Path(tempfile.mkdtemp(prefix="vkqd-", dir="/tmp")))


@pytest.fixture(scope="module")
def host() -> Iterator[EmbedHost]:
    """A qemu:///embed host shared by one test module."""
    h = new_host()
    yield h
    h.cleanup()


@pytest.fixture(scope="module")
def conn(host: EmbedHost) -> Iterator[virtkernel.Connection]:
    """A connection to the module's host."""
    c = host.open()
    yield c
    c.close()


class EventLog:
    """Collects lifecycle events (event, detail) per domain name."""

    def __init__(self, conn: virtkernel.Connection) -> None:
        self.conn = conn
        self.events: list[tuple[str, int, int]] = []
        self.callback_id = conn.domain_event_register_any(
            None, virtkernel.DomainEventID.LIFECYCLE,
            lambda _c, dom, event, detail, _o: self.events.append((dom.name, event, detail)), None)

    def of(self, name: str) -> list[tuple[int, int]]:
        """(event, detail) pairs of one domain, after flushing delivery."""
        self.conn.flush_events()
        return [(e, d) for n, e, d in self.events if n == name]

    def close(self) -> None:
        """Stop listening."""
        self.conn.domain_event_deregister_any(self.callback_id)
