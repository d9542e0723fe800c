"""The one owner of job status writes: every change of a job's record goes through `JobLifecycle`.

Callers say what happened (accepted, rejected, started, progressed, succeeded, failed,
retried, released, dead-lettered, redriven, settled); the lifecycle builds the next record
with `JobRecord.moved`, which refuses a transition the job's life does not allow
(`fmlcore.jobs.status.TRANSITIONS`), and writes it. Users: the enqueue and dead-letter
functions, the trainer API, `make redrive`, and both workers (through the worker-loop hooks
`on_permanent`, `on_retry`, `on_released`).

Every write that ends a job (`succeeded`, `failed`, `dead_lettered`) is followed by its
completion event (fmlcore.jobs.events), published once the record holds the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fmlcore.core.errors import FmlError
from fmlcore.jobs.events import JobEvents
from fmlcore.jobs.message import JobMessage
from fmlcore.jobs.status import (
    DEAD_LETTERED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobRecord,
    StatusStore,
)

if TYPE_CHECKING:
    from fmlcore.jobs.worker import JobContext

log = logging.getLogger("fml.jobs")

# The history note of a training run synchronously by the trainer API (TrainingService.settle_if_abandoned).
SYNC_NOTE = "synchronous training"
REDRIVE_NOTE = "redriven from the dead-letter queue"


def error_dict(exc: BaseException) -> dict[str, Any]:
    """The `error` of a status record for any exception."""
    if isinstance(exc, FmlError):
        return exc.to_dict()
    return {"type": type(exc).__name__, "message": str(exc)[:1000], "details": {}}


class JobLifecycle:
    def __init__(self, statuses: StatusStore, events: JobEvents | None = None) -> None:
        self.statuses = statuses
        self.events = events or JobEvents(None, None)

    def _ended(self, record: JobRecord | None) -> JobRecord | None:
        """`record` (just written, ending its job) announced as the job's completion event."""
        if record is not None:
            self.events.ended(record, self.statuses.uri(record.job_id))
        return record

    def _update_to_end(self, job_id: str, end: Callable[[JobRecord], JobRecord | None]) -> JobRecord | None:
        """A conditional read-modify-write (StatusStore.update) that may end the job: announced
        only when `end` made the record that was written (None from `end`: nothing written)."""
        made: list[JobRecord] = []

        def change(current: JobRecord) -> JobRecord | None:
            made[:] = [nxt] if (nxt := end(current)) is not None else []
            return nxt

        written = self.statuses.update(job_id, change)
        return self._ended(written) if made else written

    # ------------------------------------------------------------------ reads
    def get(self, job_id: str) -> JobRecord | None:
        return self.statuses.get(job_id)

    def require(self, job_id: str) -> JobRecord:
        return self.statuses.require(job_id)

    def record(self, job: JobMessage) -> JobRecord:
        """The job's stored record, or the unsaved `queued` record of a job not recorded yet."""
        return self.statuses.get(job.job_id) or JobRecord.new(job)

    def should_run(self, record: JobRecord) -> bool:
        if record.ended:
            log.info(
                "job already %s; nothing to do", "succeeded" if record.state == SUCCEEDED else "failed permanently"
            )
            return False
        return True  # queued, a running one whose worker died, or a dead-lettered one redriven

    # ------------------------------------------------------------------ arrival
    def accept(self, job: JobMessage) -> JobRecord:
        """A new job is queued (the enqueue function, the trainer API)."""
        return self.statuses.write(JobRecord.new(job))

    def reject(self, job: JobMessage, error: dict[str, Any], note: str) -> JobRecord:
        """A job refused before it ran (bad options on arrival, an enqueue that failed)."""
        return self._ended(self.statuses.write(self.record(job).moved(FAILED, note=note, error=error)))

    def queue(self, record: JobRecord, note: str) -> JobRecord:
        """Back to (or still) `queued`: the trainer API hands a job over to its worker."""
        return self.statuses.write(record if record.state == QUEUED else record.moved(QUEUED, note=note))

    def start_sync(self, job: JobMessage) -> JobRecord:
        """The trainer API trains this job itself, within its synchronous budget."""
        return self.statuses.write(JobRecord.new(job).moved(RUNNING, note=SYNC_NOTE))

    # ------------------------------------------------------------------ a worker's attempt
    def start(self, record: JobRecord, ctx: JobContext) -> JobRecord:
        changes: dict[str, Any] = {}
        if record.state == RUNNING:  # the attempt before this one ended without a word
            changes["last_error"] = record.died_silently()
            log.warning("the previous attempt stopped without reporting (killed? out of memory?)")
        return self.statuses.write(record.moved(RUNNING, note=f"receive {ctx.receive_count}", **changes))

    def progress(self, record: JobRecord, **changes: Any) -> JobRecord:
        return self.statuses.write(record.updated(**changes))

    def succeed(self, record: JobRecord, note: str | None = None, **changes: Any) -> JobRecord:
        return self._ended(self.statuses.write(record.moved(SUCCEEDED, note=note, **changes)))

    def fail(self, record: JobRecord, exc: BaseException, note: str | None = None) -> JobRecord:
        return self._ended(self.statuses.write(record.moved(FAILED, note=note, error=error_dict(exc))))

    def settle(self, record: JobRecord, version: str | None) -> JobRecord:
        """An abandoned synchronous training, ended by what the models bucket holds (unsaved:
        the caller writes it with `write_settled`, and answers with it even if that fails)."""
        if version is not None:
            return record.moved(SUCCEEDED, note="settled: the model was stored", model_version=version)
        error = {
            "type": "Abandoned",
            "message": "the synchronous training stopped without a result (its API process ended); train again",
            "details": {},
        }
        return record.moved(FAILED, note="settled: no model was stored", error=error)

    def write_settled(self, record: JobRecord) -> JobRecord:
        return self._ended(self.statuses.write(record))

    # ------------------------------------------------------------------ a batch file split in parts
    # Several workers write the record of a split job at once (one per part): every write is a
    # conditional read-modify-write (StatusStore.update) that leaves an ended record alone.
    def split(self, job_id: str, total: int) -> JobRecord | None:
        """The running job's file is split into `total` parts (their messages are sent next)."""
        return self.statuses.update(
            job_id,
            lambda r: None if r.ended else r.updated(parts={"total": total, "done": (r.parts or {}).get("done", 0)}),
        )

    def part_done(self, job_id: str, done: int, rows_done: int) -> JobRecord | None:
        """`done` parts are scored, `rows_done` rows in them (counts only grow)."""

        def change(r: JobRecord) -> JobRecord | None:
            if r.ended or r.parts is None:
                return None
            return r.updated(
                parts={**r.parts, "done": max(done, r.parts.get("done", 0))},
                progress={"rows_done": max(rows_done, r.progress.get("rows_done", 0))},
            )

        return self.statuses.update(job_id, change)

    def succeed_split(self, job_id: str, note: str | None = None, **changes: Any) -> JobRecord | None:
        """The parts are assembled into the one output: the job succeeded (once)."""
        return self._update_to_end(job_id, lambda r: None if r.ended else r.moved(SUCCEEDED, note=note, **changes))

    # Hooks for fmlcore.jobs.worker.QueueWorker.
    def on_permanent(self, job: JobMessage, ctx: JobContext, exc: BaseException) -> None:
        if job.part is not None:  # one part cannot be scored: neither can the file
            note = f"part {job.part.index + 1} of {job.part.total} failed"
            self._update_to_end(
                job.job_id, lambda r: None if r.ended else r.moved(FAILED, note=note, error=error_dict(exc))
            )
            return
        record = self.record(job)
        if not record.ended:
            self.fail(record, exc)

    def on_retry(self, job: JobMessage, ctx: JobContext, exc: BaseException) -> None:
        """The attempt failed and SQS will deliver the message again, or (after the last attempt)
        move it to the dead-letter queue, where the dead-letter function marks the job
        `dead_lettered` with this error."""
        then = "the message goes to the dead-letter queue" if ctx.last_attempt else "will retry"
        note = f"attempt {ctx.receive_count} failed ({type(exc).__name__}: {str(exc)[:200]}); {then}"
        if job.part is not None:  # the other parts go on: the job stays running, with the error noted
            self.statuses.update(job.job_id, lambda r: None if r.ended else r.updated(last_error=error_dict(exc)))
            return
        record = self.record(job)
        if record.ended:
            return
        self.statuses.write(record.moved(QUEUED, note=note, last_error=error_dict(exc)))

    def on_released(self, job: JobMessage, ctx: JobContext) -> None:
        if job.part is not None:  # the part's message comes back; the job is still running
            return
        record = self.record(job)
        if not record.ended:
            self.statuses.write(record.moved(QUEUED, note="released: worker shutting down"))

    # ------------------------------------------------------------------ dead letters
    def dead_letter(self, job: JobMessage) -> str:
        """The job's message reached a dead-letter queue: `dead_lettered`, with the last error an
        attempt reported, indexed under `_jobs/dead/` for `make redrive`. Returns what was done."""
        record = self.record(job)
        if record.ended:
            log.info("dead letter of a job that already ended: nothing to do", extra={"state": record.state})
            return f"already {record.state}"
        if record.state != DEAD_LETTERED:  # (a redelivered dead letter only re-indexes it)
            last = record.died_silently() if record.state == RUNNING else record.last_error
            last = last or {"type": "Unknown", "message": "no attempt reported an error", "details": {}}
            error = {
                "type": "DeadLettered",
                "message": f"gave up after {record.attempts} attempt(s); last error: {last['message']}",
                "details": {"last_error": last},
            }
            self._ended(self.statuses.write(record.moved(DEAD_LETTERED, note="in the dead-letter queue", error=error)))
            log.warning("job dead-lettered", extra={"last_error": last.get("type")})
        self.statuses.mark_dead(job.job_id)
        return DEAD_LETTERED

    def dead_job_ids(self) -> list[str]:
        return self.statuses.dead_job_ids()

    def redrive(self, job_id: str) -> JobRecord | None:
        """A dead-lettered job back to `queued`; the caller then sends its message and calls
        `unindex_dead` (in that order: a crash in between can only duplicate a job, never lose
        one). None when there is no dead-lettered record to move."""
        record = self.statuses.get(job_id)
        if record is None or record.state != DEAD_LETTERED:
            return None
        return self.statuses.write(record.moved(QUEUED, note=REDRIVE_NOTE))

    def unindex_dead(self, job_id: str) -> None:
        self.statuses.unmark_dead(job_id)

    def redriven_message(self, job_id: str) -> None:
        """A message moved back from a dead-letter queue: its record (if any, and not ended) says so."""
        record = self.statuses.get(job_id)
        if record is not None and not record.ended:
            self.statuses.write(record.moved(QUEUED, note=REDRIVE_NOTE))
