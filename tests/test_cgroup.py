"""Cgroups: layout detection, a fake v2 tree, and real v1/v2 groups on this host (limits enforced for real)."""

from __future__ import annotations

import mmap
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from virtkernel.cgroup import (
    CgroupLayout, Controller, DomainCgroup, detect_layout, sanitize_name,
)
from virtkernel.cgroup.backends import shares_to_weight, weight_to_shares
from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import InvalidArg, NoSupport, VirtError

pytestmark = pytest.mark.timeout(120)

PY = sys.executable
MiB = 1 << 20
IN_CI = os.environ.get("CI") == "true"


def _require(condition: bool, reason: str) -> None:
    """A missing prerequisite fails under CI and skips (with the reason) elsewhere."""
    if not condition:
        if IN_CI:
            pytest.fail(f"prerequisite missing in CI: {reason}")
        pytest.skip(reason)


# ---------------------------------------------------------------------------------------------- fixtures

class Children:
    """Child processes started by a test, each waiting for 'go' on stdin before it does its work."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, code: str, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen([PY, "-c", "import sys; sys.stdin.readline()\n" + code],
                                stdin=subprocess.PIPE, **kwargs)
        self.procs.append(proc)
        return proc

    @staticmethod
    def go(proc: subprocess.Popen) -> None:
        proc.stdin.write(b"go\n")
        proc.stdin.flush()

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            if proc.stdin:
                proc.stdin.close()


@pytest.fixture
def children():
    kids = Children()
    yield kids
    kids.cleanup()


@pytest.fixture(scope="module")
def host_layout() -> CgroupLayout:
    _require(os.geteuid() == 0, "cgroup tests need root")
    _require(Path("/proc/self/cgroup").exists(), "no cgroups on this host")
    return detect_layout()


def _filtered_mountinfo(tmp_path: Path, keep) -> Path:
    """A copy of this host's mountinfo with only some cgroup mounts: a pure-v1 or pure-v2 view of real trees."""
    lines = [line for line in Path("/proc/self/mountinfo").read_text().splitlines(keepends=True)
             if " - cgroup" not in line or keep(line)]
    path = tmp_path / "mountinfo"
    path.write_text("".join(lines))
    return path


@pytest.fixture
def v1_layout(host_layout, tmp_path) -> CgroupLayout:
    """This host's v1 hierarchies only (the v1 freezer, signals instead of cgroup.kill)."""
    layout = detect_layout(_filtered_mountinfo(tmp_path, lambda line: " - cgroup cgroup " in line))
    _require(layout.version_of(Controller.MEMORY) == 1, "no v1 memory hierarchy on this host")
    return layout


@pytest.fixture
def v2_layout(host_layout, tmp_path) -> CgroupLayout:
    """This host's cgroup v2 tree only."""
    layout = detect_layout(_filtered_mountinfo(tmp_path, lambda line: " - cgroup2 " in line))
    _require(layout.unified is not None, "cgroup v2 is not mounted on this host")
    return layout


def _group_fixture(layout: CgroupLayout):
    group = DomainCgroup.create("pytest", f"t-{uuid.uuid4().hex[:12]}", layout)
    try:
        yield group
    finally:
        group.remove()


@pytest.fixture
def group(host_layout):
    yield from _group_fixture(host_layout)


@pytest.fixture
def v1_group(v1_layout):
    yield from _group_fixture(v1_layout)


@pytest.fixture
def v2_group(v2_layout):
    _require(v2_layout.v2_freeze, "this kernel's cgroup v2 cannot freeze groups")
    yield from _group_fixture(v2_layout)


def _own_groups() -> dict[str, str]:
    """This process's cgroup per controller name ('' for v2), read independently of the code under test."""
    groups = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else [""]:
            groups[name] = path
    return groups


def _cgroups_of(pid: int) -> dict[str, str]:
    groups = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else [""]:
            groups[name] = path
    return groups


# ---------------------------------------------------------------------------------------------- layout (fake files)

