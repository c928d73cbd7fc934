"""Reconnect: guests outlive the connection and the process that started them, and are picked up again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import virtkernel
from virtkernel.enums import DomainRunningReason, DomainShutoffReason, DomainState, ErrorCode
from virtkernel_qemu.host import wait_until


pytestmark = pytest.mark.timeout(60)


def _in_other_process(host, body: str) -> str:
    """Run Python code with `conn` open on the host in a fresh interpreter; its stdout."""
    script = textwrap.dedent(f"""\
        import virtkernel
        conn = virtkernel.open({host.uri!r})
        """) + textwrap.dedent(body) + "\nconn.close()\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _recorder(host, record):
    hooks = host.root / "etc" / "hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    os.chmod(hooks, 0o755)
    script = hooks / "qemu"
    script.write_text(f"#!/bin/sh\ncat > /dev/null\necho \"$1 $2 $3\" >> {record}\n")
    script.chmod(0o755)
    return script


def test_a_new_connection_picks_up_running_guests_with_the_reconnect_hook(host):
    record = host.root / "ops.txt"
    with host.open() as first:
        dom = first.define_xml(host.xml("keep1"))
        dom.create()
        transient = first.create_xml(host.xml("keep2"))
        ids = (dom.get_id(), transient.get_id())
        pid = first.driver.driver.host.guests["keep1"].process.pid
    script = _recorder(host, record)
    try:
        with host.open() as second:
            again = second.lookup_by_name("keep1")
            assert again.is_active() and again.get_id() == ids[0]
            assert again.get_state() == (DomainState.RUNNING, DomainRunningReason.BOOTED)
            assert second.lookup_by_name("keep2").get_id() == ids[1]
            assert second.driver.driver.host.guests["keep1"].process.pid == pid  # the same QEMU, not a new one
            assert sorted(record.read_text().splitlines()) == ["keep1 reconnect begin", "keep2 reconnect begin"]
            host.wait_passes("keep1", 1)
            with pytest.raises(virtkernel.VirtError) as info:
                again.create()
            assert info.value.code == ErrorCode.OPERATION_INVALID  # never started twice
            again.suspend()
            second.lookup_by_name("keep2").destroy()
        with host.open() as third:
            assert third.lookup_by_name("keep1").get_state()[0] == DomainState.PAUSED
            third.lookup_by_name("keep1").destroy()
    finally:
        script.unlink()


def test_another_process_reconnects_and_sees_a_guest_that_died_meanwhile_as_crashed(host):
    xmls = {name: host.xml(name) for name in ("proc1", "proc2")}
    out = _in_other_process(host, f"""
        import json
        for name, xml in {xmls!r}.items():
            dom = conn.define_xml(xml)
            dom.create()
        guests = conn.driver.driver.host.guests
        print(json.dumps({{name: guests[name].process.pid for name in ("proc1", "proc2")}}))
    """)
    pids = json.loads(out)
    assert all(os.path.exists(f"/proc/{pid}") for pid in pids.values())  # the guests outlived their process
    os.kill(pids["proc2"], signal.SIGKILL)  # dies while no process drives the host
    assert wait_until(lambda: _gone_or_zombie(pids["proc2"]), 5)
    with host.open() as conn:
        alive = conn.lookup_by_name("proc1")
        assert alive.is_active() and alive.get_state()[0] == DomainState.RUNNING
        host.wait_passes("proc1", 1)
        dead = conn.lookup_by_name("proc2")
        assert dead.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.CRASHED)
        assert not (host.root / "run/qemu/proc2.status").exists()
        dead.create()  # nothing stale blocks a new start
        dead.destroy()
        # while this process drives the host, another one is refused clearly
        script = f"import virtkernel\nvirtkernel.open({host.uri!r})\n"
        refused = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0
        assert f"another process (pid {os.getpid()}) drives this host" in refused.stderr
    out = _in_other_process(host, """
        dom = conn.lookup_by_name("proc1")
        print(dom.get_state()[0], dom.get_id() > 0)
        dom.destroy()
    """)
    assert out.split() == [str(int(DomainState.RUNNING)), "True"]


def _gone_or_zombie(pid: int) -> bool:
    """True once the process has exited (it may vanish between two looks at /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True
