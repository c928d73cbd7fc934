"""Network devices through iproute2: does a link exist, create a tap or a bridge, enslave, delete."""

from __future__ import annotations

import json
from typing import Optional

from virtkernel import command

from .errors import DeviceSetupError

IP = "ip"
_TIMEOUT = 30.0


def _ip(*args: str, what: str) -> command.CommandResult:
    try:
        return command.run([IP, *args], timeout=_TIMEOUT)
    except command.CommandNotFound:
        raise DeviceSetupError(f"cannot {what}: the 'ip' program (iproute2) is not installed") from None
    except Exception as exc:
        raise DeviceSetupError(f"cannot {what}: {getattr(exc, 'message', exc)}") from None


def link(name: str) -> Optional[dict]:
    """The link's details from `ip -json link show`, or None when there is no such device."""
    result = command.run([IP, "-json", "link", "show", "dev", name], timeout=_TIMEOUT, check=False)
    if result.returncode != 0:
        return None
    found = json.loads(result.stdout or b"[]")
    return found[0] if found else None


def exists(name: str) -> bool:
    """Whether a network device of that name exists."""
    return link(name) is not None


def ports(bridge: str) -> list[str]:
    """The devices enslaved to a bridge."""
    result = command.run([IP, "-json", "link", "show", "master", bridge], timeout=_TIMEOUT, check=False)
    if result.returncode != 0:
        return []
    return [entry["ifname"] for entry in json.loads(result.stdout or b"[]")]


def create_tap(name: str) -> None:
    """Create a persistent tap device and bring it up."""
    _ip("tuntap", "add", "dev", name, "mode", "tap", what=f"create tap device '{name}'")
    _ip("link", "set", "dev", name, "up", what=f"bring tap device '{name}' up")


def create_bridge(name: str) -> None:
    """Create a bridge and bring it up."""
    _ip("link", "add", "name", name, "type", "bridge", what=f"create bridge '{name}'")
    _ip("link", "set", "dev", name, "up", what=f"bring bridge '{name}' up")


def enslave(device: str, bridge: str) -> None:
    """Attach a device to a bridge."""
    _ip("link", "set", "dev", device, "master", bridge, what=f"attach '{device}' to bridge '{bridge}'")


def delete(name: str) -> None:
    """Delete a network device (already gone is fine)."""
    if exists(name):
        _ip("link", "delete", "dev", name, what=f"delete network device '{name}'")
