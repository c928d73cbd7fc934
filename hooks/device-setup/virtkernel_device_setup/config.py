"""Device setup's settings: CONFIG_DIR/device-setup.toml (disk creation on, taps and bridges off by default)."""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from virtkernel.enums import ErrorCode

from .errors import DeviceSetupError

CONFIG_FILE = "device-setup.toml"
"""The settings file, beside the hooks/ directory in the driver instance's config directory."""

_SCHEMA: dict[str, set[str]] = {"disks": {"create"}, "network": {"create_taps", "create_bridges"}}


def _config_error(message: str) -> DeviceSetupError:
    return DeviceSetupError(message, code=ErrorCode.CONFIG_UNSUPPORTED)


def _check_trusted(path: Path) -> None:
    """Settings that may make us create host network devices must not be writable by anybody else."""
    info = os.stat(path)
    if info.st_uid not in (0, os.geteuid()):
        raise DeviceSetupError(f"refusing to use device setup settings file '{path}': it is owned by uid "
                               f"{info.st_uid}, not by root or by uid {os.geteuid()} who runs virtkernel",
                               code=ErrorCode.OPERATION_DENIED)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise DeviceSetupError(f"refusing to use device setup settings file '{path}': it is writable by other "
                               f"users (mode {stat.S_IMODE(info.st_mode):04o})", code=ErrorCode.OPERATION_DENIED)


def _flag(data: dict[str, Any], section: str, key: str, default: bool, path: Path) -> bool:
    value = data.get(section, {}).get(key, default)
    if not isinstance(value, bool):
        raise _config_error(f"device setup settings file '{path}': {section}.{key} must be true or false, "
                            f"not {value!r}")
    return value


@dataclass(frozen=True)
class DeviceSetupConfig:
    """What device setup is allowed to create."""

    create_disks: bool = True
    create_taps: bool = False
    create_bridges: bool = False

    @classmethod
    def load(cls, config_dir: Optional[str]) -> "DeviceSetupConfig":
        """The settings in CONFIG_DIR/device-setup.toml, or the defaults when there is none."""
        if not config_dir:
            return cls()
        path = Path(config_dir) / CONFIG_FILE
        if not path.exists():
            return cls()
        _check_trusted(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise _config_error(f"device setup settings file '{path}' is not valid TOML: {exc}") from None
        for section, value in data.items():
            if section not in _SCHEMA or not isinstance(value, dict):
                raise _config_error(f"device setup settings file '{path}': unknown section '{section}' "
                                    f"(known: {', '.join(sorted(_SCHEMA))})")
            unknown = sorted(set(value) - _SCHEMA[section])
            if unknown:
                raise _config_error(f"device setup settings file '{path}': unknown setting "
                                    f"'{section}.{unknown[0]}' (known: {', '.join(sorted(_SCHEMA[section]))})")
        return cls(create_disks=_flag(data, "disks", "create", True, path),
                   create_taps=_flag(data, "network", "create_taps", False, path),
                   create_bridges=_flag(data, "network", "create_bridges", False, path))
