"""Save images: a header, the domain XML and QEMU's migration stream, optionally compressed.

File layout (all integers little-endian)::

    offset  size  field
         0    16  magic            b"VKQEMU-SAVEIMAGE"
        16     4  version          1
        20     4  xml_length       bytes reserved for the XML (UTF-8, padded with NULs)
        24     4  compression      0 raw, 1 gzip, 2 bzip2, 3 xz, 4 lzop
        28     4  flags            1 = the guest was running (restore resumes it), 2 = it was paused
        32     8  data_offset      64 + xml_length: where the migration stream starts
        40    24  reserved         zeros
        64     …  domain XML, then NUL padding (room to edit the XML in place)
    data_offset …  QEMU migration stream, compressed as the header says

Saving never runs a shell (QEMU's ``exec:`` migration is not used): QEMU gets the write end of a
pipe with ``getfd`` and migrates to ``fd:NAME``; the compressor (``gzip -c`` etc., an argument list)
reads the pipe and writes into the image file after the header.  A raw image gets the file
descriptor itself.  Restoring starts QEMU with ``-incoming defer`` (the caller does that) and feeds
``migrate-incoming fd:NAME`` from the decompressor's stdout (``lzop -dc --ignore-warn``: lzop's
warnings would otherwise end it with status 2).  A missing (de)compressor is reported as missing
(`virtkernel.command.CommandNotFound`, status 127, "program 'lzop' not found"), never as a damaged
image; a file that is not a save image is refused by `read_header` with `SaveImageError`.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from pathlib import Path
from typing import Mapping, Optional, Union

from virtkernel import command
from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import OperationFailed, VirtError

from .monitor import Monitor, MonitorClosed, MonitorEvent, QMPCommandError

__all__ = ["MAGIC", "VERSION", "HEADER_SIZE", "Compression", "SaveFlags", "SaveImageHeader", "SaveImageError",
           "SaveResult", "read_header", "write_header", "update_xml", "save", "restore", "compressor_argv",
           "decompressor_argv"]

MAGIC = b"VKQEMU-SAVEIMAGE"
VERSION = 1
HEADER_SIZE = 64
XML_PADDING = 1024
MAX_XML_LENGTH = 64 << 20
SAVE_BANDWIDTH = 1 << 62  # bytes/s: no throttling when writing a local file
_HEADER = struct.Struct("<16sIIIIQ24x")
_FD_NAME = "vk-saveimage"
_FINAL_STATES = ("completed", "failed", "cancelled")


class Compression(IntEnum):
    """How the migration stream inside an image is compressed."""

    RAW = 0
    GZIP = 1
    BZIP2 = 2
    XZ = 3
    LZOP = 4

    @classmethod
    def from_name(cls, name: str) -> "Compression":
        """'raw', 'gzip', 'bzip2', 'xz' or 'lzop' (libvirt's save_image_format names)."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise VirtError(f"unknown save image format '{name}' (use raw, gzip, bzip2, xz or lzop)",
                            code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU) from None

    @property
    def program(self) -> Optional[str]:
        """The (de)compression program, None for raw."""
        return None if self is Compression.RAW else self.name.lower()


class SaveFlags(IntFlag):
    """Guest state recorded in the header."""

    RUNNING = 1
    PAUSED = 2


