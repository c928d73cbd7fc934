"""Define, undefine, start, stop, pause, save/restore, managed save, core dump, rename and autostart."""

from __future__ import annotations

from typing import Optional

from virtkernel import hookimpl
from virtkernel.domainxml import DomainDefinition, validate
from virtkernel.enums import (DomainCoreDumpFlags as Dump, DomainCoreDumpFormat, DomainCreateFlags as Start,
                              DomainDefineFlags, DomainDestroyFlags, DomainRebootFlags, DomainSaveImageXMLFlags,
                              DomainSaveRestoreFlags as Save, DomainEventDefinedDetailType as Defined, DomainEventID,
                              DomainEventResumedDetailType as Resumed, DomainEventStartedDetailType as Started,
                              DomainEventStoppedDetailType as Stopped, DomainEventSuspendedDetailType as Suspended,
                              DomainEventType as Event, DomainEventUndefinedDetailType as Undefined,
                              DomainPausedReason, DomainRunningReason, DomainShutoffReason, DomainState,
                              DomainUndefineFlags as UndefineFlags, ErrorCode, ErrorDomain)
from virtkernel.errors import VirtError
from virtkernel.lifecycle import HookPoint
from virtkernel.types import DomainRef

from .base import DriverBase, check_flags, test_error
from .definition import DomainConfig
from .guest import Guest, ManagedSave
from .saveimage import SaveImage, read_image, write_image

_UNDEFINE_ALLOWED = (UndefineFlags.MANAGED_SAVE | UndefineFlags.SNAPSHOTS_METADATA | UndefineFlags.NVRAM
                     | UndefineFlags.KEEP_NVRAM | UndefineFlags.CHECKPOINTS_METADATA)
_DEFINE_ALLOWED = DomainDefineFlags.VALIDATE
_CREATE_XML_ALLOWED = Start.VALIDATE | Start.PAUSED
_CREATE_ALLOWED = Start.PAUSED
_REBOOT_ALLOWED = (DomainRebootFlags.ACPI_POWER_BTN | DomainRebootFlags.GUEST_AGENT | DomainRebootFlags.INITCTL
                   | DomainRebootFlags.SIGNAL | DomainRebootFlags.PARAVIRT)


def _parse(xml: str, validating: bool) -> DomainConfig:
    config = DomainConfig.from_xml(xml)
    if validating:
        validate(DomainDefinition.from_xml(xml))
    return config


