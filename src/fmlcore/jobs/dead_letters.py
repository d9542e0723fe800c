"""What a dead letter means for its job: the dead-letter function's logic (Lambda-safe).

Two kinds of messages reach it:
- a job message that SQS moved to a job queue's dead-letter queue after maxReceiveCount
  deliveries: the job's status becomes `dead_lettered`, with the last error an attempt
  reported (`last_error`), or "stopped without reporting" when the last attempt's worker was
  killed (its record still says `running`); the job is indexed under `_jobs/dead/` so
  `make redrive` finds it once the cause is fixed;
- an enqueue function's failure (its on-failure destination's envelope, around the S3
  event): each object of the event gets a `failed` status naming the function's error, so
  the file's status says why no job ran (copy the object again to retry).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote_plus

from fmlcore.core.errors import InvalidInput
from fmlcore.core.layout import model_from_key
from fmlcore.core.logs import bind
from fmlcore.jobs.lifecycle import JobLifecycle
from fmlcore.jobs.message import InputRef, JobMessage, job_id_for_event
from fmlcore.jobs.status import QUEUED

log = logging.getLogger("fml.dead_letters")


def record_dead_job(body: str, jobs: dict[str, JobLifecycle]) -> str:
    """Mark the job of a dead-lettered job message; returns what was done."""
    job = JobMessage.from_json(body)
    with bind(job_id=job.job_id, model=job.model, kind=job.kind):
        return jobs[job.kind].dead_letter(job)


def record_enqueue_failure(envelope: dict[str, Any], kinds: dict[str, str], jobs: dict[str, JobLifecycle]) -> list:
    """`failed` statuses for the objects of an S3 event the enqueue function gave up on.

    `kinds` maps a source bucket to its job kind (datasets → train, inference → predict).
    """
    reason = (envelope.get("responsePayload") or {}).get("errorMessage") or (envelope.get("responseContext") or {}).get(
        "functionError", "unknown error"
    )
    done = []
    for event_record in (envelope.get("requestPayload") or {}).get("Records") or []:
        s3_part = event_record.get("s3") or {}
        bucket = (s3_part.get("bucket") or {}).get("name", "")
        obj = s3_part.get("object") or {}
        key = unquote_plus(obj.get("key", ""))
        kind = kinds.get(bucket)
        if kind is None:
            continue
        try:
            model = model_from_key(key)
        except InvalidInput:
            continue  # not a job's file: the function would have skipped it
        job_id = job_id_for_event(kind, bucket, key, obj.get("versionId"), obj.get("sequencer"))
        with bind(job_id=job_id, bucket=bucket, key=key):
            record = jobs[kind].get(job_id)
            if record is not None and record.state != QUEUED:
                continue  # the job got further than its enqueue: the event's retry had worked
            job = JobMessage(job_id=job_id, kind=kind, model=model, input=InputRef(bucket, key, obj.get("versionId")))
            error = {
                "type": "EnqueueFailed",
                "message": f"the file could not be enqueued ({str(reason)[:300]}); copy it again to retry",
                "details": {"function": (envelope.get("requestContext") or {}).get("functionArn")},
            }
            jobs[kind].reject(job, error, note="enqueue failed")
            log.warning("enqueue failure recorded", extra={"reason": str(reason)[:300]})
            done.append(job_id)
    return done
