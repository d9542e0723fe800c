"""Both prediction flows against the running stack: real gunicorn, real worker, real Lambda, real xgboost."""

import csv
import io
import json
import math
import os
import sys
import time

import numpy as np
import pandas as pd
import pytest
import requests

from fmlcore.core.errors import NotFound
from fmlcore.core.layout import LIVE
from fmlcore.jobs.message import job_id_for
from fmlcore.ml.model_store import ModelStore
from fmldev.sample_data import write as write_sample
from tests.status_records import StatusRecords
from trainer.training import TrainOptions, prepare, train

from ..conftest import ROOT
from .conftest import wait_for

pytestmark = pytest.mark.emulator

SAMPLE = pd.read_csv(ROOT / "samples" / "churn.csv")
FEATURES = [c for c in SAMPLE.columns if c != "churned"]


def train_version(store: ModelStore, model: str, live: bool = True, **params) -> str:
    """A new version of `model`, made `live` unless told not to."""
    opts = TrainOptions.from_job({"target": "churned", "params": params, "num_boost_round": 50})
    trained = train(prepare(SAMPLE, opts), opts)
    version = store.save(model, trained.booster, {**trained.metadata, "job_id": f"test-{model}"})
    if live:
        store.move_alias(model, LIVE, version, {"source": "test"}, "test version")
    return version


@pytest.fixture(scope="module")
def store(aws, settings) -> ModelStore:
    return ModelStore(aws.s3, settings.models_bucket, latest_ttl_seconds=0)


@pytest.fixture(scope="module")
def model(store, unique_module) -> tuple[str, str]:
    name = f"pred-{unique_module}"
    return name, train_version(store, name, max_depth=3)


@pytest.fixture(scope="module")
def unique_module() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


def rows(n: int = 5) -> pd.DataFrame:
    return SAMPLE[FEATURES].head(n)


def predict(api: str, model: str, **kwargs) -> requests.Response:
    return requests.post(f"{api}/models/{model}/predict", timeout=30, **kwargs)


def test_records_instances_and_csv_give_identical_predictions(predictor_api, model):
    name, version = model
    frame = rows(20)
    records = json.loads(frame.to_json(orient="records"))
    by_records = predict(predictor_api, name, json={"records": records})
    by_instances = predict(predictor_api, name, json={"instances": json.loads(frame.to_json(orient="values"))})
    by_csv = predict(predictor_api, name, data=frame.to_csv(index=False), headers={"Content-Type": "text/csv"})
    for resp in (by_records, by_instances, by_csv):
        assert resp.status_code == 200, resp.text
        assert resp.json()["model_version"] == version
    assert by_records.json()["predictions"] == by_instances.json()["predictions"] == by_csv.json()["predictions"]
    first = by_records.json()["predictions"][0]
    assert set(first) == {"prediction", "probabilities"} and set(first["probabilities"]) == {"0", "1"}
    assert abs(sum(first["probabilities"].values()) - 1) < 1e-9


def test_prediction_is_stored_and_retrievable(predictor_api, model, aws, settings):
    name, version = model
    resp = predict(predictor_api, name, json={"records": json.loads(rows(3).to_json(orient="records"))})
    body = resp.json()
    assert body["stored_uri"].startswith(f"s3://{settings.predictions_bucket}/online/{name}/")
    stored = requests.get(f"{predictor_api}/predictions/{body['prediction_id']}", timeout=10).json()
    assert stored["model_version"] == version
    assert stored["predictions"] == body["predictions"]
    assert stored["input"]["format"] == "records" and len(stored["input"]["sha256"]) == 64
    assert requests.get(f"{predictor_api}/predictions/20260101-{'0' * 32}-{name}", timeout=5).status_code == 404
    assert requests.get(f"{predictor_api}/predictions/not-an-id", timeout=5).status_code == 404


