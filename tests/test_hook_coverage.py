"""Every hook specification is either implemented by a plugin of this repository or exercised here.

A driver never fakes support: an operation no in-repo driver implements must reach the user as libvirt's
"not supported by the connection driver" error naming the entry point, which the table below checks on the
test driver for each of them.
"""

from __future__ import annotations

import inspect
import socket
from importlib import metadata

import pytest

import virtkernel
from virtkernel import hookspecs
from virtkernel.connection import KernelEvents
from virtkernel.driver import _PUBLIC_NAME

SPECS = {n for n, f in vars(hookspecs).items() if inspect.isfunction(f) and hasattr(f, "virtkernel_spec")}
REPOSITORY_DISTRIBUTIONS = {"virtkernel-test", "virtkernel-qemu", "virtkernel-lxc", "virtkernel-hook-scripts",
                            "virtkernel-device-setup"}


def implemented_in_repository() -> dict[str, set[str]]:
    """Hook name -> the in-repo plugins implementing it."""
    plugins = [("kernel events", KernelEvents)]
    for group in ("virtkernel.drivers", "virtkernel.hooks"):
        for ep in metadata.entry_points(group=group):
            if ep.dist is not None and ep.dist.metadata["Name"] in REPOSITORY_DISTRIBUTIONS:
                plugins.append((ep.dist.metadata["Name"], ep.load()))
    found: dict[str, set[str]] = {}
    for name, plugin in plugins:
        for attribute in dir(plugin):
            if attribute in SPECS and hasattr(getattr(plugin, attribute), "virtkernel_impl"):
                found.setdefault(attribute, set()).add(name)
    return found


def _stream(conn):
    return conn.new_stream()


_KEEP: list[socket.socket] = []


def _socket_fd() -> int:
    """A socket descriptor that stays open for the rest of the test run."""
    left, right = socket.socketpair()
    _KEEP.extend((left, right))
    return left.fileno()


