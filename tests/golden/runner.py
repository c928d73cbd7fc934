"""Replay golden scenarios through any module with libvirt-python's names and record normalised results.

The same code runs against real libvirt-python (`import libvirt`, run with /usr/bin/python3) and
against our drop-in facade (`virtkernel.libvirt`): it only touches names libvirt-python exposes
(open, openReadOnly, virConnect, virDomain, virDomainSnapshot, libvirtError, VIR_* constants and the
default event loop functions) and imports nothing of ours. This module also defines the small
language scenarios are written in (Scenario, Step and the argument markers Ref, Tmp, Const, HostUri).
"""

from __future__ import annotations

import gc
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

HOSTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hosts")
DEFAULT_URI = "test:///default"
# The one domain of test:///default; its UUID is fixed, so it is kept rather than numbered.
DEFAULT_HOST_UUIDS = ("6695eb01-f6a4-8304-79aa-97f2502e193f",)

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


# --- the scenario language ---------------------------------------------------------------------

@dataclass(frozen=True)
class Ref:
    """An object saved by an earlier step (a domain, a snapshot, a second connection)."""

    name: str


@dataclass(frozen=True)
class Tmp:
    """A path inside the scenario's temporary directory (recorded as `<tmp>/NAME`)."""

    name: str


@dataclass(frozen=True)
class Const:
    """One libvirt constant, or several OR-ed together, resolved by name in the module under test."""

    names: tuple[str, ...]

    def __init__(self, *names: str) -> None:
        object.__setattr__(self, "names", tuple(names))


@dataclass(frozen=True)
class HostUri:
    """The URI `test:///ABS/PATH` of a host description file in tests/golden/hosts/."""

    file: str


