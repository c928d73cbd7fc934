#!/usr/bin/python3
"""Regenerate kernel/constants.py and kernel/enums.py from libvirt's Python binding.

Only names and numbers are taken (facts of libvirt's public ABI). Run with the
interpreter that has the real binding: ``/usr/bin/python3 tools/gen_constants.py``.
"""
from __future__ import annotations

import pathlib

import libvirt  # the reference binding, not a runtime dependency of virtkernel

ROOT = pathlib.Path(__file__).resolve().parent.parent

ERROR_LEVELS = ("VIR_ERR_NONE", "VIR_ERR_WARNING", "VIR_ERR_ERROR")

# (class name, base, prefix, names excluded)
ENUMS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("ErrorDomain", "IntEnum", "VIR_FROM_", ()),
    ("ErrorLevel", "IntEnum", "VIR_ERR_", ()),  # filled specially
    ("ErrorCode", "IntEnum", "VIR_ERR_", ERROR_LEVELS),
    ("DomainState", "IntEnum", "VIR_DOMAIN_", ()),  # filled specially
    ("DomainNostateReason", "IntEnum", "VIR_DOMAIN_NOSTATE_", ()),
    ("DomainRunningReason", "IntEnum", "VIR_DOMAIN_RUNNING_", ()),
    ("DomainBlockedReason", "IntEnum", "VIR_DOMAIN_BLOCKED_", ()),
    ("DomainPausedReason", "IntEnum", "VIR_DOMAIN_PAUSED_", ()),
    ("DomainShutdownReason", "IntEnum", "VIR_DOMAIN_SHUTDOWN_", ("VIR_DOMAIN_SHUTDOWN_DEFAULT", "VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN", "VIR_DOMAIN_SHUTDOWN_GUEST_AGENT", "VIR_DOMAIN_SHUTDOWN_INITCTL", "VIR_DOMAIN_SHUTDOWN_SIGNAL", "VIR_DOMAIN_SHUTDOWN_PARAVIRT")),
    ("DomainShutoffReason", "IntEnum", "VIR_DOMAIN_SHUTOFF_", ()),
    ("DomainCrashedReason", "IntEnum", "VIR_DOMAIN_CRASHED_", ()),
    ("DomainPMSuspendedReason", "IntEnum", "VIR_DOMAIN_PMSUSPENDED_", ("VIR_DOMAIN_PMSUSPENDED_DISK_UNKNOWN",)),
    ("ConnectListDomainsFlags", "IntFlag", "VIR_CONNECT_LIST_DOMAINS_", ()),
    ("ConnectGetAllDomainStatsFlags", "IntFlag", "VIR_CONNECT_GET_ALL_DOMAINS_STATS_", ()),
    ("DomainStatsTypes", "IntFlag", "VIR_DOMAIN_STATS_", ()),
    ("DomainCreateFlags", "IntFlag", "VIR_DOMAIN_START_", ()),
    ("DomainDefineFlags", "IntFlag", "VIR_DOMAIN_DEFINE_", ()),
    ("DomainUndefineFlags", "IntFlag", "VIR_DOMAIN_UNDEFINE_", ()),
    ("DomainDestroyFlags", "IntFlag", "VIR_DOMAIN_DESTROY_", ()),
    ("DomainShutdownFlags", "IntFlag", "VIR_DOMAIN_SHUTDOWN_", ()),  # filled specially
    ("DomainRebootFlags", "IntFlag", "VIR_DOMAIN_REBOOT_", ()),
    ("DomainModificationImpact", "IntFlag", "VIR_DOMAIN_AFFECT_", ()),
    ("DomainMemoryModFlags", "IntFlag", "VIR_DOMAIN_MEM_", ()),
    ("DomainVcpuFlags", "IntFlag", "VIR_DOMAIN_VCPU_", ()),
    ("DomainXMLFlags", "IntFlag", "VIR_DOMAIN_XML_", ()),
    ("DomainSaveRestoreFlags", "IntFlag", "VIR_DOMAIN_SAVE_", ()),
    ("DomainSaveImageXMLFlags", "IntFlag", "VIR_DOMAIN_SAVE_IMAGE_", ()),
    ("DomainCoreDumpFlags", "IntFlag", "VIR_DUMP_", ()),
    ("DomainCoreDumpFormat", "IntEnum", "VIR_DOMAIN_CORE_DUMP_FORMAT_", ()),
    ("DomainMemoryFlags", "IntFlag", "VIR_MEMORY_", ()),
    ("DomainMemoryStatTags", "IntEnum", "VIR_DOMAIN_MEMORY_STAT_", ()),
    ("DomainLifecycle", "IntEnum", "VIR_DOMAIN_LIFECYCLE_", ()),  # filled specially
    ("DomainLifecycleAction", "IntEnum", "VIR_DOMAIN_LIFECYCLE_ACTION_", ()),
    ("DomainEventID", "IntEnum", "VIR_DOMAIN_EVENT_ID_", ()),
    ("DomainEventType", "IntEnum", "VIR_DOMAIN_EVENT_", ()),  # filled specially
    ("DomainEventDefinedDetailType", "IntEnum", "VIR_DOMAIN_EVENT_DEFINED_", ()),
    ("DomainEventUndefinedDetailType", "IntEnum", "VIR_DOMAIN_EVENT_UNDEFINED_", ()),
    ("DomainEventStartedDetailType", "IntEnum", "VIR_DOMAIN_EVENT_STARTED_", ()),
    ("DomainEventSuspendedDetailType", "IntEnum", "VIR_DOMAIN_EVENT_SUSPENDED_", ()),
    ("DomainEventResumedDetailType", "IntEnum", "VIR_DOMAIN_EVENT_RESUMED_", ()),
    ("DomainEventStoppedDetailType", "IntEnum", "VIR_DOMAIN_EVENT_STOPPED_", ()),
    ("DomainEventShutdownDetailType", "IntEnum", "VIR_DOMAIN_EVENT_SHUTDOWN_", ()),
    ("DomainEventPMSuspendedDetailType", "IntEnum", "VIR_DOMAIN_EVENT_PMSUSPENDED_", ()),
    ("DomainEventCrashedDetailType", "IntEnum", "VIR_DOMAIN_EVENT_CRASHED_", ()),
    ("DomainJobType", "IntEnum", "VIR_DOMAIN_JOB_", ()),  # filled specially
    ("DomainGetJobStatsFlags", "IntFlag", "VIR_DOMAIN_JOB_STATS_", ()),
    ("DomainAbortJobFlags", "IntFlag", "VIR_DOMAIN_ABORT_JOB_", ()),
    ("DomainMigrateFlags", "IntFlag", "VIR_MIGRATE_", ()),
    ("DomainMigrateMaxSpeedFlags", "IntFlag", "VIR_DOMAIN_MIGRATE_MAX_SPEED_", ()),
    ("DomainMetadataType", "IntEnum", "VIR_DOMAIN_METADATA_", ()),
    ("DomainSnapshotCreateFlags", "IntFlag", "VIR_DOMAIN_SNAPSHOT_CREATE_", ()),
    ("DomainSnapshotListFlags", "IntFlag", "VIR_DOMAIN_SNAPSHOT_LIST_", ()),
    ("DomainSnapshotRevertFlags", "IntFlag", "VIR_DOMAIN_SNAPSHOT_REVERT_", ()),
    ("DomainSnapshotDeleteFlags", "IntFlag", "VIR_DOMAIN_SNAPSHOT_DELETE_", ()),
    ("DomainSnapshotXMLFlags", "IntFlag", "VIR_DOMAIN_SNAPSHOT_XML_", ()),
    ("DomainInterfaceAddressesSource", "IntEnum", "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_", ()),
    ("IPAddrType", "IntEnum", "VIR_IP_ADDR_TYPE_", ()),
    ("DomainBlockResizeFlags", "IntFlag", "VIR_DOMAIN_BLOCK_RESIZE_", ()),
    ("DomainDeviceModifyFlags", "IntFlag", "VIR_DOMAIN_DEVICE_MODIFY_", ()),
    ("DomainConsoleFlags", "IntFlag", "VIR_DOMAIN_CONSOLE_", ()),
    ("DomainControlState", "IntEnum", "VIR_DOMAIN_CONTROL_", ()),
    ("DomainGetHostnameFlags", "IntFlag", "VIR_DOMAIN_GET_HOSTNAME_", ()),
    ("DomainSetTimeFlags", "IntFlag", "VIR_DOMAIN_TIME_", ()),
    ("KeycodeSet", "IntEnum", "VIR_KEYCODE_SET_", ()),
    ("DomainProcessSignal", "IntEnum", "VIR_DOMAIN_PROCESS_SIGNAL_", ()),
    ("DomainDirtyRateCalcFlags", "IntFlag", "VIR_DOMAIN_DIRTYRATE_MODE_", ()),
    ("DomainAuthorizedSSHKeysSetFlags", "IntFlag", "VIR_DOMAIN_AUTHORIZED_SSH_KEYS_SET_", ()),
    ("DomainBlockRebaseFlags", "IntFlag", "VIR_DOMAIN_BLOCK_REBASE_", ()),
    ("DomainBlockCommitFlags", "IntFlag", "VIR_DOMAIN_BLOCK_COMMIT_", ()),
    ("DomainBlockCopyFlags", "IntFlag", "VIR_DOMAIN_BLOCK_COPY_", ()),
    ("DomainBlockJobAbortFlags", "IntFlag", "VIR_DOMAIN_BLOCK_JOB_ABORT_", ()),
    ("ConnectCloseReason", "IntEnum", "VIR_CONNECT_CLOSE_REASON_", ()),
    ("NodeSuspendTarget", "IntEnum", "VIR_NODE_SUSPEND_TARGET_", ()),
    ("TypedParameterType", "IntEnum", "VIR_TYPED_PARAM_", ()),
    ("DomainNumatuneMemMode", "IntEnum", "VIR_DOMAIN_NUMATUNE_MEM_", ()),
    ("DomainDiskErrorCode", "IntEnum", "VIR_DOMAIN_DISK_ERROR_", ()),
]

