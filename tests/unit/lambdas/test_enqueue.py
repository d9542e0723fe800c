"""The enqueue logic on recorded S3 event shapes, with in-memory stand-ins for S3 and SQS."""

import io
import json
import logging
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from fmlcore.jobs.lifecycle import JobLifecycle
from fmlcore.jobs.message import JobMessage, job_id_for
from fmlcore.jobs.status import StatusStore
from lambdas.enqueue import enqueue_event


class FakeS3:
    """Just enough of S3 for the enqueue logic: head_object, get_object, put_object."""

    def __init__(self, objects: dict[str, dict] | None = None):
        self.objects = objects or {}  # key -> {"Metadata": {...}, "VersionId": ...}
        self.puts: dict[str, bytes] = {}

    def _missing(self, op):
        return ClientError({"Error": {"Code": "NoSuchKey", "Message": "missing"}}, op)

    def head_object(self, Bucket, Key, VersionId=None):
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        return {"Metadata": {}, "VersionId": VersionId, **self.objects[Key]}

    def get_object(self, Bucket, Key):
        if Key not in self.puts:
            raise self._missing("GetObject")
        return {"Body": io.BytesIO(self.puts[Key])}

    def put_object(self, Bucket, Key, Body, ContentType=None):
        self.puts[Key] = Body


class FakeSQS:
    def __init__(self):
        self.sent: list[dict] = []

    def send_message(self, QueueUrl, MessageBody):
        self.sent.append(json.loads(MessageBody))


def run(event, objects, kind="train"):
    s3, sqs = FakeS3(objects), FakeSQS()
    summary = enqueue_event(
        event, kind=kind, queue_url="http://q/train", s3=s3, sqs=sqs, jobs=JobLifecycle(StatusStore(s3, "models"))
    )
    return summary, s3, sqs


def test_every_record_becomes_a_job_with_decoded_key(load_fixture):
    event = load_fixture("s3_put_event.json")
    objects = {
        "churn/q3 export été.csv": {"Metadata": {"target": "churned", "params": '{"max_depth": 4}'}},
        "fraud/2026/11/big.parquet": {},
    }
    summary, s3, sqs = run(event, objects)
    assert [d["key"] for d in summary["enqueued"]] == list(objects)
    first = JobMessage.from_dict(sqs.sent[0])
    assert first.model == "churn"
    assert first.input.key == "churn/q3 export été.csv"
    assert first.input.version_id == "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"
    assert first.options == {"target": "churned", "params": {"max_depth": 4}}
    assert first.job_id == job_id_for("train", "fargate-ml-local-datasets", first.input.key, first.input.version_id)
    assert sqs.sent[1]["model"] == "fraud"
    status = json.loads(s3.puts[f"_jobs/{first.job_id}.json"])
    assert status["state"] == "queued" and status["history"][0]["state"] == "queued"


def test_same_event_twice_gives_the_same_job_id(load_fixture):
    event = load_fixture("s3_put_event.json")
    objects = {"churn/q3 export été.csv": {}, "fraud/2026/11/big.parquet": {}}
    _, _, first = run(event, objects)
    _, _, second = run(event, objects)
    assert [m["job_id"] for m in first.sent] == [m["job_id"] for m in second.sent]


def test_redelivered_event_of_a_started_job_is_skipped(load_fixture):
    event = load_fixture("s3_put_event.json")
    event["Records"] = event["Records"][:1]
    s3, sqs = FakeS3({"churn/q3 export été.csv": {}}), FakeSQS()
    jobs = JobLifecycle(StatusStore(s3, "models"))
    enqueue_event(event, kind="train", queue_url="q", s3=s3, sqs=sqs, jobs=jobs)
    job_id = sqs.sent[0]["job_id"]
    jobs.start(jobs.require(job_id), SimpleNamespace(receive_count=1))
    summary = enqueue_event(event, kind="train", queue_url="q", s3=s3, sqs=sqs, jobs=jobs)
    assert len(sqs.sent) == 1
    assert "already running" in summary["skipped"][0]["reason"]


def test_test_event_is_skipped_and_logged(load_fixture, caplog):
    caplog.set_level(logging.INFO)
    summary, s3, sqs = run(load_fixture("s3_test_event.json"), {})
    assert sqs.sent == [] and s3.puts == {}
    assert summary["skipped"] == [{"reason": "s3:TestEvent"}]
    assert "TestEvent" in caplog.text


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("churn/", "folder marker"),
        ("churn/notes.txt", "unsupported file type"),
        ("data.csv", "no model prefix"),
        ("Churn Model/data.csv", "invalid model name"),
        ("_jobs/train-abc.json", "reserved prefix"),
        ("_api/churn/upload.csv", "reserved prefix"),
    ],
)
def test_files_that_are_not_jobs_are_skipped(load_fixture, key, reason):
    event = load_fixture("s3_put_event.json")
    event["Records"] = event["Records"][:1]
    event["Records"][0]["s3"]["object"]["key"] = key.replace(" ", "+")
    summary, s3, sqs = run(event, {key: {}})
    assert sqs.sent == [] and s3.puts == {}
    assert reason in summary["skipped"][0]["reason"]


def test_bad_metadata_fails_the_job_with_a_status_naming_the_problem(load_fixture):
    event = load_fixture("s3_put_event.json")
    event["Records"] = event["Records"][:1]
    summary, s3, sqs = run(event, {"churn/q3 export été.csv": {"Metadata": {"targer": "churned"}}})
    assert sqs.sent == []
    [failed] = summary["failed"]
    status = json.loads(s3.puts[f"_jobs/{failed['job_id']}.json"])
    assert status["state"] == "failed"
    assert status["error"]["type"] == "InvalidInput"
    assert "targer" in status["error"]["message"]


def test_object_deleted_before_the_event_arrives_is_skipped(load_fixture):
    event = load_fixture("s3_put_event.json")
    event["Records"] = event["Records"][:1]
    summary, _s3, sqs = run(event, {})
    assert sqs.sent == []
    assert summary["skipped"][0]["reason"] == "object no longer exists"


def test_unknown_event_shape_is_skipped():
    summary, _, sqs = run({"hello": "world"}, {})
    assert sqs.sent == [] and summary["skipped"][0]["reason"] == "unknown event shape"


def test_predict_bucket_makes_predict_jobs_with_pinned_version(load_fixture):
    event = load_fixture("s3_put_event.json")
    event["Records"] = event["Records"][:1]
    _summary, _, sqs = run(event, {"churn/q3 export été.csv": {"Metadata": {"model-version": "v123"}}}, "predict")
    assert sqs.sent[0]["kind"] == "predict"
    assert sqs.sent[0]["options"] == {"model_version": "v123"}
    assert sqs.sent[0]["job_id"].startswith("predict-")


def test_a_malformed_record_is_skipped_and_the_others_still_run(load_fixture):
    event = load_fixture("s3_put_event.json")
    event["Records"].insert(0, {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {}}})
    summary, _, sqs = run(event, {"churn/q3 export été.csv": {}, "fraud/2026/11/big.parquet": {}})
    assert "malformed record" in summary["skipped"][0]["reason"]
    assert len(sqs.sent) == 2
