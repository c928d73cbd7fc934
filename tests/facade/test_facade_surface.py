"""Every name libvirt-python 9.0 offers exists in the facade, and every VIR_* constant has libvirt's value."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from virtkernel import libvirt

SYSTEM_PYTHON = "/usr/bin/python3"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CLASSES = ("virConnect", "virDomain", "virDomainSnapshot", "virStream", "libvirtError")
MODULE_FUNCTIONS = (
    "getVersion", "open", "openAuth", "openReadOnly", "registerErrorHandler", "virEventAddHandle",
    "virEventAddTimeout", "virEventInvokeFreeCallback", "virEventRegisterDefaultImpl", "virEventRegisterImpl",
    "virEventRemoveHandle", "virEventRemoveTimeout", "virEventRunDefaultImpl", "virEventUpdateHandle",
    "virEventUpdateTimeout", "virGetLastError", "virGetLastErrorCode", "virGetLastErrorDomain",
    "virGetLastErrorMessage", "virInitialize", "virResetLastError",
)

PROBE = """
import json, libvirt
print(json.dumps({
    "classes": {c: [n for n in dir(getattr(libvirt, c)) if not n.startswith("_")] for c in %r},
    "constants": {n: getattr(libvirt, n) for n in dir(libvirt) if n.startswith("VIR_")},
}))
""" % (CLASSES,)


@pytest.fixture(scope="module")
def reference() -> dict:
    """Names and constants of the real binding (needs /usr/bin/python3 with python3-libvirt)."""
    try:
        completed = subprocess.run([SYSTEM_PYTHON, "-c", PROBE], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        completed = None
    if completed is None or completed.returncode != 0:
        reason = f"libvirt-python is not importable with {SYSTEM_PYTHON}"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return json.loads(completed.stdout)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("class_name", CLASSES)
def test_every_method_of_the_binding_exists(reference: dict, class_name: str) -> None:
    ours = getattr(libvirt, class_name)
    missing = [name for name in reference["classes"][class_name] if not hasattr(ours, name)]
    assert missing == []


@pytest.mark.timeout(120)
def test_every_constant_has_libvirts_value(reference: dict) -> None:
    ours = {name: getattr(libvirt, name) for name in dir(libvirt) if name.startswith("VIR_")}
    assert ours == reference["constants"]


def test_module_functions_exist() -> None:
    assert [name for name in MODULE_FUNCTIONS if not callable(getattr(libvirt, name, None))] == []
    assert libvirt.getVersion() == 9_000_000 and libvirt.virInitialize() == 0
