"""virtkernel-lxc: Linux containers (namespaces, cgroups, veths, pty console) for virtkernel.

Names are imported on first use (PEP 562), so that a container's init helper can import
`virtkernel_lxc.init_process` without loading the rest of the package.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not typing's: the init helper imports this package without typing (see init_process.py)
if TYPE_CHECKING:
    from typing import Any

_EXPORTS = {
    "launch": "launcher", "Container": "launcher", "ContainerStatus": "launcher", "ContainerStats": "launcher",
    "SupervisorPool": "pool", "ConsoleStream": "console", "ExitInfo": "outcome", "StopReason": "outcome",
    "ContainerSpec": "spec", "BindMount": "spec", "TmpfsMount": "spec", "Interface": "spec", "IPAddress": "spec",
    "IdMap": "spec", "IdMapRange": "spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'virtkernel_lxc' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
