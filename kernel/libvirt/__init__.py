"""libvirt-python's API over virtkernel: change ``import libvirt`` to ``from virtkernel import libvirt``."""

from ..constants import *  # noqa: F401,F403 - every VIR_* constant with libvirt's value
from .connection import getVersion, open, openAuth, openReadOnly, virConnect, virInitialize
from .domain import virDomain
from .errors import (libvirtError, registerErrorHandler, virGetLastError, virGetLastErrorCode, virGetLastErrorDomain,
                     virGetLastErrorMessage, virResetLastError)
from .eventloop import (virEventAddHandle, virEventAddTimeout, virEventInvokeFreeCallback,
                        virEventRegisterDefaultImpl, virEventRegisterImpl, virEventRemoveHandle, virEventRemoveTimeout,
                        virEventRunDefaultImpl, virEventUpdateHandle, virEventUpdateTimeout)
from .snapshot import virDomainSnapshot
from .stream import virStream

__all__ = [
    "open", "openReadOnly", "openAuth", "getVersion", "virInitialize", "virConnect", "virDomain",
    "virDomainSnapshot", "virStream", "libvirtError", "registerErrorHandler", "virGetLastError", "virGetLastErrorCode",
    "virGetLastErrorDomain", "virGetLastErrorMessage", "virResetLastError", "virEventRegisterDefaultImpl",
    "virEventRunDefaultImpl", "virEventRegisterImpl", "virEventAddTimeout", "virEventUpdateTimeout",
    "virEventRemoveTimeout", "virEventAddHandle", "virEventUpdateHandle", "virEventRemoveHandle",
    "virEventInvokeFreeCallback",
]
