"""Run programs from argument lists (never a shell): capture, timeouts, launch failures, pipelines."""

from __future__ import annotations

import errno
import os
import selectors
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import IO, Mapping, Optional, Sequence, Union

from .enums import ErrorCode, ErrorDomain
from .errors import InvalidArg, OperationFailed, VirtError

__all__ = [
    "ExitStatus", "CommandResult", "PipelineResult", "RunningCommand",
    "CommandFailed", "CommandNotFound", "CommandNotExecutable", "CommandSetupFailed", "CommandTimedOut",
    "run", "spawn", "run_pipeline", "Pipeline", "CAPTURE", "pid_alive",
]

Arg = Union[str, bytes, os.PathLike]
Input = Union[bytes, str, None]
# Where a child's stdin/stdout/stderr goes: CAPTURE (a pipe we read), subprocess.DEVNULL, an fd or a file object.
Target = Union[int, IO, None]

CAPTURE = subprocess.PIPE
"""Stream target meaning "capture into the result" (the default for stdout and stderr)."""

_STDERR_LIMIT = 4000  # characters of stderr kept in an error message
_KILL_GRACE = 5.0  # seconds to wait for output pipes to close after a kill


class ExitStatus(IntEnum):
    """Exit statuses reserved for children that never ran the program (the coreutils/POSIX shell convention)."""

    SETUP_FAILED = 125
    NOT_EXECUTABLE = 126
    NOT_FOUND = 127


@dataclass(frozen=True)
class CommandResult:
    """What a finished program did: its exit status (negative: killed by that signal) and captured output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes = b""
    stderr: bytes = b""
    duration: float = 0.0
    timed_out: bool = False

    @property
    def program(self) -> str:
        """The program as the caller named it (argv[0])."""
        return self.argv[0] if self.argv else ""

    @property
    def stdout_text(self) -> str:
        """stdout decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        """stderr decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stderr.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        """True when the program exited with status 0 in time."""
        return self.returncode == 0 and not self.timed_out


@dataclass(frozen=True)
class PipelineResult:
    """The results of every stage of a pipeline, in order."""

    stages: tuple[CommandResult, ...]
    duration: float = 0.0

    @property
    def stdout(self) -> bytes:
        """The last stage's captured stdout."""
        return self.stages[-1].stdout

    @property
    def returncode(self) -> int:
        """The status of the stage that failed first (root cause), or 0 when all succeeded."""
        failed = _root_failure(self.stages)
        return 0 if failed is None else self.stages[failed].returncode

    @property
    def ok(self) -> bool:
        """True when every stage exited with status 0 in time."""
        return all(stage.ok for stage in self.stages)


# ---------------------------------------------------------------------------------------------- errors

def pid_alive(pid: int) -> bool:
    """True if a process with this PID exists (zombies included, and processes we may not signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _trim(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    if len(text) > _STDERR_LIMIT:
        text = "..." + text[-_STDERR_LIMIT:]
    return text


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _stage_label(stage: Optional[int], stages: int) -> str:
    return "" if stage is None or stages <= 1 else f" (stage {stage + 1} of {stages} of the pipeline)"


class CommandFailed(OperationFailed):
    """A program ran (or tried to) and ended with a non-zero status; message includes its stderr."""

    default_code = ErrorCode.OPERATION_FAILED

    def __init__(self, message: str, result: CommandResult, *, stage: Optional[int] = None,
                 code: Optional[int] = None, domain: int = ErrorDomain.NONE) -> None:
        super().__init__(message, code=code, domain=domain)
        self.result = result
        self.stage = stage

    @property
    def argv(self) -> tuple[str, ...]:
        """The failed program's argument list."""
        return self.result.argv

    @property
    def returncode(self) -> int:
        """The exit status (negative: killed by that signal)."""
        return self.result.returncode

    @property
    def stdout(self) -> bytes:
        """The program's captured stdout."""
        return self.result.stdout

    @property
    def stderr(self) -> bytes:
        """The program's captured stderr."""
        return self.result.stderr

    @classmethod
    def from_result(cls, result: CommandResult, *, stage: Optional[int] = None, stages: int = 1,
                    domain: int = ErrorDomain.NONE) -> "CommandFailed":
        """The error describing a result with a non-zero status."""
        where = _stage_label(stage, stages)
        if result.returncode < 0:
            message = f"program '{result.program}'{where} was killed by {_signal_name(-result.returncode)}"
        else:
            message = f"program '{result.program}'{where} failed with exit status {result.returncode}"
        detail = _trim(result.stderr)
        if detail:
            message += f": {detail}"
        return cls(message, result, stage=stage, domain=domain)


