"""virtkernel's QEMU driver: QEMU processes, their QMP monitors, command lines, capabilities and save images."""
