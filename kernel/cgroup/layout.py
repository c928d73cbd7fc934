"""Which cgroup hierarchies the host mounts, where this process sits in each, and which version serves each controller."""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from ..enums import ErrorDomain
from ..errors import NoSupport

__all__ = ["Controller", "Hierarchy", "CgroupLayout", "detect_layout"]


class Controller(str, enum.Enum):
    """A cgroup controller a domain can be limited or observed by."""

    CPU = "cpu"
    CPUACCT = "cpuacct"
    CPUSET = "cpuset"
    MEMORY = "memory"
    PIDS = "pids"
    DEVICES = "devices"
    FREEZER = "freezer"
    BLKIO = "blkio"


# The cgroup v2 controller that plays each role; None: v2 has no such controller.
V2_NAMES: dict[Controller, Optional[str]] = {
    Controller.CPU: "cpu",
    Controller.CPUACCT: None,  # cpu.stat's usage_usec is part of the v2 core
    Controller.CPUSET: "cpuset",
    Controller.MEMORY: "memory",
    Controller.PIDS: "pids",
    Controller.DEVICES: None,  # v2 filters devices with eBPF programs, not files
    Controller.FREEZER: None,  # cgroup.freeze is part of the v2 core
    Controller.BLKIO: "io",
}


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy: its version, mount point and this process's group inside it."""

    version: int
    mount_point: Path
    controllers: frozenset[Controller]
    own_path: str = "/"  # this process's cgroup, relative to the mount point
    v2_controllers: frozenset[str] = frozenset()  # v2 only: names listed in the own group's cgroup.controllers

    @property
    def own_dir(self) -> Path:
        """The directory of this process's own cgroup in this hierarchy."""
        return self.mount_point / self.own_path.lstrip("/")


@dataclass(frozen=True)
class CgroupLayout:
    """The host's cgroup hierarchies and, per controller, the one that serves it."""

    hierarchies: tuple[Hierarchy, ...]
    controllers: dict[Controller, Hierarchy] = field(default_factory=dict)
    unified: Optional[Hierarchy] = None
    v2_freeze: bool = False  # the v2 core can freeze our groups (cgroup.freeze)

    def hierarchy_for(self, controller: Controller) -> Hierarchy:
        """The hierarchy that serves a controller; NoSupport when the host offers it nowhere."""
        controller = Controller(controller)
        hierarchy = self.controllers.get(controller)
        if hierarchy is None:
            raise NoSupport(f"cgroup controller '{controller.value}' is not available on this host",
                            domain=ErrorDomain.CGROUP)
        return hierarchy

    def version_of(self, controller: Controller) -> Optional[int]:
        """1 or 2 for the backend serving a controller, None when it is not available."""
        hierarchy = self.controllers.get(Controller(controller))
        return hierarchy.version if hierarchy is not None else None

    @property
    def available(self) -> frozenset[Controller]:
        """Every controller some hierarchy serves."""
        return frozenset(self.controllers)

    @property
    def group_hierarchies(self) -> tuple[Hierarchy, ...]:
        """The hierarchies a domain gets a directory in: every one serving a controller, plus v2 if mounted."""
        used: list[Hierarchy] = []
        for hierarchy in self.hierarchies:
            if hierarchy in self.controllers.values() or hierarchy is self.unified:
                used.append(hierarchy)
        return tuple(used)


_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field_text: str) -> str:
    """Undo mountinfo's octal escapes (\\040 for a space...)."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field_text)


@dataclass(frozen=True)
class _Mount:
    root: str
    mount_point: str
    fstype: str
    options: frozenset[str]


def _read_mounts(mountinfo_path: Union[str, os.PathLike]) -> list[_Mount]:
    mounts = []
    with open(mountinfo_path) as f:
        for line in f:
            fields = line.split()
            if "-" not in fields:
                continue
            sep = fields.index("-")
            if len(fields) < sep + 4 or sep < 5:
                continue
            fstype = fields[sep + 1]
            if fstype not in ("cgroup", "cgroup2"):
                continue
            options = frozenset(fields[sep + 3].split(",")) | frozenset(fields[5].split(","))
            mounts.append(_Mount(_unescape(fields[3]), _unescape(fields[4]), fstype, options))
    return mounts


def _read_own_groups(cgroup_path: Union[str, os.PathLike]) -> tuple[dict[frozenset[str], str], Optional[str]]:
    """This process's cgroup per v1 controller set, and its v2 cgroup."""
    v1: dict[frozenset[str], str] = {}
    v2: Optional[str] = None
    with open(cgroup_path) as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) != 3:
                continue
            hierarchy_id, names, path = parts
            if hierarchy_id == "0" and names == "":
                v2 = path
            else:
                v1[frozenset(names.split(","))] = path
    return v1, v2


