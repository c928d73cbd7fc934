"""The first process of a container: from clone(2) to exec of the init program.

Runs in the child the supervisor clones into new namespaces (it is PID 1 of the new PID
namespace). Talks to the supervisor through two close-on-exec pipes: it reads go-ahead bytes from
`go_fd` ("U": user namespace maps are written; "G": cgroup and network are ready) and reports a
failure as one line on `exec_fd`; success is the pipe closing at exec. On the first boot it also
holds the launcher's report pipe (`report_fd`, close-on-exec too), so the launcher learns of the
exec (or of the failure, as an error reply line) directly, without a hop through the supervisor.
"""

from __future__ import annotations

import fcntl
import os
import signal
from dataclasses import dataclass
from typing import NoReturn, Optional

from virtkernel.enums import ErrorDomain
from virtkernel.errors import OperationFailed

from . import rootfs
from .control import encode, error_reply
from .spec import ContainerSpec
from .syscalls import (TIOCSCTTY, CloneFlags, drop_bounding_capability, set_parent_death_signal, sethostname,
                       unshare)

__all__ = ["InitPipes", "run_init", "GO_USERNS", "GO_START"]

GO_USERNS = b"U"
GO_START = b"G"


@dataclass(frozen=True)
class InitPipes:
    """The child's ends of its pipes to the supervisor, and the console pty slave (or None)."""

    go_fd: int
    exec_fd: int
    console_fd: Optional[int]
    console_path: Optional[str]
    report_fd: Optional[int] = None


class _Failure(Exception):
    """A step of container setup failed; the message says which."""

    def __init__(self, message: str, status: int = 125) -> None:
        super().__init__(message)
        self.status = status


def _wait_for(go_fd: int, expected: bytes) -> None:
    got = os.read(go_fd, 1)
    if got != expected:
        os._exit(125)  # the supervisor gave up on us (pipe closed): nothing to report


def _close_inherited(keep: set[int]) -> None:
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 20)


def _become_root_in_userns() -> None:
    os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def _attach_stdio(pipes: InitPipes) -> None:
    os.setsid()
    if pipes.console_fd is not None:
        fcntl.ioctl(pipes.console_fd, TIOCSCTTY, 0)
        for target in (0, 1, 2):
            os.dup2(pipes.console_fd, target)
        if pipes.console_fd > 2:
            os.close(pipes.console_fd)
    else:
        null = os.open("/dev/null", os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        if null > 2:
            os.close(null)


def _reset_signals() -> None:
    for signum in range(1, signal.NSIG):
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _setup(spec: ContainerSpec, root: str, pipes: InitPipes) -> None:
    set_parent_death_signal(signal.SIGKILL)  # the container never outlives its supervisor
    _close_inherited({fd for fd in (pipes.go_fd, pipes.exec_fd, pipes.console_fd, pipes.report_fd) if fd is not None})
    if spec.idmap is not None:
        _wait_for(pipes.go_fd, GO_USERNS)
        _become_root_in_userns()
    try:
        rootfs.build_root(spec, root, pipes.console_path)
    except OSError as exc:
        raise _Failure(f"cannot build the container's filesystem: {exc.strerror or exc}") from exc
    _wait_for(pipes.go_fd, GO_START)
    os.close(pipes.go_fd)
    if spec.cgroup_namespace:
        unshare(CloneFlags.NEWCGROUP)
    sethostname(spec.effective_hostname)
    try:
        rootfs.enter_root(root)
    except OSError as exc:
        raise _Failure(f"cannot switch to the container's root filesystem: {exc.strerror or exc}") from exc
    _attach_stdio(pipes)
    try:
        os.chdir(spec.workdir)
    except OSError as exc:
        raise _Failure(f"cannot enter working directory '{spec.workdir}': {exc.strerror}") from exc
    for cap in spec.drop_capabilities:
        drop_bounding_capability(cap)
    _reset_signals()


def run_init(spec: ContainerSpec, root: str, pipes: InitPipes) -> NoReturn:
    """Set the container up and exec its init program; on failure report on exec_fd and exit."""
    status = 125
    try:
        _setup(spec, root, pipes)
        argv = [spec.init, *spec.args]
        try:
            os.execve(spec.init, argv, spec.environment())
        except OSError as exc:
            status = 127 if isinstance(exc, FileNotFoundError) else 126
            raise _Failure(f"cannot run init program '{spec.init}': {exc.strerror}", status) from exc
    except _Failure as failure:
        status = failure.status
        _report(pipes, spec.name, str(failure))
    except BaseException as exc:  # noqa: BLE001 - anything here must be reported, not raised
        _report(pipes, spec.name, f"container setup failed: {exc}")
    os._exit(status)


def _report(pipes: InitPipes, name: str, message: str) -> None:
    message = message[:4000]
    try:
        os.write(pipes.exec_fd, message.encode(errors="replace"))
    except OSError:
        pass
    if pipes.report_fd is not None:
        error = OperationFailed(f"cannot start container '{name}': {message}", domain=ErrorDomain.LXC)
        try:
            os.write(pipes.report_fd, encode(error_reply(error)))
        except OSError:
            pass
