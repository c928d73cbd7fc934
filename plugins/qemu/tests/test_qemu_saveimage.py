"""Save images on the real test guest: every compression, memory intact, clear refusals and failures."""

from __future__ import annotations

import os
import struct

import pytest

from guest import TOUCH_END, TOUCH_START, check_memory_pattern
from virtkernel.command import CommandFailed, CommandNotFound
from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError
from virtkernel_qemu.saveimage import (HEADER_SIZE, MAGIC, Compression, SaveFlags, SaveImageError,
                                       decompressor_argv, read_header, restore, save, update_xml, write_header)

XML = "<domain type='kvm'><name>guest</name><memory unit='MiB'>128</memory></domain>"


def dump(monitor, path) -> bytes:
    monitor.execute("pmemsave", {"val": 0, "size": TOUCH_END, "filename": str(path)})
    return path.read_bytes()


def incoming(boot_guest, name="restored"):
    return boot_guest(name, "-incoming", "defer", "-S", wait_passes=0)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("compression", list(Compression), ids=lambda c: c.name.lower())
def test_save_and_restore_keep_the_guest_memory(boot_guest, workdir, compression):
    source = boot_guest("source", wait_passes=2)
    image = workdir / "guest.save"
    result = save(source.monitor, image, XML, compression=compression, timeout=120)
    assert source.monitor.execute("query-status")["status"] == "postmigrate"
    before = dump(source.monitor, workdir / "before.mem")
    pattern = check_memory_pattern(before)
    source.process.kill()

    header = read_header(image)
    assert (header.compression, header.flags, header.xml) == (compression, SaveFlags.RUNNING, XML)
    assert result.size == image.stat().st_size > header.data_offset
    if compression is Compression.RAW:
        assert result.size > 99 << 20  # one dirty byte per page: every touched page is in the stream

    target = incoming(boot_guest)
    assert restore(target.monitor, image, timeout=120) == header
    assert target.monitor.execute("query-status")["status"] == "paused"
    after = dump(target.monitor, workdir / "after.mem")
    assert check_memory_pattern(after) == pattern
    # the whole guest RAM from 1 MiB on (below it, KVM may show BIOS ROM instead of its shadow RAM)
    assert after[TOUCH_START:] == before[TOUCH_START:]
    target.monitor.execute("cont")
    target.wait_passes(2)  # the restored guest goes on dirtying memory and printing B


def test_a_paused_guest_is_recorded_as_paused(boot_guest, workdir):
    source = boot_guest("source")
    source.monitor.execute("stop")
    save(source.monitor, workdir / "paused.save", XML, compression=Compression.LZOP, timeout=120)
    assert read_header(workdir / "paused.save").flags == SaveFlags.PAUSED
    assert not read_header(workdir / "paused.save").running


def test_a_missing_compressor_is_reported_as_missing_and_the_guest_keeps_running(boot_guest, workdir):
    source = boot_guest("source")
    image = workdir / "never.save"
    with pytest.raises(CommandNotFound, match="program '/nonexistent/gzip' not found") as info:
        save(source.monitor, image, XML, compression=Compression.GZIP,
             programs={Compression.GZIP: "/nonexistent/gzip"}, timeout=60)
    assert info.value.returncode == 127
    assert not image.exists()
    assert source.monitor.execute("query-status")["status"] == "running"
    source.wait_passes(1)


def test_an_unwritable_destination_is_reported_before_anything_happens(boot_guest, workdir):
    source = boot_guest("source", wait_passes=0)
    with pytest.raises(VirtError, match="cannot create save image '.*/missing/x.save': No such file or directory") \
            as info:
        save(source.monitor, workdir / "missing" / "x.save", XML)
    assert info.value.code == ErrorCode.SYSTEM_ERROR
    assert source.monitor.execute("query-status")["status"] == "running"


def test_a_failed_save_resumes_the_guest_and_removes_the_image(boot_guest, workdir):
    source = boot_guest("source")
    image = workdir / "broken.save"
    # 'false' reads nothing and fails: QEMU's writes then hit a closed pipe
    with pytest.raises(CommandFailed, match="program 'false' failed with exit status 1"):
        save(source.monitor, image, XML, compression=Compression.XZ, programs={Compression.XZ: "false"}, timeout=60)
    assert not image.exists()
    assert source.monitor.execute("query-status")["status"] == "running"


