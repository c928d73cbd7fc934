"""The error device setup reports (it aborts a start at prepare)."""

from __future__ import annotations

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError


class DeviceSetupError(VirtError):
    """A device the domain needs could not be created, or its description is wrong."""

    default_code = ErrorCode.OPERATION_FAILED

    def __init__(self, message: str, code: ErrorCode = ErrorCode.OPERATION_FAILED) -> None:
        super().__init__(message, code=code, domain=ErrorDomain.HOOK)
