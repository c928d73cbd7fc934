"""CLI test fixtures: run the command line in-process, and a small driver for what test:///default cannot give
(a slow job to watch and abort, and a console to talk to)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import pytest

from virtkernel import DomainRef, NoDomain, hookimpl
from virtkernel.connection import Connection
from virtkernel.enums import (DomainEventStoppedDetailType, DomainEventType, DomainJobType, DomainState,
                              ErrorCode)
from virtkernel.errors import OperationInvalid, VirtError
from virtkernel.cli.main import main
from virtkernel.types import DomainInfo, NodeInfo
from virtkernel.uri import parse_uri

SLOW = DomainRef("slow", "0b5bf8f4-27f1-4cc9-a6a8-6f0bdb0a3f10", 7)
TOTAL = 1000


class SlowDriver:
    """One running domain 'slow' whose save takes a while, reports progress and can be aborted."""

    def __init__(self, save_seconds: float = 3.0) -> None:
        self.save_seconds = save_seconds
        self.remaining = 0
        self.in_job = threading.Event()
        self.abort = threading.Event()
        self.aborted_calls = 0
        self.running = True
        self.console_peer: Optional[Any] = None

    def opener(self) -> Callable[[Optional[str], bool], Connection]:
        """An opener for main(argv, opener=...) that connects to this driver whatever the URI."""
        def open_fake(uri: Optional[str], read_only: bool) -> Connection:
            return Connection._open(parse_uri("slowfake:///"), lambda: self, [], read_only)
        return open_fake

    @hookimpl
    def connect_open(self, context: Any) -> bool:
        self.context = context
        return True

    @hookimpl
    def connect_list_all_domains(self, flags: int) -> list[DomainRef]:
        return [SLOW]

    @hookimpl
    def domain_lookup_by_name(self, name: str) -> DomainRef:
        if name != SLOW.name:
            raise NoDomain(f"no domain named '{name}'", code=ErrorCode.NO_DOMAIN)
        return SLOW

    @hookimpl
    def domain_lookup_by_id(self, id: int) -> DomainRef:
        if id != SLOW.id:
            raise NoDomain(f"no domain with id {id}", code=ErrorCode.NO_DOMAIN)
        return SLOW

    @hookimpl
    def domain_lookup_by_uuid(self, uuid: str) -> DomainRef:
        if uuid != SLOW.uuid:
            raise NoDomain(f"no domain with uuid {uuid}", code=ErrorCode.NO_DOMAIN)
        return SLOW

    @hookimpl
    def domain_get_state(self, dom: DomainRef, flags: int) -> tuple[int, int]:
        return (DomainState.RUNNING, 1) if self.running else (DomainState.SHUTOFF, 5)

    @hookimpl
    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        state = DomainState.RUNNING if self.running else DomainState.SHUTOFF
        return DomainInfo(state, 1024, 1024, 1, 0)

    @hookimpl
    def node_get_info(self) -> NodeInfo:
        return NodeInfo("x86_64", 4096, 4, 1000, 1, 1, 4, 1)

    @hookimpl
    def domain_save(self, dom: DomainRef, to: str, dxml: Optional[str], flags: int) -> int:
        if not self.running:
            raise OperationInvalid("domain is not running", code=ErrorCode.OPERATION_INVALID)
        self.remaining = TOTAL
        self.abort.clear()
        self.in_job.set()
        started = time.monotonic()
        try:
            while time.monotonic() - started < self.save_seconds:
                if self.abort.is_set():
                    raise VirtError("saving the domain was canceled by the client",
                                    code=ErrorCode.OPERATION_ABORTED)
                elapsed = time.monotonic() - started
                self.remaining = max(1, int(TOTAL * (1 - elapsed / self.save_seconds)))
                time.sleep(0.01)
        finally:
            self.in_job.clear()
        with open(to, "w", encoding="utf-8") as handle:
            handle.write("saved\n")
        self.running = False
        self.context.events.emit_lifecycle(dom, DomainEventType.STOPPED, DomainEventStoppedDetailType.SAVED)
        return 0

    @hookimpl
    def domain_get_job_stats(self, dom: DomainRef, flags: int) -> tuple[int, dict[str, Any]]:
        if not self.in_job.is_set():
            return DomainJobType.NONE, {}
        return DomainJobType.UNBOUNDED, {"operation": 2, "data_total": TOTAL, "data_remaining": self.remaining,
                                         "data_processed": TOTAL - self.remaining}

    @hookimpl
    def domain_abort_job(self, dom: DomainRef, flags: int) -> int:
        self.aborted_calls += 1
        if not self.in_job.is_set():
            raise OperationInvalid("no job is active on the domain", code=ErrorCode.OPERATION_INVALID)
        self.abort.set()
        return 0

    @hookimpl
    def domain_open_console(self, dom: DomainRef, dev_name: Optional[str], stream: Any, flags: int) -> int:
        """An echo console that upper-cases what it receives."""
        peer = stream.socket
        self.console_peer = peer

        def echo() -> None:
            peer.sendall(b"login: ")
            while True:
                try:
                    data = peer.recv(1024)
                except OSError:
                    return
                if not data:
                    return
                peer.sendall(data.upper())

        threading.Thread(target=echo, daemon=True).start()
        return 0


@dataclass
class Run:
    """What one command line printed and returned."""

    status: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """``cli(*argv, opener=None)``: run main(argv) in-process and capture its output."""
    capsys.readouterr()

    def run(*argv: str, opener: Optional[Callable[..., Connection]] = None) -> Run:
        status = main(list(argv), opener=opener)
        captured = capsys.readouterr()
        return Run(status, captured.out, captured.err)

    return run


@pytest.fixture
def slow() -> Iterator[SlowDriver]:
    """A fresh SlowDriver; pass ``opener=slow.opener()`` to cli()."""
    yield SlowDriver(save_seconds=3.0)