class SaveImageError(OperationFailed):
    """The file is not a usable save image (wrong magic, version, damaged header or stream)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, domain=ErrorDomain.QEMU)


@dataclass(frozen=True)
class SaveImageHeader:
    """What the header and XML area of an image say."""

    version: int
    compression: Compression
    flags: SaveFlags
    xml: str
    xml_length: int

    @property
    def running(self) -> bool:
        """The guest was running when saved (restore should resume it)."""
        return bool(self.flags & SaveFlags.RUNNING)

    @property
    def data_offset(self) -> int:
        """Where the migration stream starts."""
        return HEADER_SIZE + self.xml_length


@dataclass(frozen=True)
class SaveResult:
    """What `save` did."""

    header: SaveImageHeader
    size: int                 # bytes in the image file
    seconds: float            # from stopping the guest to the image on disk


def compressor_argv(compression: Compression, programs: Optional[Mapping[Compression, str]] = None) -> list[str]:
    """Argument list that compresses stdin to stdout."""
    program = (programs or {}).get(compression) or compression.program
    assert program is not None, "raw images are not compressed"
    return [program, "-c"]


def decompressor_argv(compression: Compression, programs: Optional[Mapping[Compression, str]] = None) -> list[str]:
    """Argument list that decompresses stdin to stdout."""
    program = (programs or {}).get(compression) or compression.program
    assert program is not None, "raw images are not compressed"
    argv = [program, "-dc"]
    if compression is Compression.LZOP:
        argv.append("--ignore-warn")
    return argv


# --------------------------------------------------------------------------------------------
# Header
# --------------------------------------------------------------------------------------------

def _xml_area(xml: str, padding: int) -> bytes:
    data = xml.encode("utf-8")
    if not data.strip():
        raise VirtError("a save image needs the domain XML", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
    if b"\0" in data:
        raise VirtError("domain XML contains a NUL character", code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
    return data + bytes(padding)


def write_header(fd: int, xml: str, compression: Compression, flags: SaveFlags,
                 padding: int = XML_PADDING) -> SaveImageHeader:
    """Write header + XML area at the start of fd, leaving the offset at the start of the stream."""
    area = _xml_area(xml, padding)
    os.lseek(fd, 0, os.SEEK_SET)
    data = _HEADER.pack(MAGIC, VERSION, len(area), int(compression), int(flags), HEADER_SIZE + len(area)) + area
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return SaveImageHeader(VERSION, compression, flags, xml, len(area))


def read_header(path: Union[str, Path]) -> SaveImageHeader:
    """Read and check an image's header and XML; SaveImageError when it is not a usable save image."""
    try:
        with open(path, "rb") as image:
            head = image.read(HEADER_SIZE)
            size = os.fstat(image.fileno()).st_size
            if len(head) < HEADER_SIZE or head[:len(MAGIC)] != MAGIC:
                raise SaveImageError(f"'{path}' is not a virtkernel save image (wrong magic)")
            magic, version, xml_length, compression, flags, data_offset = _HEADER.unpack(head)
            if version != VERSION:
                raise SaveImageError(f"save image '{path}' has version {version}, this virtkernel reads "
                                     f"version {VERSION}")
            if xml_length == 0 or xml_length > MAX_XML_LENGTH or data_offset != HEADER_SIZE + xml_length:
                raise SaveImageError(f"save image '{path}' has a damaged header (XML length {xml_length})")
            if compression not in Compression._value2member_map_:
                raise SaveImageError(f"save image '{path}' uses unknown compression {compression}")
            state = SaveFlags(flags & (SaveFlags.RUNNING | SaveFlags.PAUSED))
            if flags != state or state not in (SaveFlags.RUNNING, SaveFlags.PAUSED):
                raise SaveImageError(f"save image '{path}' has unknown flags {flags:#x}")
            if size <= data_offset:
                raise SaveImageError(f"save image '{path}' is truncated: it holds no guest state")
            area = image.read(xml_length)
    except FileNotFoundError:
        raise VirtError(f"save image '{path}' does not exist", code=ErrorCode.SYSTEM_ERROR,
                        domain=ErrorDomain.QEMU) from None
    except IsADirectoryError:
        raise SaveImageError(f"'{path}' is a directory, not a save image") from None
    except PermissionError as exc:
        raise VirtError(f"cannot read save image '{path}': {exc.strerror}", code=ErrorCode.SYSTEM_ERROR,
                        domain=ErrorDomain.QEMU) from None
    try:
        xml = area.rstrip(b"\0").decode("utf-8")
    except UnicodeDecodeError:
        raise SaveImageError(f"save image '{path}' has a damaged domain XML") from None
    if len(area) != xml_length or not xml.strip():
        raise SaveImageError(f"save image '{path}' has a damaged domain XML")
    return SaveImageHeader(version, Compression(compression), state, xml, xml_length)


def update_xml(path: Union[str, Path], xml: str, *, running: Optional[bool] = None) -> SaveImageHeader:
    """Replace the domain XML (and optionally the running/paused flag) of an image in place.

    The new XML must fit the reserved area (the old XML plus its padding).
    """
    header = read_header(path)
    data = xml.encode("utf-8")
    if not data.strip() or b"\0" in data:
        raise VirtError("the new domain XML is empty or contains a NUL character", code=ErrorCode.INVALID_ARG,
                        domain=ErrorDomain.QEMU)
    if len(data) > header.xml_length:
        raise VirtError(f"the new domain XML ({len(data)} bytes) does not fit the {header.xml_length} bytes "
                        f"reserved in save image '{path}'", code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.QEMU)
    flags = header.flags if running is None else (SaveFlags.RUNNING if running else SaveFlags.PAUSED)
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.pwrite(fd, _HEADER.pack(MAGIC, VERSION, header.xml_length, int(header.compression), int(flags),
                                   header.data_offset), 0)
        os.pwrite(fd, data + bytes(header.xml_length - len(data)), HEADER_SIZE)
        os.fsync(fd)
    finally:
        os.close(fd)
    return SaveImageHeader(VERSION, header.compression, flags, xml, header.xml_length)


