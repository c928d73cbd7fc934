"""Snapshot operations of the test driver: create (halt, redefine), list, current, revert and delete."""

from __future__ import annotations

import time
from typing import Optional

from virtkernel import hookimpl
from virtkernel.enums import (DomainEventStartedDetailType as Started, DomainEventStoppedDetailType as Stopped,
                              DomainEventSuspendedDetailType as Suspended, DomainEventType as Event,
                              DomainPausedReason, DomainRunningReason, DomainShutoffReason,
                              DomainSnapshotCreateFlags as Create, DomainSnapshotDeleteFlags as Delete,
                              DomainSnapshotListFlags as ListFlags, DomainSnapshotRevertFlags as Revert,
                              DomainState, ErrorCode, ErrorDomain)
from virtkernel.errors import VirtError
from virtkernel.types import DomainRef, SnapshotRef

from .base import DriverBase, check_flags
from .definition import DomainConfig, parse_document
from .guest import Guest
from .snapshots import STATE_NAMES, Snapshot

_CREATE_ALLOWED = Create.REDEFINE | Create.CURRENT | Create.HALT | Create.ATOMIC | Create.LIVE | Create.VALIDATE
_STATE_NUMBERS = {name: number for number, name in STATE_NAMES.items()}


def snapshot_error(code: ErrorCode, message: str, domain: ErrorDomain = ErrorDomain.DOMAIN_SNAPSHOT) -> VirtError:
    """An error about snapshots."""
    return VirtError(message, code=code, domain=domain)


def _no_snapshot(name: str) -> VirtError:
    return snapshot_error(ErrorCode.NO_DOMAIN_SNAPSHOT, f"no domain snapshot with matching name '{name}'",
                          ErrorDomain.TEST)


