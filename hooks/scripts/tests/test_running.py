"""Running hook scripts: order, arguments, stdin, aborting, XML rewriting, timeouts, launch failures."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

import pluggy
from virtkernel import hookspecs
from virtkernel.enums import ErrorCode
from virtkernel.lifecycle import HookFailed, HookPoint, LifecycleHooks
from virtkernel_hook_scripts import HookScriptError, HookScripts, TIMEOUT_ENV

PYTHON = sys.executable

# A Python hook script recording its argv and stdin, one JSON line per call, in the file named by $RECORD.
RECORDER = f"""\
#!{PYTHON}
import json, os, sys
data = sys.stdin.buffer.read().decode("utf-8")
with open(os.environ["RECORD"], "a", encoding="utf-8") as out:
    out.write(json.dumps({{"argv": sys.argv, "stdin": data}}) + "\\n")
"""


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "record.jsonl"
    monkeypatch.setenv("RECORD", str(path))
    return path


def calls(record: Path) -> list[dict]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]


def shell_logger(tag: str) -> str:
    return f'#!/bin/sh\nprintf "%s %s\\n" "{tag}" "$*" >> "$RECORD"\n'


def test_main_script_then_drop_ins_in_alphabetical_order(hookdir, write_script, event_for, record) -> None:
    write_script(hookdir / "test", shell_logger("main"))
    for name in ("20-b", "10-a", "B-upper", "a-lower", "99-z"):
        write_script(hookdir / "test.d" / name, shell_logger(name))
    write_script(hookdir / "test.d" / "50-not-executable", shell_logger("never"), mode=0o644)
    (hookdir / "test.d" / "60-a-directory").mkdir()
    write_script(hookdir / "qemu", shell_logger("other driver"))

    HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE))

    lines = record.read_text().splitlines()
    assert lines == [f"{tag} vm1 prepare begin -" for tag in ("main", "10-a", "20-b", "99-z", "B-upper", "a-lower")]


def test_only_drop_ins_without_a_main_script(hookdir, write_script, event_for, record) -> None:
    write_script(hookdir / "test.d" / "10-only", shell_logger("only"))
    HookScripts().domain_hook_release(event_for(HookPoint.RELEASE))
    assert record.read_text().splitlines() == ["only vm1 release end -"]


def test_no_config_dir_or_no_hook_dir_runs_nothing(tmp_path, event_for, record) -> None:
    HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE, config=None))
    HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE, config=tmp_path / "nowhere"))
    assert not record.exists()


HOSTILE_NAMES = [
    "web server 1",
    "it's \"quoted\"",
    "$(touch /tmp/virtkernel-hook-pwned) `id` ; rm -rf x",
    "line one\nline two",
    "glob * ? [a] ~ & | > < \\ tab\there",
    "-dash-first",
    "ünïcödé ☃",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_and_xml_reach_the_script_byte_for_byte(hookdir, write_script, event_for, record,
                                                              name) -> None:
    write_script(hookdir / "test", RECORDER)
    write_script(hookdir / "test.d" / "shell", '#!/bin/sh\nprintf "%s|" "$@" > "$RECORD.sh"\ncat >> "$RECORD.sh"\n')
    xml = f"<domain type='test'>\n  <name>{name.replace('&', '&amp;').replace('<', '&lt;')}</name>\n" \
          "  <description>spaces   and\ttabs\r\n $(x) 'q' \"qq\" ☃</description>\n</domain>\n"

    HookScripts().domain_hook_start(event_for(HookPoint.START, name=name, xml=xml))

    [call] = calls(record)
    assert call["argv"][1:] == [name, "start", "begin", "-"]
    assert call["stdin"] == xml
    shell_seen = Path(str(record) + ".sh").read_bytes().decode("utf-8")
    assert shell_seen == f"{name}|start|begin|-|" + xml
    assert not Path("/tmp/virtkernel-hook-pwned").exists()


def test_failing_blocking_script_aborts_with_its_stderr_and_later_scripts_do_not_run(
        hookdir, write_script, event_for, record) -> None:
    write_script(hookdir / "test.d" / "10-ok", shell_logger("10"))
    write_script(hookdir / "test.d" / "20-refuse", '#!/bin/sh\necho "no room for $1 on this host" >&2\nexit 3\n')
    write_script(hookdir / "test.d" / "30-later", shell_logger("30"))

    with pytest.raises(HookScriptError) as info:
        HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE, name="web 1"))

    assert info.value.code == ErrorCode.HOOK_SCRIPT_FAILED
    assert info.value.message == (f"hook script '{hookdir}/test.d/20-refuse' failed with exit status 3: "
                                  "no room for web 1 on this host")
    assert record.read_text().splitlines() == ["10 web 1 prepare begin -"]


def test_failing_python_script_reaches_the_user_through_the_kernel(hookdir, write_script) -> None:
    write_script(hookdir / "test", f"""\
        #!{PYTHON}
        import sys
        sys.stderr.write("guest " + sys.argv[1] + " is not allowed here\\n")
        sys.exit(1)
        """)
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(HookScripts(), name="scripts")
    hooks = LifecycleHooks(manager, driver="test", config_dir=str(hookdir.parent))

    with pytest.raises(HookFailed) as info:
        hooks.run(HookPoint.START, name="vm1", uuid="c7a5fdbd-edaf-9455-926a-d65c16db1809", xml="<domain/>")
    assert info.value.code == ErrorCode.HOOK_SCRIPT_FAILED
    assert "guest vm1 is not allowed here" in info.value.message
    assert f"'{hookdir}/test'" in info.value.message


def test_non_blocking_failures_run_every_script_then_report_all(hookdir, write_script, event_for, record) -> None:
    write_script(hookdir / "test.d" / "10-fails", '#!/bin/sh\necho first broke >&2\nexit 1\n')
    write_script(hookdir / "test.d" / "20-runs", shell_logger("20"))
    write_script(hookdir / "test.d" / "30-fails", '#!/bin/sh\necho third broke >&2\nexit 2\n')

    with pytest.raises(HookScriptError) as info:
        HookScripts().domain_hook_stopped(event_for(HookPoint.STOPPED))

    assert record.read_text().splitlines() == ["20 vm1 stopped end -"]
    assert "10-fails' failed with exit status 1: first broke" in info.value.message
    assert "30-fails' failed with exit status 2: third broke" in info.value.message


def test_killed_script_is_reported_with_its_signal(hookdir, write_script, event_for) -> None:
    write_script(hookdir / "test", "#!/bin/sh\nkill -TERM $$\n")
    with pytest.raises(HookScriptError, match=r"hook script '.*/test' was killed by SIGTERM"):
        HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE))


def test_script_exiting_127_itself_is_not_called_missing(hookdir, write_script, event_for) -> None:
    write_script(hookdir / "test", "#!/bin/sh\nno-such-program-for-virtkernel\n")
    with pytest.raises(HookScriptError) as info:
        HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE))
    assert "failed with exit status 127 (a program it runs was not found)" in info.value.message
    assert "no-such-program-for-virtkernel" in info.value.message


@pytest.mark.parametrize("point", [HookPoint.MIGRATE, HookPoint.RESTORE])
def test_migrate_and_restore_chain_replacement_xml(hookdir, write_script, event_for, point) -> None:
    # 10: rewrites; 20: prints nothing (keeps); 30: a Python filter that sees 10's output and rewrites again.
    write_script(hookdir / "test.d" / "10-sed", "#!/bin/sh\nsed 's/old-bridge/new-bridge/'\n")
    write_script(hookdir / "test.d" / "20-silent", "#!/bin/sh\ncat > /dev/null\n")
    write_script(hookdir / "test.d" / "30-py", f"""\
        #!{PYTHON}
        import sys
        xml = sys.stdin.read()
        assert "new-bridge" in xml, xml
        sys.stdout.write(xml.replace("</domain>", "<description>{{}}</description></domain>".format(sys.argv[2])))
        """)
    xml = "<domain><name>vm1</name><devices><interface type='bridge'><source bridge='old-bridge'/></interface>" \
          "</devices></domain>\n"

    hook = getattr(HookScripts(), point.spec_name)
    new_xml = hook(event_for(point, xml=xml))

    assert new_xml == xml.replace("old-bridge", "new-bridge").replace(
        "</domain>", f"<description>{point.operation}</description></domain>")


def test_migrate_without_output_keeps_the_xml(hookdir, write_script, event_for) -> None:
    write_script(hookdir / "test", "#!/bin/sh\ncat >/dev/null\necho '   '\n")
    assert HookScripts().domain_hook_migrate(event_for(HookPoint.MIGRATE)) is None


def test_output_of_other_operations_is_not_xml(hookdir, write_script, event_for) -> None:
    write_script(hookdir / "test", "#!/bin/sh\necho '<domain>replaced</domain>'\n")
    assert HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE)) is None


def test_replacement_that_is_not_utf8_is_refused(hookdir, write_script, event_for) -> None:
    write_script(hookdir / "test", "#!/bin/sh\nprintf '<domain>\\377</domain>'\n")
    with pytest.raises(HookScriptError, match="not valid UTF-8"):
        HookScripts().domain_hook_restore(event_for(HookPoint.RESTORE))


def test_replacement_xml_is_validated_by_the_kernel(hookdir, write_script) -> None:
    from virtkernel.connection import _check_domain_xml
    write_script(hookdir / "test", "#!/bin/sh\necho '<domain><name>vm1</name'\n")
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(HookScripts(), name="scripts")
    hooks = LifecycleHooks(manager, driver="test", config_dir=str(hookdir.parent), validate_xml=_check_domain_xml)
    with pytest.raises(HookFailed, match="returned invalid domain XML"):
        hooks.run(HookPoint.MIGRATE, name="vm1", uuid="c7a5fdbd-edaf-9455-926a-d65c16db1809", xml="<domain/>")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1][0] != "Z"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("configured_by", ["file", "environment"])
def test_timeout_kills_the_script_and_its_children(hookdir, write_script, event_for, tmp_path, monkeypatch,
                                                   configured_by) -> None:
    pids = tmp_path / "pids"
    write_script(hookdir / "test", f'#!/bin/sh\nsleep 60 &\necho $$ $! > "{pids}"\nwait\n')
    if configured_by == "file":
        (hookdir / "hook-scripts.toml").write_text("timeout = 0.5\n")
        monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    else:
        (hookdir / "hook-scripts.toml").write_text("timeout = 100\n")
        monkeypatch.setenv(TIMEOUT_ENV, "0.5")

    started = time.monotonic()
    with pytest.raises(HookScriptError) as info:
        HookScripts().domain_hook_start(event_for(HookPoint.START))
    elapsed = time.monotonic() - started

    assert info.value.message == f"hook script '{hookdir}/test' did not finish within 0.5 seconds and was killed"
    assert elapsed < 10
    deadline = time.monotonic() + 5
    script_pid, sleep_pid = map(int, pids.read_text().split())
    while (_alive(script_pid) or _alive(sleep_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(script_pid) and not _alive(sleep_pid)


@pytest.mark.parametrize("content, problem", [
    ("timeout = -1\n", "is not a positive number of seconds"),
    ("timeout = 'soon'\n", "is not a positive number of seconds"),
    ("timout = 3\n", "unknown settings: timout"),
    ("timeout = [\n", "is not valid TOML"),
])
def test_bad_settings_file_is_reported(hookdir, write_script, event_for, content, problem) -> None:
    write_script(hookdir / "test", "#!/bin/sh\nexit 0\n")
    (hookdir / "hook-scripts.toml").write_text(content)
    with pytest.raises(Exception) as info:
        HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE))
    assert problem in info.value.message
    assert "hook-scripts.toml" in info.value.message


def test_bad_timeout_variable_is_reported(hookdir, write_script, event_for, monkeypatch) -> None:
    write_script(hookdir / "test", "#!/bin/sh\nexit 0\n")
    monkeypatch.setenv(TIMEOUT_ENV, "nan")
    with pytest.raises(Exception, match=r"timeout 'nan' from \$VIRTKERNEL_HOOK_TIMEOUT is not a positive"):
        HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE))


def test_non_executable_main_script_is_reported(hookdir, write_script, event_for) -> None:
    write_script(hookdir / "test", "#!/bin/sh\nexit 0\n", mode=0o644)
    with pytest.raises(HookScriptError) as info:
        HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE))
    assert info.value.message == f"hook script '{hookdir}/test' is not executable: Permission denied"


def test_script_with_a_missing_interpreter_is_not_executable(hookdir, write_script, event_for) -> None:
    write_script(hookdir / "test", "#!/no/such/interpreter\nexit 0\n")
    with pytest.raises(HookScriptError, match=r"hook script '.*/test' is not executable: its interpreter"):
        HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE))


def test_dangling_drop_in_is_reported_as_not_found(hookdir, write_script, event_for) -> None:
    (hookdir / "test.d").mkdir()
    (hookdir / "test.d" / "10-gone").symlink_to(hookdir / "removed-script")
    with pytest.raises(HookScriptError) as info:
        HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE))
    assert info.value.message == (f"hook script '{hookdir}/test.d/10-gone' not found (it is a symbolic link to "
                                  f"'{hookdir}/removed-script', which does not exist)")


def test_script_removed_before_it_runs_is_not_found(hookdir, tmp_path) -> None:
    from virtkernel_hook_scripts import HookCall, run_script
    with pytest.raises(HookScriptError) as info:
        run_script(hookdir / "test", HookCall("vm1", "prepare", "begin", "-"), "<domain/>", 5)
    assert info.value.message == f"hook script '{hookdir}/test' not found"


def test_daemon_scripts_get_libvirts_arguments(hookdir, write_script, record) -> None:
    from virtkernel.lifecycle import DomainHookEvent
    write_script(hookdir / "daemon", RECORDER)
    plugin = HookScripts()
    for point in (HookPoint.DAEMON_START, HookPoint.DAEMON_RELOAD, HookPoint.DAEMON_SHUTDOWN):
        event = DomainHookEvent(point=point, driver="daemon", name="-", uuid="", xml="",
                                config_dir=str(hookdir.parent))
        getattr(plugin, point.spec_name)(event)
    assert [(c["argv"][1:], c["stdin"]) for c in calls(record)] == [
        (["-", "start", "-", "start"], ""),
        (["-", "reload", "begin", "SIGHUP"], ""),
        (["-", "shutdown", "-", "shutdown"], ""),
    ]
