"""Reading and writing cgroup interface files, turning kernel refusals into VirtErrors that name the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..enums import ErrorDomain
from ..errors import InvalidArg, NoSupport, SystemError_

__all__ = ["UNLIMITED_THRESHOLD", "read_text", "read_int", "write_text", "read_keyed", "check_non_negative",
           "missing_file"]

# v1 reports "no limit" as the largest page-aligned counter (9223372036854771712 with 4 KiB pages);
# no real limit comes near 2**62 bytes.
UNLIMITED_THRESHOLD = 1 << 62


def missing_file(path: Path) -> NoSupport:
    """The error for an interface file this kernel or group does not provide."""
    return NoSupport(f"cgroup file {path} does not exist: the controller is missing or not enabled for this group",
                     domain=ErrorDomain.CGROUP)


def read_text(path: Path) -> str:
    """A cgroup file's content without the trailing newline."""
    try:
        with open(path) as f:
            return f.read().rstrip("\n")
    except FileNotFoundError:
        raise missing_file(path) from None
    except OSError as exc:
        raise SystemError_(f"cannot read {path}: {os.strerror(exc.errno or 0)}",
                           domain=ErrorDomain.CGROUP) from exc


def read_int(path: Path) -> int:
    """A cgroup file holding one integer."""
    text = read_text(path).strip()
    try:
        return int(text)
    except ValueError:
        raise SystemError_(f"cgroup file {path} holds '{text}', not a number", domain=ErrorDomain.CGROUP) from None


def read_keyed(path: Path) -> dict[str, str]:
    """A cgroup file of "key value" lines (memory.stat, cpu.stat, cgroup.events...)."""
    result: dict[str, str] = {}
    for line in read_text(path).splitlines():
        key, _, value = line.partition(" ")
        if key:
            result[key] = value.strip()
    return result


def write_text(path: Path, value: str) -> None:
    """Write a value the way the kernel wants it: one write() call; a refusal names the file and the errno."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except FileNotFoundError:
        raise missing_file(path) from None
    except OSError as exc:
        raise SystemError_(f"cannot open {path} for writing: {os.strerror(exc.errno or 0)}",
                           domain=ErrorDomain.CGROUP) from exc
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        reason = os.strerror(exc.errno or 0)
        raise SystemError_(f"cannot write '{value}' to {path}: {reason}", domain=ErrorDomain.CGROUP) from exc
    finally:
        os.close(fd)


def check_non_negative(name: str, value: Optional[int], *, allow_none: bool = True) -> None:
    """InvalidArg naming the parameter unless value is a non-negative int (or None when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArg(f"{name} must be an integer, not {value!r}", domain=ErrorDomain.CGROUP)
    if value < 0:
        raise InvalidArg(f"{name} must not be negative (got {value})", domain=ErrorDomain.CGROUP)
