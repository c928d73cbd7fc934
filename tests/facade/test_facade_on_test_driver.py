"""The facade on the real test driver: event callbacks of other event ids get libvirt-python's arguments."""

from __future__ import annotations

import os

import pytest

import virtkernel
from virtkernel import libvirt
from virtkernel.libvirt import eventloop

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def conn():
    """A facade connection to test:///default (the test driver must be installed)."""
    try:
        virtkernel.open("test:///default").close()
    except virtkernel.VirtError as error:
        if IN_CI:
            pytest.fail(f"the test driver is not installed: {error}")
        pytest.skip(f"the test driver is not installed: {error}")
    before = eventloop.LOOP.registered
    libvirt.virEventRegisterDefaultImpl()
    connection = libvirt.open("test:///default")
    yield connection
    eventloop.LOOP.registered = before


def pump() -> None:
    """One round of the default loop after a call."""
    fired: list[int] = []
    timer = libvirt.virEventAddTimeout(0, lambda timer_id, _opaque: fired.append(timer_id), None)
    while not fired:
        libvirt.virEventRunDefaultImpl()
    libvirt.virEventRemoveTimeout(timer)


def test_reboot_callbacks_get_conn_dom_opaque(conn) -> None:
    seen: list[tuple] = []
    callback_id = conn.domainEventRegisterAny(
        None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, lambda c, dom, opaque: seen.append((c, dom.name(), opaque)), 42)
    dom = conn.lookupByName("test")
    dom.reboot(0)
    pump()
    assert seen == [(conn, "test", 42)]
    conn.domainEventDeregisterAny(callback_id)
    del dom
    assert conn.close() == 0


def test_a_domain_handle_follows_start_and_stop(conn) -> None:
    dom = conn.lookupByName("test")
    first_id = dom.ID()
    dom.destroy()
    assert dom.ID() == -1
    dom.create()
    assert dom.ID() > first_id
    assert conn.lookupByID(dom.ID()).name() == "test"
    del dom
    assert conn.close() == 0
