"""Domain XML pieces for tests of device setup (used by its own tests and the drivers' hook test suites)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from .requests import NAMESPACE

UUID = "3e3fce45-4f53-4fa7-bb32-11f34168b82e"


def domain_xml(disks: str = "", metadata: str = "", interfaces: str = "", name: str = "vm1",
               uuid: str = UUID) -> str:
    """A small domain with the given disks, interfaces and device-setup metadata entries."""
    meta = f"<metadata><vk:device-setup xmlns:vk='{NAMESPACE}'>{metadata}</vk:device-setup></metadata>" \
        if metadata else ""
    return textwrap.dedent(f"""\
        <domain type='test'>
          <name>{name}</name>
          <uuid>{uuid}</uuid>
          {meta}
          <memory>65536</memory>
          <vcpu>1</vcpu>
          <os><type>hvm</type></os>
          <devices>
            {disks}
            {interfaces}
          </devices>
        </domain>
        """)


def file_disk(path: Path | str, target: str, driver_type: str | None = None) -> str:
    """A <disk type='file'> element."""
    driver = f"<driver name='qemu' type='{driver_type}'/>" if driver_type else ""
    return f"<disk type='file' device='disk'>{driver}<source file='{path}'/><target dev='{target}'/></disk>"
