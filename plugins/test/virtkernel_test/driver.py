"""The test driver: an in-memory hypervisor behaving like libvirt's test driver (entry point ``test``)."""

from __future__ import annotations

from .devices import DeviceOps
from .extras import ExtraOps
from .jobs import JobOps
from .lifecycle import LifecycleOps
from .migrating import MigrationStates
from .migration import TestMigrationPhases
from .resources import ResourceOps
from .snapshot_ops import SnapshotOps
from .statistics import QueryOps


class TestDriver(LifecycleOps, ResourceOps, QueryOps, SnapshotOps, DeviceOps, ExtraOps, JobOps,
                 MigrationStates, TestMigrationPhases):
    """One connection to a simulated host (test:///default or test:///ABSOLUTE/PATH.xml)."""

    __test__ = False  # not a pytest test class, despite its name
