"""Lifecycle hook points and the caller drivers use to run them on every hook plugin."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from .enums import ErrorCode, ErrorDomain
from .errors import VirtError

log = logging.getLogger(__name__)


class HookPoint(enum.Enum):
    """A point in a domain's (or the hosting process's) life where hook plugins run."""

    PREPARE = "prepare"
    START = "start"
    STARTED = "started"
    STOPPED = "stopped"
    RELEASE = "release"
    MIGRATE = "migrate"
    RESTORE = "restore"
    RECONNECT = "reconnect"
    ATTACH = "attach"
    DAEMON_START = "daemon-start"
    DAEMON_SHUTDOWN = "daemon-shutdown"
    DAEMON_RELOAD = "daemon-reload"

    @property
    def operation(self) -> str:
        """The operation word a libvirt-style hook script receives."""
        return self.value.removeprefix("daemon-")

    @property
    def blocking(self) -> bool:
        """Whether a failure aborts the operation (otherwise it is logged)."""
        return self in _BLOCKING

    @property
    def may_rewrite_xml(self) -> bool:
        """Whether a hook may return replacement domain XML."""
        return self in _REWRITING

    @property
    def spec_name(self) -> str:
        """The pluggy hook name for this point."""
        return _SPEC_NAMES[self]


_BLOCKING = {HookPoint.PREPARE, HookPoint.START, HookPoint.MIGRATE, HookPoint.RESTORE}
_REWRITING = {HookPoint.MIGRATE, HookPoint.RESTORE}
_SPEC_NAMES = {point: (f"daemon_hook_{point.operation}" if point.value.startswith("daemon-")
                       else f"domain_hook_{point.value}") for point in HookPoint}


class DomainHookEvent:
    """What every lifecycle hook receives: which driver, which domain, which operation, and the domain XML.

    ``xml`` may be given as a callable: it is formatted only when a hook first reads it.
    """

    __slots__ = ("point", "driver", "name", "uuid", "_xml", "sub_operation", "extra", "config_dir", "uri",
                 "state_dir")

    def __init__(self, point: HookPoint, driver: str, name: str, uuid: str, xml: Union[str, Callable[[], str]],
                 sub_operation: str = "begin", extra: str = "-", config_dir: Optional[str] = None,
                 uri: Optional[str] = None, state_dir: Optional[str] = None) -> None:
        self.point = point
        self.driver = driver
        self.name = name
        self.uuid = uuid
        self._xml = xml
        self.sub_operation = sub_operation
        self.extra = extra
        self.config_dir = config_dir
        self.uri = uri
        self.state_dir = state_dir

    @property
    def xml(self) -> str:
        """The domain XML."""
        if callable(self._xml):
            self._xml = self._xml()
        return self._xml

    @property
    def operation(self) -> str:
        """The operation word (prepare, start, ..., migrate)."""
        return self.point.operation

    def with_xml(self, xml: str) -> "DomainHookEvent":
        """The same event carrying replacement XML."""
        return DomainHookEvent(self.point, self.driver, self.name, self.uuid, xml, self.sub_operation, self.extra,
                               self.config_dir, self.uri, self.state_dir)

    def __repr__(self) -> str:
        return (f"DomainHookEvent(point={self.point.name}, driver={self.driver!r}, name={self.name!r}, "
                f"uuid={self.uuid!r}, sub_operation={self.sub_operation!r}, extra={self.extra!r})")


class HookFailed(VirtError):
    """A blocking lifecycle hook refused the operation."""

    default_code = ErrorCode.HOOK_SCRIPT_FAILED

    def __init__(self, point: HookPoint, plugin: str, message: str) -> None:
        super().__init__(f"hook '{plugin}' refused {point.operation}: {message}",
                         code=ErrorCode.HOOK_SCRIPT_FAILED, domain=ErrorDomain.HOOK)
        self.point = point
        self.plugin = plugin
        self.reason = message


@dataclass
class LifecycleHooks:
    """Runs one hook point on every registered hook plugin, in registration order."""

    plugin_manager: Any
    driver: str
    config_dir: Optional[str] = None
    uri: Optional[str] = None
    validate_xml: Any = field(default=None, repr=False)
    state_dir: Optional[str] = None

    def run(self, point: HookPoint, *, name: str, uuid: str, xml: Union[str, Callable[[], str]],
            sub_operation: str = "begin", extra: str = "-") -> Optional[str]:
        """Run ``point`` on every hook plugin, in registration order.

        For migrate and restore, returns the domain XML to use (a hook's replacement, or the XML given); for the
        other points returns None. ``xml`` may be a callable: it is formatted only if something reads it.
        A blocking point raises HookFailed on the first plugin that fails; other points log and go on.
        """
        impls = getattr(self.plugin_manager.hook, _SPEC_NAMES[point]).get_hookimpls()
        rewrites = point in _REWRITING
        if not impls:
            return (xml() if callable(xml) else xml) if rewrites else None
        blocking = point in _BLOCKING
        event = DomainHookEvent(point, self.driver, name, uuid, xml, sub_operation, extra, self.config_dir, self.uri,
                                self.state_dir)
        for impl in impls:
            try:
                result = impl.function(event=event)
            except Exception as exc:  # a hook plugin may raise anything; the user sees one clear error
                plugin_name = self.plugin_manager.get_name(impl.plugin) or impl.plugin_name
                message = exc.message if isinstance(exc, VirtError) else str(exc) or type(exc).__name__
                if blocking:
                    raise HookFailed(point, plugin_name, message) from exc
                log.warning("hook '%s' failed at %s of domain '%s' (ignored): %s", plugin_name, point.operation,
                            name, message)
                continue
            if rewrites and isinstance(result, str) and result.strip():
                if self.validate_xml is not None:
                    try:
                        self.validate_xml(result, uuid)
                    except VirtError as exc:
                        plugin_name = self.plugin_manager.get_name(impl.plugin) or impl.plugin_name
                        raise HookFailed(point, plugin_name, f"returned invalid domain XML: {exc.message}") from exc
                event = event.with_xml(result)
        return event.xml if rewrites else None

    def has_plugins(self) -> bool:
        """Whether any hook plugin is registered."""
        return any(getattr(self.plugin_manager.hook, p.spec_name).get_hookimpls() for p in HookPoint)


_DAEMON_POINTS = {HookPoint.DAEMON_START: "start", HookPoint.DAEMON_SHUTDOWN: "shutdown",
                  HookPoint.DAEMON_RELOAD: "begin"}


def run_daemon_hooks(point: HookPoint, config_dir: Optional[str] = None, state_dir: Optional[str] = None,
                     plugins: Optional[list[tuple[str, Any]]] = None) -> None:
    """Run a daemon hook point (start, shutdown, reload) of the process hosting the drivers on every hook plugin.

    A failure is logged, never raised: a hook must not keep the host process from starting or stopping.
    """
    import pluggy

    from . import hookspecs
    from .discovery import load_hook_plugins

    if point not in _DAEMON_POINTS:
        raise ValueError(f"{point} is not a daemon hook point")
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name, plugin in (plugins if plugins is not None else load_hook_plugins()[0]):
        manager.register(plugin() if isinstance(plugin, type) else plugin, name=name)
    extra = "SIGHUP" if point is HookPoint.DAEMON_RELOAD else "-"
    event = DomainHookEvent(point=point, driver="daemon", name="-", uuid="-", xml="",
                            sub_operation=_DAEMON_POINTS[point], extra=extra, config_dir=config_dir,
                            state_dir=state_dir)
    for impl in getattr(manager.hook, point.spec_name).get_hookimpls():
        try:
            impl.function(event=event)
        except Exception as exc:  # logged: the hosting process goes on
            log.warning("daemon hook '%s' failed at %s: %s", impl.plugin_name, point.operation, exc)
