"""The two cgroup interfaces behind one set of operations: v1 (one hierarchy per controller) and v2 (unified)."""

from __future__ import annotations

import abc
import re
from pathlib import Path
from typing import Optional

from ..enums import ErrorDomain
from ..errors import InvalidArg, NoSupport
from .files import UNLIMITED_THRESHOLD, read_int, read_keyed, read_text, write_text

__all__ = ["CgroupBackend", "Cgroup1Backend", "Cgroup2Backend", "backend_for_version", "FreezeState",
           "shares_to_weight", "weight_to_shares"]

_CPU_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_DEVICE_RULE = re.compile(r"^(a|[bc] (\d+|\*):(\d+|\*) [rwm]{1,3})$")

CPU_PERIOD_MIN, CPU_PERIOD_MAX = 1000, 1000000
CPU_QUOTA_MIN = 1000


class FreezeState:
    """What a freezer reports."""

    THAWED = "thawed"
    FREEZING = "freezing"
    FROZEN = "frozen"


def shares_to_weight(shares: int) -> int:
    """v1 cpu.shares (2..262144, default 1024) to v2 cpu.weight (1..10000, default 100), nearest value."""
    shares = min(max(shares, 2), 262144)
    return round(1 + (shares - 2) * 9999 / 262142)


def weight_to_shares(weight: int) -> int:
    """v2 cpu.weight back to v1 cpu.shares (nearest value; shares_to_weight(1024) round-trips)."""
    weight = min(max(weight, 1), 10000)
    return round(2 + (weight - 1) * 262142 / 9999)


def _check_cpu_list(name: str, value: str) -> None:
    if not isinstance(value, str) or not _CPU_LIST.match(value.strip()):
        raise InvalidArg(f"{name} must be a list like '0-3,6', not {value!r}", domain=ErrorDomain.CGROUP)


def _parse_max(text: str) -> Optional[int]:
    text = text.strip()
    return None if text == "max" else int(text)


