"""The main job: define, start, watch, save, restore and stop a guest on the embedded default host.

With QEMU installed this runs a real guest on ``qemu:///embed?root=...``; without it, it says what is missing
and shows the same steps on the test driver.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import virtkernel
from virtkernel.discovery import driver_schemes


def step(text: str) -> None:
    print(f"\n== {text}")


def demo_test_driver() -> int:
    step("test:///default: libvirt's default test host, in memory")
    with virtkernel.open("test:///default") as conn:
        dom = conn.lookup_by_name("test")
        print(f"{dom.name}: {dom.get_info()}")
        with tempfile.TemporaryDirectory() as tmp:
            image = Path(tmp) / "test.sav"
            dom.save(str(image))
            print(f"saved to {image} ({image.stat().st_size} bytes); state {dom.get_state()}")
            conn.restore(str(image))
            print(f"restored; state {conn.lookup_by_name('test').get_state()}")
    return 0


def main() -> int:
    schemes = driver_schemes()
    print(f"virtkernel {virtkernel.__version__}; installed drivers: {', '.join(schemes) or 'none'}")
    if "qemu" in schemes and shutil.which("qemu-system-x86_64"):
        from virtkernel_qemu.demo import run_demo  # the qemu driver ships its own demo steps
        return run_demo()
    missing = "the qemu driver" if "qemu" not in schemes else "qemu-system-x86_64 (apt-get install qemu-system-x86)"
    print(f"{missing} is not available: showing the same steps on the test driver")
    if "test" not in schemes:
        print("error: the test driver is not installed either", file=sys.stderr)
        return 1
    return demo_test_driver()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except virtkernel.VirtError as exc:
        print(f"error: {exc.full_message}", file=sys.stderr)
        sys.exit(1)
