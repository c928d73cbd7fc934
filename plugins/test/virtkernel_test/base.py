"""The test driver's connection plumbing and the shared steps every operation uses (lookup, start, stop, events)."""

from __future__ import annotations

import os
import weakref
from typing import Any, Optional

from virtkernel import checks, hookimpl
from virtkernel.enums import (DomainEventID, DomainEventStartedDetailType as Started,
                              DomainEventStoppedDetailType as Stopped, DomainEventSuspendedDetailType as Suspended,
                              DomainEventType as Event, DomainPausedReason, DomainRunningReason, DomainState,
                              ErrorCode, ErrorDomain)
from virtkernel.errors import InvalidArg, OperationInvalid, VirtError
from virtkernel.lifecycle import HookFailed, HookPoint
from virtkernel.types import DomainRef

from .guest import Guest
from .host import load_host_file
from .state import DEFAULT_HOST, HostState, new_file_state

CONFIG_QUERIES = ("config", "hooks")
"""URI query parameters naming the connection's configuration directory (``hooks`` is an older alias).

The rule for ``context.hooks.config_dir``: ``?config=DIR`` (or ``?hooks=DIR``) when given; otherwise, for a host
file, the file's own directory; for test:///default, none. Hook plugins look below it (hook scripts in
CONFIG_DIR/hooks, device setup in CONFIG_DIR/device-setup.toml).
"""


def check_flags(flags: int, allowed: int, function: str) -> None:
    """Refuse any flag outside ``allowed``."""
    checks.check_flags(flags, allowed, function, ErrorDomain.TEST)


def not_running() -> OperationInvalid:
    """The error for a call that needs a running guest."""
    return OperationInvalid("domain is not running", code=ErrorCode.OPERATION_INVALID, domain=ErrorDomain.DOMAIN)


def exclusive_live_config(flags: int) -> None:
    """Getters and setters that work on exactly one definition refuse LIVE together with CONFIG."""
    if flags & 1 and flags & 2:
        raise InvalidArg("Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive",
                         code=ErrorCode.INVALID_ARG, domain=ErrorDomain.DOMAIN)


def test_error(code: ErrorCode, message: str) -> VirtError:
    """An error reported by the test driver itself."""
    return VirtError(message, code=code, domain=ErrorDomain.TEST)


class _Release:
    """Gives the shared default state back once, on close or when the driver object is collected."""

    def __init__(self) -> None:
        self.done = False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            DEFAULT_HOST.release()


