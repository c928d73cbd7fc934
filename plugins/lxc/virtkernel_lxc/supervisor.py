"""The per-container supervisor: parent and reaper of the container's init, served over a unix socket.

`run_supervisor` runs in a process forked by the launcher (see launcher.py) and never returns. It
detaches (new session, stdio to supervisor.log, every inherited descriptor closed), opens the
console pty, clones the init process into new namespaces, joins it to the cgroup, sets up veths,
lets it exec, and then serves control requests (control.py) until the container stops. It stays the
init's parent, so exits are seen at once (pidfd) whichever process started the container, and the
caller may exit. When the container stops it deletes the veths and the cgroup, writes exit.json and
exits. An init killed by SIGHUP (reboot(2) inside the container) is started again; SIGINT (halt or
power off inside the container) stops it. SIGTERM to the supervisor destroys the container.

`run_spare` is the same process started ahead of need (see pool.py): it prepares an init and a
generic root, then waits for the one order that makes it a container's supervisor. A spare runs in a
fresh interpreter (`spare_argv`, `spare_main`), not in a fork of the launching process: a forked child
shares the launcher's memory copy-on-write, which makes every page the launcher writes afterwards
fault (measured: a define took 4.2 ms with such a child alive, 1.8 ms without).
"""

from __future__ import annotations

import json
import os
import pickle
import selectors
import signal
from signal import SIGHUP, SIGINT, SIGKILL, SIGTERM
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, NoReturn, Optional

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import NoSupport, OperationFailed, OperationInvalid, VirtError, make_error

from . import network
from .console import ConsoleRelay
from .control import encode, error_reply
from .init_process import (GO_START, GO_USERNS, PATHS_FROM_ARGV1, READY, InitPipes, encode_paths,
                           fresh_interpreter_paths, helper_argv, run_init, spec_message)
from .limits import ContainerCgroup, apply_device_policy, apply_limits
from .outcome import ExitInfo, StopReason
from .spec import ContainerSpec
from .state import CONTROL, EXIT, INIT_PID, SUPERVISOR_PID, StateDir, bind_unix
from .syscalls import CloneFlags, clone_process, set_process_name, unshare

__all__ = ["run_supervisor", "run_spare", "spare_argv", "spare_main", "make_staging_dir", "Supervisor",
           "BOOT_TIMEOUT"]

BOOT_TIMEOUT = 30.0  # seconds for a clone to reach exec of init
REPLY_TIMEOUT = 2.0
SPARE_READY_TIMEOUT = 30.0  # seconds for a spare's fresh init helper to start


class _Terminate(Exception):
    """SIGTERM reached the supervisor: destroy the container and exit."""


@dataclass
class _Waiter:
    """A request answered when init exits (shutdown, reboot), with an optional deadline."""

    conn: Optional[socket.socket]
    kind: str
    deadline: Optional[float]
    force: bool
    timeout: Optional[float]


@dataclass
class _Prepared:
    """An init cloned ahead of its orders: PID, order channel, exec pipe."""

    pid: int
    go: socket.socket
    exec_r: int
    userns: bool
    cgroup: Any = None  # the group it joined while waiting (a spare's), if any
    devices_applied: bool = False  # that group's device policy is in place already
    spec_sent: bool = False  # it has its "S" order already (send_spec_early)


def _exec_fresh_init(pipes: InitPipes, executable: str) -> None:
    """In a just-cloned init (cloned without a mount namespace of its own): become a fresh interpreter
    running run_init. Returns only if the exec fails, after making the mount namespace itself."""
    fds = [fd for fd in (pipes.go_fd, pipes.exec_fd, pipes.console_fd) if fd is not None]
    for fd in fds:
        os.set_inheritable(fd, True)
    try:
        os.execv(executable, helper_argv(executable, fresh_interpreter_paths(), pipes))
    except OSError as exc:
        _log(f"cannot start a fresh init helper ({exc}); setting up from this image instead")
    for fd in fds:
        os.set_inheritable(fd, False)  # the exec pipe must close when init is exec'd
    unshare(CloneFlags.NEWNS)  # never build the container's mounts in the supervisor's namespace


_pending_log: Optional[str] = None
"""A log file stdout and stderr go to from the first message on (see _use_log_soon)."""


