"""Typed parameters: plain dicts checked against the JSON Schemas in virtkernel.schemas."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Optional

import jsonschema

from .checks import TYPED_PARAM_FIELD_LENGTH, invalid_arg
from .types import TypedParams

FAMILIES = ("scheduler", "blkio", "memory", "numa", "interface", "block_iotune", "iothread", "perf", "save",
            "migration")
"""Every family of typed parameters that has a schema."""


@functools.lru_cache(maxsize=None)
def schema(family: str) -> dict[str, Any]:
    """The JSON Schema of one family."""
    if family not in FAMILIES:
        raise KeyError(f"no typed-parameter schema named '{family}'")
    text = resources.files("virtkernel.schemas").joinpath(f"{family}.json").read_text()
    return json.loads(text)


@functools.lru_cache(maxsize=None)
def _validator(family: str) -> jsonschema.protocols.Validator:
    document = schema(family)
    cls = jsonschema.validators.validator_for(document)
    return cls(document)


def known_names(family: str) -> list[str]:
    """The parameter names a family accepts."""
    return sorted(schema(family)["properties"])


def check(params: Any, family: Optional[str], *, string_ok: bool = True, function: str = "") -> TypedParams:
    """Validate a typed-parameter dict (libvirt's ``vset`` plus the family's schema); return it unchanged."""
    prefix = f"{function}: " if function else ""
    if not isinstance(params, dict):
        raise invalid_arg(f"{prefix}typed parameters must be a dict of name -> value, not {type(params).__name__}")
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise invalid_arg(f"{prefix}parameter name {name!r} is not a non-empty string")
        if len(name) >= TYPED_PARAM_FIELD_LENGTH:
            raise invalid_arg(f"{prefix}parameter name '{name[:20]}…' is too long")
        if value is None:
            raise invalid_arg(f"{prefix}parameter '{name}' has no value")
        if isinstance(value, str) and not string_ok:
            raise invalid_arg(f"{prefix}parameter '{name}': string parameters are not supported by this driver")
        if not isinstance(value, (bool, int, float, str, list)):
            raise invalid_arg(f"{prefix}parameter '{name}' has a value of unsupported type {type(value).__name__}")
    if family is None:
        return params
    validator = _validator(family)
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.path))
    if errors:
        raise invalid_arg(prefix + _describe(family, errors[0], params))
    return params


def _describe(family: str, error: jsonschema.ValidationError, params: TypedParams) -> str:
    if error.validator == "additionalProperties":
        unknown = sorted(set(params) - set(schema(family)["properties"]))
        return (f"unknown {family} parameter '{unknown[0]}' (known: {', '.join(known_names(family))})")
    name = error.path[0] if error.path else "?"
    value = params.get(name) if isinstance(name, str) else None
    if error.validator in ("minimum", "maximum"):
        return f"{family} parameter '{name}' value {value!r} is out of range ({error.message})"
    if error.validator in ("type", "oneOf", "enum"):
        expected = schema(family)["properties"].get(name, {})
        want = expected.get("type") or "one of " + json.dumps(expected.get("oneOf") or expected.get("enum"))
        return f"{family} parameter '{name}' has the wrong type or value {value!r} (expected {want})"
    return f"{family} parameter '{name}': {error.message}"
