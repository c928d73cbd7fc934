"""The demo/test guest shipped with the driver: a 512-byte boot sector that dirties memory forever, and a checker.

(tests/guest.py re-exports it for the test suite; the README demo builds the guest from here.)

The boot sector (machine code written out below, no assembler needed) does, in order:
  1. prints ``A`` on COM1 (port 0x3f8);
  2. enables the A20 line (port 0x92), loads a flat GDT and enters 32-bit protected mode;
  3. loops forever: adds one to the first byte of every 4 KiB page from 1 MiB up to 100 MiB,
     then prints ``B``.

So after the n-th pass every touched byte holds ``n % 256``.  A memory dump taken while the guest is
paused shows one value for every page the current pass has not reached yet and that value plus one
for the pages before the guest's position (the "edge").  `check_memory_pattern` verifies exactly
that, and the driver's tests reuse `boot_sector`, `write_disk_image`, `check_memory_pattern` and
`wait_for_serial` to prove that a guest survived save/restore or migration intact.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from pathlib import Path

LOAD_ADDRESS = 0x7C00
SERIAL_PORT = 0x3F8
TOUCH_START = 1 << 20          # first touched byte: 1 MiB
TOUCH_END = 100 << 20          # end of the touched range (exclusive): 100 MiB
PAGE_SIZE = 4096
TOUCHED_PAGES = (TOUCH_END - TOUCH_START) // PAGE_SIZE
GUEST_MEMORY_MIB = 128         # what the tests give the guest with -m

CODE_SELECTOR = 0x08
DATA_SELECTOR = 0x10


class _Code:
    """A byte buffer with labels and 8-bit relative jump fix-ups: just enough assembler for a boot sector."""

    def __init__(self, origin: int) -> None:
        self.origin = origin
        self.data = bytearray()
        self.labels: dict[str, int] = {}
        self.rel8_fixups: list[tuple[int, str]] = []
        self.abs16_fixups: list[tuple[int, str]] = []
        self.abs32_fixups: list[tuple[int, str]] = []

    def emit(self, *parts: int | bytes) -> None:
        for part in parts:
            self.data += bytes([part]) if isinstance(part, int) else part

    def label(self, name: str) -> None:
        self.labels[name] = self.origin + len(self.data)

    def rel8(self, opcode: int, target: str) -> None:
        self.emit(opcode, 0)
        self.rel8_fixups.append((len(self.data) - 1, target))

    def abs16(self, target: str) -> None:
        self.emit(b"\0\0")
        self.abs16_fixups.append((len(self.data) - 2, target))

    def abs32(self, target: str) -> None:
        self.emit(b"\0\0\0\0")
        self.abs32_fixups.append((len(self.data) - 4, target))

    def align(self, boundary: int) -> None:
        while (self.origin + len(self.data)) % boundary:
            self.emit(0x90)

    def link(self) -> bytes:
        for offset, target in self.rel8_fixups:
            delta = self.labels[target] - (self.origin + offset + 1)
            if not -128 <= delta <= 127:
                raise ValueError(f"jump to {target} out of 8-bit range")
            self.data[offset] = delta & 0xFF
        for offset, target in self.abs16_fixups:
            struct.pack_into("<H", self.data, offset, self.labels[target])
        for offset, target in self.abs32_fixups:
            struct.pack_into("<I", self.data, offset, self.labels[target])
        return bytes(self.data)


def boot_sector() -> bytes:
    """The 512 bytes of the test guest's boot sector (see the module docstring for what it does)."""
    c = _Code(LOAD_ADDRESS)
    # --- 16-bit real mode -------------------------------------------------------------------
    c.emit(0xFA)                                    # cli
    c.emit(0x31, 0xC0)                              # xor ax, ax
    c.emit(0x8E, 0xD8)                              # mov ds, ax
    c.emit(0x8E, 0xD0)                              # mov ss, ax
    c.emit(0xBC, struct.pack("<H", LOAD_ADDRESS))   # mov sp, 0x7c00
    c.emit(0xBA, struct.pack("<H", SERIAL_PORT))    # mov dx, 0x3f8
    c.emit(0xB0, ord("A"))                          # mov al, 'A'
    c.emit(0xEE)                                    # out dx, al
    c.emit(0xE4, 0x92)                              # in al, 0x92
    c.emit(0x0C, 0x02)                              # or al, 2      (A20 on)
    c.emit(0x24, 0xFE)                              # and al, 0xfe  (never the reset bit)
    c.emit(0xE6, 0x92)                              # out 0x92, al
    c.emit(0x0F, 0x01, 0x16)                        # lgdt [gdt_descriptor]
    c.abs16("gdt_descriptor")
    c.emit(0x0F, 0x20, 0xC0)                        # mov eax, cr0
    c.emit(0x0C, 0x01)                              # or al, 1      (PE)
    c.emit(0x0F, 0x22, 0xC0)                        # mov cr0, eax
    c.emit(0xEA)                                    # jmp CODE_SELECTOR:protected
    c.abs16("protected")
    c.emit(struct.pack("<H", CODE_SELECTOR))
    # --- 32-bit protected mode, flat segments -----------------------------------------------
    c.label("protected")
    c.emit(0x66, 0xB8, struct.pack("<H", DATA_SELECTOR))  # mov ax, DATA_SELECTOR
    c.emit(0x8E, 0xD8)                              # mov ds, ax
    c.emit(0x8E, 0xC0)                              # mov es, ax
    c.emit(0x8E, 0xD0)                              # mov ss, ax
    c.emit(0xBC, struct.pack("<I", LOAD_ADDRESS))   # mov esp, 0x7c00
    c.label("pass")
    c.emit(0xBB, struct.pack("<I", TOUCH_START))    # mov ebx, TOUCH_START
    c.label("page")
    c.emit(0xFE, 0x03)                              # inc byte [ebx]
    c.emit(0x81, 0xC3, struct.pack("<I", PAGE_SIZE))  # add ebx, PAGE_SIZE
    c.emit(0x81, 0xFB, struct.pack("<I", TOUCH_END))  # cmp ebx, TOUCH_END
    c.rel8(0x72, "page")                            # jb page
    c.emit(0x66, 0xBA, struct.pack("<H", SERIAL_PORT))  # mov dx, 0x3f8
    c.emit(0xB0, ord("B"))                          # mov al, 'B'
    c.emit(0xEE)                                    # out dx, al
    c.rel8(0xEB, "pass")                            # jmp pass
    # --- data -------------------------------------------------------------------------------
    c.align(8)
    c.label("gdt")
    c.emit(struct.pack("<Q", 0))                    # null descriptor
    c.emit(struct.pack("<Q", 0x00CF9A000000FFFF))   # 0x08: code, base 0, limit 4 GiB, 32-bit
    c.emit(struct.pack("<Q", 0x00CF92000000FFFF))   # 0x10: data, base 0, limit 4 GiB
    c.label("gdt_descriptor")
    c.emit(struct.pack("<H", 3 * 8 - 1))
    c.abs32("gdt")
    code = c.link()
    if len(code) > 510:
        raise ValueError("boot sector code does not fit in 510 bytes")
    return code + bytes(510 - len(code)) + b"\x55\xAA"


