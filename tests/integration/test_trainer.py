"""Both training flows against the running stack: real Lambda, real worker, real gunicorn, real xgboost."""

import io
import json
import signal
import sys
import time

import pandas as pd
import pytest
import requests

from fmlcore.core.errors import NotFound
from fmlcore.jobs.message import InputRef, JobMessage, job_id_for
from fmlcore.ml.model_store import ModelStore
from tests.status_records import StatusRecords

from ..conftest import ROOT
from .conftest import start_api, wait_for

pytestmark = pytest.mark.emulator

SAMPLE = (ROOT / "samples" / "churn.csv").read_bytes()


@pytest.fixture(scope="module")
def store(aws, settings) -> ModelStore:
    return ModelStore(aws.s3, settings.models_bucket, latest_ttl_seconds=0)


@pytest.fixture(scope="module")
def statuses(aws, settings) -> StatusRecords:
    return StatusRecords(aws.s3, settings.models_bucket)


def versions_of(store: ModelStore, model: str) -> list[dict]:
    try:
        return store.list_versions(model)
    except NotFound:
        return []


def drop(aws, settings, key: str, body: bytes, **metadata) -> str:
    return aws.s3.put_object(Bucket=settings.datasets_bucket, Key=key, Body=body, Metadata=metadata)["VersionId"]


def train_csv(api: str, model: str, body: bytes = SAMPLE, **params):
    return requests.post(
        f"{api}/models/{model}/train",
        params={"target": "churned", **params},
        data=body,
        headers={"Content-Type": "text/csv"},
        timeout=60,
    )


def test_dropped_dataset_becomes_a_model_version(user, aws, settings, store, statuses, trainer_worker, unique):
    model = f"drop-{unique}"
    version = drop(user, settings, f"{model}/churn.csv", SAMPLE, target="churned")
    job_id = job_id_for("train", settings.datasets_bucket, f"{model}/churn.csv", version)

    record = wait_for(
        lambda: (r := statuses.get(job_id)) and r["state"] in ("succeeded", "failed") and r,
        timeout=30,
        what="the training job to finish",
    )
    assert record["state"] == "succeeded", record
    [latest] = versions_of(store, model)
    assert latest["version"] == record["model_version"]
    assert latest["dataset_version"] == version and latest["job_id"] == job_id
    assert set(latest["metrics"]) == {"auc", "logloss", "accuracy"}
    assert 0.6 < latest["metrics"]["auc"] <= 1.0
    assert [h["state"] for h in record["history"]] == ["queued", "running", "succeeded"]

    loaded = store.load(model)
    assert loaded.schema.names == [
        "tenure_months", "monthly_charges", "support_calls", "contract", "payment_method", "has_internet"
    ]  # fmt: skip
    assert loaded.schema.categories["contract"] == ["month-to-month", "one-year", "two-year"]
    assert loaded.metadata["dataset_version"] == version


def test_http_training_returns_version_and_metrics(trainer_api, store, unique):
    model = f"http-{unique}"
    resp = train_csv(trainer_api, model, params='{"max_depth": 3}')
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["objective"] == "binary:logistic"
    assert set(body["metrics"]) == {"auc", "logloss", "accuracy"}
    assert body["rows"] == 2000
    assert store.load(model, body["version"]).metadata["params"]["max_depth"] == 3
    job = requests.get(f"{trainer_api}/training-jobs/{body['job_id']}", timeout=5).json()
    assert job["state"] == "succeeded" and job["model_version"] == body["version"]