def test_a_day_of_online_predictions_reads_as_one_dataset(predictor_api, model, user, settings):
    """The stored lines are an analysis dataset: pyarrow.dataset reads a model's day from S3,
    with the Hive partitions (dt, hour) as columns, under the user role."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    from fmlcore.core.aws import local_endpoint

    name, version = model
    sent = [predict(predictor_api, name, json={"records": json.loads(rows(n).to_json(orient="records"))}).json()
            for n in (1, 2, 3)]  # fmt: skip
    day = sent[0]["prediction_id"][:8]
    creds = user.credentials()
    endpoint = local_endpoint()
    s3fs = pafs.S3FileSystem(
        access_key=creds.access_key, secret_key=creds.secret_key, session_token=creds.token,
        endpoint_override=endpoint.split("://", 1)[1], scheme=endpoint.split("://", 1)[0], region=settings.region,
        tls_ca_file_path=settings.ca_bundle,
    )  # fmt: skip
    partitions = ds.partitioning(pa.schema([("dt", pa.string()), ("hour", pa.int32())]), flavor="hive")
    dataset = ds.dataset(f"{settings.predictions_bucket}/online/{name}", filesystem=s3fs, format="json",
                         partitioning=partitions)  # fmt: skip
    table = dataset.to_table(filter=ds.field("dt") == f"{day[:4]}-{day[4:6]}-{day[6:]}")
    by_id = {row["prediction_id"]: row for row in table.to_pylist()}
    for body in sent:
        row = by_id[body["prediction_id"]]
        assert row["model_version"] == version and row["input"]["format"] == "records"
        assert len(row["predictions"]) == len(body["predictions"])
    assert set(table.column_names) >= {"prediction_id", "model_version", "input", "predictions", "dt", "hour"}
    assert set(table.column("hour").to_pylist()) == {int(body["prediction_id"][8:10]) for body in sent}


def test_pinned_version_and_new_latest_without_restart(predictor_api, store, unique):
    name = f"pin-{unique}"
    old = train_version(store, name, max_depth=1)
    payload = {"records": json.loads(rows(10).to_json(orient="records"))}
    first = predict(predictor_api, name, json=payload).json()
    assert first["model_version"] == old
    new = train_version(store, name, max_depth=6)
    latest = wait_for(
        lambda: (b := predict(predictor_api, name, json=payload).json())["model_version"] == new and b,
        timeout=10,
        what="the new latest version to be picked up",
    )
    assert latest["predictions"] != first["predictions"]
    pinned = predict(predictor_api, name, json=payload, params={"version": old}).json()
    assert pinned["model_version"] == old and pinned["predictions"] == first["predictions"]


def test_aliases_choose_the_version_and_shadow_outputs_are_stored_and_reported(predictor_api, store, unique):
    name = f"shadow-{unique}"
    live = train_version(store, name, max_depth=1)
    other = train_version(store, name, live=False, max_depth=6)
    payload = {"records": json.loads(rows(10).to_json(orient="records"))}
    served = predict(predictor_api, name, json=payload).json()
    assert (served["model_version"], served["alias"]) == (live, "live")  # live, not the newest version
    store.move_alias(name, "canary", other, {"source": "test"}, "test")
    canary = predict(predictor_api, name, json=payload, params={"alias": "canary"}).json()
    assert (canary["model_version"], canary["alias"]) == (other, "canary")
    assert predict(predictor_api, name, json={**payload, "alias": "canary"}).json()["model_version"] == other
    both = predict(predictor_api, name, json=payload, params={"alias": "canary", "version": live})
    assert both.status_code == 400 and "not both" in both.json()["error"]["message"]
    nowhere = predict(predictor_api, name, json=payload, params={"alias": "nowhere"})
    assert nowhere.status_code == 404 and "no alias 'nowhere'" in nowhere.json()["error"]["message"]
    assert "shadow" not in predict(predictor_api, name, json=payload).json()  # no shadow alias yet

    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    store.move_alias(name, "shadow", other, {"source": "test"}, "test")
    first = wait_for(  # the predictor re-reads the aliases it serves every FML_MODEL_LATEST_TTL
        lambda: (
            (b := predict(predictor_api, name, json=payload).json())
            and requests.get(f"{predictor_api}/predictions/{b['prediction_id']}", timeout=10).json().get("shadow")
            and b
        ),
        timeout=15,
        what="the shadow alias to be picked up",
    )
    for _ in range(4):
        answer = predict(predictor_api, name, data=rows(10).to_csv(index=False), headers={"Content-Type": "text/csv"})
        assert answer.json()["model_version"] == live and "shadow" not in answer.json()
    stored = requests.get(f"{predictor_api}/predictions/{first['prediction_id']}", timeout=10).json()
    assert stored["model_version"] == live and stored["predictions"] == first["predictions"]
    assert stored["shadow"]["model_version"] == other and len(stored["shadow"]["predictions"]) == 10
    report = requests.get(f"{predictor_api}/models/{name}/shadow-report", params={"since": since}, timeout=30).json()
    assert report["requests_compared"] >= 5 and report["predictions_compared"] == 10 * report["requests_compared"]
    assert report["live_versions"] == {live: report["requests_compared"]}
    assert report["shadow_versions"] == {other: report["requests_compared"]}
    assert 0 <= report["labels_equal_share"] <= 1 and report["shadow_errors"] == 0
    assert 0 < report["abs_delta"]["mean"] <= report["abs_delta"]["p95"] <= report["abs_delta"]["max"] <= 1
    # The deltas are what the two models say: recompute one row from the stored line.
    row_live, row_shadow = (
        stored["predictions"][0]["probabilities"],
        stored["shadow"]["predictions"][0]["probabilities"],
    )
    assert max(abs(row_live[c] - row_shadow[c]) for c in row_live) <= report["abs_delta"]["max"]
    bad = requests.get(f"{predictor_api}/models/{name}/shadow-report", params={"since": "yesterday"}, timeout=10)
    assert bad.status_code == 400 and "ISO 8601" in bad.json()["error"]["message"]


def test_a_model_without_live_is_404_until_one_is_promoted(predictor_api, store, unique):
    name = f"nolive-{unique}"
    version = train_version(store, name, live=False)
    payload = {"records": _recs()}
    resp = predict(predictor_api, name, json=payload)
    assert resp.status_code == 404 and "no alias 'live'" in resp.json()["error"]["message"]
    assert predict(predictor_api, name, json=payload, params={"version": version}).status_code == 200
    store.move_alias(name, LIVE, version, {"source": "test"}, "promoted")
    assert predict(predictor_api, name, json=payload).json()["model_version"] == version


@pytest.mark.parametrize(
    ("make_request", "status", "mentions"),
    [
        (lambda m: {"json": {"records": [{k: v for k, v in r.items() if k != "contract"} for r in _recs()]}}, 400, "contract"),
        (lambda m: {"json": {"records": [{**r, "colour": "red"} for r in _recs()]}}, 400, "colour"),
        (lambda m: {"json": {"records": [{**r, "tenure_months": "long"} for r in _recs()]}}, 400, "tenure_months"),
        (lambda m: {"json": {"instances": [[1, 2, 3]]}}, 400, "6 values"),
        (lambda m: {"data": b"", "headers": {"Content-Type": "application/json"}}, 400, "empty"),
        (lambda m: {"data": b"{nope", "headers": {"Content-Type": "application/json"}}, 400, "malformed JSON"),
        (lambda m: {"json": {"records": [], "instances": []}}, 400, "exactly one"),
        (lambda m: {"data": b"x" * (10 * 1024 * 1024 + 1), "headers": {"Content-Type": "text/csv"}}, 413, "limit"),
        (lambda m: {"data": b"<a/>", "headers": {"Content-Type": "application/xml"}}, 415, "application/xml"),
        (lambda m: {"json": {"records": _recs(), "version": "no-such-version"}}, 404, "no version"),
        (lambda m: {"json": {"records": _recs() * 5001}}, 413, "limit of 10000 rows"),
        (lambda m: {"json": {"instances": [list(_recs()[0].values())] * 10001}}, 413, "limit of 10000 rows"),
        (lambda m: {"data": ",".join(f"c{i}" for i in range(2001)).encode() + b"\n", "headers": {"Content-Type": "text/csv"}}, 413, "limit of 2000 columns"),
        (lambda m: {"data": b"a\n" + b"1\n" * 10001, "headers": {"Content-Type": "text/csv"}}, 413, "limit of 10000 rows"),
        (lambda m: {"json": {"records": [{f"k{i}": i} for i in range(5_000)]}}, 400, "record 0 has unexpected column(s) k0"),
        (lambda m: {"json": {"records": [{**r, "tenure_months": {"deep": [1]}} for r in _recs()]}}, 400, "JSON scalars"),
        (lambda m: {"json": {"instances": [[[1]] * 6]}}, 400, "JSON scalars"),
        (lambda m: {"data": b'{"records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "headers": {"Content-Type": "application/json"}}, 400, "nested too deeply"),
        (lambda m: {"json": {"records": _recs(), "version": "v" * 2000}}, 400, "invalid model version"),
        (lambda m: {"json": {"records": _recs()}, "params": {"version": "a b/../c"}}, 400, "invalid model version"),
    ],
    ids=["missing-column", "extra-column", "wrong-type", "short-instance", "empty-body", "malformed-json",
         "two-inputs", "over-limit", "unsupported-type", "unknown-version", "too-many-records", "too-many-instances",
         "too-many-csv-columns", "too-many-csv-rows", "distinct-key-per-record", "nested-value", "nested-instance",
         "deep-json", "long-version", "version-shape"],
)  # fmt: skip
def test_bad_requests_get_clear_errors(predictor_api, model, make_request, status, mentions):
    resp = predict(predictor_api, model[0], **make_request(model))
    assert resp.status_code == status, resp.text
    assert mentions in resp.json()["error"]["message"]


def _recs():
    return json.loads(rows(2).to_json(orient="records"))


def test_failed_loads_leave_nothing_behind(store, model):
    """A loop of unknown versions grows no per-version state; control: a good load is cached."""
    name, version = model
    for i in range(50):
        with pytest.raises(NotFound):
            store.load(name, f"no-such-version-{i}")
    assert store._loading == {}
    assert store.load(name, version).version == version
    assert (name, version) in store._boosters and store._loading == {}


def test_unknown_model_is_404(predictor_api):
    resp = predict(predictor_api, "no-such-model-here", json={"records": _recs()})
    assert resp.status_code == 404 and resp.json()["error"]["type"] == "NotFound"


def scoring_file(path, n, seed=11):
    write_sample(path, n, score=True, seed=seed)
    return path


def drop_and_wait(aws, settings, key, body, timeout=60, **metadata):
    version = aws.s3.put_object(Bucket=settings.inference_bucket, Key=key, Body=body, Metadata=metadata)["VersionId"]
    statuses = StatusRecords(aws.s3, settings.predictions_bucket)
    job_id = job_id_for("predict", settings.inference_bucket, key, version)
    return wait_for(
        lambda: (r := statuses.get(job_id)) and r["state"] in ("succeeded", "failed") and r,
        timeout=timeout,
        what=f"prediction job for {key}",
    )


def read_output(aws, settings, key) -> bytes:
    return aws.s3.get_object(Bucket=settings.predictions_bucket, Key=key)["Body"].read()


def test_batch_file_with_three_bad_rows(user, aws, settings, model, predictor_worker, tmp_path):
    name, version = model
    path = scoring_file(tmp_path / "in.csv", 1000)
    lines = path.read_text().splitlines()

    # File lines are 1-based with the header on line 1: break lines 10, 500 and 1001 (the last).
    def set_field(line_no: int, column: int, value: str) -> None:
        parts = lines[line_no - 1].split(",")
        parts[column] = value
        lines[line_no - 1] = ",".join(parts)

    set_field(10, 1, "not-a-number")  # tenure_months
    lines[499] += ",an,extra,field"  # line 500: too many fields
    set_field(1001, 2, "12.x")  # monthly_charges
    record = drop_and_wait(user, settings, f"{name}/jan.csv", ("\n".join(lines) + "\n").encode())
    assert record["state"] == "succeeded", record
    assert record["metrics"]["rows_total"] == 1000
    assert record["metrics"]["rows_scored"] == 997 and record["metrics"]["rows_failed"] == 3
    assert record["model_version"] == version

    out = pd.read_csv(io.BytesIO(read_output(aws, settings, f"batch/{name}/jan.predictions.csv")), dtype=str)
    assert len(out) == 997
    assert list(out.columns[:7]) == ["customer_id", *FEATURES]
    assert {"prediction", "probability_0", "probability_1"} <= set(out.columns)
    source = pd.read_csv(path, dtype=str)
    assert out["customer_id"].tolist() == [c for i, c in enumerate(source["customer_id"]) if i not in (8, 498, 999)]
    errors = list(csv.DictReader(io.StringIO(read_output(aws, settings, f"batch/{name}/jan.errors.csv").decode())))
    assert [int(e["line"]) for e in errors] == [10, 500, 1001]
    assert "tenure_months" in errors[0]["reason"] and "fields" in errors[1]["reason"]


@pytest.mark.parametrize("ext", [".parquet", ".jsonl"])
def test_batch_parquet_and_jsonl_keep_their_format(user, aws, settings, model, predictor_worker, tmp_path, ext):
    name, _ = model
    frame = pd.read_csv(scoring_file(tmp_path / "in.csv", 300), dtype={"customer_id": str})
    buf = io.BytesIO()
    if ext == ".parquet":
        frame.to_parquet(buf)
    else:
        buf.write(frame.to_json(orient="records", lines=True).encode())
    record = drop_and_wait(user, settings, f"{name}/feb{ext}", buf.getvalue())
    assert record["state"] == "succeeded", record
    raw = read_output(aws, settings, f"batch/{name}/feb.predictions{ext}")
    out = pd.read_parquet(io.BytesIO(raw)) if ext == ".parquet" else pd.read_json(io.BytesIO(raw), lines=True)
    assert len(out) == 300 and "prediction" in out.columns
    assert out["customer_id"].astype(str).tolist() == frame["customer_id"].tolist()


def test_batch_for_unknown_model_fails_with_an_error_record(user, aws, settings, predictor_worker, tmp_path, unique):
    path = scoring_file(tmp_path / "in.csv", 10)
    record = drop_and_wait(user, settings, f"ghost-{unique}/x.csv", path.read_bytes())
    assert record["state"] == "failed" and record["error"]["type"] == "NotFound"
    errors = read_output(aws, settings, f"batch/ghost-{unique}/x.errors.csv").decode()
    assert "no model" in errors


@pytest.mark.parametrize(
    ("name", "body", "mentions"),
    [
        ("no-newline.csv", b"a" * (40 << 20), "header line is longer than"),
        ("long-line.csv", None, "cannot read the csv file"),
        ("long-line.jsonl", b'{"a": "' + b"x" * (40 << 20) + b'"}\n', "line 1 is longer than"),
    ],
    ids=["40MB-header", "40MB-csv-line", "40MB-json-line"],
)
def test_a_40mb_line_fails_the_job_on_its_first_attempt(user, settings, model, predictor_worker, tmp_path, name,
                                                        body, mentions):  # fmt: skip
    if body is None:  # a good header and first row, then one 40 MB line
        body = scoring_file(tmp_path / "in.csv", 3).read_bytes() + b"x" * (40 << 20) + b"\n"
    record = drop_and_wait(user, settings, f"{model[0]}/{name}", body, timeout=120)
    assert record["state"] == "failed" and record["attempts"] == 1, record  # permanent: no retry
    assert mentions in record["error"]["message"].lower(), record["error"]


def test_batch_pins_a_version_from_metadata(user, aws, settings, store, predictor_worker, tmp_path, unique):
    name = f"bpin-{unique}"
    old = train_version(store, name, max_depth=1)
    train_version(store, name, max_depth=4)
    path = scoring_file(tmp_path / "in.csv", 20)
    record = drop_and_wait(user, settings, f"{name}/x.csv", path.read_bytes(), model_version=old)
    assert record["state"] == "succeeded" and record["model_version"] == old
    store.move_alias(name, "canary", old, {"source": "test"}, "test")
    by_alias = drop_and_wait(user, settings, f"{name}/y.csv", path.read_bytes(), alias="canary")
    assert by_alias["state"] == "succeeded" and by_alias["model_version"] == old
    by_live = drop_and_wait(user, settings, f"{name}/z.csv", path.read_bytes())
    assert by_live["state"] == "succeeded" and by_live["model_version"] != old  # control: live is the newer one


def test_explanations_online_and_in_batch_sum_to_the_margin(user, predictor_api, aws, settings, model,
                                                            predictor_worker, tmp_path):  # fmt: skip
    """?explain=true (online) and --metadata explain=true (batch) add TreeSHAP contributions whose
    sum is each row's log-odds; without the option nothing is added (the control)."""
    name, _ = model
    payload = {"records": json.loads(rows(5).to_json(orient="records"))}
    plain = predict(predictor_api, name, json=payload).json()["predictions"]
    explained = predict(predictor_api, name, json=payload, params={"explain": "true"}).json()["predictions"]
    assert "contributions" not in plain[0]
    for row in explained:
        p = row["probabilities"]["1"]
        assert set(row["contributions"]) == {*FEATURES, "bias"}
        assert sum(row["contributions"].values()) == pytest.approx(math.log(p / (1 - p)), abs=1e-4)
    bad = predict(predictor_api, name, json=payload, params={"explain": "maybe"})
    assert bad.status_code == 400 and "explain" in bad.json()["error"]["message"]

    record = drop_and_wait(user, settings, f"{name}/explain.csv", scoring_file(tmp_path / "e.csv", 30).read_bytes(),
                           explain="true")  # fmt: skip
    assert record["state"] == "succeeded", record
    out = pd.read_csv(io.BytesIO(read_output(aws, settings, f"batch/{name}/explain.predictions.csv")))
    contribution = [f"contribution_{f}" for f in [*FEATURES, "bias"]]
    assert contribution == [c for c in out.columns if c.startswith("contribution_")]
    logit = np.log(out["probability_1"] / (1 - out["probability_1"]))
    np.testing.assert_allclose(out[contribution].sum(axis=1), logit, atol=1e-4)


