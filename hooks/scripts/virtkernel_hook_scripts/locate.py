"""Where hook scripts live: HOOKDIR/<driver>, then every executable in HOOKDIR/<driver>.d/ in alphabetical order."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from virtkernel.errors import InvalidArg

from .security import check_trusted

log = logging.getLogger(__name__)

HOOKS_SUBDIR = "hooks"
"""HOOKDIR is this directory below the driver instance's config directory."""


def hook_dir(config_dir: str | os.PathLike) -> Path:
    """The hook directory of a driver instance: CONFIG_DIR/hooks."""
    return Path(config_dir) / HOOKS_SUBDIR


def _check_object_kind(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise InvalidArg(f"'{name}' cannot name a hook script")


def is_dangling(path: Path) -> bool:
    """Whether ``path`` is a symbolic link to nothing."""
    return path.is_symlink() and not path.exists()


def find_scripts(hookdir: Path, kind: str) -> list[Path]:
    """The scripts to run for ``kind`` (a driver name, or "daemon"), in order; refuses untrusted directories.

    HOOKDIR/<kind> comes first whenever it exists (a non-executable one fails when it is run, so a mistake is
    seen); in HOOKDIR/<kind>.d/ only executable files and dangling symbolic links (reported as "not found" when
    run) count, sorted by name as the C locale sorts them. Each script is checked when it is run
    (see runner.check_script).
    """
    _check_object_kind(kind)
    main = hookdir / kind
    drop_in = hookdir / f"{kind}.d"
    scripts: list[Path] = []
    if main.exists() or main.is_symlink():
        scripts.append(main)
    if drop_in.is_dir():
        check_trusted(drop_in, "hook directory")
        for name in sorted(os.listdir(drop_in), key=os.fsencode):
            entry = drop_in / name
            if is_dangling(entry):
                scripts.append(entry)  # fails as "not found" when run: the operator meant it to run
                continue
            if not entry.is_file():
                continue
            if not os.access(entry, os.X_OK):
                log.warning("ignoring hook script '%s': it is not executable", entry)
                continue
            scripts.append(entry)
    if scripts:
        check_trusted(hookdir, "hook directory")
    return scripts
