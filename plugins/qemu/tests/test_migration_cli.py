"""`virtkernel migrate --verbose` between two embedded qemu hosts: progress, Ctrl-C aborts; the demo's step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from guest import count_passes, wait_for_serial, write_disk_image

pytestmark = pytest.mark.timeout(90)

CLI = "import sys; from virtkernel.cli.main import main; sys.exit(main(sys.argv[1:]))"


def cli(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *argv], capture_output=True, text=True, timeout=60, **kwargs)


def test_migrate_verbose_shows_progress_and_ctrl_c_aborts(workdir, accel):
    disk = write_disk_image(workdir / "disk.img")
    serial = workdir / "serial.log"
    xml = workdir / "g1.xml"
    xml.write_text(f"<domain type='qemu'><name>g1</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
                   "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>"
                   f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{disk}'/>"
                   "<target dev='hda' bus='ide'/></disk>"
                   f"<serial type='file'><source path='{serial}'/></serial></devices></domain>")
    a, b = f"qemu:///embed?root={workdir / 'a'}", f"qemu:///embed?root={workdir / 'b'}"
    assert cli("-c", a, "create", str(xml)).returncode == 0
    try:
        wait_for_serial(serial, lambda text: count_passes(text) >= 1, timeout=20)
        slow = subprocess.Popen([sys.executable, "-c", CLI, "-c", a, "migrate", "--live", "--verbose",
                                 "--bandwidth", "8", "g1", b], stderr=subprocess.PIPE, stdout=subprocess.PIPE)
        seen = b""
        deadline = time.monotonic() + 30
        while b"Migration: [" not in seen:
            assert time.monotonic() < deadline, seen
            seen += os.read(slow.stderr.fileno(), 4096)
        slow.send_signal(signal.SIGINT)
        out, err = slow.communicate(timeout=30)
        assert slow.returncode == 1
        assert "operation aborted" in err.decode() and "cancelled" in err.decode()
        assert cli("-c", a, "domstate", "g1").stdout.strip() == "running"
        assert "g1" not in cli("-c", b, "list", "--all").stdout
        start = count_passes(serial.read_text())
        wait_for_serial(serial, lambda text: count_passes(text) >= start + 2, timeout=20)

        done = cli("-c", a, "migrate", "--live", "--verbose", "g1", b)
        assert done.returncode == 0, done.stderr
        assert "Migration: [100 %]" in done.stderr
        assert cli("-c", b, "domstate", "g1").stdout.strip() == "running"
        assert "g1" not in cli("-c", a, "list", "--all").stdout
    finally:
        for uri in (a, b):
            cli("-c", uri, "destroy", "g1")


def test_demo_step_migrates_and_shows_the_guest_running(workdir):
    import virtkernel
    from virtkernel_qemu.migration_demo import migrate_demo
    disk = write_disk_image(workdir / "disk.img")
    serial = workdir / "serial.log"
    xml = (f"<domain type='qemu'><name>demo</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
           "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>"
           f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{disk}'/>"
           "<target dev='hda' bus='ide'/></disk>"
           f"<serial type='file'><source path='{serial}'/></serial></devices></domain>")
    conn = virtkernel.open(f"qemu:///embed?root={workdir / 'host-a'}")
    lines: list[str] = []
    destination = None
    try:
        dom = conn.create_xml(xml)
        wait_for_serial(serial, lambda text: count_passes(text) >= 1, timeout=20)
        destination, moved = migrate_demo(conn, dom, workdir, serial, say=lines.append)
        text = "\n".join(lines)
        assert "protocol:        v3-params" in text
        assert "demo is running" in text and "grew by 0 passes" not in text
        moved.destroy()
    finally:
        for c in (conn, destination):
            if c is not None:
                c.close()
