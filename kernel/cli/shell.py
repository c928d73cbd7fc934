"""The interactive shell: a prompt with readline editing, completion and a history file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

from .errors import UsageError
from .session import Session

HISTORY_LENGTH = 500


def history_path() -> Path:
    """$XDG_STATE_HOME/virtkernel/history (default ~/.local/state/virtkernel/history)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "virtkernel" / "history"


def _setup_readline(session: Session) -> Optional[object]:
    try:
        import readline
    except ImportError:
        return None
    from .completion import complete
    from .parse import split_line

    def completer(text: str, state: int) -> Optional[str]:
        segment = readline.get_line_buffer()[:readline.get_endidx()].rsplit(";", 1)[-1]
        try:
            parsed = split_line(segment)
        except UsageError:
            return None
        words = parsed[0] if parsed else []
        if not segment or segment[-1].isspace():
            words = [*words, ""]
        options = complete(words, lambda _uri, _ro: session.conn, close=False)
        options = [o for o in options if o.startswith(text)]
        return options[state] + " " if state < len(options) else None

    readline.set_completer(completer)
    readline.set_completer_delims(" \t;")
    readline.parse_and_bind("tab: complete")
    path = history_path()
    try:
        readline.read_history_file(str(path))
    except (FileNotFoundError, OSError):
        pass
    readline.set_history_length(HISTORY_LENGTH)
    return readline


def _save_history(readline: Optional[object]) -> None:
    if readline is None:
        return
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(str(path))  # type: ignore[attr-defined]
    except OSError as exc:
        sys.stderr.write(f"error: cannot save the history to {path}: {exc.strerror}\n")


def prompt(session: Session) -> str:
    """``virtkernel # `` (root), ``virtkernel $ `` (others) or ``virtkernel > `` (read-only), like virsh."""
    if session.options.read_only:
        return "virtkernel > "
    return "virtkernel # " if os.geteuid() == 0 else "virtkernel $ "


def run_shell(session: Session) -> int:
    """Read commands until ``quit``/``exit`` or end of input; the status of the last command is returned."""
    from .main import run_commands
    from .parse import split_line

    session.interactive = True
    interactive_terminal = sys.stdin.isatty()
    readline = _setup_readline(session) if interactive_terminal else None
    if interactive_terminal and not session.options.quiet:
        session.write("Welcome to virtkernel, the virtualization interactive terminal.\n\n"
                      "Type:  'help' for help with commands\n"
                      "       'quit' to quit\n\n")
    status = 0
    try:
        while True:
            try:
                line = input(prompt(session)) if interactive_terminal else sys.stdin.readline()
            except EOFError:
                session.write("\n")
                break
            except KeyboardInterrupt:
                session.write("\n")
                continue
            if not interactive_terminal and line == "":
                break
            try:
                words_list = split_line(line)
            except UsageError as exc:
                for text in exc.lines():
                    session.stderr.write(text + "\n")
                status = 1
                continue
            if not words_list:
                continue
            status = run_commands(session, words_list)
            if any(words and words[0] in ("quit", "exit") for words in words_list):
                break
    finally:
        _save_history(readline)
    return status
