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


# ------------------------------------------------------------------------------------------ the driver's tests

def domain_xml(name: str, init: str = "/bin/sleep", args: Optional[list[str]] = None, devices: str = "",
               memory_kib: int = 131072, extra: str = "", os_extra: str = "") -> str:
    """An lxc domain XML document (args are XML-escaped)."""
    from xml.sax.saxutils import escape
    initargs = "".join(f"<initarg>{escape(a)}</initarg>" for a in (args if args is not None else ["1000"]))
    return (f"<domain type='lxc'><name>{escape(name)}</name><memory unit='KiB'>{memory_kib}</memory>{extra}"
            f"<os><type>exe</type><init>{escape(init)}</init>{initargs}{os_extra}</os>"
            f"<devices>{devices}<console type='pty'/></devices></domain>")


def read_stream_until(stream, marker: bytes, timeout: float = 20.0) -> bytes:
    """Bytes from a virtkernel Stream up to and including marker (AssertionError on timeout)."""
    import time
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} on the console within {timeout}s; got {data[-500:]!r}"
        try:
            chunk = stream.recv(65536, timeout=left)
        except TimeoutError:
            continue
        assert chunk, f"console closed before {marker!r}; got {data[-500:]!r}"
        data += chunk
    return data


class DriverHost:
    """An lxc:///embed host in a temporary root for one test; everything it started is gone afterwards."""

    python = CONTAINER_PYTHON
    xml = staticmethod(domain_xml)
    read_until = staticmethod(read_stream_until)

    def __init__(self, root: str) -> None:
        self.root = root
        self.uri = f"lxc:///embed?root={root}"
        self.connections: list = []

    def open(self, uri: Optional[str] = None):
        """A new connection to this host (closed at teardown)."""
        import virtkernel
        conn = virtkernel.open(uri or self.uri)
        self.connections.append(conn)
        return conn

    @staticmethod
    def probe_program(code: str, then: str = "sleep") -> list[str]:
        return probe_program(code, then)

    @staticmethod
    def read_probe(dom, timeout: float = 20.0) -> dict[str, Any]:
        """The JSON a probe init printed, read through open_console."""
        stream = dom.connection.new_stream()
        try:
            dom.open_console(None, stream)
            data = read_stream_until(stream, PROBE_MARK.encode(), timeout)
            rest = data.split(PROBE_MARK.encode(), 1)[1]
            if b"\n" not in rest:
                rest += read_stream_until(stream, b"\n", timeout)
        finally:
            stream.close()
        return json.loads(rest.split(b"\n")[0].decode().strip())

    def cgroup_driver(self) -> str:
        from virtkernel_lxc.paths import HostPaths
        from virtkernel.uri import parse_uri
        return HostPaths.for_uri(parse_uri(self.uri)).cgroup_driver

    def find_cgroup(self, name: str):
        """The container's cgroup where its state says it is (a claimed spare group), else by its name."""
        from virtkernel.cgroup import DomainCgroup, detect_layout
        placement = os.path.join(self.root, "run", "lxc", name, "cgroup.json")
        if os.path.exists(placement):
            with open(placement) as handle:
                return DomainCgroup.placed(self.cgroup_driver(), name, detect_layout(), json.load(handle))
        return DomainCgroup.find(self.cgroup_driver(), name)

    def leftover_groups(self) -> list[str]:
        """Directories left under this host's cgroups in any hierarchy (spare groups included)."""
        from virtkernel.cgroup import GROUP_ROOT, detect_layout, sanitize_name
        found = []
        for hierarchy in detect_layout().group_hierarchies:
            driver_dir = hierarchy.own_dir / GROUP_ROOT / sanitize_name(self.cgroup_driver())
            if driver_dir.is_dir():
                found += [str(driver_dir / entry.name) for entry in os.scandir(driver_dir) if entry.is_dir()]
        return found

    def cleanup(self) -> None:
        """Destroy what still runs (through a fresh connection), close connections, check nothing leaked."""
        import virtkernel
        problems = []
        conn = virtkernel.open(self.uri)
        try:
            for dom in conn.list_all_domains():
                if dom.is_active():
                    try:
                        dom.destroy()
                    except virtkernel.VirtError as exc:
                        problems.append(f"destroy {dom.name}: {exc}")
                group = self.find_cgroup(dom.name)
                if group is not None:
                    problems.append(f"cgroup of {dom.name} left behind")
                    group.kill_all()
                    group.remove()
        finally:
            conn.close()
            for other in self.connections:
                if not other.closed:
                    other.close()
            leftovers = self.leftover_groups()
            if leftovers:
                problems.append(f"cgroups left behind: {leftovers}")
            shutil.rmtree(self.root, ignore_errors=True)
        assert not problems, problems


@pytest.fixture
def lxc_host():
    """A DriverHost in a fresh temporary root."""
    host = DriverHost(tempfile.mkdtemp(prefix="vklxc-root-"))
    try:
        yield host
    finally:
        host.cleanup()


class EventLog:
    """Records lifecycle events (event, detail) per domain name from one connection."""

    def __init__(self, conn) -> None:
        from virtkernel.enums import DomainEventID
        self.conn = conn
        self.seen: list[tuple[str, int, int]] = []
        conn.domain_event_register_any(None, DomainEventID.LIFECYCLE, self._callback)

    def _callback(self, conn, dom, event, detail, opaque) -> None:
        self.seen.append((dom.name, int(event), int(detail)))

    def of(self, name: str) -> list[tuple[int, int]]:
        self.conn.flush_events()
        return [(e, d) for n, e, d in self.seen if n == name]

    def wait_for(self, name: str, event: tuple[int, int], timeout: float = 10.0) -> list[tuple[int, int]]:
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if event in self.of(name):
                return self.of(name)
            time.sleep(0.02)
        raise AssertionError(f"no event {event} for {name} within {timeout}s; saw {self.of(name)}")


@pytest.fixture
def event_log():
    """EventLog factory: event_log(conn)."""
    return EventLog