@pytest.fixture
def lzop_image(boot_guest, workdir):
    source = boot_guest("source")
    image = workdir / "guest.save"
    save(source.monitor, image, XML, compression=Compression.LZOP, timeout=120)
    source.process.kill()
    return image


def test_a_missing_decompressor_is_not_a_damaged_image(boot_guest, lzop_image):
    target = incoming(boot_guest)
    with pytest.raises(CommandNotFound, match="program '/nonexistent/lzop' not found") as info:
        restore(target.monitor, lzop_image, programs={Compression.LZOP: "/nonexistent/lzop"}, timeout=60)
    assert info.value.returncode == 127
    assert not isinstance(info.value, SaveImageError)


def test_a_damaged_compressed_stream_is_reported_as_damaged(boot_guest, lzop_image):
    header = read_header(lzop_image)
    with open(lzop_image, "r+b") as image:
        image.seek(header.data_offset)
        image.write(b"garbage!" * 8)
    target = incoming(boot_guest)
    with pytest.raises(SaveImageError, match="is damaged: lzop: ") as info:
        restore(target.monitor, lzop_image, timeout=60)
    assert (info.value.code, info.value.domain) == (ErrorCode.OPERATION_FAILED, ErrorDomain.QEMU)


def test_a_damaged_raw_stream_is_refused_by_qemu(boot_guest, workdir):
    image = workdir / "raw.save"
    fd = os.open(image, os.O_WRONLY | os.O_CREAT, 0o600)
    write_header(fd, XML, Compression.RAW, SaveFlags.RUNNING)
    os.write(fd, b"this is not a migration stream" * 100)
    os.close(fd)
    target = incoming(boot_guest)
    with pytest.raises(SaveImageError, match="restoring guest 'restored' from .* failed"):
        restore(target.monitor, image, timeout=60)


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_files_that_are_not_save_images_are_refused(workdir):
    good = struct.pack("<16sIIIIQ24x", MAGIC, 1, 16, 0, 1, HEADER_SIZE + 16) + b"<domain/>".ljust(16, b"\0")
    cases = {
        "garbage": (os.urandom(4096), "not a virtkernel save image"),
        "empty": (b"", "not a virtkernel save image"),
        "libvirt": (b"LibvirtQemudSave" + bytes(4096), "not a virtkernel save image"),
        "version": (good[:16] + struct.pack("<I", 9) + good[20:] + b"x", "has version 9"),
        "xml length": (good[:20] + struct.pack("<I", 1 << 30) + good[24:] + b"x", "damaged header"),
        "compression": (good[:24] + struct.pack("<I", 7) + good[28:] + b"x", "unknown compression 7"),
        "flags": (good[:28] + struct.pack("<I", 3) + good[32:] + b"x", "unknown flags"),
        "truncated": (good, "is truncated"),
        "xml": (good[:HEADER_SIZE] + b"\xff\xfe".ljust(16, b"\0") + b"x", "damaged domain XML"),
    }
    for name, (data, message) in cases.items():
        with pytest.raises(SaveImageError, match=message):
            read_header(write(workdir / name.replace(" ", "-"), data))
    assert read_header(write(workdir / "good", good + b"stream")).xml == "<domain/>"
    with pytest.raises(SaveImageError, match="is a directory"):
        read_header(workdir)
    with pytest.raises(Exception, match="does not exist"):
        read_header(workdir / "missing")


def test_update_xml_in_place(workdir):
    image = workdir / "edit.save"
    fd = os.open(image, os.O_WRONLY | os.O_CREAT, 0o600)
    write_header(fd, XML, Compression.GZIP, SaveFlags.RUNNING, padding=100)
    os.write(fd, b"stream")
    os.close(fd)
    longer = XML.replace("guest", "guest-renamed")
    header = update_xml(image, longer, running=False)
    assert read_header(image) == header
    assert (header.xml, header.flags, header.compression) == (longer, SaveFlags.PAUSED, Compression.GZIP)
    assert image.read_bytes().endswith(b"stream")
    with pytest.raises(Exception, match="does not fit"):
        update_xml(image, XML + " " * 200)


def test_decompressor_argument_lists():
    assert decompressor_argv(Compression.LZOP) == ["lzop", "-dc", "--ignore-warn"]
    assert decompressor_argv(Compression.XZ) == ["xz", "-dc"]
    assert Compression.from_name("bzip2") is Compression.BZIP2
    with pytest.raises(Exception, match="unknown save image format 'zip'"):
        Compression.from_name("zip")
