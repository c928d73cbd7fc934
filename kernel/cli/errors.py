"""Errors the command line reports, and how a VirtError is worded on the terminal."""

from __future__ import annotations

from typing import Optional

from ..errors import VirtError

def describe(error: VirtError) -> str:
    """The text after ``error: `` for a VirtError: libvirt's words for its code, then its message."""
    return error.full_message


class CliError(Exception):
    """A failure the command line reports as one or more ``error: ...`` lines (never a traceback)."""

    def __init__(self, message: str, cause: Optional[VirtError] = None, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause
        self.hint = hint

    def lines(self) -> list[str]:
        """What goes to stderr, one entry per line."""
        result = [f"error: {self.message}"]
        if self.cause is not None:
            result.append(f"error: {describe(self.cause)}")
        if self.hint:
            result.append(f"hint: {self.hint}")
        return result


class UsageError(CliError):
    """The command line itself is wrong (unknown command or option, missing argument): nothing runs."""


class Failing:
    """``with Failing("Failed to X"):`` — a VirtError inside becomes that sentence plus the kernel's reason."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __enter__(self) -> "Failing":
        return self

    def __exit__(self, kind: object, exc: Optional[BaseException], _tb: object) -> bool:
        if isinstance(exc, VirtError):
            raise CliError(self.message, cause=exc) from exc
        return False
