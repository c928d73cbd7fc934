"""Entry point of the ``virtkernel`` console script: global options, one-shot commands, or the shell."""

from __future__ import annotations

import logging
import sys
import time
import traceback
import types
from typing import Optional, Sequence

from .. import __version__
from ..errors import VirtError
from . import commands  # noqa: F401 - registers every command in the table
from .errors import CliError, UsageError, describe
from .parse import Arguments, parse_command, split_argv, split_line
from .session import GlobalOptions, Opener, Session

USAGE = """
virtkernel [options]... [<command_string>]
virtkernel [options]... <command> [args...]

  options:
    -c | --connect=URI      hypervisor connection URI (default: $VIRTKERNEL_DEFAULT_URI)
    -d | --debug=NUM        debug level [0-4]
    -e | --escape <char>    set escape sequence for console
    -h | --help             this help
    -q | --quiet            quiet mode
    -r | --readonly         connect readonly
    -t | --timing           print timing information
    -v | --version          program version

  commands (non interactive mode):
    see 'virtkernel help' for the list; 'virtkernel help COMMAND' for one command;
    several commands may be separated by ';' (quote the whole line, or pass ';' as a word).
"""

# option letter -> (long name, takes a value)
GLOBAL_OPTIONS: dict[str, tuple[str, bool]] = {
    "c": ("connect", True), "d": ("debug", True), "e": ("escape", True), "h": ("help", False),
    "q": ("quiet", False), "r": ("readonly", False), "t": ("timing", False), "v": ("version", False),
    "V": ("version", False),
}
LONG_TO_SHORT = {"connect": "c", "debug": "d", "escape": "e", "help": "h", "quiet": "q", "readonly": "r",
                 "timing": "t", "version": "v"}


def parse_global(argv: Sequence[str]) -> tuple[GlobalOptions, list[str], Optional[str]]:
    """Options before the command (stopping at the first word that is not one): options, rest, action."""
    options = GlobalOptions()
    action: Optional[str] = None
    args = list(argv)
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            i += 1
            break
        if not word.startswith("-") or word == "-":
            break
        i += 1
        pairs: list[tuple[str, Optional[str]]] = []
        if word.startswith("--"):
            name, has_value, value = word[2:].partition("=")
            letter = LONG_TO_SHORT.get(name)
            if letter is None:
                raise UsageError(f"unsupported option '{word}'. See --help.")
            pairs.append((letter, value if has_value else None))
        else:
            letters = word[1:]
            j = 0
            while j < len(letters):
                letter = letters[j]
                if letter not in GLOBAL_OPTIONS:
                    raise UsageError(f"unsupported option '-{letter}'. See --help.")
                if GLOBAL_OPTIONS[letter][1] and j + 1 < len(letters):
                    pairs.append((letter, letters[j + 1:]))
                    break
                pairs.append((letter, None))
                j += 1
        for letter, value in pairs:
            long_name, takes_value = GLOBAL_OPTIONS[letter]
            if takes_value and value is None:
                if i >= len(args):
                    raise UsageError(f"option '-{letter}'/'--{long_name}' requires an argument")
                value = args[i]
                i += 1
            action = _apply(options, letter, value) or action
    return options, args[i:], action


def _apply(options: GlobalOptions, letter: str, value: Optional[str]) -> Optional[str]:
    if letter == "c":
        options.uri = value
    elif letter == "d":
        try:
            level = int(value or "", 10)
        except ValueError:
            raise UsageError("option -d takes a numeric argument") from None
        if not 0 <= level <= 4:
            sys.stderr.write(f"error: ignoring debug level {level} out of range [0-4]\n")
        else:
            options.debug = level
    elif letter == "e":
        from .cmd_console import escape_byte
        escape_byte(value or "")  # refuse a bad escape before anything runs, like virsh
        options.escape = value or ""
    elif letter == "q":
        options.quiet = True
    elif letter == "r":
        options.read_only = True
    elif letter == "t":
        options.timing = True
    elif letter == "h":
        return "help"
    elif letter in ("v", "V"):
        return "version"
    return None


