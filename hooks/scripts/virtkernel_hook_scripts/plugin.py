"""The hook plugin: every lifecycle point runs the matching libvirt-style hook scripts."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Union

from virtkernel import hookimpl
from virtkernel.lifecycle import HookPoint

from .locate import find_scripts, hook_dir
from .runner import HookCall, run_chain
from .settings import ScriptSettings

DAEMON = "daemon"
"""The script name (HOOKDIR/daemon, HOOKDIR/daemon.d/) for the process hosting the drivers."""

# libvirt's arguments for its daemon script: OBJECT_NAME OPERATION SUB_OPERATION EXTRA.
_DAEMON_ARGUMENTS = {
    HookPoint.DAEMON_START: ("-", "start", "-", "start"),
    HookPoint.DAEMON_SHUTDOWN: ("-", "shutdown", "-", "shutdown"),
    HookPoint.DAEMON_RELOAD: ("-", "reload", "begin", "SIGHUP"),
}


def domain_call(event: Any) -> HookCall:
    """The script call for a domain lifecycle event."""
    point: HookPoint = event.point
    return HookCall(object_name=event.name, operation=point.operation, sub_operation=event.sub_operation,
                    extra=event.extra, xml=event.xml, blocking=point.blocking, rewrites_xml=point.may_rewrite_xml)


def daemon_call(point: HookPoint) -> HookCall:
    """The script call for a daemon event (no XML on stdin)."""
    return HookCall(*_DAEMON_ARGUMENTS[point], xml="", blocking=point.blocking, rewrites_xml=False)


def run_scripts(config_dir: Optional[str], kind: str, call: Union[HookCall, Callable[[], HookCall]]) -> Optional[str]:
    """Run HOOKDIR/<kind> and HOOKDIR/<kind>.d/* for a call; the replacement XML or None.

    ``call`` may be a callable: the call (and with it the domain XML) is built only when scripts exist.
    """
    if not config_dir:
        return None
    hookdir = hook_dir(config_dir)
    if not os.path.isdir(hookdir):  # the common case, checked with one system call
        return None
    scripts = find_scripts(hookdir, kind)
    if not scripts:
        return None
    settings = ScriptSettings.load(hookdir)
    return run_chain(scripts, call() if callable(call) else call, settings.timeout)


class HookScripts:
    """Runs HOOKDIR/<driver> and HOOKDIR/<driver>.d/* at every lifecycle point, HOOKDIR = CONFIG_DIR/hooks."""

    def _domain(self, event: Any) -> Optional[str]:
        return run_scripts(event.config_dir, event.driver, lambda: domain_call(event))

    @hookimpl
    def domain_hook_prepare(self, event: Any) -> None:
        """Run `<driver> NAME prepare begin -` before anything of a start is done."""
        self._domain(event)

    @hookimpl
    def domain_hook_start(self, event: Any) -> None:
        """Run `<driver> NAME start begin -` just before the guest starts."""
        self._domain(event)

    @hookimpl
    def domain_hook_started(self, event: Any) -> None:
        """Run `<driver> NAME started begin -` once the guest runs."""
        self._domain(event)

    @hookimpl
    def domain_hook_stopped(self, event: Any) -> None:
        """Run `<driver> NAME stopped end -` after the guest stopped."""
        self._domain(event)

    @hookimpl
    def domain_hook_release(self, event: Any) -> None:
        """Run `<driver> NAME release end -` once every resource of the guest is released."""
        self._domain(event)

    @hookimpl
    def domain_hook_migrate(self, event: Any) -> Optional[str]:
        """Run `<driver> NAME migrate begin -` on the destination; a script's stdout may replace the XML."""
        return self._domain(event)

    @hookimpl
    def domain_hook_restore(self, event: Any) -> Optional[str]:
        """Run `<driver> NAME restore begin -` before a saved image starts; stdout may replace the XML."""
        return self._domain(event)

    @hookimpl
    def domain_hook_reconnect(self, event: Any) -> None:
        """Run `<driver> NAME reconnect begin -` when a running guest is picked up again."""
        self._domain(event)

    @hookimpl
    def domain_hook_attach(self, event: Any) -> None:
        """Run `<driver> NAME attach begin -` for a guest taken over from outside."""
        self._domain(event)

    @hookimpl
    def daemon_hook_start(self, event: Any) -> None:
        """Run `daemon - start - start` when the process hosting the drivers starts."""
        run_scripts(event.config_dir, DAEMON, daemon_call(HookPoint.DAEMON_START))

    @hookimpl
    def daemon_hook_shutdown(self, event: Any) -> None:
        """Run `daemon - shutdown - shutdown` when it shuts down."""
        run_scripts(event.config_dir, DAEMON, daemon_call(HookPoint.DAEMON_SHUTDOWN))

    @hookimpl
    def daemon_hook_reload(self, event: Any) -> None:
        """Run `daemon - reload begin SIGHUP` when it reloads its configuration."""
        run_scripts(event.config_dir, DAEMON, daemon_call(HookPoint.DAEMON_RELOAD))
