"""What a QEMU binary can do: probed once over QMP, cached on disk, answered as a `FeatureSet`.

The probe runs the binary with ``-machine none`` (KVM tried first, TCG as fallback) and QMP on its
stdin/stdout, sends all its queries in one go, and records: version, machine types, accelerators
compiled in and whether KVM actually works, QMP commands, migration capabilities and parameters,
CPU models and device types.  The result is cached in memory and in ``CACHE_DIR/<digest>.json``,
keyed by the binary's resolved path, mtime, size and inode (plus whether /dev/kvm can be opened, and
the cache format version), so a replaced binary or a newly usable /dev/kvm is probed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from virtkernel.enums import ErrorDomain
from virtkernel.errors import OperationFailed

__all__ = ["MachineType", "Capabilities", "FeatureSet", "probe", "CapabilityProbeError", "kvm_device_usable",
           "CACHE_FORMAT", "DEFAULT_BINARY"]

CACHE_FORMAT = 1
DEFAULT_BINARY = "qemu-system-x86_64"
PROBE_TIMEOUT = 60.0

_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("query-version", {}),
    ("query-kvm", {}),
    ("query-machines", {}),
    ("query-commands", {}),
    ("query-migrate-capabilities", {}),
    ("query-migrate-parameters", {}),
    ("query-cpu-definitions", {}),
    ("qom-list-types", {"implements": "accel"}),
    ("qom-list-types", {"implements": "device", "abstract": False}),
]


class CapabilityProbeError(OperationFailed):
    """The QEMU binary could not be probed (missing, crashed, or spoke no QMP)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, domain=ErrorDomain.QEMU)


@dataclass(frozen=True)
class MachineType:
    """One machine type QEMU offers (``pc-q35-7.2`` with alias ``q35``...)."""

    name: str
    alias: Optional[str] = None
    is_default: bool = False
    cpu_max: int = 1
    deprecated: bool = False


