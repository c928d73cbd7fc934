"""The on-disk records of one host: persistent domain XML, autostart marks, and each container's state dir.

config_dir/NAME.xml            persistent definition
config_dir/autostart/NAME.xml  symlink: the domain starts with the host
state_dir/NAME/                the container's StateDir (spec.json, supervisor.pid, control.sock, exit.json, ...)
                               plus live.xml (the running definition), status.json (state reasons) and
                               stopped.json (how it last stopped, once a driver took note of the stop)
state_dir/.lock                flock serialising changes between threads and processes
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from virtkernel.domainxml import DomainDefinition
from virtkernel.statefiles import write_atomically

from .paths import HostPaths
from .state import CGROUP_PLACEMENT, StateDir

__all__ = ["DomainStore", "Record", "LIVE_XML", "STATUS", "STOPPED"]

LIVE_XML = "live.xml"
STATUS = "status.json"
STOPPED = "stopped.json"


@dataclass
class Record:
    """One domain as the files show it now."""

    name: str
    uuid: str
    config: Optional[DomainDefinition]
    live: Optional[DomainDefinition]
    supervisor_pid: Optional[int]

    @property
    def active(self) -> bool:
        """Whether the container runs (its supervisor is alive)."""
        return self.supervisor_pid is not None

    @property
    def persistent(self) -> bool:
        """Whether a persistent definition exists."""
        return self.config is not None

    @property
    def current(self) -> DomainDefinition:
        """The live definition while running, else the persistent one."""
        return self.live if self.live is not None else self.config  # type: ignore[return-value]

    @property
    def id(self) -> int:
        """The domain id: the supervisor's PID while running (as libvirt's lxc driver), else -1."""
        return self.supervisor_pid if self.supervisor_pid is not None else -1


class DomainStore:
    """Reads and writes the records of one host (see the module docstring)."""

    def __init__(self, paths: HostPaths) -> None:
        self.paths = paths
        self._held = threading.local()
        self._uuids: dict[str, tuple[tuple[int, int, int], str]] = {}  # path -> (file identity, UUID)
        self._parsed: dict[str, tuple[bytes, DomainDefinition]] = {}  # path -> (file content, its definition)

    # ---------------------------------------------------------------------------------- paths

    def config_path(self, name: str) -> str:
        """The persistent XML file of a domain."""
        return os.path.join(self.paths.config_dir, name + ".xml")

    def autostart_path(self, name: str) -> str:
        """The autostart mark of a domain."""
        return os.path.join(self.paths.config_dir, "autostart", name + ".xml")

    def state(self, name: str) -> StateDir:
        """The container state directory of a domain."""
        return StateDir(os.path.join(self.paths.state_dir, name))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the host lock (threads and processes) for a change; re-entrant within a thread."""
        depth = getattr(self._held, "depth", 0)
        if depth:
            self._held.depth = depth + 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        fd = os.open(os.path.join(self.paths.state_dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._held.depth = 1
            yield
        finally:
            self._held.depth = 0
            os.close(fd)

    # ---------------------------------------------------------------------------------- reading

    def names(self) -> list[str]:
        """Every domain name: persistent definitions and running (or not yet noted) containers."""
        names = set()
        try:
            for entry in os.listdir(self.paths.config_dir):
                if entry.endswith(".xml") and os.path.isfile(os.path.join(self.paths.config_dir, entry)):
                    names.add(entry[:-4])
        except FileNotFoundError:
            pass
        try:
            for entry in os.listdir(self.paths.state_dir):
                if not entry.startswith(".") and os.path.exists(os.path.join(self.paths.state_dir, entry, LIVE_XML)):
                    names.add(entry)
        except FileNotFoundError:
            pass
        return sorted(names)

    def _read_xml(self, path: str) -> Optional[DomainDefinition]:
        """The definition in a stored XML file (a copy of the one parsed last time if the bytes are the same)."""
        content = read_bytes(path)
        if content is None:
            self._parsed.pop(path, None)
            return None
        known = self._parsed.get(path)
        if known is None or known[0] != content:
            known = self._parsed[path] = (content, DomainDefinition.from_xml(content))
        return known[1].copy()

    def record(self, name: str) -> Optional[Record]:
        """The record of a domain, or None when it does not exist (a stopped transient one included)."""
        if name in (".", "..") or "/" in name or "\0" in name or not name:
            return None
        config = self._read_xml(self.config_path(name))
        state = self.state(name)
        pid = state.supervisor_pid()
        live = self._read_xml(state.file(LIVE_XML)) if pid is not None or config is None else None
        if config is None and live is None:
            return None
        if config is None and pid is None and not self.stop_pending(name):
            return None  # a transient domain that stopped
        uuid = (live or config).uuid or ""  # type: ignore[union-attr]
        return Record(name=name, uuid=uuid, config=config, live=live, supervisor_pid=pid)

    def _uuid_in(self, path: str, st: Optional[os.stat_result] = None) -> Optional[str]:
        """The UUID in a stored XML file, None if there is none; remembered per file identity (the files are
        replaced by rename, never edited in place), so a scan parses only what changed."""
        try:
            st = st or os.stat(path)
        except FileNotFoundError:
            return None
        identity = (st.st_ino, st.st_mtime_ns, st.st_size)
        known = self._uuids.get(path)
        if known is not None and known[0] == identity:
            return known[1]
        defn = self._read_xml(path)
        if defn is None:
            return None
        self._uuids[path] = (identity, defn.uuid or "")
        return defn.uuid or ""

    def holder_of_uuid(self, uuid: str) -> Optional[str]:
        """The name of the existing domain with this UUID, or None (what records() would find, without
        parsing every definition each time). A name's UUID never changes while it exists, so a persistent
        domain's definition tells it; transient ones are found through their live XML."""
        persistent = set()
        try:
            with os.scandir(self.paths.config_dir) as entries:
                for entry in entries:
                    if entry.name.endswith(".xml") and entry.is_file():
                        persistent.add(entry.name[:-4])
                        if self._uuid_in(entry.path, entry.stat()) == uuid:
                            return entry.name[:-4]
        except FileNotFoundError:
            pass
        try:
            with os.scandir(self.paths.state_dir) as entries:
                transient = [e.name for e in entries if e.name not in persistent and not e.name.startswith(".")]
        except FileNotFoundError:
            transient = []
        for name in transient:
            state = self.state(name)
            if state.supervisor_pid() is not None or self.stop_pending(name):
                if self._uuid_in(state.file(LIVE_XML)) == uuid:
                    return name
        return None

    def records(self) -> Iterator[Record]:
        """Every existing record."""
        for name in self.names():
            record = self.record(name)
            if record is not None:
                yield record

    def stop_pending(self, name: str) -> bool:
        """Whether the container stopped (exit.json) and no driver has taken note of it yet."""
        return os.path.exists(self.state(name).file("exit.json"))

    def status(self, name: str) -> dict[str, Any]:
        """The state reasons kept for a running container (status.json)."""
        return self.state(name).read_json(STATUS) or {}

    def set_status(self, name: str, **fields: Any) -> None:
        """Update status.json."""
        status = self.status(name)
        status.update(fields)
        self.state(name).write_json(STATUS, status)

    def last_stop(self, name: str) -> Optional[dict[str, Any]]:
        """How the domain last stopped (ExitInfo data), or None."""
        state = self.state(name)
        return state.read_json(STOPPED) or state.exit_info()

    def autostart(self, name: str) -> bool:
        """Whether the domain is marked to start with the host."""
        return os.path.lexists(self.autostart_path(name))

    # ---------------------------------------------------------------------------------- writing

    def write_config(self, defn: DomainDefinition) -> None:
        """Save a persistent definition (atomically)."""
        path, text = self.config_path(defn.name), defn.to_xml() + "\n"
        try:
            write_atomically(path, text, 0o644)
        except FileNotFoundError:  # the first definition: no config directory yet
            os.makedirs(self.paths.config_dir, mode=0o700, exist_ok=True)
            write_atomically(path, text, 0o644)

    def remove_config(self, name: str) -> None:
        """Delete a persistent definition and its autostart mark."""
        for path in (self.config_path(name), self.autostart_path(name)):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def set_autostart(self, name: str, enabled: bool) -> None:
        """Mark or unmark a domain to start with the host."""
        path = self.autostart_path(name)
        if enabled:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            if not os.path.lexists(path):
                os.symlink(self.config_path(name), path)
        elif os.path.lexists(path):
            os.unlink(path)

    def write_live(self, defn: DomainDefinition) -> None:
        """Save the running definition in the container's state dir."""
        self.state(defn.name).write_text(LIVE_XML, defn.to_xml() + "\n")

    def claim_stop(self, name: str) -> Optional[dict[str, Any]]:
        """Take note of a stop exactly once (across processes): the ExitInfo data, or None if already noted."""
        state = self.state(name)
        try:
            os.rename(state.file("exit.json"), state.file(STOPPED))
        except FileNotFoundError:
            return None
        return state.read_json(STOPPED)

    def forget_run(self, name: str) -> None:
        """After a stop: drop the live XML and status (stopped.json and the log stay, for other processes)."""
        state = self.state(name)
        for file in (LIVE_XML, STATUS, CGROUP_PLACEMENT):
            state.remove(file)

    def remove_state(self, name: str) -> None:
        """Remove a stopped domain's state directory (when it is undefined)."""
        shutil.rmtree(self.state(name).path, ignore_errors=True)

    def clear_last_stop(self, name: str) -> None:
        """Forget how the domain last stopped (before a new start)."""
        self.state(name).remove(STOPPED)


def read_bytes(path: str) -> Optional[bytes]:
    """A small file's content, or None if it does not exist (plain system calls: no buffered file object)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def dump(data: Any) -> str:
    """Compact JSON (for messages)."""
    return json.dumps(data, sort_keys=True)