def _use_log_soon(log_path: str) -> None:
    """Like _use_log, but only once something is logged or _open_pending_log is called: creating the file
    costs a spare's start a few tenths of a millisecond, which it can spend after the init's go-ahead."""
    global _pending_log
    _pending_log = log_path


def _open_pending_log() -> None:
    global _pending_log
    if _pending_log is not None:
        path, _pending_log = _pending_log, None
        _use_log(path)


def _log(message: str) -> None:
    try:
        _open_pending_log()
        os.write(2, f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [{os.getpid()}] {message}\n".encode())
    except OSError:
        pass


def _send(conn: Optional[socket.socket], message: dict[str, Any]) -> None:
    if conn is None:
        return
    try:
        conn.setblocking(True)
        conn.settimeout(REPLY_TIMEOUT)
        conn.sendall(encode(message))
    except OSError:
        pass


def _close(conn: Optional[socket.socket]) -> None:
    if conn is not None:
        try:
            conn.close()
        except OSError:
            pass


def _write_id_map(pid: int, kind: str, ranges: list) -> None:
    text = "".join(f"{r.inside} {r.outside} {r.count}\n" for r in ranges)
    with open(f"/proc/{pid}/{kind}_map", "w") as handle:
        handle.write(text)


def _read_until_eof(fd: int, timeout: float) -> tuple[bytes, bool]:
    """Everything written on fd until every writer closed it; (data, timed_out)."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return bytes(data), True
            chunk = os.read(fd, 4096)
            if not chunk:
                return bytes(data), False
            data += chunk


class Supervisor:
    """One container's supervisor: boots init and serves the control socket until the container stops."""

    def __init__(self, spec: Optional[ContainerSpec] = None, state: Optional[StateDir] = None,
                 cgroup: Optional[ContainerCgroup] = None, report_fd: Optional[int] = None) -> None:
        self.spec = spec
        self.report_fd = report_fd
        self.state = state
        self.cgroup = cgroup
        self.prepared: Optional[_Prepared] = None
        self.staging: Optional[str] = None  # a spare's empty dir where its init pre-builds a root
        self.helper_executable = sys.executable  # the interpreter a spare's init re-executes as
        self.selector = selectors.DefaultSelector()
        self.listener: Optional[socket.socket] = None
        self.init_pid: Optional[int] = None
        self.init_pidfd: Optional[int] = None
        self.boots = 0
        self.started_at: Optional[float] = None
        self.console: Optional[ConsoleRelay] = None
        self.watchers: list[socket.socket] = []
        self.waiters: list[_Waiter] = []
        self.requested: Optional[StopReason] = None
        self.rebooting = False
        self.limits_applied = False
        self.finished: Optional[ExitInfo] = None

    # ------------------------------------------------------------------------------------- booting

    def open_console(self) -> None:
        """Create the console pty; the supervisor keeps both ends for the container's whole life."""
        self.console = ConsoleRelay(self.selector)

    def close_console(self) -> None:
        """Drop the pty (for a container without console)."""
        if self.console is not None:
            self.console.close()
            self.console = None

    def prepare(self, userns: bool = False, fresh: bool = False) -> None:
        """Clone the next init into fresh namespaces, where it waits for its orders (see init_process.py).

        fresh: the clone re-executes itself as a small new interpreter while it waits (spares only:
        that takes a moment, but its later setup and exec avoid the cost of a large forked image).
        """
        if self.prepared is not None:
            return
        flags = CloneFlags.NEWPID | CloneFlags.NEWUTS | CloneFlags.NEWIPC | CloneFlags.NEWNET
        if userns:
            flags |= CloneFlags.NEWUSER
        if not fresh:
            # A fresh helper makes its own mount namespace once it runs: its program and libraries are
            # then mapped from our namespace's mounts, so detaching the host tree at pivot stays cheap.
            flags |= CloneFlags.NEWNS
        go, go_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        exec_r, exec_w = os.pipe2(os.O_CLOEXEC)
        pid = clone_process(flags)
        if pid == 0:
            go.close()
            os.close(exec_r)
            console = self.console
            pipes = InitPipes(go_child.fileno(), exec_w, console.slave if console else None,
                              console.path if console else None, self.staging if fresh else None)
            if fresh:
                _exec_fresh_init(pipes, self.helper_executable)
            run_init(pipes, announce=fresh)
        go_child.close()
        os.close(exec_w)
        self.prepared = _Prepared(pid, go, exec_r, userns)

    def prepared_ready(self, timeout: float) -> bool:
        """Wait for a fresh prepared init to announce itself; False if it did not in time."""
        go = self.prepared.go
        go.settimeout(timeout)
        try:
            return go.recv(16) == READY
        except OSError:
            return False
        finally:
            go.settimeout(None)

    def _prepared_died(self) -> bool:
        try:
            return os.waitpid(self.prepared.pid, os.WNOHANG)[0] != 0
        except ChildProcessError:
            return True

    def discard_prepared(self) -> None:
        """Kill a prepared init that will not be used."""
        if self.prepared is not None:
            self.prepared.go.close()
            os.close(self.prepared.exec_r)
            self._kill_and_reap(self.prepared.pid)
            self.prepared = None
        self.remove_staging()

    def remove_staging(self) -> None:
        """Delete the staging dir; only once no init can still have its root mounted there."""
        if self.staging is not None:
            try:
                os.rmdir(self.staging)
            except OSError as exc:
                _log(f"cannot remove {self.staging}: {exc}")
            self.staging = None

    def send_spec_early(self) -> None:
        """A spare: give the prepared init its spec at once, so that it assembles its root while this process
        finishes its own set-up (boot() then skips that step). Quietly leaves it to boot() when it cannot."""
        prepared = self.prepared
        if prepared is None or prepared.userns or self.spec.idmap is not None or self._prepared_died():
            return
        try:
            self._send_spec(prepared)
        except OSError:
            return  # it died meanwhile: boot() notices and clones another

    def _send_spec(self, prepared: _Prepared) -> None:
        """The "S" order, with the launcher's report pipe (first boot)."""
        socket.send_fds(prepared.go, [spec_message(self.spec, self.state.rootfs)],
                        [self.report_fd] if self.report_fd is not None else [])
        prepared.spec_sent = True

    def boot(self) -> int:
        """Start init (cloned now or earlier), wire it up and wait until it has exec'd; its host PID."""
        userns = self.spec.idmap is not None
        if self.prepared is not None and (self.prepared.userns != userns or self._prepared_died()):
            self.discard_prepared()
        self.prepare(userns)
        prepared, self.prepared = self.prepared, None
        pid, go, exec_r = prepared.pid, prepared.go, prepared.exec_r
        try:
            if not prepared.spec_sent:
                self._send_spec(prepared)
            first = self.listener is None
            if userns:
                _write_id_map(pid, "uid", self.spec.idmap.uids)
                _write_id_map(pid, "gid", self.spec.idmap.gids)
                go.send(GO_USERNS)
            if self.cgroup is not None:
                if not self.limits_applied:
                    apply_limits(self.cgroup, self.spec,
                                 devices=prepared.cgroup is None or not prepared.devices_applied)
                    self.limits_applied = True
                if prepared.cgroup is None:
                    self.cgroup.add_process(pid)
            network.setup_interfaces(self.spec.interfaces, pid)
            go.send(GO_START)
            go.close()
            # While the init execs its program. The report comes last: the launcher, woken by it, would
            # otherwise compete for the CPU (two here) with these writes and the exec.
            _open_pending_log()
            self.state.write_text(INIT_PID, f"{pid}\n")
            if first:
                self.state.write_spec(self.spec)
                self._publish()
            # The launcher returns when the init (which holds the report pipe too) has exec'd.
            self.report({"ok": True, "init_pid": pid})
            message, timed_out = _read_until_eof(exec_r, BOOT_TIMEOUT)
            if timed_out:
                raise OperationFailed(f"container '{self.spec.name}' did not start within {BOOT_TIMEOUT:.0f} "
                                      "seconds", domain=ErrorDomain.LXC)
            if message:
                raise OperationFailed(f"cannot start container '{self.spec.name}': "
                                      f"{message.decode(errors='replace')}", domain=ErrorDomain.LXC)
        except BaseException:
            self._kill_and_reap(pid)
            network.delete_interfaces(iface.host_name for iface in self.spec.interfaces)
            raise
        finally:
            go.close()
            os.close(exec_r)
            self.remove_staging()  # the init has pivoted away from it (or is dead)
        self.init_pid = pid
        self.init_pidfd = os.pidfd_open(pid)
        self.selector.register(self.init_pidfd, selectors.EVENT_READ, self._on_init_exit)
        self.boots += 1
        self.started_at = time.time()
        return pid

    def report(self, message: dict[str, Any]) -> None:
        """Send the launcher its one report line (first boot only) and let go of the pipe."""
        if self.report_fd is None:
            return
        try:
            os.write(self.report_fd, encode(message))
        except OSError:
            pass
        os.close(self.report_fd)
        self.report_fd = None

    def _kill_and_reap(self, pid: int) -> None:
        try:
            os.kill(pid, SIGKILL)
        except ProcessLookupError:
            pass
        self._thaw_quietly()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def _publish(self) -> None:
        """Make the container findable: control socket, then supervisor.pid."""
        self.listener = bind_unix(self.state.control_socket)
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, self._on_accept)
        self.state.write_text(SUPERVISOR_PID, f"{os.getpid()}\n")

    def abandon(self) -> None:
        """Undo what a failed first boot left: prepared init, cgroup, veths, socket and pid files."""
        self.discard_prepared()
        network.delete_interfaces(iface.host_name for iface in self.spec.interfaces)
        self._remove_cgroup()
        for name in (CONTROL, SUPERVISOR_PID, INIT_PID):
            self.state.remove(name)

    # ----------------------------------------------------------------------------------- main loop

    def serve(self) -> ExitInfo:
        """Serve requests until the container has stopped and everything is cleaned up."""
        unblocked = False
        while self.finished is None:
            try:
                if not unblocked:  # a SIGTERM that came during the boot is delivered here
                    unblocked = True
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, {SIGTERM})
                timeout = self._next_deadline()
                for key, mask in self.selector.select(timeout):
                    if self.finished is not None:
                        break
                    key.data(key.fileobj, mask)
                self._check_deadlines()
            except _Terminate:
                signal.signal(SIGTERM, signal.SIG_IGN)  # one is enough: let the cleanup finish
                _log("terminated by signal: destroying the container")
                self.destroy(None)
        return self.finished

    def _next_deadline(self) -> Optional[float]:
        deadlines = [w.deadline for w in self.waiters if w.deadline is not None]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for waiter in list(self.waiters):
            if waiter.deadline is None or now < waiter.deadline:
                continue
            waiter.deadline = None
            if waiter.force:
                _log(f"{waiter.kind}: init did not stop within {waiter.timeout}s, killing it")
                self._signal_init(SIGKILL)
                self._thaw_quietly()
            else:
                self.waiters.remove(waiter)
                _send(waiter.conn, error_reply(make_error(
                    ErrorCode.OPERATION_TIMEOUT, f"container '{self.spec.name}' did not shut down within "
                    f"{waiter.timeout:g} seconds", domain=ErrorDomain.LXC)))
                _close(waiter.conn)
                if not any(w.kind == "shutdown" for w in self.waiters):
                    self.requested = None

    # ------------------------------------------------------------------------------------ requests

    def _on_accept(self, listener: socket.socket, mask: int) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        buffer = bytearray()
        self.selector.register(conn, selectors.EVENT_READ, lambda c, m: self._on_request_bytes(c, buffer))

    def _on_request_bytes(self, conn: socket.socket, buffer: bytearray) -> None:
        try:
            chunk = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk or len(buffer) + len(chunk) > 65536:
            self.selector.unregister(conn)
            _close(conn)
            return
        buffer += chunk
        if b"\n" not in buffer:
            return
        self.selector.unregister(conn)
        try:
            request = json.loads(bytes(buffer).partition(b"\n")[0])
            op = request.pop("op")
            handler: Callable[..., Any] = getattr(self, f"op_{op}")
        except (ValueError, KeyError, AttributeError, TypeError):
            _send(conn, error_reply(make_error(ErrorCode.INVALID_ARG, "malformed request to the container "
                                               "supervisor", domain=ErrorDomain.LXC)))
            _close(conn)
            return
        try:
            handler(conn, **request)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the client
            if not isinstance(exc, VirtError):
                _log(f"request {op} failed: {traceback.format_exc()}")
            _send(conn, error_reply(exc))
            _close(conn)

    def _reply(self, conn: socket.socket, **results: Any) -> None:
        _send(conn, {"ok": True, **results})
        _close(conn)

    def _state_name(self) -> str:
        if self.rebooting:
            return "rebooting"
        if self.requested is StopReason.SHUTDOWN:
            return "shutting_down"
        if self._frozen():
            return "paused"
        return "running"

    def _frozen(self) -> Optional[bool]:
        if self.cgroup is None:
            return None
        try:
            return bool(self.cgroup.is_frozen())
        except Exception:  # noqa: BLE001 - status must answer even if a controller is missing
            return None

    def op_status(self, conn: socket.socket) -> None:
        """Where the container is in its life."""
        self._reply(conn, state=self._state_name(), name=self.spec.name, supervisor_pid=os.getpid(),
                    init_pid=self.init_pid, boots=self.boots, started_at=self.started_at, frozen=self._frozen())

    def _signal_init(self, signum: int) -> None:
        if self.init_pid is not None:
            try:
                os.kill(self.init_pid, signum)
            except ProcessLookupError:
                pass

    def op_shutdown(self, conn: socket.socket, signal: int = SIGTERM, timeout: Optional[float] = None,
                    force: bool = False, wait: bool = True) -> None:
        """Ask init to stop with a signal; answer when it exits (wait) or at once."""
        if timeout is not None and timeout < 0:
            raise make_error(ErrorCode.INVALID_ARG, "shutdown timeout must not be negative", domain=ErrorDomain.LXC)
        if self.requested is None:
            self.requested = StopReason.SHUTDOWN
        self._signal_init(signal)
        deadline = time.monotonic() + timeout if timeout is not None else None
        if wait:
            self.waiters.append(_Waiter(conn, "shutdown", deadline, force, timeout))
        else:
            if deadline is not None and force:
                self.waiters.append(_Waiter(None, "shutdown", deadline, force, timeout))
            self._reply(conn)

    def op_reboot(self, conn: socket.socket, signal: Optional[int] = None, timeout: float = 10.0) -> None:
        """Stop init (politely with `signal` for up to `timeout` s, else at once) and start it again."""
        self.rebooting = True
        if signal is None:
            self.waiters.append(_Waiter(conn, "reboot", None, True, None))
            self._signal_init(SIGKILL)
            self._thaw_quietly()
        else:
            self.waiters.append(_Waiter(conn, "reboot", time.monotonic() + timeout, True, timeout))
            self._signal_init(signal)

    def op_destroy(self, conn: socket.socket) -> None:
        """Kill everything now, clean up, answer with the exit information."""
        self.destroy(conn)

    def destroy(self, conn: Optional[socket.socket]) -> None:
        """Kill the init (its PID namespace dies with it) and everything in the cgroup, then finish."""
        self.requested = StopReason.DESTROYED
        self.rebooting = False
        network.delete_interfaces(iface.host_name for iface in self.spec.interfaces)
        self._signal_init(SIGKILL)
        self._kill_cgroup()
        status = None
        if self.init_pid is not None:
            try:
                _, status = os.waitpid(self.init_pid, 0)
            except ChildProcessError:
                pass
        self._finish(StopReason.DESTROYED, status)
        if conn is not None:
            self._reply(conn, exit=self.finished.to_dict())

    def _require_cgroup(self, what: str) -> ContainerCgroup:
        if self.cgroup is None:
            raise NoSupport(f"container '{self.spec.name}' has no cgroup, so it cannot be {what}",
                            domain=ErrorDomain.LXC)
        return self.cgroup

    def op_freeze(self, conn: socket.socket) -> None:
        """Freeze every process of the container."""
        self._require_cgroup("frozen").freeze()
        self._reply(conn, frozen=True)

    def op_thaw(self, conn: socket.socket) -> None:
        """Let the container's processes run again."""
        self._require_cgroup("thawed").thaw()
        self._reply(conn, frozen=False)

    def op_stats(self, conn: socket.socket) -> None:
        """Memory, CPU, OOM and interface counters."""
        results: dict[str, Any] = {"memory_usage": None, "cpu_time_ns": None, "oom_kills": None}
        if self.cgroup is not None:
            for key, read in (("memory_usage", self.cgroup.memory_usage), ("cpu_time_ns", self.cgroup.cpu_time_ns),
                              ("oom_kills", self.cgroup.oom_kills)):
                try:
                    results[key] = read()
                except Exception:  # noqa: BLE001 - a missing controller leaves its figure None
                    pass
        interfaces = {}
        for iface in self.spec.interfaces:
            try:
                interfaces[iface.host_name] = vars(network.interface_stats(iface.host_name))
            except VirtError:
                pass
        self._reply(conn, interfaces=interfaces, **results)

    def op_console(self, conn: socket.socket, force: bool = False) -> None:
        """Turn this connection into the console stream (a second client needs force)."""
        if self.console is None:
            raise OperationInvalid(f"container '{self.spec.name}' has no console", domain=ErrorDomain.LXC)
        if self.console.busy and not force:
            raise OperationInvalid(f"the console of container '{self.spec.name}' is in use by another client",
                                   domain=ErrorDomain.LXC)
        _send(conn, {"ok": True})
        self.console.attach(conn)

    def op_watch(self, conn: socket.socket) -> None:
        """Keep this connection to send lifecycle events on."""
        _send(conn, {"ok": True})
        conn.setblocking(False)
        self.watchers.append(conn)
        self.selector.register(conn, selectors.EVENT_READ, self._on_watcher_readable)

    def _on_watcher_readable(self, conn: socket.socket, mask: int) -> None:
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(conn)
            self.watchers.remove(conn)
            _close(conn)

    def _notify(self, event: dict[str, Any]) -> None:
        for conn in list(self.watchers):
            _send(conn, event)
            conn.setblocking(False)

    # ----------------------------------------------------------------------------------- init exit

    def _on_init_exit(self, pidfd: int, mask: int) -> None:
        self.selector.unregister(pidfd)
        os.close(pidfd)
        self.init_pidfd = None
        try:
            _, status = os.waitpid(self.init_pid, 0)
        except ChildProcessError:
            status = None
        restart = self.rebooting or (
            self.requested is None and status is not None and os.WIFSIGNALED(status)
            and os.WTERMSIG(status) == SIGHUP)
        if restart:
            self._restart()
            return
        if self.requested is not None:
            reason = self.requested
        elif status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) != SIGINT:
            reason = StopReason.CRASHED
        else:
            reason = StopReason.EXITED
        self._kill_cgroup()
        self._finish(reason, status)

    def _restart(self) -> None:
        self.rebooting = False
        self.requested = None
        self._kill_cgroup()
        network.delete_interfaces(iface.host_name for iface in self.spec.interfaces)
        try:
            pid = self.boot()
        except Exception as exc:  # noqa: BLE001 - the reboot failed: the container is now off
            _log(f"reboot failed: {exc}")
            for waiter in [w for w in self.waiters if w.kind == "reboot"]:
                self.waiters.remove(waiter)
                _send(waiter.conn, error_reply(exc))
                _close(waiter.conn)
            self._finish(StopReason.FAILED, None, error=str(exc))
            return
        for waiter in [w for w in self.waiters if w.kind == "reboot"]:
            self.waiters.remove(waiter)
            self._reply(waiter.conn, init_pid=pid)
        self._notify({"event": "rebooted", "init_pid": pid})

    # ------------------------------------------------------------------------------------- cleanup

    def _thaw_quietly(self) -> None:
        if self.cgroup is not None:
            try:
                if self.cgroup.is_frozen():
                    self.cgroup.thaw()
            except Exception:  # noqa: BLE001
                pass

    def _kill_cgroup(self) -> None:
        if self.cgroup is None:
            return
        try:
            if self.cgroup.pids():
                self.cgroup.kill_all()
        except Exception as exc:  # noqa: BLE001 - keep cleaning up
            _log(f"cannot kill the cgroup's processes: {exc}")
        self._thaw_quietly()

    def _remove_cgroup(self) -> None:
        if self.cgroup is None:
            return
        deadline = time.monotonic() + 2.0
        while True:
            try:
                self.cgroup.remove()
                return
            except Exception as exc:  # noqa: BLE001 - retried: the last tasks may still be exiting
                if time.monotonic() > deadline:
                    _log(f"cannot remove the cgroup: {exc}")
                    return
                self._kill_cgroup()
                time.sleep(0.002)

    def _finish(self, reason: StopReason, status: Optional[int], error: Optional[str] = None) -> None:
        oom_kills = 0
        if self.cgroup is not None:
            try:
                oom_kills = int(self.cgroup.oom_kills())
            except Exception:  # noqa: BLE001
                pass
        network.delete_interfaces(iface.host_name for iface in self.spec.interfaces)
        self._remove_cgroup()
        info = ExitInfo.from_status(reason, status, oom_kills=oom_kills, error=error, boots=self.boots,
                                    finished_at=time.time())
        self.state.write_json(EXIT, info.to_dict())
        for name in (CONTROL, INIT_PID, SUPERVISOR_PID):
            self.state.remove(name)
        for waiter in self.waiters:
            if waiter.kind == "shutdown":
                _send(waiter.conn, {"ok": True, "exit": info.to_dict()})
            else:
                _send(waiter.conn, error_reply(OperationFailed(
                    f"container '{self.spec.name}' stopped: {info.describe()}", domain=ErrorDomain.LXC)))
            _close(waiter.conn)
        self.waiters.clear()
        self._notify({"event": "stopped", "exit": info.to_dict()})
        for conn in self.watchers:
            _close(conn)
        if self.console is not None:
            self.console.finish()
        if self.listener is not None:
            _close(self.listener)
        self.finished = info
        _log(f"container stopped: {info.describe()}")


