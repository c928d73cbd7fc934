"""The declarative command table: every command's name, options, positional order, help and handler.

Help, argument parsing, error messages and shell completion are all derived from these definitions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from .parse import Arguments
    from .session import Session


class OptType(enum.Enum):
    """How an option takes its value."""

    BOOL = "bool"          # a flag: --live
    STRING = "string"      # one word: --file PATH
    NUMBER = "number"      # an integer, checked when the handler reads it
    SCALED = "scaled"      # an integer with an optional unit suffix (KiB by default)
    ARGV = "argv"          # the rest of the positional words (may repeat)


class Complete(enum.Enum):
    """What shell completion offers for an option's value."""

    NOTHING = "nothing"
    DOMAIN = "domain"
    FILE = "file"
    COMMAND = "command"
    SNAPSHOT = "snapshot"
    EVENT = "event"


@dataclass(frozen=True)
class Option:
    """One option of a command."""

    name: str
    type: OptType
    help: str
    required: bool = False
    positional: bool = True        # a non-bool option may also be given as the next bare word
    complete: Complete = Complete.NOTHING
    empty_ok: bool = False         # whether '' is a meaningful value (otherwise virsh refuses it)

    @property
    def takes_value(self) -> bool:
        """Whether the option is followed by a value."""
        return self.type is not OptType.BOOL

    @property
    def is_data(self) -> bool:
        """virsh names missing string arguments <name> and missing numbers --name."""
        return self.type in (OptType.STRING, OptType.ARGV)

    def synopsis(self) -> str:
        """The option as the SYNOPSIS line shows it."""
        if not self.takes_value:
            return f"[--{self.name}]"
        kind = "<string>" if self.is_data else "<number>"
        if self.type is OptType.ARGV:
            return f"[[--{self.name}] {kind}]..." if not self.required else f"<{self.name}>..."
        if self.required:
            return f"<{self.name}>" if self.positional else f"--{self.name} {kind}"
        return f"[--{self.name} {kind}]"


Handler = Callable[["Session", "Arguments"], Optional[bool]]


@dataclass(frozen=True)
class Command:
    """One command: its name, group, help text, options (in positional order) and handler."""

    name: str
    group: str
    help: str
    description: str
    options: tuple[Option, ...]
    handler: Handler
    needs_connection: bool = True
    aliases: tuple[str, ...] = field(default=())

    def option(self, name: str) -> Optional[Option]:
        """The option called ``name``, or None."""
        return next((o for o in self.options if o.name == name), None)


def domain_option(help: str = "domain name, id or uuid") -> Option:
    """The ubiquitous required <domain> argument."""
    return Option("domain", OptType.STRING, help, required=True, complete=Complete.DOMAIN)


def flag(name: str, help: str) -> Option:
    """A boolean option."""
    return Option(name, OptType.BOOL, help)


def impact_options(live: str = "affect running domain", config: str = "affect next boot",
                   current: str = "affect current domain") -> tuple[Option, ...]:
    """--config / --live / --current."""
    return (flag("config", config), flag("live", live), flag("current", current))


COMMANDS: dict[str, Command] = {}
GROUPS: dict[str, str] = {
    "domain": "Domain Management",
    "monitor": "Domain Monitoring",
    "host": "Host and Hypervisor",
    "snapshot": "Snapshot",
    "virsh": "virtkernel itself",
}


def command(name: str, help: str, *options: Option, group: str = "domain", description: str = "",
            needs_connection: bool = True, aliases: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
    """Register a command handler under ``name`` with its options (positional ones in order)."""

    def register(handler: Handler) -> Handler:
        names = [o.name for o in options]
        if len(names) != len(set(names)):
            raise ValueError(f"command {name}: duplicate option names")
        definition = Command(name, group, help, description or (handler.__doc__ or help).strip(), tuple(options),
                             handler, needs_connection, aliases)
        for key in (name, *aliases):
            if key in COMMANDS:
                raise ValueError(f"command {key} is defined twice")
            COMMANDS[key] = definition
        return handler

    return register


def lookup(name: str) -> Optional[Command]:
    """The command called ``name`` (or an alias), or None."""
    return COMMANDS.get(name)


def command_names() -> list[str]:
    """Every command's primary name, sorted."""
    return sorted({c.name for c in COMMANDS.values()})
