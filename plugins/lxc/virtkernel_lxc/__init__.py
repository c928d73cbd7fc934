"""virtkernel-lxc: Linux containers (namespaces, cgroups, veths, pty console) for virtkernel."""

from .console import ConsoleStream
from .launcher import Container, ContainerStats, ContainerStatus, launch
from .outcome import ExitInfo, StopReason
from .pool import SupervisorPool
from .spec import BindMount, ContainerSpec, IdMap, IdMapRange, Interface, IPAddress, TmpfsMount

__all__ = [
    "launch", "SupervisorPool", "Container", "ContainerStatus", "ContainerStats", "ConsoleStream", "ExitInfo", "StopReason",
    "ContainerSpec", "BindMount", "TmpfsMount", "Interface", "IPAddress", "IdMap", "IdMapRange",
]
