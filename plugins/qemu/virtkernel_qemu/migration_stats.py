"""QEMU's ``query-migrate`` (and block-job progress) translated into libvirt's job-statistics key names."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

__all__ = ["job_stats", "mirror_progress", "FINAL_KEYS"]

_RAM_KEYS = {
    "transferred": "memory_processed", "remaining": "memory_remaining", "total": "memory_total",
    "duplicate": "memory_constant", "normal": "memory_normal", "normal-bytes": "memory_normal_bytes",
    "dirty-pages-rate": "memory_dirty_rate", "page-size": "memory_page_size",
    "dirty-sync-count": "memory_iteration", "postcopy-requests": "memory_postcopy_requests",
}
_XBZRLE_KEYS = {"cache-size": "compression_cache", "bytes": "compression_bytes", "pages": "compression_pages",
                "cache-miss": "compression_cache_misses", "overflow": "compression_overflow"}

FINAL_KEYS = ("time_elapsed", "downtime", "setup_time")
"""Statistics QEMU fills in only once a migration has completed (poll until present)."""


def mirror_progress(jobs: Iterable[Mapping[str, Any]], ours: Iterable[str]) -> tuple[int, int]:
    """(bytes copied, bytes in total) of our mirror jobs in a ``query-block-jobs`` answer."""
    wanted = set(ours)
    done = total = 0
    for job in jobs:
        if job.get("device") in wanted:
            done += int(job.get("offset", 0))
            total += int(job.get("len", 0))
    return done, total


def job_stats(info: Mapping[str, Any], disk: tuple[int, int] | None = None) -> dict[str, int]:
    """libvirt's getJobStats keys from a ``query-migrate`` answer (and mirror progress: (copied, total) bytes).

    While the migration runs, ``downtime`` is QEMU's expected downtime (as in libvirt); once it has
    completed it is the measured one.
    """
    stats: dict[str, int] = {}
    status = info.get("status")
    if "total-time" in info:
        stats["time_elapsed"] = int(info["total-time"])
    if status == "completed" and "downtime" in info:
        stats["downtime"] = int(info["downtime"])
    elif "expected-downtime" in info:
        stats["downtime"] = int(info["expected-downtime"])
    if "setup-time" in info:
        stats["setup_time"] = int(info["setup-time"])
    ram = info.get("ram") or {}
    for key, name in _RAM_KEYS.items():
        if key in ram:
            stats[name] = int(ram[key])
    if "mbps" in ram:
        stats["memory_bps"] = int(float(ram["mbps"]) * 1_000_000 / 8)
    block = info.get("disk") or {}  # the old in-stream block migration
    if block:
        stats["disk_processed"] = int(block.get("transferred", 0))
        stats["disk_remaining"] = int(block.get("remaining", 0))
        stats["disk_total"] = int(block.get("total", 0))
    elif disk is not None:
        copied, total = disk
        stats["disk_processed"] = copied
        stats["disk_total"] = total
        stats["disk_remaining"] = max(total - copied, 0)
    xbzrle = info.get("xbzrle-cache") or {}
    for key, name in _XBZRLE_KEYS.items():
        if key in xbzrle:
            stats[name] = int(xbzrle[key])
    if "cpu-throttle-percentage" in info:
        stats["auto_converge_throttle"] = int(info["cpu-throttle-percentage"])
    for part in ("total", "processed", "remaining"):
        memory = stats.get(f"memory_{part}")
        if memory is not None or f"disk_{part}" in stats:
            stats[f"data_{part}"] = (memory or 0) + stats.get(f"disk_{part}", 0)
    return stats