# hook -> a call of its public method on test:///default's running domain 'test'
UNSUPPORTED_CALLS = {
    "connect_domain_xml_from_native": lambda c, d: c.domain_xml_from_native("qemu-argv", "qemu-system-x86_64"),
    "connect_domain_xml_to_native": lambda c, d: c.domain_xml_to_native("qemu-argv", d.get_xml_desc()),
    "connect_get_domain_capabilities": lambda c, d: c.get_domain_capabilities(),
    "domain_agent_set_response_timeout": lambda c, d: d.agent_set_response_timeout(5),
    "domain_authorized_ssh_keys_get": lambda c, d: d.authorized_ssh_keys_get("root"),
    "domain_authorized_ssh_keys_set": lambda c, d: d.authorized_ssh_keys_set("root", ["ssh-ed25519 AAAA x"]),
    "domain_backup_begin": lambda c, d: d.backup_begin("<domainbackup/>"),
    "domain_backup_get_xml_desc": lambda c, d: d.backup_get_xml_desc(),
    "domain_block_commit": lambda c, d: d.block_commit("vda"),
    "domain_block_copy": lambda c, d: d.block_copy("vda", "<disk type='file'><source file='/tmp/x'/></disk>"),
    "domain_block_job_abort": lambda c, d: d.block_job_abort("vda"),
    "domain_block_job_set_speed": lambda c, d: d.block_job_set_speed("vda", 10),
    "domain_block_peek": lambda c, d: d.block_peek("vda", 0, 512),
    "domain_block_pull": lambda c, d: d.block_pull("vda"),
    "domain_block_rebase": lambda c, d: d.block_rebase("vda", None),
    "domain_block_resize": lambda c, d: d.block_resize("vda", 1024),
    "domain_block_stats_flags": lambda c, d: d.block_stats_flags("vda"),
    "domain_fd_associate": lambda c, d: d.fd_associate("fds", [0]),
    "domain_get_block_job_info": lambda c, d: d.get_block_job_info("vda"),
    "domain_get_guest_info": lambda c, d: d.get_guest_info(),
    "domain_get_launch_security_info": lambda c, d: d.get_launch_security_info(),
    "domain_get_security_label_list": lambda c, d: d.get_security_label_list(),
    "domain_graphics_reload": lambda c, d: d.graphics_reload(),
    "domain_migrate_get_compression_cache": lambda c, d: d.migrate_get_compression_cache(),
    "domain_migrate_get_max_downtime": lambda c, d: d.migrate_get_max_downtime(),
    "domain_migrate_get_max_speed": lambda c, d: d.migrate_get_max_speed(),
    "domain_migrate_prepare_tunnel": lambda c, d: c.migrate_prepare_tunnel(_stream(c), 0, None, 0, d.get_xml_desc()),
    "domain_migrate_prepare_tunnel3": lambda c, d: c.migrate_prepare_tunnel3(_stream(c), None, 0, None, 0,
                                                                             d.get_xml_desc()),
    "domain_migrate_prepare_tunnel3_params": lambda c, d: c.migrate_prepare_tunnel3_params(_stream(c), {}, None, 0),
    "domain_migrate_set_compression_cache": lambda c, d: d.migrate_set_compression_cache(1 << 20),
    "domain_migrate_set_max_downtime": lambda c, d: d.migrate_set_max_downtime(100),
    "domain_migrate_set_max_speed": lambda c, d: d.migrate_set_max_speed(100),
    "domain_migrate_start_post_copy": lambda c, d: d.migrate_start_post_copy(),
    "domain_open_channel": lambda c, d: d.open_channel(None, _stream(c)),
    "domain_open_graphics": lambda c, d: d.open_graphics(0, _socket_fd()),
    "domain_open_graphics_fd": lambda c, d: d.open_graphics_fd(0),
    "domain_pm_suspend_for_duration": lambda c, d: d.pm_suspend_for_duration(0, 0),
    "domain_pm_wakeup": lambda c, d: d.pm_wakeup(),
    "domain_restore_params": lambda c, d: c.restore_params({"file": "/nonexistent.sav"}),
    "domain_save_params": lambda c, d: d.save_params({"file": "/tmp/never-written.sav"}),
    "domain_screenshot": lambda c, d: d.screenshot(_stream(c)),
    "domain_set_block_threshold": lambda c, d: d.set_block_threshold("vda", 1 << 20),
    "domain_set_guest_vcpus": lambda c, d: d.set_guest_vcpus("0", 1),
    "domain_set_launch_security_state": lambda c, d: d.set_launch_security_state({"sev-secret": "x"}),
    "domain_set_vcpu": lambda c, d: d.set_vcpu("1", 0),
    "domain_start_dirty_rate_calc": lambda c, d: d.start_dirty_rate_calc(1),
}


def test_every_hook_spec_is_implemented_or_checked_as_unsupported() -> None:
    implemented = implemented_in_repository()
    missing = SPECS - set(implemented) - set(UNSUPPORTED_CALLS)
    assert not missing, f"hook specs neither implemented by a plugin of this repository nor tested here: {sorted(missing)}"


@pytest.mark.parametrize("hook", sorted(UNSUPPORTED_CALLS))
def test_operations_the_test_driver_lacks_say_so_by_name(hook) -> None:
    implemented = implemented_in_repository()
    if "virtkernel-test" in implemented.get(hook, set()):
        pytest.fail(f"the test driver implements {hook}: move it out of UNSUPPORTED_CALLS and test it for real")
    with virtkernel.open("test:///default") as conn:
        dom = conn.lookup_by_name("test")
        with pytest.raises(virtkernel.NoSupport) as info:
            UNSUPPORTED_CALLS[hook](conn, dom)
    assert info.value.message == f"this function is not supported by the connection driver: {_PUBLIC_NAME[hook]}"
