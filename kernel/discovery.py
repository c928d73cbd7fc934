"""Finding drivers and lifecycle-hook plugins through entry points (stevedore)."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Optional

from stevedore import DriverManager, ExtensionManager
from stevedore.exception import NoMatches

from .enums import ErrorCode, ErrorDomain
from .errors import VirtError

DRIVERS_GROUP = "virtkernel.drivers"
"""Entry point group: one entry per URI scheme, naming a driver class."""
HOOKS_GROUP = "virtkernel.hooks"
"""Entry point group: every lifecycle-hook plugin, loaded for each driver instance."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PluginInfo:
    """One installed plugin: its kind, entry-point name and target, distribution and version."""

    kind: str
    name: str
    target: str
    distribution: str
    version: str


class PluginLoadError(VirtError):
    """A plugin's entry point could not be imported or loaded."""

    default_code = ErrorCode.INTERNAL_ERROR

    def __init__(self, group: str, entry_point: metadata.EntryPoint, cause: BaseException) -> None:
        dist = _distribution_of(entry_point)
        super().__init__(f"plugin '{entry_point.name}' ({entry_point.value}) from distribution '{dist}' in group "
                         f"'{group}' failed to load: {type(cause).__name__}: {cause}",
                         code=ErrorCode.INTERNAL_ERROR, domain=ErrorDomain.NONE)
        self.group = group
        self.entry_point = entry_point
        self.distribution = dist
        self.cause = cause


def _distribution_of(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return dist.metadata["Name"] if dist is not None else "unknown"


_scan_cache: dict[str, tuple[tuple[tuple[str, int], ...], list[metadata.EntryPoint]]] = {}


def _path_signature() -> tuple[tuple[str, int], ...]:
    """sys.path entries with their modification times (ns): installing a distribution changes one of them."""
    signature = []
    for entry in sys.path:
        try:
            signature.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            signature.append((entry, -1))
    return tuple(signature)


def _entry_points(group: str) -> list[metadata.EntryPoint]:
    """A group's entry points, rescanned whenever an installation changed a sys.path directory."""
    signature = _path_signature()
    cached = _scan_cache.get(group)
    if cached is not None and cached[0] == signature:
        return cached[1]
    found = sorted(metadata.entry_points(group=group), key=lambda ep: ep.name)
    _scan_cache[group] = (signature, found)
    return found


class _FreshEntryPoints:
    """Read entry points from the installed distributions on every load.

    stevedore caches a group's entry points per process and on disk keyed by coarse modification times, so a
    plugin installed a moment ago can stay invisible; these managers ask importlib.metadata each time instead.
    """

    namespace: str

    def list_entry_points(self) -> list[metadata.EntryPoint]:
        return _entry_points(self.namespace)


class _DriverManager(_FreshEntryPoints, DriverManager):
    """stevedore's driver pattern over fresh entry points."""


class _ExtensionManager(_FreshEntryPoints, ExtensionManager):
    """stevedore's extension pattern over fresh entry points."""


def driver_schemes() -> list[str]:
    """The URI schemes of every installed driver, sorted."""
    return sorted({ep.name for ep in _entry_points(DRIVERS_GROUP)})


def load_driver_class(scheme: str) -> Any:
    """The driver class registered for a URI scheme, or a precise error naming what is installed."""
    failures: list[tuple[metadata.EntryPoint, BaseException]] = []

    def on_failure(_manager: Any, entry_point: metadata.EntryPoint, exc: BaseException) -> None:
        failures.append((entry_point, exc))

    try:
        manager = _DriverManager(DRIVERS_GROUP, scheme, invoke_on_load=False, on_load_failure_callback=on_failure)
    except NoMatches:
        if failures:
            raise PluginLoadError(DRIVERS_GROUP, *failures[0]) from failures[0][1]
        installed = ", ".join(driver_schemes()) or "none"
        raise VirtError(f"no driver installed for scheme '{scheme}' (installed: {installed})",
                        code=ErrorCode.NO_CONNECT, domain=ErrorDomain.NONE) from None
    except RuntimeError as exc:  # stevedore: several entry points claim the same scheme
        raise VirtError(f"more than one driver is installed for scheme '{scheme}': {exc}",
                        code=ErrorCode.NO_CONNECT) from None
    return manager.driver


def load_hook_plugins() -> tuple[list[tuple[str, Any]], list[PluginLoadError]]:
    """Every lifecycle-hook plugin that loads, and an error for each one that does not."""
    failures: list[PluginLoadError] = []

    def on_failure(_manager: Any, entry_point: metadata.EntryPoint, exc: BaseException) -> None:
        error = PluginLoadError(HOOKS_GROUP, entry_point, exc)
        log.error("%s", error)
        failures.append(error)

    manager = _ExtensionManager(HOOKS_GROUP, invoke_on_load=False, on_load_failure_callback=on_failure)
    return [(ext.name, ext.plugin) for ext in manager.extensions], failures


def installed_plugins() -> list[PluginInfo]:
    """Drivers and hook plugins installed, with their distributions and versions."""
    plugins = []
    for kind, group in (("driver", DRIVERS_GROUP), ("hook", HOOKS_GROUP)):
        for ep in _entry_points(group):
            dist = getattr(ep, "dist", None)
            plugins.append(PluginInfo(kind=kind, name=ep.name, target=ep.value,
                                      distribution=dist.metadata["Name"] if dist else "unknown",
                                      version=dist.version if dist else "unknown"))
    return plugins


def find_plugin(kind: str, name: str) -> Optional[PluginInfo]:
    """One installed plugin by kind and entry-point name."""
    return next((p for p in installed_plugins() if p.kind == kind and p.name == name), None)
