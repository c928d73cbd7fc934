"""Shell completion: what may come next on a virtkernel command line (``virtkernel complete -- WORDS...``).

The last word is the one being completed (empty when the cursor follows a space). The bash script in
``virtkernel.bash`` calls this helper and falls back to file names when it prints nothing.
"""

from __future__ import annotations

from importlib import resources
from typing import Callable, Optional, Sequence

from ..connection import Connection
from ..errors import VirtError
from .table import GROUPS, Command, Complete, Option, OptType, command_names, lookup

GLOBAL_WITH_VALUE = {"-c", "--connect", "-d", "--debug", "-e", "--escape"}
GLOBAL_FLAGS = ["--connect", "--debug", "--escape", "--help", "--quiet", "--readonly", "--timing", "--version"]

Opener = Callable[[Optional[str], bool], Connection]


def bash_script() -> str:
    """The bash completion script shipped next to this module."""
    return resources.files("virtkernel.cli").joinpath("virtkernel.bash").read_text(encoding="utf-8")


class _Context:
    """What the words before the cursor say: the URI, the command and its options so far."""

    def __init__(self) -> None:
        self.uri: Optional[str] = None
        self.command: Optional[Command] = None
        self.values: dict[str, list[str]] = {}
        self.pending: Optional[Option] = None     # an option whose value is being typed
        self.positional_filled = 0


def _scan(words: Sequence[str]) -> _Context:
    context = _Context()
    i = 0
    while i < len(words) and context.command is None:
        word = words[i]
        if word in GLOBAL_WITH_VALUE:
            if i + 1 < len(words) and word in ("-c", "--connect"):
                context.uri = words[i + 1]
            i += 2
            continue
        if word.startswith("--connect="):
            context.uri = word.split("=", 1)[1]
        elif word.startswith("-c") and len(word) > 2:
            context.uri = word[2:]
        elif not word.startswith("-"):
            context.command = lookup(word)
            if context.command is None:
                return context
        i += 1
    if context.command is None:
        return context
    positional = [o for o in context.command.options
                  if o.takes_value and o.positional and o.type is not OptType.ARGV]
    argv_option = next((o for o in context.command.options if o.type is OptType.ARGV), None)
    for word in words[i:]:
        if context.pending is not None:
            context.values.setdefault(context.pending.name, []).append(word)
            context.pending = None
            continue
        if word.startswith("--"):
            option = context.command.option(word[2:].split("=", 1)[0])
            if option is None:
                continue
            if option.takes_value and "=" not in word:
                context.pending = option
            else:
                context.values.setdefault(option.name, []).append(word.split("=", 1)[-1])
            continue
        target = next((o for o in positional if o.name not in context.values), None) or argv_option
        if target is not None:
            context.values.setdefault(target.name, []).append(word)
    return context


def _next_positional(context: _Context) -> Optional[Option]:
    assert context.command is not None
    for option in context.command.options:
        if option.takes_value and option.positional and option.name not in context.values:
            return option
        if option.type is OptType.ARGV:
            return option
    return None


def _ask(context: _Context, opener: Opener, close: bool, question: Callable[[Connection], list[str]]) -> list[str]:
    """Answer a question over a read-only connection; any failure means no candidates."""
    try:
        conn = opener(context.uri, True)
    except Exception:  # noqa: BLE001 - completion must never break the user's shell
        return []
    try:
        return sorted(question(conn))
    except Exception:  # noqa: BLE001
        return []
    finally:
        if close:
            try:
                conn.close()
            except VirtError:
                pass


def _values(option: Option, context: _Context, opener: Opener, close: bool) -> list[str]:
    if option.complete is Complete.DOMAIN:
        return _ask(context, opener, close, lambda conn: [d.name for d in conn.list_all_domains(0)])
    if option.complete is Complete.COMMAND:
        return command_names() + list(GROUPS)
    if option.complete is Complete.SNAPSHOT:
        domain = (context.values.get("domain") or [None])[0]
        if domain is None:
            return []
        return _ask(context, opener, close, lambda conn: conn.lookup_by_name(domain).snapshot_list_names())
    if option.complete is Complete.EVENT:
        from .cmd_events import EVENT_NAMES
        return list(EVENT_NAMES)
    return []


def _options_left(context: _Context) -> list[str]:
    assert context.command is not None
    return [f"--{o.name}" for o in context.command.options
            if o.name not in context.values or o.type is OptType.ARGV]


def complete(words: Sequence[str], opener: Opener, close: bool = True) -> list[str]:
    """Candidates for the last word of ``words`` (the words after the program name).

    ``opener(uri, read_only)`` gives the connection used to list domains and snapshots; it is closed afterwards
    unless ``close`` is False (the interactive shell lends its own connection).
    """
    if not words:
        words = [""]
    current = words[-1]
    context = _scan(words[:-1])
    if context.command is None:
        if words[:-1] and words[-2] in GLOBAL_WITH_VALUE:
            return []
        candidates = GLOBAL_FLAGS if current.startswith("-") else command_names()
        return [c for c in candidates if c.startswith(current)]
    if context.pending is not None:
        return [v for v in _values(context.pending, context, opener, close) if v.startswith(current)]
    if current.startswith("-"):
        return [o for o in _options_left(context) if o.startswith(current)]
    option = _next_positional(context)
    values = _values(option, context, opener, close) if option is not None else []
    if not values and option is not None and option.complete is Complete.FILE:
        return []
    candidates = values or _options_left(context)
    return [c for c in candidates if c.startswith(current)]

