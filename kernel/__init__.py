"""virtkernel: libvirt's job, a small kernel with everything else in plugins."""
