"""A driver-independent pytest suite for lifecycle hooks: hook scripts and Python hook plugins, end to end.

A driver's tests run it by importing the test functions into one of their test modules and providing a
``hook_host`` fixture (a :class:`HookHost` for that driver); a conftest.py should first call
``pytest.register_assert_rewrite("virtkernel_hook_scripts.testsuite", "virtkernel_device_setup.testsuite")``
so failures show values::

    from virtkernel_hook_scripts.testsuite import *  # noqa: F401,F403 - the shared hook tests
    @pytest.fixture
    def hook_host(tmp_path): return MyDriverHookHost(tmp_path)

Every test opens connections through the host, writes real scripts into the host's HOOKDIR and asserts what a
user sees: the scripts' arguments and stdin, the errors of refused starts, the domain's state afterwards.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import shlex
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterable, Optional

import pytest
from lxml import etree

import virtkernel
from virtkernel.enums import DomainState, ErrorCode

__all__ = [
    "HookHost", "set_domain_fields",
    "test_scripts_run_in_libvirts_order_on_start_and_stop",
    "test_a_refusing_prepare_script_aborts_the_start",
    "test_a_refusing_start_script_aborts_the_start",
    "test_failures_of_non_blocking_points_are_logged_not_fatal",
    "test_hostile_names_and_xml_reach_the_scripts_byte_for_byte",
    "test_a_slow_script_times_out_and_the_start_fails_cleanly",
    "test_non_executable_and_missing_scripts_are_reported",
    "test_an_unsafe_hook_directory_is_refused",
    "test_a_restore_script_rewrites_the_domain_xml",
    "test_a_migrate_script_on_the_destination_rewrites_the_domain_xml",
    "test_a_python_hook_plugin_installed_as_a_distribution_is_seen_by_the_driver",
    "test_a_driver_restart_runs_the_reconnect_hook",
]


class HookHost(abc.ABC):
    """What the shared hook tests need from a driver: connections, a startable domain, where HOOKDIR is."""

    driver: str
    """The hook script's name for this driver (HOOKDIR/<driver>): the URI scheme."""
    features: frozenset[str] = frozenset()
    """Optional abilities the driver has: "save" (save and restore), "migrate" (to ``peer()``), "reconnect"
    (``open_after_restart()``)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    @property
    @abc.abstractmethod
    def config_dir(self) -> Path:
        """The config directory of the driver instance ``open()`` connects to (HOOKDIR is its hooks/)."""

    @abc.abstractmethod
    def open(self) -> virtkernel.Connection:
        """A new connection to this host."""

    @abc.abstractmethod
    def domain_xml(self, name: str) -> str:
        """The XML of a small domain this driver can start (the tests change its name and description)."""

    def peer(self) -> "HookHost":
        """A second host of the same driver to migrate to (feature "migrate")."""
        raise NotImplementedError

    def open_after_restart(self) -> virtkernel.Connection:
        """A connection from a fresh driver instance, as after a restart of the process (feature "reconnect"):
        the driver must pick up the guests still running and call the reconnect hook for each."""
        raise NotImplementedError

    def migrate(self, dom: virtkernel.Domain, dest: virtkernel.Connection) -> virtkernel.Domain:
        """Migrate a running domain to ``dest`` (feature "migrate"); the handle on the destination."""
        return dom.migrate(dest, virtkernel.DomainMigrateFlags.LIVE)

    @property
    def hook_dir(self) -> Path:
        """HOOKDIR: CONFIG_DIR/hooks, created safe (0755) on first use."""
        path = self.config_dir / "hooks"
        if not path.exists():
            path.mkdir(parents=True)
            os.chmod(path, 0o755)
        return path

    def define(self, conn: virtkernel.Connection, name: str, **fields: Any) -> virtkernel.Domain:
        """Define a domain from domain_xml(name) with extra fields (see set_domain_fields)."""
        return conn.define_xml(set_domain_fields(self.domain_xml(name), name=name, **fields))

    def require(self, feature: str) -> None:
        """Skip a test for a feature this driver states it lacks (never silently: the reason names it)."""
        if feature not in self.features:
            pytest.skip(f"the {self.driver} driver's hook host does not offer '{feature}'")


def set_domain_fields(xml: str, *, name: Optional[str] = None, description: Optional[str] = None,
                      metadata: Optional[str] = None, devices: Iterable[str] = ()) -> str:
    """Set a domain's name, description or metadata element and append device elements, through lxml."""
    root = etree.fromstring(xml.encode())
    if name is not None:
        root.find("name").text = name
    if description is not None:
        element = root.find("description")
        if element is None:
            element = etree.Element("description")
            root.find("name").addnext(element)
        element.text = description
    if metadata is not None:
        element = root.find("metadata")
        if element is None:
            element = etree.Element("metadata")
            (root.find("description") if root.find("description") is not None else root.find("name")).addnext(element)
        element.append(etree.fromstring(metadata.encode()))
    devices_element = root.find("devices")
    for device in devices:
        devices_element.append(etree.fromstring(device.encode()))
    return etree.tostring(root, encoding="unicode")


