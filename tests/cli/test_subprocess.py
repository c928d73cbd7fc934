"""The installed console script, ``python -m virtkernel`` and the bash completion script, run as processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import virtkernel

pytestmark = pytest.mark.timeout(60)

BIN = Path(sys.executable).parent / "virtkernel"


def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, input=stdin, timeout=30, check=False)


def test_console_script_and_module_print_the_version():
    assert BIN.exists(), f"the console script is not installed at {BIN}"
    assert run(str(BIN), "--version").stdout == f"{virtkernel.__version__}\n"
    assert run(sys.executable, "-m", "virtkernel", "--version").stdout == f"{virtkernel.__version__}\n"


def test_errors_exit_1_on_stderr_without_traceback():
    done = run(str(BIN), "-c", "test:///default", "dominfo")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "error: command 'dominfo' requires <domain> option\n")
    done = run(str(BIN), "-x")
    assert (done.returncode, done.stderr) == (1, "error: unsupported option '-x'. See --help.\n")


def test_list_on_the_default_test_host():
    done = run(str(BIN), "-c", "test:///default", "list")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == " Id   Name   State\n----------------------\n 1    test   running\n\n"


def test_shell_reads_from_a_pipe():
    done = run(str(BIN), "-c", "test:///default", stdin="domstate test\nquit\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "running\n\n", "")


def test_piping_into_head_does_not_traceback():
    pipeline = subprocess.run(f"'{BIN}' help | head -1", shell=True, capture_output=True, text=True, timeout=30)
    assert pipeline.stdout == "Grouping of commands:\n"
    assert "Traceback" not in pipeline.stderr


@pytest.mark.skipif(shutil.which("bash") is None and os.environ.get("CI") != "true",
                    reason="bash is not installed (required in CI)")
def test_bash_completion_script_completes_commands_and_options(tmp_path):
    script = tmp_path / "completion.bash"
    script.write_text(run(str(BIN), "completion", "bash").stdout)
    probe = f"""
        source '{script}'
        PATH='{BIN.parent}':$PATH
        COMP_WORDS=(virtkernel snapshot-c); COMP_CWORD=1
        _virtkernel_complete; echo "A:${{COMPREPLY[*]}}"
        COMP_WORDS=(virtkernel list --tit); COMP_CWORD=2
        _virtkernel_complete; echo "B:${{COMPREPLY[*]}}"
        complete -p virtkernel
    """
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", probe], capture_output=True, text=True, timeout=30)
    lines = done.stdout.splitlines()
    assert "A:snapshot-create-as snapshot-current" in lines, done.stdout + done.stderr
    assert "B:--title" in lines
    assert "complete -o default -F _virtkernel_complete virtkernel" in lines


def test_interactive_shell_on_a_terminal_keeps_history(tmp_path):
    import os
    import pty
    import select
    import time

    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "TERM": "dumb"}
    pid, master = pty.fork()
    if pid == 0:  # the child becomes virtkernel on the pty
        os.execve(str(BIN), [str(BIN)], env)
    output = b""

    def read_until(marker: bytes, seconds: float = 20) -> None:
        nonlocal output
        deadline = time.monotonic() + seconds
        while marker not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    output += os.read(master, 4096)
                except OSError:
                    return

    try:
        read_until(b"virtkernel # ")
        assert b"Welcome to virtkernel, the virtualization interactive terminal." in output
        os.write(master, b"help domstate\n")
        read_until(b"domstate - domain state")
        os.write(master, b"quit\n")
        read_until(b"\xff", seconds=5)  # until the child closes the terminal
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(master)
    assert os.WEXITSTATUS(status) == 0
    assert b"domstate - domain state" in output
    history = tmp_path / "virtkernel" / "history"
    assert "help domstate" in history.read_text()


HOSTS = Path(__file__).resolve().parent.parent / "golden" / "hosts"


def test_migrate_between_two_test_hosts_with_progress():
    destination = f"test://{HOSTS / 'mixed.xml'}"
    done = run(str(BIN), "-c", "test:///default", f"migrate test {destination} --live --verbose; list --all")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "Migration: [100 %]"  # drawn with a carriage return, like virsh
    assert done.stdout == "\n\n Id   Name   State\n-----------------------\n -    test   shut off\n\n"
    plan = run(str(BIN), "-c", "test:///default", "migrate", "test", destination, "--live", "--dry-run")
    assert plan.returncode == 0
    assert "  protocol:        v3-params\n" in plan.stdout and "Result: the migration would proceed" in plan.stdout
