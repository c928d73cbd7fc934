"""Hook-script settings: the timeout, from HOOKDIR/hook-scripts.toml or the VIRTKERNEL_HOOK_TIMEOUT variable."""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from virtkernel.errors import InvalidArg

from .security import check_trusted

DEFAULT_TIMEOUT = 30.0
"""Seconds a hook script may run before it is killed and the operation fails."""
TIMEOUT_ENV = "VIRTKERNEL_HOOK_TIMEOUT"
"""Environment variable overriding the timeout of every hook script (seconds, wins over the file)."""
CONFIG_FILE = "hook-scripts.toml"
"""Settings file inside HOOKDIR, e.g. ``timeout = 10``."""

_KEYS = {"timeout"}


def _timeout(value: Any, source: str) -> float:
    if isinstance(value, bool):
        value = None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidArg(f"hook script timeout {value!r} from {source} is not a positive number of seconds")
    return seconds


@dataclass(frozen=True)
class ScriptSettings:
    """How hook scripts are run."""

    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def load(cls, hookdir: Path, environ: Mapping[str, str] = os.environ) -> "ScriptSettings":
        """Defaults, overridden by HOOKDIR/hook-scripts.toml, overridden by $VIRTKERNEL_HOOK_TIMEOUT."""
        timeout = DEFAULT_TIMEOUT
        path = hookdir / CONFIG_FILE
        if path.exists():
            check_trusted(path, "hook script settings file")
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise InvalidArg(f"hook script settings file '{path}' is not valid TOML: {exc}") from None
            unknown = sorted(set(data) - _KEYS)
            if unknown:
                raise InvalidArg(f"hook script settings file '{path}' has unknown settings: {', '.join(unknown)} "
                                 f"(known: {', '.join(sorted(_KEYS))})")
            if "timeout" in data:
                timeout = _timeout(data["timeout"], f"'{path}'")
        if environ.get(TIMEOUT_ENV, "").strip():
            timeout = _timeout(environ[TIMEOUT_ENV].strip(), f"${TIMEOUT_ENV}")
        return cls(timeout=timeout)
