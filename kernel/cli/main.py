"""Entry point of the ``virtkernel`` console script."""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from ..discovery import installed_plugins
from ..errors import VirtError


def cmd_plugins() -> int:
    """List installed drivers and hook plugins with their distributions and versions."""
    plugins = installed_plugins()
    if not plugins:
        print("no plugins installed")
        return 0
    width = max(len(p.name) for p in plugins)
    print(f" {'Kind':<7} {'Name':<{width}}  {'Distribution':<28} Version")
    print("-" * (width + 50))
    for p in plugins:
        print(f" {p.kind:<7} {p.name:<{width}}  {p.distribution:<28} {p.version}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command and return its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args == ["plugins"]:
            return cmd_plugins()
        print("usage: virtkernel plugins", file=sys.stderr)
        return 1
    except VirtError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
