"""Every command module, imported once so their commands register in the table."""

from . import (cmd_console, cmd_domain, cmd_events, cmd_host, cmd_jobs, cmd_monitor, cmd_shell,  # noqa: F401
               cmd_snapshot, cmd_tuning)