# ------------------------------------------------------------------------------------------- entry


def _use_log(log_path: Optional[str]) -> None:
    """Send stdout and stderr (where _log writes) to log_path, or to /dev/null."""
    log = os.open(log_path or "/dev/null", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def _detach(keep_fd: int, log_path: Optional[str]) -> None:
    """New session, stdin from /dev/null, stdout/stderr to the log, every other inherited descriptor closed."""
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    _use_log(log_path)
    low = 3
    for fd in sorted({0, 1, 2, keep_fd}):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 20)
    sys.stdout = sys.stderr = open(2, "w", closefd=False)
    signal.signal(SIGINT, signal.SIG_IGN)
    signal.signal(SIGHUP, signal.SIG_IGN)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminate()


def _run(supervisor: Supervisor) -> int:
    """First boot, then serve until the container stops; the process's exit code."""
    spec = supervisor.spec
    set_process_name(f"lxc-{spec.name}")
    signal.signal(SIGTERM, _on_sigterm)
    signal.pthread_sigmask(signal.SIG_BLOCK, {SIGTERM})  # held until serve() can destroy cleanly
    try:
        pid = supervisor.boot()
    except BaseException as exc:  # noqa: BLE001 - reported to the launcher
        _log(f"start failed: {exc}")
        supervisor.abandon()
        supervisor.report(error_reply(exc))
        return 1
    _log(f"container '{spec.name}' started, init pid {pid}")
    supervisor.serve()
    return 0


