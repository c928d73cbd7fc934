"""The first process of a container: from clone(2) to exec of the init program.

Runs in the child the supervisor clones into new namespaces (it is PID 1 of the new PID
namespace). The clone can be made before the container is known (a spare, see pool.py): the
child first waits for its orders on `go_fd`, a SOCK_SEQPACKET socket to the supervisor (a fresh
helper interpreter, see helper_argv, first sends "R" there once it runs):
  1. "S" + marshalled {"spec": plain data (ContainerSpec.to_dict), "env": environment, "hostname": str,
     "rootfs": path}, with the launcher's report pipe attached (first boot; the sender is the supervisor,
     which the child trusts as its parent);
  2. "U" once user namespace maps are written (only for a spec with an id map);
  3. "G" once cgroup and network are ready.
A failure is reported as one line on `exec_fd` (a close-on-exec pipe to the supervisor) and, on the
first boot, as an error reply line on the report pipe; success is both pipes closing at exec, so
the launcher learns of the exec directly, without a hop through the supervisor.
"""

from __future__ import annotations

import array
import fcntl
import marshal
import os
import signal
import socket
import sys
from types import SimpleNamespace

from . import rootfs
from .syscalls import (TIOCSCTTY, CloneFlags, drop_bounding_capability, set_parent_death_signal, sethostname,
                       unshare)

__all__ = ["InitPipes", "run_init", "main", "READY", "GO_SPEC", "GO_USERNS", "GO_START", "spec_message", "helper_argv"]

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: typing, json and pickle (with re) would grow the helper by 1.7 MB
if TYPE_CHECKING:
    from typing import Any, NoReturn, Optional

    from .spec import ContainerSpec

# This module, rootfs and syscalls import nothing from virtkernel, nor spec (dataclasses, ipaddress), typing,
# json or pickle (re): a
# spare's init runs them in a fresh, small interpreter (see helper_argv) that starts quickly and execs
# cheaply. An exec tears down the old process's memory, which costs about 1 ms per 4 MB here (a 16 MB
# interpreter took 2.3-5 ms to exec /bin/true, a bare one 1.4-2.4 ms), and the init's exec is on the
# critical path of every start.
OPERATION_FAILED = 9  # virtkernel.enums.ErrorCode.OPERATION_FAILED (a test keeps them equal)
# socket.recv_fds imports array on first use; the helper imports it before making its mount namespace
# so that no library is mapped from that namespace's mounts.
_PRELOADED = (array,)

READY = b"R"
GO_SPEC = b"S"
GO_USERNS = b"U"
GO_START = b"G"


class InitPipes:
    """The child's ends of its channels to the supervisor, and the console pty slave (or None)."""

    __slots__ = ("go_fd", "exec_fd", "console_fd", "console_path", "staging")

    def __init__(self, go_fd: int, exec_fd: int, console_fd: Optional[int], console_path: Optional[str],
                 staging: Optional[str] = None) -> None:
        self.go_fd = go_fd
        self.exec_fd = exec_fd
        self.console_fd = console_fd
        self.console_path = console_path
        self.staging = staging  # where a spare builds a generic root ahead of its orders


class _Failure(Exception):
    """A step of container setup failed; the message says which."""

    def __init__(self, message: str, status: int = 125) -> None:
        super().__init__(message)
        self.status = status


def spec_message(spec: "ContainerSpec", root: str) -> bytes:
    """The "S" order: the spec (as plain data, so the child need not import spec), and where to assemble the root."""
    return GO_SPEC + marshal.dumps({"spec": spec.to_dict(), "env": spec.environment(),
                                   "hostname": spec.effective_hostname, "rootfs": root})


def _spec_view(data: dict[str, Any]) -> SimpleNamespace:
    """Attribute access to the plain spec data (the fields rootfs and this module read)."""
    view = SimpleNamespace(**data)
    view.binds = [SimpleNamespace(**item) for item in data["binds"]]
    view.tmpfs = [SimpleNamespace(**item) for item in data["tmpfs"]]
    return view


