"""Running programs: argument lists byte for byte, capture, env, launch failures, timeouts, pipelines."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from virtkernel.command import (
    CAPTURE, CommandFailed, CommandNotExecutable, CommandNotFound, CommandResult, CommandSetupFailed,
    CommandTimedOut, ExitStatus, Pipeline, run, run_pipeline, spawn,
)
from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import InvalidArg, VirtError

pytestmark = pytest.mark.timeout(60)

PY = sys.executable
# A child that prints its argv as NUL-separated raw bytes, so the test sees exactly what exec delivered.
ECHO_ARGV = "import os,sys; sys.stdout.buffer.write(b'\\0'.join(os.fsencode(a) for a in sys.argv[1:]))"


def _process_state(pid: int) -> str | None:
    """The process's state letter (R, S, Z...), or None once it is gone (reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


HOSTILE = [
    "two words", "'single'", '"double"', "$(touch /tmp/pwned-by-virtkernel-test)", "`id`", "a\nb\n",
    "; rm -rf /", "*", "~", "$HOME", "tab\there", "back\\slash", "-n", "", "ünïcødé ✓", "\x01\x7f",
]


def test_hostile_arguments_reach_the_child_byte_for_byte(tmp_path):
    result = run([PY, "-c", ECHO_ARGV, *HOSTILE], cwd=tmp_path)
    assert result.stdout.split(b"\0") == [os.fsencode(a) for a in HOSTILE]
    assert not os.path.exists("/tmp/pwned-by-virtkernel-test")
    assert list(tmp_path.iterdir()) == []


def test_stdin_and_stdout_bytes_are_exact():
    payload = bytes(range(256)) * 4096 + b"\n\0end"  # 1 MiB: bigger than any pipe buffer
    result = run([PY, "-c", "import sys; d=sys.stdin.buffer.read(); sys.stdout.buffer.write(d[::-1]);"
                  "sys.stderr.buffer.write(b'len=%d' % len(d))"], input=payload)
    assert result.stdout == payload[::-1]
    assert result.stderr == b"len=%d" % len(payload)
    assert result.returncode == 0 and result.ok
    assert result.argv[0] == PY
    assert result.duration > 0


def test_str_input_is_utf8_and_text_properties_decode():
    result = run(["cat"], input="héllo $(x)\n")
    assert result.stdout == "héllo $(x)\n".encode()
    assert result.stdout_text == "héllo $(x)\n"


def test_stdin_defaults_to_devnull_not_ours():
    result = run(["cat"], timeout=10)
    assert result.stdout == b""


def test_output_to_a_file(tmp_path):
    target = tmp_path / "out"
    with open(target, "wb") as f:
        result = run(["printf", "%s", "to file"], stdout=f)
    assert target.read_bytes() == b"to file"
    assert result.stdout == b""


def test_env_adds_to_removes_from_or_replaces_the_environment(monkeypatch):
    monkeypatch.setenv("VK_INHERITED", "yes")
    monkeypatch.setenv("VK_DROPPED", "no")
    show = [PY, "-c", "import os; print(os.environ.get('VK_INHERITED'), os.environ.get('VK_ADDED'),"
                      " os.environ.get('VK_DROPPED'))"]
    assert run(show, env={"VK_ADDED": "a b$c", "VK_DROPPED": None}).stdout == b"yes a b$c None\n"
    replaced = run([PY, "-c", "import os; print(sorted(k for k in os.environ if k.startswith('VK')))"],
                   env={"VK_ONLY": "1"}, replace_env=True)
    assert replaced.stdout == b"['VK_ONLY']\n"


def test_cwd(tmp_path):
    assert run(["pwd"], cwd=tmp_path).stdout == os.fsencode(tmp_path) + b"\n"


def test_pass_fds_hands_an_open_descriptor_to_the_child():
    read_end, write_end = os.pipe()
    try:
        run([PY, "-c", f"import os; os.write({write_end}, b'through fd')"], pass_fds=[write_end])
        os.close(write_end)
        write_end = -1
        assert os.read(read_end, 100) == b"through fd"
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def test_other_descriptors_are_not_inherited():
    read_end, write_end = os.pipe()
    try:
        result = run(["ls", f"/proc/self/fd/{write_end}"], check=False)
        assert result.returncode != 0
    finally:
        os.close(read_end)
        os.close(write_end)


def test_nonzero_exit_raises_command_failed_with_trimmed_stderr():
    with pytest.raises(CommandFailed) as info:
        run([PY, "-c", "import sys; sys.stderr.write('\\n  disk is full  \\n\\n'); sys.exit(3)"])
    err = info.value
    assert isinstance(err, VirtError)
    assert err.returncode == 3
    assert err.stderr == b"\n  disk is full  \n\n"
    assert str(err) == f"program '{PY}' failed with exit status 3: disk is full"
    assert err.code == ErrorCode.OPERATION_FAILED
    assert type(err) is CommandFailed