class DriverBase:
    """Connection-level state of one test connection and helpers shared by the operation mixins."""

    host: HostState
    context: Any

    # -- connection -------------------------------------------------------------------------------------------

    @hookimpl
    def connect_open(self, context: Any) -> bool:
        uri = context.uri
        if uri.host:
            raise VirtError(f"the test driver serves only local URIs, not host '{uri.host}'",
                            code=ErrorCode.NO_CONNECT, domain=ErrorDomain.TEST)
        path = uri.path
        release: Optional[_Release] = None
        if path == "/default":
            self.host = DEFAULT_HOST.acquire()
            release = _Release()
            weakref.finalize(self, release)
        elif path in ("", "/"):
            raise test_error(ErrorCode.INVALID_ARG, "testOpen: supply a path or use test:///default")
        else:
            if not os.path.isabs(path):
                raise test_error(ErrorCode.INVALID_ARG, f"the test host file path '{path}' must be absolute")
            self.host = new_file_state(load_host_file(path))
        self._release = release
        self.context = context
        self.events = context.use_shared_events(self.host.key)
        context.hooks.config_dir = self._hooks_dir(uri)
        return True

    def _hooks_dir(self, uri: Any) -> Optional[str]:
        for name in CONFIG_QUERIES:
            explicit = uri.param(name)
            if explicit:
                return explicit
        return self.host.directory or None

    @hookimpl
    def connect_close(self) -> int:
        release = getattr(self, "_release", None)
        if release is not None:
            release()
        return 0

    # -- lookup -----------------------------------------------------------------------------------------------

    def guest(self, dom: DomainRef) -> Guest:
        """The guest behind a reference (NO_DOMAIN when it is gone)."""
        guest = self.host.by_uuid.get(dom.uuid)
        if guest is None:
            return self.host.get(dom)
        return guest

    def active_guest(self, dom: DomainRef) -> Guest:
        """The guest behind a reference, which must be running (OPERATION_INVALID otherwise)."""
        guest = self.guest(dom)
        if guest.id < 0:
            raise not_running()
        return guest

    # -- events and hooks -------------------------------------------------------------------------------------

    def emit(self, guest: Guest, event: int, detail: int) -> None:
        """Queue a lifecycle event for ``guest``."""
        self.events.emit(DomainEventID.LIFECYCLE, guest.ref, int(event), int(detail))

    def _hooks_present(self) -> bool:
        return self.context.hooks.has_plugins()

    def run_hook(self, point: HookPoint, guest: Guest, xml: Optional[str] = None, sub: str = "begin") -> str:
        """Run one lifecycle hook point for ``guest``; returns the (possibly replaced) XML."""
        text = xml if xml is not None else guest.xml  # formatted only if a hook reads it
        return self.context.hooks.run(point, name=guest.name, uuid=guest.uuid, xml=text, sub_operation=sub)

    # -- start and stop ---------------------------------------------------------------------------------------

    def start_guest(self, guest: Guest, reason: int = DomainRunningReason.BOOTED, paused: bool = False,
                    detail: int = Started.BOOTED, emit: bool = True, paused_reason: int = DomainPausedReason.USER,
                    suspended_detail: Optional[int] = Suspended.PAUSED) -> DomainRef:
        """Start a guest: prepare/start hooks, a new id, the started hook, and the STARTED event.

        ``paused`` leaves it paused with ``paused_reason``, announced by a SUSPENDED event with
        ``suspended_detail`` unless that is None.

        A failing prepare or start hook leaves the guest exactly as it was (shut off, no id) after running the
        stopped and release hooks, as libvirt does when a start fails.
        """
        host = self.host
        hooks = self._hooks_present()
        if hooks:
            try:
                self.run_hook(HookPoint.PREPARE, guest)
                self.run_hook(HookPoint.START, guest)
            except HookFailed:
                self._failed_start_hooks(guest)
                raise
        guest.start(host.allocate_id(), DomainState.RUNNING, reason)
        host.by_id[guest.id] = guest
        if paused:
            guest.set_state(DomainState.PAUSED, paused_reason)
        if hooks:
            self.run_hook(HookPoint.STARTED, guest)
        if emit:
            self.emit(guest, Event.STARTED, detail)
            if paused and suspended_detail is not None:
                self.emit(guest, Event.SUSPENDED, suspended_detail)
        return guest.ref

    def _failed_start_hooks(self, guest: Guest) -> None:
        xml = guest.xml()
        self.run_hook(HookPoint.STOPPED, guest, xml, "end")
        self.run_hook(HookPoint.RELEASE, guest, xml, "end")

    def stop_guest(self, guest: Guest, reason: int, detail: Optional[int] = Stopped.DESTROYED) -> DomainRef:
        """Stop a running guest: the STOPPED event, stopped/release hooks, and removal of a transient guest."""
        host = self.host
        hooks = self._hooks_present()
        xml = guest.xml() if hooks else ""
        host.by_id.pop(guest.id, None)
        guest.stop(reason)
        if detail is not None:
            self.emit(guest, Event.STOPPED, detail)
        if hooks:
            self.run_hook(HookPoint.STOPPED, guest, xml, "end")
            self.run_hook(HookPoint.RELEASE, guest, xml, "end")
        if not guest.persistent:
            host.remove(guest)
        return guest.ref
