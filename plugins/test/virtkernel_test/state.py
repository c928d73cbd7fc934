"""The state of one simulated host: its guests (by name, UUID and id), ids, node facts and features.

Connections to test:///default in one process share one HostState while any of them is open; the state is
dropped when the last one closes. Every other URI (a host file) gets a fresh state on each open.
"""

from __future__ import annotations

import itertools
import threading
from typing import Iterator, Optional

from virtkernel.enums import DomainState, ErrorCode, ErrorDomain
from virtkernel.errors import NoDomain, VirtError
from virtkernel.features import DriverFeature
from virtkernel.types import DomainRef

from .definition import DomainConfig
from .guest import Guest, ManagedSave
from .host import HostDescription, NodeDescription, capabilities_xml, default_host

_state_ids = itertools.count(1)


class HostState:
    """Guests of one test host, looked up in O(1) by name, UUID or id."""

    def __init__(self, description: HostDescription, key: str) -> None:
        self.key = key
        self.node: NodeDescription = description.node
        self.features: frozenset[DriverFeature] = description.features
        self.path = description.path
        self.directory = description.directory
        self.lock = threading.RLock()
        self.by_name: dict[str, Guest] = {}
        self.by_uuid: dict[str, Guest] = {}
        self.by_id: dict[int, Guest] = {}
        self._next_id = 1
        self._capabilities: Optional[str] = None
        for seed in description.domains:
            guest = Guest(seed.config, persistent=seed.persistent)
            self.add(guest)
            if seed.state != DomainState.SHUTOFF:
                guest.start(self.allocate_id(), seed.state, 0)
                self.by_id[guest.id] = guest
            if seed.managed_save and guest.persistent:
                guest.managed_save = ManagedSave(seed.config.to_xml())
            for snapshot in seed.snapshots:
                guest.snapshots.add(snapshot, make_current=False)
                guest.snapshots.current = snapshot.name

    # -- ids and lookup ---------------------------------------------------------------------------------------

    def allocate_id(self) -> int:
        """The next domain id (ids only grow, like libvirt's)."""
        value = self._next_id
        self._next_id += 1
        return value

    def get(self, ref: DomainRef) -> Guest:
        """The guest a reference names (by UUID); NO_DOMAIN when it is gone."""
        guest = self.by_uuid.get(ref.uuid)
        if guest is None:
            raise NoDomain(f"no domain with matching uuid '{ref.uuid}' ({ref.name})", code=ErrorCode.NO_DOMAIN,
                           domain=ErrorDomain.TEST)
        return guest

    def by_name_or_fail(self, name: str) -> Guest:
        """The guest called ``name``."""
        guest = self.by_name.get(name)
        if guest is None:
            raise NoDomain(f"no domain with matching name '{name}'", code=ErrorCode.NO_DOMAIN, domain=ErrorDomain.TEST)
        return guest

    def __iter__(self) -> Iterator[Guest]:
        return iter(list(self.by_uuid.values()))

    def __len__(self) -> int:
        return len(self.by_uuid)

    # -- membership -------------------------------------------------------------------------------------------

    def add(self, guest: Guest) -> None:
        """Register a guest under its name and UUID (and id when active)."""
        self.by_name[guest.name] = guest
        self.by_uuid[guest.uuid] = guest
        if guest.id >= 0:
            self.by_id[guest.id] = guest

    def remove(self, guest: Guest) -> None:
        """Forget a guest."""
        self.by_name.pop(guest.name, None)
        self.by_uuid.pop(guest.uuid, None)
        if guest.id >= 0:
            self.by_id.pop(guest.id, None)

    def rename(self, guest: Guest, new_name: str) -> None:
        """Move a guest to a new name."""
        self.by_name.pop(guest.name, None)
        self.by_name[new_name] = guest

    def check_unique(self, config: DomainConfig) -> Optional[Guest]:
        """The guest this definition replaces (same name and UUID), or None for a new one; refuse clashes."""
        same_uuid = self.by_uuid.get(config.uuid)
        if same_uuid is not None:
            if same_uuid.name != config.name:
                raise VirtError(f"domain '{same_uuid.name}' is already defined with uuid {config.uuid}",
                                code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.DOMAIN)
            return same_uuid
        same_name = self.by_name.get(config.name)
        if same_name is not None:
            raise VirtError(f"domain '{config.name}' already exists with uuid {same_name.uuid}",
                            code=ErrorCode.OPERATION_FAILED, domain=ErrorDomain.DOMAIN)
        return None

    # -- node -------------------------------------------------------------------------------------------------

    @property
    def capabilities(self) -> str:
        """The host capabilities XML (built once)."""
        if self._capabilities is None:
            self._capabilities = capabilities_xml(self.node)
        return self._capabilities


class DefaultHostRegistry:
    """The one shared state of test:///default, kept while any connection uses it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: Optional[HostState] = None
        self._users = 0

    def acquire(self) -> HostState:
        """The shared state, created on first use."""
        with self._lock:
            if self._state is None:
                self._state = HostState(default_host(), "test:///default")
            self._users += 1
            return self._state

    def release(self) -> None:
        """One user less; the state is discarded when the last one leaves."""
        with self._lock:
            self._users -= 1
            if self._users <= 0:
                self._users = 0
                self._state = None


DEFAULT_HOST = DefaultHostRegistry()
"""Registry of the process-wide test:///default state."""


def new_file_state(description: HostDescription) -> HostState:
    """A fresh state for one open of a host file."""
    return HostState(description, f"test:file:{description.path}#{next(_state_ids)}")
