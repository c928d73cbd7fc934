"""Real containers, checked from inside the way a user would."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from virtkernel.enums import ErrorCode
from virtkernel.errors import OperationFailed, OperationInvalid, VirtError
from virtkernel_lxc import BindMount, Container, IdMap, IdMapRange, Interface, StopReason, TmpfsMount
from virtkernel_lxc.network import interface_exists

# Every test runs twice: started from scratch, and through a ready spare supervisor (pool.py).
pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("containers", ["direct", "pool"], indirect=True)]


def test_init_runs_as_pid_1_with_hostname_args_env_and_workdir(containers):
    handle, result = containers.probe("""
        import socket
        result["pid"] = os.getpid()
        result["ppid"] = os.getppid()
        result["hostname"] = socket.gethostname()
        result["argv0"] = open("/proc/1/cmdline", "rb").read().split(b"\\0")[0].decode()
        result["cwd"] = os.getcwd()
        result["env"] = {k: os.environ.get(k) for k in ("GREETING", "container", "VIRTKERNEL_LXC_NAME")}
    """, env={"GREETING": "hello there"}, workdir="/tmp", hostname="box1")
    assert result["pid"] == 1
    assert result["ppid"] == 0
    assert result["hostname"] == "box1"
    assert result["argv0"] == containers.python
    assert result["cwd"] == "/tmp"
    assert result["env"] == {"GREETING": "hello there", "container": "virtkernel-lxc",
                             "VIRTKERNEL_LXC_NAME": handle.name}
    assert handle.status().state == "running"
    assert handle.status().init_pid == handle.init_pid


def test_hostname_defaults_to_the_container_name(containers):
    handle, result = containers.probe("import socket; result['hostname'] = socket.gethostname()")
    assert result["hostname"] == handle.name


def test_proc_shows_only_the_containers_processes(containers):
    _, result = containers.probe("""
        import subprocess
        child = subprocess.Popen(["/bin/sleep", "30"])
        result["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        result["child"] = child.pid
        child.kill()
    """)
    assert result["pids"] == [1, result["child"]]


def test_bind_mounts_tmpfs_and_read_only_system_paths(containers, tmp_path):
    rw = tmp_path / "rw"
    ro = tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "given.txt").write_text("from the host")
    _, result = containers.probe("""
        def try_write(path):
            try:
                with open(path, "w") as f:
                    f.write("x")
                return "ok"
            except OSError as exc:
                return errno.errorcode[exc.errno]
        import errno
        result["rw"] = try_write("/data/written.txt")
        result["ro"] = try_write("/config/new.txt")
        result["ro_read"] = open("/config/given.txt").read()
        result["usr"] = try_write("/usr/vk-should-not-exist")
        result["etc"] = try_write("/etc/vk-should-not-exist")
        result["sys"] = try_write("/sys/kernel/vk-should-not-exist")
        result["proc_sys"] = try_write("/proc/sys/kernel/hostname")
        result["tmp"] = try_write("/tmp/scratch")
        st = os.statvfs("/scratch")
        result["scratch_size"] = st.f_blocks * st.f_frsize
        result["scratch_fs"] = [l.split()[0] for l in open("/proc/mounts") if l.split()[1] == "/scratch"]
    """, binds=[BindMount(str(rw), "/data"), BindMount(str(ro), "/config", readonly=True)],
        tmpfs=[TmpfsMount("/scratch", size=4 << 20)])
    assert result["rw"] == "ok"
    assert (rw / "written.txt").read_text() == "x"
    assert result["ro"] == "EROFS"
    assert not (ro / "new.txt").exists()
    assert result["ro_read"] == "from the host"
    assert result["usr"] == result["etc"] == "EROFS"
    assert result["sys"] in ("EROFS", "EACCES", "ENOENT") and result["sys"] != "ok"
    assert result["proc_sys"] == "EROFS"
    assert result["tmp"] == "ok"
    assert result["scratch_size"] == 4 << 20
    assert result["scratch_fs"] == ["tmpfs"]


def test_dev_is_minimal_and_devices_work(containers):
    _, result = containers.probe("""
        result["dev"] = sorted(os.listdir("/dev"))
        result["zero"] = len(open("/dev/zero", "rb").read(16))
        result["urandom"] = len(open("/dev/urandom", "rb").read(16))
        with open("/dev/null", "w") as f:
            f.write("gone")
        master, slave = os.openpty()
        result["pty"] = os.ttyname(slave)
        result["console_is_tty"] = os.isatty(0) and os.ttyname(0) == "/dev/console" or os.isatty(0)
    """)
    assert result["dev"] == sorted(["console", "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr",
                                    "stdin", "stdout", "tty", "urandom", "zero"])
    assert result["zero"] == result["urandom"] == 16
    assert result["pty"] == "/dev/pts/0"  # a private devpts instance: numbering starts afresh
    assert result["console_is_tty"]


def test_dropped_capabilities_are_gone_from_the_bounding_set(containers):
    _, result = containers.probe("""
        result["bnd"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapBnd")][0]
    """)
    bounding = int(result["bnd"], 16)
    assert not bounding & (1 << 16)  # CAP_SYS_MODULE
    assert not bounding & (1 << 25)  # CAP_SYS_TIME
    assert bounding & (1 << 21)  # CAP_SYS_ADMIN stays (the container's root mounts its own filesystems)


def test_memory_limit_is_enforced_and_oom_kill_is_detected(containers):
    handle, result = containers.probe("""
        import subprocess
        hog = subprocess.run(["/usr/bin/python3", "-c", "b = bytearray(256 << 20)"])
        result["hog_status"] = hog.returncode
    """, memory_limit=64 << 20)
    assert result["hog_status"] == -signal.SIGKILL
    assert handle.stats().oom_kills >= 1
    assert handle.status().state == "running"  # init itself survived
    info = handle.destroy()
    assert info.reason is StopReason.DESTROYED
    assert info.oom and info.oom_kills >= 1


def test_freeze_stops_progress_and_thaw_resumes_it(containers, tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")
    spec = containers.spec(init="/bin/sh", args=["-c", "i=0; while :; do i=$((i+1)); echo $i > /data/counter; "
                                                "sleep 0.01; done"],
                           binds=[BindMount(str(tmp_path), "/data")])
    handle = containers.launch(spec)

    def value() -> int:
        text = counter.read_text().strip()
        return int(text) if text else -1

    deadline = time.monotonic() + 5
    while value() < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert value() >= 3
    handle.freeze()
    assert handle.status().state == "paused"
    frozen_at = value()
    time.sleep(0.3)
    assert value() == frozen_at
    handle.thaw()
    assert handle.status().state == "running"
    deadline = time.monotonic() + 5
    while value() <= frozen_at + 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert value() > frozen_at + 2


def test_console_carries_output_and_input(containers):
    spec = containers.spec(init="/bin/sh", args=["-c", "echo ready; read line; echo \"got:$line\"; sleep 1000"])
    handle = containers.launch(spec)
    with handle.open_console() as console:
        assert b"ready" in console.read_until(b"ready", timeout=10)
        console.write(b"hello console\n")
        assert b"got:hello console" in console.read_until(b"got:hello console", timeout=10)


def test_a_second_console_client_needs_force(containers):
    handle = containers.launch(containers.spec(init="/bin/sh", args=["-c", "echo one; read x; echo two:$x; "
                                                                       "sleep 1000"]))
    first = handle.open_console()
    try:
        first.read_until(b"one", timeout=10)
        with pytest.raises(OperationInvalid, match="in use"):
            handle.open_console()
        with handle.open_console(force=True) as second:
            while first.read(timeout=5):  # the first client is disconnected: its stream ends
                pass
            second.write(b"hi\n")
            assert b"two:hi" in second.read_until(b"two:hi", timeout=10)
    finally:
        first.close()


def test_shutdown_signals_init_and_reports_a_clean_exit(containers):
    handle = containers.launch(containers.spec(
        init="/bin/sh", args=["-c", "trap 'exit 7' TERM; echo trapped; while :; do sleep 0.05; done"]))
    with handle.open_console() as console:  # PID 1 ignores SIGTERM until its handler is installed
        console.read_until(b"trapped", timeout=10)
    supervisor = handle.supervisor_pid
    info = handle.shutdown(timeout=10)
    assert info.reason is StopReason.SHUTDOWN
    assert info.exit_code == 7
    assert containers.process_gone(supervisor)
    assert handle.exit_info() == info


def test_shutdown_timeout_without_force_leaves_it_running_and_with_force_kills(containers):
    # PID 1 without a SIGTERM handler never sees SIGTERM: only force ends it.
    handle = containers.launch(containers.spec(init="/bin/sleep", args=["1000"]))
    with pytest.raises(VirtError) as caught:
        handle.shutdown(timeout=0.2)
    assert caught.value.code == ErrorCode.OPERATION_TIMEOUT
    assert handle.status().state == "running"
    info = handle.shutdown(timeout=0.2, force=True)
    assert info.reason is StopReason.SHUTDOWN
    assert info.signal == signal.SIGKILL


def test_reboot_restarts_init_in_fresh_namespaces(containers):
    handle = containers.launch(containers.spec(init="/bin/sh", args=["-c", "echo boot $(cat /proc/uptime); "
                                                                       "sleep 1000"]))
    with handle.open_console() as console:
        console.read_until(b"boot", timeout=10)
        old_pid = handle.init_pid
        new_pid = handle.reboot()
        assert new_pid != old_pid
        assert containers.process_gone(old_pid)
        status = handle.status()
        assert status.init_pid == new_pid and status.boots == 2 and status.state == "running"
        assert b"boot" in console.read_until(b"boot", timeout=10)  # same console across the reboot


REBOOT_FROM_INSIDE = """
    import ctypes
    with open("/data/boots", "a") as f:
        f.write("boot\\n")
    boots = len(open("/data/boots").read().split())
    result["boots"] = boots
    if boots == 1:
        ctypes.CDLL(None, use_errno=True).reboot({command})
"""


def test_reboot_inside_the_container_restarts_it(containers, tmp_path):
    code = REBOOT_FROM_INSIDE.format(command=0x01234567)  # LINUX_REBOOT_CMD_RESTART
    spec = containers.spec(init=containers.python, args=containers.probe_program(code),
                           binds=[BindMount(str(tmp_path), "/data")])
    handle = containers.launch(spec)
    first_init = handle.init_pid
    events = handle.events(timeout=20)
    try:
        event = next(events)
    finally:
        events.close()
    assert event["event"] == "rebooted" and event["init_pid"] != first_init
    assert containers.read_probe(handle)["boots"] == 2
    assert handle.status().boots == 2


def test_power_off_inside_the_container_stops_it(containers, tmp_path):
    code = REBOOT_FROM_INSIDE.format(command=0x4321FEDC)  # LINUX_REBOOT_CMD_POWER_OFF
    spec = containers.spec(init=containers.python, args=containers.probe_program(code),
                           binds=[BindMount(str(tmp_path), "/data")])
    handle = containers.launch(spec)
    info = handle.wait(timeout=20)
    assert info is not None and info.reason is StopReason.EXITED and info.signal == signal.SIGINT
    assert (tmp_path / "boots").read_text().split() == ["boot"]


def test_destroy_leaves_no_process_cgroup_veth_or_mount_behind(containers):
    name = containers.unique_name("d")
    veth = f"vkd{name[-8:]}"
    spec = containers.spec(name=name, init="/bin/sh", args=["-c", "sleep 1000 & sleep 1000 & wait"],
                           interfaces=[Interface(host_name=veth)])
    handle = containers.launch(spec)
    group = containers.find_cgroup(name)
    deadline = time.monotonic() + 5
    while len(group.pids()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    members = group.pids()
    assert handle.init_pid in members and len(members) == 3
    assert interface_exists(veth)
    supervisor = handle.supervisor_pid
    started = time.perf_counter()
    info = handle.destroy()
    elapsed = time.perf_counter() - started
    assert info.reason is StopReason.DESTROYED and info.signal == signal.SIGKILL
    for pid in (*members, supervisor):
        assert containers.process_gone(pid, timeout=0.5)
    assert containers.find_cgroup(name) is None
    assert not interface_exists(veth)
    with open("/proc/self/mountinfo") as mounts:
        assert handle.state.path not in mounts.read()
    assert not os.path.exists(handle.state.control_socket)
    assert handle.exit_info().reason is StopReason.DESTROYED
    with pytest.raises(OperationInvalid, match="not running"):
        handle.status()
    print(f"destroy took {elapsed * 1000:.1f} ms")


def test_failed_start_reports_why_and_leaves_nothing(containers):
    spec = containers.spec(init="/no/such/init")
    with pytest.raises(OperationFailed, match="cannot run init program '/no/such/init'"):
        containers.launch(spec)
    assert containers.find_cgroup(spec.name) is None
    assert not os.path.exists(os.path.join(containers.state_dir(spec.name), "supervisor.pid"))


def test_a_second_launch_of_a_running_container_is_refused(containers):
    spec = containers.spec(init="/bin/sleep", args=["1000"])
    containers.launch(spec)
    with pytest.raises(OperationInvalid, match="already running"):
        containers.launch(spec)


def test_container_outlives_its_launcher_and_a_new_process_reconnects(containers):
    spec = containers.spec(init="/bin/sh", args=["-c", "echo survivor; sleep 1000"])
    handle = containers.launch_elsewhere(spec)  # the launching process has exited by now
    assert handle.status().state == "running"
    # A third process attaches, reads the console (output from before it connected) and destroys.
    program = (
        "import sys\n"
        "from virtkernel_lxc import Container\n"
        "c = Container.attach(sys.argv[1])\n"
        "with c.open_console() as con:\n"
        "    con.read_until(b'survivor', timeout=10)\n"
        "print(c.init_pid, c.destroy().reason.value)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", program, handle.state.path], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(handle.init_pid), "destroyed"]
    assert handle.wait(timeout=5).reason is StopReason.DESTROYED
    with pytest.raises(OperationInvalid):
        Container.attach(handle.state.path)


def test_user_namespace_maps_the_containers_root_to_an_unprivileged_host_uid(containers):
    os.chmod(containers.scratch, 0o711)  # the mapped root must be able to reach its state dir's rootfs/
    handle, result = containers.probe("""
        result["uid"] = os.getuid()
        result["uid_map"] = open("/proc/self/uid_map").read().split()
        result["usr_owner"] = os.stat("/usr").st_uid
        open("/tmp/mine", "w").close()
        result["tmp_owner"] = os.stat("/tmp/mine").st_uid
    """, idmap=IdMap([IdMapRange(0, 200000, 65536)], [IdMapRange(0, 200000, 65536)]))
    assert result["uid"] == 0
    assert result["uid_map"] == ["0", "200000", "65536"]
    assert result["usr_owner"] == 65534  # the host's root is not mapped: the overflow uid
    assert result["tmp_owner"] == 0
    with open(f"/proc/{handle.init_pid}/status") as status:
        uids = [line.split()[1:] for line in status if line.startswith("Uid:")][0]
    assert uids == ["200000"] * 4  # seen from the host, the container's root is uid 200000


def test_without_console_init_talks_to_dev_null_and_no_console_is_offered(containers, tmp_path):
    spec = containers.spec(init="/bin/sh", args=["-c", "readlink /proc/1/fd/2 > /data/stdout; sleep 1000"],
                           console=False, binds=[BindMount(str(tmp_path), "/data")])
    handle = containers.launch(spec)
    with pytest.raises(OperationInvalid, match="has no console"):
        handle.open_console()
    deadline = time.monotonic() + 10
    while not (tmp_path / "stdout").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)
    assert (tmp_path / "stdout").read_text().strip() == "/dev/null"


def test_stats_report_memory_and_cpu_of_the_cgroup(containers):
    handle = containers.launch(containers.spec(
        init="/bin/sh", args=["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done; sleep 1000"]))
    with handle.open_console() as console:
        console.read_until(b"done", timeout=30)
    stats = handle.stats()
    assert stats.memory_usage > 0
    assert stats.cpu_time_ns > 10_000_000  # the loop burnt well over 10 ms of CPU
    assert stats.oom_kills == 0


def test_sigterm_to_the_supervisor_destroys_the_container(containers):
    handle = containers.launch(containers.spec(init="/bin/sleep", args=["1000"]))
    init = handle.init_pid
    os.kill(handle.supervisor_pid, signal.SIGTERM)
    info = handle.wait(timeout=10)
    assert info is not None and info.reason is StopReason.DESTROYED
    assert containers.process_gone(init)
    assert containers.find_cgroup(handle.name) is None


def test_devices_outside_the_minimal_set_are_denied(containers):
    _, result = containers.probe("""
        try:
            os.mknod("/tmp/disk", 0o600 | 0o060000, os.makedev(7, 0))  # a loop block device
            os.open("/tmp/disk", os.O_RDONLY)
            result["disk"] = "opened"
        except OSError as exc:
            result["disk"] = exc.errno
        result["null"] = len(open("/dev/null", "rb").read())
    """)
    assert result["disk"] == errno.EPERM
    assert result["null"] == 0


def test_an_init_that_exits_stops_the_container_and_cleans_up(containers):
    spec = containers.spec(init="/bin/sh", args=["-c", "sleep 0.2; exit 3"])
    handle = containers.launch(spec)
    info = handle.wait(timeout=20)
    assert info is not None and info.reason is StopReason.EXITED and info.exit_code == 3
    assert containers.find_cgroup(spec.name) is None


def test_a_killed_supervisor_takes_its_container_along_and_the_name_can_start_again(containers):
    spec = containers.spec(init="/bin/sleep", args=["1000"])
    handle = containers.launch(spec)
    init = handle.init_pid
    os.kill(handle.supervisor_pid, signal.SIGKILL)
    assert handle.wait(timeout=10) is None  # reaped, and a killed supervisor leaves no exit.json
    assert containers.process_gone(init, timeout=5)  # PDEATHSIG: the container dies with its supervisor
    with pytest.raises(OperationInvalid, match="not running"):
        Container.attach(handle.state.path)
    again = containers.launch(spec)
    assert again.status().state == "running"
    assert again.init_pid != init
