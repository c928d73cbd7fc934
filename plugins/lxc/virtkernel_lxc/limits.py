"""What the container code needs from a domain cgroup, and how a spec's limits are applied to one.

The real implementation is the kernel's `virtkernel.cgroup.DomainCgroup`; any object with these
methods works (tests may use a stand-in). The supervisor is a fork of its caller, so the object it
is given must not depend on file descriptors: the supervisor closes every inherited descriptor.
"""

from __future__ import annotations

from typing import Collection, Optional, Protocol, runtime_checkable

from .spec import ContainerSpec

__all__ = ["ContainerCgroup", "apply_limits", "apply_device_policy", "CONTAINER_DEVICES"]

# Device nodes a container may use: /dev/null, zero, full, random, urandom, tty, console, ptmx and
# pty slaves (its own devpts and the host pty that is its console). Everything else is denied, so a
# container's root cannot reach host disks through mknod.
CONTAINER_DEVICES: tuple[str, ...] = (
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm",
    "c 136:* rwm")


@runtime_checkable
class ContainerCgroup(Protocol):
    """The subset of virtkernel.cgroup.DomainCgroup the container code calls."""

    def add_process(self, pid: int) -> None:
        """Move a process into the group."""

    def pids(self) -> Collection[int]:
        """Processes in the group."""

    def set_memory_limit(self, limit: Optional[int]) -> None:
        """Memory limit in bytes (None = unlimited)."""

    def memory_usage(self) -> int:
        """Current memory use in bytes."""

    def oom_kills(self) -> int:
        """How many processes the OOM killer has killed in the group."""

    def set_cpu_shares(self, shares: int) -> None:
        """Relative CPU weight."""

    def set_cpu_quota(self, period_us: int, quota_us: Optional[int]) -> None:
        """CPU bandwidth: quota_us per period_us (None = unlimited)."""

    def cpu_time_ns(self) -> int:
        """CPU time used by the group, in nanoseconds."""

    def set_pids_max(self, limit: Optional[int]) -> None:
        """Maximum number of tasks (None = unlimited)."""

    def set_cpuset(self, cpus: str, mems: str) -> None:
        """CPUs and memory nodes the group may use."""

    def freeze(self) -> None:
        """Stop every process of the group."""

    def thaw(self) -> None:
        """Let the group's processes run again."""

    def is_frozen(self) -> bool:
        """True while the group is frozen."""

    def kill_all(self) -> None:
        """SIGKILL every process of the group."""

    def remove(self) -> None:
        """Delete the group (it must be empty)."""


def apply_limits(cgroup: ContainerCgroup, spec: ContainerSpec, devices: bool = True) -> None:
    """Write the spec's memory, CPU, cpuset and pids limits into the group (unset ones are left alone), and
    the device policy unless `devices` is False (it is in place already)."""
    if spec.memory_limit is not None:
        cgroup.set_memory_limit(spec.memory_limit)
    if spec.cpu_shares is not None:
        cgroup.set_cpu_shares(spec.cpu_shares)
    if spec.cpu_quota is not None or spec.cpu_period is not None:
        cgroup.set_cpu_quota(spec.cpu_period or 100_000, spec.cpu_quota)
    if spec.pids_limit is not None:
        cgroup.set_pids_max(spec.pids_limit)
    if spec.cpuset is not None:
        cgroup.set_cpuset(spec.cpuset, spec.cpuset_mems or "0")
    if devices:
        apply_device_policy(cgroup)


def apply_device_policy(cgroup: object) -> bool:
    """Deny every device but CONTAINER_DEVICES, if the group offers v1 device rules
    (DomainCgroup.deny_device/allow_device); False when it cannot (no devices controller, cgroup v2)."""
    deny = getattr(cgroup, "deny_device", None)
    allow = getattr(cgroup, "allow_device", None)
    if deny is None or allow is None:
        return False
    try:
        deny("a")
        for rule in CONTAINER_DEVICES:
            allow(rule)
    except Exception:  # noqa: BLE001 - v2 has no device files: the policy is simply not available
        return False
    return True
