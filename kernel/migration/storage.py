"""NBD storage-migration negotiation through the cookie, and exact clean-up of pre-created disks.

Source (Begin): :func:`source_offer` lists each disk to copy (target, size) in the cookie's ``<nbd>`` when
non-shared storage is requested and the source supports NBD. Destination (Prepare):
:func:`destination_answer` pre-creates the offered disks with the driver's callback, reserves a port and
answers ``<nbd port='…'/>``; a destination without NBD answers nothing. Source (Perform):
:func:`chosen_path` says NBD when the answer has a port, else the fallback path — never an error.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Optional

from ..checks import invalid_arg
from ..enums import DomainMigrateFlags as Migrate
from ..types import TypedParams
from .cookie import CookieFeature, NbdDisk, NbdSection
from .plan import StoragePath
from .uri import PortAllocator

log = logging.getLogger(__name__)

NON_SHARED = Migrate.NON_SHARED_DISK | Migrate.NON_SHARED_INC


def disks_to_migrate(disks: Iterable[NbdDisk], flags: int, params: Optional[TypedParams] = None) -> list[NbdDisk]:
    """The disks to copy: none without NON_SHARED_*, else all or those named by 'migrate_disks'."""
    if not flags & NON_SHARED:
        return []
    disks = list(disks)
    wanted = (params or {}).get("migrate_disks")
    if wanted is None:
        return disks
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    known = {d.target for d in disks}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise invalid_arg(f"migrate_disks names disk '{unknown[0]}', which the domain does not have "
                          f"(disks: {', '.join(sorted(known)) or 'none'})")
    return [d for d in disks if d.target in names]


def source_offer(disks: Iterable[NbdDisk], flags: int, supported: CookieFeature,
                 params: Optional[TypedParams] = None) -> Optional[NbdSection]:
    """Begin: the <nbd> section to send, or None (shared storage, or no NBD on the source: the fallback path)."""
    chosen = disks_to_migrate(disks, flags, params)
    if not chosen or not supported & CookieFeature.NBD:
        return None
    return NbdSection(port=None, disks=chosen)


class PrecreatedDisks:
    """What a destination created for an incoming migration, so a failure removes exactly that and nothing else."""

    def __init__(self, remove: Callable[[Any], None]) -> None:
        self._remove = remove
        self._created: list[Any] = []
        self.port: Optional[int] = None
        self._ports: Optional[PortAllocator] = None

    @property
    def created(self) -> list[Any]:
        """The handles the create callback returned, in creation order."""
        return list(self._created)

    def record(self, handle: Any) -> None:
        """Remember one created disk."""
        self._created.append(handle)

    def rollback(self) -> None:
        """Remove every created disk (newest first) and release the port; errors are logged, not raised."""
        for handle in reversed(self._created):
            try:
                self._remove(handle)
            except Exception as exc:  # clean-up must go on: the first error of the migration is what matters
                log.warning("could not remove pre-created migration disk %r: %s", handle, exc)
        self._created.clear()
        self.release_port()

    def commit(self) -> None:
        """The migration succeeded: keep the disks, release the port."""
        self._created.clear()
        self.release_port()

    def release_port(self) -> None:
        """Give the NBD port back."""
        if self._ports is not None and self.port is not None:
            self._ports.release(self.port)
        self.port = None


def destination_answer(offer: Optional[NbdSection], supported: CookieFeature, ports: PortAllocator,
                       create: Callable[[NbdDisk], Any], remove: Callable[[Any], None]) -> tuple[Optional[NbdSection], PrecreatedDisks]:
    """Prepare: pre-create the offered disks and reserve a port; (answer, what was created).

    No offer, or no NBD support here: (None, nothing created) — the source then uses the fallback path.
    If creating a disk fails, everything created so far is removed before the error propagates.
    """
    created = PrecreatedDisks(remove)
    if offer is None or not offer.disks or not supported & CookieFeature.NBD:
        return None, created
    try:
        for disk in offer.disks:
            created.record(create(disk))
        created._ports = ports
        created.port = ports.acquire()
    except BaseException:
        created.rollback()
        raise
    return NbdSection(port=created.port, disks=[NbdDisk(d.target, d.capacity) for d in offer.disks]), created


def chosen_path(flags: int, offer: Optional[NbdSection], answer: Optional[NbdSection]) -> StoragePath:
    """Perform: NBD when the destination answered with a port, the fallback when disks must move without it."""
    if not flags & NON_SHARED:
        return StoragePath.NONE
    if offer is not None and answer is not None and answer.port is not None:
        return StoragePath.NBD
    return StoragePath.FALLBACK
