"""Typed parameters are checked against the JSON Schemas shipped in virtkernel.schemas."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel.typedparams import FAMILIES, check, known_names, schema


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_has_a_schema_with_known_names(family) -> None:
    assert schema(family)["type"] == "object"
    assert known_names(family)


@pytest.mark.parametrize("family, params, message", [
    ("memory", {"hard_limitx": 5}, "unknown memory parameter 'hard_limitx'"),
    ("memory", {"hard_limit": -5}, "memory parameter 'hard_limit' value -5 is out of range"),
    ("scheduler", {"cpu_shares": "lots"}, "scheduler parameter 'cpu_shares' has the wrong type"),
    ("migration", {"compression": "lz4"}, "migration parameter 'compression' has the wrong type or value 'lz4'"),
    ("migration", {"parallel.connections": 0}, "out of range"),
    ("migration", {"bandwidth": True}, "migration parameter 'bandwidth' has the wrong type"),
    ("perf", {"cmt": None}, "parameter 'cmt' has no value"),
    ("memory", {"x" * 80: 1}, "is too long"),
    ("memory", [("hard_limit", 1)], "must be a dict"),
])
def test_bad_parameters_name_the_parameter(family, params, message) -> None:
    with pytest.raises(virtkernel.InvalidArg) as info:
        check(params, family)
    assert message in info.value.message
    assert info.value.code == virtkernel.ErrorCode.INVALID_ARG


def test_good_parameters_pass_unchanged() -> None:
    params = {"migrate_uri": "tcp://[::1]:49152", "bandwidth": 1000, "compression": ["xbzrle", "mt"],
              "migrate_disks": ["vda", "vdb"], "auto_converge.initial": 20}
    assert check(params, "migration") is params
    with pytest.raises(virtkernel.InvalidArg, match="string parameters are not supported"):
        check({"numa_nodeset": "0-1"}, "numa", string_ok=False)