class SnapshotOps(DriverBase):
    """Snapshot trees kept per guest (metadata only: the test driver has no disks to copy)."""

    def _snapshot(self, ref: SnapshotRef) -> tuple[Guest, Snapshot]:
        guest = self.guest(ref.domain)
        snapshot = guest.snapshots.get(ref.name)
        if snapshot is None:
            raise _no_snapshot(ref.name)
        return guest, snapshot

    @staticmethod
    def _ref(guest: Guest, name: str) -> SnapshotRef:
        return SnapshotRef(guest.ref, name)

    @hookimpl
    def domain_snapshot_create_xml(self, dom: DomainRef, xml: str, flags: int) -> SnapshotRef:
        check_flags(flags, _CREATE_ALLOWED, "testDomainSnapshotCreateXML")
        try:
            root = parse_document(xml, "domain snapshot XML")
        except VirtError as exc:
            raise snapshot_error(exc.code, exc.message) from None
        if root.tag != "domainsnapshot":
            raise snapshot_error(ErrorCode.XML_ERROR, f"unexpected root element <{root.tag}>, expecting "
                                                      "<domainsnapshot>", ErrorDomain.XML)
        with self.host.lock:
            guest = self.guest(dom)
            name = (root.findtext("name") or "").strip() or str(int(time.time()))
            description = root.findtext("description")
            if flags & Create.REDEFINE:
                snapshot = self._redefined(guest, root, name, description)
                if name in guest.snapshots:  # libvirt lets a redefinition replace a snapshot's metadata
                    guest.snapshots.replace(snapshot, make_current=bool(flags & Create.CURRENT))
                else:
                    guest.snapshots.add(snapshot, make_current=bool(flags & Create.CURRENT))
                return self._ref(guest, name)
            if name in guest.snapshots:
                raise VirtError(f"domain snapshot '{name}' already exists", code=ErrorCode.OPERATION_FAILED,
                                domain=ErrorDomain.DOMAIN)
            current = guest.current
            disks = tuple(t.get("dev") for d in current.devices("disk")
                          if (t := d.find("target")) is not None and t.get("dev"))
            snapshot = Snapshot(name=name, description=description, state=int(guest.state),
                                domain_xml=guest.xml(with_id=False), disks=disks)
            guest.snapshots.add(snapshot)
            if flags & Create.HALT and guest.active:
                self.stop_guest(guest, DomainShutoffReason.FROM_SNAPSHOT, Stopped.FROM_SNAPSHOT)
            return self._ref(guest, name)

    def _redefined(self, guest: Guest, root, name: str, description: Optional[str]) -> Snapshot:
        domain = root.find("domain")
        if domain is None:
            raise snapshot_error(ErrorCode.INTERNAL_ERROR, "a redefined snapshot must include the domain definition")
        try:
            config = DomainConfig.from_element(domain)
        except VirtError as exc:
            raise snapshot_error(exc.code, exc.message) from None
        if config.uuid != guest.uuid:
            raise snapshot_error(ErrorCode.INVALID_ARG, "the snapshot's domain does not match this domain")
        state = _STATE_NUMBERS.get((root.findtext("state") or "").strip())
        if state is None:
            raise snapshot_error(ErrorCode.XML_ERROR, "a redefined snapshot needs a valid <state>")
        created = root.findtext("creationTime")
        parent = (root.findtext("parent/name") or "").strip() or None
        if parent is not None and parent not in guest.snapshots:
            raise _no_snapshot(parent)
        if parent is not None and name in guest.snapshots and (
                parent == name or parent in {s.name for s in guest.snapshots.descendants(name)}):
            raise snapshot_error(ErrorCode.INVALID_ARG, f"parent {parent} would create cycle to {name}",
                                 ErrorDomain.DOMAIN)
        disks = tuple(t.get("dev") for d in config.devices("disk")
                      if (t := d.find("target")) is not None and t.get("dev"))
        return Snapshot(name=name, description=description, state=state, domain_xml=config.to_xml(), disks=disks,
                        creation_time=int(created) if created and created.strip().isdigit() else int(time.time()),
                        parent=parent)

    @hookimpl
    def domain_list_all_snapshots(self, dom: DomainRef, flags: int) -> list[SnapshotRef]:
        guest = self.guest(dom)
        return [self._ref(guest, s.name) for s in self._filtered(guest, list(guest.snapshots.by_name.values()), flags)]

    def _filtered(self, guest: Guest, snapshots: list[Snapshot], flags: int) -> list[Snapshot]:
        tree = guest.snapshots
        if flags & ListFlags.ROOTS:
            snapshots = [s for s in snapshots if s.parent is None]
        if flags & (ListFlags.LEAVES | ListFlags.NO_LEAVES) and not (
                flags & ListFlags.LEAVES and flags & ListFlags.NO_LEAVES):
            leaves = bool(flags & ListFlags.LEAVES)
            snapshots = [s for s in snapshots if (not s.children) == leaves]
        if flags & ListFlags.EXTERNAL and not flags & ListFlags.INTERNAL:
            return []
        if flags & ListFlags.NO_METADATA and not flags & ListFlags.METADATA:
            return []
        if flags & (ListFlags.ACTIVE | ListFlags.INACTIVE | ListFlags.DISK_ONLY):
            snapshots = [s for s in snapshots if (flags & ListFlags.ACTIVE and s.active)
                         or (flags & ListFlags.INACTIVE and not s.active)]
        del tree
        return snapshots

    @hookimpl
    def domain_snapshot_lookup_by_name(self, dom: DomainRef, name: str, flags: int) -> SnapshotRef:
        check_flags(flags, 0, "testDomainSnapshotLookupByName")
        guest = self.guest(dom)
        if name not in guest.snapshots:
            raise _no_snapshot(name)
        return self._ref(guest, name)

    @hookimpl
    def domain_has_current_snapshot(self, dom: DomainRef, flags: int) -> bool:
        check_flags(flags, 0, "testDomainHasCurrentSnapshot")
        return self.guest(dom).snapshots.current is not None

    @hookimpl
    def domain_snapshot_current(self, dom: DomainRef, flags: int) -> SnapshotRef:
        check_flags(flags, 0, "testDomainSnapshotCurrent")
        guest = self.guest(dom)
        if guest.snapshots.current is None:
            raise snapshot_error(ErrorCode.NO_DOMAIN_SNAPSHOT, "the domain does not have a current snapshot",
                                 ErrorDomain.TEST)
        return self._ref(guest, guest.snapshots.current)

    @hookimpl
    def domain_snapshot_get_xml_desc(self, snapshot: SnapshotRef, flags: int) -> str:
        _guest, snap = self._snapshot(snapshot)
        return snap.to_xml()

    @hookimpl
    def domain_snapshot_get_parent(self, snapshot: SnapshotRef, flags: int) -> SnapshotRef:
        check_flags(flags, 0, "testDomainSnapshotGetParent")
        guest, snap = self._snapshot(snapshot)
        if snap.parent is None:
            raise snapshot_error(ErrorCode.NO_DOMAIN_SNAPSHOT, f"snapshot '{snap.name}' does not have a parent",
                                 ErrorDomain.TEST)
        return self._ref(guest, snap.parent)

    @hookimpl
    def domain_snapshot_list_all_children(self, snapshot: SnapshotRef, flags: int) -> list[SnapshotRef]:
        guest, snap = self._snapshot(snapshot)
        tree = guest.snapshots
        if flags & ListFlags.DESCENDANTS:
            found = list(tree.descendants(snap.name))
        else:
            found = [tree.by_name[c] for c in snap.children]
        return [self._ref(guest, s.name) for s in self._filtered(guest, found, flags & ~int(ListFlags.ROOTS))]

    @hookimpl
    def domain_snapshot_is_current(self, snapshot: SnapshotRef, flags: int) -> bool:
        check_flags(flags, 0, "testDomainSnapshotIsCurrent")
        guest, snap = self._snapshot(snapshot)
        return guest.snapshots.current == snap.name

    @hookimpl
    def domain_snapshot_has_metadata(self, snapshot: SnapshotRef, flags: int) -> bool:
        check_flags(flags, 0, "testDomainSnapshotHasMetadata")
        self._snapshot(snapshot)
        return True

    @hookimpl
    def domain_snapshot_delete(self, snapshot: SnapshotRef, flags: int) -> int:
        check_flags(flags, Delete.CHILDREN | Delete.CHILDREN_ONLY, "testDomainSnapshotDelete")
        if flags & Delete.CHILDREN and flags & Delete.CHILDREN_ONLY:
            raise snapshot_error(ErrorCode.INVALID_ARG, "flags 'VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN' and "
                                                        "'VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY' are mutually "
                                                        "exclusive")
        with self.host.lock:
            guest, snap = self._snapshot(snapshot)
            tree = guest.snapshots
            if flags & Delete.CHILDREN_ONLY:
                tree.remove_children(snap.name)
            elif flags & Delete.CHILDREN:
                tree.remove_with_children(snap.name)
            else:
                tree.remove(snap.name)
            return 0

    @hookimpl
    def domain_revert_to_snapshot(self, snapshot: SnapshotRef, flags: int) -> int:
        check_flags(flags, Revert.RUNNING | Revert.PAUSED | Revert.FORCE | Revert.RESET_NVRAM,
                    "testDomainRevertToSnapshot")
        if flags & Revert.RUNNING and flags & Revert.PAUSED:
            raise snapshot_error(ErrorCode.INVALID_ARG, "flags 'VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING' and "
                                                        "'VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED' are mutually exclusive")
        with self.host.lock:
            guest, snap = self._snapshot(snapshot)
            config = DomainConfig.from_xml(snap.domain_xml)
            if config.uuid != guest.uuid:
                raise snapshot_error(ErrorCode.OPERATION_INVALID,
                                     f"snapshot '{snap.name}' describes another domain ({config.name}, {config.uuid})")
            if config.name != guest.name:  # the domain was renamed after the snapshot was taken
                config.set_name(guest.name)
            if guest.active:
                self.stop_guest(guest, DomainShutoffReason.FROM_SNAPSHOT, Stopped.FROM_SNAPSHOT)
            if guest.persistent:
                guest.config = config
                guest.live = None
                guest.forget_config_tunables()
            else:
                guest.live = config
            run = snap.active or flags & (Revert.RUNNING | Revert.PAUSED)
            paused = bool(flags & Revert.PAUSED) or (snap.state == DomainState.PAUSED and not flags & Revert.RUNNING)
            if run:
                self.start_guest(guest, reason=DomainRunningReason.FROM_SNAPSHOT, detail=Started.FROM_SNAPSHOT)
                if paused:
                    guest.set_state(DomainState.PAUSED, DomainPausedReason.FROM_SNAPSHOT)
                    self.emit(guest, Event.SUSPENDED, Suspended.FROM_SNAPSHOT)
            else:
                guest.set_state(DomainState.SHUTOFF, DomainShutoffReason.FROM_SNAPSHOT)
            guest.snapshots.current = snap.name
            return 0
