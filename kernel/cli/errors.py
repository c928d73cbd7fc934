"""Errors the command line reports, and how a VirtError is worded on the terminal."""

from __future__ import annotations

from typing import Optional

from ..enums import ErrorCode
from ..errors import VirtError

# The words libvirt puts before a message of each error code (virsh prints them); codes not listed print the
# message alone. These are facts of virsh's output format, kept so scripts that match them keep working.
CODE_PREFIX: dict[ErrorCode, str] = {
    ErrorCode.INTERNAL_ERROR: "internal error",
    ErrorCode.NO_MEMORY: "out of memory",
    ErrorCode.NO_SUPPORT: "this function is not supported by the connection driver",
    ErrorCode.INVALID_ARG: "invalid argument",
    ErrorCode.OPERATION_FAILED: "operation failed",
    ErrorCode.XML_ERROR: "XML error",
    ErrorCode.OPERATION_DENIED: "operation forbidden",
    ErrorCode.NO_DOMAIN: "Domain not found",
    ErrorCode.AUTH_FAILED: "authentication failed",
    ErrorCode.OPERATION_INVALID: "Requested operation is not valid",
    ErrorCode.CONFIG_UNSUPPORTED: "unsupported configuration",
    ErrorCode.OPERATION_TIMEOUT: "Timed out during operation",
    ErrorCode.HOOK_SCRIPT_FAILED: "Hook script execution failed",
    ErrorCode.INVALID_DOMAIN_SNAPSHOT: "Invalid domain snapshot",
    ErrorCode.NO_DOMAIN_SNAPSHOT: "Domain snapshot not found",
    ErrorCode.ARGUMENT_UNSUPPORTED: "argument unsupported",
    ErrorCode.SNAPSHOT_REVERT_RISKY: "revert requires force",
    ErrorCode.OPERATION_ABORTED: "operation aborted",
    ErrorCode.NO_DOMAIN_METADATA: "metadata not found",
    ErrorCode.MIGRATE_UNSAFE: "Unsafe migration",
    ErrorCode.OVERFLOW: "numerical overflow",
    ErrorCode.BLOCK_COPY_ACTIVE: "block copy still active",
    ErrorCode.OPERATION_UNSUPPORTED: "Operation not supported",
    ErrorCode.AGENT_UNRESPONSIVE: "Guest agent is not responding",
    ErrorCode.RESOURCE_BUSY: "resource busy",
    ErrorCode.ACCESS_DENIED: "access denied",
    ErrorCode.CPU_INCOMPATIBLE: "the CPU is incompatible with host CPU",
    ErrorCode.XML_INVALID_SCHEMA: "XML document failed to validate against schema",
    ErrorCode.MIGRATE_FINISH_OK: "migration successfully aborted",
    ErrorCode.NO_HOSTNAME: "no hostname found",
}


def describe(error: VirtError) -> str:
    """The text after ``error: `` for a VirtError: libvirt's words for its code, then its message."""
    prefix = CODE_PREFIX.get(error.code)
    message = error.message
    if prefix is None or message.lower().startswith(prefix.lower()):
        return message
    return f"{prefix}: {message}"


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
