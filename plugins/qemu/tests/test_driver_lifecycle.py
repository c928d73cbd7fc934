"""The qemu driver through the public API on real test guests: URIs, define/start/stop, events, crashes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import virtkernel
from virtkernel.enums import (ConnectListDomainsFlags as ListFlags, DomainEventID,
                              DomainEventDefinedDetailType as Defined, DomainEventShutdownDetailType as Shutdown,
                              DomainEventStartedDetailType as Started, DomainEventStoppedDetailType as Stopped,
                              DomainEventSuspendedDetailType as Suspended, DomainEventResumedDetailType as Resumed,
                              DomainEventType as Event, DomainEventUndefinedDetailType as Undefined,
                              DomainPausedReason, DomainRunningReason, DomainShutoffReason, DomainState, ErrorCode)
from virtkernel_qemu.host import wait_until

from driver_support import EventLog, new_host

pytestmark = pytest.mark.timeout(60)


def _qemu_pid(conn, name: str) -> int:
    guest = conn.driver.driver.host.guests[name]
    return guest.process.pid


def test_uris_name_their_host_and_bad_ones_are_refused(host, conn):
    assert conn.get_type() == "QEMU"
    assert conn.get_version() >= 7_000_000
    assert conn.get_uri() == f"qemu:///embed?root={host.root}"
    for bad, words in (("qemu:///embed", "needs ?root=DIR"), ("qemu:///embed?root=relative", "not an absolute"),
                       ("qemu:///nowhere", "unknown path '/nowhere'"),
                       (f"qemu:///embed?root={host.root}&x=1", "unknown query parameter 'x'"),
                       ("qemu://otherhost/system", "only local URIs")):
        with pytest.raises(virtkernel.VirtError) as info:
            virtkernel.open(bad)
        assert words in info.value.message
    for directory in ("etc/qemu", "run/qemu", "lib/qemu", "log/qemu"):
        assert (host.root / directory).is_dir()


def test_a_guest_starts_runs_and_is_destroyed_with_everything_freed(host, conn):
    events = EventLog(conn)
    dom = conn.define_xml(host.xml("life1"))
    assert (host.root / "etc/qemu/life1.xml").exists()
    dom.create()
    assert dom.is_active() and dom.get_id() > 0
    assert dom.get_state() == (DomainState.RUNNING, DomainRunningReason.BOOTED)
    assert host.wait_passes("life1", 2).startswith("AB")
    assert f'id="{dom.get_id()}"' in dom.get_xml_desc()
    assert [d.name for d in conn.list_all_domains(ListFlags.ACTIVE)] == ["life1"]
    pid = _qemu_pid(conn, "life1")
    status = host.root / "run/qemu/life1.status"
    assert status.exists()
    info = dom.get_info()
    assert info.state == DomainState.RUNNING and info.max_mem == 128 * 1024 and info.nr_virt_cpu == 1
    assert info.cpu_time > 0

    started = time.monotonic()
    dom.destroy()
    assert time.monotonic() - started < 8  # QEMU ends on SIGTERM: well before the 10 s grace ends that would send SIGKILL
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.DESTROYED)
    assert not dom.is_active() and dom.get_id() == -1
    assert not status.exists() and not list((host.root / "run/qemu").glob("*.qmp"))
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert events.of("life1") == [(Event.DEFINED, Defined.ADDED), (Event.STARTED, Started.BOOTED),
                                  (Event.STOPPED, Stopped.DESTROYED)]
    events.close()


def test_start_paused_suspend_and_resume_report_states_and_events(host, conn):
    events = EventLog(conn)
    dom = conn.create_xml(host.xml("pause1"), virtkernel.DomainCreateFlags.PAUSED)
    assert dom.get_state() == (DomainState.PAUSED, DomainPausedReason.USER)
    time.sleep(0.3)
    assert not host.serial("pause1").exists() or host.serial("pause1").read_text() == ""
    dom.resume()
    assert dom.get_state() == (DomainState.RUNNING, DomainRunningReason.UNPAUSED)
    host.wait_passes("pause1", 1)
    dom.suspend()
    assert dom.get_state() == (DomainState.PAUSED, DomainPausedReason.USER)
    count = host.serial("pause1").read_text().count("B")
    time.sleep(0.3)
    assert host.serial("pause1").read_text().count("B") == count
    with pytest.raises(virtkernel.VirtError) as info:
        dom.create()
    assert info.value.code == ErrorCode.OPERATION_INVALID and "already running" in info.value.message
    dom.resume()
    dom.destroy()
    assert events.of("pause1") == [(Event.STARTED, Started.BOOTED), (Event.SUSPENDED, Suspended.PAUSED),
                                   (Event.RESUMED, Resumed.UNPAUSED), (Event.SUSPENDED, Suspended.PAUSED),
                                   (Event.RESUMED, Resumed.UNPAUSED), (Event.STOPPED, Stopped.DESTROYED)]
    with pytest.raises(virtkernel.VirtError) as info:
        conn.lookup_by_name("pause1")  # transient: gone once stopped
    assert info.value.code == ErrorCode.NO_DOMAIN
    events.close()


@pytest.mark.parametrize("devices,extra,element", [
    ("<sound model='ich6'/>", "", "<sound>"),
    ("<hostdev mode='subsystem' type='usb'/>", "", "<hostdev>"),
    ("<interface type='network'><source network='default'/></interface>", "", "<interface type=...>"),
    ("", "<iothreads>2</iothreads>", "<iothreads>"),
    ("<disk type='network' device='disk'><target dev='vdb'/></disk>", "", "<disk type=...>"),
    ("<graphics type='vnc' listen='0.0.0.0'/>", "", "<graphics listen=...>"),
])
def test_unsupported_xml_is_refused_naming_the_element_before_anything_starts(host, conn, devices, extra, element):
    xml = host.xml("refused1", extra_devices=devices, extra=extra)
    for attempt in (lambda: conn.define_xml(xml), lambda: conn.create_xml(xml)):
        with pytest.raises(virtkernel.VirtError) as info:
            attempt()
        assert info.value.code == ErrorCode.CONFIG_UNSUPPORTED
        assert element in info.value.message
    assert not (host.root / "log/qemu/refused1.log").exists()
    assert not (host.root / "etc/qemu/refused1.xml").exists()


def test_unknown_machine_types_are_refused(host, conn):
    xml = host.xml("machine1").replace("machine='pc'", "machine='no-such-machine'")
    with pytest.raises(virtkernel.VirtError) as info:
        conn.define_xml(xml)
    assert "machine type 'no-such-machine'" in info.value.message


def test_a_killed_qemu_marks_the_domain_crashed_and_frees_everything(host, conn):
    events = EventLog(conn)
    driver = conn.driver.driver
    seen: list[bool] = []
    conn.add_inhibitor(seen.append)
    dom = conn.define_xml(host.xml("crash1"))
    dom.create()
    assert seen == [True] and driver.host.active_count == 1
    pid = _qemu_pid(conn, "crash1")
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not dom.is_active(), 5)
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.CRASHED)
    assert events.of("crash1")[-1] == (Event.STOPPED, Stopped.FAILED)
    assert not (host.root / "run/qemu/crash1.status").exists()
    assert seen == [True, False] and driver.host.active_count == 0
    dom.create()  # nothing left behind blocks the next start
    assert dom.is_active() and seen == [True, False, True]
    dom.destroy()
    conn.remove_inhibitor(seen.append)
    events.close()


def test_on_reboot_destroy_ends_the_guest_on_reset(host, conn):
    events = EventLog(conn)
    xml = host.xml("reboot1").replace("<devices>", "<on_reboot>destroy</on_reboot><devices>")
    dom = conn.define_xml(xml)
    assert "<on_reboot>destroy</on_reboot>" in dom.get_xml_desc()
    dom.create()
    dom.reset()
    assert wait_until(lambda: not dom.is_active(), 5)
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.SHUTDOWN)
    assert events.of("reboot1")[-2:] == [(Event.SHUTDOWN, Shutdown.HOST), (Event.STOPPED, Stopped.SHUTDOWN)]
    events.close()


def test_lifecycle_actions_change_live_and_in_the_config(host, conn):
    dom = conn.define_xml(host.xml("action1"))
    dom.create()
    dom.set_lifecycle_action(virtkernel.DomainLifecycle.REBOOT, virtkernel.DomainLifecycleAction.DESTROY,
                             virtkernel.DomainModificationImpact.LIVE)
    assert "<on_reboot>destroy</on_reboot>" in dom.get_xml_desc()
    assert "<on_reboot>restart</on_reboot>" in dom.get_xml_desc(virtkernel.DomainXMLFlags.INACTIVE)
    with pytest.raises(virtkernel.VirtError) as info:
        dom.set_lifecycle_action(virtkernel.DomainLifecycle.POWEROFF, virtkernel.DomainLifecycleAction.PRESERVE,
                                 virtkernel.DomainModificationImpact.CONFIG)
    assert "<on_poweroff>" in info.value.message
    dom.reset()  # now ends the guest, as the live action says
    assert wait_until(lambda: not dom.is_active(), 5)
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.SHUTDOWN)


def test_reset_with_on_reboot_restart_keeps_running_and_emits_reboot(host, conn):
    reboots: list[str] = []
    callback = conn.domain_event_register_any(None, DomainEventID.REBOOT,
                                              lambda _c, dom, _o: reboots.append(dom.name), None)
    dom = conn.create_xml(host.xml("reset1"))
    host.wait_passes("reset1", 1)
    dom.reset()
    host.wait_passes("reset1", 1)
    assert host.serial("reset1").read_text().count("A") == 2  # booted again from the start
    conn.flush_events()
    # one REBOOT per QEMU RESET event, as libvirt: ours, then SeaBIOS's own resets of the new boot
    assert reboots and set(reboots) == {"reset1"} and dom.is_active()
    dom.destroy()
    conn.domain_event_deregister_any(callback)


def test_persistent_configs_survive_and_undefine_removes_them(host, conn):
    events = EventLog(conn)
    dom = conn.define_xml(host.xml("persist1"))
    uuid = dom.get_uuid_string()
    dom = conn.define_xml(host.xml("persist1").replace("<name>", f"<uuid>{uuid}</uuid><name>", 1)
                          .replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>"))
    with host.open() as other:
        again = other.lookup_by_name("persist1")
        assert again.get_uuid_string() == uuid and again.get_vcpus_flags() == 2
        assert not again.is_active() and again.is_persistent()
    with pytest.raises(virtkernel.VirtError) as info:
        conn.define_xml(host.xml("persist1"))  # same name, another (generated) UUID
    assert "already exists with uuid" in info.value.message
    dom.undefine()
    assert not (host.root / "etc/qemu/persist1.xml").exists()
    with pytest.raises(virtkernel.VirtError):
        conn.lookup_by_name("persist1")
    assert events.of("persist1") == [(Event.DEFINED, Defined.ADDED), (Event.DEFINED, Defined.UPDATED),
                                     (Event.UNDEFINED, Undefined.REMOVED)]
    events.close()


def test_two_roots_are_two_independent_hosts(host, conn):
    other = new_host()
    try:
        with other.open() as second:
            a = conn.define_xml(host.xml("twin1"))
            b = second.define_xml(other.xml("twin1"))
            assert a.get_uuid_string() != b.get_uuid_string()
            b.create()
            assert b.is_active() and not a.is_active()
            assert [d.name for d in conn.list_all_domains(ListFlags.ACTIVE)] == []
            b.destroy()
            a.undefine()
    finally:
        other.cleanup()


def test_capabilities_come_from_the_probe(host, conn):
    caps = conn.get_capabilities()
    assert "<os_type>hvm</os_type>" in caps and "pc-i440fx" in caps
    assert "<domain type=\"qemu\"/>" in caps
    driver = conn.driver.driver
    probed = driver.host.capabilities()
    assert ("<domain type=\"kvm\"/>" in caps) == probed.kvm_usable
    domcaps = conn.get_domain_capabilities(None, "x86_64", "pc", "qemu")
    assert f"<machine>{probed.canonical_machine('pc')}</machine>" in domcaps
    assert "<mode name=\"host-passthrough\" supported=\"no\"/>" in domcaps
    with pytest.raises(virtkernel.VirtError):
        conn.get_domain_capabilities(None, "aarch64", None, None)
    assert conn.get_max_vcpus(None) >= 1
    assert not conn.driver.supports(virtkernel.DriverFeature.MIGRATION_V1)  # v1 and v2 are never offered
    assert conn.driver.supports(virtkernel.DriverFeature.TYPED_PARAM_STRING)


def test_autostart_domains_start_when_a_process_first_opens_the_host():
    own = new_host()
    try:
        with own.open() as first:
            dom = first.define_xml(own.xml("auto1"))
            dom.set_autostart(True)
            assert dom.get_autostart() and (own.root / "etc/qemu/autostart/auto1").exists()
            assert not dom.is_active()
        with own.open() as second:  # the first connection of this process to the host again
            again = second.lookup_by_name("auto1")
            assert again.is_active()
            own.wait_passes("auto1", 1)
            again.set_autostart(False)
            again.destroy()
    finally:
        own.cleanup()


def test_the_qemu_command_line_of_a_domain_xml(host, conn):
    argv = conn.domain_xml_to_native("qemu-argv", host.xml("native1"))
    assert argv.startswith(f"{conn.driver.driver.host.capabilities().binary} -name guest=native1,debug-threads=on")
    assert "-nodefaults -no-user-config" in argv and ("-accel tcg" in argv or "-accel kvm" in argv)
    assert "virtio-balloon-pci" in argv and "-S" in argv.split()
    with pytest.raises(virtkernel.VirtError) as info:
        conn.domain_xml_to_native("xen-xm", host.xml("native1"))
    assert "unsupported native format 'xen-xm'" in info.value.message


def test_the_session_uri_keeps_everything_in_the_users_xdg_directories(tmp_path, monkeypatch):
    for variable, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_RUNTIME_DIR", "runtime"),
                          ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(variable, str(tmp_path / sub))
    with virtkernel.open("qemu:///session") as session:
        assert session.get_uri() == "qemu:///session"
        session.define_xml("<domain type='qemu'><name>sess1</name><memory unit='MiB'>16</memory>"
                           "<os><type>hvm</type></os></domain>").undefine()
    assert (tmp_path / "config/virtkernel/qemu").is_dir() and (tmp_path / "runtime/virtkernel/qemu").is_dir()


def test_pty_consoles_and_vnc_ports_chosen_at_start_appear_in_the_live_xml(host, conn):
    xml = host.xml("devices1", extra_devices="<serial type='pty'/><graphics type='vnc' autoport='yes'/>"
                                             "<video><model type='vga'/></video>")
    dom = conn.create_xml(xml)
    try:
        live = dom.get_xml_desc()
        pty = re.search(r'<source path="(/dev/pts/\d+)"/>', live)
        assert pty and os.path.exists(pty.group(1))
        port = re.search(r'<graphics type="vnc"[^>]* port="(\d+)"', live)
        assert port and int(port.group(1)) >= 5900
    finally:
        dom.destroy()


def test_a_kvm_domain_runs_under_kvm(host, conn, kvm):
    xml = host.xml("kvm1", virt_type="kvm")
    dom = conn.create_xml(xml)
    try:
        monitor = conn.driver.driver.host.guests["kvm1"].monitor
        assert monitor.execute("query-kvm") == {"enabled": True, "present": True}
        assert dom.get_state()[0] == DomainState.RUNNING
    finally:
        dom.destroy()


def test_a_qemu_that_fails_to_start_says_why_and_leaves_nothing_behind(host, conn):
    events = EventLog(conn)
    dom = conn.define_xml(host.xml("broken1").replace("broken1.img", "missing.img"))
    with pytest.raises(virtkernel.VirtError) as info:
        dom.create()
    assert "QEMU of domain 'broken1' exited with status 1 while starting" in info.value.message
    assert "missing.img" in info.value.message and "No such file or directory" in info.value.message
    assert dom.get_state() == (DomainState.SHUTOFF, DomainShutoffReason.FAILED) and not dom.is_active()
    assert not (host.root / "run/qemu/broken1.status").exists()
    assert not list((host.root / "run/qemu").glob("broken1.*"))
    assert conn.driver.driver.host.active_count == 0
    assert events.of("broken1") == [(Event.DEFINED, Defined.ADDED)]
    dom.undefine()
    events.close()


def test_reboot_asks_the_guest_through_acpi_and_does_not_reset_it(host, conn):
    dom = conn.create_xml(host.xml("acpi1"))
    try:
        host.wait_passes("acpi1", 1)
        dom.reboot()  # the test guest ignores ACPI: it keeps running, nothing is reset behind its back
        dom.shutdown()
        host.wait_passes("acpi1", 2)
        assert host.serial("acpi1").read_text().count("A") == 1
        assert dom.get_state()[0] == DomainState.RUNNING
    finally:
        dom.destroy()


def test_the_serial_console_streams_the_guests_output_one_user_at_a_time(host, conn):
    dom = conn.create_xml(re.sub(r"<serial type='file'>.*?</serial>", "<serial type='pty'/>", host.xml("console1")))
    try:
        stream = conn.new_stream()
        dom.open_console(None, stream)
        seen = b""
        deadline = time.monotonic() + 20
        while seen.count(b"B") < 2 and time.monotonic() < deadline:
            seen += stream.recv(4096, timeout=10)
        assert seen.count(b"B") >= 2
        with pytest.raises(virtkernel.VirtError) as info:
            dom.open_console(None, conn.new_stream())
        assert "an active console session exists" in info.value.message
        forced = conn.new_stream()
        dom.open_console("serial0", forced, virtkernel.DomainConsoleFlags.FORCE)
        assert b"B" in forced.recv(4096, timeout=10)
        assert wait_until(lambda: stream.recv(65536, timeout=1) == b"", 5)  # the first user was cut off
    finally:
        dom.destroy()


def test_metadata_live_and_config(host, conn):
    dom = conn.define_xml(host.xml("meta1"))
    dom.create()
    try:
        Meta = virtkernel.DomainMetadataType
        dom.set_metadata(Meta.DESCRIPTION, "a test guest", None, None, virtkernel.DomainModificationImpact.LIVE)
        assert dom.get_metadata(Meta.DESCRIPTION) == "a test guest"
        with pytest.raises(virtkernel.VirtError) as info:
            dom.get_metadata(Meta.DESCRIPTION, None, virtkernel.DomainModificationImpact.CONFIG)
        assert info.value.code == ErrorCode.NO_DOMAIN_METADATA
        dom.set_metadata(Meta.ELEMENT, "<app><owner>me</owner></app>", "app", "http://example.org/app",
                         virtkernel.DomainModificationImpact.LIVE | virtkernel.DomainModificationImpact.CONFIG)
        assert "<app:owner>me</app:owner>" in dom.get_metadata(Meta.ELEMENT, "http://example.org/app")
        assert "http://example.org/app" in dom.get_xml_desc(virtkernel.DomainXMLFlags.INACTIVE)
    finally:
        dom.destroy()


def test_a_missing_bridge_is_refused_at_start(host, conn):
    nic = "<interface type='bridge'><source bridge='vkq-no-such-br'/><target dev='vkqtap-nb'/></interface>"
    dom = conn.define_xml(host.xml("bridge1", extra_devices=nic))
    with pytest.raises(virtkernel.VirtError) as info:
        dom.create()
    assert "bridge 'vkq-no-such-br' of interface 'vkqtap-nb' of domain 'bridge1' does not exist" in info.value.message
    assert not dom.is_active() and not os.path.exists("/sys/class/net/vkqtap-nb")
    dom.undefine()


def test_a_bridged_tap_joins_its_bridge_inside_a_private_network_namespace(netns_tools):
    # everything happens in a child process that unshares its own network namespace first
    host = new_host()  # the module's host is driven by this process; the child drives its own
    script = textwrap.dedent(f"""
        import ctypes, os, subprocess, virtkernel
        assert ctypes.CDLL(None, use_errno=True).unshare(0x40000000) == 0  # CLONE_NEWNET
        subprocess.run(["ip", "link", "add", "vkqbr0", "type", "bridge"], check=True)
        with virtkernel.open({host.uri!r}) as conn:
            dom = conn.create_xml({host.xml("bridged1", extra_devices=(
                "<interface type='bridge'><source bridge='vkqbr0'/><target dev='vkqtap0'/></interface>"))!r})
            import json
            info = json.loads(subprocess.run(["ip", "-json", "link", "show", "dev", "vkqtap0"], check=True,
                                             capture_output=True).stdout)[0]
            dom.destroy()
        print(info["master"], "UP" in info["flags"])
    """)
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    finally:
        host.cleanup()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["vkqbr0", "True"]
