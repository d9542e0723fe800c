"""Workers killed, stopped, fed poison, flooded and duplicated: nothing lost, nothing duplicated."""

import json
import signal
import time

import pytest

from fmlcore.core.errors import NotFound
from fmlcore.jobs.message import InputRef, JobMessage, job_id_for
from fmlcore.ml.model_store import ModelStore
from tests.integration.conftest import wait_for
from tests.status_records import StatusRecords

from .helpers import SAMPLE, csv_bytes, report, start_worker, trained_model, versions, wait_state

pytestmark = pytest.mark.emulator

SLOW_TRAINING = {"target": "churned", "num_boost_round": "300", "early_stopping_rounds": "300",
                 "params": '{"max_depth": 8, "eta": 0.05}'}  # fmt: skip


@pytest.fixture(scope="module")
def models(aws, settings) -> ModelStore:
    return ModelStore(aws.s3, settings.models_bucket, latest_ttl_seconds=0)


@pytest.fixture(scope="module")
def train_statuses(aws, settings) -> StatusRecords:
    return StatusRecords(aws.s3, settings.models_bucket)


@pytest.fixture(scope="module")
def predict_statuses(aws, settings) -> StatusRecords:
    return StatusRecords(aws.s3, settings.predictions_bucket)


@pytest.fixture(scope="module")
def slow_dataset(tmp_path_factory) -> bytes:
    return csv_bytes(150_000, score=False, seed=3, tmp_path=tmp_path_factory.mktemp("data"))


def drop(aws, bucket: str, key: str, body: bytes, **metadata) -> str:
    return aws.s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)["VersionId"]


def test_sigkill_mid_training_completes_once(user, aws, settings, start_proc, proc_env, models, train_statuses,
                                             slow_dataset, unique, capsys):  # fmt: skip
    model, key = f"kill-{unique}", f"kill-{unique}/data.csv"
    first = start_worker(start_proc, proc_env, "trainer", f"trainer-kill-{unique}")
    version = drop(user, settings.datasets_bucket, key, slow_dataset, **SLOW_TRAINING)
    job_id = job_id_for("train", settings.datasets_bucket, key, version)
    wait_state(train_statuses, job_id, ("running",), timeout=30)
    time.sleep(1.0)
    first.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    start_worker(start_proc, proc_env, "trainer", f"trainer-after-kill-{unique}")
    record = wait_state(train_statuses, job_id, timeout=180)
    assert record["state"] == "succeeded", record
    made = models.list_versions(model)
    assert len(made) == 1 and made[0]["version"] == record["model_version"]
    assert record["attempts"] == 2
    assert [h["state"] for h in record["history"]].count("running") == 2
    report(capsys, "SIGKILL mid-training", submitted=1, succeeded=1, lost=0, duplicated=len(made) - 1,
           recovered_after_s=round(time.monotonic() - killed_at, 1), attempts=record["attempts"])  # fmt: skip


def test_sigkill_mid_prediction_completes_once(user, aws, settings, start_proc, proc_env, models, predict_statuses,
                                               tmp_path, unique, capsys):  # fmt: skip
    model = f"pkill-{unique}"
    trained_model(models, model)
    first = start_worker(start_proc, proc_env, "predictor", f"predictor-kill-{unique}")
    key = f"{model}/big.csv"
    version = drop(user, settings.inference_bucket, key, csv_bytes(600_000, True, 4, tmp_path))
    job_id = job_id_for("predict", settings.inference_bucket, key, version)
    wait_state(predict_statuses, job_id, ("running",), timeout=30)
    time.sleep(1.5)
    first.signal(signal.SIGKILL)
    start_worker(start_proc, proc_env, "predictor", f"predictor-after-kill-{unique}")
    record = wait_state(predict_statuses, job_id, timeout=180)
    assert record["state"] == "succeeded", record
    assert record["metrics"]["rows_scored"] == 600_000
    outputs = versions(aws.s3, settings.predictions_bucket, f"batch/{model}/big.predictions.csv")
    assert len(outputs) == 1
    report(capsys, "SIGKILL mid-prediction", submitted=1, succeeded=1, lost=0, duplicated=len(outputs) - 1,
           rows=record["metrics"]["rows_scored"], attempts=record["attempts"])  # fmt: skip