# --------------------------------------------------------------------------------------------
# Migration to and from the image
# --------------------------------------------------------------------------------------------

def _is_final(event: MonitorEvent) -> bool:
    return event.data.get("status") in _FINAL_STATES


def _migration_error(monitor: Monitor) -> str:
    try:
        info = monitor.execute("query-migrate")
    except VirtError:
        return "QEMU did not say why"
    return info.get("error-desc") or f"migration status '{info.get('status', 'unknown')}'"


def _wait_for_migration(monitor: Monitor, waiter, timeout: Optional[float],
                        helper: Optional[command.RunningCommand] = None) -> str:
    """Wait for the migration to end: 'completed', 'failed', 'cancelled', or 'helper-failed' when the
    (de)compressor ended with an error first (QEMU may not notice: a pipe closed before any data
    came never becomes readable for it)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    step = 0.05 if helper is not None else 1.0
    while True:
        # Events are the fast path; query-migrate now and then covers a missed event.
        remaining = step if deadline is None else min(step, deadline - time.monotonic())
        if remaining <= 0:
            raise VirtError(f"migration of guest '{monitor.guest}' to or from a save image did not finish "
                            f"within {timeout} s", code=ErrorCode.OPERATION_TIMEOUT, domain=ErrorDomain.QEMU)
        try:
            return waiter.wait(remaining).data["status"]
        except VirtError as exc:
            if exc.code != ErrorCode.OPERATION_TIMEOUT:
                raise
        if helper is not None and helper.poll() not in (None, 0):
            return "helper-failed"
        status = monitor.execute("query-migrate").get("status")
        if status in _FINAL_STATES:
            return status


def _enable_events(monitor: Monitor) -> None:
    monitor.execute("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})


def save(monitor: Monitor, path: Union[str, Path], domain_xml: str, *,
         compression: Compression = Compression.RAW, running: Optional[bool] = None,
         timeout: Optional[float] = None, programs: Optional[Mapping[Compression, str]] = None,
         xml_padding: int = XML_PADDING) -> SaveResult:
    """Save a guest's state into an image file; the guest is left paused (the caller stops QEMU).

    running: the state to record (default: whether the guest runs now); a running guest is paused
    first, and resumed again if saving fails.  On failure the partial image is removed and the
    error says what went wrong: QEMU's migration error, or the compressor's (a missing compressor
    is `virtkernel.command.CommandNotFound`).
    """
    started = time.monotonic()
    path = Path(path)
    status = monitor.execute("query-status")
    was_running = bool(status.get("running"))
    flags = SaveFlags.RUNNING if (was_running if running is None else running) else SaveFlags.PAUSED
    compressor: Optional[command.RunningCommand] = None
    old_bandwidth = monitor.execute("query-migrate-parameters").get("max-bandwidth")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise VirtError(f"cannot create save image '{path}': {exc.strerror}", code=ErrorCode.SYSTEM_ERROR,
                        domain=ErrorDomain.QEMU) from exc
    completed = False
    try:
        header = write_header(fd, domain_xml, compression, flags, xml_padding)
        if compression is Compression.RAW:
            monitor.send_fd(fd, _FD_NAME)
        else:
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            try:
                compressor = command.spawn(compressor_argv(compression, programs), stdin=read_end, stdout=fd,
                                           error_domain=ErrorDomain.QEMU)
                if compressor.pid is None:
                    compressor.wait()  # raises the launch failure (CommandNotFound for a missing program)
                monitor.send_fd(write_end, _FD_NAME)
            finally:
                os.close(read_end)
                os.close(write_end)
        if was_running:
            monitor.execute("stop")
        _enable_events(monitor)
        monitor.execute("migrate-set-parameters", {"max-bandwidth": SAVE_BANDWIDTH})
        with monitor.expect_event("MIGRATION", _is_final) as waiter:
            monitor.execute("migrate", {"uri": f"fd:{_FD_NAME}"})
            final = _wait_for_migration(monitor, waiter, timeout, compressor)
        if final != "completed":
            if final == "helper-failed":
                monitor.execute("migrate_cancel")
            reason = _migration_error(monitor)
            if compressor is not None:
                compressor.kill()
                _raise_compressor_failure(compressor)
            if final == "cancelled":
                raise VirtError(f"saving guest '{monitor.guest}' to '{path}' was cancelled",
                                code=ErrorCode.OPERATION_ABORTED, domain=ErrorDomain.QEMU)
            raise OperationFailed(f"saving guest '{monitor.guest}' to '{path}' failed: {reason}",
                                  domain=ErrorDomain.QEMU)
        if compressor is not None:
            compressor.wait(timeout)  # QEMU closed its end: the compressor sees EOF and finishes
        os.fsync(fd)
        completed = True
        if old_bandwidth is not None:
            monitor.execute("migrate-set-parameters", {"max-bandwidth": old_bandwidth})
        return SaveResult(header, os.fstat(fd).st_size, time.monotonic() - started)
    finally:
        os.close(fd)
        if not completed:
            if compressor is not None:
                compressor.kill()
            _undo_save(monitor, path, was_running, old_bandwidth)


def _raise_compressor_failure(compressor: command.RunningCommand) -> None:
    """Raise the compressor's own error if it failed (it explains a broken stream better than QEMU)."""
    try:
        compressor.wait(10)
    except command.CommandFailed as exc:
        if exc.returncode != -9:  # killed by us because QEMU gave up first: QEMU's error is the news
            raise


