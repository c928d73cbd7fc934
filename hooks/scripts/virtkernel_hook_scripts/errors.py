"""The error a hook script's failure turns into."""

from __future__ import annotations

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import VirtError


class HookScriptError(VirtError):
    """A hook script could not run, failed, timed out or printed something unusable."""

    default_code = ErrorCode.HOOK_SCRIPT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message, code=ErrorCode.HOOK_SCRIPT_FAILED, domain=ErrorDomain.HOOK)