# ------------------------------------------------------------------------------------------------ script helpers

def _write(path: Path, text: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent.name.endswith(".d"):
        os.chmod(path.parent, 0o755)
    path.write_text(textwrap.dedent(text).lstrip())
    os.chmod(path, mode)
    return path


def python_recorder(path: Path, record: Path, fail_at: dict[str, int] | None = None) -> Path:
    """A Python hook script appending {script, args, stdin} as a JSON line to ``record``; it exits with
    ``fail_at[operation]`` (writing a message naming the domain to stderr) for the operations listed."""
    return _write(path, f"""\
        #!{sys.executable}
        import json, os, sys
        stdin = sys.stdin.buffer.read().decode("utf-8")
        with open({str(record)!r}, "a", encoding="utf-8") as out:
            out.write(json.dumps({{"script": os.path.basename(sys.argv[0]), "args": sys.argv[1:],
                                  "stdin": stdin}}) + "\\n")
        status = {fail_at or {}!r}.get(sys.argv[2], 0)
        if status:
            sys.stderr.write("%s refused by hook for domain %s\\n" % (sys.argv[2], sys.argv[1]))
        sys.exit(status)
        """)


def shell_recorder(path: Path, record: Path) -> Path:
    """A /bin/sh hook script appending one JSON-free line `SCRIPT|NAME|OP|SUB|EXTRA` to ``record``."""
    return _write(path, f"""\
        #!/bin/sh
        cat > /dev/null
        printf '%s|%s|%s|%s|%s\\n' "$(basename "$0")" "$1" "$2" "$3" "$4" >> {shlex.quote(str(record))}
        """)


def records(record: Path) -> list[dict]:
    """The JSON lines a python_recorder wrote."""
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]


def operations(record: Path) -> list[tuple[str, str]]:
    """(operation, sub-operation) of every call a python_recorder saw."""
    return [(r["args"][1], r["args"][2]) for r in records(record)]


START_POINTS = [("prepare", "begin"), ("start", "begin"), ("started", "begin")]
STOP_POINTS = [("stopped", "end"), ("release", "end")]


def _state(dom: virtkernel.Domain) -> int:
    return dom.get_state()[0]


# ------------------------------------------------------------------------------------------------ the tests

def test_scripts_run_in_libvirts_order_on_start_and_stop(hook_host: HookHost) -> None:
    record, shell_record = hook_host.workdir / "main.jsonl", hook_host.workdir / "shell.txt"
    python_recorder(hook_host.hook_dir / hook_host.driver, record)
    shell_recorder(hook_host.hook_dir / f"{hook_host.driver}.d" / "50-shell", shell_record)
    python_recorder(hook_host.hook_dir / "some-other-driver", hook_host.workdir / "never.jsonl")

    with hook_host.open() as conn:
        dom = hook_host.define(conn, "hooked1")
        assert operations(record) == []  # defining is not a lifecycle point
        dom.create()
        assert operations(record) == START_POINTS
        dom.destroy()

    assert operations(record) == START_POINTS + STOP_POINTS
    for call in records(record):
        assert call["script"] == hook_host.driver
        assert call["args"][0] == "hooked1" and call["args"][3] == "-"
        domain = etree.fromstring(call["stdin"].encode())
        assert domain.findtext("name") == "hooked1" and domain.findtext("uuid") == dom.uuid, call
    assert shell_record.read_text().splitlines() == [f"50-shell|hooked1|{op}|{sub}|-"
                                                     for op, sub in START_POINTS + STOP_POINTS]
    assert not (hook_host.workdir / "never.jsonl").exists()