class CgroupBackend(abc.ABC):
    """Operations on one group directory; the subclass knows the file names and value formats of its version."""

    version: int = 0

    # -- membership
    def add_process(self, directory: Path, pid: int) -> None:
        """Move a process (all its threads) into the group."""
        write_text(directory / "cgroup.procs", str(pid))

    def procs(self, directory: Path) -> set[int]:
        """The processes directly in the group."""
        return {int(line) for line in read_text(directory / "cgroup.procs").split()}

    def prepare(self, directory: Path) -> None:
        """Make a freshly created directory usable before tasks join (v1 cpuset needs cpus and mems)."""

    # -- memory
    @abc.abstractmethod
    def set_memory_limit(self, directory: Path, limit: Optional[int]) -> None:
        """Hard memory limit in bytes (None: unlimited)."""

    @abc.abstractmethod
    def memory_limit(self, directory: Path) -> Optional[int]:
        """Hard memory limit in bytes, None when unlimited."""

    @abc.abstractmethod
    def set_memory_soft_limit(self, directory: Path, limit: Optional[int]) -> None:
        """Soft memory limit in bytes (None: unlimited)."""

    @abc.abstractmethod
    def memory_soft_limit(self, directory: Path) -> Optional[int]:
        """Soft memory limit in bytes, None when unlimited."""

    @abc.abstractmethod
    def set_swap_hard_limit(self, directory: Path, limit: Optional[int]) -> None:
        """Memory plus swap limit in bytes (libvirt's swap_hard_limit; None: unlimited)."""

    @abc.abstractmethod
    def swap_hard_limit(self, directory: Path) -> Optional[int]:
        """Memory plus swap limit in bytes, None when unlimited."""

    @abc.abstractmethod
    def memory_usage(self, directory: Path) -> int:
        """Memory charged to the group, in bytes."""

    @abc.abstractmethod
    def oom_kills(self, directory: Path) -> int:
        """How many processes the OOM killer killed in the group."""

    # -- cpu
    @abc.abstractmethod
    def set_cpu_shares(self, directory: Path, shares: int) -> None:
        """Relative CPU weight in v1 shares."""

    @abc.abstractmethod
    def cpu_shares(self, directory: Path) -> int:
        """Relative CPU weight in v1 shares."""

    @abc.abstractmethod
    def set_cpu_quota(self, directory: Path, period_us: int, quota_us: Optional[int]) -> None:
        """CPU bandwidth: quota_us of CPU time per period_us (None: unlimited)."""

    @abc.abstractmethod
    def cpu_quota(self, directory: Path) -> tuple[int, Optional[int]]:
        """(period_us, quota_us or None)."""

    @abc.abstractmethod
    def cpu_time_ns(self, directory: Path) -> int:
        """CPU time used by the group, in nanoseconds."""

    # -- cpuset
    def set_cpuset(self, directory: Path, cpus: str, mems: Optional[str]) -> None:
        """Allowed CPUs (and memory nodes)."""
        write_text(directory / "cpuset.cpus", cpus)
        if mems is not None:
            write_text(directory / "cpuset.mems", mems)

    @abc.abstractmethod
    def cpuset(self, directory: Path) -> str:
        """Allowed CPUs as a list like '0-3'."""

    @abc.abstractmethod
    def cpuset_mems(self, directory: Path) -> str:
        """Allowed memory nodes as a list like '0'."""

    # -- pids
    def set_pids_max(self, directory: Path, limit: Optional[int]) -> None:
        """Maximum number of tasks (None: unlimited)."""
        write_text(directory / "pids.max", "max" if limit is None else str(limit))

    def pids_max(self, directory: Path) -> Optional[int]:
        """Maximum number of tasks, None when unlimited."""
        return _parse_max(read_text(directory / "pids.max"))

    # -- block I/O
    @abc.abstractmethod
    def set_blkio_weight(self, directory: Path, weight: int) -> None:
        """Relative block I/O weight."""

    @abc.abstractmethod
    def blkio_weight(self, directory: Path) -> int:
        """Relative block I/O weight."""

    # -- devices
    def device_rules(self, directory: Path) -> list[str]:
        """The device access rules in force ('c 1:3 rwm' ...)."""
        raise NoSupport(f"cgroup v{self.version} has no device access files", domain=ErrorDomain.CGROUP)

    def allow_device(self, directory: Path, rule: str) -> None:
        """Allow access to devices matching a rule."""
        raise NoSupport(f"cgroup v{self.version} has no device access files", domain=ErrorDomain.CGROUP)

    def deny_device(self, directory: Path, rule: str) -> None:
        """Deny access to devices matching a rule ('a' denies everything)."""
        raise NoSupport(f"cgroup v{self.version} has no device access files", domain=ErrorDomain.CGROUP)

    # -- freezer
    @abc.abstractmethod
    def request_freeze(self, directory: Path, frozen: bool) -> None:
        """Ask the kernel to freeze (True) or thaw (False) the group."""

    @abc.abstractmethod
    def freeze_state(self, directory: Path) -> str:
        """FreezeState.THAWED, FREEZING or FROZEN."""

    # -- killing
    def kill_group(self, directory: Path) -> bool:
        """SIGKILL every process of the group atomically if this interface can; False when it cannot."""
        return False


