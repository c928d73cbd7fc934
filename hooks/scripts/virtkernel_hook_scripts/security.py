"""Refuse hook directories, scripts and config files that someone other than their owner could have changed."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import OperationDenied


class UntrustedHookPath(OperationDenied):
    """A hook path could have been written by someone else than root or the user running virtkernel."""

    default_code = ErrorCode.OPERATION_DENIED

    def __init__(self, path: Path, what: str, why: str) -> None:
        super().__init__(f"refusing to use {what} '{path}': {why}", code=ErrorCode.OPERATION_DENIED,
                         domain=ErrorDomain.HOOK)
        self.path = path


def _user_name(uid: int) -> str:
    try:
        return f"'{pwd.getpwuid(uid).pw_name}' (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def check_trusted(path: Path, what: str) -> os.stat_result:
    """Check that ``path`` is owned by root or by us and not writable by group or others; return its stat.

    Symbolic links are followed: what counts is the file that would be executed or read.
    """
    info = os.stat(path)
    euid = os.geteuid()
    if info.st_uid not in (0, euid):
        raise UntrustedHookPath(path, what, f"it is owned by {_user_name(info.st_uid)}, not by root or by "
                                            f"{_user_name(euid)} who runs virtkernel")
    writable_by = [who for who, bit in (("its group", stat.S_IWGRP), ("all users", stat.S_IWOTH))
                   if info.st_mode & bit]
    if writable_by:
        raise UntrustedHookPath(path, what, f"it is writable by {' and '.join(writable_by)} "
                                            f"(mode {stat.S_IMODE(info.st_mode):04o}); "
                                            f"remove the write permission with 'chmod go-w {path}'")
    return info