def _refused_start(hook_host: HookHost, operation: str) -> None:
    record = hook_host.workdir / "calls.jsonl"
    python_recorder(hook_host.hook_dir / hook_host.driver, record, fail_at={operation: 1})
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "refused1")
        with pytest.raises(virtkernel.VirtError) as info:
            dom.create()
        assert info.value.code == ErrorCode.HOOK_SCRIPT_FAILED
        assert f"{operation} refused by hook for domain refused1" in info.value.message
        assert f"'{hook_host.hook_dir / hook_host.driver}'" in info.value.message
        assert _state(dom) == DomainState.SHUTOFF and not dom.is_active()
        done = START_POINTS[:[op for op, _ in START_POINTS].index(operation) + 1]
        assert operations(record) == done + STOP_POINTS  # as libvirt: stopped and release follow a failed start
        # the host is not left half-started: the next start works once the script agrees
        python_recorder(hook_host.hook_dir / hook_host.driver, record)
        dom.create()
        assert dom.is_active()
        dom.destroy()


def test_a_refusing_prepare_script_aborts_the_start(hook_host: HookHost) -> None:
    _refused_start(hook_host, "prepare")


def test_a_refusing_start_script_aborts_the_start(hook_host: HookHost) -> None:
    _refused_start(hook_host, "start")


def test_failures_of_non_blocking_points_are_logged_not_fatal(hook_host: HookHost,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    record = hook_host.workdir / "calls.jsonl"
    python_recorder(hook_host.hook_dir / hook_host.driver, record, fail_at={"started": 2, "stopped": 3, "release": 4})
    caplog.set_level(logging.WARNING)
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "sturdy1")
        dom.create()
        assert dom.is_active()
        dom.destroy()
        assert not dom.is_active()
    assert operations(record) == START_POINTS + STOP_POINTS
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for operation, status in (("started", 2), ("stopped", 3), ("release", 4)):
        assert f"failed with exit status {status}: {operation} refused by hook for domain sturdy1" in logged


HOSTILE_NAMES = [
    "web server 1",
    "it's \"quoted\"",
    "$(touch virtkernel-hook-pwned) `touch virtkernel-hook-pwned`; echo x",
    "glob * ? [x] ~ & | > < \\ \ttab",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=["spaces", "quotes", "substitution", "metachars"])
def test_hostile_names_and_xml_reach_the_scripts_byte_for_byte(hook_host: HookHost, name: str) -> None:
    record, shell_record = hook_host.workdir / "calls.jsonl", hook_host.workdir / "shell.txt"
    python_recorder(hook_host.hook_dir / hook_host.driver, record)
    shell_recorder(hook_host.hook_dir / f"{hook_host.driver}.d" / "10 shell with space", shell_record)
    description = "line one\nline two\twith tab\n  $(id) `id` 'single' \"double\" <&> ☃ \n"

    with hook_host.open() as conn:
        dom = hook_host.define(conn, name, description=description)
        dom.create()
        dom.destroy()

    calls = records(record)
    assert [c["args"] for c in calls] == [[name, op, sub, "-"] for op, sub in START_POINTS + STOP_POINTS]
    for call in calls:
        domain = etree.fromstring(call["stdin"].encode())
        assert domain.findtext("name") == name
        assert domain.findtext("description") == description
    assert shell_record.read_text().splitlines()[0] == f"10 shell with space|{name}|prepare|begin|-"
    for directory in ("/", os.getcwd(), hook_host.workdir):
        assert not Path(directory, "virtkernel-hook-pwned").exists()


