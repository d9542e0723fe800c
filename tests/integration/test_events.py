"""Completion events on the applied stack: a job that ends publishes its status record to the
SNS topic (modules/platform), and the local queue subscribed to it (envs/local) receives it,
with IAM enforced on every hop: the worker's role publishing, the topic delivering to the
queue under its policy, the dead-letter function announcing a dead letter."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import pytest

from fmlcore.jobs.message import InputRef, JobMessage, job_id_for
from fmlcore.ml.model_store import ModelStore
from fmldev.sample_data import write as write_sample
from fmldev.stack import EVENTS_QUEUE_ENV
from tests.faults.helpers import trained_model
from tests.status_records import StatusRecords

from .conftest import wait_for

pytestmark = pytest.mark.emulator


class EventInbox:
    """The local events queue, read into a dict by job id (every other test's jobs announce
    themselves on the same queue: those events are kept, not lost, until the end of the module)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.messages: list[dict[str, Any]] = []

    def poll(self) -> None:
        resp = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        for message in resp.get("Messages", []):
            event = json.loads(message["Body"])
            self.events.setdefault(event["job_id"], []).append(event)
            self.messages.append(message)
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def wait(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        def arrived():
            self.poll()
            return self.events.get(job_id)

        return wait_for(arrived, timeout, interval=0, what=f"the event of job {job_id}")[0]


@pytest.fixture(scope="module")
def inbox(aws) -> EventInbox:
    return EventInbox(aws.sqs, os.environ[EVENTS_QUEUE_ENV])


@pytest.fixture(scope="module")
def model(aws, settings) -> tuple[str, str]:
    name = f"events-{uuid.uuid4().hex[:10]}"
    return name, trained_model(ModelStore(aws.s3, settings.models_bucket, latest_ttl_seconds=0), name)


def drop(user, bucket: str, key: str, body: bytes, **metadata: str) -> str:
    return user.s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)["VersionId"]


def test_a_scored_file_and_a_failed_one_are_announced_with_their_records(
    user, aws, settings, model, predictor_worker, inbox, tmp_path
):
    name, version = model
    body = write_sample(tmp_path / "in.csv", 300, score=True, seed=3).read_bytes()
    ok_key, bad_key = f"{name}/ok.csv", f"{name}/bad.csv"
    ok = job_id_for("predict", settings.inference_bucket, ok_key, drop(user, settings.inference_bucket, ok_key, body))
    bad_body = b"nothing,the,model,knows\n1,2,3,4\n"
    bad = job_id_for(
        "predict", settings.inference_bucket, bad_key, drop(user, settings.inference_bucket, bad_key, bad_body)
    )

    event = inbox.wait(ok)
    statuses = StatusRecords(aws.s3, settings.predictions_bucket)
    assert event["type"] == "fargate-ml.job.ended" and event["state"] == "succeeded" and event["model"] == name
    assert event["record"] == statuses.get(ok), "the event carries the status record as stored"
    assert event["record"]["model_version"] == version and event["record"]["progress"]["rows_done"] == 300
    assert event["status_uri"] == f"s3://{settings.predictions_bucket}/_jobs/{ok}.json"

    failed = inbox.wait(bad)
    assert failed["state"] == "failed" and "column" in failed["record"]["error"]["message"]
    message = next(m for m in inbox.messages if json.loads(m["Body"])["job_id"] == bad)
    assert {k: v["StringValue"] for k, v in message["MessageAttributes"].items()} == {
        "kind": "predict",
        "model": name,
        "state": "failed",
    }
    time.sleep(2)
    inbox.poll()
    assert len(inbox.events[ok]) == len(inbox.events[bad]) == 1, "one event per ended job"


def test_a_dead_lettered_job_is_announced_by_the_dead_letter_function(aws, settings, inbox, unique):
    """A job message in the predict dead-letter queue: the real dead-letter function (the
    emulator's Lambda, under the functions' role) marks the job dead_lettered and announces it."""
    job = JobMessage.new("predict", f"dl-{unique}", InputRef(settings.inference_bucket, f"dl-{unique}/x.csv", "v1"), {})
    aws.sqs.send_message(QueueUrl=settings.predict_dlq_url, MessageBody=job.to_json())
    event = inbox.wait(job.job_id, timeout=90)
    assert event["state"] == "dead_lettered" and event["kind"] == "predict"
    assert event["record"]["error"]["type"] == "DeadLettered"
    assert StatusRecords(aws.s3, settings.predictions_bucket).get(job.job_id)["state"] == "dead_lettered"


def test_an_unknown_option_is_announced_by_the_enqueue_function(user, settings, inbox, unique):
    key = f"opt-{unique}/data.csv"
    version = drop(user, settings.datasets_bucket, key, b"a,label\n1,0\n", target="label", bogus="1")
    event = inbox.wait(job_id_for("train", settings.datasets_bucket, key, version))
    assert event["state"] == "failed" and "bogus" in event["record"]["error"]["message"]
    # positive control of the attribution: the same drop without the typo is queued, not ended
    control = drop(user, settings.datasets_bucket, f"opt-{unique}/ok.csv", b"a,label\n1,0\n", target="label")
    control_id = job_id_for("train", settings.datasets_bucket, f"opt-{unique}/ok.csv", control)
    time.sleep(3)
    inbox.poll()
    assert control_id not in inbox.events