class Cgroup1Backend(CgroupBackend):
    """cgroup v1: one hierarchy per controller (or co-mounted set), -1 for unlimited."""

    version = 1

    def prepare(self, directory: Path) -> None:
        if (directory / "cpuset.cpus").exists():
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not read_text(directory / name).strip():
                    write_text(directory / name, read_text(directory.parent / name).strip())

    @staticmethod
    def _read_limit(path: Path) -> Optional[int]:
        value = read_int(path)
        return None if value < 0 or value >= UNLIMITED_THRESHOLD else value

    def set_memory_limit(self, directory: Path, limit: Optional[int]) -> None:
        write_text(directory / "memory.limit_in_bytes", "-1" if limit is None else str(limit))

    def memory_limit(self, directory: Path) -> Optional[int]:
        return self._read_limit(directory / "memory.limit_in_bytes")

    def set_memory_soft_limit(self, directory: Path, limit: Optional[int]) -> None:
        write_text(directory / "memory.soft_limit_in_bytes", "-1" if limit is None else str(limit))

    def memory_soft_limit(self, directory: Path) -> Optional[int]:
        return self._read_limit(directory / "memory.soft_limit_in_bytes")

    def set_swap_hard_limit(self, directory: Path, limit: Optional[int]) -> None:
        write_text(directory / "memory.memsw.limit_in_bytes", "-1" if limit is None else str(limit))

    def swap_hard_limit(self, directory: Path) -> Optional[int]:
        return self._read_limit(directory / "memory.memsw.limit_in_bytes")

    def memory_usage(self, directory: Path) -> int:
        return read_int(directory / "memory.usage_in_bytes")

    def oom_kills(self, directory: Path) -> int:
        return int(read_keyed(directory / "memory.oom_control").get("oom_kill", "0"))

    def set_cpu_shares(self, directory: Path, shares: int) -> None:
        write_text(directory / "cpu.shares", str(shares))

    def cpu_shares(self, directory: Path) -> int:
        return read_int(directory / "cpu.shares")

    def set_cpu_quota(self, directory: Path, period_us: int, quota_us: Optional[int]) -> None:
        write_text(directory / "cpu.cfs_period_us", str(period_us))
        write_text(directory / "cpu.cfs_quota_us", "-1" if quota_us is None else str(quota_us))

    def cpu_quota(self, directory: Path) -> tuple[int, Optional[int]]:
        quota = read_int(directory / "cpu.cfs_quota_us")
        return read_int(directory / "cpu.cfs_period_us"), (None if quota < 0 else quota)

    def cpu_time_ns(self, directory: Path) -> int:
        return read_int(directory / "cpuacct.usage")

    def cpuset(self, directory: Path) -> str:
        return read_text(directory / "cpuset.cpus").strip()

    def cpuset_mems(self, directory: Path) -> str:
        return read_text(directory / "cpuset.mems").strip()

    def _weight_file(self, directory: Path) -> Path:
        for name in ("blkio.weight", "blkio.bfq.weight"):
            if (directory / name).exists():
                return directory / name
        raise NoSupport(f"no block I/O weight file in {directory} (the blkio controller offers neither "
                        "blkio.weight nor blkio.bfq.weight)", domain=ErrorDomain.CGROUP)

    def set_blkio_weight(self, directory: Path, weight: int) -> None:
        write_text(self._weight_file(directory), str(weight))

    def blkio_weight(self, directory: Path) -> int:
        text = read_text(self._weight_file(directory)).split()
        return int(text[-1])  # bfq may print "default N"

    def device_rules(self, directory: Path) -> list[str]:
        return [line for line in read_text(directory / "devices.list").splitlines() if line.strip()]

    def allow_device(self, directory: Path, rule: str) -> None:
        write_text(directory / "devices.allow", rule)

    def deny_device(self, directory: Path, rule: str) -> None:
        write_text(directory / "devices.deny", rule)

    def request_freeze(self, directory: Path, frozen: bool) -> None:
        write_text(directory / "freezer.state", "FROZEN" if frozen else "THAWED")

    def freeze_state(self, directory: Path) -> str:
        state = read_text(directory / "freezer.state").strip()
        return {"FROZEN": FreezeState.FROZEN, "FREEZING": FreezeState.FREEZING}.get(state, FreezeState.THAWED)


