"""QEMU runs under our supervisor: reaped at once, exit status recorded, survives the caller, found again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel_qemu.process import ExitStatus, ProcessFiles, ProcessStartError, QemuProcess, spawn


def idle_qemu(qemu_binary, *extra):
    return [qemu_binary, "-nodefaults", "-no-user-config", "-machine", "none", "-display", "none", *extra]


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while os.path.exists(f"/proc/{pid}"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def open_fds(pid: int) -> dict[str, str]:
    """fd number -> target of a running process (QEMU opens and closes fds while starting: skip those)."""
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            pass
    return found


def test_qemu_is_a_child_of_the_supervisor_in_its_own_session(qemu_binary, launch):
    process = launch(idle_qemu(qemu_binary))
    assert process.is_running()
    supervisor = parent_of(process.pid)
    assert supervisor == process.supervisor_pid
    assert supervisor not in (os.getpid(), 1)
    assert os.getsid(supervisor) == supervisor != os.getsid(0)
    state = json.loads(process.files.state.read_text())
    assert state["pid"] == process.pid and state["supervisor"] == supervisor


def test_a_failing_qemu_is_reaped_and_its_status_and_message_kept(qemu_binary, launch):
    process = launch(idle_qemu(qemu_binary, "-no-such-option"))
    status = process.wait(10)
    assert status == ExitStatus(returncode=1)
    assert status.describe() == "exited with status 1"
    assert "-no-such-option: invalid option" in process.log_tail()
    assert gone_within(process.pid, 0.5), "the exited QEMU lingers as a zombie"
    assert not process.is_running()


def test_kill_and_terminate_report_how_qemu_ended(qemu_binary, launch, boot_guest):
    first = launch(idle_qemu(qemu_binary), name="first")
    second = boot_guest("second", wait_passes=0).process  # monitor answered: QEMU handles SIGTERM now
    killed = first.kill()
    assert killed == ExitStatus(signal=signal.SIGKILL)
    assert killed.describe() == "was killed by signal 9 (SIGKILL)"
    assert gone_within(first.pid, 0.5)
    assert second.terminate(grace=10) == ExitStatus(returncode=0)  # QEMU exits cleanly on SIGTERM
    assert "terminating on signal 15" in second.log_tail()
    assert not second.send_signal(signal.SIGTERM)


def test_qemu_outlives_the_caller_and_is_found_again(qemu_binary, workdir):
    files = ProcessFiles(workdir, "orphan")
    caller = textwrap.dedent(f"""
        from virtkernel_qemu.process import ProcessFiles, spawn
        process = spawn({idle_qemu(qemu_binary)!r}, ProcessFiles({str(workdir)!r}, "orphan"))
        print(process.pid)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    output = subprocess.run([sys.executable, "-c", caller], env=env, capture_output=True, text=True, timeout=60)
    assert output.returncode == 0, output.stderr
    pid = int(output.stdout)
    found = QemuProcess.attach(files)
    try:
        assert found is not None and found.pid == pid
        assert found.is_running()
        assert found.wait(0.2) is None
        assert found.kill() == ExitStatus(signal=signal.SIGKILL)
        assert gone_within(pid, 0.5)
    finally:
        if found is not None and found.is_running():
            found.kill()
    again = QemuProcess.attach(files)
    assert again is not None and not again.is_running()
    assert again.exit_status() == ExitStatus(signal=signal.SIGKILL)