def _last_resort() -> None:
    try:
        _log(f"supervisor failed: {traceback.format_exc()}")
    except BaseException:  # noqa: BLE001
        pass


def run_supervisor(spec: ContainerSpec, state: StateDir, cgroup: Optional[ContainerCgroup],
                   report_fd: int) -> NoReturn:
    """Body of the supervisor process (call right after fork); reports the boot on report_fd; never returns.

    The report is JSON lines: {"ok": true, "init_pid": N} from the supervisor, and an error reply
    (from the supervisor or the init process) if the start fails. The pipe reaches end-of-file when
    the init has exec'd or died.
    """
    code = 1
    try:
        _detach(report_fd, state.log)
        supervisor = Supervisor(spec, state, cgroup, report_fd)
        if spec.console:
            supervisor.open_console()
        code = _run(supervisor)
    except BaseException:  # noqa: BLE001 - last resort: log, never return into the caller's code
        _last_resort()
    finally:
        os._exit(code)


def make_staging_dir() -> str:
    """An empty directory for a spare's init to pre-build a root on (inside its own namespace)."""
    base = "/run" if os.access("/run", os.W_OK) else None
    return tempfile.mkdtemp(prefix="vklxc-spare-", dir=base)


_SPARE_BOOTSTRAP = PATHS_FROM_ARGV1 + "from virtkernel_lxc.supervisor import spare_main; spare_main(int(sys.argv[2]))"


