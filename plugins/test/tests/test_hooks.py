"""Lifecycle hooks at libvirt's points; a failing prepare/start/restore hook leaves nothing half-started."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel import hookimpl
from virtkernel.enums import DomainState as S, ErrorCode


class Recorder:
    """A hook plugin that records every point and can refuse one."""

    def __init__(self, refuse: str | None = None, rewrite_restore: str | None = None) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self.refuse = refuse
        self.rewrite_restore = rewrite_restore
        self.config_dirs: set[str | None] = set()

    def _record(self, event) -> None:
        self.seen.append((event.operation, event.name, event.sub_operation))
        self.config_dirs.add(event.config_dir)
        if event.operation == self.refuse:
            raise RuntimeError(f"{event.operation} refused by the test")

    @hookimpl
    def domain_hook_prepare(self, event):
        self._record(event)

    @hookimpl
    def domain_hook_start(self, event):
        self._record(event)

    @hookimpl
    def domain_hook_started(self, event):
        self._record(event)

    @hookimpl
    def domain_hook_stopped(self, event):
        self._record(event)

    @hookimpl
    def domain_hook_release(self, event):
        self._record(event)

    @hookimpl
    def domain_hook_restore(self, event):
        self._record(event)
        return self.rewrite_restore


@pytest.fixture
def hooked(conn):
    def install(**options) -> Recorder:
        recorder = Recorder(**options)
        conn.driver.register(recorder, "test-recorder")
        return recorder
    yield install
    if not conn.closed:
        try:
            conn.driver.unregister("test-recorder")
        except ValueError:
            pass


def test_start_and_stop_run_hooks_in_libvirts_order(conn, hooked, make_xml):
    recorder = hooked()
    dom = conn.define_xml(make_xml())
    dom.create()
    dom.destroy()
    assert recorder.seen == [("prepare", "fresh", "begin"), ("start", "fresh", "begin"),
                             ("started", "fresh", "begin"), ("stopped", "fresh", "end"),
                             ("release", "fresh", "end")]


@pytest.mark.parametrize("point", ["prepare", "start"])
def test_failing_start_hook_aborts_cleanly(conn, hooked, events, make_xml, point):
    recorder = hooked(refuse=point)
    dom = conn.define_xml(make_xml())
    events.take()
    with pytest.raises(virtkernel.HookFailed) as refused:
        dom.create()
    assert refused.value.code == ErrorCode.HOOK_SCRIPT_FAILED
    assert dom.get_state() == (S.SHUTOFF, 0) and dom.get_id() == -1 and not dom.is_active()
    assert recorder.seen[-2:] == [("stopped", "fresh", "end"), ("release", "fresh", "end")]
    assert events.take() == []
    with pytest.raises(virtkernel.HookFailed):
        conn.create_xml(make_xml("temp", "c7a5fdbd-edaf-9455-926a-d65c16db1810"))
    with pytest.raises(virtkernel.NoDomain):
        conn.lookup_by_name("temp")
    assert conn.list_domains() == [1]


def test_failing_restore_hook_leaves_the_domain_saved(conn, hooked, tmp_path):
    dom = conn.lookup_by_name("test")
    dom.save(str(tmp_path / "s.img"))
    hooked(refuse="restore")
    with pytest.raises(virtkernel.HookFailed):
        conn.restore(str(tmp_path / "s.img"))
    assert dom.get_state() == (S.SHUTOFF, 5)
    assert conn.num_of_domains() == 0


def test_restore_hook_may_rewrite_the_xml(conn, hooked, tmp_path):
    dom = conn.lookup_by_name("test")
    dom.save(str(tmp_path / "s.img"))
    xml = conn.save_image_get_xml_desc(str(tmp_path / "s.img"))
    recorder = hooked(rewrite_restore=xml.replace("<name>test</name>", "<name>test</name><title>restored</title>"))
    conn.restore(str(tmp_path / "s.img"))
    assert [p for p, _, _ in recorder.seen] == ["restore", "prepare", "start", "started"]
    assert conn.lookup_by_name("test").get_metadata(virtkernel.DomainMetadataType.TITLE) == "restored"


def test_hook_config_dir_rule(host_file, tmp_path):
    uri = host_file("")
    connection = virtkernel.open(uri)
    try:
        assert connection._context.hooks.config_dir == str(tmp_path)
    finally:
        connection.close()
    for name in ("config", "hooks"):
        explicit = virtkernel.open(f"{uri}?{name}={tmp_path}/elsewhere")
        try:
            assert explicit._context.hooks.config_dir == f"{tmp_path}/elsewhere"
        finally:
            explicit.close()
    default = virtkernel.open("test:///default")
    try:
        assert default._context.hooks.config_dir is None
    finally:
        default.close()