@pytest.mark.timeout(60)
def test_a_slow_script_times_out_and_the_start_fails_cleanly(hook_host: HookHost) -> None:
    _write(hook_host.hook_dir / hook_host.driver, '#!/bin/sh\n[ "$2" = start ] && exec sleep 60\nexit 0\n')
    _write(hook_host.hook_dir / "hook-scripts.toml", "timeout = 1\n", mode=0o644)
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "slow1")
        started = time.monotonic()
        with pytest.raises(virtkernel.VirtError) as info:
            dom.create()
        assert time.monotonic() - started < 20
        assert info.value.code == ErrorCode.HOOK_SCRIPT_FAILED
        assert (f"hook script '{hook_host.hook_dir / hook_host.driver}' did not finish within 1 seconds and was "
                "killed") in info.value.message
        assert not dom.is_active()


def test_non_executable_and_missing_scripts_are_reported(hook_host: HookHost) -> None:
    main = _write(hook_host.hook_dir / hook_host.driver, "#!/bin/sh\nexit 0\n", mode=0o644)
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "broken1")
        with pytest.raises(virtkernel.VirtError) as info:
            dom.create()
        assert f"hook script '{main}' is not executable" in info.value.message
        assert not dom.is_active()

        main.unlink()
        drop_in = hook_host.hook_dir / f"{hook_host.driver}.d"
        drop_in.mkdir()
        (drop_in / "20-moved").symlink_to(hook_host.workdir / "moved-away")
        with pytest.raises(virtkernel.VirtError) as info:
            dom.create()
        assert f"hook script '{drop_in / '20-moved'}' not found" in info.value.message
        assert not dom.is_active()


def test_an_unsafe_hook_directory_is_refused(hook_host: HookHost) -> None:
    ran = hook_host.workdir / "ran"
    _write(hook_host.hook_dir / hook_host.driver, f"#!/bin/sh\ntouch {shlex.quote(str(ran))}\n")
    os.chmod(hook_host.hook_dir, 0o777)
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "unsafe1")
        with pytest.raises(virtkernel.VirtError) as info:
            dom.create()
        assert f"refusing to use hook directory '{hook_host.hook_dir}'" in info.value.message
        assert "writable by its group and all users" in info.value.message
        assert not dom.is_active() and not ran.exists()
    os.chmod(hook_host.hook_dir, 0o755)


_REWRITER = """\
    #!{python}
    import sys
    xml = sys.stdin.read()
    with open({record!r}, "a") as out:
        out.write(sys.argv[2] + "\\n")
    if sys.argv[2] == {operation!r}:
        sys.stdout.write(xml.replace("before the hook", "rewritten by the {operation} hook"))
    """


def test_a_restore_script_rewrites_the_domain_xml(hook_host: HookHost) -> None:
    hook_host.require("save")
    record = hook_host.workdir / "ops.txt"
    image = hook_host.workdir / "saved.img"
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "restored1", description="before the hook")
        dom.create()
        dom.save(str(image))
        assert not dom.is_active()
        _write(hook_host.hook_dir / hook_host.driver,
               _REWRITER.format(python=sys.executable, record=str(record), operation="restore"))
        conn.restore(str(image))
        dom = conn.lookup_by_name("restored1")
        assert dom.is_active()
        assert etree.fromstring(dom.get_xml_desc().encode()).findtext("description") == \
            "rewritten by the restore hook"
        assert record.read_text().splitlines()[0] == "restore"
        dom.destroy()


def test_a_migrate_script_on_the_destination_rewrites_the_domain_xml(hook_host: HookHost) -> None:
    hook_host.require("migrate")
    destination = hook_host.peer()
    source_record, record = hook_host.workdir / "source-ops.txt", destination.workdir / "dest-ops.txt"
    _write(hook_host.hook_dir / hook_host.driver,
           _REWRITER.format(python=sys.executable, record=str(source_record), operation="migrate"))
    _write(destination.hook_dir / destination.driver,
           _REWRITER.format(python=sys.executable, record=str(record), operation="migrate"))
    with hook_host.open() as source, destination.open() as dest:
        dom = hook_host.define(source, "migrated1", description="before the hook")
        dom.create()
        moved = hook_host.migrate(dom, dest)
        assert moved.is_active()
        assert etree.fromstring(moved.get_xml_desc().encode()).findtext("description") == \
            "rewritten by the migrate hook"
        ops = record.read_text().splitlines()
        assert ops[0] == "migrate" and ops[1:4] == ["prepare", "start", "started"]
        assert "migrate" not in source_record.read_text().splitlines()
        moved.destroy()