@dataclass(frozen=True)
class Capabilities:
    """Everything the probe learned about one QEMU binary (plain data; JSON round-trips)."""

    binary: str
    version: tuple[int, int, int]
    package: str
    machines: tuple[MachineType, ...]
    accelerators: tuple[str, ...]         # compiled in: "kvm", "tcg", ...
    kvm_usable: bool                      # KVM initialised in the probe (not just compiled in)
    commands: frozenset[str]
    migration_capabilities: frozenset[str]
    migration_parameters: dict[str, Any] = field(default_factory=dict)
    cpu_models: tuple[str, ...] = ()
    devices: frozenset[str] = frozenset()

    @property
    def version_string(self) -> str:
        """'7.2.22'."""
        return ".".join(map(str, self.version))

    @property
    def version_number(self) -> int:
        """libvirt-style number: major * 1,000,000 + minor * 1,000 + micro (7002022)."""
        major, minor, micro = self.version
        return major * 1_000_000 + minor * 1_000 + micro

    @property
    def default_machine(self) -> Optional[str]:
        """The machine QEMU uses without -machine (by alias when it has one)."""
        for machine in self.machines:
            if machine.is_default:
                return machine.alias or machine.name
        return None

    def canonical_machine(self, name: str) -> Optional[str]:
        """The versioned machine behind a name or alias ('q35' -> 'pc-q35-7.2'); None if unknown."""
        for machine in self.machines:
            if name in (machine.name, machine.alias):
                return machine.name
        return None

    @property
    def features(self) -> "FeatureSet":
        """Yes/no answers derived from these capabilities."""
        return FeatureSet(self)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (see `from_json`)."""
        data = asdict(self)
        for key in ("commands", "migration_capabilities", "devices"):
            data[key] = sorted(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Capabilities":
        """Rebuild from `to_json` output."""
        return cls(binary=data["binary"], version=tuple(data["version"]), package=data["package"],
                   machines=tuple(MachineType(**m) for m in data["machines"]),
                   accelerators=tuple(data["accelerators"]), kvm_usable=data["kvm_usable"],
                   commands=frozenset(data["commands"]),
                   migration_capabilities=frozenset(data["migration_capabilities"]),
                   migration_parameters=dict(data["migration_parameters"]),
                   cpu_models=tuple(data["cpu_models"]), devices=frozenset(data["devices"]))


class FeatureSet:
    """Questions the driver asks about a QEMU binary, answered from its `Capabilities`."""

    def __init__(self, capabilities: Capabilities) -> None:
        self.capabilities = capabilities

    def has_command(self, name: str) -> bool:
        """QMP command available."""
        return name in self.capabilities.commands

    def has_migration_capability(self, name: str) -> bool:
        """Migration capability known to ``migrate-set-capabilities``."""
        return name in self.capabilities.migration_capabilities

    def has_migration_parameter(self, name: str) -> bool:
        """Migration parameter known to ``migrate-set-parameters``."""
        return name in self.capabilities.migration_parameters

    def has_device(self, name: str) -> bool:
        """Device type available for -device / device_add."""
        return name in self.capabilities.devices

    def has_machine(self, name: str) -> bool:
        """Machine type (or alias) available."""
        return self.capabilities.canonical_machine(name) is not None

    def has_cpu_model(self, name: str) -> bool:
        """CPU model available for -cpu ('host' and 'max' are special names QEMU accepts too)."""
        return name in self.capabilities.cpu_models

    @property
    def kvm(self) -> bool:
        """KVM works with this binary on this host."""
        return self.capabilities.kvm_usable

    @property
    def tcg(self) -> bool:
        """TCG (software emulation) is compiled in."""
        return "tcg" in self.capabilities.accelerators

    @property
    def supports_postcopy(self) -> bool:
        """Post-copy migration (``postcopy-ram`` capability + ``migrate-start-postcopy``)."""
        return self.has_migration_capability("postcopy-ram") and self.has_command("migrate-start-postcopy")

    @property
    def supports_multifd(self) -> bool:
        """Parallel migration streams (``multifd`` capability)."""
        return self.has_migration_capability("multifd")

    @property
    def supports_auto_converge(self) -> bool:
        """vCPU throttling when migration does not converge."""
        return self.has_migration_capability("auto-converge")

    @property
    def supports_xbzrle(self) -> bool:
        """XBZRLE page delta compression."""
        return self.has_migration_capability("xbzrle")

    @property
    def supports_zero_blocks(self) -> bool:
        """``zero-blocks`` capability (skip zero blocks in block migration)."""
        return self.has_migration_capability("zero-blocks")

    @property
    def has_block_migration(self) -> bool:
        """The old ``block`` migration capability (copies disks inside the migration stream)."""
        return self.has_migration_capability("block")

    @property
    def has_blockdev_mirror(self) -> bool:
        """``blockdev-mirror`` (storage migration through an NBD target)."""
        return self.has_command("blockdev-mirror")

    @property
    def has_nbd_server(self) -> bool:
        """Built-in NBD server (``nbd-server-start`` / ``block-export-add``) for storage migration."""
        return self.has_command("nbd-server-start")

    @property
    def has_blockdev(self) -> bool:
        """-blockdev / ``blockdev-add``."""
        return self.has_command("blockdev-add")

    @property
    def has_migrate_incoming(self) -> bool:
        """``-incoming defer`` + ``migrate-incoming``."""
        return self.has_command("migrate-incoming")

    @property
    def has_cpu_model_expansion(self) -> bool:
        """``query-cpu-model-expansion`` (host CPU model details)."""
        return self.has_command("query-cpu-model-expansion")

    def as_dict(self) -> dict[str, bool]:
        """Every named yes/no feature, for logs and capability XML."""
        names = ["kvm", "tcg", "supports_postcopy", "supports_multifd", "supports_auto_converge",
                 "supports_xbzrle", "supports_zero_blocks", "has_block_migration", "has_blockdev_mirror",
                 "has_nbd_server", "has_blockdev", "has_migrate_incoming", "has_cpu_model_expansion"]
        return {name: getattr(self, name) for name in names}


def kvm_device_usable() -> bool:
    """True when /dev/kvm can be opened read-write by this process."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "virtkernel" / "qemu-capabilities"


_memory: dict[str, Capabilities] = {}
_memory_lock = threading.Lock()


