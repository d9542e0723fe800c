"""Completion events: every write that ends a job announces it once, with the record written;
writes that do not end a job, and ends that write nothing (a late duplicate), announce nothing.
The in-memory S3 of tests/unit/fakes.py stands in for the bucket, a recording SNS for the topic."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from fmlcore.core.errors import InvalidInput
from fmlcore.jobs.events import EVENT_TYPE, MAX_MESSAGE_BYTES, JobEvents, event_for
from fmlcore.jobs.lifecycle import JobLifecycle
from fmlcore.jobs.message import InputRef, JobMessage
from fmlcore.jobs.status import DEAD_LETTERED, FAILED, SUCCEEDED, JobRecord, StatusStore
from tests.unit.fakes import FakeS3, client_error

TOPIC = "arn:aws:sns:us-east-1:000000000000:fml-job-events"


class RecordingSNS:
    """Keeps what was published; `fail_with` makes every publish raise."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.fail_with: BaseException | None = None

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append(kwargs)
        return {"MessageId": f"m{len(self.published)}"}

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(p["Message"]) for p in self.published]


def ctx(receive_count: int = 1, last_attempt: bool = False):
    return SimpleNamespace(receive_count=receive_count, last_attempt=last_attempt)


@pytest.fixture
def s3():
    return FakeS3()


@pytest.fixture
def sns():
    return RecordingSNS()


@pytest.fixture
def jobs(s3, sns):
    return JobLifecycle(StatusStore(s3, "bucket"), JobEvents(sns, TOPIC))


def new_job(kind: str = "train", name: str = "a") -> JobMessage:
    options = {"target": "y"} if kind == "train" else {}
    return JobMessage.new(kind, "churn", InputRef("datasets", f"churn/{name}.csv", "v1"), options)


def test_a_job_that_succeeds_is_announced_once_with_the_record_it_ended_with(jobs, s3, sns):
    job = new_job()
    jobs.accept(job)
    record = jobs.start(jobs.record(job), ctx())
    record = jobs.progress(record, progress={"rows_done": 10})
    assert sns.published == []  # queued, running, progress: not an end
    jobs.succeed(record, model_version="v9")
    [event] = sns.events()
    stored = s3.body("bucket", f"_jobs/{job.job_id}.json")
    assert event["type"] == EVENT_TYPE and event["state"] == SUCCEEDED and event["job_id"] == job.job_id
    assert event["record"] == stored  # the status record exactly as a user reads it
    assert event["status_uri"] == f"s3://bucket/_jobs/{job.job_id}.json"
    attrs = sns.published[0]["MessageAttributes"]
    assert {k: v["StringValue"] for k, v in attrs.items()} == {"kind": "train", "model": "churn", "state": SUCCEEDED}
    assert sns.published[0]["TopicArn"] == TOPIC


def test_failed_rejected_and_dead_lettered_jobs_are_announced(jobs, sns):
    failed, rejected, dead = new_job(name="failed"), new_job(name="rejected"), new_job("predict")
    jobs.accept(failed)
    jobs.on_permanent(failed, ctx(), InvalidInput("no column 'y'"))
    jobs.reject(rejected, {"type": "InvalidInput", "message": "unknown option", "details": {}}, "rejected on arrival")
    jobs.accept(dead)
    jobs.start(jobs.record(dead), ctx())
    jobs.dead_letter(dead)
    jobs.dead_letter(dead)  # a redelivered dead letter only re-indexes: no second event
    assert [(e["job_id"], e["state"]) for e in sns.events()] == [
        (failed.job_id, FAILED),
        (rejected.job_id, FAILED),
        (dead.job_id, DEAD_LETTERED),
    ]
    assert sns.events()[0]["record"]["error"]["message"] == "no column 'y'"


def test_retries_and_releases_announce_nothing(jobs, sns):
    job = new_job()
    jobs.accept(job)
    jobs.start(jobs.record(job), ctx())
    jobs.on_retry(job, ctx(), RuntimeError("throttled"))
    jobs.on_released(job, ctx())
    assert sns.published == []
    jobs.on_permanent(job, ctx(), InvalidInput("bad"))  # positive control: the end is announced
    assert [e["state"] for e in sns.events()] == [FAILED]


def test_a_split_file_is_announced_once_whatever_arrives_after_its_end(jobs, sns):
    job = JobMessage.new("predict", "churn", InputRef("inference", "churn/big.csv", "v1"), {})
    jobs.accept(job)
    jobs.start(jobs.record(job), ctx())
    jobs.split(job.job_id, 2)
    jobs.part_done(job.job_id, 1, 10)
    assert sns.published == []
    jobs.succeed_split(job.job_id, parts={"total": 2, "done": 2})
    jobs.succeed_split(job.job_id)  # a duplicate assembly: the record is already ended
    part = JobMessage.from_dict(
        {**job.to_dict(), "part": {"index": 1, "total": 2, "start": 0, "end": 9, "unit": "bytes"}}
    )
    jobs.on_permanent(part, ctx(), InvalidInput("late"))  # a late failing part: nothing written
    assert [e["state"] for e in sns.events()] == [SUCCEEDED]


def test_a_failing_part_announces_the_file_failed(jobs, sns):
    job = JobMessage.new("predict", "churn", InputRef("inference", "churn/big.csv", "v1"), {})
    jobs.accept(job)
    jobs.start(jobs.record(job), ctx())
    jobs.split(job.job_id, 4)
    part = JobMessage.from_dict(
        {**job.to_dict(), "part": {"index": 2, "total": 4, "start": 5, "end": 9, "unit": "bytes"}}
    )
    jobs.on_permanent(part, ctx(), InvalidInput("columns do not match"))
    [event] = sns.events()
    assert event["state"] == FAILED and event["record"]["history"][-1]["note"] == "part 3 of 4 failed"


def test_a_publish_that_fails_is_logged_and_leaves_the_record_ended(jobs, s3, sns, caplog):
    job = new_job()
    jobs.accept(job)
    sns.fail_with = client_error("InternalError", 500, "Publish")
    with caplog.at_level(logging.ERROR, logger="fml.events"):
        record = jobs.succeed(jobs.start(jobs.record(job), ctx()), model_version="v1")
    assert record.state == SUCCEEDED and s3.body("bucket", f"_jobs/{job.job_id}.json")["state"] == SUCCEEDED
    assert any("job event not published" in r.getMessage() and r.job_id == job.job_id for r in caplog.records)


def test_no_topic_publishes_nothing(s3):
    jobs = JobLifecycle(StatusStore(s3, "bucket"))  # no events configured (unit tests, a stack without a topic)
    job = new_job()
    jobs.accept(job)
    assert jobs.succeed(jobs.start(jobs.record(job), ctx())).state == SUCCEEDED


def test_an_event_over_snss_size_drops_the_history_and_says_so():
    record = JobRecord.new(new_job())
    small = event_for(record, "s3://b/_jobs/x.json")
    assert "record_truncated" not in small and small["record"]["history"]  # positive control
    huge = record.updated(history=tuple({"state": "queued", "at": "t", "note": "x" * 1000} for _ in range(400)))
    event = event_for(huge, "s3://b/_jobs/x.json")
    assert event["record"]["history"] == [] and "record_truncated" in event
    assert len(json.dumps(event).encode()) <= MAX_MESSAGE_BYTES


def test_the_same_end_has_the_same_event_id():
    record = JobRecord.new(new_job()).moved(FAILED, error={"type": "X", "message": "m", "details": {}})
    assert (
        event_for(record, "u")["event_id"]
        == event_for(record, "u")["event_id"]
        == f"{record.job_id}/failed/{record.updated_at}"
    )
