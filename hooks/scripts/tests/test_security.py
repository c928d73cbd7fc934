"""Hook directories and scripts someone else could have changed are refused, naming the path."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from virtkernel.enums import ErrorCode
from virtkernel.errors import VirtError
from virtkernel.lifecycle import HookPoint
from virtkernel_hook_scripts import HookScripts, UntrustedHookPath

NOBODY = pwd.getpwnam("nobody").pw_uid


def needs_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("this test needs root (chown to another user) and CI=true")
        pytest.skip("needs root to give a file to another user")


@pytest.fixture
def ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    marker = tmp_path / "ran"
    monkeypatch.setenv("MARKER", str(marker))
    return marker


SCRIPT = '#!/bin/sh\ntouch "$MARKER"\n'


def refused(event, path: Path, why: str) -> UntrustedHookPath:
    with pytest.raises(UntrustedHookPath) as info:
        HookScripts().domain_hook_prepare(event)
    assert info.value.code == ErrorCode.OPERATION_DENIED
    assert info.value.message.startswith("refusing to use ")
    assert f"'{path}'" in info.value.message
    assert why in info.value.message
    return info.value


@pytest.mark.parametrize("mode, who", [(0o775, "its group"), (0o757, "all users"), (0o777, "its group and all users")])
def test_hook_directory_writable_by_others_is_refused(hookdir, write_script, event_for, ran, mode, who) -> None:
    write_script(hookdir / "test", SCRIPT)
    os.chmod(hookdir, mode)
    error = refused(event_for(HookPoint.PREPARE), hookdir, f"writable by {who}")
    assert "hook directory" in error.message and f"chmod go-w {hookdir}" in error.message
    assert not ran.exists()


def test_drop_in_directory_writable_by_others_is_refused(hookdir, write_script, event_for, ran) -> None:
    write_script(hookdir / "test.d" / "10-x", SCRIPT)
    os.chmod(hookdir / "test.d", 0o1777)
    refused(event_for(HookPoint.PREPARE), hookdir / "test.d", "writable by its group and all users (mode 1777)")
    assert not ran.exists()


def test_script_writable_by_others_is_refused_even_at_teardown(hookdir, write_script, event_for, ran) -> None:
    write_script(hookdir / "test", SCRIPT, mode=0o777)
    refused(event_for(HookPoint.PREPARE), hookdir / "test", "hook script")
    with pytest.raises(VirtError, match="refusing to use hook script .*writable by its group and all users"):
        HookScripts().domain_hook_release(event_for(HookPoint.RELEASE))
    assert not ran.exists()


def test_symlink_to_an_unsafe_script_is_refused(hookdir, write_script, event_for, ran, tmp_path) -> None:
    target = write_script(tmp_path / "elsewhere" / "script", SCRIPT, mode=0o757)
    hookdir.joinpath("test").symlink_to(target)
    refused(event_for(HookPoint.PREPARE), hookdir / "test", "writable by all users")
    assert not ran.exists()


def test_script_owned_by_another_user_is_refused_when_root(hookdir, write_script, event_for, ran) -> None:
    needs_root()
    script = write_script(hookdir / "test", SCRIPT)
    os.chown(script, NOBODY, -1)
    refused(event_for(HookPoint.PREPARE), script, f"owned by 'nobody' (uid {NOBODY}), not by root")
    assert not ran.exists()


def test_hook_directory_owned_by_another_user_is_refused_when_root(hookdir, write_script, event_for, ran) -> None:
    needs_root()
    write_script(hookdir / "test.d" / "10-x", SCRIPT)
    os.chown(hookdir / "test.d", NOBODY, -1)
    refused(event_for(HookPoint.PREPARE), hookdir / "test.d", "owned by 'nobody'")
    assert not ran.exists()


def test_settings_file_writable_by_others_is_refused(hookdir, write_script, event_for, ran) -> None:
    write_script(hookdir / "test", SCRIPT)
    settings = hookdir / "hook-scripts.toml"
    settings.write_text("timeout = 3600\n")
    os.chmod(settings, 0o666)
    refused(event_for(HookPoint.PREPARE), settings, "settings file")
    assert not ran.exists()


def test_a_safe_setup_runs(hookdir, write_script, event_for, ran) -> None:
    write_script(hookdir / "test", SCRIPT, mode=0o700)
    os.chmod(hookdir, 0o700)
    HookScripts().domain_hook_prepare(event_for(HookPoint.PREPARE))
    assert ran.exists()
