"""The job entry points (getJobInfo, getJobStats, abortJob): migration jobs, else libvirt's NO_SUPPORT."""

from __future__ import annotations

from virtkernel import hookimpl
from virtkernel.enums import DomainJobType, ErrorCode, ErrorDomain
from virtkernel.errors import NoSupport, OperationInvalid
from virtkernel.types import DomainRef, JobInfo, TypedParams

from .base import DriverBase, check_flags


def _not_supported(function: str) -> NoSupport:
    """libvirt's answer: its test driver has no job entry points at all."""
    return NoSupport(f"this function is not supported by the connection driver: {function}",
                     code=ErrorCode.NO_SUPPORT, domain=ErrorDomain.DOMAIN)


class JobOps(DriverBase):
    """Job queries and abort, answered from the migration phases' job tracker (see migration.py).

    libvirt's test driver implements none of them; a domain that never migrated on this host gets that same
    NO_SUPPORT answer, so programs written against libvirt see no difference until they migrate.
    """

    @hookimpl
    def domain_get_job_info(self, dom: DomainRef) -> JobInfo:
        self.guest(dom)
        if not self.migration_job_known(dom):
            raise _not_supported("virDomainGetJobInfo")
        return self.migration_jobs.info(dom)  # type NONE once the job has finished

    @hookimpl
    def domain_get_job_stats(self, dom: DomainRef, flags: int) -> tuple[int, TypedParams]:
        self.guest(dom)
        if not self.migration_job_known(dom):
            raise _not_supported("virDomainGetJobStats")
        answer = self.migration_job_stats(dom, flags)
        return answer if answer is not None else (int(DomainJobType.NONE), {})

    @hookimpl
    def domain_abort_job(self, dom: DomainRef, flags: int) -> int:
        self.guest(dom)
        if not self.migration_job_known(dom):
            raise _not_supported("virDomainAbortJob" if not flags else "virDomainAbortJobFlags")
        check_flags(flags, 0, "testDomainAbortJobFlags")
        if not self.migration_abort_job(dom):
            raise OperationInvalid("no job is active on the domain", code=ErrorCode.OPERATION_INVALID,
                                   domain=ErrorDomain.DOMAIN)
        return 0
