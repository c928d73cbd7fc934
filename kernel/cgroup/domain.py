"""A domain's cgroup: one directory per hierarchy below this process's own group, limits, freezing, killing."""

from __future__ import annotations

import errno
import itertools
import os
import signal
import time
from pathlib import Path
from typing import Iterator, Mapping, Optional

from ..command import pid_alive
from ..enums import ErrorCode, ErrorDomain
from ..errors import InvalidArg, NoSupport, OperationFailed, SystemError_, VirtError
from .backends import (
    CPU_PERIOD_MAX, CPU_PERIOD_MIN, CPU_QUOTA_MIN, CgroupBackend, FreezeState, backend_for_version,
    check_cpu_list, check_device_rule,
)
from .files import check_non_negative, read_text
from .layout import V2_NAMES, CgroupLayout, Controller, Hierarchy, detect_layout

__all__ = ["DomainCgroup", "sanitize_name", "GROUP_ROOT", "SPARE_PREFIX"]

GROUP_ROOT = "virtkernel"
"""The directory below this process's own cgroup that holds every driver's groups."""

SPARE_PREFIX = ".spare-"
"""Leaf name prefix of spare groups (create_spare); sanitize_name never yields a dot, so no domain collides."""

_spare_numbers = itertools.count(1)

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_RESERVED = frozenset({"tasks"})  # v1 interface file without a dot: a group of that name would collide


def sanitize_name(name: str) -> str:
    """A directory name for a driver or domain name: bytes outside [A-Za-z0-9-] become _HH (reversible)."""
    if not isinstance(name, str) or not name:
        raise InvalidArg(f"cgroup name must be a non-empty string, not {name!r}", domain=ErrorDomain.CGROUP)
    out = "".join(ch if ch in _SAFE else "".join(f"_{b:02x}" for b in ch.encode()) for ch in name)
    if out in _RESERVED:
        out = f"_{ord(out[0]):02x}{out[1:]}"
    return out


def _sleep_step(attempt: int) -> float:
    return min(0.001 * (2 ** attempt), 0.05)


def _timeout_error(message: str) -> OperationFailed:
    return OperationFailed(message, code=ErrorCode.OPERATION_TIMEOUT, domain=ErrorDomain.CGROUP)