def configure_logging(level: int) -> None:
    """-d 0 shows everything down to debug messages, -d 4 only errors (virsh's levels)."""
    if level < 0:
        return
    python_level = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR, 4: logging.CRITICAL}[level]
    logging.basicConfig(level=python_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def parse_all(session: Session, words_list: list[list[str]]) -> Optional[list[Arguments]]:
    """Parse every command of a line first; a usage error anywhere means nothing runs."""
    try:
        return [parse_command(words) for words in words_list]
    except UsageError as exc:
        for text in exc.lines():
            session.stderr.write(text + "\n")
        return None


def run_one(session: Session, args: Arguments) -> bool:
    """Run one parsed command and report its failure; True on success."""
    try:
        if args.command.needs_connection:
            _ = session.conn
        result = args.command.handler(session, args)
        return result is None or bool(result)
    except CliError as exc:
        _report(session, exc.lines())
    except VirtError as exc:
        _report(session, [f"error: {describe(exc)}"])
    except AttributeError as exc:
        missing = _missing_kernel_api(exc)
        if missing is None:
            _report_unexpected(session, exc)
        else:
            _report(session, [f"error: this function is not supported by this virtkernel kernel: {missing}"])
    except KeyboardInterrupt:
        _report(session, ["error: interrupted"])
    except Exception as exc:  # noqa: BLE001 - the command line never shows a traceback unless asked to
        _report_unexpected(session, exc)
    return False


def _missing_kernel_api(exc: AttributeError) -> Optional[str]:
    """``Domain.migrate3`` when the kernel lacks a public name the command calls; None for any other bug."""
    owner, name = getattr(exc, "obj", None), getattr(exc, "name", None)
    if owner is None or not name:
        return None
    if isinstance(owner, types.ModuleType):
        module, label = owner.__name__, owner.__name__
    else:
        module, label = type(owner).__module__, type(owner).__name__
    if module.startswith("virtkernel") and not module.startswith("virtkernel.cli"):
        return f"{label}.{name}"
    return None


def _report(session: Session, lines: list[str]) -> None:
    session.stdout.flush()
    for text in lines:
        session.stderr.write(text + "\n")
    session.stderr.flush()


def _report_unexpected(session: Session, exc: BaseException) -> None:
    if session.options.debug >= 0:
        traceback.print_exception(exc, file=session.stderr)
    _report(session, [f"error: internal error: {type(exc).__name__}: {exc}"])


def run_commands(session: Session, words_list: list[list[str]]) -> int:
    """Run a line of commands like virsh: each is followed by an empty line; the last one's result counts."""
    parsed = parse_all(session, words_list)
    if parsed is None:
        return 1
    ok = True
    for args in parsed:
        if args.command.needs_connection and not session.connected:
            try:
                _ = session.conn
            except CliError as exc:
                _report(session, exc.lines())
                if not session.interactive:
                    return 1
                ok = False
                continue
        started = time.monotonic()
        ok = run_one(session, args)
        if args.command.name in ("quit", "exit"):
            break
        if session.options.timing:
            session.write(f"\n(Time: {(time.monotonic() - started) * 1000:.3f} ms)\n\n")
        else:
            session.extra("\n")
        session.stdout.flush()
    return 0 if ok else 1


def main(argv: Optional[Sequence[str]] = None, opener: Optional[Opener] = None) -> int:
    """Run the command line and return its exit status (0 success, 1 failure)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        options, rest, action = parse_global(args)
    except UsageError as exc:
        sys.stderr.write("\n".join(exc.lines()) + "\n")
        return 1
    if action == "help":
        sys.stdout.write(USAGE)
        return 0
    if action == "version":
        sys.stdout.write(f"{__version__}\n")
        return 0
    configure_logging(options.debug)
    session = Session(options, opener)
    try:
        if not rest:
            from .shell import run_shell
            return run_shell(session)
        try:
            words_list = split_line(rest[0]) if len(rest) == 1 else split_argv(rest)
        except UsageError as exc:
            _report(session, exc.lines())
            return 1
        return run_commands(session, words_list)
    except BrokenPipeError:
        _quiet_broken_pipe()
        return 1
    except KeyboardInterrupt:  # Ctrl-C outside a command (e.g. while connecting)
        sys.stderr.write("\n")
        return 1
    finally:
        session.close()
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _quiet_broken_pipe()


def _quiet_broken_pipe() -> None:
    """The reader went away (``virtkernel list | head``): stop writing without a traceback."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
