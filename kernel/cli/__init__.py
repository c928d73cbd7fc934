"""The virtkernel command-line shell (virsh's commands and output)."""
