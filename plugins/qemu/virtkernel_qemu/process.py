"""Start QEMU under a supervisor of ours that stays its parent, reaps it and records how it ended.

Why a supervisor: PID 1 on these hosts reaps orphans only every ~2 s, so a QEMU re-parented to it
(after ``-daemonize`` or when its parent exits) lingers as a zombie.  QEMU must stay the child of a
process of ours that reaps it at once, and that process must outlive the caller (a virtkernel
process may exit while its guests keep running; a later process reconnects through the state file
and the QMP socket).

The choice, and why: **one long-lived supervisor per calling process, forked once, spawning every
QEMU with posix_spawn on request.**  On this hardware a fork of a Python process costs ~2-5 ms and
starting a fresh interpreter ~150 ms (shadow paging makes page-table work expensive), against
~50-75 ms for bare QEMU to reach "running".  Forking a supervisor per guest (twice, so that the
caller never has to reap it) would spend most of the 20% start-up budget; a fresh interpreter per
guest would blow it.  The shared supervisor is forked (twice, into its own session, so that it is
never the caller's child and survives the caller) the first time it is needed; after that a start
costs one request/reply over a SOCK_SEQPACKET socket pair (the QEMU argv, its environment and the
file descriptors it must inherit, passed with SCM_RIGHTS) plus a vfork-based posix_spawn.

The supervisor is a forked copy of the caller that only runs `_Supervisor.run`: it closes every
inherited descriptor but its control socket, ignores SIGINT/SIGHUP/SIGTERM/SIGQUIT/SIGPIPE (QEMU gets
the default dispositions back), watches each child through a pidfd, reaps it as soon as it exits
and writes the exit file.  It exits once the caller has closed the control socket (or exited) and
its last QEMU is gone.  If the supervisor itself is killed with SIGKILL, its guests keep running but
their exit status is lost (`ExitStatus.unknown`).

Callers learn of an exit through their own pidfd on the QEMU process (`QemuProcess.fileno` can go
into a poll set or an asyncio reader); a zombie counts as exited for a pidfd, so nothing waits on
PID 1.

Files per guest, in a directory chosen by the caller (see `ProcessFiles`): ``NAME.proc`` (JSON: the
QEMU and supervisor pids and start times, the binary), ``NAME.exit`` (JSON: how QEMU ended, written
by the supervisor -- unless the caller removed ``NAME.proc`` before QEMU ended: nobody will ask then,
see `ProcessFiles.disown`), ``NAME.log`` (QEMU's stdout and stderr, appended).
"""

from __future__ import annotations

import array
import ctypes
import errno
import fcntl
import gc
import json
import os
import select
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Mapping, Optional, Sequence

from virtkernel.enums import ErrorDomain
from virtkernel.errors import OperationFailed, SystemError_

__all__ = ["ProcessFiles", "ExitStatus", "QemuProcess", "spawn", "ProcessStartError"]

_IGNORED_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT, signal.SIGPIPE)
_MAX_MESSAGE = 1 << 20
_MAX_FDS = 64
_PR_SET_NAME = 15


class ProcessStartError(OperationFailed):
    """QEMU could not be started (binary missing or not executable, supervisor failure)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, domain=ErrorDomain.QEMU)


@dataclass(frozen=True)
class ProcessFiles:
    """Where a guest's process state lives: ``DIRECTORY/NAME.proc``, ``.exit`` and ``.log``."""

    directory: Path
    name: str
    # the paths are computed once per object (cached_property writes the instance's __dict__, which a frozen
    # dataclass allows; equality and hashing still use the fields only)

    @cached_property
    def state(self) -> Path:
        """JSON with the QEMU and supervisor pids and start times (written at start)."""
        return Path(self.directory) / f"{self.name}.proc"

    @cached_property
    def exit(self) -> Path:
        """JSON with QEMU's exit status (written by the supervisor when QEMU ends)."""
        return Path(self.directory) / f"{self.name}.exit"

    @cached_property
    def log(self) -> Path:
        """QEMU's stdout and stderr."""
        return Path(self.directory) / f"{self.name}.log"

    @cached_property
    def qmp(self) -> Path:
        """The conventional QMP socket path (``NAME.qmp``; keep it under 108 bytes)."""
        return Path(self.directory) / f"{self.name}.qmp"

    @cached_property
    def pidfile(self) -> Path:
        """The conventional path for QEMU's own -pidfile (``NAME.pid``)."""
        return Path(self.directory) / f"{self.name}.pid"

    def remove(self) -> None:
        """Delete the state and exit files (not the log): done by `spawn` before a start."""
        self._unlink(self.state, self.exit)

    def cleanup(self) -> None:
        """Delete everything but the log once the guest has stopped: state, exit, QMP socket, pidfile."""
        self._unlink(self.state, self.exit, self.qmp, self.pidfile)

    def disown(self) -> None:
        """Delete the state file of a QEMU about to be killed: its supervisor then writes no exit file for it."""
        self._unlink(self.state)

    @staticmethod
    def _unlink(*paths: Path) -> None:
        for path in paths:
            try:
                path.unlink()
            except FileNotFoundError:
                pass


