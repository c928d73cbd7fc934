"""A driver shipped as its own distribution works after pip install; a broken one gives a clear error."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel.discovery import PluginLoadError

TOY_DRIVER = '''
from virtkernel import DomainRef, NoDomain, hookimpl

TOY = DomainRef("toy1", "6695eb01-f6a4-8304-79aa-97f2502e193f", 1)


class ToyDriver:
    @hookimpl
    def connect_open(self, context):
        self.uri = context.uri
        return True

    @hookimpl
    def connect_get_type(self):
        return "TOY"

    @hookimpl
    def connect_list_all_domains(self, flags):
        return [TOY]

    @hookimpl
    def domain_lookup_by_name(self, name):
        if name != TOY.name:
            raise NoDomain(f"domain '{name}' does not exist")
        return TOY
'''


@pytest.mark.timeout(600)
def test_a_pip_installed_driver_is_found_by_scheme(install_plugin) -> None:
    install_plugin(TOY_DRIVER, group="virtkernel.drivers", name="toy", target="ToyDriver")

    with virtkernel.open("toy:///") as conn:
        assert conn.get_type() == "TOY"
        assert [d.name for d in conn.list_all_domains()] == ["toy1"]
        dom = conn.lookup_by_name("toy1")
        assert dom.uuid == "6695eb01-f6a4-8304-79aa-97f2502e193f"
        with pytest.raises(virtkernel.NoDomain):
            conn.lookup_by_name("nosuch")
        with pytest.raises(virtkernel.NoSupport) as info:
            dom.suspend()
        assert info.value.code == virtkernel.ErrorCode.NO_SUPPORT
        assert info.value.message == "this function is not supported by the connection driver: virDomainSuspend"
        assert virtkernel.get_last_error() is info.value

    listed = {(p.kind, p.name) for p in virtkernel.installed_plugins()}
    assert ("driver", "toy") in listed


@pytest.mark.timeout(600)
def test_a_broken_driver_names_its_distribution_entry_point_and_cause(install_plugin) -> None:
    plugin = install_plugin("import no_such_module_for_virtkernel\n", group="virtkernel.drivers",
                            name="broken", target="Driver")

    with pytest.raises(PluginLoadError) as info:
        virtkernel.open("broken:///")
    message = info.value.message
    assert plugin.distribution in message
    assert "'broken'" in message and "virtkernel.drivers" in message
    assert "no_such_module_for_virtkernel" in message


def test_an_unknown_scheme_lists_what_is_installed() -> None:
    with pytest.raises(virtkernel.VirtError) as info:
        virtkernel.open("xen:///system")
    assert info.value.code == virtkernel.ErrorCode.NO_CONNECT
    assert info.value.message.startswith("no driver installed for scheme 'xen' (installed: ")
