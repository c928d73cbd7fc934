"""virtkernel lifecycle-hook plugin: pre-start device setup (disk images, taps, bridges) and its clean-up."""

from .config import CONFIG_FILE, DeviceSetupConfig
from .errors import DeviceSetupError
from .plugin import DeviceSetup, state_directory
from .requests import NAMESPACE, DiskRequest, DomainRequests, InterfaceRequest, domain_requests, parse_size
from .state import CreatedDevices, StateStore

__all__ = [
    "DeviceSetup", "DeviceSetupConfig", "DeviceSetupError", "CONFIG_FILE", "NAMESPACE", "DiskRequest",
    "DomainRequests", "InterfaceRequest", "domain_requests", "parse_size", "state_directory", "CreatedDevices",
    "StateStore",
]