def test_prediction_job_status_is_served(user, predictor_api, aws, settings, model, predictor_worker, tmp_path):
    record = drop_and_wait(user, settings, f"{model[0]}/status.csv", scoring_file(tmp_path / "s.csv", 5).read_bytes())
    served = requests.get(f"{predictor_api}/prediction-jobs/{record['job_id']}", timeout=5).json()
    assert served["state"] == "succeeded" and served["outputs"]["predictions_uri"].endswith("status.predictions.csv")


def test_million_row_batch_completes(
    user, aws, settings, model, start_proc, proc_env, predictor_worker, tmp_path, capsys
):
    """1M rows through the whole path; the worker's peak RSS is reported (not asserted)."""
    name, _ = model
    predictor_worker.stop()  # so that the fresh worker below is the one that scores the file
    worker = start_proc("predictor-worker-1m", [sys.executable, "-m", "predictor.worker"], proc_env)
    wait_for(lambda: "worker started" in worker.log(), 20, what="the worker")
    path = scoring_file(tmp_path / "big.csv", 1_000_000, seed=5)
    started = time.monotonic()
    record = drop_and_wait(user, settings, f"{name}/big.csv", path.read_bytes(), timeout=600)
    elapsed = time.monotonic() - started
    assert record["state"] == "succeeded", record
    assert record["metrics"]["rows_scored"] == 1_000_000
    peak_kib = _peak_rss_kib(worker.proc.pid)
    with capsys.disabled():
        sys.stderr.write(
            f"\n[1M-row batch] {os.path.getsize(path) / 1e6:.1f} MB, worker {record['metrics']['seconds']} s "
            f"({record['metrics']['rows_per_second']} rows/s), drop→done {elapsed:.1f} s, "
            f"worker peak RSS {peak_kib / 1024:.0f} MiB\n"
        )


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
