"""Meta-tests that keep the public surface and the hook specifications honest."""

from __future__ import annotations

import inspect

import pluggy
import pytest

import virtkernel
from virtkernel import hookspecs
from virtkernel.connection import Connection
from virtkernel.domain import Domain
from virtkernel.driver import DRIVER_OPERATIONS
from virtkernel.entrypoints import ENTRY_POINTS

SPECS = {name: fn for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, "virtkernel_spec")}
OWNERS = {"conn": Connection, "dom": Domain}


def test_the_entry_point_table_covers_the_whole_domain_api() -> None:
    assert len(ENTRY_POINTS) == 208
    assert len({ep.c_name for ep in ENTRY_POINTS}) == 208


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda ep: ep.c_name)
def test_every_entry_point_has_a_public_method_and_a_hook(entry) -> None:
    if entry.method is None:
        assert entry.c_name.endswith(("Free", "Ref")), f"{entry.c_name} has no method and is not a memory helper"
        return
    owner = OWNERS[entry.owner]
    method = getattr(owner, entry.method, None)
    assert callable(method), f"{entry.c_name}: {owner.__name__}.{entry.method} is missing"
    assert (method.__doc__ or "").strip(), f"{owner.__name__}.{entry.method} has no docstring"
    if entry.hook is not None:
        assert entry.hook in SPECS, f"{entry.c_name}: hook spec {entry.hook} is missing"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_spec_has_a_one_line_docstring(name) -> None:
    doc = (SPECS[name].__doc__ or "").strip()
    assert doc and "\n" not in doc, f"hook spec {name} needs a one-line docstring"


def test_driver_operations_are_firstresult_and_stop_at_the_first_result() -> None:
    for name in DRIVER_OPERATIONS:
        assert SPECS[name].virtkernel_spec["firstresult"] is True
        assert "Stops at the first non-None result" in SPECS[name].__doc__
    lifecycle = [n for n in SPECS if n.startswith(("domain_hook_", "daemon_hook_"))]
    assert len(lifecycle) == 12
    assert not set(lifecycle) & DRIVER_OPERATIONS


def test_the_hook_specs_load_into_a_plugin_manager() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    assert set(SPECS) <= {name for name in dir(pm.hook) if not name.startswith("_")}


def test_public_names_are_exported() -> None:
    for name in virtkernel.__all__:
        assert hasattr(virtkernel, name), name
    assert virtkernel.DomainState.SHUTOFF == 5
    assert virtkernel.ErrorCode.NO_DOMAIN == 42
    assert virtkernel.DomainMigrateFlags.PEER2PEER == 2


def test_every_public_name_resolves_and_small_imports_stay_small():
    """`virtkernel` loads its modules on first use: every exported name resolves, and a process that imports only
    errors, enums and cgroup (a container's supervisor) does not load the API."""
    import subprocess
    import sys
    for name in virtkernel.__all__:
        assert getattr(virtkernel, name) is not None, name
    assert virtkernel.DomainState.RUNNING == 1  # libvirt's enums are package attributes too
    probe = ("import sys, virtkernel.errors, virtkernel.enums, virtkernel.cgroup; "
             "print(sorted(m for m in sys.modules if m in ('virtkernel.connection', 'virtkernel.domain', 'jsonschema')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_lazy_export_table_matches_what_type_checkers_see():
    """kernel/__init__.py names every public name twice (imports under TYPE_CHECKING, the table __getattr__
    reads): both must list the same names from the same modules."""
    import ast
    tree = ast.parse(open(virtkernel.__file__).read())
    checking = next(node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", "") ==
                    "TYPE_CHECKING")
    imported = {alias.name: node.module for node in checking.body if isinstance(node, ast.ImportFrom)
                for alias in node.names if alias.name != "*"}
    assert imported == virtkernel._EXPORTS
