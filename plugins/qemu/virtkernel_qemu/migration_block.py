"""Storage migration when one side lacks NBD: why QEMU's older block migration is no fallback here, and the refusal.

QEMU's ``block`` migration capability (with ``block-incremental`` for a shared backing file) sends each writable
top-level disk inside the migration stream, labelled with the name of its BlockBackend; the destination writes
each block into the BlockBackend of that name.  Only ``-drive if=none,id=NAME`` makes a named BlockBackend.  This
driver attaches disks as ``-blockdev`` nodes with ``-device …,drive=NODE``, whose BlockBackend is anonymous: the
source then labels the disk with an empty name and the destination stops with "Error unknown block device" and
exits (measured with QEMU 7.2, raw and qcow2, full and incremental, same node names on both sides; the commands
and results are in the README's migration section).  QEMU 8.2 deprecates the capability and 9.1 removes it.

So when either side's cookie lacks NBD and disks must be copied, the migration is refused, as early as the side
that knows it can: the source at Begin (nothing has started on the destination), the destination at Prepare
(before it creates a disk or starts QEMU), and the source again at Perform for a destination that answered
without an NBD port.
"""

from __future__ import annotations

import enum
from typing import Optional

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError
from virtkernel.migration import NbdSection

__all__ = ["NbdSide", "storage_refusal", "must_refuse"]


class NbdSide(enum.Enum):
    """The host whose migration cookie does not offer NBD."""

    SOURCE = "source"
    DESTINATION = "destination"


def storage_refusal(domain: str, side: NbdSide, has_block_migration: bool) -> VirtError:
    """The error for a storage migration that NBD cannot carry because ``side`` does not offer it."""
    if has_block_migration:
        why = ("QEMU's older block migration cannot replace it: it copies only disks attached as named drives "
               "(-drive), and this driver attaches disks with -blockdev")
    else:
        why = "this QEMU has no older block migration to fall back to (no 'block' migration capability)"
    return VirtError(f"cannot migrate the non-shared disks of domain '{domain}': the {side.value} host does not "
                     f"offer NBD storage migration, and {why}",
                     code=ErrorCode.OPERATION_UNSUPPORTED, domain=ErrorDomain.QEMU)


def must_refuse(offer: Optional[NbdSection]) -> bool:
    """Whether disks were asked for (an offer listing some): with no NBD on a side, that means a refusal."""
    return offer is not None and bool(offer.disks)