class CommandNotFound(CommandFailed):
    """The program does not exist (status 127)."""

    default_code = ErrorCode.SYSTEM_ERROR


class CommandNotExecutable(CommandFailed):
    """The program exists but cannot be executed (status 126)."""

    default_code = ErrorCode.SYSTEM_ERROR


class CommandSetupFailed(CommandFailed):
    """The child could not be prepared to run the program: cwd, file descriptors... (status 125)."""

    default_code = ErrorCode.SYSTEM_ERROR


class CommandTimedOut(VirtError):
    """A program did not finish in time; its process group was killed."""

    default_code = ErrorCode.OPERATION_TIMEOUT

    def __init__(self, message: str, result: CommandResult, timeout: float, *, stage: Optional[int] = None,
                 domain: int = ErrorDomain.NONE) -> None:
        super().__init__(message, domain=domain)
        self.result = result
        self.timeout = timeout
        self.stage = stage

    @property
    def stdout(self) -> bytes:
        """What the program wrote to stdout before it was killed."""
        return self.result.stdout

    @property
    def stderr(self) -> bytes:
        """What the program wrote to stderr before it was killed."""
        return self.result.stderr


_LAUNCH_ERRORS: dict[int, type[CommandFailed]] = {
    ExitStatus.SETUP_FAILED: CommandSetupFailed,
    ExitStatus.NOT_EXECUTABLE: CommandNotExecutable,
    ExitStatus.NOT_FOUND: CommandNotFound,
}


@dataclass(frozen=True)
class _LaunchFailure:
    status: ExitStatus
    program: str
    detail: str = ""

    def message(self, where: str = "") -> str:
        if self.status == ExitStatus.NOT_FOUND:
            return f"program '{self.program}'{where} not found"
        if self.status == ExitStatus.NOT_EXECUTABLE:
            return f"program '{self.program}'{where} is not executable: {self.detail}"
        return f"could not set up program '{self.program}'{where}: {self.detail}"


# ---------------------------------------------------------------------------------------------- launching

def _normalize_argv(argv: Sequence[Arg]) -> tuple[str, ...]:
    if isinstance(argv, (str, bytes)):
        raise InvalidArg("a command must be an argument list, not a single string")
    if not argv:
        raise InvalidArg("a command needs at least the program to run")
    out = []
    for arg in argv:
        if isinstance(arg, bytes):
            arg = os.fsdecode(arg)
        elif isinstance(arg, os.PathLike):
            arg = os.fspath(arg)
            arg = os.fsdecode(arg) if isinstance(arg, bytes) else arg
        elif not isinstance(arg, str):
            raise InvalidArg(f"command argument {arg!r} is not a string")
        if "\0" in arg:
            raise InvalidArg(f"command argument {arg!r} contains a NUL byte")
        out.append(arg)
    return tuple(out)


def _build_env(env: Optional[Mapping[str, Optional[str]]], replace_env: bool) -> Optional[dict[str, str]]:
    if env is None and not replace_env:
        return None
    merged: dict[str, str] = {} if replace_env else dict(os.environ)
    for key, value in (env or {}).items():
        if not key or "=" in key or "\0" in key:
            raise InvalidArg(f"environment variable name {key!r} is not valid")
        if value is None:
            merged.pop(key, None)
        elif "\0" in value:
            raise InvalidArg(f"environment variable {key} contains a NUL byte")
        else:
            merged[key] = value
    return merged


def _describe_launch_error(program: str, cwd: Optional[str], exc: Exception) -> _LaunchFailure:
    """Classify a failed launch as 125/126/127."""
    reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else (str(exc) or type(exc).__name__)
    filename = os.fsdecode(exc.filename) if isinstance(exc, OSError) and exc.filename is not None else None
    if filename == program:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):  # type: ignore[union-attr]
            if "/" in program and os.path.lexists(program):
                return _LaunchFailure(ExitStatus.NOT_EXECUTABLE, program,
                                      "its interpreter or loader was not found")
            return _LaunchFailure(ExitStatus.NOT_FOUND, program)
        return _LaunchFailure(ExitStatus.NOT_EXECUTABLE, program, reason)
    if cwd is not None and filename == cwd:
        return _LaunchFailure(ExitStatus.SETUP_FAILED, program, f"cannot change to directory '{cwd}': {reason}")
    return _LaunchFailure(ExitStatus.SETUP_FAILED, program, reason)


