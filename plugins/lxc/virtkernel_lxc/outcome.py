"""How a container stopped: the reason and the init's exit status, as kept in exit.json."""

from __future__ import annotations

import enum
import os
import signal
from dataclasses import asdict, dataclass
from typing import Any, Optional

__all__ = ["StopReason", "ExitInfo"]


class StopReason(str, enum.Enum):
    """Why the container stopped."""

    EXITED = "exited"  # init exited by itself (or halted the container from inside)
    SHUTDOWN = "shutdown"  # init exited after a shutdown request
    DESTROYED = "destroyed"  # destroy killed it
    CRASHED = "crashed"  # init was killed by a signal nobody asked for (e.g. SIGKILL from the OOM killer)
    FAILED = "failed"  # a reboot could not start the container again


@dataclass(frozen=True)
class ExitInfo:
    """The end of a container: reason, init's raw wait status, exit code or signal, OOM kills seen."""

    reason: StopReason
    status: Optional[int]
    exit_code: Optional[int]
    signal: Optional[int]
    oom_kills: int = 0
    error: Optional[str] = None
    boots: int = 1
    finished_at: float = 0.0

    @property
    def oom(self) -> bool:
        """True if the OOM killer killed any process of the container."""
        return self.oom_kills > 0

    @classmethod
    def from_status(cls, reason: StopReason, status: Optional[int], **extra: Any) -> "ExitInfo":
        """Build from a waitpid status."""
        code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None
        sig = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None
        return cls(reason=reason, status=status, exit_code=code, signal=sig, **extra)

    def describe(self) -> str:
        """A sentence for people: 'exited with status 0', 'crashed (killed by SIGKILL)'..."""
        if self.signal is not None:
            how = f"killed by {signal.Signals(self.signal).name}"
        elif self.exit_code is not None:
            how = f"exit status {self.exit_code}"
        else:
            how = "no exit status"
        return f"{self.reason.value} ({how})" + (f": {self.error}" if self.error else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        data = asdict(self)
        data["reason"] = self.reason.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExitInfo":
        """Rebuild from to_dict's output."""
        data = dict(data)
        data["reason"] = StopReason(data["reason"])
        return cls(**data)
