"""virtkernel: libvirt's job — managing VMs and containers through one stable API — as a small kernel with plugins.

Names are imported on first use (PEP 562): a process that needs only a few modules (a container's supervisor
needs errors, enums and cgroup) does not load the whole API.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and editors see: the same names, imported eagerly
    from .connection import LIB_VERSION, Connection, open, open_read_only
    from .discovery import PluginInfo, PluginLoadError, installed_plugins
    from .domain import Domain, DomainSnapshot
    from .driver import DriverContext
    from .enums import *  # noqa: F401,F403
    from .errors import (ArgumentUnsupported, InternalError, InvalidArg, NoDomain, NoSupport, OperationDenied,
                         OperationFailed, OperationInvalid, VirtError, get_last_error)
    from .features import DriverFeature
    from .hookspecs import hookimpl
    from .lifecycle import DomainHookEvent, HookFailed, HookPoint
    from .stream import Stream
    from .types import DomainInfo, DomainRef, NodeInfo, SnapshotRef
    from .uri import ConnectURI, parse_uri

__version__ = "0.1.0"

_EXPORTS = {
    "open": "connection", "open_read_only": "connection", "Connection": "connection", "LIB_VERSION": "connection",
    "PluginInfo": "discovery", "PluginLoadError": "discovery", "installed_plugins": "discovery",
    "Domain": "domain", "DomainSnapshot": "domain", "DriverContext": "driver",
    "ArgumentUnsupported": "errors", "InternalError": "errors", "InvalidArg": "errors", "NoDomain": "errors",
    "NoSupport": "errors", "OperationDenied": "errors", "OperationFailed": "errors", "OperationInvalid": "errors",
    "VirtError": "errors", "get_last_error": "errors",
    "DriverFeature": "features", "Stream": "stream", "hookimpl": "hookspecs",
    "DomainHookEvent": "lifecycle", "HookFailed": "lifecycle", "HookPoint": "lifecycle",
    "DomainInfo": "types", "DomainRef": "types", "NodeInfo": "types", "SnapshotRef": "types",
    "ConnectURI": "uri", "parse_uri": "uri",
}
"""Public name -> the module defining it; libvirt's enums and flag sets (virtkernel.enums) are public too."""

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(f"module 'virtkernel' has no attribute {name!r}")
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    else:
        enums = importlib.import_module(".enums", __name__)
        if hasattr(enums, name):
            value = getattr(enums, name)
        else:
            try:
                value = importlib.import_module(f".{name}", __name__)
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
                raise AttributeError(f"module 'virtkernel' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *dir(importlib.import_module(".enums", __name__))})