class DomainCgroup:
    """The cgroup of one domain: `<own cgroup>/virtkernel/<driver>/<name>` in every hierarchy in use."""

    def __init__(self, driver: str, name: str, layout: CgroupLayout, dirs: dict[Hierarchy, Path]) -> None:
        self.driver = driver
        self.name = name
        self.layout = layout
        self._dirs = dirs

    def __repr__(self) -> str:
        return f"DomainCgroup(driver={self.driver!r}, name={self.name!r})"

    # ------------------------------------------------------------------ creating and finding

    @staticmethod
    def _default_dirs(driver: str, name: str, layout: CgroupLayout) -> dict[Hierarchy, Path]:
        return DomainCgroup._dirs_for(driver, sanitize_name(name), layout)

    @staticmethod
    def _dirs_for(driver: str, leaf: str, layout: CgroupLayout) -> dict[Hierarchy, Path]:
        relative = Path(GROUP_ROOT, sanitize_name(driver), leaf)
        return {h: h.own_dir / relative for h in layout.group_hierarchies}

    @classmethod
    def create(cls, driver: str, name: str, layout: Optional[CgroupLayout] = None) -> "DomainCgroup":
        """Create (or reuse) the domain's group in every hierarchy; cpuset groups get their parent's cpus/mems."""
        layout = layout or detect_layout()
        dirs = cls._default_dirs(driver, name, layout)
        cls._make_groups(layout, dirs)
        return cls(driver, name, layout, dirs)

    @classmethod
    def create_spare(cls, driver: str, layout: Optional[CgroupLayout] = None) -> "DomainCgroup":
        """A group under a unique placeholder name, for processes started before their domain is known.

        Joining a group is the slow part of confining a process (the first cgroup migration after a quiet
        spell waits for an RCU grace period, several ms), renaming one is not: processes join a spare group
        ahead of time and claim() later gives it the domain's name.
        """
        layout = layout or detect_layout()
        leaf = f"{SPARE_PREFIX}{os.getpid()}-{next(_spare_numbers)}"
        dirs = cls._dirs_for(driver, leaf, layout)
        cls._make_groups(layout, dirs)
        return cls(driver, leaf, layout, dirs)

    @property
    def is_spare(self) -> bool:
        """True for a group made by create_spare and not claimed yet."""
        return self.name.startswith(SPARE_PREFIX)

    def claim(self, name: str) -> "DomainCgroup":
        """Turn this spare group into domain `name`'s group (returned; this object is spent).

        v1 directories are renamed to the domain's name. The kernel refuses to rename v2 directories, so
        those keep the placeholder name: record placement() to find the group again (placed()). A leftover
        empty group of the same name is replaced; one with processes in it is an error.
        """
        claimed = self.as_claimed(name)
        renamed: list[tuple[Path, Path]] = []
        try:
            for hierarchy, directory in self._dirs.items():
                target = claimed._dirs[hierarchy]
                if target != directory:
                    self._rename_group(directory, target)
                    renamed.append((directory, target))
        except BaseException:
            for source, target in reversed(renamed):
                try:
                    os.rename(target, source)
                except OSError:
                    pass
            raise
        return claimed

    def as_claimed(self, name: str) -> "DomainCgroup":
        """The group claim(name) makes of this spare group, computed without touching any directory (for a
        process that learns of a claim another process made)."""
        if not self.is_spare:
            raise InvalidArg(f"cgroup {self.name!r} is not a spare group", domain=ErrorDomain.CGROUP)
        leaf = sanitize_name(name)
        dirs = {hierarchy: directory if hierarchy.version == 2 else directory.parent / leaf
                for hierarchy, directory in self._dirs.items()}
        return DomainCgroup(self.driver, name, self.layout, dirs)

    @classmethod
    def _rename_group(cls, source: Path, target: Path) -> None:
        """Rename a v1 group directory, replacing an empty leftover of the target name."""
        for attempt in range(2):
            try:
                os.rename(source, target)
                return
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EBUSY) or attempt:
                    raise SystemError_(f"cannot rename cgroup directory {source} to {target.name}: "
                                       f"{os.strerror(exc.errno or 0)}", domain=ErrorDomain.CGROUP) from exc
            cls._remove_leftover(target)

    @classmethod
    def _remove_leftover(cls, directory: Path) -> None:
        """Delete an empty group left behind (e.g. by a crashed owner); refuse one that has processes."""
        groups = list(cls._walk(directory))
        for group in groups:
            try:
                with open(group / "cgroup.procs") as procs:
                    busy = bool(procs.read().split())
            except FileNotFoundError:
                continue
            if busy:
                raise OperationFailed(f"cgroup {directory} already exists and has processes in it",
                                      domain=ErrorDomain.CGROUP)
        for group in reversed(groups):
            cls._rmdir(group)

    def placement(self) -> dict[str, str]:
        """Where the group lives: directory per hierarchy mount point (see placed())."""
        return {str(h.mount_point): str(d) for h, d in self._dirs.items()}

    @classmethod
    def placed(cls, driver: str, name: str, layout: CgroupLayout,
               placement: Mapping[str, str]) -> "Optional[DomainCgroup]":
        """The group of a domain whose directories placement() recorded, or None when none exists any more.

        Only directories of this driver's groups are accepted; other hierarchies use the default location.
        """
        dirs = cls._default_dirs(driver, name, layout)
        for hierarchy in dirs:
            recorded = placement.get(str(hierarchy.mount_point))
            driver_dir = hierarchy.own_dir / GROUP_ROOT / sanitize_name(driver)
            if isinstance(recorded, str) and Path(recorded).parent == driver_dir:
                dirs[hierarchy] = Path(recorded)
        if not any(d.is_dir() for d in dirs.values()):
            return None
        return cls(driver, name, layout, dirs)

    @classmethod
    def remove_abandoned_spares(cls, driver: str, layout: Optional[CgroupLayout] = None) -> int:
        """Remove spare groups whose creating process is gone (and their processes); how many were removed."""
        layout = layout or detect_layout()
        leaves: set[str] = set()
        for hierarchy in layout.group_hierarchies:
            try:
                with os.scandir(hierarchy.own_dir / GROUP_ROOT / sanitize_name(driver)) as entries:
                    leaves |= {e.name for e in entries if e.is_dir() and e.name.startswith(SPARE_PREFIX)}
            except FileNotFoundError:
                continue
        removed = 0
        for leaf in sorted(leaves):
            owner = leaf[len(SPARE_PREFIX):].split("-", 1)[0]
            if owner.isdigit() and pid_alive(int(owner)):
                continue
            try:
                cls(driver, leaf, layout, cls._dirs_for(driver, leaf, layout)).remove()
                removed += 1
            except VirtError:
                pass  # tried again by the next caller
        return removed

    @classmethod
    def _make_groups(cls, layout: CgroupLayout, dirs: dict[Hierarchy, Path]) -> None:
        for hierarchy, directory in dirs.items():
            for attempt in range(5):
                try:
                    cls._make_group(layout, hierarchy, directory)
                    break
                except FileNotFoundError:
                    # A concurrent remove() dropped an empty parent between our mkdirs: start over.
                    if attempt == 4:
                        raise SystemError_(f"cannot create cgroup directory {directory}: its parent keeps "
                                           "disappearing", domain=ErrorDomain.CGROUP) from None

    @classmethod
    def _make_group(cls, layout: CgroupLayout, hierarchy: Hierarchy, directory: Path) -> None:
        backend = backend_for_version(hierarchy.version)
        current = hierarchy.own_dir
        for part in directory.relative_to(hierarchy.own_dir).parts:
            if hierarchy.version == 2:
                cls._enable_v2_controllers(layout, current)
            current = current / part
            try:
                os.mkdir(current)
            except FileExistsError:
                pass
            except FileNotFoundError:
                raise
            except OSError as exc:
                raise SystemError_(f"cannot create cgroup directory {current}: {os.strerror(exc.errno or 0)}",
                                   domain=ErrorDomain.CGROUP) from exc
            try:
                backend.prepare(current)
            except NoSupport:
                raise FileNotFoundError(current) from None  # removed under us

    @staticmethod
    def _enable_v2_controllers(layout: CgroupLayout, directory: Path) -> None:
        """Delegate the v2-served controllers to children of directory (best effort: a refusal shows later
        as the controller's files missing in the domain's group)."""
        names = [V2_NAMES[c] for c, h in layout.controllers.items() if h is layout.unified and V2_NAMES[c]]
        if not names:
            return
        try:
            enabled = set(read_text(directory / "cgroup.subtree_control").split())
        except VirtError:
            return
        for v2_name in sorted(set(names) - enabled):
            try:
                with open(directory / "cgroup.subtree_control", "w") as f:
                    f.write(f"+{v2_name}")
            except OSError:
                pass

    @classmethod
    def find(cls, driver: str, name: str, layout: Optional[CgroupLayout] = None, *,
             pid: Optional[int] = None) -> "Optional[DomainCgroup]":
        """The existing group of a domain, or None. With pid, locate it from that process's membership
        (/proc/PID/cgroup), which also works from a process whose own cgroups differ from the creator's."""
        layout = layout or detect_layout()
        dirs = cls._default_dirs(driver, name, layout)
        if pid is not None:
            located = cls._dirs_of_process(pid, Path(GROUP_ROOT, sanitize_name(driver), sanitize_name(name)), layout)
            if not located:
                return None
            dirs.update(located)
        if not any(d.is_dir() for d in dirs.values()):
            return None
        return cls(driver, name, layout, dirs)

    @staticmethod
    def _dirs_of_process(pid: int, relative: Path, layout: CgroupLayout) -> dict[Hierarchy, Path]:
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                lines = f.read().splitlines()
        except OSError:
            return {}
        marker = "/" + relative.as_posix()
        found: dict[Hierarchy, Path] = {}
        for line in lines:
            hierarchy_id, names, path = (line.split(":", 2) + ["", ""])[:3]
            for hierarchy in layout.group_hierarchies:
                if hierarchy.version == 2:
                    matches = hierarchy_id == "0" and names == ""
                else:
                    matches = {c.value for c in hierarchy.controllers} <= set(names.split(","))
                if not matches:
                    continue
                cut = (path + "/").find(marker + "/")
                if cut >= 0:
                    found[hierarchy] = hierarchy.mount_point / path[:cut + len(marker)].lstrip("/")
        return found

    # ------------------------------------------------------------------ where things are

    @property
    def directories(self) -> tuple[Path, ...]:
        """The group's directory in every hierarchy in use."""
        return tuple(self._dirs.values())

    def path(self, controller: Controller) -> Path:
        """The group's directory for a controller (NoSupport if the host lacks it)."""
        return self._dirs[self.layout.hierarchy_for(controller)]

    def exists(self) -> bool:
        """True while any of the group's directories exists."""
        return any(d.is_dir() for d in self._dirs.values())

    def _target(self, controller: Controller) -> tuple[CgroupBackend, Path]:
        hierarchy = self.layout.hierarchy_for(controller)
        return backend_for_version(hierarchy.version), self._dirs[hierarchy]

    @staticmethod
    def _walk(directory: Path) -> Iterator[Path]:
        """directory and every group nested below it (a container may create its own), deepest last."""
        if not directory.is_dir():
            return
        yield directory
        for root, subdirs, _files in os.walk(directory):
            for sub in subdirs:
                yield Path(root, sub)

    # ------------------------------------------------------------------ processes

    def add_process(self, pid: int) -> None:
        """Move a process into the group in every hierarchy (and the v2 group)."""
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
            raise InvalidArg(f"pid must be a positive integer, not {pid!r}", domain=ErrorDomain.CGROUP)
        for hierarchy, directory in self._dirs.items():
            backend_for_version(hierarchy.version).add_process(directory, pid)

    def pids(self) -> set[int]:
        """Every process in the group or a group nested below it, in any hierarchy."""
        found: set[int] = set()
        for hierarchy, directory in self._dirs.items():
            backend = backend_for_version(hierarchy.version)
            for group in self._walk(directory):
                try:
                    found |= backend.procs(group)
                except NoSupport:
                    continue  # removed while we walked
        return found

    # ------------------------------------------------------------------ memory

    def set_memory_limit(self, limit_bytes: Optional[int]) -> None:
        """Hard memory limit in bytes; None removes it. The kernel OOM-kills past it."""
        check_non_negative("limit_bytes", limit_bytes)
        backend, directory = self._target(Controller.MEMORY)
        backend.set_memory_limit(directory, limit_bytes)

    def memory_limit(self) -> Optional[int]:
        """Hard memory limit in bytes (rounded to pages by the kernel), None when unlimited."""
        backend, directory = self._target(Controller.MEMORY)
        return backend.memory_limit(directory)

    def set_memory_soft_limit(self, b: Optional[int]) -> None:
        """Soft memory limit in bytes (v1 soft_limit_in_bytes, v2 memory.low); None: unlimited."""
        check_non_negative("soft_limit_bytes", b)
        backend, directory = self._target(Controller.MEMORY)
        backend.set_memory_soft_limit(directory, b)

    def memory_soft_limit(self) -> Optional[int]:
        """Soft memory limit in bytes, None when unlimited."""
        backend, directory = self._target(Controller.MEMORY)
        return backend.memory_soft_limit(directory)

    def set_swap_hard_limit(self, b: Optional[int]) -> None:
        """Memory plus swap limit in bytes; None: unlimited. NoSupport without swap accounting."""
        check_non_negative("swap_hard_limit_bytes", b)
        backend, directory = self._target(Controller.MEMORY)
        backend.set_swap_hard_limit(directory, b)

    def swap_hard_limit(self) -> Optional[int]:
        """Memory plus swap limit in bytes, None when unlimited."""
        backend, directory = self._target(Controller.MEMORY)
        return backend.swap_hard_limit(directory)

    def memory_usage(self) -> int:
        """Memory charged to the group, in bytes."""
        backend, directory = self._target(Controller.MEMORY)
        return backend.memory_usage(directory)

    def oom_kills(self) -> int:
        """How many processes of the group the OOM killer killed."""
        backend, directory = self._target(Controller.MEMORY)
        return backend.oom_kills(directory)

    # ------------------------------------------------------------------ CPU

    def set_cpu_shares(self, shares: int) -> None:
        """Relative CPU weight in v1 shares (default 1024); v2 stores the nearest cpu.weight."""
        check_non_negative("shares", shares, allow_none=False)
        backend, directory = self._target(Controller.CPU)
        backend.set_cpu_shares(directory, shares)

    def cpu_shares(self) -> int:
        """Relative CPU weight in v1 shares."""
        backend, directory = self._target(Controller.CPU)
        return backend.cpu_shares(directory)

    def set_cpu_quota(self, period_us: int, quota_us: Optional[int]) -> None:
        """Allow quota_us of CPU time per period_us (quota may exceed the period on several CPUs); None: no cap."""
        check_non_negative("period_us", period_us, allow_none=False)
        check_non_negative("quota_us", quota_us)
        if not CPU_PERIOD_MIN <= period_us <= CPU_PERIOD_MAX:
            raise InvalidArg(f"period_us must be between {CPU_PERIOD_MIN} and {CPU_PERIOD_MAX} (got {period_us})",
                             domain=ErrorDomain.CGROUP)
        if quota_us is not None and quota_us < CPU_QUOTA_MIN:
            raise InvalidArg(f"quota_us must be at least {CPU_QUOTA_MIN} (got {quota_us})",
                             domain=ErrorDomain.CGROUP)
        backend, directory = self._target(Controller.CPU)
        backend.set_cpu_quota(directory, period_us, quota_us)

    def cpu_quota(self) -> tuple[int, Optional[int]]:
        """(period_us, quota_us), quota None when unlimited."""
        backend, directory = self._target(Controller.CPU)
        return backend.cpu_quota(directory)

    def cpu_time_ns(self) -> int:
        """CPU time the group has used, in nanoseconds."""
        backend, directory = self._target(Controller.CPUACCT)
        return backend.cpu_time_ns(directory)

    def set_cpuset(self, cpus: str, mems: Optional[str] = None) -> None:
        """Restrict the group to CPUs like '0-3,6' (and memory nodes)."""
        check_cpu_list("cpus", cpus)
        if mems is not None:
            check_cpu_list("mems", mems)
        backend, directory = self._target(Controller.CPUSET)
        backend.set_cpuset(directory, cpus.strip(), None if mems is None else mems.strip())

    def cpuset(self) -> str:
        """The CPUs the group may run on, like '0-3'."""
        backend, directory = self._target(Controller.CPUSET)
        return backend.cpuset(directory)

    def cpuset_mems(self) -> str:
        """The memory nodes the group may allocate from, like '0'."""
        backend, directory = self._target(Controller.CPUSET)
        return backend.cpuset_mems(directory)

    # ------------------------------------------------------------------ pids, block I/O, devices

    def set_pids_max(self, n: Optional[int]) -> None:
        """Maximum number of tasks (threads included); fork fails past it. None: unlimited."""
        check_non_negative("pids_max", n)
        backend, directory = self._target(Controller.PIDS)
        backend.set_pids_max(directory, n)

    def pids_max(self) -> Optional[int]:
        """Maximum number of tasks, None when unlimited."""
        backend, directory = self._target(Controller.PIDS)
        return backend.pids_max(directory)

    def set_blkio_weight(self, w: int) -> None:
        """Relative block I/O weight (1..1000 with BFQ; 10..1000 with CFQ)."""
        check_non_negative("weight", w, allow_none=False)
        backend, directory = self._target(Controller.BLKIO)
        backend.set_blkio_weight(directory, w)

    def blkio_weight(self) -> int:
        """Relative block I/O weight."""
        backend, directory = self._target(Controller.BLKIO)
        return backend.blkio_weight(directory)

    def deny_device(self, rule: str) -> None:
        """Deny device access by a v1 rule ('a' for all, 'c 1:3 rwm'); NoSupport on v2."""
        check_device_rule(rule)
        backend, directory = self._target(Controller.DEVICES)
        backend.deny_device(directory, rule)

    def allow_device(self, rule: str) -> None:
        """Allow device access by a v1 rule such as 'c 1:3 rwm' or 'c 136:* rw'; NoSupport on v2."""
        check_device_rule(rule)
        backend, directory = self._target(Controller.DEVICES)
        backend.allow_device(directory, rule)

    def device_rules(self) -> list[str]:
        """The device rules in force, as the kernel lists them ('a *:* rwm' when all are allowed)."""
        backend, directory = self._target(Controller.DEVICES)
        return backend.device_rules(directory)

    # ------------------------------------------------------------------ freezing

    def _freezer(self) -> tuple[CgroupBackend, Path]:
        """The layout's freezer: v2 cgroup.freeze (when this group has it) or the v1 freezer."""
        hierarchy = self.layout.hierarchy_for(Controller.FREEZER)
        directory = self._dirs[hierarchy]
        if hierarchy.version == 2 and not (directory / "cgroup.freeze").exists():
            raise NoSupport(f"cgroup {directory} cannot be frozen (no cgroup.freeze)", domain=ErrorDomain.CGROUP)
        return backend_for_version(hierarchy.version), directory

    def freeze(self, timeout: float = 5.0) -> None:
        """Freeze every process of the group and wait until the kernel reports it frozen (thaws on timeout)."""
        check_timeout(timeout)
        backend, directory = self._freezer()
        backend.request_freeze(directory, True)
        deadline = time.monotonic() + timeout
        attempt = 0
        while backend.freeze_state(directory) != FreezeState.FROZEN:
            if time.monotonic() >= deadline:
                backend.request_freeze(directory, False)
                raise _timeout_error(f"cgroup {directory} did not freeze within {timeout:g} seconds")
            time.sleep(_sleep_step(attempt))
            attempt += 1

    def thaw(self) -> None:
        """Let the group's processes run again."""
        backend, directory = self._freezer()
        backend.request_freeze(directory, False)

    def is_frozen(self) -> bool:
        """True when the kernel reports the whole group frozen."""
        backend, directory = self._freezer()
        return backend.freeze_state(directory) == FreezeState.FROZEN

    # ------------------------------------------------------------------ killing and removing

    def kill_all(self, sig: int = signal.SIGKILL, timeout: float = 5.0) -> None:
        """Signal every process of the group until none is left (killed processes leave at exit).

        SIGKILL uses v2 cgroup.kill where available (no fork race); otherwise the group is frozen while the
        signal goes out. Raises an OPERATION_TIMEOUT error naming the survivors after timeout seconds.
        """
        check_timeout(timeout)
        sig = signal.Signals(sig)
        deadline = time.monotonic() + timeout
        signaled: set[int] = set()
        attempt = 0
        while True:
            alive = self.pids()
            if not alive:
                return
            if time.monotonic() >= deadline:
                listed = ", ".join(str(p) for p in sorted(alive))
                raise _timeout_error(f"processes {listed} of cgroup {self.name!r} are still running "
                                     f"{timeout:g} seconds after {sig.name}")
            native = sig == signal.SIGKILL and self._kill_v2_groups()
            if not native or attempt >= 5:  # cgroup.kill missed someone (e.g. not in the v2 group): signal
                fresh = alive if sig == signal.SIGKILL else alive - signaled
                if fresh:
                    self._signal_frozen(fresh, sig)
                    signaled |= fresh
            time.sleep(_sleep_step(attempt))
            attempt += 1

    def _kill_v2_groups(self) -> bool:
        """SIGKILL the v2 group's whole subtree through cgroup.kill; False when that is not available."""
        if self.layout.unified is None:
            return False
        directory = self._dirs.get(self.layout.unified)
        if directory is None or not directory.is_dir():
            return False
        try:
            return backend_for_version(2).kill_group(directory)
        except VirtError:
            return False  # fall back to signalling each process

    def _signal_frozen(self, pids: set[int], sig: signal.Signals) -> None:
        """Send sig to pids while the group is frozen (no forks meanwhile), then thaw so that it takes effect."""
        try:
            self.freeze(timeout=1.0)
            frozen = True
        except VirtError:
            frozen = False  # no freezer, or a task stuck in the kernel: signal anyway
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if frozen:
            self.thaw()  # v1 frozen tasks act on signals only once thawed

    def remove(self) -> None:
        """Kill every process, then delete the group's directories (nested ones first). Idempotent.

        The shared parents (`virtkernel/<driver>`) go too once no other domain uses them.
        """
        if not self.exists():
            return
        self.kill_all(signal.SIGKILL)
        for hierarchy, directory in self._dirs.items():
            for group in reversed(list(self._walk(directory))):
                self._rmdir(group)
            for parent in (directory.parent, directory.parent.parent):
                if parent.name and parent != hierarchy.own_dir and hierarchy.own_dir in parent.parents:
                    try:
                        os.rmdir(parent)
                    except OSError:
                        break  # still used by another domain (or being created): keep it

    @staticmethod
    def _rmdir(directory: Path) -> None:
        deadline = time.monotonic() + 2.0
        attempt = 0
        while True:
            try:
                os.rmdir(directory)
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                    raise SystemError_(f"cannot remove cgroup directory {directory}: {os.strerror(exc.errno or 0)}",
                                       domain=ErrorDomain.CGROUP) from exc
            time.sleep(_sleep_step(attempt))
            attempt += 1


def check_timeout(timeout: float) -> None:
    """InvalidArg unless timeout is a non-negative number of seconds."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise InvalidArg(f"timeout must be a non-negative number of seconds, not {timeout!r}",
                         domain=ErrorDomain.CGROUP)