@dataclass(frozen=True)
class Step:
    """One call: `on` is "conn", "libvirt" (the module) or a saved name; `error` is the expected VIR_ERR_ name."""

    method: str
    args: tuple[Any, ...] = ()
    on: str = "conn"
    save: str | None = None
    error: str | None = None
    # Expected Python exception raised by the binding itself before libvirt is called (e.g. "LookupError").
    raises: str | None = None
    # "value": the normalised result; "type": only its type name; "extract": root tag and `paths`
    # of an XML result (ElementTree paths, "PATH/@attr" for attributes).
    record: str = "value"
    paths: tuple[str, ...] = ()
    # Result positions to mask on top of the per-method defaults: "4" (index), "0/*/2" (nested).
    volatile: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A named sequence of steps on a fresh connection to `uri` (a string or a HostUri)."""

    name: str
    steps: tuple[Step, ...]
    uri: str | HostUri = DEFAULT_URI
    read_only: bool = False
    # Record the domain lifecycle events each step caused.
    events: bool = False
    # Files written into the temporary directory before the first step: name -> bytes.
    files: dict[str, bytes] = field(default_factory=dict)
    known_uuids: tuple[str, ...] = DEFAULT_HOST_UUIDS


# --- normalisation -------------------------------------------------------------------------------

# Result positions that change from call to call in libvirt's test driver (time-derived numbers).
VOLATILE_BY_METHOD: dict[str, tuple[str, ...]] = {
    "info": ("4",),
    "vcpus": ("0/*/2",),
    "blockStats": ("*",),
    "interfaceStats": ("*",),
    "getTime": ("*",),
    "getVersion": ("",),
    "getLibVersion": ("",),
}
# Keys of typed-parameter dictionaries whose values are times or time-derived counters.
VOLATILE_KEY_RE = re.compile(
    r"(^|\.)(time|user|system|cpu_time|user_time|system_time|vcpu_time|last_update|seconds|nseconds"
    r"|kernel|idle|iowait|rd\.reqs|rd\.bytes|rd\.times|wr\.reqs|wr\.bytes|wr\.times|fl\.reqs|fl\.times"
    r"|rx\.bytes|rx\.pkts|rx\.errs|rx\.drop|tx\.bytes|tx\.pkts|tx\.errs|tx\.drop|wait)$"
)
# XML elements whose text is a timestamp.
VOLATILE_XML_TAGS = frozenset({"creationTime"})
# Listing calls whose order libvirt does not define (it walks a hash table): sorted before recording.
UNORDERED_METHODS = frozenset({
    "listAllDomains", "listDomainsID", "listDefinedDomains", "listAllSnapshots", "snapshotListNames",
    "listAllChildren", "listChildrenNames", "getAllDomainStats", "domainListGetStats",
})


def volatile_marker(value: Any) -> str:
    """What a masked value is recorded as: its type, e.g. "<int>" (a marker stays as it is)."""
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        return value
    return f"<{type(value).__name__}>"


def mask(value: Any, path: list[str]) -> Any:
    """Replace the part of `value` addressed by `path` ("*" = every element) with its type marker."""
    if not path or path == [""]:
        return volatile_marker(value)
    head, rest = path[0], path[1:]
    if isinstance(value, (list, tuple)):
        items = list(value)
        indexes = range(len(items)) if head == "*" else [int(head)]
        for index in indexes:
            if index < len(items):
                items[index] = mask(items[index], rest)
        return items
    if isinstance(value, dict):
        keys = list(value) if head == "*" else [head]
        return {key: (mask(val, rest) if key in keys else val) for key, val in value.items()}
    return value


class Normaliser:
    """Turns results into deterministic JSON values, numbering generated UUIDs per scenario."""

    def __init__(self, lib: ModuleType, known_uuids: set[str], replacements: dict[str, str]) -> None:
        self.lib = lib
        self.known_uuids = {u.lower() for u in known_uuids}
        self.generated: dict[str, str] = {}
        # Longest first, so a path is replaced before any of its prefixes.
        self.replacements = sorted(replacements.items(), key=lambda kv: -len(kv[0]))

    def uuid(self, text: str) -> str:
        """Keep a UUID the scenario supplied; number any other in order of appearance."""
        key = text.lower()
        if key in self.known_uuids:
            return key
        if key not in self.generated:
            self.generated[key] = f"<uuid:{len(self.generated) + 1}>"
        return self.generated[key]

    def text(self, value: str) -> str:
        """Normalise a plain string: temp paths, host name, UUIDs; XML documents are canonicalised."""
        stripped = value.lstrip()
        if stripped.startswith("<"):
            try:
                value = canonical_xml(ET.fromstring(value))
            except ET.ParseError:
                pass
        for old, new in self.replacements:
            if old:
                value = value.replace(old, new)
        return UUID_RE.sub(lambda m: self.uuid(m.group(0)), value)

    def value(self, value: Any) -> Any:
        """Normalise any result of a libvirt call into JSON-compatible data."""
        lib = self.lib
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            if len(value) == 16:
                hexed = value.hex()
                dashed = f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"
                return {"uuid_bytes": self.uuid(dashed)}
            return {"bytes_hex": value.hex()}
        if isinstance(value, lib.virDomain):
            return {"name": value.name(), "uuid": self.uuid(value.UUIDString()), "id": value.ID()}
        if isinstance(value, lib.virDomainSnapshot):
            return {"snapshot": value.getName()}
        if isinstance(value, lib.virConnect):
            return {"connection": self.text(value.getURI())}
        if isinstance(value, dict):
            return {
                str(key): (volatile_marker(val) if VOLATILE_KEY_RE.search(str(key)) else self.value(val))
                for key, val in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        raise TypeError(f"cannot record a result of type {type(value).__name__}")


def canonical_xml(root: ET.Element) -> str:
    """Indented XML with sorted attributes, no whitespace-only text, and timestamps masked."""
    for element in root.iter():
        if element.text is not None and not element.text.strip():
            element.text = None
        element.tail = None
        if element.attrib:
            element.attrib = dict(sorted(element.attrib.items()))
        if isinstance(element.tag, str) and element.tag in VOLATILE_XML_TAGS:
            element.text = "<time>"
    ET.indent(root, "  ")
    return ET.tostring(root, encoding="unicode")


def extract_xml(text: str, paths: tuple[str, ...]) -> dict[str, Any]:
    """The root tag of an XML document and the texts (or attributes) found at `paths`."""
    root = ET.fromstring(text)
    facts: dict[str, Any] = {"root": root.tag}
    for path in paths:
        element_path, _, attribute = path.partition("/@")
        found = root.findall(element_path) if element_path else [root]
        facts[path] = [el.get(attribute) if attribute else (el.text or "") for el in found]
    return facts


def sort_key(item: Any) -> str:
    """Order for unordered listings: by the recorded JSON form."""
    return repr(item)


# --- errors --------------------------------------------------------------------------------------

# Values that other VIR_ERR_* names share (those names are error levels, not codes).
ERROR_LEVEL_NAMES = frozenset({"VIR_ERR_NONE", "VIR_ERR_WARNING", "VIR_ERR_ERROR"})


def constant_name(lib: ModuleType, prefix: str, value: int, exclude: frozenset[str] = frozenset()) -> str:
    """The first (sorted) name in `lib` starting with `prefix` whose value is `value`."""
    names = sorted(
        name for name in dir(lib)
        if name.startswith(prefix) and name not in exclude and getattr(lib, name) == value
        and isinstance(getattr(lib, name), int)
    )
    return names[0] if names else f"{prefix}?{value}"


def error_record(lib: ModuleType, error: Exception) -> dict[str, str]:
    """An error as the names of its code and domain."""
    return {
        "error_code_name": constant_name(lib, "VIR_ERR_", error.get_error_code(), ERROR_LEVEL_NAMES),
        "error_domain_name": constant_name(lib, "VIR_FROM_", error.get_error_domain()),
    }


# --- events --------------------------------------------------------------------------------------

LIFECYCLE_EVENT_NAMES = (
    "VIR_DOMAIN_EVENT_DEFINED", "VIR_DOMAIN_EVENT_UNDEFINED", "VIR_DOMAIN_EVENT_STARTED",
    "VIR_DOMAIN_EVENT_SUSPENDED", "VIR_DOMAIN_EVENT_RESUMED", "VIR_DOMAIN_EVENT_STOPPED",
    "VIR_DOMAIN_EVENT_SHUTDOWN", "VIR_DOMAIN_EVENT_PMSUSPENDED", "VIR_DOMAIN_EVENT_CRASHED",
)
_event_loops_registered: set[int] = set()
_MAX_PUMP_ROUNDS = 20


def ensure_event_loop(lib: ModuleType) -> None:
    """Register the default event loop implementation once per module."""
    if id(lib) not in _event_loops_registered:
        lib.virEventRegisterDefaultImpl()
        _event_loops_registered.add(id(lib))


def event_names(lib: ModuleType, event: int, detail: int) -> list[str]:
    """A lifecycle event and its detail as constant names."""
    event_name = next((n for n in LIFECYCLE_EVENT_NAMES if getattr(lib, n) == event), f"?{event}")
    detail_prefix = event_name + "_"
    detail_name = next(
        (n for n in sorted(dir(lib)) if n.startswith(detail_prefix) and getattr(lib, n) == detail),
        f"?{detail}",
    )
    return [event_name, detail_name]


def pump_events(lib: ModuleType, events: list[Any]) -> None:
    """Run the default event loop until an iteration delivers no new event."""
    for _ in range(_MAX_PUMP_ROUNDS):
        before = len(events)
        fired: list[int] = []
        timer = lib.virEventAddTimeout(0, lambda _timer, _opaque: fired.append(1), None)
        while not fired:
            lib.virEventRunDefaultImpl()
        lib.virEventRemoveTimeout(timer)
        if len(events) == before:
            return
    raise RuntimeError("events kept arriving after the step ended")


# --- running -------------------------------------------------------------------------------------

def host_uri(marker: HostUri) -> str:
    """The test driver URI of a host file in tests/golden/hosts/."""
    return "test://" + os.path.join(HOSTS_DIR, marker.file)


def resolve(lib: ModuleType, arg: Any, saved: dict[str, Any], tmpdir: str) -> Any:
    """Turn argument markers into real values."""
    if isinstance(arg, Ref):
        return saved[arg.name]
    if isinstance(arg, Tmp):
        return os.path.join(tmpdir, arg.name)
    if isinstance(arg, Const):
        value = 0
        for name in arg.names:
            value |= getattr(lib, name)
        return value
    if isinstance(arg, HostUri):
        return host_uri(arg)
    if isinstance(arg, (list, tuple)):
        return type(arg)(resolve(lib, item, saved, tmpdir) for item in arg)
    if isinstance(arg, dict):
        return {key: resolve(lib, val, saved, tmpdir) for key, val in arg.items()}
    return arg


DESCRIBE_LIMIT = 72


def describe(step: Step) -> str:
    """A readable, deterministic rendering of the call, e.g. `dom.setMemory(512000)`."""
    def show(arg: Any) -> str:
        if isinstance(arg, Ref):
            return arg.name
        if isinstance(arg, Tmp):
            return f"<tmp>/{arg.name}"
        if isinstance(arg, Const):
            return "|".join(arg.names)
        if isinstance(arg, HostUri):
            return f"test://<hosts>/{arg.file}"
        if isinstance(arg, str) and len(arg) > DESCRIBE_LIMIT:
            return repr(arg[:DESCRIBE_LIMIT] + "...")
        if isinstance(arg, (list, tuple)):
            return "[" + ", ".join(show(a) for a in arg) + "]"
        if isinstance(arg, dict):
            return "{" + ", ".join(f"{k!r}: {show(v)}" for k, v in arg.items()) + "}"
        return repr(arg)
    return f"{step.on}.{step.method}({', '.join(show(a) for a in step.args)})"


def scenario_uuids(scenario: Scenario) -> set[str]:
    """UUIDs the scenario itself supplies (in arguments, files and host files): kept verbatim."""
    texts: list[str] = [repr(step.args) for step in scenario.steps]
    texts += [content.decode("latin-1") for content in scenario.files.values()]
    uris = [scenario.uri] + [a for step in scenario.steps for a in step.args if isinstance(a, HostUri)]
    for uri in uris:
        if isinstance(uri, HostUri):
            with open(os.path.join(HOSTS_DIR, uri.file), encoding="utf-8") as handle:
                texts.append(handle.read())
    found = {m.group(0).lower() for text in texts for m in UUID_RE.finditer(text)}
    return found | {u.lower() for u in scenario.known_uuids}


def record_result(step: Step, result: Any, norm: Normaliser) -> Any:
    """The recorded form of a successful call's result."""
    if step.record == "type":
        return volatile_marker(result)
    if step.record == "extract":
        return norm.value(extract_xml(result, step.paths))
    for path in VOLATILE_BY_METHOD.get(step.method, ()) + step.volatile:
        result = mask(result, path.split("/"))
    value = norm.value(result)
    if step.method in UNORDERED_METHODS and isinstance(value, list):
        value = sorted(value, key=sort_key)
    return value


