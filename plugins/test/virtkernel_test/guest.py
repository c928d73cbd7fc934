"""One simulated guest: its definitions (persistent and live), run state, and the knobs the API can turn."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

from virtkernel.enums import DomainState
from virtkernel.types import DomainRef

from . import tunexml
from .definition import DomainConfig
from .snapshots import SnapshotTree

UNLIMITED_KIB = 9007199254740991
"""What memory tunables report when they are not set (libvirt's "unlimited")."""


_NO_MOUNTS: frozenset[str] = frozenset()


@dataclass
class Tunables:
    """Settings the test driver keeps outside the domain XML, one set for live and one for the config."""

    blkio_weight: int = 0
    memory: dict[str, int] = field(default_factory=lambda: {
        "hard_limit": UNLIMITED_KIB, "soft_limit": UNLIMITED_KIB, "swap_hard_limit": UNLIMITED_KIB})
    numa_mode: int = 0
    numa_nodeset: str = ""
    interfaces: dict[str, dict[str, int]] = field(default_factory=dict)
    vcpu_pins: dict[int, tuple[bool, ...]] = field(default_factory=dict)
    emulator_pin: Optional[tuple[bool, ...]] = None
    iothreads: dict[int, Optional[tuple[bool, ...]]] = field(default_factory=dict)
    perf: set[str] = field(default_factory=set)
    block_io: dict[str, dict] = field(default_factory=dict)
    blkio_devices: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per-device blkio tuning: path -> {"weight", "read_iops_sec", ...: value}, in the order devices came."""

    def copy(self) -> "Tunables":
        """An independent copy."""
        return Tunables(self.blkio_weight, dict(self.memory), self.numa_mode, self.numa_nodeset,
                        {k: dict(v) for k, v in self.interfaces.items()}, dict(self.vcpu_pins), self.emulator_pin,
                        dict(self.iothreads), set(self.perf), {k: dict(v) for k, v in self.block_io.items()},
                        {k: dict(v) for k, v in self.blkio_devices.items()})


@dataclass
class ManagedSave:
    """A managed-save image kept by the driver: the XML and the state to come back in."""

    xml: str
    paused: bool = False


class Guest:
    """A domain of a test host.

    ``config`` is the persistent definition (None for a transient domain); ``live`` is the running definition
    (None when inactive). At start ``live`` shares the ``config`` object; whichever side changes first takes
    a private copy (``live_for_change`` / ``config_for_change``), so starting costs no copy.
    """

    __slots__ = ("config", "live", "state", "reason", "id", "autostart", "managed_save", "_snapshots",
                 "live_tunables", "_config_tunables", "frozen_mounts", "ref", "updated",
                 "__weakref__")

    def __init__(self, config: DomainConfig, persistent: bool = True) -> None:
        self.config: Optional[DomainConfig] = config if persistent else None
        self.live: Optional[DomainConfig] = None if persistent else config
        self.state = DomainState.SHUTOFF
        self.reason = 0
        self.id = -1
        self.autostart = False
        self.managed_save: Optional[ManagedSave] = None
        self._snapshots: Optional[SnapshotTree] = None
        self._config_tunables: Optional[Tunables] = None
        self.live_tunables: Optional[Tunables] = None
        self.frozen_mounts: frozenset[str] | set[str] = _NO_MOUNTS
        self.updated = False
        self.ref = DomainRef(config.name, config.uuid, -1)

    @property
    def snapshots(self) -> SnapshotTree:
        """The guest's snapshot tree (created on first use)."""
        tree = self._snapshots
        if tree is None:
            tree = self._snapshots = SnapshotTree()
        return tree

    @property
    def has_snapshots(self) -> bool:
        """Whether the guest has any snapshot (without creating the tree)."""
        return self._snapshots is not None and len(self._snapshots) > 0

    @property
    def config_tunables(self) -> Tunables:
        """The persistent tunables (read from the persistent definition on first use)."""
        tunables = self._config_tunables
        if tunables is None:
            tunables = Tunables()
            if self.config is not None:
                tunexml.read(self.config, tunables)
            self._config_tunables = tunables
        return tunables

    def forget_config_tunables(self) -> None:
        """Drop the persistent tunables after the persistent definition was replaced."""
        self._config_tunables = None

    def xml(self, inactive: bool = False, with_id: bool = True) -> str:
        """The domain XML as printed: live (with its id) unless ``inactive`` and persistent; tunables included."""
        if inactive and self.config is not None or self.live is None:
            definition, tunables, domain_id = self.config, self._config_tunables, None
        else:
            definition, tunables, domain_id = self.live, self.live_tunables, self.id
            if tunables is None and self.live is self.config:
                tunables = self._config_tunables
        if domain_id is not None and (domain_id < 0 or not with_id):
            domain_id = None
        if tunables is None:
            return definition.to_xml(domain_id)  # type: ignore[union-attr]
        return tunexml.write(definition, tunables, domain_id)  # type: ignore[arg-type]

    # -- identity ---------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The domain's name."""
        return self.ref.name

    @property
    def uuid(self) -> str:
        """The domain's UUID (text)."""
        return self.ref.uuid

    @property
    def active(self) -> bool:
        """Whether the guest runs (running, paused, ...)."""
        return self.id >= 0

    @property
    def persistent(self) -> bool:
        """Whether the domain has a persistent definition."""
        return self.config is not None

    @property
    def current(self) -> DomainConfig:
        """The live definition when active, otherwise the persistent one."""
        live = self.live
        return live if live is not None else self.config  # type: ignore[return-value]

    def refresh_ref(self) -> DomainRef:
        """Rebuild the reference handed to the kernel after a name or id change."""
        current = self.current
        self.ref = DomainRef(current.name, current.uuid, self.id)
        return self.ref

    # -- definitions ------------------------------------------------------------------------------------------

    def live_for_change(self) -> DomainConfig:
        """The live definition, made private before it is changed."""
        if self.live is self.config and self.live is not None:
            self.live = self.live.copy()
        return self.live  # type: ignore[return-value]

    def config_for_change(self) -> DomainConfig:
        """The persistent definition, made private before it is changed."""
        if self.config is self.live and self.config is not None:
            self.config = self.config.copy()
        return self.config  # type: ignore[return-value]

    def tunables(self, live: bool) -> Tunables:
        """The live or persistent tunables."""
        if live:
            if self.live_tunables is None:
                base = self._config_tunables if self.live is self.config else None
                if base is not None:
                    self.live_tunables = base.copy()
                else:
                    self.live_tunables = tunexml.read(self.live, Tunables()) if self.live is not None else Tunables()
            return self.live_tunables
        return self.config_tunables

    # -- state ------------------------------------------------------------------------------------------------

    def set_state(self, state: DomainState, reason: int) -> None:
        """Change the run state and its reason."""
        self.state = state
        self.reason = int(reason)

    def start(self, domain_id: int, state: DomainState, reason: int) -> None:
        """Mark the guest as started with ``domain_id``."""
        if self.live is None:
            self.live = self.config
        self.id = domain_id
        self.state = state
        self.reason = int(reason)
        self.live_tunables = None
        self.frozen_mounts = _NO_MOUNTS
        self.updated = False
        self.refresh_ref()

    def stop(self, reason: int) -> None:
        """Mark the guest as shut off; a transient guest keeps its last definition for stale handles."""
        if self.config is not None:
            self.live = None
        self.id = -1
        self.state = DomainState.SHUTOFF
        self.reason = int(reason)
        self.live_tunables = None
        self.frozen_mounts = _NO_MOUNTS
        self.refresh_ref()

    def cpu_time_ns(self) -> int:
        """Simulated CPU time in nanoseconds: the wall clock, running or not, as libvirt's test driver reports."""
        return time.time_ns() // 1000 * 1000  # libvirt's clock has microsecond resolution