@dataclass(frozen=True)
class ExitStatus:
    """How QEMU ended: an exit code, a signal, or unknown (its supervisor was killed)."""

    returncode: Optional[int] = None
    signal: Optional[int] = None

    @classmethod
    def unknown(cls) -> "ExitStatus":
        """The status of a QEMU whose supervisor did not record it."""
        return cls()

    @classmethod
    def from_wait_status(cls, status: int) -> "ExitStatus":
        """Decode a waitpid() status."""
        if os.WIFSIGNALED(status):
            return cls(signal=os.WTERMSIG(status))
        return cls(returncode=os.waitstatus_to_exitcode(status))

    @property
    def known(self) -> bool:
        """True when the exit code or signal was recorded."""
        return self.returncode is not None or self.signal is not None

    def describe(self) -> str:
        """A phrase for messages: 'exited with status 1', 'was killed by signal 9 (SIGKILL)'."""
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = "unknown"
            return f"was killed by signal {self.signal} ({name})"
        if self.returncode is not None:
            return f"exited with status {self.returncode}"
        return "ended (exit status unknown)"


def _start_ticks(pid: int) -> Optional[int]:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(data[data.rindex(b")") + 2:].split()[19])


def _write_json_atomically(path: str, value: object) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, json.dumps(value).encode())
    finally:
        os.close(fd)
    os.rename(tmp, path)


# --------------------------------------------------------------------------------------------
# The supervisor process
# --------------------------------------------------------------------------------------------

class _Supervisor:
    """The loop the forked supervisor runs: spawn on request, reap on exit, record the status."""

    def __init__(self, control: socket.socket) -> None:
        self.control: Optional[socket.socket] = control
        # pidfd -> (pid, exit file, kill on disconnect, state file)
        self.children: dict[int, tuple[int, str, bool, Optional[str]]] = {}
        self.poller = select.poll()
        self.poller.register(control.fileno(), select.POLLIN)

    def run(self) -> None:
        while self.control is not None or self.children:
            for fd, _ in self.poller.poll():
                if self.control is not None and fd == self.control.fileno():
                    self._serve_request()
                elif fd in self.children:
                    self._reap(fd)

    def _serve_request(self) -> None:
        assert self.control is not None
        fds: list[int] = []
        try:
            data, ancdata, _flags, _addr = self.control.recvmsg(  # received fds close on exec:
                _MAX_MESSAGE, socket.CMSG_LEN(_MAX_FDS * array.array("i").itemsize),  # QEMU gets only
                socket.MSG_CMSG_CLOEXEC)                                             # the dup2'd copies
        except OSError:
            data, ancdata = b"", []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                received = array.array("i")
                received.frombytes(payload[:len(payload) - len(payload) % received.itemsize])
                fds.extend(received)
        if not data:  # the caller closed its end (or exited): serve no more requests
            for fd in fds:
                os.close(fd)
            self.poller.unregister(self.control.fileno())
            self.control.close()
            self.control = None
            for pidfd, (_pid, _path, tied, _state) in self.children.items():
                if tied:
                    try:
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            return
        try:
            reply = self._spawn(json.loads(data), fds)
        except OSError as exc:
            reply = {"errno": exc.errno, "error": exc.strerror or str(exc),
                     "filename": os.fsdecode(exc.filename) if exc.filename is not None else None}
        except Exception as exc:  # a malformed request must not kill the supervisor
            reply = {"errno": 0, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            for fd in fds:
                os.close(fd)
        try:
            self.control.send(json.dumps(reply).encode())
        except OSError:
            pass

    def _spawn(self, request: dict, fds: list[int]) -> dict:
        targets: list[int] = request["fd_targets"]
        # Move received descriptors above every target so the dup2 actions cannot clobber each other.
        floor = max(targets, default=2) + 1
        moved = [_dup_above(fd, floor) for fd in fds]
        log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                       (os.POSIX_SPAWN_DUP2, log_fd, 1),
                       (os.POSIX_SPAWN_DUP2, log_fd, 2)]
            actions += [(os.POSIX_SPAWN_DUP2, source, target) for source, target in zip(moved, targets)]
            pid = os.posix_spawn(request["executable"], request["argv"], request["env"],
                                 file_actions=actions, setsigdef=_IGNORED_SIGNALS, setsigmask=())
        finally:
            os.close(log_fd)
            for fd in moved:
                os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = (pid, request["exit"], bool(request.get("tied")), request.get("state"))
        self.poller.register(pidfd, select.POLLIN)
        return {"pid": pid, "start": _start_ticks(pid), "supervisor": os.getpid()}

    def _reap(self, pidfd: int) -> None:
        pid, exit_path, _tied, state_path = self.children.pop(pidfd)
        self.poller.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        if state_path is not None and not os.path.exists(state_path):
            return  # disowned: the caller removed the state file before QEMU ended and wants no record
        exited = ExitStatus.from_wait_status(status)
        try:
            _write_json_atomically(exit_path, {"pid": pid, "returncode": exited.returncode,
                                               "signal": exited.signal, "time": time.time()})
        except OSError:
            pass  # the state directory was removed: nobody is left to read the status


