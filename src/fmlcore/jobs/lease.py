"""Job leases: at most one worker runs a job at a time, even when SQS delivers it twice.

A lease is the object `_jobs/<job_id>.lease` in the job's status bucket, created with an S3
conditional write (`If-None-Match: *`) and renewed with `If-Match: <etag>` by the worker's
heartbeat. A worker that dies stops renewing; once `expires_at` has passed, the next worker
takes the lease over (again with `If-Match`, so only one can). The lease records the SQS
message id of its holder, so a worker that receives a *different* message for a job that is
already running knows its message is a duplicate.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from fmlcore.core.aws import is_not_found
from fmlcore.core.layout import JOBS_PREFIX

CONFLICT_CODES = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


def lease_key(job_id: str) -> str:
    return f"{JOBS_PREFIX}{job_id}.lease"


@dataclass
class Lease:
    job_id: str
    message_id: str
    etag: str
    expires_at: float


@dataclass(frozen=True)
class Holder:
    """Who holds a lease we could not take."""

    message_id: str
    owner: str
    expires_at: float


class LeaseStore:
    def __init__(self, s3: Any, bucket: str, ttl_seconds: float) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.ttl_seconds = ttl_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def acquire(self, job_id: str, message_id: str) -> Lease | Holder:
        """The lease, or who holds it when another live worker does."""
        try:
            return self._write(job_id, message_id, IfNoneMatch="*")
        except ClientError as exc:
            if _code(exc) not in CONFLICT_CODES:
                raise
        try:
            current = self.s3.get_object(Bucket=self.bucket, Key=lease_key(job_id))
        except ClientError as exc:
            if is_not_found(exc):  # released meanwhile: try once more
                return self._write(job_id, message_id, IfNoneMatch="*")
            raise
        body = json.loads(current["Body"].read())
        if body["expires_at"] > time.time():
            return Holder(body["message_id"], body["owner"], body["expires_at"])
        try:  # expired: its holder died; take it over, unless someone else just did
            return self._write(job_id, message_id, IfMatch=current["ETag"])
        except ClientError as exc:
            if _code(exc) in CONFLICT_CODES:
                return Holder("?", "another worker", time.time() + self.ttl_seconds)
            raise

    def renew(self, lease: Lease) -> Lease:
        """Extend the lease; raises ClientError (412) if it was lost to another worker."""
        renewed = self._write(lease.job_id, lease.message_id, IfMatch=lease.etag)
        lease.etag, lease.expires_at = renewed.etag, renewed.expires_at
        return lease

    def release(self, lease: Lease) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=lease_key(lease.job_id))

    def _write(self, job_id: str, message_id: str, **condition: str) -> Lease:
        expires_at = time.time() + self.ttl_seconds
        body = {"job_id": job_id, "message_id": message_id, "owner": self.owner, "expires_at": expires_at}
        resp = self.s3.put_object(
            Bucket=self.bucket,
            Key=lease_key(job_id),
            Body=json.dumps(body).encode(),  # expires_at changes every write, so does the ETag
            ContentType="application/json",
            **condition,
        )
        return Lease(job_id, message_id, resp["ETag"], expires_at)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