def _relative(own: str, mount_root: str) -> str:
    """A cgroup path as seen below a mount whose root is mount_root (a bind mount of a subtree)."""
    if mount_root in ("", "/"):
        return own
    if own == mount_root or own.startswith(mount_root.rstrip("/") + "/"):
        return own[len(mount_root.rstrip("/")):] or "/"
    return own  # a cgroup namespace already made the path relative


def _remap(mount_point: str, root_override: Optional[Path]) -> Path:
    return Path(mount_point) if root_override is None else root_override / mount_point.lstrip("/")


def _read_v2_controllers(own_dir: Path) -> frozenset[str]:
    try:
        return frozenset((own_dir / "cgroup.controllers").read_text().split())
    except OSError:
        return frozenset()


def _v2_can_freeze(own_dir: Path) -> bool:
    """Whether v2 groups below own_dir have cgroup.freeze (the root group itself never has it)."""
    if (own_dir / "cgroup.freeze").exists():
        return True
    try:
        for child in own_dir.iterdir():
            if child.is_dir() and (child / "cgroup.freeze").exists():
                return True
    except OSError:
        return False
    # No group to look at: the v2 freezer arrived in Linux 5.2.
    match = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return bool(match) and (int(match.group(1)), int(match.group(2))) >= (5, 2)


def detect_layout(mountinfo_path: Union[str, os.PathLike] = "/proc/self/mountinfo",
                  cgroup_path: Union[str, os.PathLike] = "/proc/self/cgroup",
                  root_override: Union[str, os.PathLike, None] = None, *,
                  prefer_v2_freeze: bool = True) -> CgroupLayout:
    """Read the mounted hierarchies and pick a backend per controller: v1 if a v1 hierarchy binds it, else v2.

    Freezing goes to v2's cgroup.freeze when it works (unless prefer_v2_freeze is False), else the v1 freezer.
    root_override is prepended to every mount point (tests point the layout at a fake tree).
    """
    override = Path(root_override) if root_override is not None else None
    own_v1, own_v2 = _read_own_groups(cgroup_path)
    hierarchies: list[Hierarchy] = []
    controllers: dict[Controller, Hierarchy] = {}
    unified: Optional[Hierarchy] = None
    seen_v1: set[frozenset[Controller]] = set()
    known = {c.value: c for c in Controller}

    for mount in _read_mounts(mountinfo_path):
        if mount.fstype == "cgroup":
            bound = frozenset(known[o] for o in mount.options if o in known)
            if not bound or bound in seen_v1:
                continue  # name=systemd-style hierarchies, or another mount of one already seen
            own = next((path for names, path in own_v1.items() if {c.value for c in bound} <= names), "/")
            hierarchy = Hierarchy(1, _remap(mount.mount_point, override), bound, _relative(own, mount.root))
            seen_v1.add(bound)
            hierarchies.append(hierarchy)
            for controller in bound:
                controllers.setdefault(controller, hierarchy)
        elif unified is None:
            mount_point = _remap(mount.mount_point, override)
            own = _relative(own_v2 or "/", mount.root)
            names = _read_v2_controllers(mount_point / own.lstrip("/"))
            roles = frozenset(c for c, v2 in V2_NAMES.items() if v2 is not None and v2 in names)
            unified = Hierarchy(2, mount_point, roles, own, names)
            hierarchies.append(unified)

    v2_freeze = False
    if unified is not None:
        for controller in unified.controllers:
            controllers.setdefault(controller, unified)
        controllers.setdefault(Controller.CPUACCT, unified)
        v2_freeze = _v2_can_freeze(unified.own_dir)
        if v2_freeze and (prefer_v2_freeze or Controller.FREEZER not in controllers):
            controllers[Controller.FREEZER] = unified  # preferred over the v1 freezer
    return CgroupLayout(tuple(hierarchies), controllers, unified, v2_freeze)
