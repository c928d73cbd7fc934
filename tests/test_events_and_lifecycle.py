"""Events reach callbacks on the right connection; lifecycle hooks run in order and abort when they must."""

from __future__ import annotations

import asyncio
import threading

import pytest

import virtkernel
from virtkernel import DomainEventID, DomainEventType, HookPoint, hookimpl
from virtkernel.lifecycle import HookFailed


def test_lifecycle_events_reach_callbacks_with_domain_handles(open_fake) -> None:
    conn = open_fake()
    seen = []
    delivered = threading.Event()

    def callback(c, dom, event, detail, opaque):
        seen.append((c is conn, dom.name, event, detail, opaque, threading.current_thread() is not threading.main_thread()))
        delivered.set()

    callback_id = conn.domain_event_register_any(None, DomainEventID.LIFECYCLE, callback, "cookie")
    dom = conn.lookup_by_name("fake")
    conn.events.emit_lifecycle(dom.ref, DomainEventType.SUSPENDED, 0)
    assert conn.flush_events() and delivered.is_set()
    assert seen == [(True, "fake", DomainEventType.SUSPENDED, 0, "cookie", True)]
    conn.domain_event_deregister_any(callback_id)
    conn.events.emit_lifecycle(dom.ref, DomainEventType.RESUMED, 0)
    conn.flush_events()
    assert len(seen) == 1
    with pytest.raises(virtkernel.InvalidArg):
        conn.domain_event_deregister_any(callback_id)


def test_event_registration_checks(open_fake) -> None:
    conn = open_fake()
    with pytest.raises(virtkernel.InvalidArg):
        conn.domain_event_register_any(None, len(DomainEventID), lambda *a: None)
    with pytest.raises(virtkernel.InvalidArg):
        conn.domain_event_register_any(None, -1, lambda *a: None)
    with pytest.raises(virtkernel.InvalidArg):
        conn.domain_event_register_any(None, 0, None)
    other = open_fake()
    with pytest.raises(virtkernel.InvalidArg, match="another connection"):
        conn.domain_event_register_any(other.lookup_by_name("fake"), 0, lambda *a: None)


def test_a_failing_callback_does_not_stop_the_others(open_fake) -> None:
    conn = open_fake()
    got = []
    conn.domain_event_register_any(None, DomainEventID.REBOOT, lambda *a: 1 / 0)
    conn.domain_event_register_any(None, DomainEventID.REBOOT, lambda c, d, o: got.append(d.name))
    conn.events.emit(DomainEventID.REBOOT, conn.lookup_by_name("fake").ref)
    conn.flush_events()
    assert got == ["fake"]


def test_closing_a_connection_drops_its_callbacks(open_fake) -> None:
    conn = open_fake()
    got = []
    conn.domain_event_register_any(None, DomainEventID.REBOOT, lambda c, d, o: got.append(1))
    bus, ref = conn.events, conn.lookup_by_name("fake").ref
    conn.close()
    bus.emit(DomainEventID.REBOOT, ref)
    bus.flush()
    assert got == [] and not bus.has_subscribers()


def test_the_asyncio_stream(open_fake) -> None:
    conn = open_fake()
    ref = conn.lookup_by_name("fake").ref

    async def main():
        stream = conn.event_stream()
        conn.events.emit_lifecycle(ref, DomainEventType.STARTED, 1)
        event = await asyncio.wait_for(stream.__anext__(), 5)
        stream.close()
        return event

    event = asyncio.run(main())
    assert (event.event_id, event.domain.name, event.args) == (DomainEventID.LIFECYCLE, "fake", (2, 1))


class Recording:
    def __init__(self, log, name, fail_at=None, rewrite=None):
        self.log, self.name, self.fail_at, self.rewrite = log, name, fail_at, rewrite

    def _record(self, event):
        self.log.append((self.name, event.operation, event.sub_operation, event.name))
        if event.operation == self.fail_at:
            raise RuntimeError(f"{self.name} says no")

    @hookimpl
    def domain_hook_prepare(self, event):
        self._record(event)

    @hookimpl
    def domain_hook_stopped(self, event):
        self._record(event)

    @hookimpl
    def domain_hook_restore(self, event):
        self._record(event)
        return self.rewrite(event.xml) if self.rewrite else None


XML = "<domain type='test'><name>d1</name><uuid>11111111-2222-3333-4444-555555555555</uuid></domain>"


def test_hooks_run_in_registration_order_and_a_blocking_failure_aborts(open_fake) -> None:
    log = []
    conn = open_fake(hook_plugins=[("first", Recording(log, "first")), ("second", Recording(log, "second", "prepare"))])
    hooks = conn._context.hooks
    with pytest.raises(HookFailed) as info:
        hooks.run(HookPoint.PREPARE, name="d1", uuid="11111111-2222-3333-4444-555555555555", xml=XML)
    assert log == [("first", "prepare", "begin", "d1"), ("second", "prepare", "begin", "d1")]
    assert info.value.code == virtkernel.ErrorCode.HOOK_SCRIPT_FAILED
    assert "second says no" in info.value.message


def test_non_blocking_failures_are_logged_and_the_rest_still_run(open_fake, caplog) -> None:
    log = []
    conn = open_fake(hook_plugins=[("a", Recording(log, "a", "stopped")), ("b", Recording(log, "b"))])
    conn._context.hooks.run(HookPoint.STOPPED, name="d1", uuid="u", xml=XML, sub_operation="end")
    assert [entry[0] for entry in log] == ["a", "b"]
    assert "a says no" in caplog.text


def test_restore_hooks_may_rewrite_the_xml_and_it_is_validated(open_fake) -> None:
    log = []
    uuid = "11111111-2222-3333-4444-555555555555"
    rename = Recording(log, "rename", rewrite=lambda xml: xml.replace("d1", "d2"))
    conn = open_fake(hook_plugins=[("rename", rename)])
    assert "<name>d2</name>" in conn._context.hooks.run(HookPoint.RESTORE, name="d1", uuid=uuid, xml=XML)

    broken = Recording(log, "broken", rewrite=lambda xml: "<domain type='test'><name>x</name")
    conn = open_fake(hook_plugins=[("broken", broken)])
    with pytest.raises(HookFailed, match="returned invalid domain XML"):
        conn._context.hooks.run(HookPoint.RESTORE, name="d1", uuid=uuid, xml=XML)

    other = Recording(log, "other", rewrite=lambda xml: xml.replace("11111111", "99999999"))
    conn = open_fake(hook_plugins=[("other", other)])
    with pytest.raises(HookFailed, match="changes the domain's UUID"):
        conn._context.hooks.run(HookPoint.RESTORE, name="d1", uuid=uuid, xml=XML)


def test_daemon_hooks_run_on_every_plugin_and_failures_are_only_logged(caplog) -> None:
    from virtkernel.lifecycle import run_daemon_hooks

    seen = []

    class Plugin:
        def __init__(self, name, fail=False):
            self.name, self.fail = name, fail

        @hookimpl
        def daemon_hook_start(self, event):
            seen.append((self.name, event.operation, event.sub_operation, event.config_dir))
            if self.fail:
                raise RuntimeError("no start for you")

    run_daemon_hooks(HookPoint.DAEMON_START, config_dir="/etc/virtkernel",
                     plugins=[("a", Plugin("a", fail=True)), ("b", Plugin("b"))])
    assert seen == [("a", "start", "start", "/etc/virtkernel"), ("b", "start", "start", "/etc/virtkernel")]
    assert "no start for you" in caplog.text
    with pytest.raises(ValueError):
        run_daemon_hooks(HookPoint.PREPARE)
