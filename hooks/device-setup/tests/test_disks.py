"""Disk images from our metadata namespace: created at prepare when missing, removed exactly at release."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from virtkernel.enums import ErrorCode
from virtkernel.lifecycle import HookPoint
from virtkernel_device_setup import DeviceSetup, DeviceSetupError, parse_size, state_directory

from virtkernel_device_setup.testing import UUID, domain_xml, file_disk


def image_info(path: Path) -> dict:
    out = subprocess.run(["qemu-img", "info", "--output=json", str(path)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def run_start(plugin: DeviceSetup, event_for, xml: str) -> None:
    plugin.domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    plugin.domain_hook_started(event_for(HookPoint.STARTED, xml))


def test_missing_images_are_created_with_format_and_size_and_removed_at_release(images_dir, event_for) -> None:
    qcow, raw = images_dir / "root disk.qcow2", images_dir / "data.raw"
    xml = domain_xml(disks=file_disk(qcow, "vda", "qcow2") + file_disk(raw, "vdb"),
                     metadata="<vk:disk target='vda' size='1G'/><vk:disk target='vdb' format='raw' size='3M'/>")
    plugin = DeviceSetup()

    run_start(plugin, event_for, xml)

    assert image_info(qcow)["format"] == "qcow2" and image_info(qcow)["virtual-size"] == 1 << 30
    assert image_info(raw)["format"] == "raw" and raw.stat().st_size == 3 << 20
    assert stat.S_IMODE(qcow.stat().st_mode) == 0o600 and stat.S_IMODE(raw.stat().st_mode) == 0o600

    assert qcow.exists() and raw.exists()
    plugin.domain_hook_release(event_for(HookPoint.RELEASE, xml))
    assert not qcow.exists() and not raw.exists()


def test_existing_images_are_never_touched(images_dir, event_for) -> None:
    existing = images_dir / "existing.qcow2"
    existing.write_bytes(b"precious data")
    xml = domain_xml(disks=file_disk(existing, "vda", "qcow2"), metadata="<vk:disk target='vda' size='1G'/>")
    plugin = DeviceSetup()
    run_start(plugin, event_for, xml)
    plugin.domain_hook_release(event_for(HookPoint.RELEASE, xml))
    assert existing.read_bytes() == b"precious data"


def test_keep_yes_survives_a_normal_stop_but_not_a_failed_start(images_dir, event_for) -> None:
    path = images_dir / "persistent.qcow2"
    xml = domain_xml(disks=file_disk(path, "vda", "qcow2"), metadata="<vk:disk target='vda' size='10M' keep='yes'/>")
    plugin = DeviceSetup()

    # a start that fails after prepare (a later hook refused): release undoes even kept images
    plugin.domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    assert path.exists()
    plugin.domain_hook_release(event_for(HookPoint.RELEASE, xml))
    assert not path.exists()

    # a start that succeeds: the image stays, and later runs do not remove it either
    run_start(plugin, event_for, xml)
    plugin.domain_hook_release(event_for(HookPoint.RELEASE, xml))
    assert path.exists()
    run_start(plugin, event_for, xml)
    plugin.domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    plugin.domain_hook_release(event_for(HookPoint.RELEASE, xml))
    assert path.exists()


def test_failed_start_removes_images_it_created(images_dir, event_for) -> None:
    path = images_dir / "scratch.raw"
    xml = domain_xml(disks=file_disk(path, "vda", "raw"), metadata="<vk:disk target='vda' size='1M'/>")
    plugin = DeviceSetup()
    plugin.domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    assert path.exists()
    # the driver runs stopped and release after a later hook aborted the start
    plugin.domain_hook_release(event_for(HookPoint.RELEASE, xml))
    assert not path.exists()


def test_a_failure_at_prepare_undoes_what_that_prepare_created(images_dir, event_for) -> None:
    first = images_dir / "first.qcow2"
    xml = domain_xml(disks=file_disk(first, "vda", "qcow2") + file_disk(images_dir / "no-dir" / "x.raw", "vdb"),
                     metadata="<vk:disk target='vda' size='1M'/><vk:disk target='vdb' format='raw' size='1M'/>")
    with pytest.raises(DeviceSetupError) as info:
        DeviceSetup().domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    assert info.value.message == (f"cannot create disk image '{images_dir}/no-dir/x.raw' for disk 'vdb': directory "
                                  f"'{images_dir}/no-dir' does not exist")
    assert not first.exists()
    assert list(images_dir.iterdir()) == []


def test_qemu_img_failure_is_reported_and_leaves_nothing(images_dir, event_for) -> None:
    path = images_dir / "huge.qcow2"
    xml = domain_xml(disks=file_disk(path, "vda", "qcow2"), metadata="<vk:disk target='vda' size='20E'/>")
    with pytest.raises(DeviceSetupError, match=f"cannot create disk image '{path}' for disk 'vda': program "
                                              "'qemu-img' failed"):
        DeviceSetup().domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    assert not path.exists()


def test_release_twice_and_reconnect_with_a_new_plugin_instance_are_idempotent(images_dir, event_for) -> None:
    path = images_dir / "a.raw"
    xml = domain_xml(disks=file_disk(path, "vda", "raw"), metadata="<vk:disk target='vda' size='1M'/>")
    DeviceSetup().domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    DeviceSetup().domain_hook_started(event_for(HookPoint.STARTED, xml))
    # the driver process restarts and picks the running guest up again, twice
    for _ in range(2):
        DeviceSetup().domain_hook_reconnect(event_for(HookPoint.RECONNECT, xml))
    assert path.exists()
    DeviceSetup().domain_hook_release(event_for(HookPoint.RELEASE, xml))
    assert not path.exists()
    path.write_bytes(b"someone else's file now")
    DeviceSetup().domain_hook_release(event_for(HookPoint.RELEASE, xml))
    assert path.read_bytes() == b"someone else's file now"


def test_prepare_twice_does_not_forget_what_the_first_created(images_dir, event_for) -> None:
    path = images_dir / "a.raw"
    xml = domain_xml(disks=file_disk(path, "vda", "raw"), metadata="<vk:disk target='vda' size='1M'/>")
    DeviceSetup().domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    DeviceSetup().domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    DeviceSetup().domain_hook_release(event_for(HookPoint.RELEASE, xml))
    assert not path.exists()


def test_records_are_per_domain(images_dir, event_for, config_dir) -> None:
    a, b = images_dir / "a.raw", images_dir / "b.raw"
    other = "0b1a5c43-61f8-4ee9-9b8a-6f8b0a3b1c55"
    xml_a = domain_xml(disks=file_disk(a, "vda", "raw"), metadata="<vk:disk target='vda' size='1M'/>")
    xml_b = domain_xml(disks=file_disk(b, "vda", "raw"), metadata="<vk:disk target='vda' size='1M'/>",
                       name="vm2", uuid=other)
    plugin = DeviceSetup()
    plugin.domain_hook_prepare(event_for(HookPoint.PREPARE, xml_a))
    plugin.domain_hook_prepare(event_for(HookPoint.PREPARE, xml_b, uuid=other, name="vm2"))
    state = state_directory(event_for(HookPoint.PREPARE, xml_a))
    assert sorted(p.name for p in (state / "domains").iterdir()) == sorted([f"{UUID}.json", f"{other}.json"])
    plugin.domain_hook_release(event_for(HookPoint.RELEASE, xml_b, uuid=other, name="vm2"))
    assert a.exists() and not b.exists()
    plugin.domain_hook_release(event_for(HookPoint.RELEASE, xml_a))
    assert not a.exists()
    assert list((state / "domains").iterdir()) == []


def test_disk_creation_can_be_switched_off(images_dir, event_for, write_config) -> None:
    write_config("[disks]\ncreate = false\n")
    path = images_dir / "a.raw"
    xml = domain_xml(disks=file_disk(path, "vda", "raw"), metadata="<vk:disk target='vda' size='1M'/>")
    DeviceSetup().domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    assert not path.exists()


def test_domain_without_metadata_creates_nothing_and_writes_no_state(images_dir, event_for, config_dir) -> None:
    xml = domain_xml(disks=file_disk(images_dir / "a.raw", "vda", "raw"))
    DeviceSetup().domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    DeviceSetup().domain_hook_release(event_for(HookPoint.RELEASE, xml))
    assert list(images_dir.iterdir()) == [] and list(config_dir.iterdir()) == []


def test_no_config_dir_is_a_clear_error_when_something_must_be_created(images_dir, event_for) -> None:
    xml = domain_xml(disks=file_disk(images_dir / "a.raw", "vda", "raw"), metadata="<vk:disk target='vda' size='1M'/>")
    with pytest.raises(DeviceSetupError, match="gives device setup no config or state directory"):
        DeviceSetup().domain_hook_prepare(event_for(HookPoint.PREPARE, xml, config=None))


@pytest.mark.parametrize("disks, metadata, problem", [
    ("", "<vk:disk target='vdz' size='1M' format='raw'/>",
     "device-setup names disk 'vdz' but the domain has no disk with target dev 'vdz'"),
    ("<disk type='block' device='disk'><source dev='/dev/sda'/><target dev='vda'/></disk>",
     "<vk:disk target='vda' size='1M' format='raw'/>", "device-setup disk 'vda' is not a file-backed disk"),
    ("F:relative.img", "<vk:disk target='vda' size='1M' format='raw'/>", "is not an absolute path"),
    ("F", "<vk:disk target='vda' size='1M'/>", "device-setup disk 'vda' needs a format"),
    ("F", "<vk:disk target='vda' size='1M' format='cow'/>", "format 'cow' is not one of raw, qcow2"),
    ("Fqcow2", "<vk:disk target='vda' size='1M' format='raw'/>",
     "format 'raw' contradicts the disk's driver type 'qcow2'"),
    ("F", "<vk:disk target='vda' format='raw'/>", "size '' is not a size such as 10G"),
    ("F", "<vk:disk target='vda' size='lots' format='raw'/>", "size 'lots' is not a size"),
    ("F", "<vk:disk target='vda' size='0' format='raw'/>", "must be larger than zero"),
    ("F", "<vk:disk target='vda' size='1M' format='raw' keep='maybe'/>", "keep must be 'yes' or 'no'"),
    ("F", "<vk:disk target='vda' size='1M' format='raw'/><vk:disk target='vda' size='2M' format='raw'/>",
     "describes disk 'vda' more than once"),
    ("F", "<vk:tap dev='x'/>", "unknown device-setup element <tap>"),
])
def test_wrong_metadata_is_an_xml_error(images_dir, event_for, disks, metadata, problem) -> None:
    if disks.startswith("F:"):
        disks = file_disk(disks[2:], "vda")
    elif disks.startswith("F"):
        disks = file_disk(images_dir / "a.img", "vda", disks[1:] or None)
    with pytest.raises(DeviceSetupError) as info:
        DeviceSetup().domain_hook_prepare(event_for(HookPoint.PREPARE, domain_xml(disks=disks, metadata=metadata)))
    assert info.value.code == ErrorCode.XML_ERROR
    assert problem in info.value.message
    assert list(images_dir.iterdir()) == []


@pytest.mark.parametrize("text, size", [("1048576", 1 << 20), ("512M", 512 << 20), ("1G", 1 << 30),
                                        ("10GiB", 10 << 30), ("1.5k", 1536), ("2T", 2 << 40)])
def test_sizes(text, size) -> None:
    assert parse_size(text, "vda") == size


@pytest.mark.parametrize("content, problem", [
    ("[disks]\ncreate = 'yes'\n", "disks.create must be true or false"),
    ("[network]\ncreate_tap = true\n", "unknown setting 'network.create_tap'"),
    ("[storage]\n", "unknown section 'storage'"),
    ("[disks\n", "is not valid TOML"),
])
def test_bad_settings_are_reported(images_dir, event_for, write_config, content, problem) -> None:
    write_config(content)
    xml = domain_xml(disks=file_disk(images_dir / "a.raw", "vda", "raw"), metadata="<vk:disk target='vda' size='1M'/>")
    with pytest.raises(DeviceSetupError) as info:
        DeviceSetup().domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    assert problem in info.value.message and "device-setup.toml" in info.value.message


def test_settings_writable_by_others_are_refused(images_dir, event_for, write_config) -> None:
    import os
    path = write_config("[network]\ncreate_taps = true\n")
    os.chmod(path, 0o666)
    xml = domain_xml(disks=file_disk(images_dir / "a.raw", "vda", "raw"), metadata="<vk:disk target='vda' size='1M'/>")
    with pytest.raises(DeviceSetupError) as info:
        DeviceSetup().domain_hook_prepare(event_for(HookPoint.PREPARE, xml))
    assert info.value.code == ErrorCode.OPERATION_DENIED and f"'{path}'" in info.value.message
