"""The hook plugin: create what a domain needs at prepare, remove exactly that at release."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Optional

from virtkernel import hookimpl

from . import images, links
from .config import DeviceSetupConfig
from .errors import DeviceSetupError
from .requests import NAMESPACE, DomainRequests, InterfaceRequest, check_link_name, domain_requests
from .state import STATE_SUBDIR, CreatedDevices, StateStore

log = logging.getLogger(__name__)

FALLBACK_STATE_SUBDIR = "run"
"""Below the config directory, where records go when the driver gives no state directory."""


def state_directory(event: Any) -> Optional[Path]:
    """Where records of a driver instance live: STATE_DIR/device-setup (or CONFIG_DIR/run/device-setup)."""
    state_dir = getattr(event, "state_dir", None)
    if state_dir:
        return Path(state_dir) / STATE_SUBDIR
    if event.config_dir:
        return Path(event.config_dir) / FALLBACK_STATE_SUBDIR / STATE_SUBDIR
    return None


def _wanted(requests: DomainRequests, config: DeviceSetupConfig) -> bool:
    if requests.disks and config.create_disks:
        return True
    return any((i.tap and config.create_taps) or (i.bridge and config.create_bridges) for i in requests.interfaces)


def _try_all(steps: list[tuple[str, Callable[[], None]]]) -> list[str]:
    """Run every clean-up step; return the messages of those that failed."""
    failures = []
    for _what, step in steps:
        try:
            step()
        except Exception as exc:  # clean-up goes on whatever one step raises
            failures.append(getattr(exc, "message", None) or str(exc))
    return failures


class DeviceSetup:
    """Creates missing disk images (from our metadata), taps and bridges before a start; removes them after."""

    @hookimpl
    def domain_hook_prepare(self, event: Any) -> None:
        """Create what the domain needs and the host lacks; undo this call's work if anything fails."""
        # Most domains need nothing: decide that without parsing their XML (every start passes here).
        has_metadata, has_interfaces = NAMESPACE in event.xml, "<interface" in event.xml
        if not has_metadata and not has_interfaces:
            return
        config = DeviceSetupConfig.load(event.config_dir)
        if not has_metadata and not (config.create_taps or config.create_bridges):
            return
        requests = domain_requests(event.xml)
        if not _wanted(requests, config):
            return
        directory = state_directory(event)
        if directory is None:
            raise DeviceSetupError(f"domain '{event.name}' asks for devices to be created, but the "
                                   f"'{event.driver}' driver gives device setup no config or state directory to "
                                   "record them in")
        store = StateStore(directory)
        with store.locked():
            record = store.load(event.uuid) or CreatedDevices(event.uuid, event.name)
            record.started = False
            now = CreatedDevices(event.uuid, event.name)
            try:
                if config.create_disks:
                    self._create_disks(requests, record, now, store)
                for interface in requests.interfaces:
                    self._create_links(interface, config, record, now, store)
            except BaseException:
                failures = self._remove(now, store, undo=True)
                for attr in ("disks", "kept_disks", "taps", "bridges"):
                    setattr(record, attr, [x for x in getattr(record, attr) if x not in getattr(now, attr)])
                store.save(record)
                if failures:
                    log.error("device setup could not undo everything for domain '%s': %s", event.name,
                              "; ".join(failures))
                raise
            store.save(record)

    @staticmethod
    def _create_disks(requests: DomainRequests, record: CreatedDevices, now: CreatedDevices,
                      store: StateStore) -> None:
        for disk in requests.disks:
            if os.path.lexists(disk.path):
                continue  # there already: ours from an earlier prepare (still recorded) or not ours to touch
            images.create_image(disk)
            for created in (record, now):
                (created.kept_disks if disk.keep else created.disks).append(disk.path)
            store.save(record)

    @staticmethod
    def _create_links(interface: InterfaceRequest, config: DeviceSetupConfig, record: CreatedDevices,
                      now: CreatedDevices, store: StateStore) -> None:
        bridge = interface.bridge
        if bridge and config.create_bridges:
            check_link_name(bridge, "bridge")
            if not links.exists(bridge):
                links.create_bridge(bridge)
                store.add_bridge_user(bridge, record.uuid)
                record.bridges.append(bridge)
                now.bridges.append(bridge)
                store.save(record)
            elif store.bridge_users(bridge) is not None and bridge not in record.bridges:
                store.add_bridge_user(bridge, record.uuid)  # ours, created for another domain: hold a reference
                record.bridges.append(bridge)
                now.bridges.append(bridge)
                store.save(record)
        tap = interface.tap
        if tap and config.create_taps and not links.exists(check_link_name(tap, "tap device")):
            if bridge and not links.exists(bridge):
                raise DeviceSetupError(f"cannot attach tap device '{tap}' to bridge '{bridge}': the bridge does "
                                       "not exist (allow device setup to create it with create_bridges = true)")
            links.create_tap(tap)
            record.taps.append(tap)
            now.taps.append(tap)
            store.save(record)
            if bridge:
                links.enslave(tap, bridge)

    @staticmethod
    def _remove(created: CreatedDevices, store: StateStore, *, undo: bool) -> list[str]:
        """Remove recorded devices: taps, then bridges nobody else uses, then images; return failures."""
        steps: list[tuple[str, Callable[[], None]]] = []
        steps += [(tap, lambda tap=tap: links.delete(tap)) for tap in created.taps]
        for bridge in created.bridges:
            def drop_bridge(bridge: str = bridge) -> None:
                if store.remove_bridge_user(bridge, created.uuid):
                    return  # another domain still uses it
                remaining = links.ports(bridge)
                if remaining:
                    log.warning("not removing bridge '%s': devices device setup did not create are still "
                                "attached (%s)", bridge, ", ".join(remaining))
                    return
                links.delete(bridge)
            steps.append((bridge, drop_bridge))
        images_to_remove = created.disks + (created.kept_disks if undo else [])
        steps += [(path, lambda path=path: images.remove_image(path)) for path in images_to_remove]
        return _try_all(steps)

    @hookimpl
    def domain_hook_started(self, event: Any) -> None:
        """Remember that the guest started, so release keeps images marked keep='yes'."""
        self._mark_started(event)

    @hookimpl
    def domain_hook_reconnect(self, event: Any) -> None:
        """A running guest picked up again: keep its record as it is, create nothing."""
        self._mark_started(event)

    @staticmethod
    def _mark_started(event: Any) -> None:
        directory = state_directory(event)
        if directory is None or not (directory / "domains").is_dir():
            return
        store = StateStore(directory)
        with store.locked():
            record = store.load(event.uuid)
            if record is not None and not record.started:
                record.started = True
                store.save(record)

    @hookimpl
    def domain_hook_release(self, event: Any) -> None:
        """Remove exactly what prepare created; after a start that never completed, kept images too."""
        directory = state_directory(event)
        if directory is None or not (directory / "domains").is_dir():
            return
        store = StateStore(directory)
        with store.locked():
            record = store.load(event.uuid)
            if record is None:
                return
            failures = self._remove(record, store, undo=not record.started)
            store.forget(event.uuid)
        if failures:
            raise DeviceSetupError(f"device setup could not remove everything it created for domain "
                                   f"'{event.name}': {'; '.join(failures)}")
