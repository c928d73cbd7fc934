"""Container start through virtkernel's lxc driver against the floor, bare `unshare`, measured interleaved.

Run as root:  .venv/bin/python bench/lxc_start.py [ROUNDS]

Not under `chrt -f`: a real-time task cannot join a v1 cpu cgroup that has no real-time budget (EINVAL), so
confined starts fail there (the unshare+cgroup floor and the containers alike).

Every variant starts the same init, `/bin/sh -c 'echo ready > /ready/fifo; exec sleep 1000'`, and is timed
until the host reads that line from the FIFO (the init signals readiness):

* unshare          `unshare --fork --kill-child --pid --mount --uts --ipc --net` of the init (the floor)
* unshare+cgroup   the same, and the unshare process then joins a fresh domain cgroup (v1 hierarchies here):
                   the floor for a confined container; a cgroup v1 migration waits for an RCU grace period
* virtkernel       define_xml + create on lxc:///embed?root=DIR (supervisor forked per start)
* virtkernel+spare the same with `&spares=1` (a spare supervisor is ready before each start)

"destroy" is dom.destroy() until it returns (the container's processes, cgroup and veths gone); for unshare,
SIGKILL and wait. lxc-execute and libvirt's lxc driver are run when they can be here; otherwise the
reason is printed. Medians of ROUNDS (default 20), after one unmeasured warm-up round; nothing is asserted.

Each variant runs in a worker process of its own, and the rounds interleave (one start of each variant per
round, a quiet SETTLE before each): a process that forked takes page faults on what it writes next, so a
variant that forks (virtkernel without spares) would otherwise slow down whichever variant came after it.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from statistics import median
from typing import Callable

import virtkernel

INIT = ["/bin/sh", "-c", "echo ready > /ready/fifo; exec sleep 1000"]
SETTLE = 0.4
"""Seconds of quiet before each measurement."""
UNSHARE = ["unshare", "--fork", "--kill-child", "--pid", "--mount", "--uts", "--ipc", "--net"]


def _xml(name: str, ready_dir: str) -> str:
    args = "".join(f"<initarg>{a.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</initarg>"
                   for a in INIT[1:])
    return (f"<domain type='lxc'><name>{name}</name><memory unit='MiB'>64</memory>"
            f"<os><type>exe</type><init>{INIT[0]}</init>{args}</os><devices>"
            f"<filesystem type='mount'><source dir='{ready_dir}'/><target dir='/ready'/></filesystem>"
            "</devices></domain>")


class Fifo:
    """A fresh FIFO in its own directory (bound into the container as /ready) and a non-blocking reader."""

    def __init__(self, scratch: str, name: str) -> None:
        self.dir = os.path.join(scratch, name)
        os.makedirs(self.dir)
        self.path = os.path.join(self.dir, "fifo")
        os.mkfifo(self.path)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)

    def wait(self, timeout: float = 20.0) -> None:
        """Until the init wrote its line."""
        if not select.select([self.fd], [], [], timeout)[0]:
            raise TimeoutError("the init did not signal readiness")
        os.read(self.fd, 64)

    def close(self) -> None:
        os.close(self.fd)


def _ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def unshare_round(scratch: str, index: int, results: dict[str, list[float]]) -> None:
    fifo = Fifo(scratch, f"u{index}")
    holder: dict[str, subprocess.Popen] = {}

    def start() -> None:
        holder["p"] = subprocess.Popen(UNSHARE + INIT[:2] + [INIT[2].replace("/ready/fifo", fifo.path)])
        fifo.wait()

    def destroy() -> None:
        holder["p"].send_signal(signal.SIGKILL)
        holder["p"].wait()
    results["unshare start"].append(_ms(start))
    results["unshare destroy"].append(_ms(destroy))
    fifo.close()


def unshare_cgroup_round(layout, scratch: str, index: int, results: dict[str, list[float]]) -> None:
    """The floor with confinement: unshare, then its process joins a domain cgroup (as a container must)."""
    from virtkernel.cgroup import DomainCgroup
    fifo = Fifo(scratch, f"c{index}")
    holder: dict[str, object] = {}

    def start() -> None:
        group = holder["g"] = DomainCgroup.create("lxc-bench-floor", f"floor{index}", layout)
        process = holder["p"] = subprocess.Popen(UNSHARE + INIT[:2] + [INIT[2].replace("/ready/fifo", fifo.path)],
                                                 start_new_session=True)
        group.add_process(process.pid)
        fifo.wait()

    def destroy() -> None:
        os.killpg(holder["p"].pid, signal.SIGKILL)  # the whole session: unshare and the init it forked
        holder["p"].wait()
        holder["g"].kill_all()
        holder["g"].remove()
    try:
        results["unshare+cgroup start"].append(_ms(start))
        results["unshare+cgroup destroy"].append(_ms(destroy))
    finally:
        if "p" in holder and holder["p"].poll() is None:
            os.killpg(holder["p"].pid, signal.SIGKILL)
            holder["p"].wait()
        if "g" in holder and holder["g"].exists():
            holder["g"].kill_all()
            holder["g"].remove()
        fifo.close()


def virtkernel_round(conn: virtkernel.Connection, label: str, scratch: str, index: int,
                     results: dict[str, list[float]]) -> None:
    fifo = Fifo(scratch, f"{label}{index}")
    holder: dict[str, virtkernel.Domain] = {}

    def start() -> None:
        holder["d"] = conn.define_xml(_xml(f"bench{index}", fifo.dir))
        holder["d"].create()
        fifo.wait()
    results[f"{label} start"].append(_ms(start))
    results[f"{label} destroy"].append(_ms(holder["d"].destroy))
    holder["d"].undefine()
    fifo.close()


def libvirt_status() -> str:
    """Why libvirt's lxc driver is (not) measured here."""
    if not os.path.exists("/run/libvirt/libvirt-sock"):
        return ("not measured: no libvirtd runs here, and this bench does not start one (libvirtd brings up its "
                "autostart networks on the host). FACTS.md: libvirt 9.0's lxc driver fails on this hybrid cgroup "
                "layout ('Unable to create directory /sys/fs/cgroup/unified'); with that mount hidden it starts in "
                "~50 ms (virsh start 90 ms) and destroys in ~1.8 s")
    return "not measured: a libvirtd runs, but this bench does not define domains on the system's libvirt"


