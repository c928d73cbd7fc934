"""The synchronous QMP monitor against real QEMU (and a silent fake server for timeouts)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from guest import TOUCH_END, check_memory_pattern, memory_from_elf_dump
from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel_qemu.monitor import (EventLoopThread, Monitor, MonitorClosed, MonitorTimeout, QMPCommandError,
                                     listening_socket)


def test_execute_returns_the_command_result(boot_guest):
    guest = boot_guest(wait_passes=0)
    assert guest.monitor.execute("query-status")["status"] == "running"
    assert guest.monitor.greeting["QMP"]["version"]["qemu"]["major"] >= 7


def test_human_monitor_commands(boot_guest):
    guest = boot_guest(wait_passes=0)
    assert guest.monitor.execute_hmp("info status").strip() == "VM status: running"


def test_a_qmp_error_names_the_command_and_keeps_the_error_class(boot_guest):
    guest = boot_guest(wait_passes=0)
    with pytest.raises(QMPCommandError) as info:
        guest.monitor.execute("no-such-command")
    error = info.value
    assert (error.code, error.domain) == (ErrorCode.OPERATION_FAILED, ErrorDomain.QEMU)
    assert error.error_class == "CommandNotFound"
    assert "'no-such-command'" in str(error) and "'guest'" in str(error)
    with pytest.raises(QMPCommandError, match="query-status.*unexpected") as info:
        guest.monitor.execute("query-status", {"bogus": 1})
    assert info.value.error_class == "GenericError"


def test_stop_and_cont_reach_waiters_and_handlers(boot_guest):
    guest = boot_guest(wait_passes=0)
    seen: list[str] = []
    guest.monitor.add_event_handler(lambda event: seen.append(event.name))
    with guest.monitor.expect_event("STOP") as stop:
        guest.monitor.execute("stop")
        event = stop.wait(10)
    assert event.name == "STOP" and event.guest == "guest" and event.timestamp > 1e9
    assert guest.monitor.execute("query-status")["status"] == "paused"
    with guest.monitor.expect_event("RESUME") as resume:
        guest.monitor.execute("cont")
        resume.wait(10)
    with guest.monitor.expect_event("RESET") as reset:
        guest.monitor.execute("system_reset")
        reset.wait(10)
    with guest.monitor.expect_event("POWERDOWN") as powerdown:
        guest.monitor.execute("system_powerdown")
        powerdown.wait(10)
    deadline = time.monotonic() + 5
    while len(seen) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ["STOP", "RESUME", "RESET", "POWERDOWN"]


def test_an_event_handler_may_run_commands(boot_guest):
    guest = boot_guest(wait_passes=0)
    statuses: list[str] = []
    done = threading.Event()

    def on_stop(event):
        if event.name == "STOP":
            statuses.append(guest.monitor.execute("query-status")["status"])
            done.set()

    guest.monitor.add_event_handler(on_stop)
    guest.monitor.execute("stop")
    assert done.wait(10)
    assert statuses == ["paused"]


def test_predicate_selects_events(boot_guest):
    guest = boot_guest(wait_passes=0)
    with guest.monitor.expect_event(["STOP", "RESUME"], lambda e: e.name == "RESUME") as waiter:
        guest.monitor.execute("stop")
        guest.monitor.execute("cont")
        assert waiter.wait(10).name == "RESUME"
        with pytest.raises(MonitorTimeout, match="RESUME/STOP"):
            waiter.wait(0.2)


def test_reconnect_to_a_running_qemu(boot_guest):
    guest = boot_guest(wait_passes=0)
    guest.monitor.execute("stop")
    guest.monitor.close()
    with pytest.raises(MonitorClosed, match="is closed"):
        guest.monitor.execute("query-status")
    again = Monitor.connect(guest.socket_path, "guest")
    try:
        assert again.execute("query-status")["status"] == "paused"
    finally:
        again.close()


def test_a_close_without_waiting_is_closed_at_once_and_lets_qemu_accept_the_next_connection(boot_guest):
    guest = boot_guest(wait_passes=0)
    guest.monitor.execute("stop")
    with guest.monitor.expect_event("NEVER") as waiter:
        guest.monitor.close(wait=False)
        with pytest.raises(MonitorClosed):
            waiter.wait(1)
    with pytest.raises(MonitorClosed, match="is closed"):
        guest.monitor.execute("query-status")
    again = Monitor.connect(guest.socket_path, "guest")  # QEMU saw the old connection go
    try:
        assert again.execute("query-status")["status"] == "paused"
    finally:
        again.close()


def test_qemu_exit_closes_the_monitor_and_wakes_waiters(boot_guest):
    guest = boot_guest(wait_passes=0)
    closed = threading.Event()
    guest.monitor.add_close_handler(lambda monitor: closed.set())
    with guest.monitor.expect_event("NEVER") as waiter:
        guest.process.kill()
        with pytest.raises(MonitorClosed, match="closed while waiting for NEVER"):
            waiter.wait(10)
    assert closed.wait(5)
    with pytest.raises(MonitorClosed):
        guest.monitor.execute("query-status")


def test_connect_to_a_missing_socket_fails_clearly(workdir):
    started = time.monotonic()
    with pytest.raises(MonitorClosed, match="cannot connect to the QEMU monitor of guest 'ghost'"):
        Monitor.connect(workdir / "missing.qmp", "ghost", timeout=0.3)
    assert time.monotonic() - started < 5
    with pytest.raises(MonitorClosed):
        Monitor.connect(workdir / "missing.qmp", "ghost", timeout=30, alive=lambda: False)


def silent_qmp_server(path):
    """A QMP server that negotiates, then never answers: for timeouts."""
    listener = listening_socket(path)

    def serve():
        connection, _ = listener.accept()
        greeting = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 0}, "package": ""},
                            "capabilities": []}}
        connection.sendall(json.dumps(greeting).encode() + b"\r\n")
        data = b""
        while True:  # QMP messages need not end with a newline
            data += connection.recv(4096)
            try:
                request = json.loads(data)
                break
            except ValueError:
                continue
        connection.sendall(json.dumps({"return": {}, "id": request.get("id")}).encode() + b"\r\n")
        time.sleep(3)
        connection.close()
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_command_without_answer_times_out(workdir):
    silent_qmp_server(workdir / "silent.qmp")
    loop = EventLoopThread("test-timeout")
    monitor = Monitor.connect(workdir / "silent.qmp", "mute", loop=loop)
    try:
        with pytest.raises(MonitorTimeout) as info:
            monitor.execute("query-status", timeout=0.2)
        assert info.value.code == ErrorCode.OPERATION_TIMEOUT
        assert "'query-status'" in str(info.value) and "'mute'" in str(info.value)
    finally:
        monitor.close()
        loop.close()


def test_paused_guest_memory_shows_the_page_pattern(boot_guest, workdir):
    guest = boot_guest(wait_passes=3)
    guest.monitor.execute("stop")
    dump_path = workdir / "memory.dump"
    guest.monitor.execute("pmemsave", {"val": 0, "size": TOUCH_END, "filename": str(dump_path)})
    pattern = check_memory_pattern(dump_path.read_bytes())
    assert pattern.value >= 2  # at least two full passes before the pause
    dump = bytearray(dump_path.read_bytes())
    dump[TOUCH_END - 4096] ^= 0x55
    with pytest.raises(AssertionError):
        check_memory_pattern(bytes(dump))


def test_an_elf_core_dump_shows_the_same_memory(boot_guest, workdir):
    guest = boot_guest(wait_passes=2)
    guest.monitor.execute("stop")
    raw = workdir / "memory.raw"
    guest.monitor.execute("pmemsave", {"val": 0, "size": TOUCH_END, "filename": str(raw)})
    core = workdir / "memory.core"
    guest.monitor.execute("dump-guest-memory", {"paging": False, "protocol": f"file:{core}"})
    rebuilt = memory_from_elf_dump(core)
    assert check_memory_pattern(rebuilt) == check_memory_pattern(raw.read_bytes())
    assert rebuilt[1 << 20:] == raw.read_bytes()[1 << 20:]


def test_block_job_events_reach_the_monitor(boot_guest, workdir):
    guest = boot_guest(wait_passes=0)
    target = workdir / "mirror.img"
    target.write_bytes(bytes(1 << 20))
    guest.monitor.execute("blockdev-add", {"driver": "file", "filename": str(target), "node-name": "mirror0"})
    with guest.monitor.expect_event("BLOCK_JOB_READY") as ready:
        guest.monitor.execute("blockdev-mirror", {"job-id": "copy0", "device": "disk0", "target": "mirror0",
                                                  "sync": "full"})
        event = ready.wait(30)
    assert event.data["device"] == "copy0" and event.data["type"] == "mirror"
    with guest.monitor.expect_event("BLOCK_JOB_COMPLETED") as completed:
        guest.monitor.execute("block-job-complete", {"device": "copy0"})
        assert completed.wait(30).data["device"] == "copy0"
    assert target.read_bytes()[:512] == (workdir / "guest.img").read_bytes()[:512]


def test_commands_from_many_threads_get_their_own_answers(boot_guest):
    guest = boot_guest(wait_passes=0)
    options = ["drive", "machine", "smp-opts", "name", "chardev", "boot-opts", "memory", "accel"]
    errors: list[BaseException] = []

    def worker(option: str) -> None:
        try:
            for _ in range(25):
                answer = guest.monitor.execute("query-command-line-options", {"option": option})
                assert [entry["option"] for entry in answer] == [option]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(option,)) for option in options]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[0]
