"""Fake two-host drivers that record every migration phase call, for the kernel's negotiation and sequence tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pytest

from virtkernel import DomainRef, DriverFeature, NoDomain, hookimpl
from virtkernel.connection import Connection
from virtkernel.enums import DomainState
from virtkernel.types import DomainInfo, MigrationResult
from virtkernel.uri import parse_uri

F = DriverFeature
ALL_FEATURES = frozenset(F)
WEB1 = DomainRef("web1", "5e1bd4b4-7e0b-4b0e-9a59-a5d1f1b0c0de", 3)
XML = f"<domain type='test'><name>web1</name><uuid>{WEB1.uuid}</uuid><memory>1024</memory></domain>"


@dataclass
class PhaseLog:
    """(host, hook, kwargs) of every call, both hosts interleaved in call order."""

    entries: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def hooks(self, *, probes: bool = False) -> list[str]:
        """'host:hook' strings (feature probes left out unless asked)."""
        return [f"{h}:{n}" for h, n, _ in self.entries if probes or n != "connect_supports_feature"]

    def phases(self) -> list[str]:
        """'host:phase' for the migration phase hooks only, e.g. 'src:begin3'."""
        return [f"{h}:{n.removeprefix('domain_migrate_')}" for h, n, _ in self.entries if "migrate" in n]

    def probes(self) -> list[str]:
        """'host:FEATURE' for every probe."""
        return [f"{h}:{F(kw['feature']).name}" for h, n, kw in self.entries if n == "connect_supports_feature"]

    def kwargs(self, host: str, hook: str) -> dict[str, Any]:
        """The arguments of the (only) call of ``hook`` on ``host``."""
        found = [kw for h, n, kw in self.entries if h == host and n == hook]
        assert len(found) == 1, f"{host}:{hook} called {len(found)} times"
        return found[0]


class FakeHost:
    """A migration-capable fake driver: features, per-hook failures and missing hooks are configurable."""

    def __init__(self, name: str, log: PhaseLog, features: frozenset = ALL_FEATURES, fail: Optional[dict] = None,
                 missing: tuple[str, ...] = (), uri_out: Optional[str] = "tcp://h2.example:49152",
                 paused: bool = False, keep_when_cancelled: bool = False, domains: Optional[dict] = None,
                 cookie_features: Optional[int] = None, storage_fallback: Any = None) -> None:
        self.name = name
        self.log = log
        self.features = set(features)
        self.fail = dict(fail or {})
        self.uri_out = uri_out
        self.paused = paused
        self.keep_when_cancelled = keep_when_cancelled
        self.domains: dict[str, DomainRef] = dict(domains or {})
        if cookie_features is not None:
            self.migration_cookie_features = cookie_features
        self.storage_fallback = storage_fallback  # the answer (True/False/None) or a VirtError to raise
        for hook in missing:
            setattr(self, hook, lambda *a, **k: None)  # an unmarked attribute hides the hook from pluggy

    def _record(self, hook: str, **kwargs: Any) -> None:
        self.log.entries.append((self.name, hook, copy.deepcopy(kwargs)))
        error = self.fail.get(hook)
        if error is not None:
            raise error

    @hookimpl
    def connect_open(self, context: Any) -> bool:
        self.uri = context.uri.text
        return True

    @hookimpl
    def connect_get_uri(self) -> str:
        return self.uri

    @hookimpl
    def connect_get_migration_cookie_features(self) -> Optional[int]:
        return getattr(self, "migration_cookie_features", None)

    @hookimpl
    def connect_supports_migration_storage_fallback(self, domain: str, side: str) -> Optional[bool]:
        self._record("connect_supports_migration_storage_fallback", domain=domain, side=side)
        if isinstance(self.storage_fallback, Exception):
            raise self.storage_fallback
        return self.storage_fallback

    @hookimpl
    def connect_supports_feature(self, feature: int) -> bool:
        self._record("connect_supports_feature", feature=int(feature))
        return F(feature) in self.features

    @hookimpl
    def domain_lookup_by_name(self, name: str) -> DomainRef:
        self._record("domain_lookup_by_name", name=name)
        if name not in self.domains:
            raise NoDomain(f"domain '{name}' does not exist")
        return self.domains[name]

    @hookimpl
    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        state = DomainState.PAUSED if self.paused else DomainState.RUNNING
        return DomainInfo(int(state), 1024, 1024, 1, 0)

    @hookimpl
    def domain_get_state(self, dom: DomainRef, flags: int) -> tuple[int, int]:
        # state_reason: e.g. DomainPausedReason.POSTCOPY_FAILED for a post-copy migration that broke
        return (int(DomainState.PAUSED if self.paused else DomainState.RUNNING), getattr(self, "state_reason", 1))

    @hookimpl
    def domain_get_xml_desc(self, dom: DomainRef, flags: int) -> str:
        self._record("domain_get_xml_desc", flags=flags)
        return XML

    # -- source phases -----------------------------------------------------------------------------------------------

    @hookimpl
    def domain_migrate_begin3(self, dom, xmlin, flags, dname, bandwidth):
        self._record("domain_migrate_begin3", xmlin=xmlin, flags=flags, dname=dname, bandwidth=bandwidth)
        return MigrationResult(xml=xmlin or XML, cookie=b"begin")

    @hookimpl
    def domain_migrate_begin3_params(self, dom, params, flags):
        self._record("domain_migrate_begin3_params", params=params, flags=flags)
        return MigrationResult(xml=params.get("destination_xml") or XML, cookie=b"begin")

    @hookimpl
    def domain_migrate_perform3(self, dom, xmlin, cookiein, dconnuri, uri, flags, dname, bandwidth):
        self._record("domain_migrate_perform3", xmlin=xmlin, cookiein=cookiein, dconnuri=dconnuri, uri=uri,
                     flags=flags, dname=dname, bandwidth=bandwidth)
        return MigrationResult(cookie=b"perform")

    @hookimpl
    def domain_migrate_perform3_params(self, dom, dconnuri, params, cookiein, flags):
        self._record("domain_migrate_perform3_params", dconnuri=dconnuri, params=params, cookiein=cookiein,
                     flags=flags)
        return MigrationResult(cookie=b"perform")

    @hookimpl
    def domain_migrate_confirm3(self, dom, cookiein, flags, cancelled):
        self._record("domain_migrate_confirm3", cookiein=cookiein, flags=flags, cancelled=cancelled)
        return 0

    @hookimpl
    def domain_migrate_confirm3_params(self, dom, params, cookiein, flags, cancelled):
        self._record("domain_migrate_confirm3_params", params=params, cookiein=cookiein, flags=flags,
                     cancelled=cancelled)
        return 0

    @hookimpl
    def domain_migrate_perform(self, dom, cookie, uri, flags, dname, bandwidth):
        self._record("domain_migrate_perform", cookie=cookie, uri=uri, flags=flags, dname=dname, bandwidth=bandwidth)
        return 0

    # -- destination phases ------------------------------------------------------------------------------------------

    def _arrive(self, name: str) -> DomainRef:
        ref = DomainRef(name, WEB1.uuid, 9)
        self.domains[name] = ref
        return ref

    @hookimpl
    def domain_migrate_prepare3(self, cookiein, uri_in, flags, dname, bandwidth, dom_xml):
        self._record("domain_migrate_prepare3", cookiein=cookiein, uri_in=uri_in, flags=flags, dname=dname,
                     bandwidth=bandwidth, dom_xml=dom_xml)
        return MigrationResult(cookie=b"prepare", uri_out=self.uri_out)

    @hookimpl
    def domain_migrate_prepare3_params(self, params, cookiein, flags):
        self._record("domain_migrate_prepare3_params", params=params, cookiein=cookiein, flags=flags)
        return MigrationResult(cookie=b"prepare", uri_out=self.uri_out)

    @hookimpl
    def domain_migrate_finish3(self, dname, cookiein, dconnuri, uri, flags, cancelled):
        self._record("domain_migrate_finish3", dname=dname, cookiein=cookiein, dconnuri=dconnuri, uri=uri,
                     flags=flags, cancelled=cancelled)
        if cancelled and not self.keep_when_cancelled:
            return MigrationResult(cookie=b"finish")
        return MigrationResult(cookie=b"finish", domain=self._arrive(dname))

    @hookimpl
    def domain_migrate_finish3_params(self, params, cookiein, flags, cancelled):
        self._record("domain_migrate_finish3_params", params=params, cookiein=cookiein, flags=flags,
                     cancelled=cancelled)
        if cancelled and not self.keep_when_cancelled:
            return MigrationResult(cookie=b"finish")
        return MigrationResult(cookie=b"finish", domain=self._arrive(params["destination_name"]))

    @hookimpl
    def domain_migrate_prepare2(self, uri_in, flags, dname, bandwidth, dom_xml):
        self._record("domain_migrate_prepare2", uri_in=uri_in, flags=flags, dname=dname, bandwidth=bandwidth,
                     dom_xml=dom_xml)
        return MigrationResult(cookie=b"prepare2", uri_out=self.uri_out)

    @hookimpl
    def domain_migrate_finish2(self, dname, cookie, uri, flags, retcode):
        self._record("domain_migrate_finish2", dname=dname, cookie=cookie, uri=uri, flags=flags, retcode=retcode)
        if retcode and not self.keep_when_cancelled:
            return MigrationResult()
        return MigrationResult(domain=self._arrive(dname))

    @hookimpl
    def domain_migrate_prepare(self, uri_in, flags, dname, bandwidth):
        self._record("domain_migrate_prepare", uri_in=uri_in, flags=flags, dname=dname, bandwidth=bandwidth)
        return MigrationResult(cookie=b"prepare1", uri_out=self.uri_out)

    @hookimpl
    def domain_migrate_finish(self, dname, cookie, uri, flags):
        self._record("domain_migrate_finish", dname=dname, cookie=cookie, uri=uri, flags=flags)
        return self._arrive(dname)


def open_fake(driver: FakeHost, uri: str, read_only: bool = False) -> Connection:
    """A Connection on an existing driver instance."""
    return Connection._open(parse_uri(uri), lambda: driver, [], read_only)


@dataclass
class Pair:
    """Two fake hosts and their connections; ``dom`` is web1 on the source."""

    log: PhaseLog
    src: FakeHost
    dst: FakeHost
    sconn: Connection
    dconn: Connection

    @property
    def dom(self):  # type: ignore[no-untyped-def]
        return self.sconn.lookup_by_name("web1")


@pytest.fixture
def make_pair() -> Callable[..., Pair]:
    """make_pair(src={...FakeHost options}, dst={...}, src_ro=False, dst_ro=False) -> Pair."""
    opened: list[Connection] = []

    def make(src: Optional[dict] = None, dst: Optional[dict] = None, src_ro: bool = False,
             dst_ro: bool = False) -> Pair:
        log = PhaseLog()
        source = FakeHost("src", log, domains={"web1": WEB1}, **(src or {}))
        dest = FakeHost("dst", log, **(dst or {}))
        sconn = open_fake(source, "fake://h1.example/", src_ro)
        dconn = open_fake(dest, "fake://h2.example/", dst_ro)
        opened.extend([sconn, dconn])
        return Pair(log, source, dest, sconn, dconn)

    yield make
    for conn in opened:
        if not conn.closed:
            conn.close()