def test_check_false_returns_the_status():
    result = run(["sh", "-c", "exit 7"], check=False)
    assert result.returncode == 7 and not result.ok


def test_killed_by_signal_is_named():
    with pytest.raises(CommandFailed, match="killed by SIGTERM") as info:
        run([PY, "-c", "import os,signal; os.kill(os.getpid(), signal.SIGTERM)"])
    assert info.value.returncode == -signal.SIGTERM


def test_error_domain_is_the_callers():
    with pytest.raises(CommandFailed) as info:
        run(["false"], error_domain=ErrorDomain.QEMU)
    assert info.value.domain == ErrorDomain.QEMU


def test_127_missing_program(tmp_path):
    missing = str(tmp_path / "no" / "such-program")
    with pytest.raises(CommandNotFound) as info:
        run([missing, "arg"])
    assert str(info.value) == f"program '{missing}' not found"
    assert info.value.returncode == ExitStatus.NOT_FOUND == 127
    result = run([missing], check=False)
    assert result.returncode == 127
    assert f"program '{missing}' not found" in result.stderr_text
    with pytest.raises(CommandNotFound, match="program 'virtkernel-no-such-program-xyz' not found"):
        run(["virtkernel-no-such-program-xyz"])


def test_127_uses_the_path_from_env(tmp_path):
    script = tmp_path / "vk-tool"
    script.write_text("#!/bin/sh\necho found\n")
    script.chmod(0o755)
    with pytest.raises(CommandNotFound):
        run(["vk-tool"])
    assert run(["vk-tool"], env={"PATH": str(tmp_path)}).stdout == b"found\n"


def test_126_found_but_not_executable(tmp_path):
    script = tmp_path / "not-exec"
    script.write_text("#!/bin/sh\necho never\n")
    script.chmod(0o644)
    with pytest.raises(CommandNotExecutable) as info:
        run([str(script)])
    assert str(info.value) == f"program '{script}' is not executable: Permission denied"
    assert info.value.returncode == ExitStatus.NOT_EXECUTABLE == 126
    assert run([str(script)], check=False).returncode == 126
    with pytest.raises(CommandNotExecutable, match="is not executable"):
        run([str(tmp_path)])  # a directory
    broken = tmp_path / "bad-interpreter"
    broken.write_text("#!/no/such/interpreter\n")
    broken.chmod(0o755)
    with pytest.raises(CommandNotExecutable, match="interpreter or loader was not found"):
        run([str(broken)])


def test_125_child_cannot_be_set_up(tmp_path):
    missing_dir = tmp_path / "gone"
    with pytest.raises(CommandSetupFailed) as info:
        run(["true"], cwd=missing_dir)
    assert str(info.value) == (f"could not set up program 'true': cannot change to directory "
                               f"'{missing_dir}': No such file or directory")
    assert info.value.returncode == ExitStatus.SETUP_FAILED == 125
    closed_fd = next(fd for fd in range(900, 1000) if not _fd_is_open(fd))
    with pytest.raises(CommandSetupFailed, match="could not set up program 'true': Bad file descriptor"):
        run(["true"], pass_fds=[closed_fd])


def test_the_three_launch_failures_are_distinct_types():
    kinds = {CommandNotFound, CommandNotExecutable, CommandSetupFailed}
    assert all(issubclass(kind, CommandFailed) for kind in kinds)
    assert not any(issubclass(a, b) for a in kinds for b in kinds if a is not b)


def test_invalid_argument_lists():
    with pytest.raises(InvalidArg, match="argument list"):
        run("ls -l")  # type: ignore[arg-type]
    with pytest.raises(InvalidArg, match="at least the program"):
        run([])
    with pytest.raises(InvalidArg, match="NUL"):
        run(["echo", "a\0b"])


def test_timeout_kills_the_process_group_and_leaves_no_zombie(tmp_path):
    pidfile = tmp_path / "pids"
    # The child starts a grandchild in the same process group; both must die.
    code = (f"import os,subprocess,sys,time; p=subprocess.Popen(['sleep','60']);"
            f"open({str(pidfile)!r},'w').write(f'{{os.getpid()}} {{p.pid}}'); print('started', flush=True);"
            f"time.sleep(60)")
    started = time.monotonic()
    with pytest.raises(CommandTimedOut) as info:
        run([PY, "-c", code], timeout=1.0)
    assert time.monotonic() - started < 10
    err = info.value
    assert str(err) == f"program '{PY}' did not finish within 1 seconds and was killed"
    assert err.code == ErrorCode.OPERATION_TIMEOUT
    assert err.stdout == b"started\n"
    child, grandchild = (int(x) for x in pidfile.read_text().split())
    assert _process_state(child) is None  # killed and reaped by run(): not even a zombie
    deadline = time.monotonic() + 5
    while _process_state(grandchild) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    # The grandchild was killed with its group; it is init's to reap, so it may linger briefly as a zombie.
    assert _process_state(grandchild) in (None, "Z")


