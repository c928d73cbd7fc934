"""Migration: protocol negotiation, phase sequences, the migration cookie, URIs, parameters and jobs."""

from .cookie import CookieFeature, MigrationCookie, NbdDisk, NbdSection
from .job import DomainJob, JobOperation, JobStat, JobTracker, emit_job_completed, emit_migration_iteration
from .negotiate import MigrationMode, Protocol
from .p2p import local_peer, migrate_peer_to_peer
from .plan import MigrationPlan, StoragePath, plan
from .sequences import SourceSide
from .storage import PrecreatedDisks, chosen_path, destination_answer, disks_to_migrate, source_offer
from .uri import IncomingURI, MigrationURI, PortAllocator, incoming_uri, listen_address_for, parse_migration_uri

__all__ = [
    "plan", "MigrationPlan", "Protocol", "MigrationMode", "StoragePath", "CookieFeature", "MigrationCookie",
    "NbdDisk", "NbdSection", "JobTracker", "DomainJob", "JobOperation", "JobStat", "emit_job_completed",
    "emit_migration_iteration", "PortAllocator", "MigrationURI", "IncomingURI", "parse_migration_uri",
    "incoming_uri", "listen_address_for", "migrate_peer_to_peer", "local_peer", "SourceSide", "PrecreatedDisks",
    "source_offer", "destination_answer", "chosen_path", "disks_to_migrate",
]
