"""The status side of a job's life in a worker, shared by training and prediction jobs.

`begin` decides whether a delivered job should run (a succeeded or permanently failed job is
not run again; a dead-lettered one that was redriven is) and marks it running; the hooks
record what the worker loop decided: permanent failure, retry, dead-letter, release.
"""

from __future__ import annotations

import logging
from typing import Any

from fmlcore.core.errors import FmlError
from fmlcore.jobs.message import JobMessage
from fmlcore.jobs.status import FAILED, QUEUED, RUNNING, SUCCEEDED, StatusStore, died_silently, new_record, transition
from fmlcore.jobs.worker import JobContext

log = logging.getLogger("fml.jobs")


def error_dict(exc: BaseException) -> dict[str, Any]:
    """The `error` of a status record for any exception."""
    if isinstance(exc, FmlError):
        return exc.to_dict()
    return {"type": type(exc).__name__, "message": str(exc)[:1000], "details": {}}


class JobLifecycle:
    def __init__(self, statuses: StatusStore) -> None:
        self.statuses = statuses

    def record(self, job: JobMessage) -> dict[str, Any]:
        return self.statuses.get(job.job_id) or new_record(job)

    def should_run(self, record: dict[str, Any]) -> bool:
        if record["state"] == SUCCEEDED:
            log.info("job already succeeded; nothing to do")
            return False
        if record["state"] == FAILED:
            log.info("job already failed permanently; nothing to do")
            return False
        return True  # queued, a running one whose worker died, or a dead-lettered one redriven

    def start(self, record: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if record["state"] == RUNNING:  # the attempt before this one ended without a word
            fields["last_error"] = died_silently(record)
            log.warning("the previous attempt stopped without reporting (killed? out of memory?)")
        return self.statuses.put(transition(record, RUNNING, note=f"receive {ctx.receive_count}", **fields))

    def progress(self, record: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return self.statuses.put({**record, **fields})

    def succeed(self, record: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return self.statuses.put(transition(record, SUCCEEDED, **fields))

    # Hooks for fmlcore.jobs.worker.QueueWorker.
    def on_permanent(self, job: JobMessage, ctx: JobContext, exc: BaseException) -> None:
        self.statuses.put(transition(self.record(job), FAILED, error=error_dict(exc)))

    def on_retry(self, job: JobMessage, ctx: JobContext, exc: BaseException) -> None:
        """The attempt failed and SQS will deliver the message again, or (after the last attempt)
        move it to the dead-letter queue, where the dead-letter function marks the job
        `dead_lettered` with this error."""
        record = self.record(job)
        then = "the message goes to the dead-letter queue" if ctx.last_attempt else "will retry"
        note = f"attempt {ctx.receive_count} failed ({type(exc).__name__}: {str(exc)[:200]}); {then}"
        self.statuses.put(transition(record, QUEUED, note=note, last_error=error_dict(exc)))

    def on_released(self, job: JobMessage, ctx: JobContext) -> None:
        self.statuses.put(transition(self.record(job), QUEUED, note="released: worker shutting down"))
