"""Migration tuning: libvirt's migration flags and typed parameters turned into QEMU capabilities and parameters.

`MigrationTuning.from_request` reads the VIR_MIGRATE_* flags and the typed parameters (``bandwidth``,
``bandwidth.postcopy``, ``auto_converge.*``, ``compression*``, ``parallel.connections``) plus the per-domain
tunables set beforehand (max downtime, max speed, xbzrle cache); `MigrationTuning.source_setup` and
`destination_setup` say what each side's QEMU must be told, refusing what this QEMU cannot do with a
sentence that names the missing feature.  Capabilities that must match (postcopy-ram, multifd) are set on
both sides; the others only where they matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from virtkernel.enums import DomainMigrateFlags as Migrate, ErrorCode, ErrorDomain
from virtkernel.errors import VirtError

from .capabilities import FeatureSet

__all__ = ["MigrationTuning", "QemuSetup", "MiB", "UNLIMITED_BANDWIDTH_MIB", "DomainTunables", "wait_all"]

MiB = 1 << 20
UNLIMITED_BANDWIDTH_MIB = ((1 << 63) - 1) // MiB
"""What "no bandwidth limit" means (libvirt's value): QEMU's own default of 128 MiB/s never lets a busy guest
converge, so migrations run unlimited unless the user asks for a cap."""


def wait_all(replies: list[Any]) -> list[Any]:
    """Wait for every answer of commands sent together; raise the first error once all have answered."""
    results, error = [], None
    for reply in replies:
        try:
            results.append(reply.result())
        except VirtError as exc:
            error = error or exc
    if error is not None:
        raise error
    return results


def _unsupported(message: str) -> VirtError:
    return VirtError(message, code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.QEMU)


@dataclass
class DomainTunables:
    """Migration settings a user made on a domain before migrating it (migrate_set_max_* calls)."""

    max_downtime_ms: Optional[int] = None
    max_speed_mib: Optional[int] = None
    postcopy_speed_mib: Optional[int] = None
    xbzrle_cache_bytes: Optional[int] = None


@dataclass
class QemuSetup:
    """What one QEMU is told before a migration: capabilities to switch on and parameters to set."""

    capabilities: dict[str, bool] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    def submit(self, monitor: Any) -> list[Any]:
        """Send the capabilities, then the parameters, without waiting: their `PendingReply`s.

        QEMU runs them in this order (it matters: some parameters need their capability).
        """
        replies = []
        if self.capabilities:
            replies.append(monitor.submit("migrate-set-capabilities", {"capabilities": [
                {"capability": name, "state": state} for name, state in self.capabilities.items()]}))
        if self.parameters:
            replies.append(monitor.submit("migrate-set-parameters", dict(self.parameters)))
        return replies

    def apply(self, monitor: Any) -> None:
        """Send the capabilities and the parameters (one round trip); raise the first error."""
        wait_all(self.submit(monitor))

    def switched_on(self) -> "QemuSetup":
        """The same setup without the capabilities it switches off (for a QEMU that has them all off)."""
        return QemuSetup({name: True for name, state in self.capabilities.items() if state}, dict(self.parameters))


@dataclass
class MigrationTuning:
    """Everything a migration asks of QEMU, decided once from flags, parameters and the domain's tunables."""

    bandwidth_mib: int = UNLIMITED_BANDWIDTH_MIB
    postcopy_bandwidth_mib: Optional[int] = None
    downtime_ms: Optional[int] = None
    postcopy: bool = False
    auto_converge: bool = False
    auto_converge_initial: Optional[int] = None
    auto_converge_increment: Optional[int] = None
    xbzrle: bool = False
    xbzrle_cache_bytes: Optional[int] = None
    mt_compression: bool = False
    mt_level: Optional[int] = None
    mt_threads: Optional[int] = None
    mt_dthreads: Optional[int] = None
    multifd_channels: Optional[int] = None
    block_migration: bool = False
    block_incremental: bool = False

    @classmethod
    def from_request(cls, flags: int, params: Optional[Mapping[str, Any]] = None,
                     tunables: Optional[DomainTunables] = None, bandwidth: int = 0,
                     destination: bool = False) -> "MigrationTuning":
        """Read flags (VIR_MIGRATE_*), typed params and the domain's tunables; invalid combinations are refused.

        ``destination``: the destination's view, whose flags lack the source-only ones (AUTO_CONVERGE).
        """
        params = dict(params or {})
        tunables = tunables or DomainTunables()
        tuning = cls()
        wanted_bandwidth = int(params.get("bandwidth", bandwidth) or 0)
        if wanted_bandwidth:
            tuning.bandwidth_mib = wanted_bandwidth
        elif tunables.max_speed_mib:
            tuning.bandwidth_mib = tunables.max_speed_mib
        postcopy_bw = params.get("bandwidth.postcopy", tunables.postcopy_speed_mib)
        tuning.postcopy_bandwidth_mib = int(postcopy_bw) if postcopy_bw else None
        tuning.downtime_ms = tunables.max_downtime_ms
        tuning.postcopy = bool(flags & Migrate.POSTCOPY)
        tuning.auto_converge = bool(flags & Migrate.AUTO_CONVERGE)
        for key, attr in (("auto_converge.initial", "auto_converge_initial"),
                          ("auto_converge.increment", "auto_converge_increment")):
            if key in params and not destination:
                if not tuning.auto_converge:
                    raise VirtError(f"migration parameter '{key}' needs VIR_MIGRATE_AUTO_CONVERGE",
                                    code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
                setattr(tuning, attr, int(params[key]))
        methods = params.get("compression")
        methods = [methods] if isinstance(methods, str) else list(methods or [])
        if flags & Migrate.COMPRESSED and not methods:
            methods = ["xbzrle"]  # libvirt's default method
        for method in methods:
            if method not in ("xbzrle", "mt"):
                raise VirtError(f"unsupported compression method '{method}' (this driver knows xbzrle and mt)",
                                code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        if methods and not flags & Migrate.COMPRESSED:
            raise VirtError("migration parameter 'compression' needs VIR_MIGRATE_COMPRESSED",
                            code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        tuning.xbzrle = "xbzrle" in methods
        tuning.mt_compression = "mt" in methods
        cache = params.get("compression.xbzrle.cache", tunables.xbzrle_cache_bytes)
        tuning.xbzrle_cache_bytes = int(cache) if cache else None
        for key, attr in (("compression.mt.level", "mt_level"), ("compression.mt.threads", "mt_threads"),
                          ("compression.mt.dthreads", "mt_dthreads")):
            if key in params:
                setattr(tuning, attr, int(params[key]))
        if flags & Migrate.PARALLEL:
            tuning.multifd_channels = int(params.get("parallel.connections", 2))
        elif "parallel.connections" in params:
            raise VirtError("migration parameter 'parallel.connections' needs VIR_MIGRATE_PARALLEL",
                            code=ErrorCode.INVALID_ARG, domain=ErrorDomain.QEMU)
        return tuning

    def _check(self, features: FeatureSet, side: str) -> None:
        needs = [("postcopy-ram", self.postcopy, "post-copy migration"),
                 ("multifd", self.multifd_channels is not None, "parallel migration connections")]
        if side == "source":
            needs += [("auto-converge", self.auto_converge, "auto-converge"),
                      ("xbzrle", self.xbzrle, "xbzrle compression"),
                      ("compress", self.mt_compression, "multi-threaded compression"),
                      ("block", self.block_migration, "block migration")]
        for capability, wanted, what in needs:
            if wanted and not features.has_migration_capability(capability):
                raise _unsupported(f"{what} is not supported by the QEMU on the {side} host "
                                   f"(no '{capability}' migration capability)")

    def source_setup(self, features: FeatureSet) -> QemuSetup:
        """Capabilities and parameters for the sending QEMU."""
        self._check(features, "source")
        setup = QemuSetup()
        caps = setup.capabilities
        caps["events"] = True
        caps["postcopy-ram"] = self.postcopy
        caps["auto-converge"] = self.auto_converge
        caps["xbzrle"] = self.xbzrle
        caps["compress"] = self.mt_compression
        caps["multifd"] = self.multifd_channels is not None
        if features.has_migration_capability("block"):
            caps["block"] = self.block_migration
        params = setup.parameters
        params["max-bandwidth"] = self.bandwidth_mib * MiB
        if self.postcopy and self.postcopy_bandwidth_mib:
            params["max-postcopy-bandwidth"] = self.postcopy_bandwidth_mib * MiB
        if self.downtime_ms is not None:
            params["downtime-limit"] = self.downtime_ms
        if self.auto_converge_initial is not None:
            params["cpu-throttle-initial"] = self.auto_converge_initial
        if self.auto_converge_increment is not None:
            params["cpu-throttle-increment"] = self.auto_converge_increment
        if self.xbzrle and self.xbzrle_cache_bytes:
            params["xbzrle-cache-size"] = self.xbzrle_cache_bytes
        if self.mt_compression:
            for key, value in (("compress-level", self.mt_level), ("compress-threads", self.mt_threads),
                               ("decompress-threads", self.mt_dthreads)):
                if value is not None:
                    params[key] = value
        if self.multifd_channels is not None:
            params["multifd-channels"] = self.multifd_channels
        if self.block_migration:
            params["block-incremental"] = self.block_incremental
        for name in [name for name, value in caps.items() if not value]:
            if not features.has_migration_capability(name):
                del caps[name]  # switching off what this QEMU does not have is a no-op
        return setup

    def destination_setup(self, features: FeatureSet) -> QemuSetup:
        """Capabilities and parameters for the receiving QEMU (those both sides must agree on)."""
        self._check(features, "destination")
        setup = QemuSetup()
        setup.capabilities["events"] = True
        setup.capabilities["postcopy-ram"] = self.postcopy
        setup.capabilities["multifd"] = self.multifd_channels is not None
        if self.mt_compression:
            setup.capabilities["compress"] = True
            if self.mt_dthreads is not None:
                setup.parameters["decompress-threads"] = self.mt_dthreads
        if self.multifd_channels is not None:
            setup.parameters["multifd-channels"] = self.multifd_channels
        return setup
