"""Migration: protocol negotiation, phase sequences, the migration cookie, URIs, parameters and jobs."""

from .cookie import CookieFeature, MigrationCookie, NbdDisk, NbdSection
from .job import DomainJob, JobOperation, JobStat, JobTracker, emit_job_completed, emit_migration_iteration
from .negotiate import MigrationMode, Protocol
from .plan import MigrationPlan, StoragePath, plan
from .uri import IncomingURI, MigrationURI, PortAllocator, incoming_uri, listen_address_for, parse_migration_uri

__all__ = [
    "plan", "MigrationPlan", "Protocol", "MigrationMode", "StoragePath", "CookieFeature", "MigrationCookie",
    "NbdDisk", "NbdSection", "JobTracker", "DomainJob", "JobOperation", "JobStat", "emit_job_completed",
    "emit_migration_iteration", "PortAllocator", "MigrationURI", "IncomingURI", "parse_migration_uri",
    "incoming_uri", "listen_address_for",
]
