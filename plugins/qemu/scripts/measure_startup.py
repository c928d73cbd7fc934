"""Measure QEMU start-to-"running" bare versus under virtkernel's supervisor and monitor (prints medians).

Usage: python3 measure_startup.py [ROUNDS] [ACCEL]
  bare-poll:    subprocess.Popen + poll for the QMP socket file + raw QMP (like FACTS.md's bare number)
  bare-fd:      subprocess.Popen with a pre-bound listening socket passed as fd + raw QMP
  supervised:   process.spawn (supervisor, posix_spawn) + pre-bound socket + Monitor.connect + query-status
Each variant ends with QMP `cont` and `query-status` == running; QEMU is killed after each round.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from virtkernel_qemu.monitor import Monitor, listening_socket
from virtkernel_qemu.process import ProcessFiles, spawn

QEMU = "qemu-system-x86_64"


def argv(accel: str, monitor: str) -> list[str]:
    return [QEMU, "-nodefaults", "-no-user-config", "-machine", "pc", "-accel", accel, "-m", "150M",
            "-display", "none", "-S", "-chardev", f"socket,id=mon,{monitor},server=on,wait=off",
            "-mon", "chardev=mon,mode=control"]


def raw_qmp_until_running(sock: socket.socket) -> None:
    stream = sock.makefile("rwb")
    stream.readline()
    for command in ("qmp_capabilities", "cont", "query-status"):
        stream.write(json.dumps({"execute": command}).encode() + b"\n")
        stream.flush()
        while True:
            reply = json.loads(stream.readline())
            if "event" not in reply:
                break
    assert reply["return"]["status"] == "running", reply


def bare_poll(directory: str, accel: str) -> float:
    path = os.path.join(directory, "bare.qmp")
    started = time.perf_counter()
    process = subprocess.Popen(argv(accel, f"path={path}"), stderr=subprocess.DEVNULL)
    try:
        while True:
            sock = socket.socket(socket.AF_UNIX)
            try:
                sock.connect(path)
                break
            except OSError:
                sock.close()
                time.sleep(0.001)
        raw_qmp_until_running(sock)
        elapsed = time.perf_counter() - started
    finally:
        process.kill()
        process.wait()
    sock.close()
    os.unlink(path)
    return elapsed


def bare_fd(directory: str, accel: str) -> float:
    path = os.path.join(directory, "fd.qmp")
    started = time.perf_counter()
    listener = listening_socket(path)
    process = subprocess.Popen(argv(accel, f"fd={listener.fileno()}"), stderr=subprocess.DEVNULL,
                               pass_fds=(listener.fileno(),))
    listener.close()
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(path)
        raw_qmp_until_running(sock)
        elapsed = time.perf_counter() - started
    finally:
        process.kill()
        process.wait()
    sock.close()
    return elapsed


def supervised(directory: str, accel: str) -> float:
    path = os.path.join(directory, "sup.qmp")
    started = time.perf_counter()
    listener = listening_socket(path)
    process = spawn(argv(accel, "fd=3"), ProcessFiles(directory, "sup"), pass_fds={3: listener.fileno()},
                    tied_to_caller=True)
    listener.close()
    monitor = Monitor.connect(path, "sup")
    monitor.execute("cont")
    assert monitor.execute("query-status")["status"] == "running"
    elapsed = time.perf_counter() - started
    monitor.close()
    process.kill()
    return elapsed


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    accel = sys.argv[2] if len(sys.argv) > 2 else "kvm"
    with tempfile.TemporaryDirectory(prefix="vkq-bench-") as directory:
        supervised(directory, accel)  # warm-up: forks the supervisor, starts the monitor loop thread
        results: dict[str, list[float]] = {"bare-poll": [], "bare-fd": [], "supervised": []}
        for _ in range(rounds):  # interleaved, so load changes hit every variant alike
            results["bare-poll"].append(bare_poll(directory, accel))
            results["bare-fd"].append(bare_fd(directory, accel))
            results["supervised"].append(supervised(directory, accel))
    base = statistics.median(results["bare-poll"])
    for name, times in results.items():
        median = statistics.median(times)
        print(f"{name:11s} median {median * 1000:6.1f} ms  ({median / base:.2f}x bare-poll)  "
              f"min {min(times) * 1000:.1f}  max {max(times) * 1000:.1f}")


if __name__ == "__main__":
    main()