def _dup_above(fd: int, floor: int) -> int:
    """Duplicate fd to the lowest free number >= floor, close-on-exec."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)


# Loaded at import time: the forked supervisor must not import or dlopen anything.
_LIBC = ctypes.CDLL(None, use_errno=True)


def _set_process_name(name: bytes) -> None:
    try:
        _LIBC.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)
    except AttributeError:
        pass


def _supervisor_main(control: socket.socket) -> None:
    """Body of the supervisor process (never returns)."""
    code = 0
    try:
        gc.disable()  # no finalizers of the caller's objects may run here
        os.setsid()
        keep = control.fileno()
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd != keep and fd > 2:
                try:
                    os.close(fd)
                except OSError:
                    pass
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if null > 2:
            os.close(null)
        for number in _IGNORED_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        _set_process_name(b"vk-qemu-superv")
        _Supervisor(control).run()
    except BaseException:  # noqa: BLE001 - nothing can be reported from here
        code = 1
    os._exit(code)


class _SupervisorClient:
    """The calling process's connection to its supervisor (started on first use)."""

    _lock = threading.Lock()
    _instance: Optional["_SupervisorClient"] = None

    def __init__(self) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        intermediate = os.fork()
        if intermediate == 0:
            try:
                gc.disable()
                parent_end.close()
                if os.fork() == 0:
                    _supervisor_main(child_end)
            finally:
                os._exit(0)
        child_end.close()
        os.waitpid(intermediate, 0)
        self.socket = parent_end
        self.owner_pid = os.getpid()
        self.request_lock = threading.Lock()

    @classmethod
    def get(cls) -> "_SupervisorClient":
        """The process-wide supervisor connection, forking a supervisor if this process has none."""
        with cls._lock:
            instance = cls._instance
            if instance is None or instance.owner_pid != os.getpid() or instance.socket.fileno() < 0:
                instance = cls._instance = cls()
            return instance

    @classmethod
    def discard(cls, instance: "_SupervisorClient") -> None:
        """Forget a supervisor that stopped answering (the next start forks a new one)."""
        with cls._lock:
            if cls._instance is instance:
                cls._instance = None
        instance.socket.close()

    def request(self, message: dict, fds: Sequence[int]) -> dict:
        """Send one request with its descriptors and return the supervisor's reply."""
        data = json.dumps(message).encode()
        with self.request_lock:
            ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
            self.socket.sendmsg([data], ancillary)
            reply = self.socket.recv(_MAX_MESSAGE)
        if not reply:
            raise EOFError("the QEMU supervisor process closed its connection")
        return json.loads(reply)


