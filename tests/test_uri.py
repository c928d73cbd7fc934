"""Connection URIs are parsed completely, and malformed ones get a precise error."""

from __future__ import annotations

import pytest

import virtkernel
from virtkernel.uri import parse_uri


@pytest.mark.parametrize("text, expected", [
    ("test:///default", dict(driver="test", transport=None, host=None, port=None, path="/default", query={})),
    ("qemu:///embed?root=/srv/vk", dict(driver="qemu", path="/embed", query={"root": "/srv/vk"})),
    ("qemu+tcp://alice@host.example:16509/system", dict(driver="qemu", transport="tcp", user="alice",
                                                       host="host.example", port=16509, path="/system")),
    ("qemu+ssh://[fe80::1]:22/system", dict(transport="ssh", host="fe80::1", port=22)),
    ("qemu+unix:///system?socket=/run/x.sock", dict(transport="unix", host=None, query={"socket": "/run/x.sock"})),
    ("LXC:///system", dict(driver="lxc")),
])
def test_uri_parts(text, expected) -> None:
    uri = parse_uri(text)
    for name, value in expected.items():
        assert getattr(uri, name) == value, name
    assert str(uri) == text


@pytest.mark.parametrize("text, why", [
    ("", "the URI is empty"),
    ("qemu", "expected 'driver://"),
    ("qemu:/system", "expected '://' after the scheme"),
    ("qemu://host:99999/system", "Port out of range"),
    ("qemu://[::1/system", "IPv6"),
    ("q emu:///system", "whitespace"),
    ("9qemu:///system", "not a valid scheme"),
])
def test_malformed_uris_are_refused_with_the_reason(text, why) -> None:
    with pytest.raises(virtkernel.VirtError) as info:
        parse_uri(text)
    assert info.value.code == virtkernel.ErrorCode.INVALID_ARG
    assert why in info.value.message


def test_default_uri_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("VIRTKERNEL_DEFAULT_URI", "nosuchdriver:///x")
    with pytest.raises(virtkernel.VirtError) as info:
        virtkernel.open()
    assert "no driver installed for scheme 'nosuchdriver'" in info.value.message
    monkeypatch.delenv("VIRTKERNEL_DEFAULT_URI")
    with pytest.raises(virtkernel.VirtError) as info:
        virtkernel.open()
    assert "VIRTKERNEL_DEFAULT_URI" in info.value.message