class RunningCommand:
    """A started program: feed its stdin, then wait() for its CommandResult."""

    def __init__(self, argv: tuple[str, ...], popen: Optional[subprocess.Popen],
                 failure: Optional[_LaunchFailure], domain: int) -> None:
        self.argv = argv
        self._popen = popen
        self._failure = failure
        self._domain = domain
        self._started = time.monotonic()
        self._result: Optional[CommandResult] = None

    @property
    def pid(self) -> Optional[int]:
        """The child's pid (it leads its own process group), or None when it could not be launched."""
        return self._popen.pid if self._popen is not None else None

    @property
    def stdin(self) -> Optional[IO[bytes]]:
        """The write end of the child's stdin when it was started with stdin=CAPTURE."""
        return self._popen.stdin if self._popen is not None else None

    @property
    def stdout(self) -> Optional[IO[bytes]]:
        """The read end of the child's stdout when it was started with stdout=CAPTURE."""
        return self._popen.stdout if self._popen is not None else None

    @property
    def stderr(self) -> Optional[IO[bytes]]:
        """The read end of the child's stderr when it was started with stderr=CAPTURE."""
        return self._popen.stderr if self._popen is not None else None

    @property
    def launch_failure(self) -> Optional[ExitStatus]:
        """Why the program never ran (125/126/127), or None when it started."""
        return self._failure.status if self._failure is not None else None

    def poll(self) -> Optional[int]:
        """The exit status if the program has finished, else None."""
        if self._failure is not None:
            return int(self._failure.status)
        return self._popen.poll()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the program's whole process group (no-op once it has been reaped)."""
        if self._popen is None or self._popen.returncode is not None:
            return
        try:
            os.killpg(self._popen.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: Optional[float] = None, *, check: bool = True) -> CommandResult:
        """Collect captured output, wait for exit (killing the process group on timeout) and return the result."""
        if self._result is None:
            results = _collect([self], None, timeout)
            self._result = results[0]
        if check:
            _raise_for(self._result, self._failure, None, 1, timeout, self._domain)
        return self._result

    # used by _collect
    def _launch_result(self) -> CommandResult:
        assert self._failure is not None
        return CommandResult(self.argv, int(self._failure.status), b"",
                             self._failure.message().encode() + b"\n", 0.0)


def spawn(argv: Sequence[Arg], *, stdin: Target = subprocess.DEVNULL, stdout: Target = CAPTURE,
          stderr: Target = CAPTURE, env: Optional[Mapping[str, Optional[str]]] = None, replace_env: bool = False,
          cwd: Union[str, os.PathLike, None] = None, pass_fds: Sequence[int] = (),
          error_domain: int = ErrorDomain.NONE) -> RunningCommand:
    """Start a program in its own process group without waiting; launch failures surface at wait()."""
    args = _normalize_argv(argv)
    environ = _build_env(env, replace_env)
    cwd_str = os.fsdecode(os.fspath(cwd)) if cwd is not None else None
    try:
        popen = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=stderr, env=environ, cwd=cwd_str,
                                 pass_fds=tuple(pass_fds), close_fds=True, process_group=0)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return RunningCommand(args, None, _describe_launch_error(args[0], cwd_str, exc), error_domain)
    return RunningCommand(args, popen, None, error_domain)


