"""Save images and core dumps of the test driver: a magic line, a JSON header line, then the domain XML.

Layout (all text, UTF-8)::

    VirtkernelTestImage\\n
    {"version": 1, "kind": "save", "paused": false, "xml_bytes": 1234}\\n
    <domain ...>...</domain>

A file that is missing or too short to hold a header is a SYSTEM_ERROR (like a failed read in libvirt); one with
the wrong magic, an unreadable header or a truncated body is an INTERNAL_ERROR. Nothing is ever half-restored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError

MAGIC = b"VirtkernelTestImage\n"
VERSION = 1
KINDS = ("save", "core")


@dataclass(frozen=True)
class SaveImage:
    """What a save image holds."""

    xml: str
    paused: bool = False
    kind: str = "save"


def _system_error(message: str) -> VirtError:
    return VirtError(message, code=ErrorCode.SYSTEM_ERROR, domain=ErrorDomain.TEST)


def _corrupt(path: str, why: str) -> VirtError:
    return VirtError(f"'{path}' is not a test driver save image: {why}", code=ErrorCode.INTERNAL_ERROR,
                     domain=ErrorDomain.TEST)


def write_image(path: str, image: SaveImage) -> None:
    """Write an image atomically (to a temporary name, then renamed); SYSTEM_ERROR when it cannot be written."""
    body = image.xml.encode()
    header = json.dumps({"version": VERSION, "kind": image.kind, "paused": image.paused, "xml_bytes": len(body)})
    temporary = f"{path}.partial-{os.getpid()}"
    try:
        with open(temporary, "wb") as handle:
            handle.write(MAGIC + header.encode() + b"\n" + body)
        os.replace(temporary, path)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise _system_error(f"cannot write domain image '{path}': {exc.strerror}") from None


def read_image(path: str) -> SaveImage:
    """Read and check an image."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(64 * 1024 * 1024)
    except OSError as exc:
        raise _system_error(f"cannot read domain image '{path}': {exc.strerror}") from None
    if len(data) < len(MAGIC):
        raise _system_error(f"incomplete save header in '{path}' ({len(data)} bytes)")
    if not data.startswith(MAGIC):
        raise _corrupt(path, "mismatched header magic")
    header_end = data.find(b"\n", len(MAGIC))
    if header_end < 0:
        raise _corrupt(path, "the header line is not terminated")
    try:
        header = json.loads(data[len(MAGIC):header_end])
        version, kind, paused, size = header["version"], header["kind"], header["paused"], header["xml_bytes"]
    except (ValueError, KeyError, TypeError):
        raise _corrupt(path, "the header is unreadable") from None
    if version != VERSION or kind not in KINDS or not isinstance(size, int) or not isinstance(paused, bool):
        raise _corrupt(path, f"unsupported header {header!r}")
    body = data[header_end + 1:]
    if len(body) != size:
        raise _corrupt(path, f"the domain XML is truncated ({len(body)} of {size} bytes)")
    try:
        xml = body.decode()
    except UnicodeDecodeError:
        raise _corrupt(path, "the domain XML is not UTF-8") from None
    return SaveImage(xml=xml, paused=paused, kind=kind)
