"""A driver-independent pytest suite for device setup, end to end through a driver's start and stop.

Import its test functions into a driver's test module beside a ``hook_host`` fixture: the same object the
hook-script suite uses (virtkernel_hook_scripts.testsuite.HookHost), of which this suite needs ``workdir``,
``driver``, ``hook_dir``, ``open()``, ``define(conn, name, metadata=..., devices=[...])`` and, optionally,
``disk_element(path, target, format)`` when the driver needs a particular disk element, and for the
feature "reconnect" ``open_after_restart()``. The refusal tests use
hook scripts, so virtkernel-hook-scripts must be installed too.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

import virtkernel
from virtkernel.enums import ErrorCode

from .requests import NAMESPACE

__all__ = [
    "test_a_missing_disk_image_is_created_before_the_start_and_removed_after_the_stop",
    "test_a_later_refusing_hook_undoes_the_device_setup",
    "test_an_image_marked_keep_survives_stops",
    "test_an_existing_image_is_left_alone",
    "test_what_was_created_is_removed_after_a_driver_restart",
]


def _disk_element(hook_host: Any, path: Path, target: str, fmt: str) -> str:
    custom = getattr(hook_host, "disk_element", None)
    if custom is not None:
        return custom(path, target, fmt)
    return (f"<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/><source file='{path}'/>"
            f"<target dev='{target}' bus='virtio'/></disk>")


def _metadata(*entries: str) -> str:
    return f"<vk:device-setup xmlns:vk='{NAMESPACE}'>{''.join(entries)}</vk:device-setup>"


def _image(path: Path) -> dict:
    out = subprocess.run(["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return json.loads(out)


def _images_dir(hook_host: Any) -> Path:
    path = hook_host.workdir / "images"
    path.mkdir(exist_ok=True)
    return path


def _script(hook_host: Any, body: str) -> Path:
    assert ("hook", "scripts") in {(p.kind, p.name) for p in virtkernel.installed_plugins()}, \
        "these tests need the virtkernel-hook-scripts plugin installed"
    path = hook_host.hook_dir / hook_host.driver
    path.write_text(textwrap.dedent(body).lstrip())
    os.chmod(path, 0o755)
    return path


def test_a_missing_disk_image_is_created_before_the_start_and_removed_after_the_stop(hook_host: Any) -> None:
    image = _images_dir(hook_host) / "scratch disk.qcow2"
    seen = hook_host.workdir / "seen-at-start"
    _script(hook_host, f"""\
        #!/bin/sh
        [ "$2" = start ] && [ -f '{image}' ] && echo present > '{seen}'
        exit 0
        """)
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "scratch1", metadata=_metadata("<vk:disk target='vdb' size='64M'/>"),
                               devices=[_disk_element(hook_host, image, "vdb", "qcow2")])
        assert not image.exists()
        dom.create()
        assert seen.read_text() == "present\n"
        info = _image(image)
        assert info["format"] == "qcow2" and info["virtual-size"] == 64 << 20
        dom.destroy()
        assert not image.exists()


@pytest.mark.parametrize("operation", ["prepare", "start"])
def test_a_later_refusing_hook_undoes_the_device_setup(hook_host: Any, operation: str) -> None:
    image = _images_dir(hook_host) / "doomed.raw"
    _script(hook_host, f"""\
        #!/bin/sh
        if [ "$2" = {operation} ]; then
            [ -f '{image}' ] && echo "image is there but {operation} says no" >&2
            exit 1
        fi
        exit 0
        """)
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "doomed1", metadata=_metadata("<vk:disk target='vdb' size='8M'/>"),
                               devices=[_disk_element(hook_host, image, "vdb", "raw")])
        with pytest.raises(virtkernel.VirtError) as info:
            dom.create()
        assert info.value.code == ErrorCode.HOOK_SCRIPT_FAILED
        assert f"image is there but {operation} says no" in info.value.message
        assert not dom.is_active()
        assert not image.exists()


def test_an_image_marked_keep_survives_stops(hook_host: Any) -> None:
    image = _images_dir(hook_host) / "persistent.raw"
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "keeper1", metadata=_metadata("<vk:disk target='vdb' size='16M' keep='yes'/>"),
                               devices=[_disk_element(hook_host, image, "vdb", "raw")])
        dom.create()
        dom.destroy()
        assert _image(image)["virtual-size"] == 16 << 20
        with open(image, "r+b") as disk:  # a mark that a re-created image would not have
            disk.seek(-4, os.SEEK_END)
            disk.write(b"KEPT")
        dom.create()
        dom.destroy()
        assert image.read_bytes()[-4:] == b"KEPT"


def test_an_existing_image_is_left_alone(hook_host: Any) -> None:
    image = _images_dir(hook_host) / "existing.raw"
    image.write_bytes(b"\0" * 4096)
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "existing1", metadata=_metadata("<vk:disk target='vdb' size='1G'/>"),
                               devices=[_disk_element(hook_host, image, "vdb", "raw")])
        dom.create()
        dom.destroy()
    assert image.stat().st_size == 4096


def test_what_was_created_is_removed_after_a_driver_restart(hook_host: Any) -> None:
    if "reconnect" not in hook_host.features:
        pytest.skip(f"the {hook_host.driver} driver's hook host does not offer 'reconnect'")
    image = _images_dir(hook_host) / "survivor.qcow2"
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "survivor2", metadata=_metadata("<vk:disk target='vdb' size='8M'/>"),
                               devices=[_disk_element(hook_host, image, "vdb", "qcow2")])
        dom.create()
    with hook_host.open_after_restart() as conn:
        assert image.exists()  # reconnecting creates and removes nothing
        dom = conn.lookup_by_name("survivor2")
        dom.destroy()
        assert not image.exists()
