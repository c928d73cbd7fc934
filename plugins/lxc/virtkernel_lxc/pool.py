"""Spare supervisors: the slow part of a container start, done before anyone asks for a container.

Forking a large Python process and cloning it into new namespaces costs several milliseconds on a
virtualized host (page tables are copied, copy-on-write faults taken, namespaces created). A
`SupervisorPool` keeps `size` spare supervisors forked ahead of time. Each has its init already
cloned into fresh PID, UTS, IPC and network namespaces and re-executed as a small fresh interpreter
with its own mount namespace, where it pre-builds the generic root (host binds, /proc, /sys, /dev,
console) and waits for orders; a spare is ready once that is done, a few hundred ms after its fork.
`launch(..., pool=pool)` hands a ready spare the spec, so only the spec's own mounts, the cgroup,
the veths, the pivot and the exec remain on the critical path; the pool forks a replacement in the
background after the start. Specs with an id map (user namespace) always start from scratch.

With a `spare_cgroup` factory, each spare's prepared init also joins a spare cgroup of its own
(virtkernel.cgroup.DomainCgroup.create_spare) while it waits: the first cgroup migration after a
quiet spell waits for an RCU grace period (5-16 ms here), a rename does not. The caller takes a spare,
claims its group for the container (`Spare.claim_cgroup(name)`) and passes both to launch().

Spares are children of the process that owns the pool and exit when it closes the pool or exits.
"""

from __future__ import annotations

import os
import pickle
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .init_process import READY
from .spec import ContainerSpec
from .state import pid_alive
from .supervisor import make_staging_dir, run_spare

__all__ = ["SupervisorPool", "Spare"]


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
        try:
            payload = pickle.dumps({"spec": spec.to_dict(), "state": state_dir, "cgroup": cgroup,
                                    "joined": cgroup is not None and self.joined})
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


def _fork_spare(spare_cgroup: Optional[Callable[[], Any]]) -> Spare:
    group = None
    if spare_cgroup is not None:
        try:
            group = spare_cgroup()
        except Exception:  # noqa: BLE001 - no cgroups here (not root, none mounted): the start joins later
            group = None
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    staging = make_staging_dir()
    pid = os.fork()
    if pid == 0:  # run_spare never returns
        ours.close()
        run_spare(theirs.detach(), staging, group)
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

    def __init__(self, size: int = 1, spare_cgroup: Optional[Callable[[], Any]] = None) -> None:
        self.size = size
        self.spare_cgroup = spare_cgroup
        self._spares: list[Spare] = []
        self._lock = threading.Lock()
        self._owner = os.getpid()
        self._closed = False
        self._closing = threading.Event()
        self._refill: Optional[threading.Thread] = None

    def fill(self) -> None:
        """Fork spares until `size` are ready (runs in the calling thread)."""
        with self._lock:
            while not self._closed and os.getpid() == self._owner and len(self._spares) < self.size:
                self._spares.append(_fork_spare(self.spare_cgroup))

    def refill_soon(self, delay: float = 0.0) -> None:
        """Start filling in a background thread after `delay` seconds, unless that is already happening.

        A delay lets a start that just took a spare return first: forking a large Python process holds
        the GIL and takes the CPU for several ms.
        """
        with self._lock:
            if self._closed or (self._refill is not None and self._refill.is_alive()):
                return
            self._refill = threading.Thread(target=self._fill_after, args=(delay,), name="lxc-spare-refill",
                                            daemon=True)
            self._refill.start()

    def _fill_after(self, delay: float) -> None:
        if delay <= 0 or not self._closing.wait(delay):
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
        """Wait until `size` spares are forked and ready; False on timeout."""
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
        self._closing.set()
        with self._lock:
            self._closed = True
            spares, self._spares = self._spares, []
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
