"""VirtError, its subclasses for the common codes, and the per-thread last error."""

from __future__ import annotations

import threading
from typing import Optional

from .enums import ErrorCode, ErrorDomain, ErrorLevel

__all__ = [
    "ErrorCode", "ErrorDomain", "ErrorLevel", "VirtError", "InternalError", "NoSupport", "InvalidArg", "UnsupportedFlags",
    "OperationFailed", "OperationInvalid", "OperationDenied", "ArgumentUnsupported", "NoDomain",
    "InvalidConn", "InvalidDomain", "XMLError", "Overflow", "NoConnect", "SystemError_",
    "get_last_error", "reset_last_error", "set_last_error", "error_class_for", "make_error", "MESSAGE_PREFIX",
]


class VirtError(Exception):
    """A failure a user can see: libvirt's error code and domain plus a sentence a person understands."""

    default_code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, code: Optional[int] = None, domain: int = ErrorDomain.NONE,
                 level: ErrorLevel = ErrorLevel.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = ErrorCode(code) if code is not None else self.default_code
        self.domain = ErrorDomain(domain)
        self.level = level

    def __str__(self) -> str:
        return self.message

    @property
    def full_message(self) -> str:
        """The message as libvirt words it: the words for its code, then the detail (what virsh prints)."""
        prefix = MESSAGE_PREFIX.get(self.code)
        if prefix is None or self.message.lower().startswith(prefix.lower()):
            return self.message
        return f"{prefix}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.name}, domain={self.domain.name}, message={self.message!r})"


MESSAGE_PREFIX: dict[ErrorCode, str] = {
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
"""The words libvirt puts before a message of each error code; scripts match them in virsh's output."""


class InternalError(VirtError):
    """An internal error (VIR_ERR_INTERNAL_ERROR)."""

    default_code = ErrorCode.INTERNAL_ERROR


class NoSupport(VirtError):
    """The operation is not supported by the connection driver (VIR_ERR_NO_SUPPORT)."""

    default_code = ErrorCode.NO_SUPPORT


class NoConnect(VirtError):
    """No driver could open the URI (VIR_ERR_NO_CONNECT)."""

    default_code = ErrorCode.NO_CONNECT


class InvalidConn(VirtError):
    """The connection handle is closed or invalid (VIR_ERR_INVALID_CONN)."""

    default_code = ErrorCode.INVALID_CONN


class InvalidDomain(VirtError):
    """The domain handle is invalid (VIR_ERR_INVALID_DOMAIN)."""

    default_code = ErrorCode.INVALID_DOMAIN


class InvalidArg(VirtError):
    """An argument is wrong (VIR_ERR_INVALID_ARG)."""

    default_code = ErrorCode.INVALID_ARG


class UnsupportedFlags(InvalidArg):
    """libvirt's "unsupported flags" error: INVALID_ARG, worded without the "invalid argument: " prefix."""

    @property
    def full_message(self) -> str:
        """The message alone, as libvirt (and virsh) print this error."""
        return self.message


class OperationFailed(VirtError):
    """The operation failed (VIR_ERR_OPERATION_FAILED)."""

    default_code = ErrorCode.OPERATION_FAILED


class OperationInvalid(VirtError):
    """The operation is not valid in the domain's current state (VIR_ERR_OPERATION_INVALID)."""

    default_code = ErrorCode.OPERATION_INVALID


class OperationDenied(VirtError):
    """The operation is refused, e.g. on a read-only connection (VIR_ERR_OPERATION_DENIED)."""

    default_code = ErrorCode.OPERATION_DENIED


class ArgumentUnsupported(VirtError):
    """A valid argument that this driver or peer does not support (VIR_ERR_ARGUMENT_UNSUPPORTED)."""

    default_code = ErrorCode.ARGUMENT_UNSUPPORTED


class NoDomain(VirtError):
    """No domain matches (VIR_ERR_NO_DOMAIN)."""

    default_code = ErrorCode.NO_DOMAIN


class XMLError(VirtError):
    """The XML document is malformed or refused (VIR_ERR_XML_ERROR)."""

    default_code = ErrorCode.XML_ERROR


class Overflow(VirtError):
    """A value does not fit (VIR_ERR_OVERFLOW)."""

    default_code = ErrorCode.OVERFLOW


class SystemError_(VirtError):
    """A system call failed (VIR_ERR_SYSTEM_ERROR)."""

    default_code = ErrorCode.SYSTEM_ERROR


_CLASSES: dict[ErrorCode, type[VirtError]] = {
    cls.default_code: cls for cls in (
        InternalError, NoSupport, NoConnect, InvalidConn, InvalidDomain, InvalidArg, OperationFailed,
        OperationInvalid, OperationDenied, ArgumentUnsupported, NoDomain, XMLError, Overflow, SystemError_)
}


def error_class_for(code: int) -> type[VirtError]:
    """The most specific VirtError subclass for a libvirt error code."""
    return _CLASSES.get(ErrorCode(code), VirtError)


def make_error(code: int, message: str, domain: int = ErrorDomain.NONE) -> VirtError:
    """Build the right VirtError subclass for a code."""
    return error_class_for(code)(message, code=code, domain=domain)


_last_errors: dict[int, Optional[VirtError]] = {}
"""The last error of each thread, keyed by thread id (a plain dict: cheaper than threading.local here)."""


def get_last_error() -> Optional[VirtError]:
    """The last error raised by a public call in this thread, or None."""
    return _last_errors.get(threading.get_ident())


def set_last_error(error: Optional[VirtError]) -> None:
    """Record the thread's last error (done by every public call that fails)."""
    _last_errors[threading.get_ident()] = error


def reset_last_error() -> None:
    """Forget the thread's last error (done by every public call on entry)."""
    _last_errors[threading.get_ident()] = None