def test_sigterm_mid_job_exits_0_and_releases(user, aws, settings, start_proc, proc_env, models, train_statuses,
                                              slow_dataset, unique, capsys):  # fmt: skip
    model, key = f"term-{unique}", f"term-{unique}/data.csv"
    worker = start_worker(start_proc, proc_env, "trainer", f"trainer-term-{unique}")
    version = drop(user, settings.datasets_bucket, key, slow_dataset, **SLOW_TRAINING)
    job_id = job_id_for("train", settings.datasets_bucket, key, version)
    wait_state(train_statuses, job_id, ("running",), timeout=30)
    time.sleep(0.5)
    sent = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=30) == 0, worker.log()
    exit_seconds = time.monotonic() - sent
    released = train_statuses.get(job_id)
    # The release path itself, observed: the worker said so, and the job is queued again.
    assert "message released for another worker" in worker.log(), worker.log()
    assert released["state"] == "queued", released
    start_worker(start_proc, proc_env, "trainer", f"trainer-after-term-{unique}")
    record = wait_state(train_statuses, job_id, timeout=180)
    assert record["state"] == "succeeded"
    assert len(models.list_versions(model)) == 1
    report(capsys, "SIGTERM mid-job", submitted=1, succeeded=1, lost=0, duplicated=0,
           exit_code=0, exit_seconds=round(exit_seconds, 2), state_after_stop=released["state"])  # fmt: skip


def test_a_job_whose_every_worker_is_killed_ends_dead_lettered(user, settings, start_proc, proc_env, train_statuses,
                                                               slow_dataset, unique, capsys):  # fmt: skip
    """SIGKILL (as the OOM killer would) on every attempt: no failure hook ever runs, yet the
    job ends `dead_lettered`, its last error saying the worker died, not `running` forever."""
    key = f"killed-{unique}/data.csv"
    version = drop(user, settings.datasets_bucket, key, slow_dataset, **SLOW_TRAINING)
    job_id = job_id_for("train", settings.datasets_bucket, key, version)
    attempts = 0
    while True:
        worker = start_worker(start_proc, proc_env, "trainer", f"trainer-killed-{unique}-{attempts}")
        record = wait_for(
            lambda seen=attempts: (r := train_statuses.get(job_id)) and (r["state"] == "dead_lettered" or (
                r["state"] == "running" and r["attempts"] > seen)) and r,
            90, interval=0.2, what="the next attempt, or the dead letter",
        )  # fmt: skip
        if record["state"] == "dead_lettered":
            break
        attempts = record["attempts"]
        worker.signal(signal.SIGKILL)
        worker.proc.wait(timeout=10)
    assert record["error"]["type"] == "DeadLettered", record
    assert record["error"]["details"]["last_error"]["type"] == "WorkerDied", record["error"]
    # maxReceiveCount (3) receives: a receive that found the killed worker's lease still held
    # (it lapses with the message's visibility) counts as one without being an attempt.
    assert 2 <= attempts <= 3, attempts
    assert job_id in train_statuses.dead_job_ids()
    report(capsys, "SIGKILL on every attempt", attempts=attempts, state=record["state"],
           last_error=record["error"]["details"]["last_error"]["type"])  # fmt: skip


def test_a_job_past_its_time_limit_fails_for_good(user, settings, start_proc, proc_env, models, train_statuses,
                                                  slow_dataset, unique, capsys):  # fmt: skip
    """FML_JOB_TIMEOUT_SECONDS=3: a long training (minutes) fails on its first attempt with DeadlineExceeded
    and writes no version; control: a short job on the same worker succeeds."""
    start_worker(start_proc, proc_env, "trainer", f"trainer-deadline-{unique}", FML_JOB_TIMEOUT_SECONDS="3")
    short_key, long_key = f"quick-{unique}/data.csv", f"slow-{unique}/data.csv"
    short = drop(user, settings.datasets_bucket, short_key, SAMPLE, target="churned", num_boost_round="10")
    done = wait_state(train_statuses, job_id_for("train", settings.datasets_bucket, short_key, short))
    assert done["state"] == "succeeded", done
    started = time.monotonic()
    endless = {**SLOW_TRAINING, "num_boost_round": "5000", "early_stopping_rounds": "5000",
               "params": '{"max_depth": 12, "eta": 0.01}'}  # fmt: skip
    version = drop(user, settings.datasets_bucket, long_key, slow_dataset, **endless)
    failed = wait_state(train_statuses, job_id_for("train", settings.datasets_bucket, long_key, version))
    assert failed["state"] == "failed" and failed["error"]["type"] == "DeadlineExceeded", failed
    assert failed["attempts"] == 1, failed
    assert "FML_JOB_TIMEOUT_SECONDS" in failed["error"]["message"]
    with pytest.raises(NotFound):
        models.list_versions(f"slow-{unique}")
    report(capsys, "job past its time limit", limit_s=3, failed_after_s=round(time.monotonic() - started, 1),
           attempts=failed["attempts"], versions_written=0, control_succeeded=1)  # fmt: skip


