"""Fixtures for the kernel's own tests: a recording driver that implements every driver operation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pytest

import virtkernel
from virtkernel.connection import Connection, KernelEvents, _check_domain_xml
from virtkernel.driver import DRIVER_OPERATIONS, DriverCalls, DriverContext
from virtkernel.hookspecs import hookimpl
from virtkernel.lifecycle import LifecycleHooks
from virtkernel.types import DomainRef
from virtkernel.uri import parse_uri

KERNEL_PROVIDED = {"connect_domain_event_register", "connect_domain_event_deregister",
                   "connect_domain_event_register_any", "connect_domain_event_deregister_any"}
"""Hooks the kernel itself implements (on the event bus); the recording driver leaves them alone."""

FAKE = DomainRef("fake", "0b5e5a2b-6a2d-4d8e-9c71-9a1f1d1a2b3c", 7)


@dataclass
class Recorder:
    """What the recording driver saw: (hook, kwargs) pairs, and canned answers per hook."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    features: set[int] = field(default_factory=set)

    def hooks(self) -> list[str]:
        return [name for name, _ in self.calls]


def _make_driver_class(recorder: Recorder) -> type:
    def make(name: str) -> Callable[..., Any]:
        def impl(self, **kwargs: Any) -> Any:
            recorder.calls.append((name, kwargs))
            answer = recorder.answers.get(name, 0)
            return answer(**kwargs) if callable(answer) else answer
        return impl

    namespace: dict[str, Any] = {}
    import inspect

    from virtkernel import hookspecs
    for name in DRIVER_OPERATIONS - KERNEL_PROVIDED:
        spec = getattr(hookspecs, name)
        params = list(inspect.signature(spec).parameters)
        body = make(name)
        # pluggy reads the argument names from the signature: build a function with the spec's exact arguments
        args = ", ".join(params)
        call = ", ".join(f"{p}={p}" for p in params)
        scope: dict[str, Any] = {"body": body}
        exec(f"def {name}(self{', ' if args else ''}{args}):\n    return body(self{', ' if call else ''}{call})", scope)
        namespace[name] = hookimpl(scope[name])

    def connect_supports_feature(self, feature: int) -> bool:
        return int(feature) in recorder.features

    namespace["connect_supports_feature"] = hookimpl(connect_supports_feature)
    return type("RecordingDriver", (), namespace)


@pytest.fixture
def recorder() -> Recorder:
    rec = Recorder()
    rec.answers.update({
        "domain_lookup_by_name": FAKE, "domain_lookup_by_id": FAKE, "domain_lookup_by_uuid": FAKE,
        "domain_define_xml": FAKE, "domain_create_xml": FAKE, "connect_list_all_domains": [FAKE],
        "connect_get_type": "FAKE", "connect_get_version": 1_002_003,
    })
    return rec


@pytest.fixture
def open_fake(recorder: Recorder) -> Iterator[Callable[..., Connection]]:
    """Open a Connection on the recording driver, read-write or read-only."""
    opened: list[Connection] = []

    def open_connection(read_only: bool = False, hook_plugins: list[tuple[str, Any]] = ()) -> Connection:
        driver = _make_driver_class(recorder)()
        calls = DriverCalls("fake", driver, list(hook_plugins))
        uri = parse_uri("fake:///")
        hooks = LifecycleHooks(calls.plugin_manager, driver="fake", uri=uri.text, validate_xml=_check_domain_xml)
        context = DriverContext(uri=uri, read_only=read_only, scheme="fake", hooks=hooks)
        calls.register(KernelEvents(context), name="virtkernel:events")
        conn = Connection(uri, calls, context, read_only)
        opened.append(conn)
        recorder.calls.clear()
        return conn

    yield open_connection
    for conn in opened:
        if not conn.closed:
            conn.close()


def running_in_ci() -> bool:
    """True under CI=true, where a missing prerequisite must fail instead of skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
