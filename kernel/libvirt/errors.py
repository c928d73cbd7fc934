"""libvirtError, the last-error functions and the error handler, as libvirt-python presents them."""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any, Callable, Optional, TypeVar

from ..enums import ErrorCode, ErrorDomain
from ..errors import VirtError, get_last_error, reset_last_error, set_last_error

F = TypeVar("F", bound=Callable[..., Any])

ErrorTuple = tuple[int, int, str, int, Optional[str], Optional[str], Optional[str], int, int]

# Names libvirt's default handler prints for the error domains users meet most (others use the enum name).
_DOMAIN_LABELS = {
    ErrorDomain.NONE: "",
    ErrorDomain.TEST: "Test Driver",
    ErrorDomain.DOMAIN: "Domain Config",
    ErrorDomain.QEMU: "QEMU Driver",
    ErrorDomain.LXC: "Linux Container Driver",
    ErrorDomain.DOMAIN_SNAPSHOT: "Domain Snapshot",
}


def error_tuple(error: VirtError) -> ErrorTuple:
    """The nine fields libvirt-python's virGetLastError() returns, for a VirtError (message worded like libvirt's)."""
    message = error.full_message
    return (int(error.code), int(error.domain), message, int(error.level), message, None, None, -1, -1)


class libvirtError(Exception):  # noqa: N801 - libvirt-python's name
    """An error from a libvirt call; ``err`` holds libvirt's error fields (or None)."""

    def __init__(self, defmsg: str, *_ignored: Any, **_ignored_kw: Any) -> None:
        # Like libvirt-python: the message and fields come from the thread's last error, if there is one.
        last = get_last_error()
        self.err: Optional[ErrorTuple] = error_tuple(last) if last is not None else None
        super().__init__(self.err[2] if self.err is not None else defmsg)

    @classmethod
    def _from_virt(cls, error: VirtError) -> "libvirtError":
        instance = cls.__new__(cls)
        instance.err = error_tuple(error)
        Exception.__init__(instance, instance.err[2])
        return instance

    def _field(self, index: int) -> Any:
        return self.err[index] if self.err is not None else None

    def get_error_code(self) -> Optional[int]:
        """The VIR_ERR_* code."""
        return self._field(0)

    def get_error_domain(self) -> Optional[int]:
        """The VIR_FROM_* domain (which part of libvirt raised it)."""
        return self._field(1)

    def get_error_message(self) -> Optional[str]:
        """The message."""
        return self._field(2)

    def get_error_level(self) -> Optional[int]:
        """The VIR_ERR_WARNING / VIR_ERR_ERROR level."""
        return self._field(3)

    def get_str1(self) -> Optional[str]:
        """Extra string information (the message here)."""
        return self._field(4)

    def get_str2(self) -> Optional[str]:
        """Extra string information."""
        return self._field(5)

    def get_str3(self) -> Optional[str]:
        """Extra string information."""
        return self._field(6)

    def get_int1(self) -> Optional[int]:
        """Extra number information."""
        return self._field(7)

    def get_int2(self) -> Optional[int]:
        """Extra number information."""
        return self._field(8)


# --- the error handler ---------------------------------------------------------------------------------------------

_handler_lock = threading.Lock()
_handler: Optional[tuple[Callable[[Any, ErrorTuple], Any], Any]] = None


def registerErrorHandler(f: Optional[Callable[[Any, ErrorTuple], Any]], ctx: Any) -> int:  # noqa: N802
    """Call ``f(ctx, error_fields)`` for every error instead of printing it to stderr; None restores printing."""
    global _handler
    if f is not None and not callable(f):
        raise TypeError("registerErrorHandler: the handler must be callable or None")
    with _handler_lock:
        _handler = (f, ctx) if f is not None else None
    return 1


def _drop_tracebacks(error: BaseException) -> None:
    # The thread's last error outlives the call: its traceback must not keep the caller's handles (and so their
    # connection) alive, or close() would report references that libvirt would not have.
    seen: set[int] = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__


def report(error: VirtError) -> None:
    """What libvirt does when an error is raised: call the user's handler, or print like libvirt's default."""
    _drop_tracebacks(error)
    set_last_error(error)
    handler = _handler
    fields = error_tuple(error)
    if handler is not None:
        function, ctx = handler
        function(ctx, fields)
        return
    label = _DOMAIN_LABELS.get(error.domain, error.domain.name.replace("_", " ").title())
    sys.stderr.write(f"libvirt: {label} error : {fields[2]}\n")


def raise_for(error: VirtError) -> "libvirtError":
    """Report ``error`` and return the libvirtError to raise for it."""
    report(error)
    return libvirtError._from_virt(error)


def translating(function: F) -> F:
    """Wrap a facade method: a VirtError from the kernel becomes a libvirtError with the same fields."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except VirtError as error:
            raise raise_for(error) from None

    return wrapper  # type: ignore[return-value]


def translate_errors(cls: type) -> type:
    """Class decorator: every public method translates kernel errors into libvirtError."""
    for name, value in list(vars(cls).items()):
        if not name.startswith("_") and callable(value):
            setattr(cls, name, translating(value))
    return cls


def unsupported(function_name: str) -> VirtError:
    """The error for a libvirt-python method that has no counterpart in virtkernel."""
    return VirtError(f"this function is not supported by the connection driver: {function_name}",
                     code=ErrorCode.NO_SUPPORT, domain=ErrorDomain.DOMAIN)


# --- module-level last-error functions -----------------------------------------------------------------------------

def virGetLastError() -> Optional[ErrorTuple]:  # noqa: N802
    """The calling thread's last error as libvirt's nine fields, or None."""
    last = get_last_error()
    return error_tuple(last) if last is not None else None


def virGetLastErrorCode() -> int:  # noqa: N802
    """The code of the thread's last error (VIR_ERR_OK when there is none)."""
    last = get_last_error()
    return int(last.code) if last is not None else 0


def virGetLastErrorDomain() -> int:  # noqa: N802
    """The domain of the thread's last error (VIR_FROM_NONE when there is none)."""
    last = get_last_error()
    return int(last.domain) if last is not None else 0


def virGetLastErrorMessage() -> str:  # noqa: N802
    """The message of the thread's last error ("no error" when there is none)."""
    last = get_last_error()
    return last.full_message if last is not None else "no error"


def virResetLastError() -> None:  # noqa: N802
    """Forget the thread's last error."""
    reset_last_error()