def test_timeout_with_check_false_reports_it():
    result = run(["sleep", "30"], timeout=0.2, check=False)
    assert result.timed_out and not result.ok
    assert result.returncode == -signal.SIGKILL


def test_spawn_then_wait():
    command = spawn(["cat"], stdin=CAPTURE)
    assert command.pid is not None and os.getpgid(command.pid) == command.pid
    command.stdin.write(b"streamed")
    command.stdin.close()
    result = command.wait(timeout=10)
    assert isinstance(result, CommandResult) and result.stdout == b"streamed"


def test_spawn_missing_program_reports_at_wait():
    command = spawn(["virtkernel-no-such-program-xyz"])
    assert command.pid is None and command.launch_failure == ExitStatus.NOT_FOUND
    with pytest.raises(CommandNotFound):
        command.wait()


# ---------------------------------------------------------------------------------------------- pipelines

def test_pipeline_connects_programs_without_a_shell(tmp_path):
    payload = os.urandom(200_000) + b"$(id) | ; \n"
    result = run_pipeline(["gzip", "-c"], ["gzip", "-dc"], ["xz", "-c"], ["xz", "-dc"], input=payload)
    assert result.stdout == payload and result.ok and result.returncode == 0
    assert len(result.stages) == 4


def test_pipeline_into_a_file_and_back(tmp_path):
    image = tmp_path / "image.lzo"
    with open(image, "wb") as f:
        Pipeline(["printf", "%s", "memory image"], ["lzop", "-c"]).run(stdout=f)
    with open(image, "rb") as f:
        result = Pipeline(["lzop", "-dc", "--ignore-warn"], ["cat"]).run(stdin=f)
    assert result.stdout == b"memory image"


def test_pipeline_first_stage_failure_is_reported():
    with pytest.raises(CommandFailed) as info:
        run_pipeline(["sh", "-c", "echo producer broke >&2; exit 3"], ["gzip", "-c"])
    err = info.value
    assert err.stage == 0 and err.returncode == 3
    assert str(err) == "program 'sh' (stage 1 of 2 of the pipeline) failed with exit status 3: producer broke"


def test_pipeline_last_stage_failure_is_blamed_not_the_sigpipe_victim():
    with pytest.raises(CommandFailed) as info:
        run_pipeline(["yes"], ["sh", "-c", "head -c 10 >/dev/null; echo consumer broke >&2; exit 4"])
    err = info.value
    assert err.stage == 1 and err.returncode == 4
    assert "stage 2 of 2" in str(err) and str(err).endswith("consumer broke")


def test_pipeline_bad_data_blames_the_decompressor():
    with pytest.raises(CommandFailed) as info:
        run_pipeline(["printf", "not gzip"], ["gzip", "-dc"])
    assert info.value.stage == 1 and info.value.argv == ("gzip", "-dc")
    assert "not in gzip format" in str(info.value)


def test_pipeline_missing_stage_program():
    with pytest.raises(CommandNotFound) as info:
        run_pipeline(["printf", "x"], ["virtkernel-no-such-program-xyz"])
    assert info.value.stage == 1
    assert str(info.value) == ("program 'virtkernel-no-such-program-xyz' (stage 2 of 2 of the pipeline) "
                               "not found")
    with pytest.raises(CommandNotFound) as info:
        run_pipeline(["virtkernel-no-such-program-xyz"], ["cat"])
    assert info.value.stage == 0


def test_pipeline_timeout_kills_every_stage():
    started = time.monotonic()
    with pytest.raises(CommandTimedOut) as info:
        run_pipeline(["sleep", "30"], ["cat"], timeout=0.5)
    assert time.monotonic() - started < 10
    assert info.value.stage == 0


def test_pipeline_check_false_keeps_every_stage_result():
    result = run_pipeline(["sh", "-c", "exit 2"], ["sh", "-c", "cat >/dev/null; exit 5"], check=False)
    assert [stage.returncode for stage in result.stages] == [2, 5]
    assert result.returncode == 2 and not result.ok
    assert str(Pipeline(["echo", "a b"], ["cat"])) == "echo 'a b' | cat"
