"""Fixtures for the test driver's behaviour tests: connections, host files and an event recorder."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest

import virtkernel
from virtkernel import Connection
from virtkernel.enums import DomainEventID

NEW_UUID = "c7a5fdbd-edaf-9455-926a-d65c16db1809"
OTHER_UUID = "c7a5fdbd-edaf-9455-926a-d65c16db1810"
DEFAULT_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"


def domain_xml(name: str = "fresh", uuid: str | None = NEW_UUID, memory: int = 262144, vcpus: int = 1,
               devices: str = "", extra: str = "") -> str:
    """A small domain definition."""
    uuid_line = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (f"<domain type='test'><name>{name}</name>{uuid_line}<memory unit='KiB'>{memory}</memory>"
            f"<vcpu>{vcpus}</vcpu><os><type>hvm</type></os>{extra}<devices>{devices}</devices></domain>")


@pytest.fixture
def conn() -> Iterator[Connection]:
    """A connection to test:///default (fresh state: no other connection is open in these tests)."""
    connection = virtkernel.open("test:///default")
    yield connection
    if not connection.closed:
        connection.close()


@pytest.fixture
def host_file(tmp_path: Path) -> Callable[[str], str]:
    """Write a host description (the text inside <node>) and return its test:/// URI."""
    def write(body: str, name: str = "host.xml") -> str:
        path = tmp_path / name
        path.write_text("<node>\n" + textwrap.dedent(body) + "\n</node>\n")
        return f"test://{path}"
    return write


class EventLog:
    """Lifecycle events delivered to a connection, as (domain name, event, detail)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.seen: list[tuple[str, int, int]] = []
        self.callback_id = connection.domain_event_register_any(None, DomainEventID.LIFECYCLE, self._record)

    def _record(self, _conn: Connection, dom: virtkernel.Domain, event: int, detail: int, _opaque: object) -> None:
        self.seen.append((dom.name, event, detail))

    def take(self) -> list[tuple[str, int, int]]:
        """Everything delivered since the last call."""
        self.connection.flush_events()
        seen, self.seen = self.seen, []
        return seen


@pytest.fixture
def events(conn: Connection) -> EventLog:
    """Lifecycle events of ``conn``."""
    return EventLog(conn)


@pytest.fixture
def make_xml() -> Callable[..., str]:
    """The ``domain_xml`` builder."""
    return domain_xml


@pytest.fixture
def event_log_of() -> Callable[[Connection], EventLog]:
    """Start recording the lifecycle events of any connection."""
    return EventLog