def _collect(commands: Sequence[RunningCommand], input_data: Optional[bytes],
             timeout: Optional[float]) -> list[CommandResult]:
    """Feed stdin of the first command, drain every captured pipe, reap every process; kill all on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    outputs: dict[int, bytearray] = {}
    selector = selectors.DefaultSelector()
    owners: dict[int, tuple[int, str]] = {}
    for index, command in enumerate(commands):
        for name in ("stdout", "stderr"):
            stream = getattr(command, name)
            if stream is not None:
                fd = stream.fileno()
                os.set_blocking(fd, False)
                selector.register(fd, selectors.EVENT_READ)
                owners[fd] = (index, name)
                outputs[fd] = bytearray()
    first_stdin = commands[0].stdin if commands else None
    pending = memoryview(input_data) if input_data is not None else memoryview(b"")
    stdin_fd = -1
    if first_stdin is not None:
        if pending:
            stdin_fd = first_stdin.fileno()
            os.set_blocking(stdin_fd, False)
            selector.register(stdin_fd, selectors.EVENT_WRITE)
        else:
            first_stdin.close()

    timed_out = False
    try:
        while selector.get_map():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(remaining):
                fd = key.fd
                if fd == stdin_fd:
                    try:
                        written = os.write(fd, pending[:65536])
                        pending = pending[written:]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        pending = memoryview(b"")
                    if not pending:
                        selector.unregister(fd)
                        first_stdin.close()
                        stdin_fd = -1
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if chunk:
                    outputs[fd] += chunk
                else:
                    selector.unregister(fd)
        if timed_out:
            for command in commands:
                command.kill(signal.SIGKILL)
            grace_deadline = time.monotonic() + _KILL_GRACE
            while selector.get_map():
                remaining = grace_deadline - time.monotonic()
                if remaining <= 0:
                    break
                for key, _ in selector.select(remaining):
                    if key.fd in owners:
                        try:
                            chunk = os.read(key.fd, 65536)
                        except BlockingIOError:
                            continue
                        if chunk:
                            outputs[key.fd] += chunk
                        else:
                            selector.unregister(key.fd)
                    else:
                        selector.unregister(key.fd)
        # Processes may outlive their pipes (e.g. they closed stdout); wait for them under the same deadline.
        for command in commands:
            popen = command._popen
            if popen is None:
                continue
            while popen.returncode is None:
                remaining = None if deadline is None or timed_out else deadline - time.monotonic()
                try:
                    popen.wait(timeout=None if remaining is None else max(remaining, 0.0))
                except subprocess.TimeoutExpired:
                    timed_out = True
                    for other in commands:
                        other.kill(signal.SIGKILL)
    finally:
        selector.close()
        for command in commands:
            for name in ("stdin", "stdout", "stderr"):
                stream = getattr(command, name)
                if stream is not None and not stream.closed:
                    stream.close()

    now = time.monotonic()
    results = []
    for index, command in enumerate(commands):
        if command._popen is None:
            results.append(command._launch_result())
            continue
        captured = {name: bytes(outputs[fd]) for fd, (owner, name) in owners.items() if owner == index}
        results.append(CommandResult(command.argv, command._popen.returncode, captured.get("stdout", b""),
                                     captured.get("stderr", b""), now - command._started,
                                     timed_out=timed_out))
    return results


def _raise_for(result: CommandResult, failure: Optional[_LaunchFailure], stage: Optional[int], stages: int,
               timeout: Optional[float], domain: int) -> None:
    if result.timed_out:
        where = _stage_label(stage, stages)
        raise CommandTimedOut(f"program '{result.program}'{where} did not finish within {timeout:g} seconds "
                              "and was killed", result, float(timeout or 0), stage=stage, domain=domain)
    if failure is not None:
        cls = _LAUNCH_ERRORS[failure.status]
        raise cls(failure.message(_stage_label(stage, stages)), result, stage=stage, domain=domain)
    if result.returncode != 0:
        raise CommandFailed.from_result(result, stage=stage, stages=stages, domain=domain)


def _input_bytes(input: Input) -> Optional[bytes]:
    if input is None:
        return None
    if isinstance(input, str):
        return input.encode("utf-8")
    if isinstance(input, (bytes, bytearray, memoryview)):
        return bytes(input)
    raise InvalidArg("command input must be bytes or str")


def run(argv: Sequence[Arg], *, input: Input = None, env: Optional[Mapping[str, Optional[str]]] = None,
        replace_env: bool = False, cwd: Union[str, os.PathLike, None] = None, timeout: Optional[float] = None,
        check: bool = True, stdin: Target = None, stdout: Target = CAPTURE, stderr: Target = CAPTURE,
        pass_fds: Sequence[int] = (), error_domain: int = ErrorDomain.NONE) -> CommandResult:
    """Run a program to completion and return its CommandResult.

    `input` (bytes or str) is written to its stdin; otherwise stdin is `stdin` (fd or file) or /dev/null.
    `env` adds to os.environ (a None value removes a variable), or replaces it with replace_env=True.
    On timeout the program's process group is killed. With check=True a launch failure raises
    CommandSetupFailed/CommandNotExecutable/CommandNotFound, a non-zero exit CommandFailed and a timeout
    CommandTimedOut; with check=False those come back as returncode 125/126/127, the status, or timed_out.
    """
    if timeout is not None and timeout < 0:
        raise InvalidArg("timeout must not be negative")
    data = _input_bytes(input)
    if data is not None and stdin is not None:
        raise InvalidArg("pass either input or stdin, not both")
    command = spawn(argv, stdin=CAPTURE if data is not None else (stdin if stdin is not None
                                                                   else subprocess.DEVNULL),
                    stdout=stdout, stderr=stderr, env=env, replace_env=replace_env, cwd=cwd,
                    pass_fds=pass_fds, error_domain=error_domain)
    result = _collect([command], data, timeout)[0]
    command._result = result
    if check:
        _raise_for(result, command._failure, None, 1, timeout, error_domain)
    return result


# ---------------------------------------------------------------------------------------------- pipelines

def _root_failure(results: Sequence[CommandResult]) -> Optional[int]:
    """The first failed stage that is not just a victim of a later stage closing the pipe."""
    failed = [i for i, result in enumerate(results) if not result.ok]
    if not failed:
        return None
    timed_out = [i for i in failed if results[i].timed_out]
    if timed_out:
        return timed_out[0]
    for i in failed:
        victim = results[i].returncode == -signal.SIGPIPE and any(j > i for j in failed)
        if not victim:
            return i
    return failed[0]


class Pipeline:
    """`stage1 | stage2 | ...` between programs without a shell; each stage's stderr is kept apart."""

    def __init__(self, *stages: Sequence[Arg]) -> None:
        if not stages:
            raise InvalidArg("a pipeline needs at least one program")
        self.stages: list[tuple[str, ...]] = [_normalize_argv(stage) for stage in stages]

    def __str__(self) -> str:
        return " | ".join(shlex.join(stage) for stage in self.stages)

    def run(self, *, input: Input = None, stdin: Target = None, stdout: Target = CAPTURE,
            env: Optional[Mapping[str, Optional[str]]] = None, replace_env: bool = False,
            cwd: Union[str, os.PathLike, None] = None, timeout: Optional[float] = None, check: bool = True,
            error_domain: int = ErrorDomain.NONE) -> PipelineResult:
        """Run every stage connected by pipes; with check=True raise the root-cause stage's error.

        The raised error's `stage` attribute is the 0-based index of the stage that failed; a stage killed
        by SIGPIPE because a later stage gave up is not blamed.
        """
        if timeout is not None and timeout < 0:
            raise InvalidArg("timeout must not be negative")
        data = _input_bytes(input)
        if data is not None and stdin is not None:
            raise InvalidArg("pass either input or stdin, not both")
        started = time.monotonic()
        commands: list[RunningCommand] = []
        previous_read: Optional[int] = None
        try:
            for index, argv in enumerate(self.stages):
                last = index == len(self.stages) - 1
                if index == 0:
                    stage_in: Target = CAPTURE if data is not None else (
                        stdin if stdin is not None else subprocess.DEVNULL)
                else:
                    stage_in = previous_read
                if last:
                    stage_out: Target = stdout
                    next_read = None
                else:
                    next_read, stage_out = os.pipe()
                try:
                    commands.append(spawn(argv, stdin=stage_in, stdout=stage_out, stderr=CAPTURE, env=env,
                                          replace_env=replace_env, cwd=cwd, error_domain=error_domain))
                finally:
                    if previous_read is not None:
                        os.close(previous_read)
                    if not last:
                        os.close(stage_out)  # type: ignore[arg-type]
                previous_read = next_read
        except BaseException:
            for command in commands:
                command.kill()
            if commands:
                _collect(commands, None, _KILL_GRACE)
            raise
        results = _collect(commands, data, timeout)
        outcome = PipelineResult(tuple(results), time.monotonic() - started)
        if check:
            failed = _root_failure(results)
            if failed is not None:
                _raise_for(results[failed], commands[failed]._failure, failed, len(results), timeout,
                           error_domain)
        return outcome


def run_pipeline(*stages: Sequence[Arg], **options) -> PipelineResult:
    """Shorthand for Pipeline(*stages).run(**options)."""
    return Pipeline(*stages).run(**options)
