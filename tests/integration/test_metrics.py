"""Metrics against the running stack: the predictor API's /metrics under real gunicorn with two
worker processes, and a real predictor worker's EMF line for a batch job.

The API's multiprocess directory is named here (PROMETHEUS_MULTIPROC_DIR), so the test can read each
worker process's own file and see that both served requests, while /metrics, answered by either
one, shows their sum.
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from fmlcore.core.layout import LIVE
from fmlcore.jobs.message import job_id_for
from fmlcore.ml.model_store import ModelStore
from fmldev.procs import free_port
from fmldev.sample_data import write as write_sample
from tests.emf import emf_problems
from tests.status_records import StatusRecords
from trainer.training import TrainOptions, prepare, train

from ..conftest import ROOT
from .conftest import BIN, wait_for

pytestmark = pytest.mark.emulator

SAMPLE = pd.read_csv(ROOT / "samples" / "churn.csv")
FEATURES = [c for c in SAMPLE.columns if c != "churned"]
PREDICT_ROUTE = "/models/<model>/predict"


@pytest.fixture(scope="module")
def model(aws, settings, unique_module) -> tuple[str, str]:
    """A fixture model made `live`: (name, version)."""
    name = f"metrics-{unique_module}"
    store = ModelStore(aws.s3, settings.models_bucket, latest_ttl_seconds=0)
    opts = TrainOptions.from_job({"target": "churned", "params": {"max_depth": 3}, "num_boost_round": 30})
    trained = train(prepare(SAMPLE, opts), opts)
    version = store.save(name, trained.booster, {**trained.metadata, "job_id": f"test-{name}"})
    store.move_alias(name, LIVE, version, {"source": "test"}, "metrics test version")
    return name, version


@pytest.fixture(scope="module")
def unique_module() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def prometheus_dir(tmp_path_factory) -> Path:
    """The API's multiprocess directory, holding the counts of an earlier run (another process's
    file): gunicorn must empty it at start, or that run's counts would add up with this one's."""
    directory = tmp_path_factory.mktemp("prometheus")
    earlier_run = "from fmlcore.web import metrics; metrics.PREDICT_ROWS.labels('stale').inc(1000)"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", earlier_run], env=env, check=True)
    assert list(directory.glob("counter_*.db")), "the earlier run's counts were not written"
    return directory


@pytest.fixture(scope="module")
def predictor_api(start_proc, proc_env, prometheus_dir) -> str:
    """The predictor API under gunicorn with two worker processes."""
    port = free_port()
    env = {**proc_env, "FML_BIND": f"127.0.0.1:{port}", "FML_WEB_WORKERS": "2", "FML_WEB_THREADS": "4",
           "PROMETHEUS_MULTIPROC_DIR": str(prometheus_dir)}  # fmt: skip
    proc = start_proc(
        "predictor-api-metrics",
        [str(BIN / "gunicorn"), "-c", "python:predictor.gunicorn_conf", "predictor.api:create_app()"],
        env,
    )
    base = f"http://127.0.0.1:{port}"
    proc.wait_healthy(f"{base}/health", timeout=30)
    wait_for(lambda: proc.log().count("Booting worker") >= 2, 30, what="two gunicorn workers")
    return base


def scrape(api: str) -> list:
    resp = requests.get(f"{api}/metrics", timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(resp.text) for s in family.samples]


def total(samples, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def per_process(directory: Path, name: str, **labels: str) -> dict[str, float]:
    """`name`'s total in each process's own counter file (pid → value)."""
    out = {}
    for path in directory.glob("counter_*.db"):
        samples = [s for metric in MultiProcessCollector.merge([str(path)]) for s in metric.samples]
        out[path.stem.removeprefix("counter_")] = total(samples, name, **labels)
    return out


def test_predictions_over_two_workers_are_summed_in_every_scrape(predictor_api, model, prometheus_dir):
    name, version = model
    sent = {"requests": 0, "rows": 0}
    lock = threading.Lock()
    failures: list[str] = []

    def send(n_rows: int) -> None:
        records = json.loads(SAMPLE[FEATURES].head(n_rows).to_json(orient="records"))
        resp = requests.post(f"{predictor_api}/models/{name}/predict", json={"records": records}, timeout=30)
        if resp.status_code != 200 or resp.json()["model_version"] != version:
            failures.append(f"{resp.status_code}: {resp.text[:200]}")
            return
        with lock:
            sent["requests"] += 1
            sent["rows"] += n_rows

    def both_workers_served() -> bool:
        counts = per_process(prometheus_dir, "fml_http_requests_total", route=PREDICT_ROUTE, status="200")
        return sum(1 for value in counts.values() if value > 0) >= 2

    # Concurrent rounds until each worker process has served some (the kernel picks which accepts).
    for _round in range(20):
        threads = [threading.Thread(target=send, args=(1 + i % 3,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failures, failures
        if both_workers_served():
            break
    else:
        pytest.fail(f"one worker process served all {sent['requests']} requests")

    files = per_process(prometheus_dir, "fml_http_requests_total", route=PREDICT_ROUTE, status="200")
    assert sum(files.values()) == sent["requests"]
    for _ in range(6):  # whichever worker answers the scrape, it reports the sum of both
        samples = scrape(predictor_api)
        requests_total = total(samples, "fml_http_requests_total", service="predictor", route=PREDICT_ROUTE)
        assert requests_total == sent["requests"]
        assert (
            total(samples, "fml_http_requests_total", route=PREDICT_ROUTE, method="POST", status="200")
            == sent["requests"]
        )
        assert total(samples, "fml_predict_rows_total", model=name) == sent["rows"]
        assert total(samples, "fml_predict_rows_total", model="stale") == 0  # the earlier run's file was removed
        served = [(s.labels, s.value) for s in samples if s.name == "fml_model_version_served" and s.value == 1]
        assert ({"model": name, "alias": "live", "version": version}, 1.0) in served
        # every request's line was stored in exactly one group-committed object
        assert total(samples, "fml_prediction_group_commit_size_sum") == sent["requests"]
        assert 1 <= total(samples, "fml_prediction_group_commit_size_count") <= sent["requests"]
        duration = total(samples, "fml_http_request_duration_seconds_count", route=PREDICT_ROUTE, method="POST")
        assert duration == sent["requests"]


# ---------------------------------------------------------------------------- the worker's EMF line
@pytest.fixture(scope="module")
def predictor_worker(start_proc, proc_env):
    worker = start_proc("predictor-worker-metrics", [sys.executable, "-m", "predictor.worker"], proc_env)
    wait_for(lambda: "worker started" in worker.log(), 30, what="the predictor worker")
    return worker


def metric_lines(log_path: Path, job_id: str) -> list[dict]:
    lines = []
    for raw in log_path.read_text().splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("logger") == "fml.metrics" and entry.get("job_id") == job_id:
            lines.append(entry)
    return lines


def test_a_batch_job_writes_one_emf_line_with_its_rows(user, settings, model, predictor_worker, tmp_path):
    name, version = model
    rows = 1234
    path = write_sample(tmp_path / "emf.csv", rows, score=True, seed=3)
    key = f"{name}/emf-{int(time.time())}.csv"
    put = user.s3.put_object(Bucket=settings.inference_bucket, Key=key, Body=path.read_bytes())
    job_id = job_id_for("predict", settings.inference_bucket, key, put["VersionId"])
    statuses = StatusRecords(user.s3, settings.predictions_bucket)
    record = wait_for(
        lambda: (r := statuses.get(job_id)) and r["state"] in ("succeeded", "failed") and r, 90, what="the job"
    )
    assert record["state"] == "succeeded", record
    assert record["model_version"] == version

    # the line is written as the attempt ends, just after the status
    if job_id not in predictor_worker.log(1 << 20):  # it logged the job's lines before its status
        pytest.fail(f"this test's worker never ran {job_id}: another worker polls the same queue")
    wait_for(lambda: metric_lines(predictor_worker.log_path, job_id), 15, what="the job's metrics line")
    time.sleep(1)  # a second line for the same job, were there one, would be in by now
    lines = metric_lines(predictor_worker.log_path, job_id)
    assert len(lines) == 1, lines
    [line] = lines
    assert emf_problems(line) == []
    [metric_set] = line["_aws"]["CloudWatchMetrics"]
    assert metric_set["Namespace"] == settings.metrics_namespace
    assert metric_set["Dimensions"] == [["Kind"]]
    assert (line["Kind"], line["outcome"], line["model"]) == ("predict", "succeeded", name)
    assert (line["Succeeded"], line["Failed"], line["Retried"], line["Attempts"]) == (1, 0, 0, 1)
    assert line["Rows"] == rows
    assert line["QueueWaitSeconds"] >= 0
    assert 0 < line["JobSeconds"] < 90
    assert abs(line["_aws"]["Timestamp"] / 1000 - time.time()) < 120
