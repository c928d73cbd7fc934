"""The lxc driver through the public API: what a user of virtkernel.open("lxc:///embed?root=...") sees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

import virtkernel
from virtkernel.enums import (ConnectListDomainsFlags as List, DomainEventDefinedDetailType as Defined,
                              DomainEventResumedDetailType as Resumed, DomainEventStartedDetailType as Started,
                              DomainEventStoppedDetailType as Stopped, DomainEventSuspendedDetailType as Suspended,
                              DomainEventType as Event, DomainEventUndefinedDetailType as Undefined,
                              DomainMemoryStatTags,
                              DomainPausedReason, DomainRunningReason, DomainShutoffReason, DomainState, ErrorCode)


pytestmark = pytest.mark.timeout(60)

INSIDE_PROBE = """
    import errno
    result["pid1"] = open("/proc/1/cmdline", "rb").read().split(b"\\0")[:2]
    result["pid1"] = [p.decode() for p in result["pid1"]]
    result["mypid"] = os.getpid()
    result["hostname"] = open("/proc/sys/kernel/hostname").read().strip()
    result["cwd"] = os.getcwd()
    result["env"] = os.environ.get("GREETING")
    result["data"] = open("/data/hello.txt").read()
    try:
        open("/data/new.txt", "w")
        result["ro"] = "writable"
    except OSError as exc:
        result["ro"] = errno.errorcode[exc.errno]
    open("/scratch/x", "w").write("y")
    st = os.statvfs("/scratch")
    result["scratch_size"] = st.f_blocks * st.f_frsize
    mounts = [line.split() for line in open("/proc/self/mounts")]
    result["scratch_fs"] = [m[2] for m in mounts if m[1] == "/scratch"]
    result["sys_ro"] = "ro" in [m[3].split(",") for m in mounts if m[1] == "/sys"][0]
