"""Help text, all derived from the command table."""

from __future__ import annotations

from .table import COMMANDS, GROUPS, Command, Option, OptType


def option_label(option: Option) -> str:
    """How an option is named in the OPTIONS list."""
    if option.type is OptType.BOOL:
        return f"--{option.name}"
    kind = "<string>" if option.is_data else "<number>"
    if option.required or option.type is OptType.ARGV:
        return f"[--{option.name}] {kind}"
    return f"--{option.name} {kind}"


def command_help(definition: Command) -> str:
    """``help COMMAND``: NAME, SYNOPSIS, DESCRIPTION and OPTIONS."""
    synopsis = " ".join([definition.name, *(o.synopsis() for o in definition.options)])
    lines = ["  NAME", f"    {definition.name} - {definition.help}", "", "  SYNOPSIS", f"    {synopsis}", ""]
    if definition.description:
        lines += ["  DESCRIPTION", f"    {definition.description}", ""]
    if definition.options:
        lines.append("  OPTIONS")
        for option in definition.options:
            lines.append(f"    {option_label(option):<15}  {option.help}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _unique_commands() -> list[Command]:
    seen: dict[str, Command] = {}
    for definition in COMMANDS.values():
        seen.setdefault(definition.name, definition)
    return sorted(seen.values(), key=lambda c: c.name)


def group_help(group: str) -> str:
    """The commands of one group."""
    lines = [f" {GROUPS[group]} (help keyword '{group}'):"]
    for definition in _unique_commands():
        if definition.group == group:
            lines.append(f"    {definition.name:<30} {definition.help}")
    return "\n".join(lines) + "\n\n"


def general_help() -> str:
    """``help``: every command, by group."""
    return "Grouping of commands:\n\n" + "".join(group_help(group) for group in GROUPS)