_PYTHON_PLUGIN = '''
import json
from virtkernel import hookimpl, VirtError

RECORD = {record!r}
CONFIG_DIR = {config_dir!r}


class RecordingHooks:
    # Installed into the whole environment for the test: act only on the test's own host, never on other
    # programs that use the same environment meanwhile.
    def _note(self, event):
        if event.config_dir != CONFIG_DIR:
            return
        with open(RECORD, "a") as out:
            out.write(json.dumps([event.driver, event.name, event.operation, event.sub_operation,
                                  event.uuid, "<name>" in event.xml]) + "\\n")

    @hookimpl
    def domain_hook_prepare(self, event):
        self._note(event)
        if event.config_dir == CONFIG_DIR and event.name.startswith("deny"):
            raise VirtError(f"domain {{event.name}} is on the deny list")

    @hookimpl
    def domain_hook_start(self, event):
        self._note(event)

    @hookimpl
    def domain_hook_started(self, event):
        self._note(event)

    @hookimpl
    def domain_hook_stopped(self, event):
        self._note(event)

    @hookimpl
    def domain_hook_release(self, event):
        self._note(event)
'''


@pytest.mark.timeout(600)
def test_a_python_hook_plugin_installed_as_a_distribution_is_seen_by_the_driver(hook_host: HookHost,
                                                                                 install_plugin: Any) -> None:
    record = hook_host.workdir / "plugin.jsonl"
    with hook_host.open() as conn:
        hook_host.define(conn, "plugged1").create()
        conn.lookup_by_name("plugged1").destroy()
    assert not record.exists()

    plugin = install_plugin(_PYTHON_PLUGIN.format(record=str(record), config_dir=str(hook_host.config_dir)), group="virtkernel.hooks",
                            name="recording-hooks", target="RecordingHooks")
    assert ("hook", "recording-hooks") in {(p.kind, p.name) for p in virtkernel.installed_plugins()}

    with hook_host.open() as conn:
        dom = conn.lookup_by_name("plugged1")
        dom.create()
        dom.destroy()
        denied = hook_host.define(conn, "deny-me")
        with pytest.raises(virtkernel.VirtError) as info:
            denied.create()
        assert info.value.code == ErrorCode.HOOK_SCRIPT_FAILED
        assert info.value.message == "hook 'recording-hooks' refused prepare: domain deny-me is on the deny list"
        assert not denied.is_active()

    seen = [json.loads(line) for line in record.read_text().splitlines()]
    assert seen[:5] == [[hook_host.driver, "plugged1", op, sub, dom.uuid, True] for op, sub in START_POINTS + STOP_POINTS]
    assert [s[1:4] for s in seen[5:]] == [["deny-me", op, sub] for op, sub in [("prepare", "begin")] + STOP_POINTS]
    assert plugin.distribution.startswith("vk-throwaway-")


def test_a_driver_restart_runs_the_reconnect_hook(hook_host: HookHost) -> None:
    hook_host.require("reconnect")
    record = hook_host.workdir / "calls.jsonl"
    python_recorder(hook_host.hook_dir / hook_host.driver, record)
    with hook_host.open() as conn:
        dom = hook_host.define(conn, "survivor1")
        dom.create()
    with hook_host.open_after_restart() as conn:
        dom = conn.lookup_by_name("survivor1")
        assert dom.is_active()
        assert operations(record) == START_POINTS + [("reconnect", "begin")]
        dom.destroy()
    assert operations(record) == START_POINTS + [("reconnect", "begin")] + STOP_POINTS