def spare_argv(command_fd: int) -> list[str]:
    """Command line of a spare supervisor in a fresh interpreter; command_fd must be inheritable, and its
    first message the pickled {"staging": path, "cgroup": spare group or None, "helper": the interpreter
    for its init's fresh helper} (see spare_main)."""
    return [sys.executable, "-I", "-c", _SPARE_BOOTSTRAP, encode_paths(fresh_interpreter_paths()), str(command_fd)]


def spare_main(command_fd: int) -> NoReturn:
    """Entry of a spare started with spare_argv: read its set-up message, then run_spare."""
    try:
        command = socket.socket(fileno=command_fd)
        setup = pickle.loads(command.recv(1 << 20))  # from the process that started us: trusted
        command.detach()
    except BaseException:  # noqa: BLE001 - nothing to serve: the pool sees the spare exit
        os._exit(1)
    run_spare(command_fd, setup["staging"], setup["cgroup"], setup["helper"])


def run_spare(command_fd: int, staging: str, cgroup: Any = None, helper: Optional[str] = None) -> NoReturn:
    """Body of a spare supervisor (see pool.py): prepare an init, wait for one launch order; never returns.

    `staging` is an empty directory (make_staging_dir) the prepared init builds a generic root on;
    the spare removes it once no init uses it. `cgroup` (a spare group, or None) is joined by the
    prepared init at once; `helper` is the interpreter the prepared init re-executes as (default: this
    one). The spare sends READY on command_fd once its prepared init runs. The order
    on command_fd (a SOCK_SEQPACKET socket) is a pickled {"spec": ContainerSpec, "state": path, "cgroup": object
    or None, "joined": bool (the container's group is our spare group, claimed as "claimed_name")} with the
    launcher's report pipe
    attached; end-of-file means no order will come: the prepared init is killed and the process exits.
    """
    code = 1
    supervisor: Optional[Supervisor] = None
    try:
        _detach(command_fd, None)
        set_process_name("lxc-spare")
        supervisor = Supervisor()
        supervisor.open_console()
        supervisor.staging = staging
        supervisor.helper_executable = helper or sys.executable
        supervisor.prepare(fresh=True)
        command = socket.socket(fileno=command_fd)
        if not supervisor.prepared_ready(SPARE_READY_TIMEOUT):
            supervisor.discard_prepared()
            supervisor.prepare()
        if cgroup is not None:
            try:
                # every container gets the same device policy: set it now rather than during a start
                devices_applied = apply_device_policy(cgroup)
                cgroup.add_process(supervisor.prepared.pid)
                supervisor.prepared.cgroup = cgroup
                supervisor.prepared.devices_applied = devices_applied
            except Exception as exc:  # noqa: BLE001 - the init then joins the container's group at start
                _log(f"spare: cannot join {cgroup!r}: {exc}")
        command.send(READY)
        try:
            message, fds, _, _ = socket.recv_fds(command, 1 << 20, 1)
            for fd in fds:
                os.set_inheritable(fd, False)
        except OSError:
            message, fds = b"", []
        command.close()
        if not message or not fds:
            supervisor.discard_prepared()
            code = 0
            return
        order = pickle.loads(message)  # from the process that started us: trusted
        supervisor.spec = order["spec"]
        supervisor.state = StateDir(order["state"])
        supervisor.report_fd = fds[0]
        supervisor.send_spec_early()
        if order.get("joined"):
            supervisor.cgroup = cgroup.as_claimed(order["claimed_name"])  # our spare group, renamed
        else:
            supervisor.cgroup = order["cgroup"]
            supervisor.prepared.cgroup = None  # the container's group is not the one the init waited in
        _use_log_soon(supervisor.state.log)
        if not supervisor.spec.console:
            supervisor.close_console()
        code = _run(supervisor)
    except BaseException:  # noqa: BLE001 - last resort: log, never return into the caller's code
        _last_resort()
    finally:
        try:
            if supervisor is not None:
                supervisor.discard_prepared()  # an unused prepared init and the staging dir, if any
        finally:
            os._exit(code)
