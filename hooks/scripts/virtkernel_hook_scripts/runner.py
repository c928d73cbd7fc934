"""Run hook scripts like libvirt does: SCRIPT OBJECT_NAME OPERATION SUB_OPERATION EXTRA, domain XML on stdin."""

from __future__ import annotations

import os
import signal
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from virtkernel import command
from virtkernel.errors import VirtError

from .errors import HookScriptError
from .locate import is_dangling
from .security import check_trusted

_STDERR_LIMIT = 4000  # characters of a script's stderr kept in the error message


@dataclass(frozen=True)
class HookCall:
    """One call of the hook scripts: their four arguments, the XML on stdin and how the result is used."""

    object_name: str
    operation: str
    sub_operation: str
    extra: str
    xml: str = ""
    blocking: bool = False
    rewrites_xml: bool = False

    @property
    def arguments(self) -> tuple[str, str, str, str]:
        """The arguments after the script's path."""
        return (self.object_name, self.operation, self.sub_operation, self.extra)


def check_script(script: Path) -> None:
    """Refuse a script that is dangling, not a regular file, or could have been changed by someone else."""
    if is_dangling(script):
        raise HookScriptError(f"hook script '{script}' not found (it is a symbolic link to "
                              f"'{os.readlink(script)}', which does not exist)")
    try:
        info = check_trusted(script, "hook script")
    except FileNotFoundError:
        raise HookScriptError(f"hook script '{script}' not found") from None
    if not stat.S_ISREG(info.st_mode):
        raise HookScriptError(f"hook script '{script}' is not a regular file")


def _stderr(result: command.CommandResult) -> str:
    text = result.stderr_text.strip()
    return text if len(text) <= _STDERR_LIMIT else "..." + text[-_STDERR_LIMIT:]


def _failure_message(script: Path, result: command.CommandResult) -> str:
    if result.returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-result.returncode).name}"
        except ValueError:
            how = f"was killed by signal {-result.returncode}"
    else:
        how = f"failed with exit status {result.returncode}"
        if result.returncode == command.ExitStatus.NOT_FOUND:
            how += " (a program it runs was not found)"
        elif result.returncode == command.ExitStatus.NOT_EXECUTABLE:
            how += " (a program it runs is not executable)"
    detail = _stderr(result)
    return f"hook script '{script}' {how}: {detail}" if detail else f"hook script '{script}' {how}"


def run_script(script: Path, call: HookCall, xml: str, timeout: float) -> command.CommandResult:
    """Run one script to completion; raise HookScriptError on any failure (the message says which and why)."""
    check_script(script)
    try:
        return command.run([script, *call.arguments], input=xml.encode("utf-8"), timeout=timeout, cwd="/")
    except command.CommandTimedOut:
        raise HookScriptError(f"hook script '{script}' did not finish within {timeout:g} seconds and was "
                              "killed") from None
    except command.CommandNotFound:
        raise HookScriptError(f"hook script '{script}' not found") from None
    except command.CommandNotExecutable as exc:
        reason = exc.message.split("is not executable:", 1)[-1].strip()
        raise HookScriptError(f"hook script '{script}' is not executable: {reason}") from None
    except command.CommandSetupFailed as exc:
        raise HookScriptError(f"hook script '{script}' could not be started: {exc.message}") from None
    except command.CommandFailed as exc:
        raise HookScriptError(_failure_message(script, exc.result)) from None


def _replacement(script: Path, result: command.CommandResult) -> Optional[str]:
    try:
        text = result.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HookScriptError(f"hook script '{script}' printed replacement XML that is not valid UTF-8 "
                              f"({exc.reason} at byte {exc.start})") from None
    return text if text.strip() else None


def run_chain(scripts: Sequence[Path], call: HookCall, timeout: float) -> Optional[str]:
    """Run ``scripts`` in order; return the replacement XML (rewriting calls only) or None when unchanged.

    For a rewriting call (migrate, restore) each script's non-empty stdout is the XML the next script reads and
    the result; empty stdout keeps the XML. A blocking call stops at the first failure and raises it; a
    non-blocking one runs every script and raises one error listing every failure afterwards.
    """
    xml = call.xml
    replaced = False
    failures: list[str] = []
    for script in scripts:
        try:
            result = run_script(script, call, xml, timeout)
            if call.rewrites_xml:
                new_xml = _replacement(script, result)
                if new_xml is not None:
                    xml, replaced = new_xml, True
        except VirtError as exc:
            if call.blocking:
                raise
            failures.append(exc.message)
    if failures:
        raise HookScriptError("; ".join(failures))
    return xml if replaced else None