class LifecycleOps(DriverBase):
    """Operations that change whether and how a guest exists or runs."""

    # -- define / undefine ------------------------------------------------------------------------------------

    @hookimpl
    def domain_define_xml(self, xml: str, flags: int) -> DomainRef:
        check_flags(flags, _DEFINE_ALLOWED, "testDomainDefineXMLFlags")
        config = _parse(xml, bool(flags & DomainDefineFlags.VALIDATE))
        host = self.host
        with host.lock:
            guest = host.check_unique(config)
            if guest is None:
                guest = Guest(config)
                host.add(guest)
                detail = Defined.ADDED
            else:
                detail = Defined.ADDED if not guest.persistent else Defined.UPDATED
                guest.config = config
                if not guest.active:
                    guest.live = None
                guest.forget_config_tunables()
                guest.refresh_ref()
            self.emit(guest, Event.DEFINED, detail)
            return guest.ref

    @hookimpl
    def domain_undefine(self, dom: DomainRef, flags: int) -> int:
        check_flags(flags, _UNDEFINE_ALLOWED, "testDomainUndefineFlags")
        host = self.host
        with host.lock:
            guest = self.guest(dom)
            if guest.managed_save is not None:
                if not flags & UndefineFlags.MANAGED_SAVE:
                    raise test_error(ErrorCode.OPERATION_INVALID,
                                     "Refusing to undefine while domain managed save image exists")
                guest.managed_save = None
            if guest.has_snapshots:
                if not flags & UndefineFlags.SNAPSHOTS_METADATA:
                    raise test_error(ErrorCode.OPERATION_INVALID,
                                     f"Refusing to undefine while {len(guest.snapshots)} snapshots exist")
                guest.snapshots.clear()
            self.emit(guest, Event.UNDEFINED, Undefined.REMOVED)
            if guest.active:
                if guest.config is not None:
                    guest.config = None
            else:
                host.remove(guest)
            return 0

    # -- start ------------------------------------------------------------------------------------------------

    @hookimpl
    def domain_create_xml(self, xml: str, flags: int) -> DomainRef:
        check_flags(flags, _CREATE_XML_ALLOWED, "testDomainCreateXML")
        config = _parse(xml, bool(flags & Start.VALIDATE))
        return self.start_transient(config, paused=bool(flags & Start.PAUSED))

    def start_transient(self, config: DomainConfig, paused: bool = False, **start: int) -> DomainRef:
        """Start ``config`` as a new transient domain (or the inactive persistent one it names).

        ``start`` passes reasons and event details on to :meth:`start_guest`; a failed start leaves nothing.
        """
        host = self.host
        with host.lock:
            existing = host.check_unique(config)
            if existing is not None and existing.active:
                raise VirtError(f"domain '{config.name}' is already active", code=ErrorCode.OPERATION_INVALID,
                                domain=ErrorDomain.DOMAIN)
            if existing is None:
                guest = Guest(config, persistent=False)
                host.add(guest)
            else:
                guest = existing
                guest.live = config
            try:
                return self.start_guest(guest, paused=paused, **start)
            except Exception:
                if existing is None:
                    host.remove(guest)
                else:
                    guest.live = None
                raise

    @hookimpl
    def domain_create(self, dom: DomainRef, flags: int) -> DomainRef:
        check_flags(flags, _CREATE_ALLOWED, "testDomainCreateWithFlags")
        host = self.host
        with host.lock:
            guest = self.guest(dom)
            if guest.active:
                raise test_error(ErrorCode.INTERNAL_ERROR, f"Domain '{guest.name}' is already running")
            ref = self.start_guest(guest, paused=bool(flags & Start.PAUSED))
            guest.managed_save = None
            return ref

    # -- stop -------------------------------------------------------------------------------------------------

    @hookimpl
    def domain_destroy(self, dom: DomainRef, flags: int) -> DomainRef:
        check_flags(flags, DomainDestroyFlags.GRACEFUL | DomainDestroyFlags.REMOVE_LOGS, "testDomainDestroyFlags")
        with self.host.lock:
            guest = self.active_guest(dom)
            return self.stop_guest(guest, DomainShutoffReason.DESTROYED, Stopped.DESTROYED)

    @hookimpl
    def domain_shutdown(self, dom: DomainRef, flags: int) -> DomainRef:
        check_flags(flags, 0, "testDomainShutdownFlags")
        with self.host.lock:
            guest = self.guest(dom)
            if not guest.active:
                raise test_error(ErrorCode.INTERNAL_ERROR, f"domain '{guest.name}' not running")
            return self.stop_guest(guest, DomainShutoffReason.SHUTDOWN, Stopped.SHUTDOWN)

    @hookimpl
    def domain_reboot(self, dom: DomainRef, flags: int) -> int:
        check_flags(flags, _REBOOT_ALLOWED, "testDomainReboot")
        with self.host.lock:
            guest = self.active_guest(dom)
            guest.set_state(DomainState.RUNNING, DomainRunningReason.BOOTED)
            self.events.emit(DomainEventID.REBOOT, guest.ref)
            return 0

    @hookimpl
    def domain_reset(self, dom: DomainRef, flags: int) -> int:
        check_flags(flags, 0, "testDomainReset")
        with self.host.lock:
            self.active_guest(dom)
            return 0

    @hookimpl
    def domain_suspend(self, dom: DomainRef) -> int:
        with self.host.lock:
            guest = self.guest(dom)
            if not guest.active:
                raise test_error(ErrorCode.INTERNAL_ERROR, f"domain '{guest.name}' not running")
            if guest.state == DomainState.PAUSED:
                raise test_error(ErrorCode.INTERNAL_ERROR, f"domain '{guest.name}' not running")
            guest.set_state(DomainState.PAUSED, DomainPausedReason.USER)
            self.emit(guest, Event.SUSPENDED, Suspended.PAUSED)
            return 0

    @hookimpl
    def domain_resume(self, dom: DomainRef) -> int:
        with self.host.lock:
            guest = self.guest(dom)
            if guest.state != DomainState.PAUSED:
                raise test_error(ErrorCode.INTERNAL_ERROR, f"domain '{guest.name}' not paused")
            guest.set_state(DomainState.RUNNING, DomainRunningReason.UNPAUSED)
            self.emit(guest, Event.RESUMED, Resumed.UNPAUSED)
            return 0

    # -- save / restore ---------------------------------------------------------------------------------------

    @hookimpl
    def domain_save(self, dom: DomainRef, to: str, dxml: Optional[str], flags: int) -> DomainRef:
        check_flags(flags, 0, "testDomainSaveFlags")
        if dxml is not None:
            raise test_error(ErrorCode.ARGUMENT_UNSUPPORTED, "xml modification unsupported")
        with self.host.lock:
            guest = self.active_guest(dom)
            write_image(to, SaveImage(xml=guest.xml(with_id=False), paused=guest.state == DomainState.PAUSED))
            return self.stop_guest(guest, DomainShutoffReason.SAVED, Stopped.SAVED)

    @hookimpl
    def domain_restore(self, frm: str, dxml: Optional[str], flags: int) -> int:
        check_flags(flags, 0, "testDomainRestoreFlags")
        if dxml is not None:
            raise test_error(ErrorCode.ARGUMENT_UNSUPPORTED, "xml modification unsupported")
        image = read_image(frm)
        self.restore_image(image)
        return 0

    def restore_image(self, image: SaveImage) -> Guest:
        """Bring a saved guest back (the restore hook may replace its XML); it comes back running."""
        config = DomainConfig.from_xml(image.xml)
        host = self.host
        with host.lock:
            existing = host.check_unique(config)
            if existing is not None and existing.active:
                raise VirtError("domain is already active", code=ErrorCode.OPERATION_INVALID,
                                domain=ErrorDomain.DOMAIN)
            if self._hooks_present():
                replaced = self.context.hooks.run(HookPoint.RESTORE, name=config.name, uuid=config.uuid,
                                                  xml=image.xml, sub_operation="begin")
                if replaced != image.xml:
                    config = DomainConfig.from_xml(replaced)
            if existing is None:
                guest = Guest(config, persistent=False)
                host.add(guest)
            else:
                guest = existing
                guest.live = config
            try:
                self.start_guest(guest, reason=DomainRunningReason.RESTORED, detail=Started.RESTORED)
            except Exception:
                if existing is None:
                    host.remove(guest)
                else:
                    guest.live = None
                raise
            return guest

    @hookimpl
    def domain_save_image_get_xml_desc(self, file: str, flags: int) -> str:
        check_flags(flags, DomainSaveImageXMLFlags.XML_SECURE, "testDomainSaveImageGetXMLDesc")
        return read_image(file).xml

    @hookimpl
    def domain_save_image_define_xml(self, file: str, dxml: str, flags: int) -> int:
        check_flags(flags, Save.RUNNING | Save.PAUSED, "testDomainSaveImageDefineXML")
        image = read_image(file)
        old = DomainConfig.from_xml(image.xml)
        new = DomainConfig.from_xml(dxml)
        if new.uuid != old.uuid or new.name != old.name:
            raise VirtError("the new XML must describe the same domain (name and UUID) as the image",
                            code=ErrorCode.INVALID_ARG, domain=ErrorDomain.TEST)
        paused = image.paused if not flags else bool(flags & Save.PAUSED)
        write_image(file, SaveImage(xml=new.to_xml(), paused=paused))
        return 0

    # -- managed save -----------------------------------------------------------------------------------------

    @hookimpl
    def domain_managed_save(self, dom: DomainRef, flags: int) -> DomainRef:
        check_flags(flags, Save.BYPASS_CACHE | Save.RUNNING | Save.PAUSED, "testDomainManagedSave")
        with self.host.lock:
            guest = self.active_guest(dom)
            if not guest.persistent:
                raise test_error(ErrorCode.OPERATION_INVALID, "cannot do managed save for transient domain")
            paused = bool(flags & Save.PAUSED) or (guest.state == DomainState.PAUSED and not flags & Save.RUNNING)
            image = ManagedSave(guest.xml(with_id=False), paused)
            ref = self.stop_guest(guest, DomainShutoffReason.SAVED, Stopped.SAVED)
            guest.managed_save = image
            return ref

    @hookimpl
    def domain_has_managed_save_image(self, dom: DomainRef, flags: int) -> bool:
        check_flags(flags, 0, "testDomainHasManagedSaveImage")
        return self.guest(dom).managed_save is not None

    @hookimpl
    def domain_managed_save_remove(self, dom: DomainRef, flags: int) -> int:
        check_flags(flags, 0, "testDomainManagedSaveRemove")
        with self.host.lock:
            self.guest(dom).managed_save = None
            return 0

    @hookimpl
    def domain_managed_save_get_xml_desc(self, dom: DomainRef, flags: int) -> str:
        check_flags(flags, DomainSaveImageXMLFlags.XML_SECURE, "testDomainManagedSaveGetXMLDesc")
        image = self.guest(dom).managed_save
        if image is None:
            raise test_error(ErrorCode.OPERATION_INVALID, "domain does not have managed save image")
        return image.xml

    @hookimpl
    def domain_managed_save_define_xml(self, dom: DomainRef, dxml: Optional[str], flags: int) -> int:
        check_flags(flags, Save.RUNNING | Save.PAUSED, "testDomainManagedSaveDefineXML")
        with self.host.lock:
            guest = self.guest(dom)
            if guest.managed_save is None:
                raise test_error(ErrorCode.OPERATION_INVALID, "domain does not have managed save image")
            if dxml is not None:
                new = DomainConfig.from_xml(dxml)
                if new.uuid != guest.uuid or new.name != guest.name:
                    raise test_error(ErrorCode.INVALID_ARG, "the new XML must describe the same domain")
                guest.managed_save.xml = new.to_xml()
            if flags:
                guest.managed_save.paused = bool(flags & Save.PAUSED)
            return 0

    # -- core dump --------------------------------------------------------------------------------------------

    @hookimpl
    def domain_core_dump(self, dom: DomainRef, to: str, dumpformat: int, flags: int) -> DomainRef | int:
        check_flags(flags, Dump.CRASH, "testDomainCoreDumpWithFormat")
        if dumpformat != DomainCoreDumpFormat.RAW:
            raise test_error(ErrorCode.OPERATION_UNSUPPORTED,
                             f"kdump-compressed format is not supported by the test driver (format {dumpformat})")
        with self.host.lock:
            guest = self.active_guest(dom)
            write_image(to, SaveImage(xml=guest.xml(with_id=False), paused=guest.state == DomainState.PAUSED,
                                      kind="core"))
            if flags & Dump.CRASH:
                return self.stop_guest(guest, DomainShutoffReason.CRASHED, Stopped.CRASHED)
            return 0

    # -- rename and autostart ---------------------------------------------------------------------------------

    @hookimpl
    def domain_rename(self, dom: DomainRef, new_name: str, flags: int) -> int:
        check_flags(flags, 0, "testDomainRename")
        host = self.host
        with host.lock:
            guest = self.guest(dom)
            if guest.active:
                raise test_error(ErrorCode.OPERATION_INVALID, "cannot rename active domain")
            if not guest.persistent:
                raise test_error(ErrorCode.OPERATION_INVALID, "cannot rename a transient domain")
            if "/" in new_name:
                raise test_error(ErrorCode.XML_ERROR, f"name {new_name} cannot contain '/'")
            if new_name in host.by_name:
                raise VirtError(f"domain with name '{new_name}' already exists", code=ErrorCode.OPERATION_INVALID,
                                domain=ErrorDomain.DOMAIN)
            self.emit(guest, Event.UNDEFINED, Undefined.RENAMED)
            host.rename(guest, new_name)
            guest.config_for_change().set_name(new_name)
            guest.refresh_ref()
            self.emit(guest, Event.DEFINED, Defined.RENAMED)
            # Like libvirt, the caller's handle keeps the old name; look the domain up again for the new one.
            return 0

    @hookimpl
    def domain_get_autostart(self, dom: DomainRef) -> bool:
        return self.guest(dom).autostart

    @hookimpl
    def domain_set_autostart(self, dom: DomainRef, autostart: bool) -> int:
        with self.host.lock:
            self.guest(dom).autostart = bool(autostart)
            return 0