"""


def _unique(prefix: str = "d") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _process_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return True
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().split(")")[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.01)
    return False


# ----------------------------------------------------------------------------------------------- connection

def test_uris_are_checked_and_two_roots_are_two_hosts(lxc_host, tmp_path):
    for uri, words in [("lxc:///elsewhere", "unknown path '/elsewhere'"),
                       ("lxc:///embed", "needs ?root=DIR"),
                       ("lxc:///embed?root=relative/dir", "root 'relative/dir' is not an absolute path"),
                       (f"lxc:///embed?root={tmp_path}&colour=red", "unknown query parameter 'colour'"),
                       ("lxc:///system?root=/x", "takes no query parameters")]:
        with pytest.raises(virtkernel.VirtError) as info:
            virtkernel.open(uri)
        assert words in info.value.message, (uri, info.value.message)
    one = lxc_host.open()
    other = lxc_host.open(f"lxc:///embed?root={tmp_path}")
    try:
        one.define_xml(lxc_host.xml("only-here"))
        assert [d.name for d in one.list_all_domains()] == ["only-here"]
        assert other.list_all_domains() == []
        assert one.get_type() == "LXC" and one.get_hostname() == os.uname().nodename
        assert one.get_uri() == lxc_host.uri
        assert "<os_type>exe</os_type>" in one.get_capabilities() and "type=\"lxc\"" in one.get_capabilities()
        assert one.get_info()[2] == os.cpu_count()
        assert os.path.exists(os.path.join(lxc_host.root, "etc", "lxc", "only-here.xml"))
    finally:
        other.close()


def test_unsupported_xml_is_refused_naming_the_element_before_anything_starts(lxc_host):
    conn = lxc_host.open()
    cases = [
        (lxc_host.xml("bad1", devices="<disk type='file'><source file='/x'/><target dev='vda'/></disk>"), "<disk>"),
        (lxc_host.xml("bad2", extra="<features><privnet/></features>"), "<features>"),
        (lxc_host.xml("bad3").replace("<type>exe</type>", "<type>hvm</type>"), "os type 'hvm'"),
        (lxc_host.xml("bad4", devices="<interface type='network'><source network='default'/></interface>"),
         "interface type 'network'"),
        (lxc_host.xml("bad5", devices="<filesystem type='block'><source dev='/dev/sda'/><target dir='/x'/>"
                                    "</filesystem>"), "filesystem type 'block'"),
        (lxc_host.xml("bad6", extra="<cputune><emulatorpin cpuset='0'/></cputune>"), "<emulatorpin>"),
        (lxc_host.xml("bad7", os_extra="<inituser>nobody</inituser>"), "<inituser>"),
    ]
    for xml, words in cases:
        for action in (conn.define_xml, conn.create_xml):
            with pytest.raises(virtkernel.VirtError) as info:
                action(xml)
            assert words in info.value.message
            assert info.value.code in (ErrorCode.CONFIG_UNSUPPORTED, ErrorCode.XML_ERROR)
    assert conn.list_all_domains() == []
    assert os.listdir(os.path.join(lxc_host.root, "run", "lxc")) in ([], [".lock"])


# ----------------------------------------------------------------------------------------------- lifecycle

def test_a_container_runs_its_init_as_pid_1_with_the_xml_s_mounts_env_and_hostname(lxc_host, tmp_path, event_log):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("from the host")
    conn = lxc_host.open()
    events = event_log(conn)
    name = _unique("web")
    devices = (f"<filesystem type='mount'><source dir='{data}'/><target dir='/data'/><readonly/></filesystem>"
               "<filesystem type='ram'><source usage='8' units='MiB'/><target dir='/scratch'/></filesystem>")
    xml = lxc_host.xml(name, init=lxc_host.python, args=lxc_host.probe_program(INSIDE_PROBE), devices=devices,
                     os_extra="<initenv name='GREETING'>hi there</initenv><initdir>/tmp</initdir>")
    dom = conn.define_xml(xml)
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.UNKNOWN) and dom.get_id() == -1
    dom.create()
    result = lxc_host.read_probe(dom)
    assert result["pid1"] == [lxc_host.python, "-c"] and result["mypid"] == 1
    assert result["hostname"] == name
    assert result["cwd"] == "/tmp" and result["env"] == "hi there"
    assert result["data"] == "from the host" and result["ro"] == "EROFS"
    assert result["scratch_fs"] == ["tmpfs"] and result["scratch_size"] == 8 << 20
    assert result["sys_ro"] is True

    assert dom.is_active() and dom.is_persistent() and dom.get_os_type() == "exe"
    assert dom.get_state() == (DomainState.RUNNING, DomainRunningReason.BOOTED)
    assert dom.get_id() > 0 and conn.lookup_by_id(dom.get_id()).name == name
    assert conn.lookup_by_uuid_string(dom.get_uuid_string()).name == name
    assert f"id=\"{dom.get_id()}\"" in dom.get_xml_desc() and "id=" not in dom.get_xml_desc(2)
    assert [d.name for d in conn.list_all_domains(List.ACTIVE | List.RUNNING)] == [name]
    assert conn.list_all_domains(List.INACTIVE) == [] and conn.list_all_domains(List.TRANSIENT) == []
    assert dom.get_hostname() == name
    info = dom.get_info()
    assert info.state == DomainState.RUNNING and info.cpu_time > 0 and info.max_mem == 131072
    with pytest.raises(virtkernel.VirtError) as already:
        dom.create()
    assert already.value.code == ErrorCode.OPERATION_INVALID and "already running" in already.value.message

    init_pid = int(open(os.path.join(lxc_host.root, "run", "lxc", name, "init.pid")).read())
    started = time.monotonic()
    dom.destroy()
    destroy_seconds = time.monotonic() - started
    assert _process_gone(init_pid, 1.0)
    assert lxc_host.find_cgroup(name) is None
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.DESTROYED) and dom.get_id() == -1
    assert destroy_seconds < 2.0
    dom.undefine()
    with pytest.raises(virtkernel.VirtError) as gone:
        conn.lookup_by_name(name)
    assert gone.value.code == ErrorCode.NO_DOMAIN
    assert events.of(name) == [(Event.DEFINED, Defined.ADDED), (Event.STARTED, Started.BOOTED),
                               (Event.STOPPED, Stopped.DESTROYED), (Event.UNDEFINED, Undefined.REMOVED)]


MEMORY_HOG = """
    chunks = []
    sys.stdout.write("allocating\\n"); sys.stdout.flush()
    while True:
        chunks.append(bytearray(4 << 20))