def domain_xml(name: str, disk: str | Path, serial_log: str | Path, *, virt_type: str = "qemu",
               memory_mib: int = GUEST_MEMORY_MIB, extra_devices: str = "") -> str:
    """Domain XML of the test guest booting from `disk`, its serial port logged to `serial_log`."""
    from xml.sax.saxutils import escape, quoteattr
    return (f"<domain type={quoteattr(virt_type)}><name>{escape(name)}</name>"
            f"<memory unit='MiB'>{memory_mib}</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>"
            "<devices>"
            f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file={quoteattr(str(disk))}/>"
            "<target dev='hda' bus='ide'/></disk>"
            f"<serial type='file'><source path={quoteattr(str(serial_log))}/></serial>"
            f"{extra_devices}</devices></domain>")


def write_disk_image(path: str | Path, size: int = 1 << 20) -> Path:
    """Write a raw disk image whose first sector is the test guest's boot sector; returns the path."""
    path = Path(path)
    with open(path, "wb") as image:
        image.write(boot_sector())
        image.truncate(max(size, 512))
    return path


@dataclass(frozen=True)
class MemoryPattern:
    """What a memory dump of the test guest shows."""

    value: int          # the byte value of pages the current pass has not reached yet
    edge_page: int      # index (from TOUCH_START) of the first page still holding `value`; 0 = no edge

    @property
    def edge_address(self) -> int:
        """Guest-physical address of the first page the current pass has not incremented yet."""
        return TOUCH_START + self.edge_page * PAGE_SIZE