def test_versions_are_listed_newest_first_and_rollback_moves_live_back(trainer_api, store, unique):
    model = f"roll-{unique}"
    first = train_csv(trainer_api, model, params='{"max_depth": 2}').json()
    second = train_csv(trainer_api, model, params='{"max_depth": 5}', promote="always").json()
    assert first["promotion"]["promoted"] and first["promotion"]["reason"] == "no live version yet"
    assert second["promotion"] == {"promoted": True, "alias": "live", "reason": "promote=always",
                                   "live_version": first["version"]}  # fmt: skip

    listed = requests.get(f"{trainer_api}/models/{model}/versions", timeout=5).json()["versions"]
    assert [v["version"] for v in listed] == [second["version"], first["version"]]
    assert listed[0]["is_latest"] and not listed[1]["is_latest"]
    assert listed[0]["aliases"] == ["candidate", "live"] and listed[1]["aliases"] == []
    assert listed[1]["metrics"] == first["metrics"]

    detail = requests.get(f"{trainer_api}/models/{model}/versions/{first['version']}", timeout=5).json()
    assert detail["params"]["max_depth"] == 2 and detail["is_latest"] is False
    assert {f["name"]: f["type"] for f in detail["features"]}["contract"] == "categorical"

    resp = requests.post(f"{trainer_api}/models/{model}/rollback", timeout=10)  # one move back
    assert resp.status_code == 200, resp.text
    rolled = resp.json()
    assert (rolled["version"], rolled["previous_version"]) == (first["version"], second["version"])
    listed = requests.get(f"{trainer_api}/models/{model}/versions", timeout=5).json()["versions"]
    assert [v["version"] for v in listed] == [second["version"], first["version"]]  # no copy, no new version
    assert store.load(model).metadata["params"]["max_depth"] == 2  # live is the old model again
    assert store.load(model, second["version"]).metadata["params"]["max_depth"] == 5  # still pinnable
    again = requests.post(f"{trainer_api}/models/{model}/rollback", json={"version": second["version"]}, timeout=10)
    assert again.status_code == 200 and again.json()["version"] == second["version"]
    missing = requests.post(f"{trainer_api}/models/{model}/rollback", json={"version": "nope"}, timeout=10)
    assert missing.status_code == 404 and "no version" in missing.json()["error"]["message"]

    models = {m["model"]: m for m in requests.get(f"{trainer_api}/models", timeout=5).json()["models"]}
    assert models[model]["live_version"] == second["version"]


def corrupted(body: bytes) -> bytes:
    """The sample with its labels flipped: a dataset a broken pipeline could upload."""
    frame = pd.read_csv(io.BytesIO(body))
    frame["churned"] = 1 - frame["churned"]
    return frame.to_csv(index=False).encode()


