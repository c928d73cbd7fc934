"""dom.migrate3 between two qemu:///embed hosts: live guests arrive intact; every failure leaves the source running
and nothing on the destination."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest

from guest import check_memory_pattern, memory_from_elf_dump
from qemu_testkit import unused_port
import virtkernel
from virtkernel.enums import (DomainCoreDumpFlags, DomainEventID, DomainEventResumedDetailType as Resumed,
                              DomainEventStartedDetailType as Started, DomainEventStoppedDetailType as Stopped,
                              DomainEventType as Event, DomainGetJobStatsFlags, DomainMigrateFlags as M,
                              DomainState, ErrorCode)
from virtkernel.errors import VirtError
from virtkernel_qemu.migration import PORTS

pytestmark = pytest.mark.timeout(60)

LIVE = int(M.LIVE)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def memory_intact(dom, workdir: Path) -> None:
    """Dump guest memory (pausing it) and check the test guest's page pattern."""
    path = workdir / "core.elf"
    dom.core_dump(str(path), int(DomainCoreDumpFlags.MEMORY_ONLY))
    check_memory_pattern(memory_from_elf_dump(path))
    path.unlink()


class Recorder:
    """Lifecycle, migration-iteration and job-completed events of one connection."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.lifecycle: list[tuple[str, int, int]] = []
        self.iterations: list[int] = []
        self.completed: list[dict] = []
        conn.domain_event_register_any(None, DomainEventID.LIFECYCLE,
                                       lambda c, d, event, detail, opaque: self.lifecycle.append(
                                           (d.name, event, detail)), None)
        conn.domain_event_register_any(None, DomainEventID.MIGRATION_ITERATION,
                                       lambda c, d, n, opaque: self.iterations.append(n), None)
        conn.domain_event_register_any(None, DomainEventID.JOB_COMPLETED,
                                       lambda c, d, stats, opaque: self.completed.append(stats), None)


# ------------------------------------------------------------------------------------------------ success


@pytest.mark.parametrize("uri", ["unix", "tcp4", "tcp6", "default"])
def test_live_migration_moves_the_guest_intact(hosts, workdir, uri):
    dom = hosts.boot()
    src_events, dst_events = Recorder(hosts.a), Recorder(hosts.b)
    params = {"unix": {"migrate_uri": f"unix://{workdir}/m.sock"},
              "tcp4": {"migrate_uri": "tcp://127.0.0.1"},
              "tcp6": {"migrate_uri": "tcp://[::1]"},
              "default": {}}[uri]
    source_run = hosts.root / "a" / "run" / "qemu"
    source_pid = json.loads((source_run / "g1.proc").read_text())["pid"]
    moved = dom.migrate3(hosts.b, params, LIVE)
    assert moved.name == "g1" and moved.uuid == dom.uuid
    assert moved.get_state() == (DomainState.RUNNING, 2)  # running, reason migrated
    assert [d.name for d in hosts.a.list_all_domains(0)] == []  # a transient source is gone
    # ... and so are its QEMU (dead, at most not reaped yet) and every runtime file of it
    assert not os.path.exists(f"/proc/{source_pid}") or _zombie(source_pid)
    assert sorted(p.name for p in source_run.iterdir()) == ["driver.lock", "next-id"]
    hosts.wait_passes(2)
    memory_intact(moved, workdir)
    hosts.wait_passes(1)
    assert PORTS.in_use() == frozenset()
    kind, stats = moved.get_job_stats(int(DomainGetJobStatsFlags.COMPLETED))
    assert kind == 3 and stats["success"] is True
    for key in ("downtime", "time_elapsed", "memory_total", "memory_processed", "memory_remaining",
                "memory_iteration", "data_total", "data_processed", "data_remaining"):
        assert key in stats, key
    assert stats["memory_processed"] >= 99 << 20
    hosts.a.flush_events()
    hosts.b.flush_events()
    assert ("g1", Event.STOPPED, Stopped.MIGRATED) in src_events.lifecycle
    assert ("g1", Event.STARTED, Started.MIGRATED) in dst_events.lifecycle
    assert ("g1", Event.RESUMED, Resumed.MIGRATED) in dst_events.lifecycle
    assert src_events.iterations and src_events.iterations[0] == 1
    assert src_events.completed and src_events.completed[-1]["memory_processed"] >= 99 << 20


def test_persistent_guest_moves_with_its_definition_and_comes_back(hosts, workdir):
    dom = hosts.boot(persistent=True)
    moved = dom.migrate3(hosts.b, {}, LIVE | int(M.PERSIST_DEST | M.UNDEFINE_SOURCE))
    assert moved.is_persistent()
    assert hosts.b_path("etc", "qemu", "g1.xml").exists()
    assert [d.name for d in hosts.a.list_all_domains(0)] == []
    assert not (hosts.root / "a" / "etc" / "qemu" / "g1.xml").exists()
    back = moved.migrate3(hosts.a, {"migrate_uri": f"unix://{workdir}/back.sock"}, LIVE | int(M.PAUSED))
    assert back.get_state()[0] == DomainState.PAUSED
    assert moved.is_persistent()  # without UNDEFINE_SOURCE the config stays on b (shut off)
    assert [d.name for d in hosts.b.list_all_domains(0)] == ["g1"]
    back.resume()
    hosts.wait_passes(1)


def test_offline_migration_moves_the_definition(hosts):
    hosts.a.define_xml(hosts.xml())
    dom = hosts.a.lookup_by_name("g1")
    moved = dom.migrate3(hosts.b, {}, int(M.OFFLINE | M.PERSIST_DEST | M.UNDEFINE_SOURCE))
    assert moved.get_state()[0] == DomainState.SHUTOFF and moved.is_persistent()
    assert [d.name for d in hosts.a.list_all_domains(0)] == []


def test_postcopy_after_the_first_pass(hosts, workdir):
    dom = hosts.boot()
    switched = []

    def after_first_pass(conn, d, iteration, opaque):
        if iteration >= 2 and not switched:
            switched.append(iteration)
            d.migrate_start_post_copy()

    hosts.a.domain_event_register_any(dom, DomainEventID.MIGRATION_ITERATION, after_first_pass, None)
    dom.migrate_set_max_speed(512)  # slow pre-copy enough for post-copy to engage (FACTS.md)
    moved = dom.migrate3(hosts.b, {"migrate_uri": f"unix://{workdir}/m.sock"}, LIVE | int(M.POSTCOPY))
    assert switched
    kind, stats = moved.get_job_stats(int(DomainGetJobStatsFlags.COMPLETED))
    assert "memory_postcopy_requests" in stats
    hosts.wait_passes(2)
    memory_intact(moved, workdir)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_storage_migration_over_nbd_copies_the_disk(hosts, workdir):
    with open(hosts.disk, "r+b") as image:
        image.truncate(8 << 20)
        image.seek(2 << 20)
        image.write(os.urandom(1 << 20))
    dom = hosts.boot()
    target = workdir / "b-disk.img"
    moved = dom.migrate3(hosts.b, {"destination_xml": hosts.xml(disk=target), "migrate_uri": "tcp://127.0.0.1"},
                         LIVE | int(M.NON_SHARED_DISK))
    assert target.stat().st_size == hosts.disk.stat().st_size
    moved.suspend()
    assert sha(target) == sha(hosts.disk)
    moved.resume()
    hosts.wait_passes(1)
    kind, stats = moved.get_job_stats(int(DomainGetJobStatsFlags.COMPLETED))
    assert stats["disk_total"] == 8 << 20 and stats["disk_remaining"] == 0
    assert PORTS.in_use() == frozenset()


# ------------------------------------------------------------------------------------------------ failures


def test_nothing_listening_at_the_migration_uri(hosts):
    dom = hosts.boot()
    port = unused_port()  # not a fixed one: another test run may be listening there
    with pytest.raises(VirtError, match="refused") as caught:  # at once: the module's timeout catches a hang
        dom.migrate3(hosts.b, {"migrate_uri": f"tcp://127.0.0.2:{port}", "listen_address": "127.0.0.1"}, LIVE)
    assert "g1" in str(caught.value)
    hosts.assert_source_running(dom)
    hosts.assert_nothing_on_destination()


def run_in_background(action, until) -> threading.Thread:
    def loop():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if until():
                action()
                return
            time.sleep(0.02)
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def moving(dom) -> bool:
    try:
        return dom.get_job_stats(0)[1].get("memory_processed", 0) > 1 << 20
    except VirtError:
        return False


def test_abort_job_mid_migration(hosts):
    dom = hosts.boot()
    dom.migrate_set_max_speed(8)
    running: list = []

    def look_then_abort():
        running.append(dom.get_job_stats(0))
        running.append(dom.get_job_info())
        dom.abort_job()

    run_in_background(look_then_abort, lambda: moving(dom))
    with pytest.raises(VirtError) as caught:
        dom.migrate3(hosts.b, {}, LIVE)
    assert caught.value.code == ErrorCode.OPERATION_ABORTED
    assert "cancelled" in str(caught.value)
    (kind, stats), info = running
    assert kind == 1  # VIR_DOMAIN_JOB_BOUNDED: totals are known
    for key in ("operation", "time_elapsed", "data_total", "data_processed", "data_remaining", "memory_total",
                "memory_processed", "memory_remaining", "memory_iteration", "memory_dirty_rate", "memory_bps",
                "downtime", "setup_time"):
        assert key in stats, key
    assert stats["operation"] == 5 and 0 < stats["data_processed"] < stats["data_total"]
    assert info.data_total == stats["data_total"] and info.mem_processed > 0
    hosts.assert_source_running(dom)
    hosts.assert_nothing_on_destination()
    kind, stats = dom.get_job_stats(int(DomainGetJobStatsFlags.COMPLETED))
    assert kind == 5 and stats["success"] is False  # cancelled
    dom.migrate_set_max_speed(0)
    moved = dom.migrate3(hosts.b, {}, LIVE)  # and a second try goes through
    assert moved.get_state()[0] == DomainState.RUNNING


def test_destination_qemu_killed_mid_migration(hosts):
    dom = hosts.boot()
    dom.migrate_set_max_speed(8)

    def kill_destination():
        state = json.loads(hosts.b_path("run", "qemu", "g1.proc").read_text())
        os.kill(state["pid"], 9)

    run_in_background(kill_destination, lambda: moving(dom))
    with pytest.raises(VirtError, match="g1") as caught:
        dom.migrate3(hosts.b, {}, LIVE)
    message = str(caught.value).lower()
    assert any(word in message for word in ("reset", "pipe", "exited", "closed", "input/output")), message
    hosts.assert_source_running(dom)
    hosts.assert_nothing_on_destination()
    dom.migrate_set_max_speed(0)
    assert dom.migrate3(hosts.b, {}, LIVE).get_state()[0] == DomainState.RUNNING


def test_mandatory_cookie_feature_the_destination_lacks(hosts):
    (hosts.b_path("etc", "qemu")).mkdir(parents=True, exist_ok=True)
    hosts.b_path("etc", "qemu", "migration.conf").write_text(json.dumps({"cookie_features": ["statistics", "nbd"]}))
    dom = hosts.boot(persistent=True)
    with pytest.raises(VirtError, match="requires feature 'persistent'"):
        dom.migrate3(hosts.b, {}, LIVE | int(M.PERSIST_DEST))
    hosts.assert_source_running(dom)
    hosts.assert_nothing_on_destination()


def test_destination_migrate_hook_refuses(hosts):
    script = hosts.b_path("etc", "hooks", "qemu")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("#!/bin/sh\ncat > /dev/null\n"
                      "if [ \"$2\" = migrate ]; then echo 'no guests from outside today' >&2; exit 1; fi\n")
    script.chmod(0o755)
    hosts.b.close()
    hosts.b = virtkernel.open(f"qemu:///embed?root={hosts.root / 'b'}")
    dom = hosts.boot()
    with pytest.raises(VirtError, match="no guests from outside today"):
        dom.migrate3(hosts.b, {}, LIVE)
    hosts.assert_source_running(dom)
    hosts.assert_nothing_on_destination()


def test_disk_too_small_on_the_destination(hosts, workdir):
    with open(hosts.disk, "r+b") as image:
        image.truncate(8 << 20)
    second = workdir / "second.img"
    second.write_bytes(bytes(8 << 20))
    extra = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{second}'/>"
             "<target dev='hdb' bus='ide'/></disk>")
    dom = hosts.boot(hosts.xml(extra=extra))
    created = workdir / "b-first.img"           # pre-created by the destination, then removed
    small = workdir / "b-small.img"              # the destination's own disk: too small, left alone
    small.write_bytes(bytes(1 << 20))
    dest_xml = hosts.xml(disk=created, extra=extra.replace(str(second), str(small)))
    with pytest.raises(VirtError, match="too small") as caught:
        dom.migrate3(hosts.b, {"destination_xml": dest_xml}, LIVE | int(M.NON_SHARED_DISK))
    assert str(small) in str(caught.value)
    assert small.stat().st_size == 1 << 20
    hosts.assert_source_running(dom)
    hosts.assert_nothing_on_destination(created=[created])


def test_tuned_migration_reaches_both_qemus(hosts, workdir):
    from virtkernel.enums import DomainMigrateMaxSpeedFlags
    dom = hosts.boot()
    dom.migrate_set_max_downtime(250)
    assert dom.migrate_get_max_downtime() == 250
    dom.migrate_set_compression_cache(16 << 20)
    assert dom.migrate_get_compression_cache() == 16 << 20
    dom.migrate_set_max_speed(700)
    dom.migrate_set_max_speed(90, int(DomainMigrateMaxSpeedFlags.POSTCOPY))
    assert dom.migrate_get_max_speed() == 700
    assert dom.migrate_get_max_speed(int(DomainMigrateMaxSpeedFlags.POSTCOPY)) == 90
    seen: dict = {}

    def look_at_destination(conn, d, iteration, opaque):
        if seen:
            return
        guest = hosts.b.driver.driver.host.guests.get("g1")
        if guest is not None and guest.monitor is not None:
            caps = guest.monitor.execute("query-migrate-capabilities")
            seen["dest"] = {c["capability"] for c in caps if c["state"]}
            seen["dest_params"] = guest.monitor.execute("query-migrate-parameters")
        source = hosts.a.driver.driver.host.guests["g1"].monitor
        seen["source"] = {c["capability"] for c in source.execute("query-migrate-capabilities") if c["state"]}
        seen["source_params"] = source.execute("query-migrate-parameters")

    hosts.a.domain_event_register_any(dom, DomainEventID.MIGRATION_ITERATION, look_at_destination, None)
    flags = LIVE | int(M.AUTO_CONVERGE | M.COMPRESSED | M.PARALLEL | M.POSTCOPY)
    moved = dom.migrate3(hosts.b, {"migrate_uri": "tcp://127.0.0.1", "parallel.connections": 3,
                                   "auto_converge.initial": 35}, flags)
    assert seen["source"] >= {"events", "auto-converge", "xbzrle", "multifd", "postcopy-ram"}
    assert seen["dest"] >= {"events", "multifd", "postcopy-ram"} and "xbzrle" not in seen["dest"]
    assert seen["source_params"]["multifd-channels"] == seen["dest_params"]["multifd-channels"] == 3
    assert seen["source_params"]["downtime-limit"] == 250
    assert seen["source_params"]["xbzrle-cache-size"] == 16 << 20
    assert seen["source_params"]["max-bandwidth"] == 700 << 20
    assert seen["source_params"]["max-postcopy-bandwidth"] == 90 << 20
    assert seen["source_params"]["cpu-throttle-initial"] == 35
    hosts.wait_passes(2)
    memory_intact(moved, workdir)


def test_storage_migration_of_a_chosen_disk_incremental(hosts, workdir):
    with open(hosts.disk, "r+b") as image:
        image.truncate(4 << 20)
        image.seek(1 << 20)
        image.write(os.urandom(1 << 20))
    shared = workdir / "shared.img"
    shared.write_bytes(bytes(4 << 20))
    extra = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{shared}'/>"
             "<target dev='hdb' bus='ide'/></disk>")
    dom = hosts.boot(hosts.xml(extra=extra))
    copy = workdir / "b-hda.img"
    moved = dom.migrate3(hosts.b, {"destination_xml": hosts.xml(disk=copy, extra=extra), "migrate_disks": ["hda"]},
                         LIVE | int(M.NON_SHARED_INC))
    moved.suspend()
    assert sha(copy) == sha(hosts.disk)
    moved.resume()
    kind, stats = moved.get_job_stats(int(DomainGetJobStatsFlags.COMPLETED))
    assert stats["disk_total"] == 4 << 20  # hdb is shared: not copied
    hosts.wait_passes(1)