# --------------------------------------------------------------------------------------------
# The caller's view of one QEMU process
# --------------------------------------------------------------------------------------------

class QemuProcess:
    """A QEMU process started by `spawn` or found again by `QemuProcess.attach`."""

    def __init__(self, files: ProcessFiles, pid: int, start_ticks: Optional[int],
                 supervisor_pid: Optional[int]) -> None:
        self.files = files
        self.pid = pid
        self.start_ticks = start_ticks
        self.supervisor_pid = supervisor_pid
        self._pidfd: Optional[int] = None
        self._exited = False
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._exited = True
        else:
            if start_ticks is not None and _start_ticks(pid) != start_ticks:
                os.close(fd)  # the pid was reused by another process: ours is gone
                self._exited = True
            else:
                self._pidfd = fd

    def __repr__(self) -> str:
        return f"QemuProcess(name={self.files.name!r}, pid={self.pid}, running={self.is_running()})"

    @classmethod
    def attach(cls, files: ProcessFiles) -> Optional["QemuProcess"]:
        """Find a guest's QEMU again from its state file; None when there is no state file.

        The result may describe a QEMU that has already exited (`is_running()` is False).
        """
        try:
            state = json.loads(files.state.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OperationFailed(f"cannot read QEMU process state {files.state}: {exc}",
                                  domain=ErrorDomain.QEMU) from exc
        return cls(files, int(state["pid"]), state.get("start"), state.get("supervisor"))

    def fileno(self) -> int:
        """The pidfd of the QEMU process (readable once it has exited); -1 when already known to be gone."""
        return -1 if self._pidfd is None else self._pidfd

    def is_running(self) -> bool:
        """True while the QEMU process has not exited (never blocks)."""
        return not self._wait_exit(0)

    def _wait_exit(self, timeout: Optional[float]) -> bool:
        if not self._exited:
            assert self._pidfd is not None
            ready, _, _ = select.select([self._pidfd], [], [], timeout)
            if not ready:
                return False
            self._exited = True
            self._close_pidfd()
        return True

    def wait(self, timeout: Optional[float] = None) -> Optional[ExitStatus]:
        """Wait up to timeout seconds (None: forever) for QEMU to exit; its status, or None if still running."""
        return self.exit_status() if self._wait_exit(timeout) else None

    def exit_status(self, settle: float = 1.0) -> Optional[ExitStatus]:
        """How QEMU ended (None while it runs); waits up to `settle` s for the supervisor to record it."""
        if not self._wait_exit(0):
            return None
        deadline = time.monotonic() + settle
        while True:
            try:
                recorded = json.loads(self.files.exit.read_text())
            except (FileNotFoundError, ValueError):
                recorded = None
            if recorded is not None and recorded.get("pid") == self.pid:
                return ExitStatus(recorded.get("returncode"), recorded.get("signal"))
            if time.monotonic() >= deadline or not self._supervisor_alive():
                return ExitStatus.unknown()
            time.sleep(0.001)

    def _supervisor_alive(self) -> bool:
        if self.supervisor_pid is None:
            return False
        try:
            with open(f"/proc/{self.supervisor_pid}/stat", "rb") as stat:
                data = stat.read()
        except FileNotFoundError:
            return False
        return data[data.rindex(b")") + 2:data.rindex(b")") + 3] != b"Z"

    def send_signal(self, number: int) -> bool:
        """Send a signal to QEMU (through its pidfd, so never to a recycled pid); False if it is gone."""
        if self._exited or self._pidfd is None:
            return False
        try:
            signal.pidfd_send_signal(self._pidfd, number)
        except ProcessLookupError:
            return False
        return True

    def terminate(self, grace: float = 10.0) -> ExitStatus:
        """Stop QEMU: SIGTERM, then SIGKILL if it is still there after `grace` seconds; its exit status."""
        if self.send_signal(signal.SIGTERM):
            status = self.wait(grace)
            if status is not None:
                return status
        return self.kill()

    def kill(self, timeout: float = 30.0) -> ExitStatus:
        """SIGKILL QEMU and wait for it to be gone; its exit status."""
        self.send_signal(signal.SIGKILL)
        status = self.wait(timeout)
        if status is None:
            raise self._did_not_die()
        return status

    def kill_disowned(self, timeout: float = 30.0) -> None:
        """SIGKILL a QEMU whose state file was removed (`ProcessFiles.disown`) and wait until it has exited.

        No exit status: its supervisor records none, so there is nothing to wait for once QEMU is gone.
        """
        self.send_signal(signal.SIGKILL)
        if not self._wait_exit(timeout):
            raise self._did_not_die()

    def _did_not_die(self) -> SystemError_:
        return SystemError_(f"QEMU process {self.pid} of guest '{self.files.name}' did not die after SIGKILL",
                            domain=ErrorDomain.QEMU)

    def log_tail(self, limit: int = 4000) -> str:
        """The end of QEMU's log (stdout and stderr), for error messages."""
        try:
            with open(self.files.log, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - limit))
                return log.read().decode(errors="replace").strip()
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        """Release the pidfd (the QEMU process is not touched)."""
        self._close_pidfd()

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        self._close_pidfd()


