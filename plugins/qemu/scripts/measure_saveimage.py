"""Time save and restore of the test guest (128 MiB, 99 MiB dirtied) for every image format.

Usage: python3 measure_saveimage.py [ACCEL]   (run from plugins/qemu; ACCEL defaults to tcg)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from guest import TOUCH_END, check_memory_pattern, count_passes, wait_for_serial, write_disk_image  # noqa: E402
from virtkernel_qemu.monitor import Monitor, listening_socket  # noqa: E402
from virtkernel_qemu.process import ProcessFiles, spawn  # noqa: E402
from virtkernel_qemu.saveimage import Compression, restore, save  # noqa: E402


def start(directory: Path, name: str, accel: str, *extra: str):
    listener = listening_socket(directory / f"{name}.qmp")
    argv = ["qemu-system-x86_64", "-nodefaults", "-machine", "pc", "-accel", accel, "-m", "128", "-display", "none",
            "-drive", f"file={directory / 'disk.img'},format=raw,if=ide", "-serial", f"file:{directory / name}.serial",
            "-chardev", "socket,id=mon,fd=3,server=on,wait=off", "-mon", "chardev=mon,mode=control", *extra]
    process = spawn(argv, ProcessFiles(directory, name), pass_fds={3: listener.fileno()}, tied_to_caller=True)
    listener.close()
    return process, Monitor.connect(directory / f"{name}.qmp", name, alive=process.is_running)


def main() -> None:
    accel = sys.argv[1] if len(sys.argv) > 1 else "tcg"
    with tempfile.TemporaryDirectory(prefix="vkq-save-") as tmp:
        directory = Path(tmp)
        write_disk_image(directory / "disk.img")
        for compression in Compression:
            source, monitor = start(directory, "source", accel)
            wait_for_serial(directory / "source.serial", lambda t: count_passes(t) >= 2, timeout=120, process=source)
            result = save(monitor, directory / "image", "<domain/>", compression=compression)
            source.kill()
            monitor.close()
            target, monitor = start(directory, "target", accel, "-incoming", "defer", "-S")
            started = time.monotonic()
            restore(monitor, directory / "image")
            restored = time.monotonic() - started
            monitor.execute("pmemsave", {"val": 0, "size": TOUCH_END, "filename": str(directory / "mem")})
            check_memory_pattern((directory / "mem").read_bytes())
            print(f"{compression.name.lower():6s} save {result.seconds * 1000:7.0f} ms  restore {restored * 1000:6.0f} ms"
                  f"  image {result.size / 1e6:7.2f} MB")
            target.kill()
            monitor.close()


if __name__ == "__main__":
    main()