"""


def test_the_memory_limit_is_enforced_and_the_oom_kill_is_reported_as_a_crash(lxc_host, event_log):
    conn = lxc_host.open()
    events = event_log(conn)
    name = _unique("hog")
    dom = conn.define_xml(lxc_host.xml(name, init=lxc_host.python, args=lxc_host.probe_program(MEMORY_HOG),
                                     memory_kib=32 * 1024))
    dom.create()
    events.wait_for(name, (Event.STOPPED, Stopped.CRASHED), timeout=20)
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.CRASHED)
    assert not dom.is_active() and lxc_host.find_cgroup(name) is None
    assert events.of(name) == [(Event.DEFINED, Defined.ADDED), (Event.STARTED, Started.BOOTED),
                               (Event.STOPPED, Stopped.CRASHED)]


TICKER = """
    import time
    n = 0
    while True:
        n += 1
        sys.stdout.write(f"tick {n}\\n"); sys.stdout.flush()
        time.sleep(0.02)
"""


def _ticks(stream, seconds: float) -> list[int]:
    """Tick numbers printed on the console during ``seconds``."""
    data = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            data += stream.recv(65536, timeout=left)
        except TimeoutError:
            break
    return [int(line.split()[1]) for line in data.decode(errors="replace").splitlines()
            if line.startswith("tick ") and len(line.split()) == 2 and line.split()[1].isdigit()]


def test_suspend_freezes_every_process_and_resume_lets_them_go_on(lxc_host, event_log):
    conn = lxc_host.open()
    events = event_log(conn)
    name = _unique("tick")
    dom = conn.create_xml(lxc_host.xml(name, init=lxc_host.python, args=lxc_host.probe_program(TICKER)),
                          virtkernel.DomainCreateFlags.PAUSED)
    assert dom.get_state() == (DomainState.PAUSED, DomainPausedReason.USER)
    assert not dom.is_persistent()
    stream = conn.new_stream()
    dom.open_console(None, stream)
    try:
        assert _ticks(stream, 0.3) == []  # paused from the start: init has not printed anything
        dom.resume()
        assert dom.get_state() == (DomainState.RUNNING, DomainRunningReason.UNPAUSED)
        running = _ticks(stream, 0.4)
        assert len(running) >= 3
        dom.suspend()
        assert dom.get_state() == (DomainState.PAUSED, DomainPausedReason.USER)
        _ticks(stream, 0.1)  # what was already on its way
        assert _ticks(stream, 0.4) == []
        dom.resume()
        after = _ticks(stream, 0.4)
        assert after and after[0] > running[-1]
    finally:
        stream.close()
    assert [d.name for d in conn.list_all_domains(List.TRANSIENT | List.RUNNING)] == [name]
    dom.destroy()
    with pytest.raises(virtkernel.VirtError):
        conn.lookup_by_name(name)  # transient: gone once stopped
    assert events.of(name) == [(Event.STARTED, Started.BOOTED), (Event.SUSPENDED, Suspended.PAUSED),
                               (Event.RESUMED, Resumed.UNPAUSED), (Event.SUSPENDED, Suspended.PAUSED),
                               (Event.RESUMED, Resumed.UNPAUSED), (Event.STOPPED, Stopped.DESTROYED)]
    assert not os.path.exists(os.path.join(lxc_host.root, "run", "lxc", name, "live.xml"))


POLITE_INIT = ["-c", "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done"]


def test_shutdown_reboot_and_a_container_that_ends_on_its_own(lxc_host, event_log):
    conn = lxc_host.open()
    events = event_log(conn)
    name = _unique("polite")
    dom = conn.define_xml(lxc_host.xml(name, init="/bin/sh", args=POLITE_INIT))
    dom.create()
    stream = conn.new_stream()
    dom.open_console(None, stream)
    lxc_host.read_until(stream, b"ready")
    first_id = dom.get_id()
    dom.reboot()
    lxc_host.read_until(stream, b"ready")  # the new init on the same console
    assert dom.get_id() == first_id and dom.is_active()
    dom.shutdown()
    lxc_host.read_until(stream, b"bye")
    stream.close()
    events.wait_for(name, (Event.STOPPED, Stopped.SHUTDOWN))
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.SHUTDOWN)

    quick = _unique("quick")
    done = conn.define_xml(lxc_host.xml(quick, init="/bin/true", args=[]))
    done.create()
    events.wait_for(quick, (Event.STOPPED, Stopped.SHUTDOWN))
    assert done.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.SHUTDOWN)
    assert lxc_host.find_cgroup(name) is None and lxc_host.find_cgroup(quick) is None


def test_tunables_change_the_cgroup_live_and_the_xml_in_the_config(lxc_host):
    conn = lxc_host.open()
    name = _unique("tune")
    dom = conn.define_xml(lxc_host.xml(name, extra="<cputune><shares>512</shares></cputune>"
                                           "<memtune><soft_limit unit='MiB'>48</soft_limit></memtune>"))
    assert dom.get_scheduler_parameters() == {"cpu_shares": 512, "vcpu_period": 0, "vcpu_quota": 0}
    dom.create()
    group = lxc_host.find_cgroup(name)
    assert group.cpu_shares() == 512 and group.memory_limit() == 128 << 20
    assert group.memory_soft_limit() == 48 << 20
    dom.set_scheduler_parameters({"cpu_shares": 300, "vcpu_period": 50000, "vcpu_quota": 25000})
    assert group.cpu_shares() == 300 and group.cpu_quota() == (50000, 25000)
    assert dom.get_scheduler_parameters() == {"cpu_shares": 300, "vcpu_period": 50000, "vcpu_quota": 25000}
    dom.set_memory_parameters({"hard_limit": 65536})
    assert group.memory_limit() == 64 << 20 and dom.get_memory_parameters()["hard_limit"] == 65536
    dom.set_memory(32768)
    assert group.memory_limit() == 32 << 20 and dom.get_info().memory > 0
    assert "<currentMemory unit=\"KiB\">32768</currentMemory>" in dom.get_xml_desc()
    assert "currentMemory" not in dom.get_xml_desc(2)  # live only
    dom.set_scheduler_parameters({"cpu_shares": 2048}, virtkernel.DomainModificationImpact.CONFIG)
    assert "<shares>2048</shares>" in dom.get_xml_desc(2) and group.cpu_shares() == 300
    with pytest.raises(virtkernel.VirtError) as info:
        dom.set_memory(1 << 30)
    assert "higher than max memory" in info.value.message
    stats = dom.get_cpu_stats(total=True)[0]
    assert stats["cpu_time"] > 0 and "user_time" in stats
    assert len(dom.get_cpu_stats()) == os.cpu_count()
    memory = dom.memory_stats()
    assert memory[DomainMemoryStatTags.ACTUAL_BALLOON] == 32768 and memory[DomainMemoryStatTags.RSS] > 0
    dom.destroy()
    dom.create()  # the config, not the old live changes
    assert lxc_host.find_cgroup(name).cpu_shares() == 2048
    dom.destroy()


# ----------------------------------------------------------------------------------------------- network and reconnect

PING_PROBE = """
    import subprocess
    def ping(address):
        return subprocess.run(["/usr/bin/ping", "-c", "1", "-W", "3", address], capture_output=True).returncode
    result["ping4"] = ping("192.0.2.1")
    result["ping6"] = ping("2001:db8:7::1")
    result["links"] = sorted(os.listdir("/sys/class/net"))