def spawn(argv: Sequence[str], files: ProcessFiles, *, pass_fds: Mapping[int, int] | Sequence[int] = (),
          env: Optional[Mapping[str, str]] = None, tied_to_caller: bool = False) -> QemuProcess:
    """Start argv (argv[0]: the QEMU binary, a path or a name looked up in PATH) under the supervisor.

    pass_fds: descriptors QEMU inherits, either a sequence (same numbers in QEMU) or a mapping
    {number in QEMU: descriptor here}.  The caller keeps ownership of its descriptors.
    tied_to_caller: the supervisor SIGKILLs this QEMU when the calling process exits (or closes
    its supervisor connection) -- for tests and throwaway guests; by default QEMU outlives the caller.
    Writes `files.state`, removes a stale `files.exit`; QEMU's output is appended to `files.log`.
    Raises ProcessStartError when the binary is missing or cannot be executed.
    """
    if not argv:
        raise ValueError("empty QEMU argv")
    executable = shutil.which(argv[0]) if os.sep not in argv[0] else argv[0]
    if executable is None or not os.path.exists(executable):
        raise ProcessStartError(f"cannot start QEMU for guest '{files.name}': "
                                f"binary '{argv[0]}' not found")
    fd_map = dict(pass_fds) if isinstance(pass_fds, Mapping) else {fd: fd for fd in pass_fds}
    if any(target <= 2 for target in fd_map):
        raise ValueError("descriptors 0-2 of QEMU are reserved for /dev/null and the log")
    try:
        Path(files.directory).mkdir(parents=True, exist_ok=True)
        files.remove()
    except OSError as exc:
        raise ProcessStartError(f"cannot start QEMU for guest '{files.name}': cannot use state directory "
                                f"'{files.directory}': {exc.strerror}") from exc
    request = {"executable": executable, "argv": list(argv),
               "env": dict(os.environ if env is None else env), "log": str(files.log),
               "exit": str(files.exit), "state": str(files.state), "fd_targets": list(fd_map),
               "tied": tied_to_caller}
    for attempt in (1, 2):
        client = _SupervisorClient.get()
        try:
            reply = client.request(request, list(fd_map.values()))
            break
        except (OSError, EOFError):
            _SupervisorClient.discard(client)  # it died: fork a fresh one and try once more
            if attempt == 2:
                raise ProcessStartError(f"cannot start QEMU for guest '{files.name}': "
                                        "the supervisor process is not answering")
    if "pid" not in reply:
        reason = reply.get("error", "unknown error")
        filename = reply.get("filename")
        if filename == str(files.log):
            reason = f"cannot open log file '{filename}': {reason}"
        elif reply.get("errno") == errno.ENOENT:
            reason = f"binary '{executable}' not found"
        else:
            reason = f"binary '{executable}' cannot be executed: {reason}"
        raise ProcessStartError(f"cannot start QEMU for guest '{files.name}': {reason}")
    state = {"pid": reply["pid"], "start": reply["start"], "supervisor": reply["supervisor"],
             "executable": executable}
    _write_json_atomically(str(files.state), state)
    return QemuProcess(files, reply["pid"], reply["start"], state["supervisor"])

