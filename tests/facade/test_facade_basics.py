"""The libvirt-python facade over a small in-memory driver: names, result shapes, errors, references."""

from __future__ import annotations

import functools
import gc

import pytest

from virtkernel import libvirt

pytestmark = pytest.mark.timeout(60)


def test_connection_identity_and_host_facts(mini: str) -> None:
    conn = libvirt.open(mini)
    assert isinstance(conn, libvirt.virConnect)
    assert conn.getType() == "MINI"
    assert conn.getURI() == "mini:///"
    assert conn.getLibVersion() == 9_000_000
    # libvirt-python reports node memory in MiB; the kernel answers in KiB.
    assert conn.getInfo() == ["x86_64", 4096, 4, 2000, 1, 1, 4, 1]
    assert (conn.isAlive(), conn.isSecure(), conn.isEncrypted()) == (1, 1, 0)
    assert conn.close() == 0
    assert conn.isAlive() == 0


def test_lookup_and_domain_result_shapes(mini: str) -> None:
    conn = libvirt.open(mini)
    dom = conn.lookupByName("alpha")
    assert isinstance(dom, libvirt.virDomain)
    assert (dom.name(), dom.ID(), dom.UUIDString()) == ("alpha", 1, "11111111-2222-3333-4444-555555555555")
    assert dom.UUID() == bytes.fromhex("11111111222233334444555555555555")
    assert dom.info() == [libvirt.VIR_DOMAIN_RUNNING, 1048576, 524288, 2, 12345]
    assert dom.state() == [libvirt.VIR_DOMAIN_RUNNING, 1]
    assert dom.isActive() == 1 and dom.maxMemory() == 1048576
    assert dom.vcpus() == ([(0, 1, 0, 0), (1, 1, 1000, 1)], [(True, False, True, False)] * 2)
    assert dom.blockInfo("vda", 0) == [100, 50, 100]
    assert dom.memoryStats() == {"actual": 524288, "rss": 1000, "last_update": 1700000000}
    assert dom.getTime() == {"seconds": 1234567890, "nseconds": 5}
    assert dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE) == {
        "eth0": {"hwaddr": "52:54:00:00:00:01", "addrs": [{"type": 0, "addr": "192.0.2.5", "prefix": 24}]}}
    assert dom.jobStats() == {"type": libvirt.VIR_DOMAIN_JOB_NONE}
    assert dom.connect() is conn
    assert [d.name() for d in conn.listAllDomains()] == ["alpha"]
    del dom
    conn.close()


def test_lifecycle_calls_return_zero_and_update_the_handle(mini: str) -> None:
    conn = libvirt.open(mini)
    dom = conn.defineXML("<domain type='test'><name>beta</name><memory>1024</memory><os><type>hvm</type></os>"
                         "</domain>")
    assert dom.ID() == -1
    assert dom.create() == 0
    assert dom.ID() == 2
    assert dom.suspend() == 0
    assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
    assert dom.destroy() == 0
    assert dom.ID() == -1 and dom.isActive() == 0
    del dom
    conn.close()


def test_errors_carry_libvirt_codes_and_reach_the_handler(mini: str, quiet_errors: list) -> None:
    conn = libvirt.open(mini)
    with pytest.raises(libvirt.libvirtError) as info:
        conn.lookupByName("nosuch")
    error = info.value
    assert error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
    assert error.get_error_domain() == libvirt.VIR_FROM_TEST
    assert error.get_error_level() == libvirt.VIR_ERR_ERROR
    assert "nosuch" in error.get_error_message() and str(error) == error.get_error_message()
    assert libvirt.virGetLastError()[:2] == (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_TEST)
    assert libvirt.virGetLastErrorCode() == libvirt.VIR_ERR_NO_DOMAIN
    assert libvirt.virGetLastErrorMessage() == error.get_error_message()
    assert quiet_errors == [("ctx", error.err)]
    # A successful call resets the thread's last error, as every libvirt entry point does.
    conn.lookupByName("alpha")
    assert libvirt.virGetLastError() is None
    conn.close()


