"""The README's main job on a real guest: define, start, watch, save, restore (memory intact) and stop.

`run_demo()` builds the 512-byte test guest (`testguest`), runs it on ``qemu:///embed?root=<a temporary
directory>`` with TCG (no KVM needed; set VIRTKERNEL_DEMO_KVM=1 to use KVM) and prints each step.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import virtkernel

from . import testguest
from .migration_demo import migrate_demo

__all__ = ["run_demo"]


def _step(number: int, text: str) -> None:
    print(f"\n== {number}. {text}")


def _state(dom: virtkernel.Domain) -> str:
    from virtkernel.enums import (DomainPausedReason, DomainRunningReason, DomainShutoffReason, DomainState)
    state, reason = dom.get_state()
    reasons = {DomainState.RUNNING: DomainRunningReason, DomainState.PAUSED: DomainPausedReason,
               DomainState.SHUTOFF: DomainShutoffReason}.get(state)
    why = reasons(reason).name.lower() if reasons is not None else str(reason)
    return f"{DomainState(state).name.lower()} ({why})"


def _memory(dom: virtkernel.Domain, path: Path) -> testguest.MemoryPattern:
    dom.core_dump(str(path))
    pattern = testguest.check_memory_pattern(testguest.memory_from_elf_dump(path))
    path.unlink()
    return pattern


def run_demo(keep: bool = False) -> int:
    """Run the demo; 0 on success.  keep=True leaves the root directory behind for a look."""
    root = Path(tempfile.mkdtemp(prefix="virtkernel-demo-"))
    uri = f"qemu:///embed?root={root}"
    virt_type = "kvm" if os.environ.get("VIRTKERNEL_DEMO_KVM") == "1" else "qemu"
    started = time.monotonic()
    try:
        _step(1, f"open {uri} (no daemon: everything lives under that directory)")
        with virtkernel.open(uri) as conn:
            print(f"hypervisor {conn.get_type()} {conn.get_version()}, host {conn.get_hostname()}")
            disk = testguest.write_disk_image(root / "guest.img")
            serial = root / "guest-serial.log"
            xml = testguest.domain_xml("demo", disk, serial, virt_type=virt_type)

            _step(2, "define the guest: a 512-byte boot sector that prints A, then dirties 99 MiB and prints B "
                     "after each pass")
            dom = conn.define_xml(xml)
            print(f"defined '{dom.name}' (uuid {dom.get_uuid_string()}); config in {root / 'etc/qemu/demo.xml'}")

            _step(3, "start it")
            t = time.monotonic()
            dom.create()
            print(f"running as id {dom.get_id()} after {1000 * (time.monotonic() - t):.0f} ms; "
                  f"state {_state(dom)}")
            text = testguest.wait_for_serial(serial, lambda s: testguest.count_passes(s) >= 3, timeout=30)
            print(f"its serial port says: {text[:40]!r}")

            _step(4, "pause it and look at its memory (a core dump through QMP)")
            dom.suspend()
            before = _memory(dom, root / "before.core")
            print(f"every touched page holds {before.value} (or one more before address {before.edge_address:#x})")

            _step(5, "save it to a file (QEMU's state behind a header holding the domain XML) and stop it")
            image = root / "demo.save"
            dom.save(str(image))
            print(f"saved to {image} ({image.stat().st_size >> 20} MiB); state {_state(dom)}, "
                  f"active={dom.is_active()}")

            _step(6, "restore it, still paused, and check its memory is intact")
            conn.restore(str(image), flags=virtkernel.DomainSaveRestoreFlags.PAUSED)
            dom = conn.lookup_by_name("demo")
            after = _memory(dom, root / "after.core")
            print(f"after restore: value {after.value}, edge {after.edge_address:#x} -> "
                  f"{'identical' if after == before else 'DIFFERENT'}")
            if after != before:
                return 1

            _step(7, "resume it: it goes on from where it was")
            passes = testguest.count_passes(serial.read_text())
            dom.resume()
            text = testguest.wait_for_serial(serial, lambda s: testguest.count_passes(s) >= passes + 2, timeout=30)
            print(f"{testguest.count_passes(text) - passes} more passes; still one 'A' in the log: "
                  f"{text.count('A') == 1}")

            _step(8, "live-migrate it to a second embedded host (qemu:///embed?root=ROOT/host-b)")
            destination, moved = migrate_demo(conn, dom, root, serial)
            try:
                print(f"on the source: {'gone' if not dom.is_active() else 'STILL RUNNING'} "
                      f"(state {_state(dom)})")

                _step(9, "stop it")
                persistent = moved.is_persistent()
                moved.destroy()
                if persistent:
                    print(f"state {_state(moved)}, active={moved.is_active()}")
                    moved.undefine()
                left = [d.name for d in destination.list_all_domains()]
                print(f"destroyed; the transient guest is gone from host B (domains left there: {left or 'none'})")
            finally:
                destination.close()
            if conn.list_all_domains(virtkernel.ConnectListDomainsFlags.PERSISTENT):
                conn.lookup_by_name("demo").undefine()
        print(f"\ndone in {time.monotonic() - started:.1f} s")
        return 0
    finally:
        if keep:
            print(f"(left {root} behind)")
        else:
            shutil.rmtree(root, ignore_errors=True)