def test_poison_messages_are_dropped_and_the_worker_goes_on(user, aws, settings, start_proc, proc_env, models,
                                                            predict_statuses, unique, capsys):  # fmt: skip
    model = f"poison-{unique}"
    trained_model(models, model)
    worker = start_worker(start_proc, proc_env, "predictor", f"predictor-poison-{unique}")
    gone_key = f"{model}/gone.csv"
    gone_version = drop(user, settings.inference_bucket, f"_faults/{unique}.csv", b"x")  # not a job by itself
    aws.s3.delete_object(Bucket=settings.inference_bucket, Key=f"_faults/{unique}.csv", VersionId=gone_version)
    deleted_job = JobMessage.new("predict", model, InputRef(settings.inference_bucket, gone_key, gone_version))
    poison = [
        f"not json {unique}",
        json.dumps({"hello": unique}),
        json.dumps({"job_id": f"x-{unique}", "kind": "paint", "model": model, "input": {"bucket": "b", "key": "k"}}),
        deleted_job.to_json(),
    ]
    ids = [aws.sqs.send_message(QueueUrl=settings.predict_queue_url, MessageBody=b)["MessageId"] for b in poison]
    good_key = f"{model}/good.csv"
    good_version = drop(user, settings.inference_bucket, good_key, SAMPLE.replace(b",churned", b"", 1))
    good = wait_state(predict_statuses, job_id_for("predict", settings.inference_bucket, good_key, good_version))
    failed = wait_state(predict_statuses, deleted_job.job_id)
    assert good["state"] == "succeeded", good
    assert failed["state"] == "failed" and "no longer exists" in failed["error"]["message"]
    wait_for(lambda: all(i in worker.log() for i in ids), 20, what="every poison message id in the log")
    assert worker.proc.poll() is None  # still running
    worker.stop()
    # Observed, not assumed: once the worker is gone and the visibility timeout (6 s) has passed,
    # a poison message it had not deleted would be back in the queue, or in the DLQ.
    time.sleep(7)
    left = {m["MessageId"] for m in drain(aws.sqs, settings.predict_queue_url)} & set(ids)
    dead = {m["MessageId"] for m in drain(aws.sqs, settings.predict_dlq_url, delete=False)} & set(ids)
    assert not left and not dead, {"still queued": left, "dead-lettered": dead}
    report(capsys, "poison messages", poison=len(poison), deleted=len(ids) - len(left) - len(dead),
           still_queued=len(left), dead_lettered=len(dead), good_jobs=1, good_succeeded=1)  # fmt: skip