def _receive(go: socket.socket, expected: bytes) -> tuple[bytes, list[int]]:
    message, fds, _, _ = socket.recv_fds(go, 1 << 20, 4)
    for fd in fds:
        os.set_inheritable(fd, False)  # recv_fds does not ask for close-on-exec: the exec must close them
    if not message.startswith(expected):
        os._exit(125)  # the supervisor gave up on us (channel closed): nothing to report
    return message[len(expected):], fds


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


def _attach_stdio(console_fd: Optional[int]) -> None:
    os.setsid()
    if console_fd is not None:
        fcntl.ioctl(console_fd, TIOCSCTTY, 0)
        for target in (0, 1, 2):
            os.dup2(console_fd, target)
        if console_fd > 2:
            os.close(console_fd)
    else:
        null = os.open("/dev/null", os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        if null > 2:
            os.close(null)


def _reset_signals(dispositions: bool = True) -> None:
    """Unblock every signal and (with `dispositions`) give each its default action, as the init expects."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    if not dispositions:
        return
    for signum in range(1, signal.NSIG):
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass


class _Init:
    """State of the child between clone and exec."""

    def __init__(self, pipes: InitPipes, announce: bool) -> None:
        self.pipes = pipes
        self.announce = announce
        self.spec: Optional[SimpleNamespace] = None
        self.report_fd: Optional[int] = None

    def setup(self) -> SimpleNamespace:
        """Everything between clone and exec; returns the spec to exec."""
        pipes = self.pipes
        set_parent_death_signal(signal.SIGKILL)  # the container never outlives its supervisor
        _close_inherited({fd for fd in (pipes.go_fd, pipes.exec_fd, pipes.console_fd) if fd is not None})
        go = socket.socket(fileno=pipes.go_fd)
        generic = None
        if self.announce:
            _reset_signals()  # needed before exec anyway; done now, it also warms a fresh interpreter
            generic = self._prebuild()
            go.send(READY)
        payload, fds = _receive(go, GO_SPEC)
        self.report_fd = fds[0] if fds else None
        order = marshal.loads(payload)  # plain data from our supervisor (marshal: pickle would load re)
        spec = self.spec = _spec_view(order["spec"])
        spec.environment, spec.effective_hostname = order["env"], order["hostname"]
        root = order["rootfs"]
        console_fd, console_path = (pipes.console_fd, pipes.console_path) if spec.console else (None, None)
        if pipes.console_fd is not None and console_fd is None:
            os.close(pipes.console_fd)
        if spec.idmap is not None:
            _receive(go, GO_USERNS)
            _become_root_in_userns()
        try:
            if generic is not None and spec.idmap is None and rootfs.fits_generic_root(spec):
                root = generic
                rootfs.finish_generic_root(spec, root)
            else:
                if generic is not None:
                    rootfs.discard_generic_root(generic)
                rootfs.build_root(spec, root, console_path)
        except OSError as exc:
            raise _Failure(f"cannot build the container's filesystem: {exc.strerror or exc}") from exc
        # Everything up to the exec that does not need "G" is done before it, while the supervisor does its
        # cgroup and network work.
        try:
            rootfs.enter_root(root)
        except OSError as exc:
            raise _Failure(f"cannot switch to the container's root filesystem: {exc.strerror or exc}") from exc
        sethostname(spec.effective_hostname)
        _attach_stdio(console_fd)
        try:
            os.chdir(spec.workdir)
        except OSError as exc:
            raise _Failure(f"cannot enter working directory '{spec.workdir}': {exc.strerror}") from exc
        for cap in spec.drop_capabilities:
            drop_bounding_capability(cap)
        _reset_signals(dispositions=not self.announce)  # a fresh helper reset them before its prebuild
        _receive(go, GO_START)
        go.close()
        if spec.cgroup_namespace:
            unshare(CloneFlags.NEWCGROUP)  # after "G": rooted at the container's cgroup
        return spec

    def _prebuild(self) -> Optional[str]:
        """Build the generic root in the staging dir while waiting; its path, or None."""
        staging = self.pipes.staging
        if staging is None:
            return None
        try:
            rootfs.build_generic_root(staging, self.pipes.console_path)
        except OSError:
            try:
                rootfs.discard_generic_root(staging)
            except OSError:
                pass
            return None
        return staging

    def report(self, message: str) -> None:
        """Tell the supervisor (and the launcher, on a first boot) why the start failed."""
        message = message[:4000]
        try:
            os.write(self.pipes.exec_fd, message.encode(errors="replace"))
        except OSError:
            pass
        if self.report_fd is not None:
            name = self.spec.name if self.spec is not None else "?"
            reply = {"ok": False, "error": f"cannot start container '{name}': {message}", "code": OPERATION_FAILED}
            try:
                os.write(self.report_fd, _json_line(reply))
            except OSError:
                pass


def run_init(pipes: InitPipes, announce: bool = False) -> NoReturn:
    """Wait for orders, set the container up and exec its init program; on failure report and exit.

    announce: first send READY on the order channel (the fresh helper says it has started).
    """
    state = _Init(pipes, announce)
    status = 125
    try:
        spec = state.setup()
        try:
            os.execve(spec.init, [spec.init, *spec.args], spec.environment)
        except OSError as exc:
            status = 127 if isinstance(exc, FileNotFoundError) else 126
            raise _Failure(f"cannot run init program '{spec.init}': {exc.strerror}", status) from exc
    except _Failure as failure:
        status = failure.status
        state.report(str(failure))
    except BaseException as exc:  # noqa: BLE001 - anything here must be reported, not raised
        state.report(f"container setup failed: {exc}")
    os._exit(status)


def _json_line(reply: dict[str, object]) -> bytes:
    """One JSON line for a reply of strings, ints and bools (what json.dumps would write, without json)."""
    def value(item: object) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int):
            return str(item)
        return '"' + "".join(c if c >= " " and c not in '"\\' else f"\\u{ord(c):04x}" for c in str(item)) + '"'
    return ("{" + ",".join(f"{value(key)}:{value(item)}" for key, item in reply.items()) + "}\n").encode(
        errors="surrogatepass")


def encode_paths(paths: list[str]) -> str:
    """A list of paths as one command-line argument, for PATHS_FROM_ARGV1 (no json needed to read it)."""
    return ",".join(os.fsencode(path).hex() for path in paths)


PATHS_FROM_ARGV1 = ("import sys; from os import fsdecode; "
                    "sys.path[:0] = [fsdecode(bytes.fromhex(p)) for p in sys.argv[1].split(',') if p]; ")
"""Start of a fresh interpreter's `-c` program: put the paths encode_paths wrote as argv[1] in front of sys.path."""

_BOOTSTRAP = PATHS_FROM_ARGV1 + "from virtkernel_lxc.init_process import main; main(sys.argv[2:])"


def fresh_interpreter_paths() -> list[str]:
    """sys.path for a fresh `-I` interpreter that must import this package as this process does.

    The directory holding this package comes first: an editable install finds it through an import hook
    that `-S` leaves out, so sys.path alone may not lead to it.
    """
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [package_parent, *(os.path.abspath(p) for p in sys.path if p)]


def helper_argv(executable: str, paths: list[str], pipes: InitPipes) -> list[str]:
    """Command line that runs run_init(pipes) in a fresh interpreter (the descriptors must be inheritable)."""
    return [executable, "-I", "-S", "-c", _BOOTSTRAP, encode_paths(paths), str(pipes.go_fd), str(pipes.exec_fd),
            str(pipes.console_fd if pipes.console_fd is not None else -1), pipes.console_path or "",
            pipes.staging or ""]


def main(argv: list[str]) -> NoReturn:
    """Entry of the fresh-interpreter helper: argv is what helper_argv put after the paths."""
    go_fd, exec_fd, console_fd = (int(value) for value in argv[:3])
    for fd in (go_fd, exec_fd, console_fd):
        if fd >= 0:
            os.set_inheritable(fd, False)
    unshare(CloneFlags.NEWNS)  # see Supervisor.prepare: cloned without one
    run_init(InitPipes(go_fd, exec_fd, console_fd if console_fd >= 0 else None, argv[3] or None, argv[4] or None),
             announce=True)
