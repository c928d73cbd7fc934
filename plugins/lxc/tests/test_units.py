"""The pieces without a container: spec checks, JSON round trips, syscall errors, state files."""

from __future__ import annotations

import errno
import os
import signal

import pytest

from virtkernel.errors import InvalidArg, OperationInvalid
from virtkernel_lxc import (BindMount, Container, ContainerSpec, ExitInfo, IdMap, IdMapRange, Interface, IPAddress,
                            StopReason, TmpfsMount, launch)
from virtkernel_lxc.state import StateDir, bind_unix, connect_unix
from virtkernel_lxc.syscalls import MountFlags, mount, pivot_root, setns


def full_spec() -> ContainerSpec:
    return ContainerSpec(
        name="web1", uuid="c7a5fdbd-cdaf-9455-926a-d65c16db1809", init="/sbin/init", args=["--quiet"],
        env={"A": "1"}, workdir="/srv", root_dir="/var/lib/roots/web1",
        binds=[BindMount("/srv/data", "/data", readonly=True)], tmpfs=[TmpfsMount("/run", 1 << 20)],
        memory_limit=256 << 20, vcpus=2, cpuset="0-1", cpu_shares=512, cpu_period=100000, cpu_quota=50000,
        pids_limit=100, interfaces=[Interface("vnet0", "eth0", "br0", "52:54:00:12:34:56",
                                              [IPAddress("192.0.2.2", 24)], [], "192.0.2.1", None, 1500)],
        console=True, idmap=IdMap([IdMapRange(0, 100000, 65536)], [IdMapRange(0, 100000, 65536)]),
        hostname="web")


def test_spec_round_trips_through_json_data():
    spec = full_spec()
    assert ContainerSpec.from_dict(spec.to_dict()) == spec


def test_spec_environment_layers_defaults_identity_and_own_variables():
    spec = ContainerSpec(name="c1", uuid="u1", env={"PATH": "/opt/bin", "X": "y"})
    env = spec.environment()
    assert env["PATH"] == "/opt/bin"
    assert env["X"] == "y"
    assert env["VIRTKERNEL_LXC_NAME"] == "c1" and env["VIRTKERNEL_LXC_UUID"] == "u1"
    assert env["container"] == "virtkernel-lxc"


@pytest.mark.parametrize("change, message", [
    ({"name": ""}, "container name"),
    ({"init": "sbin/init"}, "absolute path"),
    ({"workdir": "srv"}, "working directory"),
    ({"binds": [BindMount("/a", "relative")]}, "mount target"),
    ({"binds": [BindMount("/a", "/x/../etc")]}, "without '..'"),
    ({"binds": [BindMount("a", "/a")]}, "source"),
    ({"memory_limit": 0}, "memory limit"),
    ({"pids_limit": -1}, "pids limit"),
    ({"interfaces": [Interface("this-name-is-too-long")]}, "interface name"),
    ({"interfaces": [Interface("v1", "eth0"), Interface("v2", "eth0")]}, "used twice"),
    ({"interfaces": [Interface("v1", mac="52:54:00:12:34")]}, "MAC address"),
    ({"interfaces": [Interface("v1", addresses=[IPAddress("192.0.2.1", 33)])]}, "prefix 33"),
    ({"interfaces": [Interface("v1", addresses=[IPAddress("192.0.2.300", 24)])]}, "192.0.2.300"),
    ({"drop_capabilities": ["sys_nothing"]}, "unknown capability"),
    ({"idmap": IdMap([], [])}, "id map"),
])
def test_spec_validation_names_the_problem(change, message):
    spec = full_spec()
    for key, value in change.items():
        setattr(spec, key, value)
    with pytest.raises(ValueError, match=message):
        spec.validate()


def test_launch_refuses_an_invalid_spec_with_invalid_arg(tmp_path):
    with pytest.raises(InvalidArg, match="init program"):
        launch(ContainerSpec(name="c", uuid="u", init="init"), str(tmp_path / "c"))


def test_attach_to_a_container_that_is_not_running(tmp_path):
    with pytest.raises(OperationInvalid, match="is not running"):
        Container.attach(str(tmp_path))


