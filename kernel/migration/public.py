"""The migration entry points of Domain: migrate, migrate2, migrate3, migrate_to_uri* and the tunables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ..checks import entry_point, not_none
from ..types import TypedParams

if TYPE_CHECKING:
    from ..connection import Connection
    from ..domain import Domain


class DomainMigrationMixin:
    """Migration methods of Domain (kept apart because the orchestration lives in virtkernel.migration)."""

    __slots__ = ()

    @entry_point
    def migrate_set_max_downtime(self, downtime: int, flags: int = 0) -> None:
        """Set the tolerated pause (ms) at the end of a live migration."""
        self._valid()
        self._ro("virDomainMigrateSetMaxDowntime")
        self._call("domain_migrate_set_max_downtime", downtime=int(downtime), flags=int(flags))

    @entry_point
    def migrate_get_max_downtime(self, flags: int = 0) -> int:
        """The tolerated pause (ms)."""
        self._valid()
        return int(self._call("domain_migrate_get_max_downtime", flags=int(flags)))

    @entry_point
    def migrate_set_compression_cache(self, cache_size: int, flags: int = 0) -> None:
        """Set the compression cache size in bytes."""
        self._valid()
        self._ro("virDomainMigrateSetCompressionCache")
        self._call("domain_migrate_set_compression_cache", cache_size=int(cache_size), flags=int(flags))

    @entry_point
    def migrate_get_compression_cache(self, flags: int = 0) -> int:
        """The compression cache size in bytes."""
        self._valid()
        return int(self._call("domain_migrate_get_compression_cache", flags=int(flags)))

    @entry_point
    def migrate_set_max_speed(self, bandwidth: int, flags: int = 0) -> None:
        """Set the bandwidth cap in MiB/s (post-copy cap with MIGRATE_MAX_SPEED_POSTCOPY)."""
        self._valid()
        self._ro("virDomainMigrateSetMaxSpeed")
        self._call("domain_migrate_set_max_speed", bandwidth=int(bandwidth), flags=int(flags))

    @entry_point
    def migrate_get_max_speed(self, flags: int = 0) -> int:
        """The bandwidth cap in MiB/s (refused on read-only connections, like libvirt)."""
        self._valid()
        self._ro("virDomainMigrateGetMaxSpeed")
        return int(self._call("domain_migrate_get_max_speed", flags=int(flags)))

    @entry_point
    def migrate_start_post_copy(self, flags: int = 0) -> None:
        """Switch a running migration to post-copy."""
        self._valid()
        self._ro("virDomainMigrateStartPostCopy")
        self._call("domain_migrate_start_post_copy", flags=int(flags))


class ConnectionMigrationMixin:
    """Destination-side migration phase entry points of Connection (not for everyday use)."""

    __slots__ = ()
