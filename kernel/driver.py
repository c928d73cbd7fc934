"""The facade between the public API and pluggy: one driver instance, its hook plugins, and calls into them.

This is the only module that knows pluggy's calling conventions. A hook with no implementation becomes the
"not supported by the connection driver" error here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pluggy

from . import hookspecs
from .entrypoints import ENTRY_POINTS
from .enums import ErrorCode, ErrorDomain
from .errors import NoSupport, VirtError
from .events import EventBus
from .features import DriverFeature
from .lifecycle import LifecycleHooks
from .uri import ConnectURI

_PUBLIC_NAME = {}
for _ep in ENTRY_POINTS:
    if _ep.hook:
        _PUBLIC_NAME.setdefault(_ep.hook, _ep.c_name)
_DOMAIN_API = frozenset(_PUBLIC_NAME)

_OTHER_NAMES = {
    "connect_open": "virConnectOpen", "connect_close": "virConnectClose", "connect_get_type": "virConnectGetType",
    "connect_get_version": "virConnectGetVersion", "connect_get_hostname": "virConnectGetHostname",
    "connect_get_uri": "virConnectGetURI", "connect_get_capabilities": "virConnectGetCapabilities",
    "connect_get_sysinfo": "virConnectGetSysinfo", "connect_get_max_vcpus": "virConnectGetMaxVcpus",
    "connect_is_alive": "virConnectIsAlive", "connect_add_inhibitor": "virtkernel: inhibitor callbacks",
    "connect_remove_inhibitor": "virtkernel: inhibitor callbacks", "node_get_info": "virNodeGetInfo",
    "node_get_free_memory": "virNodeGetFreeMemory", "node_get_security_model": "virNodeGetSecurityModel",
    "node_get_cells_free_memory": "virNodeGetCellsFreeMemory", "node_get_cpu_map": "virNodeGetCPUMap",
    "domain_snapshot_create_xml": "virDomainSnapshotCreateXML", "domain_list_all_snapshots": "virDomainListAllSnapshots",
    "domain_snapshot_lookup_by_name": "virDomainSnapshotLookupByName",
    "domain_has_current_snapshot": "virDomainHasCurrentSnapshot", "domain_snapshot_current": "virDomainSnapshotCurrent",
    "domain_snapshot_get_xml_desc": "virDomainSnapshotGetXMLDesc", "domain_snapshot_get_parent": "virDomainSnapshotGetParent",
    "domain_snapshot_list_all_children": "virDomainSnapshotListAllChildren",
    "domain_snapshot_is_current": "virDomainSnapshotIsCurrent", "domain_snapshot_has_metadata": "virDomainSnapshotHasMetadata",
    "domain_revert_to_snapshot": "virDomainRevertToSnapshot", "domain_snapshot_delete": "virDomainSnapshotDelete",
}
for _hook, _name in _OTHER_NAMES.items():
    _PUBLIC_NAME.setdefault(_hook, _name)

DRIVER_OPERATIONS: frozenset[str] = frozenset(
    name for name, fn in vars(hookspecs).items()
    if inspect.isfunction(fn) and getattr(fn, "virtkernel_spec", {}).get("firstresult"))
"""Names of every driver operation hook."""


@dataclass
class DriverContext:
    """What a driver receives when a connection opens: the URI, access mode, lifecycle hooks and event bus."""

    uri: ConnectURI
    read_only: bool
    scheme: str
    hooks: LifecycleHooks
    events: EventBus = field(default_factory=EventBus)

    def use_shared_events(self, key: str) -> EventBus:
        """Share one event bus among every connection to the same driver state (e.g. one host root)."""
        self.events = EventBus.shared(key)
        return self.events


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, with hook options parsed once per class instead of on every registration.

    Opening a connection registers a driver with a few hundred attributes; pluggy inspects each one statically,
    which made every open cost tens of milliseconds.
    """

    _impl_options: dict[tuple[type, str], Any] = {}
    _spec_options: dict[tuple[int, str], Any] = {}

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if inspect.ismodule(plugin) or name in getattr(plugin, "__dict__", {}):
            return super().parse_hookimpl_opts(plugin, name)  # per-object attributes are never cached
        key = (type(plugin), name)
        try:
            return self._impl_options[key]
        except KeyError:
            options = self._impl_options[key] = super().parse_hookimpl_opts(plugin, name)
            return options

    def parse_hookspec_opts(self, module_or_class: Any, name: str) -> Any:
        key = (id(module_or_class), name)
        try:
            return self._spec_options[key]
        except KeyError:
            options = self._spec_options[key] = super().parse_hookspec_opts(module_or_class, name)
            return options


