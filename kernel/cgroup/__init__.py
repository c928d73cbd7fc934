"""Cgroups for domains: per-controller v1 or v2 backends chosen from what the host mounts."""

from .backends import CgroupBackend, Cgroup1Backend, Cgroup2Backend, backend_for_version
from .domain import GROUP_ROOT, SPARE_PREFIX, DomainCgroup, sanitize_name
from .files import UNLIMITED_THRESHOLD
from .layout import CgroupLayout, Controller, Hierarchy, detect_layout

__all__ = [
    "Controller", "Hierarchy", "CgroupLayout", "detect_layout", "DomainCgroup", "sanitize_name", "GROUP_ROOT",
    "SPARE_PREFIX",
    "CgroupBackend", "Cgroup1Backend", "Cgroup2Backend", "backend_for_version", "UNLIMITED_THRESHOLD",
]
