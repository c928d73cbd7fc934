"""Long jobs (progress, Ctrl-C), the console, shell completion and the interactive shell, on the slow fake driver."""

from __future__ import annotations

import os
import pty
import re
import signal
import threading
import time

import pytest

from virtkernel.cli.cmd_console import run_console
from virtkernel.cli.completion import bash_script, complete
from virtkernel.cli.progress import percent
from virtkernel.cli.session import GlobalOptions, Session

pytestmark = pytest.mark.timeout(60)


def test_save_with_verbose_shows_progress_driven_by_job_stats(cli, slow, tmp_path):
    slow.save_seconds = 1.5
    target = tmp_path / "slow.img"
    result = cli("save", "slow", str(target), "--verbose", opener=slow.opener())
    assert result.status == 0, result.err
    assert result.out == f"\nDomain 'slow' saved to {target}\n\n"
    steps = re.findall(r"\rSave: \[ *(\d+) %\]", result.err)
    assert len(steps) >= 2, result.err
    values = [int(v) for v in steps]
    assert values[-1] == 100 and any(0 < v < 100 for v in values[:-1])
    assert values == sorted(values)
    assert target.read_text() == "saved\n"


def test_without_verbose_there_is_no_progress(cli, slow, tmp_path):
    slow.save_seconds = 0.3
    result = cli("save", "slow", str(tmp_path / "x.img"), opener=slow.opener())
    assert result.status == 0 and result.err == ""


def test_ctrl_c_aborts_the_job_through_abort_job(cli, slow, tmp_path):
    slow.save_seconds = 30
    target = tmp_path / "slow.img"

    def press_ctrl_c() -> None:
        assert slow.in_job.wait(10)
        time.sleep(0.6)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    started = time.monotonic()
    result = cli("save", "slow", str(target), "--verbose", opener=slow.opener())
    presser.join()
    assert time.monotonic() - started < 10
    assert result.status == 1
    assert slow.aborted_calls == 1
    assert result.err.endswith("\nerror: Failed to save domain 'slow' to " + str(target) + "\n"
                               "error: operation aborted: saving the domain was canceled by the client\n")
    assert "Save: [" in result.err and "Save: [100 %]" not in result.err
    assert slow.running and not target.exists()
    # the shell's own SIGINT handling is back in place afterwards
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_progress_numbers():
    assert percent(500, 1000) == 50
    assert percent(0, 1000) == 99
    assert percent(1000, 1000) == 0
    assert percent(5, 0) == 99


def test_migrate_calls_the_kernel_and_reports_its_error(cli, slow):
    # the fake driver has no migration hooks: whatever the kernel says is what the user sees
    result = cli("migrate", "slow", "other:///x", "--p2p", "--live", opener=slow.opener())
    assert result.status == 1
    assert result.err.startswith("error: ")
    assert "Traceback" not in result.err


def test_migrate_timeout_needs_live(cli, slow):
    result = cli("migrate", "slow", "x:///", "--timeout", "5", opener=slow.opener())
    assert result.err == "error: migrate: Unexpected timeout for offline migration\n"


def test_console_relays_until_the_escape_character(slow):
    master, slave = pty.openpty()
    try:
        session = Session(GlobalOptions(), opener=slow.opener())
        dom = session.domain("slow")
        done = threading.Event()
        failure: list[BaseException] = []

        def attach() -> None:
            try:
                run_console(session, dom, None, 0, input_fd=slave, output_fd=slave)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                failure.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=attach)
        thread.start()
        received = b""
        deadline = time.monotonic() + 10
        while b"login: " not in received and time.monotonic() < deadline:
            received += os.read(master, 1024)
        os.write(master, b"hello")
        while b"HELLO" not in received and time.monotonic() < deadline:
            received += os.read(master, 1024)
        os.write(master, b"\x1d")
        assert done.wait(10)
        thread.join()
        assert not failure, failure
        assert b"login: " in received and b"HELLO" in received
    finally:
        os.close(master)
        os.close(slave)
        session.close()


def test_console_needs_a_terminal(cli, slow):
    result = cli("console", "slow", opener=slow.opener())
    assert result.status == 1
    assert result.err == "error: Cannot run interactive console without a controlling TTY\n"


def test_console_escape_must_be_valid(slow):
    master, slave = pty.openpty()
    try:
        session = Session(GlobalOptions(escape="^^x"), opener=slow.opener())
        with pytest.raises(Exception, match="Invalid string '\\^\\^x' for escape sequence"):
            run_console(session, session.domain("slow"), None, 0, input_fd=slave, output_fd=slave)
    finally:
        os.close(master)
        os.close(slave)


# -- completion ------------------------------------------------------------------------------------------------------

def test_complete_command_names(slow):
    assert complete(["dom"], slow.opener())[:3] == ["domblkinfo", "domblklist", "domblkstat"]
    assert "snapshot-list" in complete(["snap"], slow.opener())
    assert complete(["-c", "x:///", "lis"], slow.opener()) == ["list"]
    assert "--readonly" in complete(["--re"], slow.opener())


def test_complete_domain_names_for_positional_and_named_options(slow):
    assert complete(["dominfo", ""], slow.opener()) == ["slow"]
    assert complete(["dominfo", "sl"], slow.opener()) == ["slow"]
    assert complete(["migrate", "--domain", ""], slow.opener()) == ["slow"]
    assert complete(["event", "--domain", "s"], slow.opener()) == ["slow"]