class Cgroup2Backend(CgroupBackend):
    """cgroup v2: one unified tree, "max" for unlimited, core files for freezing and killing."""

    version = 2

    @staticmethod
    def _write_max(path: Path, value: Optional[int]) -> None:
        write_text(path, "max" if value is None else str(value))

    def set_memory_limit(self, directory: Path, limit: Optional[int]) -> None:
        self._write_max(directory / "memory.max", limit)

    def memory_limit(self, directory: Path) -> Optional[int]:
        return _parse_max(read_text(directory / "memory.max"))

    def set_memory_soft_limit(self, directory: Path, limit: Optional[int]) -> None:
        self._write_max(directory / "memory.low", limit)

    def memory_soft_limit(self, directory: Path) -> Optional[int]:
        return _parse_max(read_text(directory / "memory.low"))

    def set_swap_hard_limit(self, directory: Path, limit: Optional[int]) -> None:
        # v2 limits swap alone (memory.swap.max); libvirt's value is memory plus swap.
        if limit is None:
            self._write_max(directory / "memory.swap.max", None)
            return
        memory = self.memory_limit(directory)
        if memory is None:
            raise InvalidArg("swap_hard_limit needs a memory limit first on cgroup v2", domain=ErrorDomain.CGROUP)
        if limit < memory:
            raise InvalidArg(f"swap_hard_limit ({limit}) must not be below the memory limit ({memory})",
                             domain=ErrorDomain.CGROUP)
        self._write_max(directory / "memory.swap.max", limit - memory)

    def swap_hard_limit(self, directory: Path) -> Optional[int]:
        swap = _parse_max(read_text(directory / "memory.swap.max"))
        memory = self.memory_limit(directory)
        return None if swap is None or memory is None else swap + memory

    def memory_usage(self, directory: Path) -> int:
        return read_int(directory / "memory.current")

    def oom_kills(self, directory: Path) -> int:
        return int(read_keyed(directory / "memory.events").get("oom_kill", "0"))

    def set_cpu_shares(self, directory: Path, shares: int) -> None:
        write_text(directory / "cpu.weight", str(shares_to_weight(shares)))

    def cpu_shares(self, directory: Path) -> int:
        return weight_to_shares(read_int(directory / "cpu.weight"))

    def set_cpu_quota(self, directory: Path, period_us: int, quota_us: Optional[int]) -> None:
        write_text(directory / "cpu.max", f"{'max' if quota_us is None else quota_us} {period_us}")

    def cpu_quota(self, directory: Path) -> tuple[int, Optional[int]]:
        quota, _, period = read_text(directory / "cpu.max").strip().partition(" ")
        return int(period), _parse_max(quota)

    def cpu_time_ns(self, directory: Path) -> int:
        return int(read_keyed(directory / "cpu.stat").get("usage_usec", "0")) * 1000

    def cpuset(self, directory: Path) -> str:
        own = read_text(directory / "cpuset.cpus").strip()
        return own or read_text(directory / "cpuset.cpus.effective").strip()

    def cpuset_mems(self, directory: Path) -> str:
        own = read_text(directory / "cpuset.mems").strip()
        return own or read_text(directory / "cpuset.mems.effective").strip()

    def _weight_file(self, directory: Path) -> Path:
        for name in ("io.weight", "io.bfq.weight"):
            if (directory / name).exists():
                return directory / name
        raise NoSupport(f"no I/O weight file in {directory} (the io controller offers neither io.weight nor "
                        "io.bfq.weight)", domain=ErrorDomain.CGROUP)

    def set_blkio_weight(self, directory: Path, weight: int) -> None:
        path = self._weight_file(directory)
        write_text(path, f"default {weight}" if path.name == "io.weight" else str(weight))

    def blkio_weight(self, directory: Path) -> int:
        text = read_text(self._weight_file(directory))
        first = text.splitlines()[0].split() if text else ["0"]
        return int(first[-1])  # "default 100"

    def request_freeze(self, directory: Path, frozen: bool) -> None:
        write_text(directory / "cgroup.freeze", "1" if frozen else "0")

    def freeze_state(self, directory: Path) -> str:
        if read_keyed(directory / "cgroup.events").get("frozen") == "1":
            return FreezeState.FROZEN
        wanted = read_text(directory / "cgroup.freeze").strip() == "1"
        return FreezeState.FREEZING if wanted else FreezeState.THAWED

    def kill_group(self, directory: Path) -> bool:
        if not (directory / "cgroup.kill").exists():
            return False
        write_text(directory / "cgroup.kill", "1")
        return True


_BACKENDS = {1: Cgroup1Backend(), 2: Cgroup2Backend()}


def backend_for_version(version: int) -> CgroupBackend:
    """The backend object for cgroup version 1 or 2."""
    return _BACKENDS[version]


def check_cpu_list(name: str, value: str) -> None:
    """InvalidArg unless value is a CPU or node list such as '0-3,6'."""
    _check_cpu_list(name, value)


def check_device_rule(rule: str) -> None:
    """InvalidArg unless rule is a v1 device rule: 'a', or '<b|c> <major|*>:<minor|*> <r|w|m...>'."""
    if not isinstance(rule, str) or not _DEVICE_RULE.match(rule):
        raise InvalidArg(f"device rule {rule!r} is not of the form 'c 1:3 rwm' or 'a'", domain=ErrorDomain.CGROUP)