def test_syscall_errors_name_the_call_and_its_arguments(tmp_path):
    with pytest.raises(OSError) as caught:
        mount(None, str(tmp_path / "missing"), None, MountFlags.BIND)
    assert caught.value.errno in (errno.ENOENT, errno.EINVAL)
    assert "mount(None, " in str(caught.value) and "missing" in str(caught.value)
    with pytest.raises(OSError, match=r"pivot_root\('/nonexistent'"):
        pivot_root("/nonexistent", "/nonexistent")
    with pytest.raises(OSError, match=r"setns\(-1"):
        setns(-1, 0)


def test_exit_info_describes_and_round_trips():
    killed = ExitInfo.from_status(StopReason.CRASHED, signal.SIGKILL, oom_kills=2)
    assert killed.signal == signal.SIGKILL and killed.exit_code is None and killed.oom
    assert killed.describe() == "crashed (killed by SIGKILL)"
    clean = ExitInfo.from_status(StopReason.SHUTDOWN, 3 << 8)
    assert clean.exit_code == 3 and clean.signal is None and not clean.oom
    assert ExitInfo.from_dict(clean.to_dict()) == clean


def test_control_socket_paths_longer_than_sockaddr_un_allows(tmp_path):
    deep = tmp_path / ("d" * 90) / ("e" * 60)
    deep.mkdir(parents=True)
    path = str(deep / "control.sock")
    assert len(path) > 108
    listener = bind_unix(path)
    try:
        client = connect_unix(path, timeout=2)
        server, _ = listener.accept()
        client.sendall(b"ping")
        assert server.recv(4) == b"ping"
        client.close()
        server.close()
    finally:
        listener.close()
    assert os.path.exists(path)


def test_init_helper_error_code_matches_the_kernels():
    from virtkernel.enums import ErrorCode
    from virtkernel_lxc.init_process import OPERATION_FAILED
    assert OPERATION_FAILED == ErrorCode.OPERATION_FAILED


def test_init_helper_imports_nothing_from_virtkernel_nor_the_spec_module():
    """The init helper stays small (its exec is on every start's critical path): no virtkernel, no spec
    (dataclasses, ipaddress, re)."""
    import subprocess
    import sys
    probe = ("import sys; import virtkernel_lxc.init_process; "
             "print(sorted(m for m in sys.modules if m.startswith('virtkernel') or m in ('ipaddress', 'dataclasses', "
             "'typing', 'json', 're', 'pickle')))")
    import virtkernel_lxc
    package_parent = os.path.dirname(os.path.dirname(virtkernel_lxc.__file__))  # editable installs use a finder
    env = {"PYTHONPATH": os.pathsep.join([package_parent, *sys.path])}
    done = subprocess.run([sys.executable, "-S", "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert eval(done.stdout) == ["virtkernel_lxc", "virtkernel_lxc.init_process", "virtkernel_lxc.rootfs",
                                 "virtkernel_lxc.syscalls"]


def test_state_dir_forgets_stale_pid_files(tmp_path):
    state = StateDir(str(tmp_path / "s"))
    state.create()
    state.write_text("supervisor.pid", "999999999\n")
    assert state.read_pid("supervisor.pid") == 999999999
    assert state.supervisor_pid() is None  # no such process
    state.create()
    assert state.read_pid("supervisor.pid") is None
    assert os.path.isdir(state.rootfs)


def test_the_init_helpers_own_json_and_path_encoding_round_trip():
    import json

    import subprocess
    import sys

    from virtkernel_lxc.init_process import PATHS_FROM_ARGV1, _json_line, encode_paths
    reply = {"ok": False, "error": 'cannot run \'/bin/x\': "quoted" \\ back\nline \x01 é 😀', "code": 9}
    line = _json_line(reply)
    assert line.endswith(b"\n") and json.loads(line) == reply
    paths = ["/usr/lib/python3.11", "/with,comma:colon", "/ünï\udcff"]  # an undecodable byte survives too
    probe = PATHS_FROM_ARGV1 + "print(repr(sys.path[:3]))"  # what both fresh interpreters run first
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe, encode_paths(paths)], capture_output=True,
                          text=True, errors="surrogateescape", timeout=60)
    assert done.returncode == 0, done.stderr
    assert eval(done.stdout) == paths
