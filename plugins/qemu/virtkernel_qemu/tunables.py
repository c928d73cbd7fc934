"""Scheduler, memory and block-I/O tunables: typed params <-> <cputune>/<memtune>/<blkiotune> <-> the cgroup."""

from __future__ import annotations

from typing import Any, Optional

from lxml import etree

from virtkernel.cgroup import DomainCgroup
from virtkernel.enums import ErrorCode, ErrorDomain
from virtkernel.errors import InvalidArg
from virtkernel.types import TypedParams

__all__ = ["SCHEDULER_PARAMS", "MEMORY_PARAMS", "BLKIO_PARAMS", "UNLIMITED_KIB", "check_params", "write_xml",
           "read_xml", "apply_params", "read_cgroup", "apply_xml_tunables"]

UNLIMITED_KIB = 9007199254740991
"""libvirt's VIR_DOMAIN_MEMORY_PARAM_UNLIMITED."""

SCHEDULER_PARAMS = {"cpu_shares": ("cputune", "shares"), "vcpu_period": ("cputune", "period"),
                    "vcpu_quota": ("cputune", "quota")}
MEMORY_PARAMS = {"hard_limit": ("memtune", "hard_limit"), "soft_limit": ("memtune", "soft_limit"),
                 "swap_hard_limit": ("memtune", "swap_hard_limit")}
BLKIO_PARAMS = {"weight": ("blkiotune", "weight")}


def check_params(params: TypedParams, known: dict[str, Any]) -> None:
    """Refuse parameters this driver does not know."""
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidArg(f"parameter '{unknown[0]}' is not supported by the qemu driver",
                         code=ErrorCode.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.QEMU)


def _section(root: Any, tag: str) -> Any:
    node = root.find(tag)
    if node is None:
        node = etree.Element(tag)
        anchor = root.find("os")
        (anchor.addprevious(node) if anchor is not None else root.append(node))
    return node


def write_xml(root: Any, params: TypedParams, known: dict[str, tuple[str, str]]) -> None:
    """Store params in the domain XML (unlimited memory values remove the element)."""
    for name, value in params.items():
        section_tag, tag = known[name]
        section = _section(root, section_tag)
        node = section.find(tag)
        if section_tag == "memtune" and value >= UNLIMITED_KIB:
            if node is not None:
                section.remove(node)
        elif section_tag == "cputune" and name != "cpu_shares" and value == 0:
            pass  # 0 means "leave unchanged"
        else:
            if node is None:
                node = etree.SubElement(section, tag)
            node.text = str(value)
            if section_tag == "memtune":
                node.set("unit", "KiB")
        if len(section) == 0:
            root.remove(section)


def read_xml(root: Any, known: dict[str, tuple[str, str]]) -> TypedParams:
    """The params as the XML states them (libvirt's defaults when absent)."""
    out: TypedParams = {}
    for name, (section_tag, tag) in known.items():
        text = root.findtext(f"{section_tag}/{tag}")
        if section_tag == "memtune":
            out[name] = int(text) if text else UNLIMITED_KIB
        elif name == "weight":
            out[name] = int(text) if text else 0
        else:
            out[name] = int(text) if text else 0
    return out


def _bytes(kib: int) -> Optional[int]:
    return None if kib >= UNLIMITED_KIB else kib * 1024


def apply_params(group: DomainCgroup, params: TypedParams) -> None:
    """Apply typed params to a cgroup."""
    if "cpu_shares" in params:
        group.set_cpu_shares(params["cpu_shares"])
    if params.get("vcpu_period") or params.get("vcpu_quota"):
        period, quota = group.cpu_quota()
        if params.get("vcpu_period"):
            period = params["vcpu_period"]
        if params.get("vcpu_quota"):
            quota = None if params["vcpu_quota"] < 0 else params["vcpu_quota"]
        group.set_cpu_quota(period, quota)
    if "hard_limit" in params:
        group.set_memory_limit(_bytes(params["hard_limit"]))
    if "soft_limit" in params:
        group.set_memory_soft_limit(_bytes(params["soft_limit"]))
    if "swap_hard_limit" in params:
        group.set_swap_hard_limit(_bytes(params["swap_hard_limit"]))
    if "weight" in params:
        group.set_blkio_weight(params["weight"])


def read_cgroup(group: DomainCgroup, known: dict[str, tuple[str, str]]) -> TypedParams:
    """The live values of params from a cgroup."""
    out: TypedParams = {}

    def kib(value: Optional[int]) -> int:
        return UNLIMITED_KIB if value is None else min(value // 1024, UNLIMITED_KIB)
    if "cpu_shares" in known:
        period, quota = group.cpu_quota()
        out.update(cpu_shares=group.cpu_shares(), vcpu_period=period, vcpu_quota=-1 if quota is None else quota)
    if "hard_limit" in known:
        out["hard_limit"] = kib(group.memory_limit())
        out["soft_limit"] = kib(group.memory_soft_limit())
        try:
            out["swap_hard_limit"] = kib(group.swap_hard_limit())
        except Exception:  # noqa: BLE001 - no swap accounting on this host
            out["swap_hard_limit"] = UNLIMITED_KIB
    if "weight" in known:
        out["weight"] = group.blkio_weight()
    return out


def apply_xml_tunables(group: DomainCgroup, root: Any) -> None:
    """Apply what <cputune>, <memtune> and <blkiotune> of a domain XML set."""
    params: TypedParams = {}
    for known in (SCHEDULER_PARAMS, MEMORY_PARAMS, BLKIO_PARAMS):
        for name, (section, tag) in known.items():
            text = root.findtext(f"{section}/{tag}")
            if text:
                params[name] = int(text)
    apply_params(group, params)