STATES = ("NOSTATE", "RUNNING", "BLOCKED", "PAUSED", "SHUTDOWN", "SHUTOFF", "CRASHED", "PMSUSPENDED")
EVENT_TYPES = ("DEFINED", "UNDEFINED", "STARTED", "SUSPENDED", "RESUMED", "STOPPED", "SHUTDOWN", "PMSUSPENDED", "CRASHED")
JOB_TYPES = ("NONE", "BOUNDED", "UNBOUNDED", "COMPLETED", "FAILED", "CANCELLED")
SHUTDOWN_FLAGS = ("DEFAULT", "ACPI_POWER_BTN", "GUEST_AGENT", "INITCTL", "SIGNAL", "PARAVIRT")
LIFECYCLE = ("POWEROFF", "REBOOT", "CRASH")


def constants() -> dict[str, object]:
    return {n: getattr(libvirt, n) for n in sorted(dir(libvirt))
            if n.startswith("VIR_") and isinstance(getattr(libvirt, n), (int, str))}


def members(cls: str, prefix: str, excluded: tuple[str, ...], table: dict[str, object]) -> list[tuple[str, int]]:
    ints = {n: v for n, v in table.items() if isinstance(v, int)}
    if cls == "ErrorLevel":
        names = ERROR_LEVELS
    elif cls == "DomainState":
        names = tuple(prefix + s for s in STATES)
    elif cls == "DomainEventType":
        names = tuple(prefix + s for s in EVENT_TYPES)
    elif cls == "DomainJobType":
        names = tuple(prefix + s for s in JOB_TYPES)
    elif cls == "DomainShutdownFlags":
        names = tuple(prefix + s for s in SHUTDOWN_FLAGS)
    elif cls == "DomainLifecycle":
        names = tuple(prefix + s for s in LIFECYCLE)
    else:
        longer = [p for c, _, p, _ in ENUMS if p != prefix and p.startswith(prefix) and c != "ErrorCode"]
        names = tuple(n for n in ints if n.startswith(prefix) and n not in excluded
                      and not any(n.startswith(p) for p in longer))
        if cls == "DomainShutdownReason":
            names = tuple(n for n in names if n not in excluded)
    out = []
    for n in names:
        short = n[len(prefix):] if cls != "ErrorLevel" else n[len("VIR_ERR_"):]
        if short[0].isdigit():
            short = "_" + short
        out.append((short, ints[n]))
    return out


def main() -> None:
    table = constants()
    lines = ['"""Every VIR_* constant of libvirt 9.0 with its value (generated by tools/gen_constants.py)."""', ""]
    for name, value in table.items():
        lines.append(f"{name} = {value!r}")
    (ROOT / "kernel" / "constants.py").write_text("\n".join(lines) + "\n")

    enum_lines = ['"""libvirt\'s enums and flag sets with their numeric values (generated by tools/gen_constants.py)."""',
                  "", "from enum import IntEnum, IntFlag", ""]
    for cls, base, prefix, excluded in ENUMS:
        mem = members(cls, prefix, excluded, table)
        if cls == "DomainShutdownReason":
            mem = [(k, v) for k, v in mem if k in ("UNKNOWN", "USER", "LAST")]
        enum_lines += ["", f"class {cls}({base}):", f'    """libvirt\'s {prefix}* values."""', ""]
        for short, value in mem:
            enum_lines.append(f"    {short} = {value}")
    (ROOT / "kernel" / "enums.py").write_text("\n".join(enum_lines) + "\n")


if __name__ == "__main__":
    main()
