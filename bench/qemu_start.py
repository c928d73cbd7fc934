"""Guest start through virtkernel's qemu driver against bare QEMU (the floor) and libvirt's qemu driver.

Run as root:  .venv/bin/python bench/qemu_start.py [ROUNDS] [--tcg]

Every variant runs the same guest (the 512-byte test guest, 128 MiB, one vCPU, KVM unless --tcg or /dev/kvm is
unusable) and is timed until QEMU reports "running":

* bare QEMU     the driver's own command line for that guest, started with subprocess.Popen (QMP on a listening
                socket passed as a descriptor), then qmp_capabilities + cont + query-status over a plain socket:
                the floor
* virtkernel    define_xml + create on qemu:///embed?root=DIR (create returns once QEMU runs the guest)
* libvirt       libvirt 9.0's qemu driver in embedded mode (qemu:///embed?root=DIR through /usr/bin/python3 and
                its libvirt binding; a qemu.conf in the root runs QEMU as root without virtlogd, cgroups or
                namespaces).  It needs the 'libvirt-qemu' user to exist (Debian's build defaults to it even when
                qemu.conf says otherwise); when it cannot run, the reason is printed.

"destroy" is dom.destroy() until it returns; for bare QEMU, SIGTERM and wait.  bare and virtkernel rounds are
interleaved; libvirt runs in its own process afterwards.  Also printed: the memory the driver's process
(and the supervisor) needs per running guest.  Medians of ROUNDS (default 20); nothing is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from statistics import median

import virtkernel
from virtkernel_qemu import testguest
from virtkernel_qemu.capabilities import kvm_device_usable, probe
from virtkernel_qemu.command_line import build_argv
from virtkernel_qemu.domain_config import add_defaults, guest_config, plan_guest
from virtkernel.domainxml import DomainDefinition

SETTLE = 0.2


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class BareQemu:
    """QEMU started directly with the driver's command line; timed until QMP reports running."""

    def __init__(self, xml: str, workdir: Path) -> None:
        self.xml = xml
        self.workdir = workdir
        caps = probe()
        self.defn = DomainDefinition.from_xml(xml)
        add_defaults(self.defn, caps)
        self.plan = plan_guest(self.defn, caps, os.cpu_count() or 1)

    def start(self) -> tuple[float, subprocess.Popen]:
        path = self.workdir / "bare.qmp"
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        begin = time.perf_counter()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(1)
        argv = build_argv(guest_config(self.plan, listener.fileno(), str(self.workdir / "bare.pid")))
        process = subprocess.Popen(argv, pass_fds=[listener.fileno()], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        listener.close()
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(path))
        stream = client.makefile("rwb")

        def command(name: str) -> dict:
            stream.write(json.dumps({"execute": name}).encode() + b"\n")
            stream.flush()
            while True:
                reply = json.loads(stream.readline())
                if "event" not in reply:
                    return reply
        json.loads(stream.readline())  # greeting
        command("qmp_capabilities")
        command("cont")
        status = command("query-status")["return"]["status"]
        elapsed = time.perf_counter() - begin
        assert status == "running", status
        stream.close()
        client.close()
        return elapsed, process

    @staticmethod
    def stop(process: subprocess.Popen) -> float:
        begin = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        return time.perf_counter() - begin


LIBVIRT_HELPER = textwrap.dedent("""\
    import json, sys, threading, time
    import libvirt
    libvirt.registerErrorHandler(lambda *a: None, None)
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)], daemon=True).start()
    root, xml, rounds = sys.argv[1], open(sys.argv[2]).read(), int(sys.argv[3])
    conn = libvirt.open("qemu:///embed?root=" + root)
    starts, stops = [], []
    for _ in range(rounds):
        time.sleep(0.2)
        begin = time.perf_counter()
        dom = conn.defineXML(xml)
        dom.create()
        starts.append(time.perf_counter() - begin)
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        begin = time.perf_counter()
        dom.destroy()
        stops.append(time.perf_counter() - begin)
        dom.undefine()
    print(json.dumps({"start": starts, "destroy": stops, "version": conn.getLibVersion()}))
""")

LIBVIRT_QEMU_CONF = textwrap.dedent("""\
    user = "root"
    group = "root"
    dynamic_ownership = 0
    security_driver = "none"
    cgroup_controllers = [ ]
    namespaces = [ ]
    stdio_handler = "file"
""")


