"""virtkernel: libvirt's job — managing VMs and containers through one stable API — as a small kernel with plugins."""

from .connection import LIB_VERSION, Connection, open, open_read_only
from .discovery import PluginInfo, PluginLoadError, installed_plugins
from .domain import Domain, DomainSnapshot
from .driver import DriverContext
from .enums import *  # noqa: F401,F403 - libvirt's enums and flag sets are part of the public API
from .errors import (ArgumentUnsupported, InternalError, InvalidArg, NoDomain, NoSupport, OperationDenied,
                     OperationFailed, OperationInvalid, VirtError, get_last_error)
from .features import DriverFeature
from .stream import Stream
from .hookspecs import hookimpl
from .lifecycle import DomainHookEvent, HookFailed, HookPoint
from .types import DomainInfo, DomainRef, NodeInfo, SnapshotRef
from .uri import ConnectURI, parse_uri

__version__ = "0.1.0"

__all__ = [
    "open", "open_read_only", "Connection", "Domain", "DomainSnapshot", "DriverContext", "DriverFeature",
    "VirtError", "InternalError", "InvalidArg", "NoDomain", "NoSupport", "OperationDenied", "OperationFailed",
    "OperationInvalid", "ArgumentUnsupported", "get_last_error", "hookimpl", "DomainHookEvent", "HookFailed",
    "HookPoint", "DomainInfo", "DomainRef", "NodeInfo", "SnapshotRef", "ConnectURI", "parse_uri",
    "installed_plugins", "PluginInfo", "Stream", "PluginLoadError", "LIB_VERSION", "__version__",
]