def test_the_gate_holds_back_a_model_trained_on_broken_labels(trainer_api, statuses, store, unique):
    model = f"gate-{unique}"
    good = train_csv(trainer_api, model).json()
    assert good["promotion"]["promoted"], good
    same = train_csv(trainer_api, model).json()  # the same data: the same model, no worse (positive control)
    assert same["promotion"]["promoted"], same["promotion"]
    assert {s["set"] for s in same["promotion"]["sets"]} == {"candidate_holdout", "live_reference"}

    bad = train_csv(trainer_api, model, body=corrupted(SAMPLE)).json()
    promotion = bad["promotion"]
    assert promotion["promoted"] is False and promotion["metric"] == "auc", promotion
    assert "worse than live on the live reference set" in promotion["reason"], promotion
    sets = {s["set"]: s for s in promotion["sets"]}
    # On its own (flipped) holdout the broken model looks better than live; on live's rows it is far worse.
    assert sets["candidate_holdout"]["candidate"] > sets["candidate_holdout"]["live"]
    assert sets["live_reference"]["candidate"] < 0.5 < sets["live_reference"]["live"]
    assert statuses.get(bad["job_id"])["promotion"] == promotion  # the job status carries it too

    aliases = requests.get(f"{trainer_api}/models/{model}/aliases", timeout=5).json()["aliases"]
    assert aliases == {"candidate": bad["version"], "live": same["version"]}
    assert store.load(model).version == same["version"]

    # Promote by hand, see it in the history, roll back.
    moved = requests.put(
        f"{trainer_api}/models/{model}/aliases/live", json={"version": bad["version"], "reason": "trust me"}, timeout=10
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["previous_version"] == same["version"] and moved.json()["by"]["request_id"]
    history = requests.get(f"{trainer_api}/models/{model}/aliases/live/history", timeout=5).json()["history"]
    assert [h["version"] for h in history] == [bad["version"], same["version"], good["version"]]
    assert history[0]["reason"] == "trust me" and history[1]["by"]["job_id"] == same["job_id"]
    back = requests.post(f"{trainer_api}/models/{model}/rollback", timeout=10).json()
    assert back["version"] == same["version"]

    never = train_csv(trainer_api, model, promote="never").json()["promotion"]
    assert never["promoted"] is False and "never" in never["reason"]
    always = train_csv(trainer_api, model, body=corrupted(SAMPLE), promote="always").json()
    assert always["promotion"]["promoted"] is True
    assert store.aliases.version_of(model, "live") == always["version"]


def test_alias_routes_refuse_what_they_cannot_do(trainer_api, unique):
    model = f"alias-{unique}"
    first = train_csv(trainer_api, model).json()
    cases = [
        (requests.put, f"/models/{model}/aliases/Live", {"version": first["version"]}, 400, "invalid alias"),
        (requests.put, f"/models/{model}/aliases/canary", {}, 400, '"version"'),
        (requests.put, f"/models/{model}/aliases/canary", {"version": "nope"}, 404, "no version"),
        (requests.delete, f"/models/{model}/aliases/live", None, 409, "cannot be removed"),
        (requests.delete, f"/models/{model}/aliases/canary", None, 404, "no alias"),
        (requests.get, f"/models/{model}/aliases/canary/history", None, 404, "no alias"),
        (requests.get, f"/models/nobody-{unique}/aliases", None, 404, "no model"),
    ]
    for call, path, body, status, mentions in cases:
        resp = call(f"{trainer_api}{path}", json=body, timeout=10)
        assert resp.status_code == status and mentions in resp.json()["error"]["message"], (path, resp.text)
    # positive control: the same canary alias set, listed, removed, its history kept
    ok = requests.put(f"{trainer_api}/models/{model}/aliases/canary", json={"version": first["version"]}, timeout=10)
    assert ok.status_code == 200, ok.text
    assert requests.delete(f"{trainer_api}/models/{model}/aliases/canary", timeout=10).status_code == 200
    history = requests.get(f"{trainer_api}/models/{model}/aliases/canary/history", timeout=5).json()["history"]
    assert [h["version"] for h in history] == [None, first["version"]]


def test_over_budget_dataset_is_trained_by_the_worker(start_proc, proc_env, trainer_worker, statuses, store, unique):
    small_budget = start_api(
        start_proc, "trainer", {**proc_env, "FML_SYNC_TRAIN_MAX_ROWS": "500"}, name="trainer-api-small-budget"
    )
    model = f"async-{unique}"
    resp = train_csv(small_budget, model)
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    assert resp.headers["Location"] == f"/training-jobs/{job_id}"
    record = wait_for(
        lambda: (r := statuses.get(job_id)) and r["state"] in ("succeeded", "failed") and r,
        timeout=30,
        what="the queued training job",
    )
    assert record["state"] == "succeeded", record
    assert versions_of(store, model)[0]["version"] == record["model_version"]


def test_json_body_trains_from_a_dataset_in_s3(aws, settings, trainer_api, unique):
    key = f"pq-{unique}/churn.parquet"
    buf = io.BytesIO()
    pd.read_csv(io.BytesIO(SAMPLE)).to_parquet(buf)
    aws.s3.put_object(Bucket=settings.datasets_bucket, Key=key, Body=buf.getvalue())
    resp = requests.post(
        f"{trainer_api}/models/pq-{unique}/train",
        json={"dataset": f"s3://{settings.datasets_bucket}/{key}", "target": "churned", "num_boost_round": 30},
        timeout=60,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["dataset"]["uri"].endswith(".parquet")


def test_dataset_option_names_only_the_models_own_data(aws, settings, trainer_api, unique):
    """Another bucket, another model's data, the platform's _ keys: 400 before any read.
    Control: the same object under the model's own prefix trains."""
    model = f"own-{unique}"
    for bucket, key in (
        (settings.datasets_bucket, f"{model}/churn.csv"),
        (settings.datasets_bucket, f"other-{unique}/churn.csv"),
        (settings.datasets_bucket, f"_api/{model}/churn.csv"),
        (settings.models_bucket, f"{model}/churn.csv"),
    ):
        aws.s3.put_object(Bucket=bucket, Key=key, Body=SAMPLE)

    def train_from(uri: str) -> requests.Response:
        body = {"dataset": uri, "target": "churned", "num_boost_round": 10}
        return requests.post(f"{trainer_api}/models/{model}/train", json=body, timeout=60)

    for uri in (
        f"s3://{settings.datasets_bucket}/other-{unique}/churn.csv",
        f"s3://{settings.datasets_bucket}/_api/{model}/churn.csv",
        f"s3://{settings.models_bucket}/{model}/churn.csv",
    ):
        resp = train_from(uri)
        assert resp.status_code == 400, (uri, resp.text)
        assert "must be an object of this model" in resp.json()["error"]["message"]
        assert "churned" not in resp.text  # nothing of the refused data leaks back
    assert train_from(f"s3://{settings.datasets_bucket}/{model}/churn.csv").status_code == 201


JUNK = SAMPLE.replace(b"\n42,69.07,", b"\n42,lots,", 1)


@pytest.mark.parametrize(
    ("request_kwargs", "status", "error_type", "mentions"),
    [
        ({"params": {"target": "nope"}}, 400, "InvalidInput", "nope"),
        ({"data": JUNK}, 400, "InvalidInput", "monthly_charges"),
        ({"data": b""}, 400, "InvalidInput", "empty"),
        ({"data": b"tenure,churned\n"}, 400, "InvalidInput", "no data rows"),
        ({"headers": {"Content-Type": "application/pdf"}}, 415, "UnsupportedMediaType", "application/pdf"),
        ({"model": "Bad Name"}, 400, "InvalidInput", "invalid model name"),
        ({"data": b"x" * (10 * 1024 * 1024 + 1)}, 413, "PayloadTooLarge", "limit"),
        ({"json_raw": b'{"dataset": "s3://b/k.csv",'}, 400, "InvalidInput", "malformed JSON"),
        ({"params": {"params": '{"max_detph": 3}'}}, 400, "InvalidInput", "max_detph"),
        ({"params": {"colour": "red"}}, 400, "InvalidInput", "colour"),
        (
            {"json_raw": json.dumps({"dataset": "s3://nowhere-bucket/x.csv"}).encode()},
            400,
            "InvalidInput",
            "datasets bucket",
        ),
    ],
    ids=[
        "missing-target",
        "junk-in-numeric",
        "empty-body",
        "header-only",
        "unsupported-type",
        "invalid-model-name",
        "over-body-limit",
        "malformed-json",
        "unknown-xgb-param",
        "unknown-option",
        "missing-dataset",
    ],
)
def test_bad_input_gets_a_clear_error_and_no_model_version(
    trainer_api, store, unique, request_kwargs, status, error_type, mentions
):
    model = request_kwargs.get("model", f"bad-{unique}")
    headers = request_kwargs.get("headers", {"Content-Type": "text/csv"})
    data = request_kwargs.get("data", SAMPLE)
    if "json_raw" in request_kwargs:
        headers, data = {"Content-Type": "application/json"}, request_kwargs["json_raw"]
    resp = requests.post(
        f"{trainer_api}/models/{model}/train",
        params={"target": "churned", **request_kwargs.get("params", {})},
        data=data,
        headers=headers,
        timeout=60,
    )
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["type"] == error_type
    assert mentions in error["message"]
    if model == f"bad-{unique}":
        assert versions_of(store, model) == []


@pytest.mark.parametrize(
    ("metadata", "body", "mentions"),
    [
        ({"target": "nope"}, SAMPLE, "nope"),
        ({"target": "churned"}, JUNK, "monthly_charges"),
        ({"target": "churned"}, b"", "empty"),
        ({"target": "churned", "params": '{"depth": 3}'}, SAMPLE, "depth"),
    ],
    ids=["missing-target", "junk-in-numeric", "empty-file", "unknown-param"],
)
def test_bad_dropped_dataset_fails_its_job_and_writes_no_version(
    user, aws, settings, statuses, store, trainer_worker, unique, metadata, body, mentions
):
    model = f"badrop-{unique}"
    key = f"{model}/data.csv"
    version = drop(user, settings, key, body, **metadata)
    job_id = job_id_for("train", settings.datasets_bucket, key, version)
    record = wait_for(
        lambda: (r := statuses.get(job_id)) and r["state"] in ("succeeded", "failed") and r,
        timeout=30,
        what="the job to fail",
    )
    assert record["state"] == "failed"
    assert mentions in record["error"]["message"]
    assert versions_of(store, model) == []


def test_redelivered_job_makes_one_version(
    aws, settings, statuses, store, trainer_worker, start_proc, proc_env, unique
):
    # Two workers receive the copies at the same time: the job lease lets only one train.
    second = start_proc(f"trainer-worker-{unique}", [sys.executable, "-m", "trainer.worker"], proc_env)
    wait_for(lambda: "worker started" in second.log(), 20, what="the second worker")
    model = f"dup-{unique}"
    key = f"_tests/{model}.csv"
    version = aws.s3.put_object(Bucket=settings.datasets_bucket, Key=key, Body=SAMPLE)["VersionId"]
    job = JobMessage.new("train", model, InputRef(settings.datasets_bucket, key, version), {"target": "churned"})
    for _ in range(3):  # the same message delivered three times
        aws.sqs.send_message(QueueUrl=settings.train_queue_url, MessageBody=job.to_json())
    wait_for(lambda: (r := statuses.get(job.job_id)) and r["state"] == "succeeded", 30, what="the job")
    time.sleep(3)  # let the duplicates be received and skipped
    assert len(versions_of(store, model)) == 1
    assert statuses.get(job.job_id)["attempts"] == 1
    second.stop()


def test_worker_exits_0_on_sigterm(start_proc, proc_env):
    worker = start_proc("trainer-worker-sigterm", [sys.executable, "-m", "trainer.worker"], proc_env)
    wait_for(lambda: "worker started" in worker.log(), 20, what="the worker to start")
    worker.signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=15) == 0, worker.log()
    assert "worker stopped" in worker.log()


def abandoned_sync_record(settings, model: str, job_id: str, started_minutes_ago: float) -> dict:
    """The record an API process leaves when it dies (or cannot write the status) mid-training."""
    from datetime import UTC, datetime, timedelta

    from fmlcore.jobs.lifecycle import SYNC_NOTE
    from fmlcore.jobs.status import RUNNING, JobRecord

    job = JobMessage.new("train", model, InputRef(settings.datasets_bucket, f"{model}/x.csv", "v1"), {}, "api", job_id)
    record = JobRecord.new(job).moved(RUNNING, note=SYNC_NOTE).to_dict()
    started = datetime.now(UTC) - timedelta(minutes=started_minutes_ago)
    return {**record, "started_at": started.strftime("%Y-%m-%dT%H:%M:%S.000Z")}


def test_an_abandoned_synchronous_training_is_settled_when_read(settings, trainer_api, store, statuses, unique):
    """Stored model, no status write (or a dead API process): reading the job settles it from the
    models bucket. Control: a synchronous training still within its budget stays running."""
    from trainer.training import TrainOptions, prepare, train

    stored, lost, fresh = (f"train-{unique}{'0' * 21}{i}" for i in range(3))
    frame = pd.read_csv(io.BytesIO(SAMPLE))
    opts = TrainOptions.from_job({"target": "churned", "num_boost_round": 5})
    trained = train(prepare(frame, opts), opts)
    version = store.save(f"stored-{unique}", trained.booster, {**trained.metadata, "job_id": stored})
    statuses.put(abandoned_sync_record(settings, f"stored-{unique}", stored, 10))
    statuses.put(abandoned_sync_record(settings, f"lost-{unique}", lost, 10))
    statuses.put(abandoned_sync_record(settings, f"fresh-{unique}", fresh, 0))

    def read(job_id: str) -> dict:
        return requests.get(f"{trainer_api}/training-jobs/{job_id}", timeout=10).json()

    settled = read(stored)
    assert settled["state"] == "succeeded" and settled["model_version"] == version, settled
    assert statuses.get(stored)["state"] == "succeeded"  # written back, not only answered
    failed = read(lost)
    assert failed["state"] == "failed" and failed["error"]["type"] == "Abandoned", failed
    assert read(fresh)["state"] == "running"