def test_complete_options(slow):
    options = complete(["list", "--st"], slow.opener())
    assert options == ["--state-running", "--state-paused", "--state-shutoff", "--state-other"]
    assert "--live" not in complete(["setmem", "slow", "1G", "--live", "--"], slow.opener())
    assert complete(["help", "snapshot-c"], slow.opener()) == ["snapshot-create-as", "snapshot-current"]
    assert "lifecycle" in complete(["event", "--event", ""], slow.opener())


def test_complete_subcommand_via_cli(cli, slow):
    result = cli("complete", "--", "domi", opener=slow.opener())
    assert result.out.split() == ["domid", "domifaddr", "domiflist", "domifstat", "dominfo"]


def test_completion_bash_prints_the_script(cli):
    result = cli("completion", "bash")
    assert result.status == 0
    assert result.out.startswith("# bash completion for virtkernel")
    assert "complete -o default -F _virtkernel_complete virtkernel" in result.out
    assert bash_script() in result.out
    assert cli("completion", "zsh").err == "error: no completion script for shell 'zsh' (available: bash)\n"


# -- the interactive shell (non-tty input) ---------------------------------------------------------------------------

def test_shell_reads_commands_until_quit(cli, slow, monkeypatch, tmp_path):
    import io
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("domid slow\nlsit\ndomstate slow; quit\ndomid slow\n"))
    result = cli("shell", opener=slow.opener())
    assert result.out == "7\n\nrunning\n\n\n"
    assert result.err == "error: unknown command: 'lsit'\nhint: did you mean 'list'?\n"


# -- events ----------------------------------------------------------------------------------------------------------

def test_event_prints_a_lifecycle_event_like_virsh(cli, slow):
    from virtkernel.enums import DomainEventStoppedDetailType, DomainEventType

    stop = threading.Event()

    def emit_until_seen() -> None:
        while not stop.is_set():
            context = getattr(slow, "context", None)
            if context is not None:
                context.events.emit_lifecycle(slow_ref(), DomainEventType.STOPPED,
                                              DomainEventStoppedDetailType.DESTROYED)
            time.sleep(0.05)

    emitter = threading.Thread(target=emit_until_seen)
    emitter.start()
    try:
        result = cli("event", "--event", "lifecycle", "--timeout", "20", opener=slow.opener())
    finally:
        stop.set()
        emitter.join()
    assert result.status == 0, result.err
    assert result.out == "event 'lifecycle' for domain 'slow': Stopped Destroyed\nevents received: 1\n\n"


def slow_ref():
    from virtkernel import DomainRef
    return DomainRef("slow", "0b5bf8f4-27f1-4cc9-a6a8-6f0bdb0a3f10", 7)


def test_event_times_out(cli, slow):
    result = cli("event", "--all", "--loop", "--timeout", "1", opener=slow.opener())
    assert (result.status, result.out) == (0, "event loop timed out\nevents received: 0\n\n")


def test_event_list_and_required_choice(cli, slow):
    out = cli("event", "--list", opener=slow.opener()).out.split()
    assert out[:3] == ["lifecycle", "reboot", "rtc-change"] and "job-completed" in out
    result = cli("event", opener=slow.opener())
    assert result.err == "error: one of --list, --all, or --event <type> is required\n"


def test_migrate_dry_run_prints_the_plan_and_fails_when_refused(cli, slow):
    result = cli("migrate", "slow", "test:///other", "--p2p", "--live", "--dry-run", opener=slow.opener())
    assert result.out.startswith("Migration plan for domain 'slow'")
    assert "\nRefused: " in result.out  # the fake driver supports no migration at all
    assert result.status == 1 and result.err == ""


def test_job_timeout_action_runs_once_while_the_call_is_still_going(slow):
    from virtkernel.cli.progress import JobWatcher
    session = Session(GlobalOptions(quiet=True), opener=slow.opener())
    calls = []
    watcher = JobWatcher(session, session.domain("slow"), "Migration", False, timeout=0.2,
                         on_timeout=lambda: calls.append(time.monotonic()))
    started = time.monotonic()
    assert watcher.run(lambda: time.sleep(0.8) or "done") == "done"
    assert len(calls) == 1 and 0.15 < calls[0] - started < 0.7
    session.close()


def test_postcopy_after_precopy_switches_on_the_second_iteration(slow, capsys):
    from virtkernel.cli.cmd_jobs import _postcopy_after_precopy
    from virtkernel.enums import DomainEventID
    session = Session(GlobalOptions(), opener=slow.opener())
    dom = session.domain("slow")
    callback = _postcopy_after_precopy(session, dom)
    try:
        for iteration in (1, 2):
            slow.context.events.emit(DomainEventID.MIGRATION_ITERATION, slow_ref(), iteration)
        session.conn.flush_events()
    finally:
        session.conn.domain_event_deregister_any(callback)
        session.close()
    # the fake driver cannot switch to post-copy: the attempt (made once, on iteration 2) is reported
    err = capsys.readouterr().err
    assert err.count("error: cannot switch to post-copy: ") == 1
