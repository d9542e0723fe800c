"""S3 put → real S3 notification → real Lambda (MiniStack's local executor) → SQS, on the applied stack."""

import json
import time

import pytest

from fmlcore.jobs.message import InputRef, JobMessage, job_id_for
from tests.status_records import StatusRecords

from .conftest import receive_until

pytestmark = pytest.mark.emulator


def _drop(aws, bucket, key, body=b"a,b\n1,2\n", **metadata):
    return aws.s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)["VersionId"]


def _wait_status(statuses: StatusRecords, job_id: str, timeout: float = 10.0, state: str | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = statuses.get(job_id)
        if record is not None and (state is None or record["state"] == state):
            return record
        time.sleep(0.2)
    return None


@pytest.mark.parametrize(
    ("source", "queue", "status_bucket", "kind", "metadata"),
    [
        ("datasets_bucket", "train_queue_url", "models_bucket", "train", {"target": "label"}),
        ("inference_bucket", "predict_queue_url", "predictions_bucket", "predict", {}),
    ],
)
def test_dropped_file_becomes_a_queued_job(user, aws, settings, unique, source, queue, status_bucket, kind, metadata):
    bucket = getattr(settings, source)
    key = f"m{unique}/file with spaces é.csv"
    version = _drop(user, bucket, key, **metadata)
    job_id = job_id_for(kind, bucket, key, version)

    message = receive_until(aws.sqs, getattr(settings, queue), lambda m: job_id in m["Body"], timeout=10)
    assert message is not None, f"no job message for {key} within 10 s"
    job = JobMessage.from_json(message["Body"])
    assert (job.kind, job.model, job.input.key, job.input.version_id) == (kind, f"m{unique}", key, version)
    assert job.options == metadata

    record = _wait_status(StatusRecords(aws.s3, getattr(settings, status_bucket)), job_id)
    assert record is not None and record["state"] == "queued"
    assert record["input"] == {"bucket": bucket, "key": key, "version_id": version}
    aws.sqs.delete_message(QueueUrl=getattr(settings, queue), ReceiptHandle=message["ReceiptHandle"])


def test_unsupported_file_makes_no_job(user, aws, settings, unique):
    key, control = f"m{unique}/notes.txt", f"m{unique}/rows.csv"
    _drop(user, settings.datasets_bucket, key)
    _drop(user, settings.datasets_bucket, control)  # dropped after: its job proves the pipeline was live
    seen: list[str] = []

    def control_arrived(message) -> bool:
        seen.append(message["Body"])
        return control in message["Body"]

    assert receive_until(aws.sqs, settings.train_queue_url, control_arrived, timeout=15) is not None
    assert receive_until(aws.sqs, settings.train_queue_url, lambda m: key in m["Body"], timeout=3) is None
    assert not any(key in body for body in seen)


def test_message_received_without_delete_ends_dead_lettered(aws, settings, unique):
    """A worker that takes the message and dies, maxReceiveCount times: SQS moves it to the
    dead-letter queue, and the dead-letter function marks the job `dead_lettered` and indexes it."""
    attrs = aws.sqs.get_queue_attributes(QueueUrl=settings.train_queue_url, AttributeNames=["RedrivePolicy"])
    max_receives = int(json.loads(attrs["Attributes"]["RedrivePolicy"])["maxReceiveCount"])
    job = JobMessage.new("train", f"dl-{unique}", InputRef(settings.datasets_bucket, f"dl-{unique}/x.csv", "v1"))
    aws.sqs.send_message(QueueUrl=settings.train_queue_url, MessageBody=job.to_json())

    receives = 0
    for _ in range(max_receives):
        message = receive_until(aws.sqs, settings.train_queue_url, lambda m: job.job_id in m["Body"], visibility=1)
        assert message is not None
        receives += 1
        time.sleep(1.1)  # let the visibility timeout lapse without deleting: a worker that died
    assert receives == max_receives
    # A further receive is past maxReceiveCount: SQS moves the message instead of delivering it.
    assert receive_until(aws.sqs, settings.train_queue_url, lambda m: job.job_id in m["Body"], timeout=3) is None

    statuses = StatusRecords(aws.s3, settings.models_bucket)
    record = _wait_status(statuses, job.job_id, timeout=30, state="dead_lettered")
    assert record is not None and record["error"]["type"] == "DeadLettered", statuses.get(job.job_id)
    assert job.job_id in statuses.dead_job_ids()


@pytest.mark.parametrize(
    ("queue", "dlq"), [("train_queue_url", "train_dlq_url"), ("predict_queue_url", "predict_dlq_url")]
)
def test_only_the_main_queue_may_redrive_into_its_dlq(aws, settings, queue, dlq):
    main = aws.sqs.get_queue_attributes(QueueUrl=getattr(settings, queue), AttributeNames=["QueueArn", "RedrivePolicy"])
    dead = aws.sqs.get_queue_attributes(
        QueueUrl=getattr(settings, dlq), AttributeNames=["QueueArn", "RedriveAllowPolicy"]
    )
    assert json.loads(main["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"] == dead["Attributes"]["QueueArn"]
    allow = json.loads(dead["Attributes"]["RedriveAllowPolicy"])
    assert allow == {"redrivePermission": "byQueue", "sourceQueueArns": [main["Attributes"]["QueueArn"]]}


def test_a_file_the_enqueue_function_gave_up_on_gets_a_failed_status(aws, settings, unique):
    """The enqueue function's on-failure destination (the envelope Lambda sends there, around
    the S3 event) reaches the dead-letter function, which fails the file's job with the error."""
    key = f"ef-{unique}/rows.csv"
    s3_event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": settings.inference_bucket},
                    "object": {"key": key, "versionId": "v-ef", "sequencer": "01"},
                },
            }
        ]
    }
    envelope = {"requestContext": {"functionArn": "arn:aws:lambda:us-east-1:000000000000:function:enqueue",
                                   "condition": "RetriesExhausted"},
                "requestPayload": s3_event, "responseContext": {"functionError": "Unhandled"},
                "responsePayload": {"errorMessage": f"boom-{unique}", "errorType": "RuntimeError"}}  # fmt: skip
    enqueue_dlq = settings.train_dlq_url.replace("-train-dlq", "-enqueue-dlq")  # <prefix>-enqueue-dlq
    aws.sqs.send_message(QueueUrl=enqueue_dlq, MessageBody=json.dumps(envelope))
    job_id = job_id_for("predict", settings.inference_bucket, key, "v-ef")
    record = _wait_status(StatusRecords(aws.s3, settings.predictions_bucket), job_id, timeout=30, state="failed")
    assert record is not None, "the enqueue failure left no status"
    assert record["error"]["type"] == "EnqueueFailed" and f"boom-{unique}" in record["error"]["message"]
    assert record["input"] == {"bucket": settings.inference_bucket, "key": key, "version_id": "v-ef"}
