"""A generic peer-to-peer migration for source drivers: open the destination by URI, run v3 from the source side.

A driver's ``domain_migrate_perform3``/``domain_migrate_perform3_params`` hook receives ``dconnuri`` when the
migration is peer-to-peer. It may then call :func:`migrate_peer_to_peer` with a :class:`SourceSide` built from
its own Begin / data-transfer / Confirm code; the helper opens the destination connection, chooses v3 with
params or plain v3 from the destination's probes, and runs Begin → Prepare → Perform → Finish → Confirm with
libvirt's failure handling.

Hosts that live inside this process (the test driver's) cannot be reached by opening their URI again;
:func:`local_peer` makes an already-open connection answer for a URI while a with-block runs.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from ..checks import probe_unsupported
from ..enums import DomainMigrateFlags as Migrate, ErrorCode, ErrorDomain
from ..errors import NoSupport
from ..features import DriverFeature
from ..types import DomainRef, TypedParams
from .negotiate import BASIC_PARAMS, Trace, probe
from .plan import log
from .sequences import DestinationSide, SourceSide, V3Inputs, run_v3

if TYPE_CHECKING:
    from ..connection import Connection

Opener = Callable[[str], "Connection"]

_peers: dict[str, "Connection"] = {}
_peers_lock = threading.Lock()


@contextmanager
def local_peer(uri: str, conn: "Connection") -> Iterator[None]:
    """While the block runs, peer-to-peer migrations to ``uri`` use the open connection ``conn``."""
    with _peers_lock:
        if uri in _peers:
            raise ValueError(f"a local peer is already registered for '{uri}'")
        _peers[uri] = conn
    try:
        yield
    finally:
        with _peers_lock:
            _peers.pop(uri, None)


def _open(dconnuri: str, opener: Optional[Opener]) -> tuple["Connection", bool]:
    with _peers_lock:
        local = _peers.get(dconnuri)
    if local is not None:
        return local, False
    if opener is not None:
        return opener(dconnuri), True
    from ..connection import open as open_connection
    return open_connection(dconnuri), True


def migrate_peer_to_peer(source: SourceSide, dconnuri: str, flags: int, *, params: Optional[TypedParams] = None,
                         xmlin: Optional[str] = None, dname: Optional[str] = None, uri: Optional[str] = None,
                         bandwidth: int = 0, opener: Optional[Opener] = None) -> DomainRef:
    """Migrate the source's domain to the host at ``dconnuri``; return its reference on the destination.

    ``params`` (the Perform3Params form) is used as is when the destination supports extensible parameters;
    otherwise only the four basic parameters may be present and are turned into the plain v3 arguments.
    """
    dconn, owned = _open(dconnuri, opener)
    try:
        dst = dconn.driver
        trace = Trace()
        if flags & Migrate.OFFLINE and not probe(dst, DriverFeature.MIGRATION_OFFLINE, "destination", trace):
            raise probe_unsupported("offline migration is not supported by the destination host")
        if params is not None and probe(dst, DriverFeature.MIGRATION_PARAMS, "destination", trace):
            inputs = V3Inputs(params=dict(params))
            params_form = True
        elif probe(dst, DriverFeature.MIGRATION_V3, "destination", trace):
            if params is not None:
                extra = sorted(set(params) - BASIC_PARAMS)
                if extra:
                    raise probe_unsupported("the destination does not support extensible migration parameters "
                                            f"but these were passed: {', '.join(extra)}")
                xmlin = params.get("destination_xml", xmlin)
                dname = params.get("destination_name", dname)
                uri = params.get("migrate_uri", uri)
                bandwidth = int(params.get("bandwidth", bandwidth))
            inputs = V3Inputs(xmlin=xmlin, dname=dname, uri=uri, bandwidth=bandwidth)
            params_form = False
        else:
            raise NoSupport("peer-to-peer migration needs migration protocol 3 on the destination host, which does "
                            "not support it", code=ErrorCode.NO_SUPPORT, domain=ErrorDomain.DOMAIN)
        dest = DestinationSide(dst)
        dest.require_hooks(params_form)
        log.info("peer-to-peer migration of '%s' to %s: %s", source.name, dconnuri,
                 "; ".join(f"{d}: {r}" for d, r in trace.lines))
        return run_v3(source, dest, flags, inputs)
    finally:
        if owned:
            try:
                dconn.close()
            except Exception:  # closing a peer we opened must not hide the migration's outcome
                log.warning("could not close the peer-to-peer connection to %s", dconnuri)