def run_scenario(lib: ModuleType, scenario: Scenario, tmpdir: str) -> list[dict[str, Any]]:
    """Run `scenario` with module `lib` on a fresh connection; one record per step."""
    for name, content in scenario.files.items():
        with open(os.path.join(tmpdir, name), "wb") as handle:
            handle.write(content)
    replacements = {tmpdir: "<tmp>", HOSTS_DIR: "<hosts>"}
    norm = Normaliser(lib, scenario_uuids(scenario), replacements)
    if scenario.events:
        ensure_event_loop(lib)
    uri = host_uri(scenario.uri) if isinstance(scenario.uri, HostUri) else scenario.uri
    conn = lib.openReadOnly(uri) if scenario.read_only else lib.open(uri)
    saved: dict[str, Any] = {"conn": conn, "libvirt": lib}
    events: list[list[str]] = []
    callback_id = None
    if scenario.events:
        def on_lifecycle(_conn: Any, dom: Any, event: int, detail: int, _opaque: Any) -> None:
            events.append([dom.name(), *event_names(lib, event, detail)])
        callback_id = conn.domainEventRegisterAny(None, lib.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle, None)
    records: list[dict[str, Any]] = []
    try:
        for step in scenario.steps:
            record = run_step(lib, step, saved, tmpdir, norm)
            if scenario.events:
                pump_events(lib, events)
                record["events"] = list(events)
                events.clear()
            records.append(record)
    except BaseException:
        close_all(lib, saved, conn, callback_id, strict=False)
        raise
    close_all(lib, saved, conn, callback_id, strict=True)
    return records


