"""The tests' view of the test guest: everything lives in the package (`virtkernel_qemu.testguest`), so that the
README demo can build the same guest without the test suite."""

from virtkernel_qemu.testguest import (CODE_SELECTOR, DATA_SELECTOR, GUEST_MEMORY_MIB, LOAD_ADDRESS, PAGE_SIZE,
                                       SERIAL_PORT, TOUCH_END, TOUCH_START, TOUCHED_PAGES, MemoryPattern,
                                       PatternError, boot_sector, check_memory_pattern, count_passes, domain_xml,
                                       memory_from_elf_dump, touched_bytes, wait_for_serial, write_disk_image)

__all__ = ["CODE_SELECTOR", "DATA_SELECTOR", "GUEST_MEMORY_MIB", "LOAD_ADDRESS", "PAGE_SIZE", "SERIAL_PORT",
           "TOUCH_END", "TOUCH_START", "TOUCHED_PAGES", "MemoryPattern", "PatternError", "boot_sector",
           "check_memory_pattern", "count_passes", "domain_xml", "memory_from_elf_dump", "touched_bytes",
           "wait_for_serial", "write_disk_image"]