def test_without_a_handler_errors_are_printed_like_libvirt(mini: str, capsys: pytest.CaptureFixture) -> None:
    conn = libvirt.open(mini)
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName("nosuch")
    assert capsys.readouterr().err == "libvirt: Test Driver error : Domain not found: domain 'nosuch' does not exist\n"
    conn.close()


def test_a_user_raised_libvirt_error_takes_the_last_error_or_its_message() -> None:
    libvirt.virResetLastError()
    error = libvirt.libvirtError("something failed")
    assert (str(error), error.get_error_code(), error.err) == ("something failed", None, None)


def test_missing_driver_operations_and_facade_only_names_are_not_supported(mini: str, quiet_errors: list) -> None:
    conn = libvirt.open(mini)
    dom = conn.lookupByName("alpha")
    checkpoint = functools.partial(dom.checkpointCreateXML, "<domaincheckpoint/>")
    cells = functools.partial(conn.getCellsFreeMemory, 0, 1)
    for call in (dom.resume, checkpoint, conn.listAllNetworks, cells):
        with pytest.raises(libvirt.libvirtError) as info:
            call()
        assert info.value.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT
    # libvirt-python returns None (after reporting the error) for these instead of raising.
    assert dom.migrateGetMaxDowntime(0) is None
    assert dom.migrateGetCompressionCache(0) is None
    assert dom.guestVcpus(0) is None
    assert conn.getFreeMemory() is None
    assert [err[0] for _, err in quiet_errors[-4:]] == [libvirt.VIR_ERR_NO_SUPPORT] * 4
    del dom, checkpoint, call
    conn.close()


def test_typed_parameter_setters_accept_only_names_the_getter_reports(mini: str) -> None:
    conn = libvirt.open(mini)
    dom = conn.lookupByName("alpha")
    driver = conn._o.driver.driver
    assert dom.setSchedulerParameters({"weight": 70}) == 0
    assert dom.schedulerParameters() == {"weight": 70, "cap": 0}
    with pytest.raises(LookupError):
        dom.setSchedulerParameters({"bogus": 1})
    with pytest.raises(TypeError):
        dom.setSchedulerParameters({"weight": "heavy"})
    assert dom.setBlkioParameters({"weight": 800, "device_weight": "/dev/sda,10"}, 0) == 0
    assert dom.blkioParameters(0) == {"weight": 800, "device_weight": "/dev/sda,10"}
    with pytest.raises(LookupError):
        dom.setBlkioParameters({"bogus": 1}, 0)
    # The legacy getter passes no flags at all; the ...Flags getter passes what the kernel adds.
    getter_flags = [flags for name, flags in driver.calls if name == "domain_get_scheduler_parameters"]
    assert getter_flags[0] == 0
    dom.schedulerParametersFlags(0)
    assert [f for n, f in driver.calls if n == "domain_get_scheduler_parameters"][-1] == dom._o._string_ok()
    del dom
    conn.close()


