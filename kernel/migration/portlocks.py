"""Machine-wide port reservations: one lock file per port, held (flock) by the process that reserved the port.

A bind test sees a port only once its listener exists; between a reservation and the listen (a destination
QEMU starting, say) another virtkernel process would see the port free and hand it out too. The lock closes
that window between virtkernel processes; the bind test still covers every other program. The lock dies with
its file descriptor (release, or the process's exit), so a crash never leaves a port reserved.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)


def default_lock_dir() -> Path:
    """Where reservations live: /run/lock/virtkernel-ports, or the temporary directory when /run/lock is not writable."""
    base = Path("/run/lock")
    if not (base.is_dir() and os.access(base, os.W_OK | os.X_OK)):
        base = Path(tempfile.gettempdir())
    return base / "virtkernel-ports"


@dataclass
class PortLock:
    """One reserved port; ``fd`` holds its lock (None when no lock directory could be used)."""

    port: int
    fd: Optional[int] = None

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases it)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class PortLocks:
    """The lock files of one directory (shared by every user: sticky and world-writable, like /tmp)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._dir_fd: Optional[int] = None
        self._unusable = False
        self._lock = threading.Lock()

    def try_lock(self, port: int) -> Optional[PortLock]:
        """The port's lock, or None when another process (or another allocator of this one) holds it.

        Without a usable directory or lock file the reservation is this process's only (``fd`` None): the bind
        test then decides alone.
        """
        dir_fd = self._directory_fd()
        if dir_fd is None:
            return PortLock(port)
        name = f"{port}.lock"
        try:
            try:  # without O_CREAT first: opening another user's file in a sticky directory needs that
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            except FileNotFoundError:
                fd = os.open(name, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
        except OSError as exc:
            log.debug("no machine-wide reservation for port %d: %s", port, exc)
            return PortLock(port)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            log.debug("no machine-wide reservation for port %d: %s", port, exc)
            return PortLock(port)
        return PortLock(port, fd)

    def _directory_fd(self) -> Optional[int]:
        with self._lock:
            if self._dir_fd is None and not self._unusable:
                try:
                    self._dir_fd = _open_shared_directory(self.directory)
                except OSError as exc:
                    self._unusable = True
                    log.warning("ports are reserved for this process only: cannot use %s (%s)", self.directory,
                                exc.strerror or exc)
            return self._dir_fd


def _open_shared_directory(path: Path) -> int:
    """Open (creating it sticky and world-writable) a directory owned by root or by us; never through a symlink."""
    try:
        os.mkdir(path, 0o1777)
        os.chmod(path, 0o1777)  # mkdir's mode went through the umask
    except FileExistsError:
        pass
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    owner = os.fstat(fd).st_uid
    if owner not in (0, os.geteuid()):
        os.close(fd)
        raise PermissionError(errno.EPERM, f"owned by another user (uid {owner})")
    return fd


_SHARED: dict[Path, PortLocks] = {}
_SHARED_LOCK = threading.Lock()


def shared_locks(directory: Optional[Path] = None) -> PortLocks:
    """The process's one PortLocks per directory (the default directory unless told)."""
    path = Path(directory) if directory is not None else default_lock_dir()
    with _SHARED_LOCK:
        locks = _SHARED.get(path)
        if locks is None:
            locks = _SHARED[path] = PortLocks(path)
        return locks
