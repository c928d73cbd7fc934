"""Command lines into commands: splitting on ``;`` with shell-like quoting, then each command's arguments."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

from ..enums import ErrorCode
from ..errors import InvalidArg
from .errors import CliError, UsageError
from .table import Command, Option, OptType, command_names, lookup

Value = Union[bool, str, list[str]]

SCALE_SUFFIXES: dict[str, int] = {
    "b": 1, "byte": 1, "bytes": 1,
    "k": 1024, "kib": 1024, "kb": 1000,
    "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
    "g": 1024**3, "gib": 1024**3, "gb": 1000**3,
    "t": 1024**4, "tib": 1024**4, "tb": 1000**4,
    "p": 1024**5, "pib": 1024**5, "pb": 1000**5,
    "e": 1024**6, "eib": 1024**6, "eb": 1000**6,
}
ULLONG_MAX = 2**64 - 1


def split_line(text: str) -> list[list[str]]:
    """Split a line into commands (``;`` separated) of words, honouring quotes, backslashes and ``#`` comments."""
    commands: list[list[str]] = []
    words: list[str] = []
    word: list[str] = []
    in_word = False
    quote: Optional[str] = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"' and i + 1 < len(text):
                i += 1
                word.append(text[i])
            else:
                word.append(ch)
        elif ch in "'\"":
            quote = ch
            in_word = True
        elif ch == "\\" and i + 1 < len(text):
            i += 1
            word.append(text[i])
            in_word = True
        elif ch.isspace() or ch == ";":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            if ch == ";":
                commands.append(words)
                words = []
        elif ch == "#" and not in_word:
            break
        else:
            word.append(ch)
            in_word = True
        i += 1
    if quote:
        raise UsageError("dangling quote")
    if in_word:
        words.append("".join(word))
    commands.append(words)
    return [c for c in commands if c]


def split_argv(argv: Sequence[str]) -> list[list[str]]:
    """Words given as separate program arguments: a lone ``;`` separates commands."""
    commands: list[list[str]] = [[]]
    for word in argv:
        if word == ";":
            commands.append([])
        else:
            commands[-1].append(word)
    return [c for c in commands if c]


def closest(word: str, candidates: Sequence[str]) -> Optional[str]:
    """The candidate most like ``word``, if any is close enough to be a likely typo."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass
class Arguments:
    """A command's parsed arguments; typed getters convert (and report bad values) when the handler asks."""

    command: Command
    values: dict[str, Value] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        """Whether the option was given."""
        return name in self.values

    def flag(self, name: str) -> bool:
        """A boolean option."""
        return bool(self.values.get(name, False))

    def string(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """A string option's value; an empty one is refused unless the option accepts it."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return default
        option = self.command.option(name)
        if value == "" and option is not None and not option.empty_ok:
            raise CliError(f"Failed to get option '{name}': Option argument is empty")
        return value

    def strings(self, name: str) -> list[str]:
        """An ARGV option's words."""
        value = self.values.get(name)
        return list(value) if isinstance(value, list) else []

    def number(self, name: str, default: Optional[int] = None, minimum: Optional[int] = None,
               maximum: Optional[int] = None) -> Optional[int]:
        """An integer option; a malformed or out-of-range value names the option and the value."""
        text = self.string(name)
        if text is None:
            return default
        try:
            value = int(text, 10)
        except ValueError:
            value = None
        if value is None or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise CliError(f"Numeric value '{text}' for <{name}> option is malformed or out of range")
        return value

    def scaled(self, name: str, unit: int = 1024, default: Optional[int] = None,
               maximum: int = ULLONG_MAX) -> Optional[int]:
        """A size with an optional suffix (b, KiB, MB, G, ...), returned in multiples of ``unit`` bytes."""
        text = self.string(name)
        if text is None:
            return default
        malformed = f"Scaled numeric value '{text}' for <{name}> option is malformed or out of range"
        digits = text
        while digits and not digits[-1].isdigit():
            digits = digits[:-1]
        suffix = text[len(digits):]
        try:
            number = int(digits, 10)
        except ValueError:
            raise CliError(malformed) from None
        if number < 0:
            raise CliError(malformed)
        scale = unit if not suffix else SCALE_SUFFIXES.get(suffix.lower())
        if scale is None:
            raise CliError(malformed, cause=_unknown_suffix(suffix))
        value = number * scale
        if value > maximum:
            raise CliError(malformed)
        return value // unit if value % unit == 0 else -(-value // unit)


def _unknown_suffix(suffix: str) -> InvalidArg:
    return InvalidArg(f"unknown suffix '{suffix}'", code=ErrorCode.INVALID_ARG)


def find_command(name: str) -> Command:
    """The command called ``name``, or a UsageError that names the closest real command."""
    definition = lookup(name)
    if definition is None:
        guess = closest(name, command_names())
        raise UsageError(f"unknown command: '{name}'", hint=f"did you mean '{guess}'?" if guess else None)
    return definition


def parse_command(words: Sequence[str]) -> Arguments:
    """One command's words (name first) into Arguments, with virsh's rules and messages."""
    definition = find_command(words[0])
    args = Arguments(definition)
    positional = [o for o in definition.options if o.takes_value and o.positional and o.type is not OptType.ARGV]
    argv_option = next((o for o in definition.options if o.type is OptType.ARGV), None)
    only_data = False
    rest = list(words[1:])
    i = 0
    while i < len(rest):
        word = rest[i]
        i += 1
        if not only_data and word == "--":
            only_data = True
            continue
        if not only_data and word.startswith("--") and len(word) > 2:
            name, has_inline, inline = word[2:].partition("=")
            option = definition.option(name)
            if option is None:
                guess = closest(name, [o.name for o in definition.options])
                raise UsageError(f"command '{definition.name}' doesn't support option --{name}",
                                 hint=f"did you mean --{guess}?" if guess else None)
            if option.name in args.values and option.type is not OptType.ARGV:
                raise UsageError(f"option --{option.name} already seen")
            if not option.takes_value:
                if has_inline:
                    raise UsageError(f"option --{option.name} does not take a value")
                args.values[option.name] = True
                continue
            if has_inline:
                value = inline
            elif i < len(rest):
                value = rest[i]
                i += 1
            else:
                kind = "<string>" if option.is_data else "<number>"
                raise UsageError(f"expected syntax: --{option.name} {kind}")
            _store(args, option, value)
            continue
        target = next((o for o in positional if o.name not in args.values), None)
        if target is not None:
            _store(args, target, word)
        elif argv_option is not None:
            _store(args, argv_option, word)
        else:
            raise UsageError(f"unexpected data '{word}'")
    for option in definition.options:
        if option.required and option.name not in args.values:
            shown = f"<{option.name}>" if option.is_data else f"--{option.name}"
            raise UsageError(f"command '{definition.name}' requires {shown} option")
    return args


def _store(args: Arguments, option: Option, value: str) -> None:
    if option.type is OptType.ARGV:
        existing = args.values.setdefault(option.name, [])
        assert isinstance(existing, list)
        existing.append(value)
    else:
        args.values[option.name] = value
