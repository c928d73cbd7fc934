"""Fixtures for real containers: launch, probe from inside, and clean up everything even on failure."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from typing import Any, Optional

import pytest

from virtkernel_lxc import Container, ContainerSpec, SupervisorPool, launch
from virtkernel_lxc.network import delete_interfaces
from virtkernel_lxc.state import StateDir

CGROUP_DRIVER = "lxc-tests"
CONTAINER_PYTHON = "/usr/bin/python3"  # Debian's python: visible inside through the /usr bind
PROBE_MARK = "@@PROBE@@"
HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN_ROOT = os.path.dirname(HERE)


def require(condition: bool, reason: str) -> None:
    """Skip outside CI, fail in CI (CI=true): a missing prerequisite must never pass silently there."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"prerequisite missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True, scope="session")
def _prerequisites() -> None:
    require(os.geteuid() == 0, "container tests need root (namespaces, cgroups, veths)")
    for tool in ("ip", "nsenter", "ping"):
        require(shutil.which(tool) is not None, f"container tests need '{tool}' on PATH")
    require(os.path.exists(CONTAINER_PYTHON), f"container tests run probes with {CONTAINER_PYTHON}")


def unique_name(prefix: str = "t") -> str:
    """A name no other test (or concurrent run) uses."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def make_cgroup(name: str):
    """A real domain cgroup from the kernel's cgroup layer."""
    from virtkernel.cgroup import DomainCgroup
    return DomainCgroup.create(CGROUP_DRIVER, name)


def find_cgroup(name: str):
    """The container's cgroup if it still exists, else None."""
    from virtkernel.cgroup import DomainCgroup
    return DomainCgroup.find(CGROUP_DRIVER, name)


def probe_program(code: str, then: str = "sleep") -> list[str]:
    """Init args running python `code` inside the container; `result` (a dict) is printed as a JSON line.

    then='sleep' keeps init alive afterwards (so the console stays readable); 'exit' ends the container.
    """
    body = textwrap.dedent(code)
    tail = "os.execv('/bin/sleep', ['sleep', '1000'])" if then == "sleep" else "sys.exit(0)"
    script = (
        "import os, sys, json\n"
        "result = {}\n"
        f"{body}\n"
        f"sys.stdout.write({PROBE_MARK!r} + json.dumps(result) + '\\n')\n"
        "sys.stdout.flush()\n"
        f"{tail}\n")
    return ["-c", script]


