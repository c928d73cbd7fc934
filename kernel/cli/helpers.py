"""Small pieces several commands share: --live/--config/--current, reading files, editing text."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from typing import Sequence

from ..enums import DomainModificationImpact as Impact
from .errors import CliError
from .parse import Arguments


def exclusive(args: Arguments, *names: str) -> None:
    """virsh's "Options --a and --b are mutually exclusive" for every pair given together."""
    given = [n for n in names if args.flag(n) or (args.has(n) and not isinstance(args.values[n], bool))]
    if len(given) > 1:
        raise CliError(f"Options --{given[0]} and --{given[1]} are mutually exclusive")


def impact_flags(args: Arguments) -> int:
    """AFFECT_* flags from --config/--live/--current (--current excludes the other two)."""
    exclusive(args, "current", "live")
    exclusive(args, "current", "config")
    flags = Impact.CURRENT
    if args.flag("live"):
        flags |= Impact.LIVE
    if args.flag("config"):
        flags |= Impact.CONFIG
    return int(flags)


def has_impact(args: Arguments) -> bool:
    """Whether any of --config/--live/--current was given."""
    return any(args.flag(n) for n in ("config", "live", "current"))


def read_file(path: str) -> str:
    """A file's text, or virsh's "Failed to open file" error."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise CliError(f"Failed to open file '{path}': {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"Failed to read file '{path}': not UTF-8 text") from None


def editor_command() -> list[str]:
    """$VISUAL, $EDITOR or vi, split like a shell would (the user's own setting; no shell is run)."""
    text = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(text)


def edit_text(initial: str, suffix: str = ".xml") -> str:
    """Let the user edit text in their editor and return the result."""
    with tempfile.NamedTemporaryFile("w", suffix=suffix, prefix="virtkernel-", delete=False) as handle:
        handle.write(initial)
        path = handle.name
    try:
        command: Sequence[str] = [*editor_command(), path]
        try:
            done = subprocess.run(command, check=False)
        except OSError as exc:
            raise CliError(f"cannot run editor '{command[0]}': {exc.strerror}") from None
        if done.returncode != 0:
            raise CliError(f"editor '{command[0]}' exited with status {done.returncode}")
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    finally:
        os.unlink(path)
