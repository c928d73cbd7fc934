"""The per-container state directory: what the supervisor leaves behind for a later process to find.

Layout (all names fixed, see the constants below):
  spec.json        the ContainerSpec the container was started from
  supervisor.pid   the supervisor's PID (removed when the supervisor exits)
  init.pid         the host PID of the container's current init (rewritten on reboot)
  control.sock     the supervisor's unix control socket (see control.py)
  exit.json        how the container last stopped (written just before the supervisor exits)
  supervisor.log   the supervisor's own messages
  rootfs/          the empty mount point the container's root is assembled on (inside its namespace)
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from typing import Any, Optional

from virtkernel.command import pid_alive
from virtkernel.statefiles import write_runtime_file

from .spec import ContainerSpec

__all__ = ["StateDir", "connect_unix", "bind_unix", "pid_alive", "CGROUP_PLACEMENT"]

SPEC = "spec.json"
SUPERVISOR_PID = "supervisor.pid"
INIT_PID = "init.pid"
CONTROL = "control.sock"
EXIT = "exit.json"
LOG = "supervisor.log"
ROOTFS = "rootfs"
CGROUP_PLACEMENT = "cgroup.json"
"""Where the running container's cgroup directories are (a claimed spare group's v2 part keeps its name)."""

_SUN_PATH_MAX = 107


def _with_short_path(path: str, action) -> Any:
    """Run action(path) with a path short enough for sockaddr_un, going through /proc/self/fd if needed."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        return action(path)
    dirfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return action(f"/proc/self/fd/{dirfd}/{os.path.basename(path)}")
    finally:
        os.close(dirfd)


def connect_unix(path: str, timeout: Optional[float] = None) -> socket.socket:
    """A stream socket connected to the unix socket at path (any path length)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        _with_short_path(path, sock.connect)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_unix(path: str) -> socket.socket:
    """A listening stream socket bound at path (an old socket file there is replaced)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    _with_short_path(path, sock.bind)
    os.chmod(path, 0o600)
    sock.listen(16)
    return sock


@dataclass(frozen=True)
class StateDir:
    """Paths and small readers/writers for one container's state directory."""

    path: str

    def file(self, name: str) -> str:
        """Absolute path of a file in the state dir."""
        return os.path.join(self.path, name)

    @property
    def control_socket(self) -> str:
        """Path of the supervisor's control socket."""
        return self.file(CONTROL)

    @property
    def rootfs(self) -> str:
        """The mount point the container's root is assembled on."""
        return self.file(ROOTFS)

    @property
    def log(self) -> str:
        """The supervisor's log file."""
        return self.file(LOG)

    def create(self) -> None:
        """Create the directory and the rootfs mount point, and forget a previous run's pid files."""
        first_run = True  # the mount point is made by the first run: no earlier pid files to forget
        try:
            os.mkdir(self.rootfs)
        except FileNotFoundError:
            os.makedirs(self.rootfs, exist_ok=True)
        except FileExistsError:
            first_run = False
        # Searchable but not listable: a user-namespaced container's root (an unmapped host uid for
        # these files) must reach rootfs/ to mount on it. Everything sensitive in here is 0600.
        os.chmod(self.path, 0o711)
        os.chmod(self.rootfs, 0o755)
        if not first_run:
            for name in (SUPERVISOR_PID, INIT_PID, CONTROL, EXIT):
                self.remove(name)

    def remove(self, name: str) -> None:
        """Delete one file of the state dir if present."""
        try:
            os.unlink(self.file(name))
        except FileNotFoundError:
            pass

    def write_text(self, name: str, text: str) -> None:
        """Atomically replace a file of the state dir."""
        write_runtime_file(self.file(name), text)

    def read_pid(self, name: str) -> Optional[int]:
        """The PID stored in supervisor.pid or init.pid, or None."""
        try:
            with open(self.file(name)) as handle:
                return int(handle.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    def write_json(self, name: str, data: Any) -> None:
        """Atomically write JSON data."""
        self.write_text(name, json.dumps(data, indent=1, sort_keys=True) + "\n")

    def read_json(self, name: str) -> Optional[Any]:
        """JSON data of a state file, or None when it does not exist."""
        try:
            with open(self.file(name)) as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None

    def write_spec(self, spec: ContainerSpec) -> None:
        """Keep the spec the container runs with."""
        self.write_json(SPEC, spec.to_dict())

    def read_spec(self) -> Optional[ContainerSpec]:
        """The spec the container was started with, or None."""
        data = self.read_json(SPEC)
        return ContainerSpec.from_dict(data) if data is not None else None

    def supervisor_pid(self) -> Optional[int]:
        """The supervisor's PID if its pid file exists and that process is alive."""
        pid = self.read_pid(SUPERVISOR_PID)
        return pid if pid is not None and pid_alive(pid) else None

    def exit_info(self) -> Optional[dict[str, Any]]:
        """How the container last stopped (exit.json), or None."""
        return self.read_json(EXIT)