class Containers:
    """Starts containers for one test and guarantees they are gone afterwards."""

    def __init__(self, pool: Optional[SupervisorPool] = None) -> None:
        self.started: list[tuple[str, str, list[str]]] = []  # (state dir, name, host veth names)
        self.handles: list[Container] = []
        self.scratch = tempfile.mkdtemp(prefix="vklxc-")
        self.pool = pool

    def state_dir(self, name: str) -> str:
        """A fresh state dir for a container."""
        return os.path.join(self.scratch, name)

    def spec(self, **fields: Any) -> ContainerSpec:
        """A spec with a unique name and uuid; fields override."""
        name = fields.pop("name", None) or unique_name()
        return ContainerSpec(name=name, uuid=str(uuid.uuid4()), **fields)

    def launch(self, spec: ContainerSpec, cgroup: bool = True, pool=None) -> Container:
        """launch() with a real cgroup, remembered for cleanup; through a ready spare in pool mode."""
        if pool is None and self.pool is not None:
            pool = self.pool
            assert pool.wait_ready(), "no spare supervisor became ready"
        state_dir = self.state_dir(spec.name)
        self.started.append((state_dir, spec.name, [i.host_name for i in spec.interfaces]))
        handle = launch(spec, state_dir, make_cgroup(spec.name) if cgroup else None, pool=pool)
        self.handles.append(handle)
        return handle

    def launch_elsewhere(self, spec: ContainerSpec, own_netns: bool = False, setup: Optional[list[str]] = None,
                         cgroup: bool = True) -> Container:
        """launch() from a separate Python process that then exits; attach to the container from here.

        own_netns: that process first moves into a new network namespace (the "host" side of the
        container's veths, so every address is ours) and runs `ip -batch` lines `setup` there.
        """
        state_dir = self.state_dir(spec.name)
        self.started.append((state_dir, spec.name, [] if own_netns else [i.host_name for i in spec.interfaces]))
        program = textwrap.dedent(f"""
            import json, subprocess, sys
            from virtkernel_lxc import launch
            from virtkernel_lxc.spec import ContainerSpec
            from virtkernel_lxc.syscalls import CloneFlags, unshare
            if {own_netns!r}:
                unshare(CloneFlags.NEWNET)
                lines = ["link set lo up"] + {setup or []!r}
                subprocess.run(["ip", "-batch", "-"], input="\\n".join(lines) + "\\n", text=True, check=True)
            cgroup = None
            if {cgroup!r}:
                from virtkernel.cgroup import DomainCgroup
                cgroup = DomainCgroup.create({CGROUP_DRIVER!r}, {spec.name!r})
            spec = ContainerSpec.from_dict(json.loads(sys.argv[1]))
            container = launch(spec, {state_dir!r}, cgroup)
            print(container.init_pid)
        """)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        done = subprocess.run([sys.executable, "-c", program, json.dumps(spec.to_dict())], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        handle = Container.attach(state_dir)
        assert handle.init_pid == int(done.stdout.strip())
        self.handles.append(handle)
        return handle

    def probe(self, code: str, **fields: Any) -> tuple[Container, dict[str, Any]]:
        """Launch a container whose init runs python `code` and return (handle, its result dict)."""
        spec = self.spec(init=CONTAINER_PYTHON, args=probe_program(code), **fields)
        handle = self.launch(spec)
        return handle, read_probe(handle)

    read_probe = staticmethod(lambda handle, timeout=20.0: read_probe(handle, timeout))
    process_gone = staticmethod(lambda pid, timeout=3.0: process_gone(pid, timeout))
    probe_program = staticmethod(lambda code, then="sleep": probe_program(code, then))
    find_cgroup = staticmethod(lambda name: find_cgroup(name))
    unique_name = staticmethod(lambda prefix="t": unique_name(prefix))
    python = CONTAINER_PYTHON

    def cleanup(self) -> None:
        """Destroy whatever is still running; remove cgroups, veths and scratch dirs."""
        problems = []
        for state_dir, name, veths in self.started:
            state = StateDir(state_dir)
            pid = state.supervisor_pid()
            if pid is not None:
                try:
                    Container(state_dir, name, pid, None).destroy()
                except Exception as exc:  # noqa: BLE001 - keep cleaning, report below
                    problems.append(f"destroy {name}: {exc}")
                    os.kill(pid, 9)
            for handle in self.handles:
                if handle.state.path == state_dir and handle._is_child:
                    handle.wait(5.0)
            group = find_cgroup(name)
            if group is not None:
                group.remove()
            delete_interfaces(veths)
        shutil.rmtree(self.scratch, ignore_errors=True)
        assert not problems, problems


def read_probe(handle: Container, timeout: float = 20.0) -> dict[str, Any]:
    """The JSON result a probe program printed on the console."""
    with handle.open_console() as console:
        console.read_until(PROBE_MARK.encode(), timeout=timeout)
        line = console.read_until(b"\n", timeout=timeout)
    return json.loads(line.decode().strip())


@pytest.fixture
def containers(request):
    """A Containers factory; everything it started is destroyed and removed at teardown.

    Parametrized indirectly with "pool", its launches go through ready spare supervisors.
    """
    pool = SupervisorPool(1) if getattr(request, "param", "direct") == "pool" else None
    factory = Containers(pool)
    try:
        yield factory
    finally:
        try:
            factory.cleanup()
        finally:
            if pool is not None:
                pool.close()


def process_gone(pid: int, timeout: float = 3.0) -> bool:
    """True once pid has exited (zombies of PID 1 included: pidfd tells exit, not reaping)."""
    import select
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)