HYBRID_MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/mem\\040ory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
99 31 0:32 /lxc/inner /mnt/memory-bind rw,relatime - cgroup cgroup rw,memory
"""

HYBRID_CGROUP = """\
9:name=systemd:/user
4:memory:/jobs/42
3:cpuset:/
2:cpu,cpuacct:/jobs/42
0::/jobs/42
"""


def _write_fake_host(tmp_path: Path, mountinfo: str, cgroup: str) -> tuple[Path, Path]:
    (tmp_path / "mountinfo").write_text(mountinfo)
    (tmp_path / "cgroup").write_text(cgroup)
    return tmp_path / "mountinfo", tmp_path / "cgroup"


def test_layout_chooses_v1_per_bound_controller_and_v2_for_the_rest(tmp_path):
    root = tmp_path / "root"
    unified_own = root / "sys/fs/cgroup/unified/jobs/42"
    unified_own.mkdir(parents=True)
    (unified_own / "cgroup.controllers").write_text("cpu memory pids io\n")
    (unified_own / "cgroup.freeze").write_text("0\n")
    mountinfo, cgroup = _write_fake_host(tmp_path, HYBRID_MOUNTINFO, HYBRID_CGROUP)
    layout = detect_layout(mountinfo, cgroup, root_override=root)

    assert {c: layout.version_of(c) for c in Controller} == {
        Controller.CPU: 1, Controller.CPUACCT: 1, Controller.CPUSET: 1, Controller.MEMORY: 1,
        Controller.PIDS: 2, Controller.BLKIO: 2, Controller.FREEZER: 2, Controller.DEVICES: None,
    }
    cpu = layout.hierarchy_for(Controller.CPU)
    assert cpu is layout.hierarchy_for(Controller.CPUACCT)  # co-mounted: one hierarchy, one directory
    assert cpu.own_dir == root / "sys/fs/cgroup/cpu,cpuacct/jobs/42"
    assert layout.hierarchy_for(Controller.MEMORY).mount_point == root / "sys/fs/cgroup/mem ory"
    assert layout.hierarchy_for(Controller.CPUSET).own_dir == root / "sys/fs/cgroup/cpuset"
    assert layout.unified.own_dir == unified_own
    assert len(layout.group_hierarchies) == 4  # cpu+cpuacct, cpuset, memory, unified; name=systemd ignored
    with pytest.raises(NoSupport, match="cgroup controller 'devices' is not available on this host") as info:
        layout.hierarchy_for(Controller.DEVICES)
    assert info.value.domain == ErrorDomain.CGROUP


def test_layout_can_prefer_the_v1_freezer(tmp_path):
    root = tmp_path / "root"
    (root / "sys/fs/cgroup/unified/other.scope").mkdir(parents=True)
    (root / "sys/fs/cgroup/unified/other.scope/cgroup.freeze").write_text("0\n")
    mountinfo, cgroup = _write_fake_host(
        tmp_path, "37 31 0:34 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n"
                  "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n", "6:freezer:/\n0::/\n")
    assert detect_layout(mountinfo, cgroup, root).version_of(Controller.FREEZER) == 2
    assert detect_layout(mountinfo, cgroup, root, prefer_v2_freeze=False).version_of(Controller.FREEZER) == 1


def test_layout_of_a_bind_mounted_subtree(tmp_path):
    mountinfo, cgroup = _write_fake_host(
        tmp_path, "99 31 0:32 /lxc/inner /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        "4:memory:/lxc/inner/payload\n")
    layout = detect_layout(mountinfo, cgroup, root_override=tmp_path)
    assert layout.hierarchy_for(Controller.MEMORY).own_dir == tmp_path / "sys/fs/cgroup/memory/payload"
    assert layout.unified is None


def test_sanitize_name_is_reversible_and_never_collides_with_kernel_files():
    assert sanitize_name("web-1") == "web-1"
    assert sanitize_name("my vm/../x") == "my_20vm_2f_2e_2e_2fx"
    assert sanitize_name("tasks") != "tasks"
    names = ["a.b", "a_2eb", "a_b", "a b", "tasks", "_74asks", "é", "cgroup.procs", "memory.max"]
    escaped = [sanitize_name(n) for n in names]
    assert len(set(escaped)) == len(names)
    assert all("." not in e and "/" not in e for e in escaped)
    with pytest.raises(InvalidArg):
        sanitize_name("")


def test_shares_and_weight_conversion():
    assert shares_to_weight(1024) == 40 and weight_to_shares(40) == 1024
    assert shares_to_weight(2) == 1 and shares_to_weight(262144) == 10000
    assert weight_to_shares(1) == 2 and weight_to_shares(10000) == 262144
    weights = [shares_to_weight(s) for s in range(2, 262145, 997)]
    assert weights == sorted(weights)


# ---------------------------------------------------------------------------------------------- fake v2 tree

V2_DEFAULTS = {
    "cgroup.procs": "", "cgroup.freeze": "0", "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.kill": "",
    "cgroup.controllers": "cpuset cpu io memory pids", "cgroup.subtree_control": "",
    "memory.max": "max", "memory.low": "0", "memory.swap.max": "max", "memory.current": "4096",
    "memory.events": "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n", "cpu.max": "max 100000", "cpu.weight": "100",
    "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n", "pids.max": "max",
    "cpuset.cpus": "", "cpuset.cpus.effective": "0-7", "cpuset.mems": "", "cpuset.mems.effective": "0",
    "io.weight": "default 100\n",
}


def _populate_like_the_kernel(directory: Path) -> None:
    for name, content in V2_DEFAULTS.items():
        (directory / name).write_text(content)


@pytest.fixture
def fake_v2(tmp_path):
    """A pure cgroup v2 host in tmp_path; the group's files appear as the kernel would create them."""
    own = tmp_path / "root/sys/fs/cgroup/user.slice/session-1"
    own.mkdir(parents=True)
    _populate_like_the_kernel(own)
    mountinfo, cgroup = _write_fake_host(
        tmp_path, "41 31 0:38 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        "0::/user.slice/session-1\n")
    layout = detect_layout(mountinfo, cgroup, root_override=tmp_path / "root")
    group = DomainCgroup.create("lxc", "web 1", layout)
    (directory,) = group.directories
    _populate_like_the_kernel(directory)
    return group, directory


def test_fake_v2_group_lives_below_the_own_cgroup(fake_v2, tmp_path):
    group, directory = fake_v2
    assert directory == tmp_path / "root/sys/fs/cgroup/user.slice/session-1/virtkernel/lxc/web_201"
    assert {c for c in Controller if group.layout.version_of(c) == 2} == set(Controller) - {Controller.DEVICES}
    again = DomainCgroup.create("lxc", "web 1", group.layout)
    assert again.directories == group.directories
    assert DomainCgroup.find("lxc", "web 1", group.layout).directories == group.directories
    assert DomainCgroup.find("lxc", "web 2", group.layout) is None


def test_fake_v2_files_are_written_as_the_v2_interface_expects(fake_v2):
    group, d = fake_v2
    group.set_memory_limit(64 * MiB)
    assert (d / "memory.max").read_text() == str(64 * MiB)
    assert group.memory_limit() == 64 * MiB
    group.set_memory_limit(None)
    assert (d / "memory.max").read_text() == "max" and group.memory_limit() is None

    group.set_memory_soft_limit(16 * MiB)
    assert (d / "memory.low").read_text() == str(16 * MiB) and group.memory_soft_limit() == 16 * MiB

    group.set_memory_limit(64 * MiB)
    group.set_swap_hard_limit(96 * MiB)  # libvirt's value is memory + swap; v2 limits swap alone
    assert (d / "memory.swap.max").read_text() == str(32 * MiB)
    assert group.swap_hard_limit() == 96 * MiB
    with pytest.raises(InvalidArg, match="must not be below the memory limit"):
        group.set_swap_hard_limit(32 * MiB)

    assert group.memory_usage() == 4096 and group.oom_kills() == 2
    assert group.cpu_time_ns() == 1_500_000

    group.set_cpu_quota(100000, 50000)
    assert (d / "cpu.max").read_text() == "50000 100000" and group.cpu_quota() == (100000, 50000)
    group.set_cpu_quota(20000, None)
    assert (d / "cpu.max").read_text() == "max 20000" and group.cpu_quota() == (20000, None)

    group.set_cpu_shares(1024)
    assert (d / "cpu.weight").read_text() == "40" and group.cpu_shares() == 1024
    (d / "cpu.weight").write_text("100\n")
    assert group.cpu_shares() == 2597  # 2 + 99 * 262142 / 9999

    group.set_pids_max(50)
    assert (d / "pids.max").read_text() == "50" and group.pids_max() == 50
    group.set_pids_max(None)
    assert (d / "pids.max").read_text() == "max" and group.pids_max() is None

    assert group.cpuset() == "0-7" and group.cpuset_mems() == "0"  # empty own value: the effective one
    group.set_cpuset("1-2,5", "0")
    assert (d / "cpuset.cpus").read_text() == "1-2,5" and group.cpuset() == "1-2,5"

    assert group.blkio_weight() == 100
    group.set_blkio_weight(500)
    assert (d / "io.weight").read_text() == "default 500" and group.blkio_weight() == 500

    group.add_process(4242)
    assert (d / "cgroup.procs").read_text() == "4242"
    assert group.pids() == {4242}


def test_fake_v2_freeze_waits_for_the_kernel_to_report_frozen(fake_v2):
    group, d = fake_v2

    def kernel() -> None:  # reports "frozen 1" a little after cgroup.freeze is set, like the kernel
        deadline = time.monotonic() + 10
        while (d / "cgroup.freeze").read_text().strip() != "1" and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        (d / "cgroup.events").write_text("populated 1\nfrozen 1\n")

    thread = threading.Thread(target=kernel)
    thread.start()
    started = time.monotonic()
    assert not group.is_frozen()
    group.freeze(timeout=5)
    thread.join()
    assert time.monotonic() - started >= 0.2
    assert group.is_frozen()
    group.thaw()
    assert (d / "cgroup.freeze").read_text() == "0"


def test_fake_v2_freeze_timeout_thaws_and_reports(fake_v2):
    group, d = fake_v2
    with pytest.raises(VirtError, match=r"did not freeze within 0.2 seconds") as info:
        group.freeze(timeout=0.2)
    assert info.value.code == ErrorCode.OPERATION_TIMEOUT
    assert (d / "cgroup.freeze").read_text() == "0"


def test_fake_v2_missing_files_and_devices_are_not_supported(fake_v2):
    group, d = fake_v2
    (d / "memory.max").unlink()
    with pytest.raises(NoSupport, match=f"cgroup file {d / 'memory.max'} does not exist"):
        group.memory_limit()
    with pytest.raises(NoSupport, match="'devices' is not available"):
        group.allow_device("c 1:3 rwm")


def test_fake_v2_remove_deletes_the_directory_and_unused_parents(fake_v2):
    group, d = fake_v2
    other = DomainCgroup.create("lxc", "web 2", group.layout)
    for name in V2_DEFAULTS:
        (d / name).unlink()  # the kernel's files vanish with rmdir; a fake tree has to drop them itself
    group.remove()
    assert not d.exists() and not group.exists()
    assert d.parent.is_dir()  # still holds "web 2"
    group.remove()  # idempotent
    other.remove()
    own = group.layout.unified.own_dir
    assert not (own / "virtkernel").exists() and own.is_dir()


# ---------------------------------------------------------------------------------------------- validation

@pytest.mark.parametrize("call, parameter", [
    (lambda g: g.set_memory_limit(-1), "limit_bytes"),
    (lambda g: g.set_memory_soft_limit(-5), "soft_limit_bytes"),
    (lambda g: g.set_swap_hard_limit(-5), "swap_hard_limit_bytes"),
    (lambda g: g.set_cpu_shares(-1), "shares"),
    (lambda g: g.set_cpu_quota(-1, None), "period_us"),
    (lambda g: g.set_cpu_quota(100000, -1), "quota_us"),
    (lambda g: g.set_pids_max(-1), "pids_max"),
    (lambda g: g.set_blkio_weight(-1), "weight"),
    (lambda g: g.set_cpuset("-1"), "cpus"),
    (lambda g: g.set_cpuset("0", "x"), "mems"),
    (lambda g: g.add_process(-3), "pid"),
    (lambda g: g.freeze(timeout=-1), "timeout"),
])
def test_setters_refuse_bad_values_naming_the_parameter(fake_v2, call, parameter):
    group, _ = fake_v2
    with pytest.raises(InvalidArg) as info:
        call(group)
    assert str(info.value).startswith(parameter + " ")


def test_cpu_period_range(fake_v2):
    group, _ = fake_v2
    with pytest.raises(InvalidArg, match="period_us must be between 1000 and 1000000"):
        group.set_cpu_quota(999, None)
    with pytest.raises(InvalidArg, match="quota_us must be at least 1000"):
        group.set_cpu_quota(100000, 10)


# ---------------------------------------------------------------------------------------------- real groups on this host

@pytest.mark.root
def test_real_group_is_created_below_the_own_cgroup_of_every_hierarchy(group, host_layout, children):
    own = _own_groups()
    suffix = Path("virtkernel", "pytest", sanitize_name(group.name))
    assert len(group.directories) == len(host_layout.group_hierarchies) >= 2
    for hierarchy in host_layout.group_hierarchies:
        directory = group._dirs[hierarchy]
        assert directory.is_dir()
        name = "" if hierarchy.version == 2 else next(iter(hierarchy.controllers)).value
        assert directory == hierarchy.mount_point / own[name].lstrip("/") / suffix
    assert DomainCgroup.create("pytest", group.name, host_layout).directories == group.directories
    assert DomainCgroup.find("pytest", group.name, host_layout).directories == group.directories
    assert DomainCgroup.find("pytest", "never-created", host_layout) is None

    child = children.start("import time; time.sleep(60)")
    group.add_process(child.pid)
    assert group.pids() == {child.pid}
    memberships = _cgroups_of(child.pid)
    for hierarchy in host_layout.group_hierarchies:
        name = "" if hierarchy.version == 2 else next(iter(hierarchy.controllers)).value
        assert memberships[name].endswith("/" + suffix.as_posix())
    found = DomainCgroup.find("pytest", group.name, host_layout, pid=child.pid)
    assert found.directories == group.directories


@pytest.mark.root
def test_real_cpuset_group_got_its_parents_cpus_and_mems(group, host_layout):
    _require(host_layout.version_of(Controller.CPUSET) == 1, "no v1 cpuset hierarchy")
    directory = group.path(Controller.CPUSET)
    parent = host_layout.hierarchy_for(Controller.CPUSET).own_dir
    for name in ("cpuset.cpus", "cpuset.mems"):
        assert (directory / name).read_text().strip() == (parent / name).read_text().strip() != ""
    group.set_cpuset("0", (parent / "cpuset.mems").read_text().strip())
    assert group.cpuset() == "0"
    with pytest.raises(VirtError, match=r"cannot write '0-4095' to .*/cpuset.cpus: (Numerical result out of range|Invalid argument)$") as info:
        group.set_cpuset("0-4095")
    assert info.value.code == ErrorCode.SYSTEM_ERROR and info.value.domain == ErrorDomain.CGROUP


@pytest.mark.root
def test_real_memory_limit_is_enforced_and_oom_kills_are_counted(group, host_layout, children):
    group.set_memory_limit(32 * MiB)
    assert group.memory_limit() == 32 * MiB
    if host_layout.version_of(Controller.MEMORY) == 1:
        assert (group.path(Controller.MEMORY) / "memory.limit_in_bytes").read_text().strip() == str(32 * MiB)
    assert group.oom_kills() == 0

    small = children.start("b = bytearray(b'x' * (4 << 20)); print('ok', flush=True)", stdout=subprocess.PIPE)
    group.add_process(small.pid)
    children.go(small)
    assert small.stdout.read() == b"ok\n" and small.wait(timeout=30) == 0

    big = children.start("b = bytearray(b'x' * (200 << 20)); print('survived', flush=True)",
                         stdout=subprocess.PIPE)
    group.add_process(big.pid)
    children.go(big)
    assert big.wait(timeout=60) == -signal.SIGKILL
    assert big.stdout.read() == b""
    assert group.oom_kills() == 1
    group.set_memory_limit(None)
    assert group.memory_limit() is None


@pytest.mark.root
def test_real_memory_usage_soft_and_swap_limits(group, children):
    child = children.start("b = bytearray(b'x' * (20 << 20)); print('ok', flush=True); sys.stdin.readline()",
                           stdout=subprocess.PIPE)
    group.add_process(child.pid)
    children.go(child)
    assert child.stdout.readline() == b"ok\n"
    assert group.memory_usage() >= 20 * MiB
    group.set_memory_soft_limit(64 * MiB)
    assert group.memory_soft_limit() == 64 * MiB
    group.set_memory_soft_limit(None)
    assert group.memory_soft_limit() is None
    try:
        group.set_memory_limit(128 * MiB)
        group.set_swap_hard_limit(256 * MiB)
        assert group.swap_hard_limit() == 256 * MiB
        group.set_swap_hard_limit(None)
        assert group.swap_hard_limit() is None
    except NoSupport:
        pass  # no swap accounting on this kernel: reported, not faked
    children.go(child)


@pytest.mark.root
def test_real_cpu_quota_caps_cpu_time(group, children):
    group.set_cpu_quota(100000, 20000)  # 20% of one CPU
    assert group.cpu_quota() == (100000, 20000)
    group.set_cpu_shares(512)
    assert group.cpu_shares() == 512
    before = group.cpu_time_ns()
    child = children.start("import time\nend = time.monotonic() + 1.0\nwhile time.monotonic() < end: pass")
    group.add_process(child.pid)
    started = time.monotonic()
    children.go(child)
    assert child.wait(timeout=30) == 0
    wall = time.monotonic() - started
    used = (group.cpu_time_ns() - before) / 1e9
    assert 0.02 < used < 0.35 * wall, f"{used:.3f}s of CPU in {wall:.3f}s with a 20% quota"
    group.set_cpu_quota(100000, None)
    assert group.cpu_quota() == (100000, None)


@pytest.mark.root
def test_real_pids_max_refuses_fork(group, children):
    group.set_pids_max(3)
    assert group.pids_max() == 3
    child = children.start(
        "import os, time\n"
        "forked = refused = 0\n"
        "for _ in range(5):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except BlockingIOError:\n"
        "        refused += 1\n"
        "        continue\n"
        "    if pid == 0:\n"
        "        time.sleep(30); os._exit(0)\n"
        "    forked += 1\n"
        "print(forked, refused, flush=True)\n", stdout=subprocess.PIPE)
    group.add_process(child.pid)
    children.go(child)
    assert child.stdout.readline() == b"2 3\n"
    assert len(group.pids()) == 3
    group.kill_all()
    assert child.wait(timeout=10) == -signal.SIGKILL
    group.set_pids_max(None)
    assert group.pids_max() is None


def _counting_child(children: Children, tmp_path: Path) -> tuple[subprocess.Popen, mmap.mmap]:
    counter = tmp_path / "counter"
    counter.write_bytes(b"\0" * 8)
    child = children.start(
        "import mmap, struct\n"
        f"f = open({str(counter)!r}, 'r+b'); m = mmap.mmap(f.fileno(), 8)\n"
        "n = 0\n"
        "while True:\n"
        "    n += 1; m[:8] = struct.pack('Q', n)\n")
    f = open(counter, "r+b")
    view = mmap.mmap(f.fileno(), 8)
    f.close()
    return child, view


def _progress(view: mmap.mmap, seconds: float = 0.3) -> int:
    first = struct.unpack("Q", view[:8])[0]
    time.sleep(seconds)
    return struct.unpack("Q", view[:8])[0] - first


def _check_freeze_and_thaw(group: DomainCgroup, children: Children, tmp_path: Path) -> None:
    child, view = _counting_child(children, tmp_path)
    group.add_process(child.pid)
    children.go(child)
    deadline = time.monotonic() + 10
    while struct.unpack("Q", view[:8])[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _progress(view) > 0
    assert not group.is_frozen()
    group.freeze()
    assert group.is_frozen()
    assert _progress(view) == 0
    group.thaw()
    assert not group.is_frozen()
    assert _progress(view) > 0
    view.close()


@pytest.mark.root
def test_real_freeze_stops_a_counting_child_and_thaw_resumes_it_v1(v1_group, children, tmp_path):
    assert v1_group.layout.version_of(Controller.FREEZER) == 1
    _check_freeze_and_thaw(v1_group, children, tmp_path)


@pytest.mark.root
def test_real_freeze_stops_a_counting_child_and_thaw_resumes_it_v2(v2_group, children, tmp_path):
    assert v2_group.layout.version_of(Controller.FREEZER) == 2
    assert (v2_group.path(Controller.FREEZER) / "cgroup.freeze").exists()
    _check_freeze_and_thaw(v2_group, children, tmp_path)


def _check_kill_all_and_remove(group: DomainCgroup, children: Children, sig: int = signal.SIGKILL) -> None:
    # The child forks grandchildren after joining: they are in the group too and must die with it.
    child = children.start("import os, subprocess, time\n"
                           "procs = [subprocess.Popen(['sleep', '60']) for _ in range(3)]\n"
                           "print('ready', flush=True); time.sleep(60)\n", stdout=subprocess.PIPE)
    group.add_process(child.pid)
    children.go(child)
    assert child.stdout.readline() == b"ready\n"
    assert len(group.pids()) == 4
    group.kill_all(sig)
    assert group.pids() == set()
    assert child.wait(timeout=10) == -sig
    directories = group.directories
    group.remove()
    assert not any(d.exists() for d in directories)
    assert DomainCgroup.find(group.driver, group.name, group.layout) is None
    group.remove()  # idempotent


@pytest.mark.root
def test_real_kill_all_and_remove_leave_nothing(group, children):
    _check_kill_all_and_remove(group, children)


@pytest.mark.root
def test_real_kill_all_with_v1_freezer_and_signals(v1_group, children):
    assert v1_group.layout.unified is None  # no cgroup.kill: freeze, signal each process, thaw
    _check_kill_all_and_remove(v1_group, children, signal.SIGTERM)


@pytest.mark.root
def test_real_kill_all_with_v2_cgroup_kill(v2_group, children):
    _require((v2_group.path(Controller.FREEZER) / "cgroup.kill").exists(), "cgroup.kill needs Linux 5.14")
    _check_kill_all_and_remove(v2_group, children)


@pytest.mark.root
def test_real_remove_kills_what_is_left(group, children):
    child = children.start("import time; time.sleep(60)")
    group.add_process(child.pid)
    directories = group.directories
    group.remove()
    assert child.wait(timeout=10) == -signal.SIGKILL
    assert not any(d.exists() for d in directories)


@pytest.mark.root
def test_real_kill_all_reports_survivors(group, children):
    child = children.start("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                           " print('ready', flush=True); time.sleep(60)", stdout=subprocess.PIPE)
    group.add_process(child.pid)
    children.go(child)
    assert child.stdout.readline() == b"ready\n"
    with pytest.raises(VirtError, match=rf"processes {child.pid} of cgroup .* are still running 0.3 seconds "
                                        r"after SIGTERM") as info:
        group.kill_all(signal.SIGTERM, timeout=0.3)
    assert info.value.code == ErrorCode.OPERATION_TIMEOUT


@pytest.mark.root
def test_real_devices_rules_v1(group, host_layout):
    _require(host_layout.version_of(Controller.DEVICES) == 1, "no v1 devices hierarchy")
    assert group.device_rules() == ["a *:* rwm"]
    group.deny_device("a")
    group.allow_device("c 1:3 rwm")
    group.allow_device("c 136:* rw")
    assert group.device_rules() == ["c 1:3 rwm", "c 136:* rw"]
    with pytest.raises(InvalidArg, match="device rule"):
        group.allow_device("c 1:3 rwm; echo")


@pytest.mark.root
def test_real_blkio_weight(group, host_layout):
    try:
        group.set_blkio_weight(300)
    except NoSupport as exc:
        _require(False, str(exc))
    assert group.blkio_weight() == 300
    with pytest.raises(VirtError, match=r"cannot write '0' to .*weight: "):
        group.set_blkio_weight(0)


# ---------------------------------------------------------------------------------------------- spare groups

def _spare_driver() -> str:
    return f"pytest-spare-{uuid.uuid4().hex[:8]}"


@pytest.mark.root
def test_real_spare_group_claimed_by_a_domain_keeps_its_process(host_layout, children):
    driver = _spare_driver()
    spare = DomainCgroup.create_spare(driver, host_layout)
    claimed = None
    try:
        assert spare.is_spare and spare.name.startswith(f".spare-{os.getpid()}-")
        child = children.start("import time; time.sleep(60)")
        spare.add_process(child.pid)
        predicted = spare.as_claimed("web 1")  # what another process computes; renames nothing
        assert all(d.exists() for d in spare._dirs.values())
        claimed = spare.claim("web 1")
        assert claimed.name == "web 1" and not claimed.is_spare
        assert predicted.directories == claimed.directories and predicted.pids() == {child.pid}
        assert claimed.pids() == {child.pid}  # nothing moved: the directories changed names around it
        memberships = _cgroups_of(child.pid)
        for hierarchy in host_layout.group_hierarchies:
            key = "" if hierarchy.version == 2 else next(iter(hierarchy.controllers)).value
            leaf = memberships[key].rsplit("/", 1)[1]
            # v1 groups carry the domain's name; the kernel does not rename v2 groups
            assert leaf == (spare.name if hierarchy.version == 2 else sanitize_name("web 1"))
        assert not any(d.exists() for h, d in spare._dirs.items() if h.version == 1)
        found = DomainCgroup.placed(driver, "web 1", host_layout, claimed.placement())
        assert found is not None and found.directories == claimed.directories
        assert found.pids() == {child.pid}
        claimed.set_memory_limit(64 * MiB)
        assert found.memory_limit() == 64 * MiB
        found.remove()
        assert child.wait(timeout=10) == -signal.SIGKILL
        assert DomainCgroup.placed(driver, "web 1", host_layout, claimed.placement()) is None
    finally:
        for group in (claimed, spare):
            if group is not None:
                group.remove()


@pytest.mark.root
def test_real_claim_replaces_an_empty_leftover_and_refuses_a_busy_one(host_layout, children):
    driver = _spare_driver()
    leftover = DomainCgroup.create(driver, "db", host_layout)
    spare = DomainCgroup.create_spare(driver, host_layout)
    second = DomainCgroup.create_spare(driver, host_layout)
    try:
        claimed = spare.claim("db")  # the empty group of an earlier run is replaced
        assert claimed.exists()
        child = children.start("import time; time.sleep(60)")
        claimed.add_process(child.pid)
        with pytest.raises(VirtError, match=r"cgroup .*/db already exists and has processes in it"):
            second.claim("db")
        assert all(d.is_dir() for d in second.directories)  # a refused claim renames nothing back and forth
        assert claimed.pids() == {child.pid}
    finally:
        for group in (leftover, spare, second):
            group.remove()
        left = DomainCgroup.find(driver, "db", host_layout)
        if left is not None:
            left.remove()


@pytest.mark.root
def test_real_abandoned_spare_groups_are_removed_and_live_ones_kept(host_layout, children):
    driver = _spare_driver()
    ours = DomainCgroup.create_spare(driver, host_layout)
    orphan_code = ("import sys; from virtkernel.cgroup import DomainCgroup; "
                   f"print(DomainCgroup.create_spare({driver!r}).name)")
    orphan = subprocess.run([PY, "-c", orphan_code], capture_output=True, text=True, check=True).stdout.strip()
    orphan_dirs = [d.parent / orphan for d in ours.directories]
    try:
        assert all(d.is_dir() for d in orphan_dirs)
        child = children.start("import time; time.sleep(60)")
        DomainCgroup(driver, orphan, host_layout, dict(zip(host_layout.group_hierarchies, orphan_dirs))
                     ).add_process(child.pid)
        assert DomainCgroup.remove_abandoned_spares(driver, host_layout) == 1
        assert not any(d.exists() for d in orphan_dirs)
        assert child.wait(timeout=10) == -signal.SIGKILL  # what was left in it is killed
        assert all(d.is_dir() for d in ours.directories)  # this process is alive: its spare stays
    finally:
        ours.remove()


def test_claim_refuses_a_group_that_is_not_a_spare(fake_v2):
    group = DomainCgroup.create("pytest", "plain", fake_v2[0].layout)
    with pytest.raises(InvalidArg, match="is not a spare group"):
        group.claim("other")
    with pytest.raises(InvalidArg, match="is not a spare group"):
        group.as_claimed("other")


def test_placed_ignores_directories_outside_the_drivers_groups(fake_v2, tmp_path):
    layout = fake_v2[0].layout
    group = DomainCgroup.create("pytest", "web", layout)
    placement = {mount: str(tmp_path) for mount in group.placement()}  # e.g. a tampered state file
    found = DomainCgroup.placed("pytest", "web", layout, placement)
    assert found.directories == group.directories
