"""Domain events through the facade: the default event loop runs callbacks in the thread that pumps it."""

from __future__ import annotations

import os
import threading

import pytest

from virtkernel import libvirt
from virtkernel.libvirt import eventloop

pytestmark = pytest.mark.timeout(60)

BETA = "<domain type='test'><name>beta</name><memory>1024</memory><os><type>hvm</type></os></domain>"


@pytest.fixture
def default_loop() -> None:
    """Register the default loop for one test, then go back to dispatcher-thread delivery."""
    before = eventloop.LOOP.registered
    libvirt.virEventRegisterDefaultImpl()
    yield
    eventloop.LOOP.registered = before


@pytest.fixture
def no_loop():
    """No registered loop for one test (another test may have registered the default one)."""
    before = eventloop.LOOP.registered
    eventloop.LOOP.registered = False
    yield
    eventloop.LOOP.registered = before


def pump() -> None:
    """What programs (and the golden runner) do: iterate until a zero timer has fired."""
    fired: list[int] = []
    timer = libvirt.virEventAddTimeout(0, lambda timer_id, opaque: fired.append(timer_id), None)
    while not fired:
        libvirt.virEventRunDefaultImpl()
    assert libvirt.virEventRemoveTimeout(timer) == 0
    assert fired[0] == timer


def test_callbacks_run_inside_run_default_impl_with_libvirt_python_arguments(mini: str, default_loop: None) -> None:
    conn = libvirt.open(mini)
    seen: list[tuple] = []

    def lifecycle(cb_conn, dom, event, detail, opaque) -> None:
        seen.append((cb_conn, type(dom), dom.name(), event, detail, opaque, threading.current_thread()))

    callback_id = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle, "op")
    dom = conn.lookupByName("alpha")
    dom.suspend()
    conn._o.flush_events()
    assert seen == []  # queued for the loop, not run on the dispatcher thread
    pump()
    assert seen == [(conn, libvirt.virDomain, "alpha", libvirt.VIR_DOMAIN_EVENT_SUSPENDED,
                     libvirt.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED, "op", threading.current_thread())]
    # A call's events are delivered by the first iteration after it returns.
    dom.destroy()
    pump()
    assert seen[-1][3:5] == (libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED)
    assert conn.domainEventDeregisterAny(callback_id) == 0
    dom.create()
    pump()
    assert len(seen) == 2
    del dom
    assert conn.close() == 0


def test_legacy_lifecycle_registration(mini: str, default_loop: None, quiet_errors: list) -> None:
    conn = libvirt.open(mini)
    seen: list[tuple] = []

    def lifecycle(_conn, dom, event, detail, opaque) -> None:
        seen.append((dom.name(), event, opaque))

    assert conn.domainEventRegister(lifecycle, 7) == 0
    conn.defineXML(BETA)
    pump()
    assert seen == [("beta", libvirt.VIR_DOMAIN_EVENT_DEFINED, 7)]
    assert conn.domainEventDeregister(lifecycle) == 0
    with pytest.raises(libvirt.libvirtError):
        conn.domainEventDeregister(lifecycle)
    conn.close()


def test_per_domain_registration_only_sees_that_domain(mini: str, default_loop: None) -> None:
    conn = libvirt.open(mini)
    beta = conn.defineXML(BETA)
    seen: list[str] = []
    conn.domainEventRegisterAny(beta, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                lambda _c, dom, *_rest: seen.append(dom.name()), None)
    conn.lookupByName("alpha").destroy()
    beta.create()
    pump()
    assert seen == ["beta"]
    del beta
    conn.close()


def test_without_a_registered_loop_callbacks_run_on_the_dispatcher_thread(mini: str, no_loop: None) -> None:
    conn = libvirt.open(mini)
    threads: list[threading.Thread] = []
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                lambda *_args: threads.append(threading.current_thread()), None)
    conn.lookupByName("alpha").suspend()
    conn._o.flush_events()
    assert len(threads) == 1 and threads[0] is not threading.current_thread()
    conn.close()


def test_timers_repeat_until_removed_and_can_be_disabled() -> None:
    ticks: list[int] = []
    timer = libvirt.virEventAddTimeout(1, lambda timer_id, opaque: ticks.append(opaque), 5)
    while len(ticks) < 3:
        libvirt.virEventRunDefaultImpl()
    assert ticks == [5, 5, 5]
    libvirt.virEventUpdateTimeout(timer, -1)
    stopper = libvirt.virEventAddTimeout(0, lambda *_a: None, None)
    libvirt.virEventRunDefaultImpl()
    assert ticks == [5, 5, 5]
    assert libvirt.virEventRemoveTimeout(timer) == 0
    assert libvirt.virEventRemoveTimeout(timer) == -1
    libvirt.virEventRemoveTimeout(stopper)


def test_handles_report_readable_file_descriptors() -> None:
    read_end, write_end = os.pipe()
    try:
        seen: list[tuple[int, int, str]] = []
        watch = libvirt.virEventAddHandle(read_end, libvirt.VIR_EVENT_HANDLE_READABLE,
                                          lambda w, fd, events, opaque: seen.append((fd, events, opaque)), "pipe")
        os.write(write_end, b"x")
        libvirt.virEventRunDefaultImpl()
        assert seen == [(read_end, libvirt.VIR_EVENT_HANDLE_READABLE, "pipe")]
        assert libvirt.virEventRemoveHandle(watch) == 0
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_loop_thread_receives_events_as_they_happen(mini: str, default_loop: None) -> None:
    """The common libvirt-python pattern: a daemon thread runs the default loop forever."""
    conn = libvirt.open(mini)
    received = threading.Event()
    threads: list[threading.Thread] = []

    def lifecycle(_conn, _dom, event, _detail, _opaque) -> None:
        threads.append(threading.current_thread())
        received.set()

    stop = threading.Event()

    def run_loop() -> None:
        while not stop.is_set():
            libvirt.virEventRunDefaultImpl()

    loop_thread = threading.Thread(target=run_loop, daemon=True)
    loop_thread.start()
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle, None)
    conn.lookupByName("alpha").suspend()
    assert received.wait(10)
    assert threads == [loop_thread]
    stop.set()
    libvirt.virEventRemoveTimeout(libvirt.virEventAddTimeout(0, lambda *_a: None, None))  # wake the loop
    loop_thread.join(10)
    assert not loop_thread.is_alive()
    conn.close()
