"""Live migration phases of the qemu driver (between two qemu:/// hosts)."""


class QemuMigrationPhases:
    """The qemu driver's implementation of the migration phase hooks."""