class Operations:
    """Driver operations as attributes: ``ops.domain_get_info(dom=ref)``, resolved once and then called directly."""

    def __init__(self, calls: "DriverCalls") -> None:
        self._calls = calls

    def __getattr__(self, hook: str) -> Callable[..., Any]:
        if hook not in DRIVER_OPERATIONS:
            raise AttributeError(f"no driver operation named '{hook}'")
        function = self._calls._resolve_keywords(hook)
        setattr(self, hook, function)  # later lookups are plain attribute reads
        return function


class DriverCalls:
    """A driver instance plus hook plugins in one PluginManager, and typed access to their hooks."""

    def __init__(self, scheme: str, driver: Any, hook_plugins: list[tuple[str, Any]] = ()) -> None:
        self.scheme = scheme
        self.driver = driver
        self.plugin_manager = _PluginManager(hookspecs.PROJECT)
        self.plugin_manager.add_hookspecs(hookspecs)
        self.plugin_manager.register(driver, name=f"driver:{scheme}")
        self._direct: dict[str, Optional[Callable[..., Any]]] = {}
        self.ops = Operations(self)
        for name, plugin in hook_plugins:
            self.register(plugin, name)

    def register(self, plugin: Any, name: str) -> None:
        """Add a plugin (a hook plugin, or a kernel helper) for the lifetime of this driver instance."""
        instance = plugin() if inspect.isclass(plugin) else plugin
        self.plugin_manager.register(instance, name=name)
        self._forget_resolutions()

    def unregister(self, name: str) -> None:
        """Remove a plugin registered under ``name``."""
        self.plugin_manager.unregister(name=name)
        self._forget_resolutions()

    def _forget_resolutions(self) -> None:
        self._direct = {}
        self.ops = Operations(self)

    def _resolve_keywords(self, hook: str) -> Callable[..., Any]:
        """A callable taking the hook's keyword arguments: the implementation itself when that is safe."""
        impls = getattr(self.plugin_manager.hook, hook).get_hookimpls()
        if not impls:
            return self._unsupported(hook)
        spec_args = tuple(inspect.signature(getattr(hookspecs, hook)).parameters)
        if (len(impls) == 1 and not impls[0].hookwrapper and not impls[0].wrapper
                and set(impls[0].argnames) == set(spec_args)):
            return impls[0].function
        direct = self._resolve(hook)
        if direct is not None:
            return direct
        caller = getattr(self.plugin_manager.hook, hook)
        return lambda **kwargs: caller(**kwargs)

    def has(self, hook: str) -> bool:
        """Whether some plugin implements a driver operation."""
        return bool(getattr(self.plugin_manager.hook, hook).get_hookimpls())

    def call(self, hook: str, **kwargs: Any) -> Any:
        """Call a driver operation; raise NoSupport when nobody implements it."""
        direct = self._direct.get(hook, _UNSET)
        if direct is _UNSET:
            direct = self._direct[hook] = self._resolve(hook)
        if direct is None:
            return getattr(self.plugin_manager.hook, hook)(**kwargs)
        return direct(**kwargs)

    def _resolve(self, hook: str) -> Optional[Callable[..., Any]]:
        impls = getattr(self.plugin_manager.hook, hook).get_hookimpls()
        if not impls:
            return self._unsupported(hook)
        if len(impls) == 1 and not impls[0].hookwrapper and not impls[0].wrapper:
            # One plain implementation: call it without pluggy's per-call machinery (the hot path of every call).
            function, argnames = impls[0].function, impls[0].argnames
            if len(argnames) == 0:
                return lambda **_kw: function()
            return lambda **kw: function(*[kw[a] for a in argnames])
        return None

    def _unsupported(self, hook: str) -> Callable[..., Any]:
        public = _PUBLIC_NAME.get(hook, hook)
        # libvirt reports the entry points of its domain API from the domain error area, the rest from none
        area = ErrorDomain.DOMAIN if hook in _DOMAIN_API else ErrorDomain.NONE

        def unsupported(**_kwargs: Any) -> Any:
            raise NoSupport(f"this function is not supported by the connection driver: {public}",
                            code=ErrorCode.NO_SUPPORT, domain=area)
        return unsupported

    def supports(self, feature: DriverFeature) -> bool:
        """The feature probe: True when the driver claims ``feature`` (no implementation means no)."""
        if not self.has("connect_supports_feature"):
            return False
        return bool(self.call("connect_supports_feature", feature=feature))


_UNSET: Any = object()

__all__ = ["DriverContext", "DriverCalls", "DRIVER_OPERATIONS", "VirtError"]