def test_pin_vcpu_is_the_flagless_call(mini: str) -> None:
    conn = libvirt.open(mini)
    dom = conn.lookupByName("alpha")
    dom.pinVcpu(0, (True, False))
    dom.pinVcpuFlags(0, (True, False), libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert [f for n, f in conn._o.driver.driver.calls if n == "domain_pin_vcpu"] == [
        libvirt.VIR_DOMAIN_AFFECT_CURRENT, libvirt.VIR_DOMAIN_AFFECT_LIVE]
    del dom
    conn.close()


def test_snapshots_wrap_with_their_domain(mini: str) -> None:
    conn = libvirt.open(mini)
    dom = conn.lookupByName("alpha")
    first = dom.snapshotCreateXML("<domainsnapshot><name>s1</name></domainsnapshot>", 0)
    second = dom.snapshotCreateXML("<domainsnapshot><name>s2</name></domainsnapshot>", 0)
    assert isinstance(first, libvirt.virDomainSnapshot)
    assert (first.getName(), second.getParent().getName()) == ("s1", "s1")
    assert dom.snapshotListNames() == ["s1", "s2"] and dom.snapshotNum() == 2
    assert (first.numChildren(), first.listChildrenNames(), first.isCurrent(), second.isCurrent()) == (
        1, ["s2"], 0, 1)
    assert first.getDomain() is dom and first.getConnect() is conn
    del dom, first, second
    conn.close()


def test_all_domain_stats_pair_domains_with_dicts(mini: str) -> None:
    conn = libvirt.open(mini)
    [(dom, stats)] = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)
    assert isinstance(dom, libvirt.virDomain) and dom.name() == "alpha"
    assert stats == {"state.state": libvirt.VIR_DOMAIN_RUNNING, "state.reason": 1}
    [(again, _)] = conn.domainListGetStats([dom])
    assert again.name() == "alpha"
    del dom, again
    conn.close()


def test_close_waits_for_the_last_domain_handle_like_libvirt(mini: str) -> None:
    conn = libvirt.open(mini)
    kernel = conn._o
    dom = conn.lookupByName("alpha")
    snapshot = dom.snapshotCreateXML("<domainsnapshot><name>s</name></domainsnapshot>", 0)
    assert conn.close() == 1
    assert not kernel.closed
    assert dom.name() == "alpha" and dom.isActive() == 1
    del dom
    gc.collect()
    assert not kernel.closed  # the snapshot still holds its domain
    del snapshot
    gc.collect()
    assert kernel.closed


def test_dropping_the_connection_closes_it(mini: str) -> None:
    conn = libvirt.open(mini)
    kernel = conn._o
    del conn
    gc.collect()
    assert kernel.closed


def test_open_read_only_and_open_auth(mini: str, quiet_errors: list) -> None:
    conn = libvirt.openAuth(mini, [[libvirt.VIR_CRED_AUTHNAME], lambda *a: 0, None], libvirt.VIR_CONNECT_RO)
    dom = conn.lookupByName("alpha")
    with pytest.raises(libvirt.libvirtError) as info:
        dom.destroy()
    assert info.value.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED
    del dom
    conn.close()
    with libvirt.openReadOnly(mini) as conn:
        assert conn._o.read_only
    with pytest.raises(libvirt.libvirtError) as info:
        libvirt.open("nosuchscheme:///")
    assert info.value.get_error_code() == libvirt.VIR_ERR_NO_CONNECT


def test_the_last_error_does_not_keep_handles_alive(mini: str, quiet_errors: list) -> None:
    conn = libvirt.open(mini)
    dom = conn.lookupByName("alpha")
    dom.destroy()
    with pytest.raises(libvirt.libvirtError):
        dom.destroy()
    del dom
    gc.collect()
    assert libvirt.virGetLastError() is not None
    assert conn.close() == 0


def test_a_console_stream_carries_bytes_both_ways(mini: str) -> None:
    conn = libvirt.open(mini)
    dom = conn.lookupByName("alpha")
    stream = conn.newStream(0)
    assert isinstance(stream, libvirt.virStream) and stream.connect() is conn
    assert dom.openConsole(None, stream, 0) == 0
    assert stream.recv(1024) == b"login: "
    assert stream.send(b"root\n") == 5
    driver_end = conn._o.driver.driver.console
    assert driver_end.recv(1024) == b"root\n"
    driver_end.sendall(b"# ")
    driver_end.close()
    chunks: list[bytes] = []
    stream.recvAll(lambda st, data, opaque: chunks.append(data), None)
    assert chunks == [b"# "]
    assert stream.finish() == 0
    nonblocking = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
    dom.openConsole(None, nonblocking, 0)
    assert nonblocking.recv(1024) == b"login: "
    assert nonblocking.recv(1024) == -2
    nonblocking.abort()
    del dom
    conn.close()
