"""Spare supervisors: the slow part of a container start, done before anyone asks for a container.

Starting a supervisor and cloning its init into new namespaces costs several milliseconds on a
virtualized host (page tables copied, copy-on-write faults, namespaces created). A `SupervisorPool`
keeps `size` spare supervisors ready. Each is a fresh interpreter (posix_spawn, not a fork: a forked
child would share the launcher's memory copy-on-write and slow down everything the launcher does
next), with its init already cloned into fresh PID, UTS, IPC and network namespaces and re-executed
as a small fresh interpreter with its own mount namespace, where it pre-builds the generic root (host
binds, /proc, /sys, /dev, console) and waits for orders; a spare is ready once that is done, a few
hundred ms after it was started. `launch(..., pool=pool)` hands a ready spare the spec, so only the
spec's own mounts, the cgroup, the veths, the pivot and the exec remain on the critical path; the pool
starts a replacement in the background after the start. Specs with an id map (user namespace) always
start from scratch.

With a `spare_cgroup` factory, each spare's prepared init also joins a spare cgroup of its own
(virtkernel.cgroup.DomainCgroup.create_spare) while it waits: the first cgroup migration after a
quiet spell waits for an RCU grace period (5-16 ms here), a rename does not. The caller takes a spare,
claims its group for the container (`Spare.claim_cgroup(name)`) and passes both to launch().

Spares are children of the process that owns the pool and exit when it closes the pool or exits.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .init_process import READY
from .spec import ContainerSpec
from .state import pid_alive
from .supervisor import make_staging_dir, spare_argv

__all__ = ["SupervisorPool", "Spare"]

log = logging.getLogger(__name__)


@dataclass
class Spare:
    """One spare supervisor: its PID and the socket its order goes to."""

    pid: int
    command: socket.socket
    staging: str
    cgroup: Any = None  # the spare cgroup its prepared init joined (None: it joins the container's at start)
    joined: bool = False  # the spare group was claimed: the container's group already holds the init
    ready: bool = False

    def check_ready(self) -> bool:
        """True once the spare has announced that its prepared init runs (never blocks)."""
        if not self.ready:
            try:
                self.ready = self.command.recv(16, socket.MSG_DONTWAIT) == READY
            except BlockingIOError:
                pass
            except OSError:
                pass
        return self.ready

    def alive(self) -> bool:
        """True while the spare still waits (it exits if its prepared init died)."""
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return pid_alive(self.pid)
        return done == 0

    def order(self, spec: ContainerSpec, state_dir: str, cgroup: Any, report_fd: int) -> int:
        """Hand over a container; the spare becomes its supervisor. Returns the supervisor's PID.

        `cgroup` is the container's group: the claimed spare group, or any other group the init joins then.
        """
        joined = cgroup is not None and self.joined
        try:
            # The claimed spare group travels as its name: the spare knows the group, and unpickling a whole
            # group object (its layout, a Path per hierarchy) costs the start about a millisecond.
            payload = pickle.dumps({"spec": spec, "state": state_dir, "joined": joined,
                                    "cgroup": None if joined else cgroup,
                                    "claimed_name": cgroup.name if joined else None})
            socket.send_fds(self.command, [payload], [report_fd])
        finally:
            self.command.close()  # an order that did not go out dismisses the spare
        return self.pid

    def claim_cgroup(self, name: str) -> Any:
        """The spare group, renamed for container `name` (DomainCgroup.claim); pass it to launch() with
        this spare. None when the spare has no group. The caller owns the group from here on."""
        if self.cgroup is None:
            return None
        claimed = self.cgroup.claim(name)
        self.cgroup, self.joined = None, True
        return claimed

    def dismiss(self) -> None:
        """Let the spare go unused: it kills its prepared init and exits; its group is removed."""
        self.command.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        _remove_dir(self.staging)  # the spare removes it too, unless it was killed
        _remove_group(self.cgroup)


def _start_spare(spare_cgroup: Optional[Callable[[], Any]], helper: Optional[str]) -> Spare:
    group = None
    if spare_cgroup is not None:
        try:
            group = spare_cgroup()
        except Exception:  # noqa: BLE001 - no cgroups here (not root, none mounted): the start joins later
            group = None
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    staging = make_staging_dir()
    try:
        ours.send(pickle.dumps({"staging": staging, "cgroup": group, "helper": helper or sys.executable}))
        os.set_inheritable(theirs.fileno(), True)
        # posix_spawn (vfork and exec): the launcher's memory is neither copied nor shared with the spare
        pid = os.posix_spawn(sys.executable, spare_argv(theirs.fileno()), os.environ)
    except BaseException:
        ours.close()
        _remove_dir(staging)
        _remove_group(group)
        raise
    finally:
        theirs.close()
    return Spare(pid, ours, staging, group)


def _remove_group(group: Any) -> None:
    if group is not None:
        try:
            group.remove()
        except Exception:  # noqa: BLE001 - an abandoned spare group is removed by the next host that opens
            pass


def _remove_dir(path: str) -> None:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass


class SupervisorPool:
    """Keeps up to `size` spare supervisors ready for launch(); refills in a background thread."""

    def __init__(self, size: int = 1, spare_cgroup: Optional[Callable[[], Any]] = None,
                 helper_interpreter: Optional[str] = None) -> None:
        self.size = size
        self.spare_cgroup = spare_cgroup
        self.helper_interpreter = helper_interpreter  # what a spare's init re-executes as (None: sys.executable)
        self._spares: list[Spare] = []
        self._lock = threading.Lock()
        self._owner = os.getpid()
        self._closed = False
        self._wanted = threading.Condition(self._lock)
        self._refill_at: Optional[float] = None  # monotonic time the refiller should fill at
        self._refill: Optional[threading.Thread] = None

    def fill(self) -> None:
        """Start spares until there are `size` (runs in the calling thread)."""
        with self._lock:
            while not self._closed and os.getpid() == self._owner and len(self._spares) < self.size:
                try:
                    self._spares.append(_start_spare(self.spare_cgroup, self.helper_interpreter))
                except OSError as exc:  # starts go on without spares (from scratch)
                    log.warning("lxc: cannot start a spare supervisor: %s", exc)
                    return

    def refill_soon(self, delay: float = 0.0) -> None:
        """Fill in the background after `delay` seconds (one long-lived refiller thread; a start does not
        pay for creating a thread).

        A delay lets a start that just took a spare return first: the new spare's interpreter start takes
        a CPU for a while.
        """
        with self._lock:
            if self._closed or os.getpid() != self._owner:
                return
            due = time.monotonic() + max(delay, 0.0)
            if self._refill_at is None or due < self._refill_at:
                self._refill_at = due
            if self._refill is None or not self._refill.is_alive():
                self._refill = threading.Thread(target=self._refiller, name="lxc-spare-refill", daemon=True)
                self._refill.start()
            else:
                self._wanted.notify()

    def _refiller(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (self._refill_at is None or self._refill_at > time.monotonic()):
                    self._wanted.wait(None if self._refill_at is None else self._refill_at - time.monotonic())
                if self._closed:
                    return
                self._refill_at = None
            self.fill()

    def take(self) -> Optional[Spare]:
        """A ready spare, or None (the caller then starts a supervisor from scratch: a spare still
        starting up would take longer than that)."""
        if os.getpid() != self._owner:
            return None  # a forked copy of the owner: the spares are not our children
        with self._lock:
            for spare in list(self._spares):
                if not spare.alive():
                    self._spares.remove(spare)
                    spare.dismiss()
                elif spare.check_ready():
                    self._spares.remove(spare)
                    return spare
        return None

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Wait until `size` spares are started and ready; False on timeout."""
        self.fill()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self._spares) >= self.size and all(s.check_ready() for s in self._spares):
                    return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        """Dismiss every spare and wait for them to exit."""
        with self._lock:
            self._closed = True
            spares, self._spares = self._spares, []
            self._wanted.notify_all()
        if self._refill is not None:
            self._refill.join()
            with self._lock:
                spares += self._spares
                self._spares = []
        for spare in spares:
            spare.command.close()  # end-of-file: the spare kills its prepared init and exits
        for spare in spares:
            spare.dismiss()

    def __len__(self) -> int:
        return len(self._spares)

    def __enter__(self) -> "SupervisorPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