def probe(binary: str = DEFAULT_BINARY, *, cache_dir: Union[str, Path, None] = None,
          use_cache: bool = True) -> Capabilities:
    """The capabilities of a QEMU binary (a path or a name in PATH), from cache when still valid.

    cache_dir: where the on-disk cache lives (default ~/.cache/virtkernel/qemu-capabilities);
    use_cache=False probes again and refreshes the cache.
    Raises CapabilityProbeError when the binary is missing or does not answer.
    """
    path = shutil.which(binary) if os.sep not in binary else binary
    if path is None:
        raise CapabilityProbeError(f"QEMU binary '{binary}' not found")
    path = os.path.realpath(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise CapabilityProbeError(f"QEMU binary '{binary}' not found: {exc.strerror}") from exc
    key = json.dumps([CACHE_FORMAT, path, info.st_mtime_ns, info.st_size, info.st_ino, kvm_device_usable()])
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    cache_file = Path(cache_dir or _default_cache_dir()) / f"{digest}.json"
    with _memory_lock:
        if use_cache and key in _memory:
            return _memory[key]
        capabilities = _read_cache(cache_file, key) if use_cache else None
        if capabilities is None:
            capabilities = _run_probe(path)
            _write_cache(cache_file, key, capabilities)
        _memory[key] = capabilities
        return capabilities


def _read_cache(cache_file: Path, key: str) -> Optional[Capabilities]:
    try:
        data = json.loads(cache_file.read_text())
        if data.get("key") != key:
            return None
        return Capabilities.from_json(data["capabilities"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged cache: probe again


def _write_cache(cache_file: Path, key: str, capabilities: Capabilities) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "capabilities": capabilities.to_json()}))
        os.replace(tmp, cache_file)
    except OSError:
        pass  # an unwritable cache only costs a probe next time


def _run_probe(path: str) -> Capabilities:
    argv = [path, "-machine", "none", "-accel", "kvm", "-accel", "tcg", "-nodefaults", "-no-user-config",
            "-display", "none", "-S", "-qmp", "stdio"]
    requests = [{"execute": "qmp_capabilities", "id": "caps"}]
    requests += [{"execute": name, "arguments": args, "id": str(index)} for index, (name, args) in enumerate(_QUERIES)]
    requests.append({"execute": "quit", "id": "quit"})
    script = "".join(json.dumps(request) + "\n" for request in requests).encode()
    try:
        finished = subprocess.run(argv, input=script, capture_output=True, timeout=PROBE_TIMEOUT)
    except FileNotFoundError as exc:
        raise CapabilityProbeError(f"QEMU binary '{path}' not found") from exc
    except PermissionError as exc:
        raise CapabilityProbeError(f"QEMU binary '{path}' cannot be executed: {exc.strerror}") from exc
    except subprocess.TimeoutExpired as exc:
        raise CapabilityProbeError(f"probing QEMU binary '{path}' took longer than {PROBE_TIMEOUT} s") from exc
    replies: dict[str, Any] = {}
    for line in finished.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if "id" in message:
            replies[message["id"]] = message
    answers: list[Any] = []
    for index, (name, _args) in enumerate(_QUERIES):
        reply = replies.get(str(index))
        if reply is None:
            stderr = finished.stderr.decode(errors="replace").strip()
            raise CapabilityProbeError(f"probing QEMU binary '{path}' failed: no answer to '{name}'"
                                       + (f": {stderr}" if stderr else ""))
        answers.append(reply.get("return"))  # None when this QEMU refused the query
    version, kvm, machines, commands, migration_caps, migration_params, cpus, accels, devices = answers
    if version is None:
        raise CapabilityProbeError(f"probing QEMU binary '{path}' failed: query-version was refused")
    qemu = version["qemu"]
    return Capabilities(
        binary=path,
        version=(qemu["major"], qemu["minor"], qemu["micro"]),
        package=version.get("package", "").strip(),
        machines=tuple(MachineType(name=m["name"], alias=m.get("alias"), is_default=bool(m.get("is-default")),
                                   cpu_max=m.get("cpu-max", 1), deprecated=bool(m.get("deprecated")))
                       for m in machines or ()),
        accelerators=tuple(sorted(t["name"].removesuffix("-accel") for t in accels or ()
                                  if t["name"].endswith("-accel"))),
        kvm_usable=bool(kvm and kvm.get("enabled")),
        commands=frozenset(c["name"] for c in commands or ()),
        migration_capabilities=frozenset(c["capability"] for c in migration_caps or ()),
        migration_parameters=dict(migration_params or {}),
        cpu_models=tuple(sorted(c["name"] for c in cpus or ())),
        devices=frozenset(t["name"] for t in devices or ()),
    )
