"""Typed parameters the way libvirt-python's setters take them: only names the getter reports, in its types."""

from __future__ import annotations

from typing import Any

from ..types import TypedParams


def _coerce(name: str, current: Any, value: Any) -> Any:
    if isinstance(current, bool):
        return bool(value)
    if isinstance(current, int):
        if not isinstance(value, int):
            raise TypeError(f"parameter '{name}' needs an integer, not {type(value).__name__}")
        return int(value)
    if isinstance(current, float):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"parameter '{name}' needs a number, not {type(value).__name__}")
        return float(value)
    if isinstance(current, str):
        if not isinstance(value, str):
            raise TypeError(f"parameter '{name}' needs a string, not {type(value).__name__}")
        return value
    return value


def merge_for_set(current: TypedParams, requested: Any) -> TypedParams:
    """The parameters to set: each requested name must be one the getter returned (else LookupError)."""
    if not isinstance(requested, dict):
        raise TypeError(f"typed parameters must be a dict, not {type(requested).__name__}")
    result: TypedParams = {}
    for name, value in requested.items():
        if name not in current:
            raise LookupError(f"Attribute name '{name}' is not recognized")
        result[name] = _coerce(name, current[name], value)
    return result
