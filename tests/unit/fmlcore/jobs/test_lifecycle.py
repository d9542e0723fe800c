"""The job lifecycle: which transitions are allowed, what each event writes, and that it is the
only writer of status records. The in-memory S3 of tests/unit/fakes.py stands in for the bucket."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from fmlcore.core.errors import InvalidInput
from fmlcore.jobs.lifecycle import SYNC_NOTE, JobLifecycle
from fmlcore.jobs.message import InputRef, JobMessage
from fmlcore.jobs.status import (
    DEAD_LETTERED,
    FAILED,
    QUEUED,
    RUNNING,
    STATES,
    SUCCEEDED,
    InvalidTransition,
    JobRecord,
    StatusStore,
)
from tests.unit.fakes import FakeS3

SRC = Path(__file__).resolve().parents[4] / "src"


def record_in(s3: FakeS3, job_id: str) -> dict:
    """The record as written to the bucket, i.e. the JSON a user reads."""
    return s3.body("bucket", f"_jobs/{job_id}.json")


def ctx(receive_count: int = 1, last_attempt: bool = False):
    return SimpleNamespace(receive_count=receive_count, last_attempt=last_attempt)


@pytest.fixture
def s3():
    return FakeS3()


@pytest.fixture
def jobs(s3):
    return JobLifecycle(StatusStore(s3, "bucket"))


@pytest.fixture
def job():
    return JobMessage.new("train", "churn", InputRef("datasets", "churn/a.csv", "v1"), {"target": "y"})


def test_a_worker_attempt_goes_queued_running_succeeded_with_its_history(jobs, s3, job):
    jobs.accept(job)
    assert record_in(s3, job.job_id)["state"] == QUEUED
    record = jobs.start(jobs.record(job), ctx())
    record = jobs.progress(record, progress={"rows_done": 10})
    jobs.succeed(record, model_version="v9")
    stored = record_in(s3, job.job_id)
    assert stored["state"] == SUCCEEDED and stored["model_version"] == "v9" and stored["attempts"] == 1
    assert stored["progress"] == {"rows_done": 10} and stored["finished_at"]
    assert [step["state"] for step in stored["history"]] == [QUEUED, RUNNING, SUCCEEDED]
    assert JobRecord.from_dict(stored).message() == job  # the record holds the whole message


def test_final_states_refuse_every_further_move(job):
    for final in (SUCCEEDED, FAILED):
        record = JobRecord.new(job).moved(final)
        for state in STATES:
            with pytest.raises(InvalidTransition, match=f"a {final} job cannot become {state}"):
                record.moved(state)
    # Positive control: a dead-lettered job may be queued again (redrive), a running one retried.
    assert JobRecord.new(job).moved(DEAD_LETTERED).moved(QUEUED).state == QUEUED
    assert JobRecord.new(job).moved(RUNNING).moved(RUNNING).attempts == 2
    with pytest.raises(InvalidTransition, match="unknown job state"):
        JobRecord.new(job).moved("paused")


def test_a_delivery_after_a_silent_death_records_the_dead_attempt(jobs, s3, job):
    jobs.start(jobs.record(job), ctx(1))
    jobs.start(jobs.record(job), ctx(2))  # the first worker was killed: no word from it
    stored = record_in(s3, job.job_id)
    assert stored["attempts"] == 2 and stored["last_error"]["type"] == "WorkerDied"
    assert "attempt 1 stopped without reporting" in stored["last_error"]["message"]


def test_retry_and_release_requeue_but_never_reopen_an_ended_job(jobs, s3, job):
    jobs.start(jobs.record(job), ctx(1))
    jobs.on_retry(job, ctx(1), TimeoutError("slow"))
    stored = record_in(s3, job.job_id)
    assert stored["state"] == QUEUED and stored["last_error"]["type"] == "TimeoutError"
    assert stored["history"][-1]["note"].endswith("will retry")

    jobs.succeed(jobs.start(jobs.record(job), ctx(2)))
    jobs.on_retry(job, ctx(3), TimeoutError("late"))
    jobs.on_released(job, ctx(3))
    jobs.on_permanent(job, ctx(3), InvalidInput("late"))
    assert record_in(s3, job.job_id)["state"] == SUCCEEDED


def test_a_permanent_error_fails_the_job_with_its_typed_error(jobs, s3, job):
    jobs.start(jobs.record(job), ctx())
    jobs.on_permanent(job, ctx(), InvalidInput("no column 'y'", {"column": "y"}))
    stored = record_in(s3, job.job_id)
    assert stored["state"] == FAILED
    assert stored["error"] == {"type": "InvalidInput", "message": "no column 'y'", "details": {"column": "y"}}
    assert jobs.should_run(JobRecord.from_dict(stored)) is False
    assert jobs.should_run(jobs.record(JobMessage.new("train", "churn", InputRef("d", "churn/b.csv")))) is True


def test_dead_letter_names_the_last_error_indexes_the_job_and_redrive_undoes_both(jobs, s3, job):
    jobs.start(jobs.record(job), ctx(1))
    jobs.on_retry(job, ctx(1, last_attempt=True), ConnectionError("emulator down"))
    assert jobs.dead_letter(job) == DEAD_LETTERED
    stored = record_in(s3, job.job_id)
    assert stored["state"] == DEAD_LETTERED and "emulator down" in stored["error"]["message"]
    assert jobs.dead_job_ids() == [job.job_id]

    record = jobs.redrive(job.job_id)
    assert record is not None and record.state == QUEUED
    assert jobs.dead_job_ids() == [job.job_id]  # the index goes only after the message is sent
    jobs.unindex_dead(job.job_id)
    assert jobs.dead_job_ids() == []
    assert jobs.redrive(job.job_id) is None  # not dead-lettered any more: nothing to move


def test_a_dead_letter_of_an_ended_job_changes_nothing(jobs, s3, job):
    jobs.succeed(jobs.start(jobs.record(job), ctx()))
    assert jobs.dead_letter(job) == "already succeeded"
    assert record_in(s3, job.job_id)["state"] == SUCCEEDED and jobs.dead_job_ids() == []


def test_an_abandoned_synchronous_training_settles_by_what_was_stored(jobs, job):
    record = jobs.start_sync(job)
    assert record.history[-1]["note"] == SYNC_NOTE
    assert jobs.settle(record, "v3").state == SUCCEEDED
    lost = jobs.settle(record, None)
    assert lost.state == FAILED and lost.error["type"] == "Abandoned"


def test_the_record_json_keeps_its_shape(job):
    data = JobRecord.new(job).to_dict()
    assert "last_error" not in data and "result" not in data  # written once they have a value
    assert data["history"] == [{"state": QUEUED, "at": data["updated_at"]}]
    assert JobRecord.from_dict({**data, "added_by_a_newer_version": 1}).to_dict() == data


# ---------------------------------------------------------------------------- one writer
WRITES = {"write", "update", "mark_dead", "unmark_dead"}
OWNER = SRC / "fmlcore/jobs/lifecycle.py"
STORE = SRC / "fmlcore/jobs/status.py"


def status_writes(path: Path) -> list[str]:
    """Calls of a StatusStore write method in `path` (`<anything>.statuses.write(...)`, `store.write(...)`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES:
            target = ast.unparse(node.func.value)
            if "status" in target.lower() or "store" in target.lower():
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node.func)}")
    return found


