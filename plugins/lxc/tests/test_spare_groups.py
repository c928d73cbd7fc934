"""Spared starts through the driver: the init waits in a spare cgroup that becomes the container's by renaming."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

import virtkernel
from virtkernel.cgroup import SPARE_PREFIX, detect_layout, sanitize_name
from virtkernel.enums import DomainState

pytestmark = pytest.mark.timeout(90)

TICKER = ["-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done"]


def _spare_uri(lxc_host) -> str:
    return f"{lxc_host.uri}&spares=1"


def _wait_for_spare_group(lxc_host, timeout: float = 30.0) -> list[str]:
    """The spare groups of this host once one holds a waiting init."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        groups = [g for g in lxc_host.leftover_groups() if os.path.basename(g).startswith(SPARE_PREFIX)]
        busy = [g for g in groups if open(os.path.join(g, "cgroup.procs")).read().split()]
        if busy and len(busy) == len(groups):
            return groups
        time.sleep(0.02)
    raise AssertionError(f"no spare group with a waiting init appeared within {timeout} s")


def _memberships(pid: int) -> dict[str, str]:
    found = {}
    for line in open(f"/proc/{pid}/cgroup").read().splitlines():
        _, names, path = line.split(":", 2)
        found[names] = path
    return found


def test_a_spared_container_runs_confined_in_its_claimed_group(lxc_host):
    conn = lxc_host.open(_spare_uri(lxc_host))
    spare_groups = _wait_for_spare_group(lxc_host)
    spare_leaf = os.path.basename(spare_groups[0])
    name = f"spared-{uuid.uuid4().hex[:6]}"
    dom = conn.define_xml(lxc_host.xml(name, init="/bin/sh", args=TICKER,
                                       extra="<cputune><shares>300</shares></cputune>"))
    dom.create()
    init = int(open(os.path.join(lxc_host.root, "run", "lxc", name, "init.pid")).read())
    layout = detect_layout()
    memberships = _memberships(init)
    for hierarchy in layout.group_hierarchies:
        key = "" if hierarchy.version == 2 else ",".join(sorted(c.value for c in hierarchy.controllers))
        path = next(p for names, p in memberships.items() if set(names.split(",")) >= set(key.split(",")))
        # v1 groups were renamed to the domain's name; v2 keeps the spare's (the kernel cannot rename it)
        expected = spare_leaf if hierarchy.version == 2 else sanitize_name(name)
        assert path.rsplit("/", 1)[1] == expected, (hierarchy.mount_point, path)
    group = lxc_host.find_cgroup(name)
    assert init in group.pids()
    assert group.memory_limit() == 128 << 20 and group.cpu_shares() == 300  # the XML's limits, applied at start
    stream = conn.new_stream()
    dom.open_console(None, stream)
    try:
        lxc_host.read_until(stream, b"tick 3")
        dom.suspend()  # the freezer of the hierarchy that serves it, found through the recorded placement
        assert dom.get_state()[0] == DomainState.PAUSED
        assert group.is_frozen()
        dom.resume()
        lxc_host.read_until(stream, b"tick 10")
    finally:
        stream.close()
    assert dom.get_cpu_stats(total=True)[0]["cpu_time"] > 0
    assert dom.memory_stats()  # read from the claimed group
    directories = group.directories
    dom.destroy()
    assert not any(d.exists() for d in directories)
    assert not os.path.exists(f"/proc/{init}") or open(f"/proc/{init}/stat").read().split(")")[1].split()[0] == "Z"
    _wait_for_spare_group(lxc_host)  # a new spare with a new group replaces the one used
    conn.close()
    assert lxc_host.leftover_groups() == []  # closing the host dismissed the spare and removed its group


def test_a_refused_spared_start_leaves_no_group_behind(lxc_host):
    conn = lxc_host.open(_spare_uri(lxc_host))
    _wait_for_spare_group(lxc_host)
    name = f"bad-{uuid.uuid4().hex[:6]}"
    dom = conn.define_xml(lxc_host.xml(name, init="/no/such/init", args=[]))
    with pytest.raises(virtkernel.VirtError, match="cannot run init program '/no/such/init'"):
        dom.create()
    assert lxc_host.find_cgroup(name) is None
    assert not any(os.path.basename(g) == sanitize_name(name) for g in lxc_host.leftover_groups())
    state = os.path.join(lxc_host.root, "run", "lxc", name)  # what was written while the init exec'd is gone
    assert not any(f in os.listdir(state) for f in ("supervisor.pid", "init.pid", "control.sock", "live.xml",
                                                    "status.json", "cgroup.json"))
    assert not dom.is_active() and conn.list_all_domains(virtkernel.ConnectListDomainsFlags.ACTIVE) == []


def test_spare_groups_of_a_process_that_died_are_removed_by_the_next_one(lxc_host):
    code = ("import sys, time, os, virtkernel\n"
            "from virtkernel_lxc.host import LxcHost\n"
            f"conn = virtkernel.open({_spare_uri(lxc_host)!r})\n"
            "pool = next(iter(LxcHost._hosts.values())).pool\n"
            "assert pool.wait_ready()\n"
            "print('ready', flush=True)\n"
            "os.kill(os.getpid(), 9)\n")
    died = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert died.returncode == -signal.SIGKILL and died.stdout == "ready\n", died.stderr
    abandoned = [g for g in lxc_host.leftover_groups() if os.path.basename(g).startswith(SPARE_PREFIX)]
    assert abandoned  # killed before it could clean up
    deadline = time.monotonic() + 10
    while any(open(os.path.join(g, "cgroup.procs")).read().split() for g in abandoned if os.path.isdir(g)):
        assert time.monotonic() < deadline, "the dead process's spares outlived it"
        time.sleep(0.02)
    lxc_host.open()
    assert not any(os.path.exists(g) for g in abandoned)
