"""Protocol selection and the unmanaged/managed paths behind the public migrate entry points (work in progress)."""

from __future__ import annotations

from typing import Any, Optional

from ..errors import NoSupport, VirtError
from ..types import TypedParams


def params_dname(params: TypedParams, function: str) -> Optional[str]:
    """The destination name from typed parameters (a wrong type is an error)."""
    value = params.get("destination_name")
    if value is not None and not isinstance(value, str):
        from ..checks import invalid_arg
        raise invalid_arg(f"{function}: parameter 'destination_name' must be a string")
    return value


def _todo(*_args: Any, **_kwargs: Any) -> Any:
    raise NoSupport("migration orchestration is not implemented yet")


check_offline = migrate_with_connection = refuse_unmanaged_flags_in_migrate3 = _todo
check_and_clear_change_protection = migrate3_with_connection = unmanaged_compat_checks = _todo
build_params = migrate_unmanaged = _todo


def validated_params(params: Optional[TypedParams], function: str) -> TypedParams:
    """The caller's migration parameters checked against schemas/migration.json."""
    from ..typedparams import check
    return dict(check(dict(params or {}), "migration", function=function))


__all__ = ["params_dname", "validated_params", "VirtError"]
