"""virtkernel's test driver: an in-memory hypervisor with libvirt's test-driver behaviour."""

from .driver import TestDriver

__all__ = ["TestDriver"]