def lxc_execute_status() -> str:
    """Why lxc-execute is (not) measured here."""
    if shutil.which("lxc-execute") is None:
        return "not measured: lxc-execute is not installed (FACTS.md: about 6.5 ms when it was)"
    return "installed, but not measured by this bench"


VARIANTS = ("unshare", "unshare+cgroup", "virtkernel", "virtkernel+spare")


def worker(variant: str, scratch: str) -> None:
    """One variant in a process of its own: a round per "round N" line on stdin, its timings as a JSON line.

    Separate processes keep the variants from disturbing each other: a process that has forked (the
    virtkernel variant without spares forks a supervisor per start) takes a page fault on each page it
    writes afterwards, which would otherwise land on whichever variant runs next.
    """
    results: dict[str, list[float]] = defaultdict(list)
    conn = None
    if variant == "virtkernel":
        conn = virtkernel.open(f"lxc:///embed?root={os.path.join(scratch, 'root')}")
    elif variant == "virtkernel+spare":
        conn = virtkernel.open(f"lxc:///embed?root={os.path.join(scratch, 'spare-root')}&spares=1")
    from virtkernel.cgroup import detect_layout
    layout = detect_layout()
    try:
        for line in sys.stdin:
            index = int(line.split()[1])
            results.clear()
            if variant == "unshare":
                unshare_round(scratch, index, results)
            elif variant == "unshare+cgroup":
                unshare_cgroup_round(layout, scratch, index, results)
            else:
                virtkernel_round(conn, variant, scratch, index, results)
            print(json.dumps({key: values[0] for key, values in results.items()}), flush=True)
    finally:
        if conn is not None:
            conn.close()


def main(rounds: int = 20) -> None:
    if os.geteuid() != 0:
        sys.exit("run as root: containers need namespaces, cgroups and mounts")
    scratch = tempfile.mkdtemp(prefix="vklxc-bench-")
    workers = {variant: subprocess.Popen([sys.executable, __file__, "--worker", variant, scratch],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for variant in VARIANTS}
    results: dict[str, list[float]] = defaultdict(list)
    try:
        for index in range(-1, rounds):  # round -1 warms each worker up (imports, first calls) and is dropped
            # Each variant starts from the same quiet state: the spare pool has refilled, and no cgroup
            # migration happened in the last grace period (one that did would make the next one cheap).
            for variant, process in workers.items():
                time.sleep(SETTLE)
                process.stdin.write(f"round {index}\n")
                process.stdin.flush()
                reply = process.stdout.readline()
                if not reply:
                    raise RuntimeError(f"the {variant} worker stopped (see its error output above)")
                if index >= 0:
                    for key, value in json.loads(reply).items():
                        results[key].append(value)
    finally:
        for process in workers.values():
            process.stdin.close()
        for process in workers.values():
            process.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    floor = median(results["unshare start"])
    print(f"{rounds} rounds, medians (min), each variant in a process of its own:")
    for label in [f"{v} start" for v in VARIANTS] + [f"{v} destroy" for v in VARIANTS]:
        values = results[label]
        ratio = f"{median(values) / floor:5.2f}x unshare start" if "start" in label else ""
        print(f"  {label:26s} {median(values):7.2f} ms  ({min(values):6.2f})  {ratio}")
    print(f"  lxc-execute: {lxc_execute_status()}")
    print(f"  libvirt lxc: {libvirt_status()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
