"""The distributions ship every package their code needs."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_kernel_subpackage_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {"virtkernel." + ".".join(p.parent.relative_to(ROOT / "kernel").parts)
             for p in (ROOT / "kernel").rglob("__init__.py")}
    found = {name.rstrip(".") for name in found} | {"virtkernel.schemas"}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_schemas_ship_as_package_data() -> None:
    from importlib import resources
    names = {p.name for p in resources.files("virtkernel.schemas").iterdir()}
    assert {"domain.rng", "migration.json", "memory.json"} <= names


def test_no_test_imports_a_conftest_by_name() -> None:
    """`import conftest` resolves to whichever tests folder is first on sys.path in a whole-suite run."""
    offenders = [str(p.relative_to(ROOT)) for base in ("tests", "plugins", "hooks") for p in (ROOT / base).rglob("*.py")
                 if ".venv" not in p.parts and ("from conftest import" in p.read_text() or "import conftest" in p.read_text())]
    offenders = [o for o in offenders if not o.endswith("test_packaging.py")]
    assert not offenders, f"import shared test helpers from a uniquely named module instead: {offenders}"
