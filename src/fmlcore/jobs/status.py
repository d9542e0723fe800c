"""Job status records: `_jobs/<job_id>.json` in the bucket the job writes to.

A record is queryable from the moment the job is accepted (`queued`), then moves through
`running` to `succeeded` or `failed`, or to `dead_lettered` when its message reached the
dead-letter queue (the dead-letter function writes that, also for a worker that was killed;
`make redrive` moves the job back to `queued`). Every transition is appended to `history`, so a
redelivered or redriven job keeps the trace of its attempts. The bucket is versioned, so
every earlier state also survives as an object version.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from fmlcore.core.aws import is_not_found
from fmlcore.core.errors import NotFound
from fmlcore.core.layout import dead_key, status_key
from fmlcore.jobs.message import JobMessage, isoformat, utcnow

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
DEAD_LETTERED = "dead_lettered"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, DEAD_LETTERED)
FINAL_STATES = (SUCCEEDED, FAILED, DEAD_LETTERED)


def message_of(record: dict[str, Any]) -> JobMessage:
    """The job message a status record was made from (every field of it is in the record)."""
    fields = ("job_id", "kind", "model", "input", "options", "source", "submitted_at")
    return JobMessage.from_dict({k: record[k] for k in fields if record.get(k) is not None})


def died_silently(record: dict[str, Any]) -> dict[str, Any]:
    """The error of an attempt that left its record `running`: its worker was killed."""
    return {
        "type": "WorkerDied",
        "message": f"attempt {record.get('attempts')} stopped without reporting an error: "
        "the worker was killed (out of memory? SIGKILL? its task stopped?)",
        "details": {"started_at": record.get("started_at")},
    }


def new_record(msg: JobMessage) -> dict[str, Any]:
    """The `queued` record of a freshly accepted job."""
    now = isoformat(utcnow())
    return {
        "job_id": msg.job_id,
        "kind": msg.kind,
        "model": msg.model,
        "state": QUEUED,
        "source": msg.source,
        "input": asdict(msg.input),
        "options": msg.options,
        "submitted_at": msg.submitted_at or now,
        "updated_at": now,
        "started_at": None,
        "finished_at": None,
        "attempts": 0,
        "progress": {"rows_done": 0},
        "outputs": {},
        "model_version": None,
        "metrics": {},
        "error": None,
        "history": [{"state": QUEUED, "at": now}],
    }


def transition(record: dict[str, Any], state: str, note: str | None = None, **fields: Any) -> dict[str, Any]:
    """A copy of `record` moved to `state`, with `fields` set and the step added to history."""
    if state not in STATES:
        raise ValueError(f"unknown job state {state!r}")
    now = isoformat(utcnow())
    updated = {**record, **fields, "state": state, "updated_at": now}
    if state == RUNNING:
        updated["attempts"] = int(record.get("attempts") or 0) + 1
        updated["started_at"] = now
        updated["finished_at"] = None
        updated["error"] = None
    if state in FINAL_STATES:
        updated["finished_at"] = now
    step = {"state": state, "at": now, "attempt": updated.get("attempts", 0)}
    if note:
        step["note"] = note
    if state in (FAILED, DEAD_LETTERED) and updated.get("error"):
        step["error"] = updated["error"].get("message")
    updated["history"] = [*record.get("history", []), step]
    return updated


class StatusStore:
    """Reads and writes the status records of one bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def uri(self, job_id: str) -> str:
        return f"s3://{self.bucket}/{status_key(job_id)}"

    def get(self, job_id: str) -> dict[str, Any] | None:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=status_key(job_id))
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        return json.loads(obj["Body"].read())

    def require(self, job_id: str) -> dict[str, Any]:
        record = self.get(job_id)
        if record is None:
            raise NotFound(f"no job {job_id!r}", {"job_id": job_id})
        return record

    # Dead-lettered jobs are also indexed under _jobs/dead/, so `make redrive` finds them
    # without reading every status record.
    def mark_dead(self, job_id: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=dead_key(job_id), Body=b"")

    def unmark_dead(self, job_id: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=dead_key(job_id))

    def dead_job_ids(self) -> list[str]:
        ids = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=dead_key("")):
            ids += [obj["Key"].rsplit("/", 1)[1] for obj in page.get("Contents", [])]
        return ids

    def put(self, record: dict[str, Any]) -> dict[str, Any]:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=status_key(record["job_id"]),
            Body=json.dumps(record, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
        )
        return record
