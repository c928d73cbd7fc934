"""Commands about virtkernel itself: help, the shell, connect, completion."""

from __future__ import annotations

from .completion import bash_script, complete
from .errors import CliError
from .help import command_help, general_help, group_help
from .parse import Arguments, find_command
from .session import Session
from .table import GROUPS, Complete, Option, OptType, command, flag


@command("help", "print help",
         Option("command", OptType.STRING, "Prints global help, command specific help, or help for a group of "
                "related commands", complete=Complete.COMMAND),
         group="virsh", needs_connection=False, description="Prints global help, command specific help, or help "
                                                            "for a group of related commands")
def cmd_help(session: Session, args: Arguments) -> None:
    """Prints global help, command specific help, or help for a group of related commands."""
    name = args.string("command")
    if name is None:
        session.write(general_help())
    elif name in GROUPS:
        session.write(group_help(name))
    else:
        try:
            definition = find_command(name)
        except CliError as exc:
            raise CliError(f"command or command group '{name}' doesn't exist", hint=exc.hint) from None
        session.write(command_help(definition))


@command("quit", "quit this interactive terminal", group="virsh", needs_connection=False, aliases=("exit",),
         description="quit this interactive terminal")
def cmd_quit(session: Session, args: Arguments) -> None:
    """Quit this interactive terminal."""


@command("shell", "start the interactive shell", group="virsh", needs_connection=False,
         description="Read commands from a prompt with history and completion (also what virtkernel does when "
                     "run without a command).")
def cmd_shell(session: Session, args: Arguments) -> bool:
    """Start the interactive shell."""
    if session.interactive:
        raise CliError("already in the interactive shell")
    from .shell import run_shell
    return run_shell(session) == 0


@command("connect", "(re)connect to hypervisor",
         Option("name", OptType.STRING, "hypervisor connection URI"), flag("readonly", "read-only connection"),
         group="virsh", needs_connection=False,
         description="Connect to local hypervisor. This is built-in command after shell start up.")
def cmd_connect(session: Session, args: Arguments) -> None:
    """(Re)connect to a hypervisor."""
    session.reconnect(args.string("name", session.options.uri), args.flag("readonly"))


@command("completion", "print a shell completion script",
         Option("shell", OptType.STRING, "the shell: bash", required=True),
         group="virsh", needs_connection=False,
         description="Print the completion script for a shell (only bash so far); e.g. "
                     "source <(virtkernel completion bash).")
def cmd_completion(session: Session, args: Arguments) -> None:
    """Print a shell completion script."""
    shell = args.string("shell")
    if shell != "bash":
        raise CliError(f"no completion script for shell '{shell}' (available: bash)")
    session.write(bash_script())


@command("complete", "complete a command line (used by the completion script)",
         Option("words", OptType.ARGV, "the words typed so far; the last one is being completed"),
         group="virsh", needs_connection=False,
         description="Print the candidates for the last word, one per line (internal helper of the bash "
                     "completion script).")
def cmd_complete(session: Session, args: Arguments) -> None:
    """Print completion candidates for the last word."""
    for candidate in complete(args.strings("words"), session.opener):
        session.line(candidate)
