"""Spare supervisors: a pooled start behaves exactly like a direct one, and spares never linger."""

from __future__ import annotations

import os
import time

import pytest

from virtkernel.errors import OperationInvalid
from virtkernel_lxc import BindMount, IdMap, IdMapRange, StopReason, SupervisorPool

pytestmark = pytest.mark.timeout(60)


def _children_of(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return {int(p) for p in handle.read().split()}


def test_a_spare_takes_the_container_and_is_replaced(containers):
    with SupervisorPool(1) as pool:
        pool.wait_ready()
        spare = pool._spares[0]
        spec = containers.spec(init=containers.python, args=containers.probe_program("""
            import socket
            result["pid"] = os.getpid()
            result["hostname"] = socket.gethostname()
            result["console"] = os.ttyname(0)
        """), console=True)
        handle = containers.launch(spec, pool=pool)
        assert handle.supervisor_pid == spare.pid  # the spare became this container's supervisor
        result = containers.read_probe(handle)
        assert result == {"pid": 1, "hostname": spec.name, "console": "/dev/console"}
        assert pool.wait_ready()
        assert len(pool) == 1 and pool._spares[0].pid != spare.pid
        assert handle.destroy().reason is StopReason.DESTROYED
        spare_pids = {s.pid for s in pool._spares}
        staging = [spare.staging, *(s.staging for s in pool._spares)]
        assert not os.path.exists(spare.staging)  # the spare that became a supervisor removed it
    for pid in spare_pids:
        assert containers.process_gone(pid)  # closing the pool dismissed the spare and its prepared init
    assert not any(os.path.exists(path) for path in staging)
    assert not (_children_of(os.getpid()) & spare_pids)


def test_a_failed_pooled_start_reports_like_a_direct_one(containers):
    with SupervisorPool(1) as pool:
        pool.wait_ready()
        spec = containers.spec(init="/no/such/init")
        with pytest.raises(Exception, match="cannot run init program '/no/such/init'"):
            containers.launch(spec, pool=pool)
        assert containers.find_cgroup(spec.name) is None


def test_user_namespace_specs_bypass_the_pool(containers):
    os.chmod(containers.scratch, 0o711)
    with SupervisorPool(1) as pool:
        pool.wait_ready()
        spare = pool._spares[0]
        spec = containers.spec(init="/bin/sleep", args=["1000"],
                               idmap=IdMap([IdMapRange(0, 300000, 65536)], [IdMapRange(0, 300000, 65536)]))
        handle = containers.launch(spec, pool=pool)
        assert handle.supervisor_pid != spare.pid
        assert pool._spares[0] is spare


def test_a_pooled_container_without_console(containers, tmp_path):
    with SupervisorPool(1) as pool:
        pool.wait_ready()
        spec = containers.spec(init="/bin/sh", args=["-c", "readlink /proc/1/fd/2 > /data/stdout; sleep 1000"],
                               console=False, binds=[BindMount(str(tmp_path), "/data")])
        handle = containers.launch(spec, pool=pool)
        with pytest.raises(OperationInvalid, match="has no console"):
            handle.open_console()
        deadline = time.monotonic() + 10
        while not (tmp_path / "stdout").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.05)
        assert (tmp_path / "stdout").read_text().strip() == "/dev/null"


def test_a_spare_s_init_waits_as_the_small_fresh_helper_with_its_root_prebuilt(containers):
    # The helper must find this package even where an import hook (editable install) is how sys.path does.
    with SupervisorPool(1) as pool:
        assert pool.wait_ready()
        spare = pool._spares[0]
        (init,) = _children_of(spare.pid)
        with open(f"/proc/{init}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
        assert argv[1:3] == [b"-I", b"-S"] and b"virtkernel_lxc.init_process" in argv[4]
        with open(f"/proc/{init}/mountinfo") as handle:
            mounted = [line.split()[4] for line in handle]
        assert {f"{spare.staging}/proc", f"{spare.staging}/sys", f"{spare.staging}/dev"} <= set(mounted)


def test_a_spare_whose_helper_cannot_start_still_works_in_its_own_namespace(containers):
    with open("/proc/self/mountinfo") as mounts:
        before = mounts.read()
    with SupervisorPool(1, helper_interpreter="/nonexistent/python3") as pool:  # the fresh helper's exec fails
        assert pool.wait_ready()
        spec = containers.spec(init=containers.python, args=containers.probe_program(
            "result['pid'] = os.getpid()"))
        handle = containers.launch(spec, pool=pool)
        assert containers.read_probe(handle) == {"pid": 1}
        handle.destroy()
    with open("/proc/self/mountinfo") as mounts:
        assert mounts.read() == before  # nothing was mounted in the host's namespace


def test_a_cgroup_object_that_cannot_travel_to_a_spare_starts_from_scratch(containers):
    class LocalCgroup:  # defined in a function: pickle cannot send it to a spare
        def __init__(self):
            self.added = []

        def add_process(self, pid):
            self.added.append(pid)

        def pids(self):
            return []

        def remove(self):
            pass

        def oom_kills(self):
            return 0

    with SupervisorPool(1) as pool:
        assert pool.wait_ready()
        spare = pool._spares[0]
        spec = containers.spec(init="/bin/sleep", args=["1000"], cgroup_namespace=False)
        handle = containers.launch(spec, cgroup=False, pool=pool)  # plain launch first: the pool works
        assert handle.supervisor_pid == spare.pid
        assert pool.wait_ready()
        spare = pool._spares[0]
        from virtkernel_lxc import launch
        other = containers.spec(init="/bin/sleep", args=["1000"])
        containers.started.append((containers.state_dir(other.name), other.name, []))
        started = launch(other, containers.state_dir(other.name), LocalCgroup(), pool=pool)
        assert started.supervisor_pid != spare.pid
        assert containers.process_gone(spare.pid)
        assert started.status().state == "running"
        started.destroy()
