"""What device setup created, per domain, on disk so it survives reconnects and is removed exactly once."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid as uuidlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from virtkernel.errors import InternalError

STATE_SUBDIR = "device-setup"
"""Device setup keeps its records in this directory below the driver's state directory."""


@dataclass
class CreatedDevices:
    """The devices device setup created for one run of one domain."""

    uuid: str
    name: str
    disks: list[str] = field(default_factory=list)       # image paths removed at release
    kept_disks: list[str] = field(default_factory=list)  # images kept after a successful run, removed on failure
    taps: list[str] = field(default_factory=list)
    bridges: list[str] = field(default_factory=list)     # bridges (created by us) this domain holds a reference to
    started: bool = False

    def is_empty(self) -> bool:
        """Whether nothing is recorded."""
        return not (self.disks or self.kept_disks or self.taps or self.bridges)


class StateStore:
    """Per-domain records and shared bridge references under one directory, guarded by a lock file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextlib.contextmanager
    def locked(self) -> Iterator["StateStore"]:
        """Hold the store's lock (across processes) while reading and changing records."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.directory / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _record_path(self, uuid: str) -> Path:
        try:
            canonical = str(uuidlib.UUID(uuid))
        except ValueError:
            raise InternalError(f"device setup got an invalid domain UUID '{uuid}'") from None
        return self.directory / "domains" / f"{canonical}.json"

    def _write_json(self, path: Path, data: object) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(temporary, path)

    def load(self, uuid: str) -> Optional[CreatedDevices]:
        """The record of a domain, or None."""
        path = self._record_path(uuid)
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return CreatedDevices(**data)

    def save(self, record: CreatedDevices) -> None:
        """Write a domain's record (removing the file when nothing is recorded and the guest is not running)."""
        path = self._record_path(record.uuid)
        if record.is_empty() and not record.started:
            path.unlink(missing_ok=True)
            return
        self._write_json(path, asdict(record))

    def forget(self, uuid: str) -> None:
        """Remove a domain's record."""
        self._record_path(uuid).unlink(missing_ok=True)

    # -- bridges created by us, shared by every domain that uses them ----------------------------------------------

    def _bridges(self) -> dict[str, list[str]]:
        path = self.directory / "bridges.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def bridge_users(self, bridge: str) -> Optional[list[str]]:
        """UUIDs of domains using a bridge we created, or None when we did not create it."""
        return self._bridges().get(bridge)

    def add_bridge_user(self, bridge: str, uuid: str) -> None:
        """Record that a domain uses a bridge we created (creating the entry when we just created it)."""
        bridges = self._bridges()
        users = bridges.setdefault(bridge, [])
        if uuid not in users:
            users.append(uuid)
        self._write_json(self.directory / "bridges.json", bridges)

    def remove_bridge_user(self, bridge: str, uuid: str) -> list[str]:
        """Drop a domain's use of a bridge we created; return the remaining users."""
        bridges = self._bridges()
        users = [u for u in bridges.get(bridge, []) if u != uuid]
        if users:
            bridges[bridge] = users
        else:
            bridges.pop(bridge, None)
        self._write_json(self.directory / "bridges.json", bridges)
        return users