def _undo_save(monitor: Monitor, path: Path, was_running: bool, old_bandwidth: Optional[int]) -> None:
    try:
        path.unlink()
    except OSError:
        pass
    if monitor.closed:
        return
    monitor.close_fd(_FD_NAME)
    try:
        if old_bandwidth is not None:
            monitor.execute("migrate-set-parameters", {"max-bandwidth": old_bandwidth})
        if was_running and monitor.execute("query-status").get("status") != "running":
            monitor.execute("cont")
    except VirtError:
        pass  # the original error is the one to report


def restore(monitor: Monitor, path: Union[str, Path], *, header: Optional[SaveImageHeader] = None,
            timeout: Optional[float] = None,
            programs: Optional[Mapping[Compression, str]] = None) -> SaveImageHeader:
    """Load an image into a QEMU started with ``-incoming defer`` (and -S); returns the header.

    The guest stays paused: resume it (``cont``) when `header.running` says so.  Raises
    SaveImageError for a file that is not a save image or whose stream is damaged, the
    decompressor's error when it fails (CommandNotFound when it is not installed), or
    OperationFailed with QEMU's reason.
    """
    path = Path(path)
    header = header or read_header(path)
    decompressor: Optional[command.RunningCommand] = None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise VirtError(f"cannot open save image '{path}': {exc.strerror}", code=ErrorCode.SYSTEM_ERROR,
                        domain=ErrorDomain.QEMU) from exc
    try:
        os.lseek(fd, header.data_offset, os.SEEK_SET)
        if header.compression is Compression.RAW:
            monitor.send_fd(fd, _FD_NAME)
        else:
            # A socket pair, not a pipe: QEMU 7.2 waits for G_IO_IN only, and a pipe whose writer
            # exits before writing anything reports HUP alone, so QEMU would wait forever.
            read_socket, write_socket = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            read_end, write_end = read_socket.detach(), write_socket.detach()
            try:
                decompressor = command.spawn(decompressor_argv(header.compression, programs), stdin=fd,
                                             stdout=write_end, error_domain=ErrorDomain.QEMU)
                if decompressor.pid is None:
                    decompressor.wait()  # raises CommandNotFound / CommandNotExecutable
                monitor.send_fd(read_end, _FD_NAME)
            finally:
                os.close(read_end)
                os.close(write_end)
        _enable_events(monitor)
        with monitor.expect_event("MIGRATION", _is_final) as waiter:
            try:
                monitor.execute("migrate-incoming", {"uri": f"fd:{_FD_NAME}"})
            except QMPCommandError:
                monitor.close_fd(_FD_NAME)
                raise
            try:
                final = _wait_for_migration(monitor, waiter, timeout, decompressor)
            except MonitorClosed:
                # QEMU 7.2 exits when loading an incoming stream fails
                if decompressor is not None:
                    _raise_decompressor_failure(decompressor, path)
                raise SaveImageError(f"QEMU ended while restoring guest '{monitor.guest}' from '{path}': "
                                     "the saved state could not be loaded") from None
        if final != "completed":
            reason = _migration_error(monitor) if final != "helper-failed" else ""
            if decompressor is not None:
                _raise_decompressor_failure(decompressor, path)
            raise SaveImageError(f"restoring guest '{monitor.guest}' from '{path}' failed: {reason}")
        if decompressor is not None:
            _raise_decompressor_failure(decompressor, path)
        return header
    finally:
        os.close(fd)
        if decompressor is not None:
            decompressor.kill()


def _raise_decompressor_failure(decompressor: command.RunningCommand, path: Path) -> None:
    try:
        decompressor.wait(30)
    except (command.CommandNotFound, command.CommandNotExecutable, command.CommandSetupFailed):
        raise
    except command.CommandFailed as exc:
        detail = exc.stderr.decode(errors="replace").strip() or f"exit status {exc.returncode}"
        raise SaveImageError(f"save image '{path}' is damaged: {detail}") from exc