"""


def _run_elsewhere(lxc_host, body: str, own_netns: bool = False) -> str:
    """Run Python ``body`` (with ``conn`` open on the host) in another process that then exits; its stdout."""
    program = textwrap.dedent("""
        import sys, subprocess, virtkernel
        if OWN_NETNS:
            from virtkernel_lxc.syscalls import CloneFlags, unshare
            unshare(CloneFlags.NEWNET)
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        conn = virtkernel.open(URI)
    """).replace("OWN_NETNS", repr(own_netns)).replace("URI", repr(lxc_host.uri)) + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ping_over_the_veth_and_reconnect_from_another_process(lxc_host, event_log):
    name = _unique("net")
    host_dev = f"vk{uuid.uuid4().hex[:8]}"
    devices = (f"<interface type='ethernet'><mac address='02:00:00:12:34:56'/><target dev='{host_dev}'/>"
               "<ip address='192.0.2.2' prefix='30'/><ip address='2001:db8:7::2' prefix='64'/>"
               "<route gateway='192.0.2.1'/></interface>")
    xml = lxc_host.xml(name, init=lxc_host.python, args=lxc_host.probe_program(PING_PROBE), devices=devices)
    # Another process, in a network namespace of its own (the containers' "host" side), starts the
    # container, gives the host end its addresses and exits.
    _run_elsewhere(lxc_host, f"""
        dom = conn.create_xml({xml!r})
        for addr in ("192.0.2.1/30", "2001:db8:7::1/64"):
            subprocess.run(["ip", "addr", "add", addr, "dev", {host_dev!r}, "nodad"], check=True)
        print(dom.get_id())
    """, own_netns=True)
    conn = lxc_host.open()
    events = event_log(conn)
    dom = conn.lookup_by_name(name)
    assert dom.is_active() and not dom.is_persistent()
    result = lxc_host.read_probe(dom)
    assert result["ping4"] == 0 and result["ping6"] == 0
    assert result["links"] == ["eth0", "lo"]
    counters = dom.interface_stats(host_dev)
    assert counters.rx_packets >= 2 and counters.tx_packets >= 2 and counters.tx_bytes > 0
    assert dom.interface_stats("02:00:00:12:34:56").rx_packets >= counters.rx_packets  # by MAC too
    [(_, stats)] = conn.get_all_domain_stats()
    assert stats["state.state"] == DomainState.RUNNING and stats["net.count"] == 1
    assert stats["net.0.name"] == host_dev and stats["net.0.rx.pkts"] >= 2
    assert stats["cpu.time"] > 0 and stats["balloon.current"] == 131072
    # the stop is noticed by this process's watcher although another process started it
    init_pid = int(open(os.path.join(lxc_host.root, "run", "lxc", name, "init.pid")).read())
    os.kill(init_pid, signal.SIGKILL)
    events.wait_for(name, (Event.STOPPED, Stopped.CRASHED))
    assert conn.list_all_domains() == [] and lxc_host.find_cgroup(name) is None


def test_a_new_process_finds_running_containers_and_reports_those_that_died_meanwhile(lxc_host):
    alive, dies = _unique("alive"), _unique("dies")
    out = _run_elsewhere(lxc_host, f"""
        for name in ({alive!r}, {dies!r}):
            conn.define_xml({lxc_host.xml("NAME")!r}.replace("NAME", name)).create()
        print(" ".join(str(conn.lookup_by_name(n).get_id()) for n in ({alive!r}, {dies!r})))
    """)
    ids = [int(x) for x in out.split()]
    dead_init = int(open(os.path.join(lxc_host.root, "run", "lxc", dies, "init.pid")).read())
    os.kill(dead_init, signal.SIGKILL)  # while no process of ours has a connection
    assert _process_gone(ids[1])
    conn = lxc_host.open()
    first = conn.lookup_by_name(alive)
    assert first.is_active() and first.get_id() == ids[0]
    second = conn.lookup_by_name(dies)
    assert second.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.CRASHED)
    assert lxc_host.find_cgroup(dies) is None
    # a second process sees the same, and cannot start the running one twice
    out = _run_elsewhere(lxc_host, f"""
        dom = conn.lookup_by_name({alive!r})
        try:
            dom.create()
        except virtkernel.VirtError as exc:
            print(exc.code.name, dom.get_id())
    """)
    assert out.split() == ["OPERATION_INVALID", str(ids[0])]
    second.create()
    assert second.is_active()
    first.destroy()
    second.destroy()
    assert [d.get_state()[1] for d in (first, second)] == [DomainShutoffReason.DESTROYED] * 2


def test_a_refused_or_failed_start_leaves_nothing_behind(lxc_host):
    hooks = os.path.join(lxc_host.root, "etc", "hooks")
    os.makedirs(hooks, mode=0o755)
    os.chmod(hooks, 0o755)
    record = os.path.join(lxc_host.root, "ops.txt")
    script = os.path.join(hooks, "lxc")
    with open(script, "w") as handle:
        handle.write(f"#!/bin/sh\necho \"$2\" >> {record}\n[ \"$2\" = start ] && [ -e {record}.refuse ] && "
                     "{ echo 'no start today' >&2; exit 1; }\nexit 0\n")
    os.chmod(script, 0o755)
    open(record + ".refuse", "w").close()
    conn = lxc_host.open()
    name = _unique("refused")
    dom = conn.define_xml(lxc_host.xml(name))
    with pytest.raises(virtkernel.VirtError) as info:
        dom.create()
    assert info.value.code == ErrorCode.HOOK_SCRIPT_FAILED and "no start today" in info.value.message
    assert open(record).read().split() == ["prepare", "start", "stopped", "release"]
    assert lxc_host.find_cgroup(name) is None and not dom.is_active()
    assert dom.get_state()[0] == DomainState.SHUTOFF

    os.unlink(record + ".refuse")
    os.unlink(record)
    broken = conn.define_xml(lxc_host.xml(_unique("broken"), init="/no/such/init"))
    with pytest.raises(virtkernel.VirtError) as info:
        broken.create()
    assert "cannot run init program '/no/such/init'" in info.value.message
    assert open(record).read().split() == ["prepare", "start", "stopped", "release"]
    assert lxc_host.find_cgroup(broken.name) is None and not broken.is_active()
    state = os.path.join(lxc_host.root, "run", "lxc", broken.name)
    # the live XML, status and cgroup placement written while the init was exec'ing are gone again
    assert not any(f in os.listdir(state) for f in ("supervisor.pid", "init.pid", "control.sock", "live.xml",
                                                    "status.json", "cgroup.json"))
    dom.create()  # the host is not left half-started
    assert dom.is_active()
    dom.destroy()


def test_the_cli_console_attaches_a_terminal_until_the_escape_character(lxc_host):
    import pty
    import select
    conn = lxc_host.open()
    name = _unique("shell")
    dom = conn.create_xml(lxc_host.xml(name, init="/bin/sh", args=[]))
    pid, fd = pty.fork()
    if pid == 0:  # the CLI on a terminal of its own
        os.execv(sys.executable, [sys.executable, "-m", "virtkernel", "-c", lxc_host.uri, "console", name])

    def read_until(marker: bytes, seconds: float = 15) -> bytes:
        data, deadline = b"", time.monotonic() + seconds
        while marker not in data and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                data += os.read(fd, 4096)
        return data
    try:
        assert f"Connected to domain '{name}'".encode() in read_until(b"Escape character")
        seen = b""
        for _ in range(10):  # what is typed before the shell set up its terminal is discarded: type again
            os.write(fd, b"echo inside-$(hostname)\r")
            seen += read_until(f"inside-{name}\r\n".encode(), 1.5)
            if f"inside-{name}\r\n".encode() in seen:
                break
        assert f"inside-{name}\r\n".encode() in seen
        os.write(fd, b"\x1d")  # ^]
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        os.close(fd)
    assert dom.is_active()  # detaching leaves the container running
    dom.destroy()


def test_definitions_autostart_reboot_events_and_filters(lxc_host, event_log):
    conn = lxc_host.open()
    events = event_log(conn)
    name = _unique("def")
    dom = conn.define_xml(lxc_host.xml(name, init="/bin/sh", args=POLITE_INIT))
    uuid_text = dom.get_uuid_string()
    conn.define_xml(lxc_host.xml(name, init="/bin/sh", args=POLITE_INIT).replace(
        "<name>", f"<uuid>{uuid_text}</uuid><name>", 1).replace("<memory unit='KiB'>131072", "<memory unit='KiB'>65536"))
    assert dom.get_max_memory() == 65536
    with pytest.raises(virtkernel.VirtError) as clash:
        conn.define_xml(lxc_host.xml(name))  # same name, another uuid
    assert f"domain '{name}' already exists with uuid {uuid_text}" in clash.value.message
    assert not dom.get_autostart()
    dom.set_autostart(True)
    assert dom.get_autostart() and [d.name for d in conn.list_all_domains(List.AUTOSTART)] == [name]
    assert conn.list_all_domains(List.NO_AUTOSTART) == []
    reboots = []
    conn.domain_event_register_any(dom, virtkernel.DomainEventID.REBOOT, lambda c, d, o: reboots.append(d.name))
    dom.create()
    dom.reboot()
    conn.flush_events()
    assert reboots == [name]
    dom.undefine()  # a running domain becomes transient
    assert dom.is_active() and not dom.is_persistent()
    assert [d.name for d in conn.list_all_domains(List.TRANSIENT)] == [name]
    [(_, stats)] = conn.get_all_domain_stats(virtkernel.DomainStatsTypes.STATE,
                                             virtkernel.ConnectGetAllDomainStatsFlags.RUNNING)
    assert stats == {"state.state": DomainState.RUNNING, "state.reason": DomainRunningReason.BOOTED}
    assert conn.get_all_domain_stats(0, virtkernel.ConnectGetAllDomainStatsFlags.SHUTOFF) == []
    dom.destroy()
    with pytest.raises(virtkernel.VirtError):
        conn.lookup_by_name(name)
    assert events.of(name) == [(Event.DEFINED, Defined.ADDED), (Event.DEFINED, Defined.UPDATED),
                               (Event.STARTED, Started.BOOTED), (Event.UNDEFINED, Undefined.REMOVED),
                               (Event.STOPPED, Stopped.DESTROYED)]


def test_the_system_uri_keeps_its_files_in_the_system_directories():
    with virtkernel.open("lxc:///system") as conn:
        assert conn.get_uri() == "lxc:///system" and conn.get_type() == "LXC"
        conn.list_all_domains()
    assert os.path.isdir("/etc/virtkernel/lxc") and os.path.isdir("/run/virtkernel/lxc")


def test_stops_done_or_seen_by_other_processes_reach_this_process_s_events(lxc_host, event_log):
    conn = lxc_host.open()
    events = event_log(conn)
    later, destroyed = _unique("later"), _unique("gone")
    # started elsewhere after this process attached: the watcher's rescan finds it
    _run_elsewhere(lxc_host, f"conn.create_xml({lxc_host.xml(later)!r})")
    time.sleep(2.5)
    init_pid = int(open(os.path.join(lxc_host.root, "run", "lxc", later, "init.pid")).read())
    os.kill(init_pid, signal.SIGKILL)
    events.wait_for(later, (Event.STOPPED, Stopped.CRASHED))
    # destroyed by another process: reported with the reason that process saw
    conn.create_xml(lxc_host.xml(destroyed))
    _run_elsewhere(lxc_host, f"conn.lookup_by_name({destroyed!r}).destroy()")
    assert events.wait_for(destroyed, (Event.STOPPED, Stopped.DESTROYED)) == [
        (Event.STARTED, Started.BOOTED), (Event.STOPPED, Stopped.DESTROYED)]
    assert conn.list_all_domains() == []


def test_an_idmap_runs_the_container_in_a_user_namespace(lxc_host):
    os.chmod(lxc_host.root, 0o711)  # the container's root is host uid 200000: it must reach its rootfs
    conn = lxc_host.open()
    name = _unique("userns")
    code = """
        result["uid_map"] = open("/proc/self/uid_map").read().split()
        result["uid"] = os.getuid()
    """
    dom = conn.create_xml(lxc_host.xml(name, init=lxc_host.python, args=lxc_host.probe_program(code), extra=(
        "<idmap><uid start='0' target='200000' count='65536'/><gid start='0' target='200000' count='65536'/>"
        "</idmap>")))
    result = lxc_host.read_probe(dom)
    assert result == {"uid_map": ["0", "200000", "65536"], "uid": 0}
    init_pid = int(open(os.path.join(lxc_host.root, "run", "lxc", name, "init.pid")).read())
    assert os.stat(f"/proc/{init_pid}").st_uid == 200000  # on the host, an unprivileged uid
    dom.destroy()


def test_a_bridge_interface_joins_the_named_bridge(lxc_host):
    name = _unique("br")
    bridge, host_dev = f"vb{uuid.uuid4().hex[:8]}", f"vk{uuid.uuid4().hex[:8]}"
    xml = lxc_host.xml(name, devices=f"<interface type='bridge'><source bridge='{bridge}'/><target dev='{host_dev}'/>"
                                     "<guest dev='lan0'/></interface>")
    out = _run_elsewhere(lxc_host, f"""
        import json
        subprocess.run(["ip", "link", "add", {bridge!r}, "type", "bridge"], check=True)
        dom = conn.create_xml({xml!r})
        link = json.loads(subprocess.run(["ip", "-j", "link", "show", "dev", {host_dev!r}], capture_output=True,
                                         text=True, check=True).stdout)[0]
        inside = subprocess.run(["nsenter", "-t", open({lxc_host.root!r} + "/run/lxc/{name}/init.pid").read().strip(),
                                 "--net", "ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
        print(link.get("master"), ": lan0@" in inside)
        dom.destroy()
        print(subprocess.run(["ip", "link", "show", "dev", {host_dev!r}], capture_output=True).returncode != 0)
    """, own_netns=True)
    assert out.split() == [bridge, "True", "True"]


def test_autostart_containers_start_when_a_process_first_opens_the_host(lxc_host):
    name = _unique("auto")
    with lxc_host.open() as conn:
        dom = conn.define_xml(lxc_host.xml(name, init="/bin/sh", args=POLITE_INIT))
        dom.set_autostart(True)
        assert not dom.is_active()
    # every connection of this process is closed: the next open is a fresh start of the host, as after a reboot
    with lxc_host.open() as conn:
        dom = conn.lookup_by_name(name)
        try:
            assert dom.is_active()
            assert dom.get_state() == (DomainState.RUNNING, DomainRunningReason.BOOTED)
        finally:
            if dom.is_active():
                dom.destroy()
            dom.undefine()


def test_a_uuid_held_by_another_domain_is_refused_persistent_or_running(lxc_host):
    conn = lxc_host.open()
    first = conn.define_xml(lxc_host.xml(_unique("first")))
    taken = first.get_uuid_string()
    other = _unique("other")
    with pytest.raises(virtkernel.VirtError) as clash:
        conn.define_xml(lxc_host.xml(other).replace("<name>", f"<uuid>{taken}</uuid><name>", 1))
    assert clash.value.message.endswith(f"domain '{first.name}' already exists with uuid {taken}")
    transient = conn.create_xml(lxc_host.xml(_unique("transient")))
    running = transient.get_uuid_string()
    with pytest.raises(virtkernel.VirtError, match=f"domain '{transient.name}' already exists with uuid {running}"):
        conn.define_xml(lxc_host.xml(other).replace("<name>", f"<uuid>{running}</uuid><name>", 1))
    transient.destroy()  # gone with its UUID: the definition is now accepted
    reused = conn.define_xml(lxc_host.xml(other).replace("<name>", f"<uuid>{running}</uuid><name>", 1))
    assert reused.get_uuid_string() == running
    first.undefine()
    reused.undefine()