class PatternError(AssertionError):
    """The memory dump does not show the test guest's page pattern."""


def touched_bytes(dump: bytes, base: int = 0) -> bytes:
    """The first byte of every touched page, from a dump of guest-physical memory starting at `base`."""
    start = TOUCH_START - base
    if start < 0 or base + len(dump) < TOUCH_END:
        raise PatternError(f"dump [{base:#x}, {base + len(dump):#x}) does not cover "
                           f"[{TOUCH_START:#x}, {TOUCH_END:#x})")
    return bytes(dump[start:start + TOUCH_END - TOUCH_START:PAGE_SIZE])


def memory_from_elf_dump(path: str | Path, size: int = TOUCH_END) -> bytes:
    """Guest-physical memory [0, size) rebuilt from an ELF core of QMP ``dump-guest-memory`` (paging off).

    Ranges no PT_LOAD segment covers read as zeros.
    """
    memory = bytearray(size)
    with open(path, "rb") as core:
        ident = core.read(64)
        if ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
            raise PatternError(f"{path} is not a little-endian ELF64 core")
        phoff, = struct.unpack_from("<Q", ident, 32)
        phentsize, phnum = struct.unpack_from("<HH", ident, 54)
        for index in range(phnum):
            core.seek(phoff + index * phentsize)
            p_type, _flags, offset, _vaddr, paddr, filesz = struct.unpack("<IIQQQQ", core.read(40))
            if p_type != 1 or paddr >= size:  # PT_LOAD inside the wanted range only
                continue
            length = min(filesz, size - paddr)
            core.seek(offset)
            memory[paddr:paddr + length] = core.read(length)
    return bytes(memory)


def check_memory_pattern(dump: bytes, base: int = 0) -> MemoryPattern:
    """Verify the guest's page pattern in a dump of guest-physical memory starting at `base`.

    All touched bytes must be equal, except that the pages before one position (where the guest was
    when it was paused) may be exactly one higher (modulo 256).  Raises PatternError otherwise.
    """
    values = touched_bytes(dump, base)
    tail = values[-1]
    edge = len(values)
    while edge > 0 and values[edge - 1] == tail:
        edge -= 1
    head = (tail + 1) & 0xFF
    for index in range(edge):
        if values[index] != head:
            raise PatternError(
                f"page at {TOUCH_START + index * PAGE_SIZE:#x} holds {values[index]}, expected {head} "
                f"(pages from {TOUCH_START + edge * PAGE_SIZE:#x} hold {tail})")
    return MemoryPattern(value=tail, edge_page=edge % len(values))


def wait_for_serial(path: str | Path, predicate, timeout: float = 30.0, interval: float = 0.02,
                    process=None) -> str:
    """Poll a serial log file until predicate(text) is true; returns the text or raises TimeoutError.

    With `process` (a QemuProcess), fails at once with QEMU's log when QEMU exits meanwhile.
    """
    deadline = time.monotonic() + timeout
    text = ""
    while True:
        try:
            text = Path(path).read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        if predicate(text):
            return text
        if process is not None and not process.is_running():
            raise AssertionError(f"QEMU {process.wait().describe()} before the serial output matched "
                                 f"(serial {text[:80]!r}): {process.log_tail()}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"serial output {text[:80]!r}... did not match within {timeout} s")
        time.sleep(interval)


def count_passes(text: str) -> int:
    """How many 'B's (completed passes) the serial text shows after the 'A'."""
    return text.count("B")
