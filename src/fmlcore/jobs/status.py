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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from botocore.exceptions import ClientError

from fmlcore.core.aws import error_code, is_not_found
from fmlcore.core.errors import NotFound, TransientError
from fmlcore.core.layout import dead_key, status_key
from fmlcore.core.times import isoformat, utcnow
from fmlcore.jobs.message import JobMessage

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
DEAD_LETTERED = "dead_lettered"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, DEAD_LETTERED)
FINAL_STATES = (SUCCEEDED, FAILED, DEAD_LETTERED)

# Which state may follow which. A job not yet recorded starts as an unsaved `queued` record,
# so "from nothing" is the `queued` row. `succeeded` and `failed` are final; `dead_lettered`
# ends a job until `make redrive` queues it again (or a redelivered message finds its model
# already stored). A `running` record may become `running` again: its worker died and SQS
# delivered the message to another.
TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset(STATES),
    RUNNING: frozenset(STATES),
    DEAD_LETTERED: frozenset({QUEUED, RUNNING, SUCCEEDED}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
}


class InvalidTransition(ValueError):
    """A status write that the job's life does not allow (a bug in the caller, never the user's input)."""


# Fields a record always has, in the JSON a user reads (`GET /training-jobs/<id>`, `GET /jobs/<id>`).
_OPTIONAL = ("last_error", "result", "promotion", "parts")  # written only once they have a value


@dataclass(frozen=True)
class JobRecord:
    """The status record of one job (docs/contracts.md, "Job status"). Immutable: every change
    is a new record, made by `moved` (a state change, appended to `history`) or `updated`."""

    job_id: str
    kind: str
    model: str
    state: str
    source: str
    input: dict[str, Any]
    options: dict[str, Any]
    submitted_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    progress: dict[str, Any] = field(default_factory=lambda: {"rows_done": 0})
    outputs: dict[str, Any] = field(default_factory=dict)
    model_version: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    last_error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    promotion: dict[str, Any] | None = None  # training: whether the new version became `live`, and why
    parts: dict[str, Any] | None = None  # a batch file split across workers: {"total": n, "done": k}
    history: tuple[dict[str, Any], ...] = ()

    @classmethod
    def new(cls, msg: JobMessage) -> JobRecord:
        """The `queued` record of a freshly accepted job."""
        now = isoformat(utcnow())
        return cls(
            job_id=msg.job_id,
            kind=msg.kind,
            model=msg.model,
            state=QUEUED,
            source=msg.source,
            input=asdict(msg.input),
            options=msg.options,
            submitted_at=msg.submitted_at or now,
            updated_at=now,
            history=({"state": QUEUED, "at": now},),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["history"] = tuple(data.get("history") or ())
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["history"] = list(self.history)
        for name in _OPTIONAL:
            if data[name] is None:
                del data[name]
        return data

    @property
    def ended(self) -> bool:
        return self.state in (SUCCEEDED, FAILED)

    def message(self) -> JobMessage:
        """The job message this record was made from (every field of it is in the record)."""
        names = ("job_id", "kind", "model", "input", "options", "source", "submitted_at")
        return JobMessage.from_dict({k: getattr(self, k) for k in names if getattr(self, k) is not None})

    def died_silently(self) -> dict[str, Any]:
        """The error of an attempt that left this record `running`: its worker was killed."""
        return {
            "type": "WorkerDied",
            "message": f"attempt {self.attempts} stopped without reporting an error: "
            "the worker was killed (out of memory? SIGKILL? its task stopped?)",
            "details": {"started_at": self.started_at},
        }

    def updated(self, **changes: Any) -> JobRecord:
        """The same state with `changes` (progress, outputs, ...)."""
        return replace(self, **changes)

    def moved(self, state: str, note: str | None = None, **changes: Any) -> JobRecord:
        """This record moved to `state`, with `changes` set and the step added to history."""
        if state not in STATES:
            raise InvalidTransition(f"unknown job state {state!r}")
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"a {self.state} job cannot become {state}")
        now = isoformat(utcnow())
        changes |= {"state": state, "updated_at": now}
        if state == RUNNING:
            changes |= {"attempts": self.attempts + 1, "started_at": now, "finished_at": None, "error": None}
        if state in FINAL_STATES:
            changes["finished_at"] = now
        moved = replace(self, **changes)
        step: dict[str, Any] = {"state": state, "at": now, "attempt": moved.attempts}
        if note:
            step["note"] = note
        if state in (FAILED, DEAD_LETTERED) and moved.error:
            step["error"] = moved.error.get("message")
        return replace(moved, history=(*self.history, step))


class StatusStore:
    """Reads and writes the status records of one bucket. Only `fmlcore.jobs.lifecycle` writes
    (tests/unit/fmlcore/jobs/test_lifecycle.py checks that no other module does)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def uri(self, job_id: str) -> str:
        return f"s3://{self.bucket}/{status_key(job_id)}"

    def get(self, job_id: str) -> JobRecord | None:
        found = self._read(job_id)
        return found[0] if found else None

    def _read(self, job_id: str) -> tuple[JobRecord, str] | None:
        """The record and its ETag, or None when there is none."""
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=status_key(job_id))
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        return JobRecord.from_dict(json.loads(obj["Body"].read())), obj.get("ETag", "")

    def _put(self, record: JobRecord, **condition: str) -> JobRecord:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=status_key(record.job_id),
            Body=json.dumps(record.to_dict(), indent=2, sort_keys=True).encode(),
            ContentType="application/json",
            **condition,
        )
        return record

    def require(self, job_id: str) -> JobRecord:
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

    def update(
        self, job_id: str, change: Callable[[JobRecord], JobRecord | None], attempts: int = 8
    ) -> JobRecord | None:
        """Read-modify-write under a condition: `change` gets the current record and returns the
        next one (None: nothing to write); the write is conditional on the ETag read, and on a
        conflict (another writer got in between) the change is made again on the newer record.
        For records several workers write at once (the parts of a split batch file)."""
        for _ in range(attempts):
            found = self._read(job_id)
            if found is None:
                return None
            current, etag = found
            nxt = change(current)
            if nxt is None:
                return current
            try:
                return self._put(nxt, IfMatch=etag)
            except ClientError as exc:
                if error_code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                    raise
        raise TransientError(f"the status of job {job_id} kept changing under {attempts} conditional writes")

    def write(self, record: JobRecord) -> JobRecord:
        return self._put(record)
