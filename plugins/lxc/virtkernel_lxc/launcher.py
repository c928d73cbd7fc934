"""Starting containers and handling running ones: `launch()` and the `Container` handle.

`launch(spec, state_dir, cgroup)` forks a supervisor (supervisor.py) and returns once the
container's init has been exec'd (or raises the error that stopped it). `Container.attach(state_dir)`
finds a running container from any process later. Every operation goes through the supervisor's
control socket, so the launching process and a reconnected one have the same powers.

The supervisor is a child of the process that called launch(). That process should reap it: the
handle does so in destroy()/wait(); a long-running caller may also watch `supervisor_pidfd()`.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import InvalidArg, OperationFailed, OperationInvalid, make_error

from .console import ConsoleStream
from .control import ControlClient
from .limits import ContainerCgroup
from .network import InterfaceStats
from .outcome import ExitInfo
from .pool import Spare, SupervisorPool
from .spec import ContainerSpec
from .state import SUPERVISOR_PID, StateDir, pid_alive
from .supervisor import BOOT_TIMEOUT, run_supervisor

__all__ = ["launch", "Container", "ContainerStatus", "ContainerStats"]

REFILL_DELAY = 0.05
"""Seconds after a pooled start before the pool forks the next spare (the caller's next steps go first)."""


@dataclass(frozen=True)
class ContainerStatus:
    """A running container as its supervisor sees it."""

    name: str
    state: str  # running | paused | shutting_down | rebooting
    supervisor_pid: int
    init_pid: Optional[int]
    boots: int
    started_at: Optional[float]
    frozen: Optional[bool]


@dataclass(frozen=True)
class ContainerStats:
    """Resource figures of a running container (None where the cgroup cannot tell)."""

    memory_usage: Optional[int]
    cpu_time_ns: Optional[int]
    oom_kills: Optional[int]
    interfaces: dict[str, InterfaceStats]


def _wait_pid_exit(pid: int, timeout: Optional[float], reap: bool) -> bool:
    """Wait until pid has exited (and reap it if it is our child); False on timeout."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        exited = True
    else:
        try:
            exited = bool(select.select([fd], [], [], timeout)[0])
        finally:
            os.close(fd)
    if exited and reap:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # not our child, or reaped already
    return exited


def launch(spec: ContainerSpec, state_dir: str, cgroup: Optional[ContainerCgroup] = None,
           timeout: float = BOOT_TIMEOUT + 5, pool: Optional[SupervisorPool] = None,
           spare: Optional[Spare] = None, while_exec: Optional[Callable[[int], None]] = None) -> "Container":
    """Start a container; returns when its init program runs.

    `state_dir` is created if needed and must not belong to a running container. `cgroup` (e.g. a
    virtkernel.cgroup.DomainCgroup made for this container) receives the spec's limits and every
    container process; it is removed when the container stops. A ready spare taken from `pool` (or the
    `spare` the caller took, whose spare group it claimed as `cgroup`) saves most of the start. `while_exec`
    is called with the supervisor's PID once the supervisor has reported success and the init is exec'ing
    its program: work that has to follow a start can overlap that exec (if the exec fails after all, or
    `while_exec` raises, the start fails as any other). Raises
    InvalidArg for a bad spec, OperationInvalid if the container already runs, OperationFailed with the
    reason otherwise.
    """
    try:
        spec.validate()
    except ValueError as exc:
        if spare is not None:
            spare.dismiss()
        raise InvalidArg(str(exc), domain=ErrorDomain.LXC) from None
    state = StateDir(os.path.abspath(state_dir))
    os.makedirs(state.path, mode=0o700, exist_ok=True)
    if state.supervisor_pid() is not None:
        if spare is not None:
            spare.dismiss()
        raise OperationInvalid(f"container '{spec.name}' is already running", domain=ErrorDomain.LXC)
    state.create()
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    if spare is not None and spec.idmap is not None:
        spare.dismiss()
        spare = None
    if spare is None and pool is not None and spec.idmap is None:
        spare = pool.take()
        if spare is not None and spare.cgroup is not None and cgroup is not None:
            spare.dismiss()  # its init waits in a spare group the caller did not claim (Spare.claim_cgroup)
            spare = None
    pid = None
    if spare is not None:
        try:
            pid = spare.order(spec, state.path, cgroup, write_fd)
        except (OSError, pickle.PickleError, TypeError, AttributeError):
            # The spare died meanwhile, or the cgroup object cannot travel: start from scratch.
            spare.dismiss()
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            raise
    if pid is None:
        pid = os.fork()
        if pid == 0:  # the supervisor; run_supervisor never returns
            os.close(read_fd)
            run_supervisor(spec, state, cgroup, write_fd)
    os.close(write_fd)
    try:
        lines, complete = _read_report(read_fd, timeout, _on_success(pid, while_exec))
    except BaseException:
        _stop_supervisor(pid)
        raise
    finally:
        os.close(read_fd)
        if pool is not None:
            pool.refill_soon(REFILL_DELAY)  # only now, and a little later: a fork would slow this start down
    replies = [json.loads(line) for line in lines]
    failure = next((r for r in replies if not r.get("ok")), None)
    if failure is not None:
        _wait_pid_exit(pid, 10.0, reap=True)  # the supervisor cleans up, then exits
        raise make_error(failure.get("code", ErrorCode.OPERATION_FAILED), failure.get("error", "start failed"),
                         domain=ErrorDomain.LXC)
    if not complete:
        _stop_supervisor(pid)
        raise make_error(ErrorCode.OPERATION_TIMEOUT, f"container '{spec.name}' did not start within {timeout:g} "
                         "seconds", domain=ErrorDomain.LXC)
    if not replies:
        _wait_pid_exit(pid, 5.0, reap=True)
        raise OperationFailed(f"the supervisor of container '{spec.name}' exited during start; see {state.log}",
                              domain=ErrorDomain.LXC)
    return Container(state.path, spec.name, pid, replies[0]["init_pid"], is_child=True)


def _on_success(pid: int, while_exec: Optional[Callable[[int], None]]) -> Optional[Callable[[bytes], None]]:
    """What to do with the first report line: call while_exec(pid) if it says the start went well."""
    if while_exec is None:
        return None

    def first_line(line: bytes) -> None:
        try:
            ok = json.loads(line).get("ok")
        except ValueError:
            return
        if ok:
            while_exec(pid)
    return first_line


def _read_report(fd: int, timeout: float,
                 on_first_line: Optional[Callable[[bytes], None]] = None) -> tuple[list[bytes], bool]:
    """Lines on the launch report pipe until end-of-file; (lines, False) if timeout passes first.
    `on_first_line` is called with the first line as soon as it is complete."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return data.splitlines(), False
        chunk = os.read(fd, 65536)
        if not chunk:
            return data.splitlines(), True
        data += chunk
        if on_first_line is not None and b"\n" in data:
            callback, on_first_line = on_first_line, None
            callback(bytes(data.split(b"\n", 1)[0]))


def _stop_supervisor(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    _wait_pid_exit(pid, 5.0, reap=True)


class Container:
    """A handle on one running container, by its state directory; valid from any process."""

    def __init__(self, state_dir: str, name: str, supervisor_pid: int, init_pid: Optional[int],
                 is_child: bool = False) -> None:
        self.state = StateDir(state_dir)
        self.name = name
        self.supervisor_pid = supervisor_pid
        self._init_pid = init_pid
        self._is_child = is_child
        self._control = ControlClient(self.state.control_socket, name)

    @classmethod
    def attach(cls, state_dir: str) -> "Container":
        """Find the container whose supervisor keeps state in state_dir (OperationInvalid if none runs)."""
        state = StateDir(os.path.abspath(state_dir))
        spec = state.read_spec()
        name = spec.name if spec is not None else os.path.basename(state.path)
        pid = state.supervisor_pid()
        if pid is None:
            raise OperationInvalid(f"container '{name}' is not running", domain=ErrorDomain.LXC)
        handle = cls(state.path, name, pid, None)
        handle._init_pid = handle.status().init_pid
        return handle

    # ---------------------------------------------------------------------------------- queries

    @property
    def init_pid(self) -> Optional[int]:
        """Host PID of the container's init as last seen (changes on reboot)."""
        return self._init_pid

    @property
    def spec(self) -> Optional[ContainerSpec]:
        """The spec the container was started with."""
        return self.state.read_spec()

    def is_running(self) -> bool:
        """True while the supervisor is alive and answers."""
        if not pid_alive(self.supervisor_pid) or self.state.read_pid(SUPERVISOR_PID) != self.supervisor_pid:
            return False
        try:
            self.status()
        except OperationInvalid:
            return False
        return True

    def status(self) -> ContainerStatus:
        """The supervisor's view: state, init PID, boots, frozen."""
        reply = self._control.request("status")
        self._init_pid = reply["init_pid"]
        return ContainerStatus(name=reply["name"], state=reply["state"], supervisor_pid=reply["supervisor_pid"],
                               init_pid=reply["init_pid"], boots=reply["boots"], started_at=reply["started_at"],
                               frozen=reply["frozen"])

    def stats(self) -> ContainerStats:
        """Memory, CPU time, OOM kills and per-interface counters (rx = received by the container)."""
        reply = self._control.request("stats")
        return ContainerStats(memory_usage=reply["memory_usage"], cpu_time_ns=reply["cpu_time_ns"],
                              oom_kills=reply["oom_kills"],
                              interfaces={k: InterfaceStats(**v) for k, v in reply["interfaces"].items()})

    def exit_info(self) -> Optional[ExitInfo]:
        """How the container last stopped (None while it has never stopped)."""
        data = self.state.exit_info()
        return ExitInfo.from_dict(data) if data is not None else None

    # ------------------------------------------------------------------------------- lifecycle

    def shutdown(self, signum: int = signal.SIGTERM, timeout: Optional[float] = None, force: bool = False,
                 wait: bool = True) -> Optional[ExitInfo]:
        """Send signum to init; with wait, return its ExitInfo once it exits.

        With a timeout and force, init is killed when the timeout passes; with a timeout and no
        force, OPERATION_TIMEOUT is raised and the container keeps running. Note that init, as PID 1,
        only receives signals it installed a handler for.
        """
        arguments: dict[str, Any] = {"signal": int(signum), "timeout": timeout, "force": force, "wait": wait}
        reply_timeout = None if timeout is None else timeout + 10
        reply = self._control.request("shutdown", reply_timeout=reply_timeout if wait else 5.0, **arguments)
        if not wait:
            return None
        self._reap(5.0)
        return ExitInfo.from_dict(reply["exit"])

    def reboot(self, signum: Optional[int] = None, timeout: float = 10.0) -> int:
        """Restart init in fresh namespaces (politely with signum first, if given); the new init's PID."""
        reply = self._control.request("reboot", reply_timeout=timeout + BOOT_TIMEOUT + 5,
                                      signal=None if signum is None else int(signum), timeout=timeout)
        self._init_pid = reply["init_pid"]
        return self._init_pid

    def destroy(self) -> ExitInfo:
        """Kill every process of the container, remove its cgroup and veths; returns how it ended."""
        reply = self._control.request("destroy", reply_timeout=30.0)
        self._reap(10.0)
        return ExitInfo.from_dict(reply["exit"])

    def freeze(self) -> None:
        """Stop every process of the container (cgroup freezer)."""
        self._control.request("freeze")

    def thaw(self) -> None:
        """Resume a frozen container."""
        self._control.request("thaw")

    def wait(self, timeout: Optional[float] = None) -> Optional[ExitInfo]:
        """Wait until the container stops (and its supervisor exits); None on timeout."""
        if not _wait_pid_exit(self.supervisor_pid, timeout, reap=self._is_child):
            return None
        return self.exit_info()

    def _reap(self, timeout: float) -> None:
        _wait_pid_exit(self.supervisor_pid, timeout, reap=self._is_child)

    def supervisor_pidfd(self) -> int:
        """A new pidfd of the supervisor: readable once it exits (the caller closes it)."""
        return os.pidfd_open(self.supervisor_pid)

    # ----------------------------------------------------------------------- console and events

    def open_console(self, force: bool = False) -> ConsoleStream:
        """The container's console as a stream; force takes it over from another client."""
        sock, reader, _ = self._control.open("console", force=force)
        return ConsoleStream(sock, bytes(reader.buffer))

    def events(self, timeout: Optional[float] = None) -> Iterator[dict[str, Any]]:
        """Lifecycle events as they happen: {"event": "rebooted", "init_pid": N}, {"event": "stopped", ...}.

        Ends after "stopped" (or when the supervisor goes away); timeout bounds the wait for each event.
        """
        sock, reader, _ = self._control.open("watch")
        sock.settimeout(timeout)
        try:
            while True:
                event = reader.read()
                if event is None:
                    return
                yield event
                if event.get("event") == "stopped":
                    return
        finally:
            sock.close()
