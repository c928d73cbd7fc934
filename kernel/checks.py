"""Argument checks shared by the public entry points, each raising the error libvirt raises."""

from __future__ import annotations

import functools
import inspect
import os
import threading
from typing import Any, Callable, Optional, TypeVar

from .enums import ErrorCode, ErrorDomain
from .errors import (ArgumentUnsupported, InternalError, InvalidArg, OperationDenied, Overflow, UnsupportedFlags,
                     VirtError, _last_errors)

F = TypeVar("F", bound=Callable[..., Any])

MEMORY_MAX_KIB = 9007199254740991
"""Largest memory size in KiB a 64-bit host accepts (LLONG_MAX / 1024)."""
TYPED_PARAM_FIELD_LENGTH = 80
"""libvirt's limit on a typed parameter's name, terminator included."""
INT_MAX = 2**31 - 1
UINT_MAX = 2**32 - 1


def entry_point(fn: F) -> F:
    """Mark a public method: reset the thread's last error, record any failure, never leak a non-VirtError.

    The wrapper is generated with the method's own signature: a generic ``*args, **kwargs`` wrapper costs more
    than the driver call it guards on the hot paths (get_info, get_state, lookups).
    """
    signature = inspect.signature(fn)
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values()):
        raise TypeError(f"entry_point cannot wrap {fn.__qualname__}: it takes *args or **kwargs")
    namespace: dict[str, Any] = {"_fn": fn, "_errors": _last_errors, "_ident": threading.get_ident,
                                 "_VirtError": VirtError, "_convert": _convert}
    params, args = [], []
    for index, param in enumerate(signature.parameters.values()):
        text = param.name
        if param.default is not param.empty:
            namespace[f"_default{index}"] = param.default
            text += f"=_default{index}"
        if param.kind is param.KEYWORD_ONLY and "*" not in params:
            params.append("*")
        params.append(text)
        args.append(f"{param.name}={param.name}" if param.kind is param.KEYWORD_ONLY else param.name)
    source = (f"def {fn.__name__}({', '.join(params)}):\n"
              f"    _errors[_ident()] = None\n"
              f"    try:\n"
              f"        return _fn({', '.join(args)})\n"
              f"    except _VirtError as exc:\n"
              f"        _errors[_ident()] = exc\n"
              f"        raise\n"
              f"    except Exception as exc:\n"
              f"        raise _convert(exc, _fn) from exc\n")
    exec(compile(source, f"<entry point {fn.__qualname__}>", "exec"), namespace)
    wrapper = namespace[fn.__name__]
    functools.update_wrapper(wrapper, fn)
    return wrapper  # type: ignore[return-value]


def _convert(exc: Exception, fn: Callable[..., Any]) -> VirtError:
    """The VirtError a user sees for an exception that is not one (recorded as the thread's last error)."""
    if isinstance(exc, (TypeError, ValueError)) and _raised_here(exc):
        error: VirtError = InvalidArg(f"invalid argument to {fn.__qualname__}: {exc}")
    else:
        error = InternalError(f"internal error in {fn.__qualname__}: {type(exc).__name__}: {exc}")
    _last_errors[threading.get_ident()] = error
    return error


def _raised_here(exc: BaseException) -> bool:
    """True when a TypeError/ValueError comes from the public method's own argument conversions."""
    tb = exc.__traceback__
    return tb is not None and tb.tb_next is not None and tb.tb_next.tb_next is None


def check_flags(flags: int, allowed: int, function: str, area: ErrorDomain = ErrorDomain.DOMAIN) -> None:
    """Drivers: refuse any flag outside ``allowed`` with libvirt's "unsupported flags" error."""
    extra = int(flags) & ~int(allowed)
    if extra:
        raise UnsupportedFlags(f"unsupported flags (0x{extra:x}) in function {function}",
                               code=ErrorCode.INVALID_ARG, domain=area)


def invalid_arg(message: str) -> InvalidArg:
    """An INVALID_ARG error from the domain API."""
    return InvalidArg(message, code=ErrorCode.INVALID_ARG, domain=ErrorDomain.DOMAIN)


def require(condition: bool, message: str) -> None:
    """Raise INVALID_ARG with ``message`` unless ``condition`` holds."""
    if not condition:
        raise invalid_arg(message)


def not_none(value: Any, name: str, function: str) -> None:
    """The argument must be given."""
    if value is None:
        raise invalid_arg(f"{function}: argument '{name}' must not be None")


def non_empty(value: Optional[str], name: str, function: str) -> None:
    """The argument must be given and not empty."""
    if value is None or value == "":
        raise invalid_arg(f"{function}: argument '{name}' must be a non-empty string")


def opt_non_empty(value: Optional[str], name: str, function: str) -> None:
    """The argument may be None but not the empty string."""
    if value == "":
        raise invalid_arg(f"{function}: argument '{name}' must not be an empty string")


def exclusive(flags: int, a: int, b: int, names: tuple[str, str]) -> None:
    """Flags ``a`` and ``b`` may not both be set."""
    if flags & a and flags & b:
        raise invalid_arg(f"flags '{names[0]}' and '{names[1]}' are mutually exclusive")


def requires(flags: int, flag: int, needed: int, names: tuple[str, str]) -> None:
    """If ``flag`` is set, at least one bit of ``needed`` must be set too."""
    if flags & flag and not flags & needed:
        raise invalid_arg(f"flag '{names[1]}' is required by flag '{names[0]}'")


def memory_size(memory: int, function: str) -> None:
    """A memory size in KiB: not 0 and below the 64-bit limit."""
    require(memory != 0, f"{function}: memory must not be 0")
    if memory >= MEMORY_MAX_KIB:
        raise Overflow(f"{function}: memory {memory} KiB is too large (limit {MEMORY_MAX_KIB - 1})",
                       code=ErrorCode.OVERFLOW, domain=ErrorDomain.DOMAIN)


def read_only(is_read_only: bool, function: str, area: ErrorDomain = ErrorDomain.DOMAIN) -> None:
    """Refuse a modifying call on a read-only connection."""
    if is_read_only:
        raise OperationDenied(f"read only access prevents {function}", code=ErrorCode.OPERATION_DENIED,
                              domain=area)


def absolute_path(path: str) -> str:
    """A path made absolute and canonical relative to the caller's working directory."""
    try:
        return os.path.abspath(os.fspath(path))
    except (TypeError, ValueError) as exc:
        raise InternalError(f"could not build an absolute path from '{path}': {exc}") from exc


def probe_unsupported(message: str) -> ArgumentUnsupported:
    """The ARGUMENT_UNSUPPORTED error a failed feature probe produces."""
    return ArgumentUnsupported(message, code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.DOMAIN)


def overflow(message: str) -> Overflow:
    """An OVERFLOW error from the domain API."""
    return Overflow(message, code=ErrorCode.OVERFLOW, domain=ErrorDomain.DOMAIN)