def test_a_qemu_tied_to_its_caller_dies_with_it(qemu_binary, workdir):
    caller = textwrap.dedent(f"""
        from virtkernel_qemu.process import ProcessFiles, spawn
        process = spawn({idle_qemu(qemu_binary)!r}, ProcessFiles({str(workdir)!r}, "tied"), tied_to_caller=True)
        print(process.pid)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    output = subprocess.run([sys.executable, "-c", caller], env=env, capture_output=True, text=True, timeout=60)
    assert output.returncode == 0, output.stderr
    pid = int(output.stdout)
    assert gone_within(pid, 5)
    found = QemuProcess.attach(ProcessFiles(workdir, "tied"))
    assert found is not None and not found.is_running()
    assert found.exit_status() == ExitStatus(signal=signal.SIGKILL)


def test_attach_without_state_is_none_and_a_recycled_pid_is_not_ours(qemu_binary, workdir):
    assert QemuProcess.attach(ProcessFiles(workdir, "never")) is None
    files = ProcessFiles(workdir, "recycled")
    files.state.write_text(json.dumps({"pid": os.getpid(), "start": 1, "supervisor": None}))
    process = QemuProcess.attach(files)
    assert process is not None and not process.is_running()
    assert not process.send_signal(0)
    assert process.exit_status(settle=0) == ExitStatus.unknown()


def test_a_missing_or_unusable_binary_is_refused(workdir):
    with pytest.raises(ProcessStartError, match="binary '/nonexistent/qemu' not found") as info:
        spawn(["/nonexistent/qemu"], ProcessFiles(workdir, "missing"))
    assert (info.value.code, info.value.domain) == (ErrorCode.OPERATION_FAILED, ErrorDomain.QEMU)
    with pytest.raises(ProcessStartError, match="cannot be executed: Permission denied"):
        spawn([str(workdir)], ProcessFiles(workdir, "directory"))
    with pytest.raises(ProcessStartError, match="not found"):
        spawn(["no-such-qemu-binary"], ProcessFiles(workdir, "unnamed"))


def test_passed_descriptors_reach_qemu_at_the_requested_numbers(qemu_binary, launch, workdir):
    read_end, write_end = os.pipe()
    try:
        process = launch(idle_qemu(qemu_binary), pass_fds={7: write_end})
        pipe = os.readlink(f"/proc/self/fd/{write_end}")
        assert os.readlink(f"/proc/{process.pid}/fd/7") == pipe
        assert [fd for fd, target in open_fds(process.pid).items() if target == pipe] == ["7"]  # no stray copies
        assert os.readlink(f"/proc/{process.pid}/fd/0") == "/dev/null"
        assert os.readlink(f"/proc/{process.pid}/fd/2") == str(process.files.log)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_unusable_state_files_are_reported(qemu_binary, workdir):
    (workdir / "guest.log").mkdir()
    with pytest.raises(ProcessStartError, match=r"cannot open log file '.*guest.log': Is a directory"):
        spawn(idle_qemu(qemu_binary), ProcessFiles(workdir, "guest"))
    (workdir / "plain").write_text("")
    with pytest.raises(ProcessStartError, match="cannot use state directory"):
        spawn(idle_qemu(qemu_binary), ProcessFiles(workdir / "plain", "guest"))


def test_cleanup_removes_everything_but_the_log(qemu_binary, launch, workdir):
    process = launch(idle_qemu(qemu_binary, "-pidfile", str(workdir / "guest.pid")))
    files = process.files
    files.qmp.write_text("")  # stands in for the monitor socket
    assert files.pidfile == workdir / "guest.pid" and files.qmp == workdir / "guest.qmp"
    process.kill()
    assert files.exit.exists() and files.state.exists()
    files.cleanup()
    assert sorted(p.name for p in workdir.iterdir()) == ["guest.log"]


def test_a_disowned_qemu_is_killed_without_an_exit_record(qemu_binary, launch, workdir):
    process = launch(idle_qemu(qemu_binary))
    kept = launch(idle_qemu(qemu_binary), name="kept")
    process.files.disown()
    assert not process.files.state.exists()
    process.kill_disowned()
    assert not process.is_running() and gone_within(process.pid, 0.5)
    assert kept.kill() == ExitStatus(signal=signal.SIGKILL)  # the supervisor still records the others
    time.sleep(0.2)  # the supervisor reaped both by now: the disowned one left no file behind
    assert sorted(p.name for p in workdir.iterdir()) == ["guest.log", "kept.exit", "kept.log", "kept.proc"]