def run_step(lib: ModuleType, step: Step, saved: dict[str, Any], tmpdir: str, norm: Normaliser) -> dict[str, Any]:
    """Make one call and record its normalised result or its error."""
    record: dict[str, Any] = {"call": describe(step)}
    target = saved[step.on]
    args = [resolve(lib, arg, saved, tmpdir) for arg in step.args]
    try:
        result = getattr(target, step.method)(*args)
    except lib.libvirtError as error:
        record["error"] = error_record(lib, error)
        return record
    except Exception as error:
        if step.raises is None or type(error).__name__ != step.raises:
            raise
        record["exception"] = type(error).__name__
        return record
    if step.save:
        saved[step.save] = result
    if step.method == "getHostname" and isinstance(result, str) and result:
        result = "<hostname>"  # the machine's name, whatever form the module reports it in
    record["result"] = record_result(step, result, norm)
    return record


def close_all(lib: ModuleType, saved: dict[str, Any], conn: Any, callback_id: int | None, strict: bool) -> None:
    """Drop every handle and close every connection, so the next scenario starts from fresh state."""
    if callback_id is not None:
        conn.domainEventDeregisterAny(callback_id)
    connections = list({id(obj): obj for obj in saved.values() if isinstance(obj, lib.virConnect)}.values())
    saved.clear()
    gc.collect()
    leaked = [c.close() for c in connections]
    if strict and any(leaked):
        raise RuntimeError(f"connections still referenced after the scenario: {leaked}")


def check_expectations(scenario: Scenario, records: list[dict[str, Any]]) -> list[str]:
    """Differences between the errors a scenario expects and the ones recorded."""
    problems = []
    for index, (step, record) in enumerate(zip(scenario.steps, records)):
        got = record.get("error", {}).get("error_code_name")
        if got != step.error:
            problems.append(f"{scenario.name} step {index} {record['call']}: expected {step.error}, got {got}")
        if record.get("exception") != step.raises:
            problems.append(f"{scenario.name} step {index} {record['call']}: expected exception {step.raises}")
    return problems

