"""The public job API during and after a migration, and a migration's lifecycle events and state reasons."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import virtkernel
from virtkernel.enums import (DomainEventResumedDetailType as Resumed, DomainEventStartedDetailType as Started,
                              DomainEventStoppedDetailType as Stopped, DomainEventSuspendedDetailType as Suspended,
                              DomainEventType as Event, DomainGetJobStatsFlags as JobStats, DomainJobType,
                              DomainMigrateFlags as M, DomainPausedReason, DomainRunningReason, DomainShutoffReason,
                              DomainState, ErrorCode)

pytestmark = pytest.mark.timeout(60)

VK = "https://virtkernel.dev/xmlns/test/1"
WEB = ("<domain type='test'><name>web1</name><uuid>8a1c5e0e-4d6f-4b1a-9b3e-0c2d4e6f8a11</uuid>"
       "<memory unit='KiB'>524288</memory><vcpu>2</vcpu><os><type>hvm</type></os><devices/></domain>")


def host(tmp_path: Path, name: str, domains: str = "", migration: str = "") -> str:
    """A host file of its own (two files are two hosts) and its URI."""
    path = tmp_path / f"{name}.xml"
    path.write_text(f"<node xmlns:vk='{VK}'><cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores>"
                    f"<threads>1</threads></cpu><memory>4194304</memory>{migration}{domains}</node>")
    return f"test://{path}"


@pytest.fixture
def pair(tmp_path: Path):
    """(source, destination) connections; web1 runs on the source, whose transfer is slow when asked."""
    opened: list[virtkernel.Connection] = []

    def make(slow: bool = False) -> tuple[virtkernel.Connection, virtkernel.Connection]:
        switch = "<vk:migration iterations='300' iteration-delay='0.01'/>" if slow else ""
        source = virtkernel.open(host(tmp_path, "src", WEB, switch))
        destination = virtkernel.open(host(tmp_path, "dst"))
        opened.extend([source, destination])
        return source, destination

    yield make
    for conn in opened:
        conn.close()


def code_of(call, *args) -> ErrorCode:
    with pytest.raises(virtkernel.VirtError) as info:
        call(*args)
    return info.value.code


def test_without_a_migration_the_job_api_is_not_supported_like_libvirt(pair) -> None:
    source, _destination = pair()
    dom = source.lookup_by_name("web1")
    for call, args, function in ((dom.get_job_info, (), "virDomainGetJobInfo"),
                                 (dom.get_job_stats, (0,), "virDomainGetJobStats"),
                                 (dom.abort_job, (), "virDomainAbortJob")):
        with pytest.raises(virtkernel.NoSupport) as refused:
            call(*args)
        assert refused.value.message == f"this function is not supported by the connection driver: {function}"


def test_a_running_migration_is_seen_and_aborted_through_the_public_api(pair) -> None:
    source, destination = pair(slow=True)
    dom = source.lookup_by_name("web1")
    outcome: dict = {}

    def migrate() -> None:
        try:
            dom.migrate3(destination, {})
        except virtkernel.VirtError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=migrate)
    thread.start()
    info = None
    for _ in range(500):
        try:
            info = dom.get_job_info()
        except virtkernel.VirtError:
            info = None
        if info is not None and info.mem_processed:
            break
        threading.Event().wait(0.01)
    assert info is not None and info.type == DomainJobType.BOUNDED and 0 < info.mem_processed <= info.mem_total
    kind, stats = dom.get_job_stats(0)
    assert kind == info.type and "memory_total" in stats
    assert dom.get_state() == (DomainState.PAUSED, DomainPausedReason.MIGRATION)
    dom.abort_job()
    thread.join(30)
    assert outcome["error"].code == ErrorCode.OPERATION_ABORTED
    assert dom.get_state() == (DomainState.RUNNING, DomainRunningReason.MIGRATION_CANCELED)
    # after the job: no job runs, the last one was cancelled, and there is nothing left to abort
    assert dom.get_job_info().type == DomainJobType.NONE
    kind, stats = dom.get_job_stats(JobStats.COMPLETED)
    assert kind == DomainJobType.CANCELLED and stats["success"] is False
    assert code_of(dom.abort_job) == ErrorCode.OPERATION_INVALID


def test_completed_migration_job_on_both_hosts(pair) -> None:
    source, destination = pair()
    moved = source.lookup_by_name("web1").migrate3(destination, {})
    assert moved.get_job_info().type == DomainJobType.NONE
    kind, stats = moved.get_job_stats(JobStats.COMPLETED | JobStats.KEEP_COMPLETED)
    assert kind == DomainJobType.COMPLETED and stats["success"] is True and stats["memory_total"] > 0
    old = source.lookup_by_name("web1")
    kind, stats = old.get_job_stats(JobStats.COMPLETED)
    assert kind == DomainJobType.COMPLETED and stats["success"] is True
    assert old.get_job_stats(JobStats.COMPLETED) == (DomainJobType.NONE, {})  # not kept


def test_events_and_reasons_use_libvirts_migrated_details(pair, event_log_of) -> None:
    source, destination = pair()
    source_events, destination_events = event_log_of(source), event_log_of(destination)
    moved = source.lookup_by_name("web1").migrate3(destination, {})
    assert source_events.take() == [("web1", Event.SUSPENDED, Suspended.MIGRATED),
                                    ("web1", Event.STOPPED, Stopped.MIGRATED)]
    assert destination_events.take() == [("web1", Event.STARTED, Started.MIGRATED),
                                         ("web1", Event.RESUMED, Resumed.MIGRATED)]
    assert source.lookup_by_name("web1").get_state() == (DomainState.SHUTOFF, DomainShutoffReason.MIGRATED)
    assert moved.get_state() == (DomainState.RUNNING, DomainRunningReason.MIGRATED)


def test_a_guest_kept_paused_on_the_destination(pair, event_log_of) -> None:
    source, destination = pair()
    destination_events = event_log_of(destination)
    moved = source.lookup_by_name("web1").migrate3(destination, {}, M.PAUSED)
    assert destination_events.take() == [("web1", Event.STARTED, Started.MIGRATED),
                                         ("web1", Event.SUSPENDED, Suspended.PAUSED)]
    assert moved.get_state() == (DomainState.PAUSED, DomainPausedReason.USER)
