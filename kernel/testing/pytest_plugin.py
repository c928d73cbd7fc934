"""A pytest plugin for driver and hook authors: build and install a throwaway plugin distribution."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest


@dataclass
class InstalledPlugin:
    """A throwaway distribution installed into the running interpreter's environment."""

    distribution: str
    module: str
    path: Path


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
                          capture_output=True, text=True, timeout=300)


def build_plugin_distribution(root: Path, distribution: str, module_source: str, group: str, name: str,
                              target: str) -> InstalledPlugin:
    """Write a one-module distribution with one entry point into ``root`` (not installed yet)."""
    module = distribution.replace("-", "_")
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(module_source))
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{distribution}"
        version = "0.0.1"

        [tool.setuptools]
        py-modules = ["{module}"]

        [project.entry-points."{group}"]
        {name} = "{module}:{target}"
        """))
    return InstalledPlugin(distribution, module, root)


@pytest.fixture
def install_plugin(tmp_path: Path) -> Iterator[Callable[..., InstalledPlugin]]:
    """Install throwaway plugin distributions for one test; they are uninstalled afterwards.

    Call ``install_plugin(module_source, group="virtkernel.drivers", name="toy", target="ToyDriver")``.
    """
    installed: list[InstalledPlugin] = []

    def install(module_source: str, *, group: str, name: str, target: str,
                distribution: str | None = None) -> InstalledPlugin:
        dist = distribution or f"vk-throwaway-{uuid.uuid4().hex[:8]}"
        plugin = build_plugin_distribution(tmp_path / dist, dist, module_source, group, name, target)
        result = _pip("install", "--no-build-isolation", "--no-deps", "--quiet", str(plugin.path))
        if result.returncode != 0:
            raise RuntimeError(f"pip could not install {dist}: {result.stderr.strip()}")
        installed.append(plugin)
        import importlib
        importlib.invalidate_caches()
        return plugin

    yield install
    for plugin in installed:
        _pip("uninstall", "--yes", "--quiet", plugin.distribution)
        sys.modules.pop(plugin.module, None)