def test_only_the_lifecycle_writes_status_records():
    others = [p for p in SRC.rglob("*.py") if p not in (OWNER, STORE)]
    assert [w for p in others for w in status_writes(p)] == []
    # Positive control: the detector sees the lifecycle's own writes.
    assert len(status_writes(OWNER)) >= 8


# ---------------------------------------------------------------------------- a split batch file
def split_job(jobs, s3):
    job = JobMessage.new("predict", "churn", InputRef("inference", "churn/big.csv", "v1"), {})
    jobs.accept(job)
    jobs.start(jobs.record(job), ctx())
    jobs.split(job.job_id, 4)
    return job


def test_part_counts_only_grow_and_a_write_in_between_is_not_lost(jobs, s3):
    job = split_job(jobs, s3)
    # Another worker writes between this one's read and its write: the conditional write fails
    # (412), the change is made again on the newer record, and both counts survive.
    s3.after("get_object", lambda: jobs.part_done(job.job_id, 3, 300))
    jobs.part_done(job.job_id, 2, 200)
    data = record_in(s3, job.job_id)
    assert data["parts"] == {"total": 4, "done": 3} and data["progress"]["rows_done"] == 300
    assert any(kw.get("IfMatch") for kw in s3.calls_of("put_object"))
    # positive control: a higher count is written
    jobs.part_done(job.job_id, 4, 400)
    assert record_in(s3, job.job_id)["parts"]["done"] == 4


def test_a_finished_split_job_is_never_rewritten(jobs, s3):
    job = split_job(jobs, s3)
    jobs.succeed_split(job.job_id, outputs={"predictions_uri": "s3://p/x"}, parts={"total": 4, "done": 4})
    assert record_in(s3, job.job_id)["state"] == SUCCEEDED
    jobs.part_done(job.job_id, 1, 10)  # a late duplicate part
    part = JobMessage.from_dict(
        {**job.to_dict(), "part": {"index": 1, "total": 4, "start": 0, "end": 10, "unit": "bytes"}}
    )
    jobs.on_retry(part, ctx(), RuntimeError("late"))
    jobs.on_permanent(part, ctx(), InvalidInput("late"))
    assert jobs.succeed_split(job.job_id) is not None  # already ended: returned, not moved again
    data = record_in(s3, job.job_id)
    assert (
        data["state"] == SUCCEEDED and data["parts"]["done"] == 4 and data["outputs"]["predictions_uri"] == "s3://p/x"
    )
    assert [h["state"] for h in data["history"]].count(SUCCEEDED) == 1


def test_a_part_that_fails_for_good_fails_the_file(jobs, s3):
    job = split_job(jobs, s3)
    part = JobMessage.from_dict(
        {**job.to_dict(), "part": {"index": 2, "total": 4, "start": 5, "end": 9, "unit": "bytes"}}
    )
    jobs.on_retry(part, ctx(), RuntimeError("throttled"))  # transient: the job stays running, the error noted
    data = record_in(s3, job.job_id)
    assert data["state"] == RUNNING and data["last_error"]["message"] == "throttled"
    jobs.on_permanent(part, ctx(), InvalidInput("columns do not match"))
    data = record_in(s3, job.job_id)
    assert data["state"] == FAILED and data["history"][-1]["note"] == "part 3 of 4 failed"
