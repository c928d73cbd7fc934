"""What a qemu host keeps on disk: persistent configs, autostart marks, and one status file per running guest.

Status file ``RUN_DIR/NAME.status`` (JSON, written atomically): the domain id, the QMP socket, the live XML,
the state and reason, whether the domain is persistent, and the cgroup flag -- enough for a new process to
pick the guest up again (`QemuProcess.attach` finds QEMU itself through ``NAME.proc``).  Runtime files of
one guest share the stem NAME in RUN_DIR; its QMP socket has a short hashed name (unix socket paths are
limited to 107 bytes) and QEMU's log goes to LOG_DIR/NAME.log.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterator, Optional

from virtkernel.domainxml import DomainDefinition
from virtkernel.statefiles import write_runtime_file

from .paths import QemuPaths
from .process import ProcessFiles

__all__ = ["GuestFiles", "GuestStatus", "DomainStore", "bind_unix", "connect_unix"]

_MAX_SUN_PATH = 100
ID_BLOCK = 32
"""Domain ids reserved per write of the counter file (see `DomainStore.next_id`)."""


@dataclass(frozen=True)
class GuestFiles(ProcessFiles):
    """ProcessFiles of one guest with its log in the host's log directory and a short QMP socket name."""

    log_dir: Optional[Path] = None

    @cached_property
    def log(self) -> Path:
        """QEMU's stdout and stderr."""
        return Path(self.log_dir or self.directory) / f"{self.name}.log"

    @cached_property
    def qmp(self) -> Path:
        """The QMP socket: RUN_DIR/<hash of the name>.qmp."""
        return Path(self.directory) / f"{hashlib.sha1(self.name.encode()).hexdigest()[:16]}.qmp"

    @cached_property
    def status(self) -> Path:
        """The guest's status file."""
        return Path(self.directory) / f"{self.name}.status"


@dataclass
class GuestStatus:
    """The status file of a running guest."""

    name: str
    uuid: str
    id: int
    state: int
    reason: int
    live_xml: str
    persistent: bool
    qmp: str
    cgroup: bool = False
    started: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        """The file's text."""
        # fields by hand: dataclasses.asdict deep-copies every value first, for nothing here
        return json.dumps({name: getattr(self, name) for name in self.__dataclass_fields__})

    @classmethod
    def from_json(cls, text: str) -> "GuestStatus":
        """Parse a status file."""
        data = json.loads(text)
        return cls(**{key: data[key] for key in data if key in cls.__dataclass_fields__})


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


class DomainStore:
    """Configs (CONFIG_DIR/NAME.xml), autostart marks (CONFIG_DIR/autostart/NAME) and status files."""

    def __init__(self, paths: QemuPaths) -> None:
        self.paths = paths
        self._written: dict[str, str] = {}  # name -> the status text last written (one process drives a host)
        self._files: dict[str, GuestFiles] = {}
        self._id_lock = threading.Lock()
        self._id_next = self._id_end = 0  # ids this process reserved: [next, end)

    def files(self, name: str) -> GuestFiles:
        """The runtime files of a guest."""
        files = self._files.get(name)
        if files is None:
            files = self._files[name] = GuestFiles(self.paths.run_dir, name, self.paths.log_dir)
        return files

    # -- configs ---------------------------------------------------------------------------------

    def config_path(self, name: str) -> Path:
        """Where a persistent config lives."""
        return self.paths.config_dir / f"{name}.xml"

    def configs(self) -> Iterator[DomainDefinition]:
        """Every persistent config (unreadable files are skipped)."""
        for path in sorted(self.paths.config_dir.glob("*.xml")):
            try:
                yield DomainDefinition.from_xml(path.read_bytes())
            except Exception:  # noqa: BLE001 - one broken file must not hide the others
                continue

    def write_config(self, defn: DomainDefinition) -> None:
        """Store a persistent config."""
        _write_atomically(self.config_path(defn.name), defn.to_xml())

    def remove_config(self, name: str) -> None:
        """Delete a persistent config and its autostart mark."""
        _unlink(self.config_path(name))
        self.set_autostart(name, False)

    def autostart(self, name: str) -> bool:
        """Whether the domain is marked to start with the host."""
        return (self.paths.config_dir / "autostart" / name).exists()

    def set_autostart(self, name: str, value: bool) -> None:
        """Set or clear the autostart mark."""
        mark = self.paths.config_dir / "autostart" / name
        if value:
            mark.parent.mkdir(mode=0o700, exist_ok=True)
            mark.write_text(str(self.config_path(name)))
        else:
            _unlink(mark)

    # -- status ----------------------------------------------------------------------------------

    def statuses(self) -> Iterator[GuestStatus]:
        """Status files of guests recorded as running."""
        for path in sorted(self.paths.run_dir.glob("*.status")):
            try:
                yield GuestStatus.from_json(path.read_text())
            except (OSError, ValueError, TypeError):
                continue

    def write_status(self, status: GuestStatus) -> None:
        """Record a running guest (nothing is written when the file already says exactly this)."""
        text = status.to_json()
        if self._written.get(status.name) == text:
            return
        self._written.pop(status.name, None)  # a failed write leaves the file unknown
        write_runtime_file(self.files(status.name).status, text)
        self._written[status.name] = text

    def remove_status(self, name: str) -> None:
        """Forget a running guest: status, process state, socket and pidfile (the log stays)."""
        files = self.files(name)
        self._written.pop(name, None)
        _unlink(files.status)
        files.cleanup()

    # -- managed save ----------------------------------------------------------------------------

    def managed_save_path(self, name: str) -> Path:
        """The managed-save image of a domain."""
        return self.paths.save_dir / f"{name}.save"

    def next_id(self) -> int:
        """A new domain id, unique on this host for as long as its run directory lives.

        The counter file holds the end of the last block of ids a process reserved (ID_BLOCK at a time), so
        that a start writes it only once in ID_BLOCK starts. Each new block starts after the file's value, so
        blocks that processes on the same host reserve in turn never overlap.
        """
        with self._id_lock:
            if self._id_next >= self._id_end:
                try:
                    reserved = int((self.paths.run_dir / "next-id").read_text())
                except (OSError, ValueError):
                    reserved = 1
                self._id_next = max(1, reserved, self._id_next)
                end = self._id_next + ID_BLOCK
                write_runtime_file(self.paths.run_dir / "next-id", str(end))  # before any id of it is used
                self._id_end = end
            value = self._id_next
            self._id_next += 1
            return value


def _short(path: Path) -> tuple[str, Optional[int]]:
    """A usable socket address for path, and a directory descriptor to close afterwards."""
    text = str(path)
    if len(text.encode()) < _MAX_SUN_PATH:
        return text, None
    dirfd = os.open(path.parent, os.O_PATH | os.O_CLOEXEC)
    return f"/proc/self/fd/{dirfd}/{path.name}", dirfd


def bind_unix(path: Path) -> socket.socket:
    """A listening unix socket at path (however long the path), replacing a stale one."""
    _unlink(path)
    address, dirfd = _short(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        listener.bind(address)
        listener.listen(1)
    except OSError:
        listener.close()
        raise
    finally:
        if dirfd is not None:
            os.close(dirfd)
    return listener


def connect_unix(path: Path, timeout: float = 5.0) -> socket.socket:
    """A connected unix socket to path (however long the path)."""
    address, dirfd = _short(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    finally:
        if dirfd is not None:
            os.close(dirfd)
    sock.settimeout(None)
    return sock