def drain(sqs, queue_url: str, delete: bool = True) -> list[dict]:
    """Every message visible on the queue now; deleted as read, or else hidden for 10 s while reading."""
    found = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=10
    ).get("Messages", []):
        found += batch
        for message in batch if delete else []:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_burst_of_100_predictions_and_20_trainings(user, aws, settings, start_proc, proc_env, models, train_statuses,
                                                   predict_statuses, tmp_path, unique, capsys):  # fmt: skip
    model = f"burst-{unique}"
    trained_model(models, model)
    for i in range(2):
        start_worker(start_proc, proc_env, "predictor", f"predictor-burst-{i}-{unique}")
        start_worker(start_proc, proc_env, "trainer", f"trainer-burst-{i}-{unique}")
    scoring = csv_bytes(200, True, 8, tmp_path)
    started = time.monotonic()
    predict_jobs = {
        job_id_for("predict", settings.inference_bucket, key, drop(user, settings.inference_bucket, key, scoring)): key
        for key in (f"{model}/part-{i:03d}.csv" for i in range(100))
    }
    train_models = [f"burst-t{i % 4}-{unique}" for i in range(20)]
    train_jobs = {}
    for i, name in enumerate(train_models):
        key = f"{name}/part-{i:02d}.csv"
        version = drop(user, settings.datasets_bucket, key, SAMPLE, target="churned", num_boost_round="20")
        train_jobs[job_id_for("train", settings.datasets_bucket, key, version)] = name

    def finished():
        p = [predict_statuses.get(j) for j in predict_jobs]
        t = [train_statuses.get(j) for j in train_jobs]
        return all(r and r["state"] in ("succeeded", "failed") for r in p + t) and (p, t)

    p_records, t_records = wait_for(finished, timeout=300, interval=1, what="all 120 burst jobs")
    elapsed = time.monotonic() - started
    assert all(r["state"] == "succeeded" for r in p_records + t_records)
    output_versions = [
        len(versions(aws.s3, settings.predictions_bucket, f"batch/{model}/part-{i:03d}.predictions.csv"))
        for i in range(100)
    ]
    assert output_versions == [1] * 100
    produced = [v["job_id"] for name in sorted(set(train_models)) for v in models.list_versions(name)]
    assert sorted(produced) == sorted(train_jobs)  # one version per training job, none extra
    report(capsys, "burst", submitted=120, succeeded=120, lost=0,
           duplicated=sum(output_versions) - 100 + len(produced) - 20, seconds=round(elapsed, 1))  # fmt: skip


def test_duplicate_events_and_same_key_twice(user, aws, settings, start_proc, proc_env, models, predict_statuses,
                                             tmp_path, unique, capsys):  # fmt: skip
    model = f"dupev-{unique}"
    trained_model(models, model)
    start_worker(start_proc, proc_env, "predictor", f"predictor-dupev-{unique}")
    key = f"{model}/daily.csv"
    lam = aws.client("lambda")
    bodies = [csv_bytes(100, True, 21, tmp_path), csv_bytes(150, True, 22, tmp_path)]
    jobs = []
    for body in bodies:  # the same key twice, different content: two jobs, two output versions
        version = drop(user, settings.inference_bucket, key, body)
        job_id = job_id_for("predict", settings.inference_bucket, key, version)
        wait_state(predict_statuses, job_id)
        event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                              "s3": {"bucket": {"name": settings.inference_bucket},
                                     "object": {"key": key, "versionId": version}}}]}  # fmt: skip
        for _ in range(2):  # S3 delivering the same event again, late
            lam.invoke(FunctionName=enqueue_function(lam, "predict", settings.predictions_bucket),
                       Payload=json.dumps(event).encode())  # fmt: skip
        job = JobMessage.new("predict", model, InputRef(settings.inference_bucket, key, version))
        aws.sqs.send_message(QueueUrl=settings.predict_queue_url, MessageBody=job.to_json())  # SQS redelivery
        jobs.append((job_id, version))
    time.sleep(4)  # let every duplicate be received and skipped
    outputs = versions(aws.s3, settings.predictions_bucket, f"batch/{model}/daily.predictions.csv")
    assert len(outputs) == 2
    for job_id, input_version in jobs:
        record = predict_statuses.get(job_id)
        assert record["state"] == "succeeded" and record["attempts"] == 1
        head = aws.s3.head_object(Bucket=settings.predictions_bucket, Key=f"batch/{model}/daily.predictions.csv",
                                  VersionId=record["outputs"]["predictions_version"])  # fmt: skip
        assert head["Metadata"]["input_version"] == input_version and head["Metadata"]["job_id"] == job_id
    report(capsys, "duplicates", uploads=2, duplicate_events=4, redelivered_messages=2, jobs=2,
           output_versions=len(outputs), duplicated=len(outputs) - 2, lost=0)  # fmt: skip


def enqueue_function(lam, kind: str, status_bucket: str) -> str:
    """The enqueue Lambda the stack wired for `kind`, found by its configuration (no name typed here)."""
    for fn in lam.list_functions()["Functions"]:
        env = fn.get("Environment", {}).get("Variables", {})
        if env.get("FML_JOB_KIND") == kind and env.get("FML_STATUS_BUCKET") == status_bucket:
            return fn["FunctionName"]
    raise AssertionError(f"no enqueue Lambda for {kind}")
