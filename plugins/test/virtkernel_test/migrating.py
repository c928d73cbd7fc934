"""The run-state changes of a migrating guest, with libvirt's MIGRATED reasons and event details.

Source: paused for the transfer (paused MIGRATION, SUSPENDED_MIGRATED), then stopped when the destination has
it (shut off MIGRATED, STOPPED_MIGRATED) or resumed when the migration fails (running MIGRATION_CANCELED,
RESUMED_MIGRATED). Destination: started paused for the incoming data (paused MIGRATION, STARTED_MIGRATED),
then resumed (running MIGRATED, RESUMED_MIGRATED) or, when asked to stay paused, paused USER
(SUSPENDED_PAUSED); a failed incoming guest is stopped as FAILED (STOPPED_FAILED).
"""

from __future__ import annotations

from virtkernel.enums import (DomainEventResumedDetailType as Resumed, DomainEventStartedDetailType as Started,
                              DomainEventStoppedDetailType as Stopped, DomainEventSuspendedDetailType as Suspended,
                              DomainEventType as Event, DomainPausedReason, DomainRunningReason,
                              DomainShutoffReason, DomainState)
from virtkernel.types import DomainRef

from .base import DriverBase, not_running
from .definition import DomainConfig


class MigrationStates(DriverBase):
    """State transitions the migration phases (migration.py) ask for (``start_transient`` is LifecycleOps')."""

    def migration_pause_source(self, dom: DomainRef) -> None:
        """Pause a running source guest for the transfer."""
        with self.host.lock:
            guest = self.active_guest(dom)
            if guest.state != DomainState.RUNNING:
                raise not_running()
            guest.set_state(DomainState.PAUSED, DomainPausedReason.MIGRATION)
            self.emit(guest, Event.SUSPENDED, Suspended.MIGRATED)

    def migration_resume_source(self, dom: DomainRef) -> None:
        """Let the source guest run again after a failed or cancelled migration."""
        with self.host.lock:
            guest = self.active_guest(dom)
            guest.set_state(DomainState.RUNNING, DomainRunningReason.MIGRATION_CANCELED)
            self.emit(guest, Event.RESUMED, Resumed.MIGRATED)

    def migration_stop_source(self, dom: DomainRef) -> DomainRef:
        """The destination has the guest: the source's copy stops (a transient domain disappears)."""
        with self.host.lock:
            return self.stop_guest(self.active_guest(dom), DomainShutoffReason.MIGRATED, Stopped.MIGRATED)

    def migration_start_incoming(self, xml: str) -> DomainRef:
        """Start the destination's guest, paused until the migration data is in."""
        return self.start_transient(DomainConfig.from_xml(xml), paused=True, detail=Started.MIGRATED,
                                    paused_reason=DomainPausedReason.MIGRATION, suspended_detail=None)

    def migration_finish_incoming(self, dom: DomainRef, paused: bool) -> DomainRef:
        """The data is in: run the destination's guest, or leave it paused by the user's choice."""
        with self.host.lock:
            guest = self.active_guest(dom)
            if paused:
                guest.set_state(DomainState.PAUSED, DomainPausedReason.USER)
                self.emit(guest, Event.SUSPENDED, Suspended.PAUSED)
            else:
                guest.set_state(DomainState.RUNNING, DomainRunningReason.MIGRATED)
                self.emit(guest, Event.RESUMED, Resumed.MIGRATED)
            return guest.ref

    def migration_discard_incoming(self, dom: DomainRef) -> DomainRef:
        """The incoming migration failed: its guest stops (and, being transient, disappears)."""
        with self.host.lock:
            return self.stop_guest(self.active_guest(dom), DomainShutoffReason.FAILED, Stopped.FAILED)