def libvirt_numbers(xml: str, workdir: Path, rounds: int) -> tuple[dict | None, str]:
    """libvirt's figures, or None and why it could not run here."""
    python = "/usr/bin/python3"
    if not os.path.exists(python) or subprocess.run([python, "-c", "import libvirt"], capture_output=True).returncode:
        return None, "the libvirt Python binding is not installed for /usr/bin/python3 (python3-libvirt)"
    try:
        import pwd
        pwd.getpwnam("libvirt-qemu")
    except KeyError:
        return None, ("Debian's libvirt 9.0 insists on the user 'libvirt-qemu' (absent here; "
                      "`useradd --system libvirt-qemu` lets it run)")
    root = workdir / "libvirt-root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "qemu.conf").write_text(LIBVIRT_QEMU_CONF)
    (workdir / "libvirt.xml").write_text(xml)
    done = subprocess.run([python, "-c", LIBVIRT_HELPER, str(root), str(workdir / "libvirt.xml"), str(rounds)],
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        return None, "libvirt's qemu driver failed here: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(done.stdout.strip().splitlines()[-1]), "qemu:///embed with a root-only qemu.conf"


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 20
    virt_type = "qemu" if "--tcg" in sys.argv or not kvm_device_usable() else "kvm"
    workdir = Path(tempfile.mkdtemp(prefix="vkq-bench-"))
    try:
        disk = testguest.write_disk_image(workdir / "guest.img")
        xml = testguest.domain_xml("bench", disk, workdir / "serial.log", virt_type=virt_type)
        bare = BareQemu(xml, workdir)
        root = workdir / "root"
        results: dict[str, list[float]] = {"bare": [], "bare destroy": [], "virtkernel": [],
                                           "virtkernel destroy": []}
        with virtkernel.open(f"qemu:///embed?root={root}") as conn:
            conn.define_xml(xml).undefine()  # warm up: probe cached, modules imported
            for _ in range(rounds):
                time.sleep(SETTLE)
                elapsed, process = bare.start()
                results["bare"].append(elapsed)
                results["bare destroy"].append(bare.stop(process))
                time.sleep(SETTLE)
                begin = time.perf_counter()
                dom = conn.define_xml(xml)
                dom.create()
                results["virtkernel"].append(time.perf_counter() - begin)
                begin = time.perf_counter()
                dom.destroy()
                results["virtkernel destroy"].append(time.perf_counter() - begin)
                dom.undefine()
            # memory of the driver's process (and the shared supervisor) per running guest
            guests = 5
            import tracemalloc
            tracemalloc.start()
            traced_before = tracemalloc.get_traced_memory()[0]
            before = _rss_kib(os.getpid())
            doms = []
            for index in range(guests):
                image = testguest.write_disk_image(workdir / f"mem{index}.img")
                doms.append(conn.create_xml(testguest.domain_xml(f"mem{index}", image, workdir / f"mem{index}.log",
                                                                 virt_type=virt_type)))
            after = _rss_kib(os.getpid())
            traced = (tracemalloc.get_traced_memory()[0] - traced_before) / guests / 1024
            tracemalloc.stop()
            supervisor = conn.driver.driver.host.guests["mem0"].process.supervisor_pid
            supervisor_rss = _rss_kib(supervisor) if supervisor else 0
            for dom in doms:
                dom.destroy()
        libvirt, how = libvirt_numbers(xml, workdir, rounds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    ms = {name: 1000 * median(values) for name, values in results.items()}
    print(f"guest: test guest, 128 MiB, 1 vCPU, accel {virt_type}; medians of {rounds}")
    print(f"  bare QEMU to running        {ms['bare']:7.1f} ms   destroy {ms['bare destroy']:6.1f} ms")
    print(f"  virtkernel define+create    {ms['virtkernel']:7.1f} ms   destroy {ms['virtkernel destroy']:6.1f} ms"
          f"   ({ms['virtkernel'] / ms['bare']:.2f}x bare; target <= 1.2x, destroy < 50 ms)")
    if libvirt is not None:
        lv_start, lv_destroy = 1000 * median(libvirt["start"]), 1000 * median(libvirt["destroy"])
        print(f"  libvirt {libvirt['version']} qemu driver   {lv_start:7.1f} ms   destroy {lv_destroy:6.1f} ms"
              f"   ({how}; virtkernel is {lv_start / ms['virtkernel']:.1f}x faster, target >= 4x)")
    else:
        print(f"  libvirt: not measured: {how}")
    print(f"  memory per running guest in the driver's process: {traced:.0f} KiB of Python objects, "
          f"{(after - before) / guests:.0f} KiB RSS "
          f"(supervisor for all guests: {supervisor_rss} KiB RSS; QEMU itself not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
