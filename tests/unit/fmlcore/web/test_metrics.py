"""The APIs' Prometheus metrics (fmlcore.web.metrics), read back the way Prometheus reads them.

Apps are built by the services' own factory (`create_service_app`) on stub AWS clients, driven with
Flask's test client, and `/metrics` is scraped and parsed with prometheus_client's parser. The
predictor's own metrics run its real app on an in-memory versioned S3 with a real (tiny) model.
The multiprocess mode gunicorn uses is shown with real child processes writing into one directory.

The metric objects live in the process's default registry (as under gunicorn, one per process), so
each test uses its own service name or model name, or compares before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import numpy as np
import pytest
import xgboost as xgb
from flask import Blueprint, Flask
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from fmlcore.core.errors import InvalidInput
from fmlcore.core.layout import LIVE
from fmlcore.ml.model_store import ModelStore
from fmlcore.web import metrics
from fmlcore.web.gunicorn import gunicorn_settings, prometheus_hooks
from fmlcore.web.http import create_service_app, json_response
from predictor.api import create_app
from predictor.online import PredictionLog
from tests.apps import SETTINGS, build_app
from tests.unit.fakes import FakeS3, client_error
from tests.unit.fmlcore.ml.versioned_s3 import VersionedS3

ROUTE = "/things/<name>"
SRC = Path(__file__).resolve().parents[4] / "src"


# ---------------------------------------------------------------------------- scraping
def parse(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def scrape(client) -> list[Sample]:
    resp = client.get("/metrics")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == CONTENT_TYPE_PLAIN_0_0_4
    return parse(resp.get_data(as_text=True))


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when there is none)."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def series(samples: list[Sample], name: str) -> list[dict[str, str]]:
    return [s.labels for s in samples if s.name == name]


def tiny_app() -> Flask:
    """An app of the services' factory, with one route of its own that answers 200 or 400."""
    bp = Blueprint("tiny", __name__)

    @bp.get(ROUTE)
    def thing(name: str):
        if name == "bad":
            raise InvalidInput("no such thing as a bad thing")
        return json_response({"name": name})

    service = f"svc_{uuid.uuid4().hex[:8]}"
    return create_service_app(service, SETTINGS, mock.MagicMock(), lambda *_: None, bp, {"paths": {}}, ())


# ---------------------------------------------------------------------------- HTTP requests
def test_requests_are_counted_by_route_pattern_method_and_status():
    app = tiny_app()
    client, service = app.test_client(), app.name
    for name in ("a", "b", "c", "a"):
        assert client.get(f"/things/{name}").status_code == 200
    assert client.get("/things/bad").status_code == 400
    assert client.get("/no/such/route").status_code == 404
    assert client.delete("/things/a").status_code == 405
    assert client.get("/health").status_code == 200

    samples = scrape(client)
    requests = "fml_http_requests_total"
    assert total(samples, requests, service=service, route=ROUTE, method="GET", status="200") == 4
    assert total(samples, requests, service=service, route=ROUTE, method="GET", status="400") == 1
    assert total(samples, requests, service=service, route="<unmatched>", method="GET", status="404") == 1
    assert total(samples, requests, service=service, route="<unmatched>", method="DELETE", status="405") == 1
    assert total(samples, requests, service=service, route="/health", method="GET", status="200") == 1
    assert total(samples, requests, service=service) == 8
    # the raw paths never become labels: one series per route pattern, whatever the names asked
    routes = {labels["route"] for labels in series(samples, requests) if labels["service"] == service}
    assert routes == {ROUTE, "<unmatched>", "/health"}


def test_request_durations_are_a_histogram_per_route_and_method():
    app = tiny_app()
    client, service = app.test_client(), app.name
    for name in ("a", "b", "bad"):
        client.get(f"/things/{name}")
    samples = scrape(client)
    labels = {"service": service, "route": ROUTE, "method": "GET"}
    duration = "fml_http_request_duration_seconds"
    assert total(samples, f"{duration}_count", **labels) == 3  # the 400 too
    assert total(samples, f"{duration}_bucket", **labels, le="+Inf") == 3
    assert 0 < total(samples, f"{duration}_sum", **labels) < 30
    buckets = sorted(
        float(s.labels["le"])
        for s in samples
        if s.name == f"{duration}_bucket" and all(s.labels[k] == v for k, v in labels.items())
    )
    assert buckets[0] == 0.001 and buckets[-2] == 30.0 and buckets[-1] == float("inf")
    counts = [total(samples, f"{duration}_bucket", **labels, le=le) for le in ("0.001", "0.1", "30.0", "+Inf")]
    assert counts == sorted(counts)  # cumulative


def test_scrapes_are_counted_like_any_route_and_odd_methods_are_one_label():
    app = tiny_app()
    client, service = app.test_client(), app.name
    scrape(client)
    scrape(client)
    client.open("/things/a", method="BREW")
    samples = scrape(client)
    assert total(samples, "fml_http_requests_total", service=service, route="/metrics", status="200") == 2
    assert total(samples, "fml_http_requests_total", service=service, method="<other>") == 1
    assert total(samples, "fml_http_requests_total", service=service, method="BREW") == 0


def test_both_services_serve_metrics_under_their_own_name():
    for service in ("trainer", "predictor"):
        client = build_app(service).test_client()
        client.get("/health")
        assert total(scrape(client), "fml_http_requests_total", service=service, route="/health") >= 1


# ---------------------------------------------------------------------------- the predictor's own
def booster(seed: int) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 2))
    data = xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int), feature_names=["a", "b"], feature_types=["float", "float"])
    return xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1}, data, num_boost_round=3)


def publish(s3: VersionedS3, model: str, seed: int) -> str:
    store = ModelStore(s3, SETTINGS.models_bucket)
    version = store.save(model, booster(seed), {"objective": "binary:logistic"})
    store.move_alias(model, LIVE, version, {"source": "test"}, "published")
    return version


def records(n: int) -> dict[str, Any]:
    return {"records": [{"a": i / 10, "b": 1 - i / 10} for i in range(n)]}


def test_the_predictor_counts_rows_names_the_version_served_and_its_group_commits():
    s3, model = VersionedS3(), f"m{uuid.uuid4().hex[:10]}"
    v1 = publish(s3, model, seed=1)
    settings = replace(SETTINGS, model_latest_ttl=0.0)  # every request reads the alias: a move is seen at once
    client = create_app(settings, SimpleNamespace(s3=s3, log_identity=lambda: None)).test_client()
    commits_before = scrape(client)

    assert client.post(f"/models/{model}/predict", json=records(3)).status_code == 200
    assert client.post(f"/models/{model}/predict", json=records(2)).status_code == 200
    samples = scrape(client)
    assert total(samples, "fml_predict_rows_total", model=model) == 5
    served = "fml_model_version_served"
    assert [(s.labels, s.value) for s in samples if s.name == served and s.labels["model"] == model] == [
        ({"model": model, "alias": "live", "version": v1}, 1.0)
    ]

    v2 = publish(s3, model, seed=2)
    assert client.post(f"/models/{model}/predict", json=records(1)).json["model_version"] == v2
    # a pinned version is served through no alias: the gauge is left alone
    assert client.post(f"/models/{model}/predict?version={v1}", json=records(4)).status_code == 200
    bad = client.post(f"/models/{model}/predict", json={"records": [{"a": 1}]})  # a missing column: 400
    assert bad.status_code == 400
    samples = scrape(client)
    assert total(samples, "fml_predict_rows_total", model=model) == 5 + 1 + 4
    assert total(samples, served, model=model, alias="live", version=v1) == 0
    assert total(samples, served, model=model, alias="live", version=v2) == 1
    assert len(series(samples, served)) >= 2

    # one stored object per request here (sequential requests): 4 commits of size 1
    count, size_sum = "fml_prediction_group_commit_size_count", "fml_prediction_group_commit_size_sum"
    assert total(samples, count) - total(commits_before, count) == 4
    assert total(samples, size_sum) - total(commits_before, size_sum) == 4
    route = "/models/<model>/predict"
    assert total(samples, "fml_http_requests_total", service="predictor", route=route, status="400") >= 1


def test_concurrent_requests_sharing_one_put_are_one_commit_of_their_number():
    s3 = FakeS3()
    log = PredictionLog(s3, "preds", window_seconds=0.5, max_lines=64, on_commit=metrics.GROUP_COMMIT_SIZE.observe)
    before = parse(metrics.exposition()[0].decode())
    start = threading.Barrier(6)

    def request(i: int) -> None:
        start.wait()
        log.store("churn", lambda prediction_id: {"prediction_id": prediction_id, "n": i})

    threads = [threading.Thread(target=request, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(s3.calls_of("put_object")) == 1
    after = parse(metrics.exposition()[0].decode())

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("fml_prediction_group_commit_size_count") == 1
    assert delta("fml_prediction_group_commit_size_sum") == 6
    assert delta("fml_prediction_group_commit_size_bucket", le="8.0") == 1
    assert delta("fml_prediction_group_commit_size_bucket", le="4.0") == 0

    # a failed PUT stored nothing: no commit is observed (the control above saw one)
    s3.fail("put_object", client_error("SlowDown", 503, "PutObject"))
    with pytest.raises(Exception, match="could not be stored"):
        log.store("churn", lambda prediction_id: {"prediction_id": prediction_id})
    assert total(parse(metrics.exposition()[0].decode()), "fml_prediction_group_commit_size_count") == total(
        after, "fml_prediction_group_commit_size_count"
    )


def test_served_versions_write_only_when_the_version_changes():
    gauge = mock.MagicMock()
    served = metrics.ServedVersions(gauge)
    served.served("churn", "live", "v1")
    served.served("churn", "live", "v1")
    served.served("churn", "canary", "v1")
    served.served("churn", "live", "v2")
    assert gauge.labels.call_args_list == [
        mock.call("churn", "live", "v1"),
        mock.call("churn", "canary", "v1"),
        mock.call("churn", "live", "v1"),
        mock.call("churn", "live", "v2"),
    ]
    assert [c.args for c in gauge.labels.return_value.set.call_args_list] == [(1,), (1,), (0,), (1,)]


# ---------------------------------------------------------------------------- multiprocess mode (gunicorn)
CHILD = """
import os, sys
from prometheus_client import values
from fmlcore.web import metrics

assert values.ValueClass._multiprocess, "the child should store its values in the multiprocess directory"
metrics.observe_request("predictor", None, "GET", 404, 0.002)
metrics.PREDICT_ROWS.labels("churn").inc(int(sys.argv[1]))
served = metrics.ServedVersions()
for version in sys.argv[2:]:
    served.served("churn", "live", version)
print(os.getpid())
"""


def run_child(directory: Path, *args: str) -> int:
    env = {**os.environ, metrics.MULTIPROC_DIR_ENV: str(directory)}
    done = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, cwd=SRC)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_worker_processes_are_summed_and_a_dead_workers_gauge_is_dropped(tmp_path, monkeypatch):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    first = run_child(directory, "30", "v1")  # still serves v1
    run_child(directory, "20", "v1", "v2")  # moved on to v2
    monkeypatch.setenv(metrics.MULTIPROC_DIR_ENV, str(directory))

    samples = parse(metrics.exposition()[0].decode())
    assert total(samples, "fml_predict_rows_total", model="churn") == 50
    assert total(samples, "fml_http_requests_total", service="predictor", route="<unmatched>", status="404") == 2
    assert total(samples, "fml_http_request_duration_seconds_count", service="predictor") == 2
    served = "fml_model_version_served"
    assert total(samples, served, version="v1") == 1  # livemax: one live process serves it
    assert total(samples, served, version="v2") == 1
    assert all("pid" not in labels for labels in series(samples, served))

    prometheus_hooks()["child_exit"](None, SimpleNamespace(pid=first))  # gunicorn reaped the first worker
    samples = parse(metrics.exposition()[0].decode())
    assert total(samples, served, version="v1") == 0  # nobody serves v1 any more
    assert total(samples, served, version="v2") == 1
    assert total(samples, "fml_predict_rows_total", model="churn") == 50  # a dead worker's counts remain


def test_the_hooks_clean_the_directory_at_start_and_leave_a_given_one_in_place(tmp_path, monkeypatch):
    directory = tmp_path / "given"
    directory.mkdir()
    monkeypatch.setenv(metrics.MULTIPROC_DIR_ENV, str(directory))
    hooks = prometheus_hooks()
    assert os.environ[metrics.MULTIPROC_DIR_ENV] == str(directory)
    for name in ("counter_11.db", "histogram_11.db", "gauge_livemax_11.db", "notes.txt"):
        (directory / name).write_bytes(b"")
    hooks["on_starting"](None)
    assert sorted(p.name for p in directory.iterdir()) == ["notes.txt"]  # only prometheus_client's files go

    for name in ("counter_12.db", "gauge_livemax_12.db", "gauge_livemax_13.db"):
        (directory / name).write_bytes(b"")
    hooks["child_exit"](None, SimpleNamespace(pid=12))
    assert sorted(p.name for p in directory.iterdir()) == ["counter_12.db", "gauge_livemax_13.db", "notes.txt"]
    hooks["on_exit"](None)
    assert directory.is_dir()  # not ours to remove


def test_without_a_directory_gunicorn_gets_a_private_one_removed_at_exit(monkeypatch):
    monkeypatch.setenv(metrics.MULTIPROC_DIR_ENV, "")  # unset for the code; restored after the test
    config = gunicorn_settings(default_bind="127.0.0.1:1")
    path = Path(os.environ[metrics.MULTIPROC_DIR_ENV])
    try:
        assert path.is_dir() and (path.stat().st_mode & 0o777) == 0o700
        assert {"on_starting", "child_exit", "on_exit"} <= set(config)
        assert config["workers"] == SETTINGS.web_workers
    finally:
        config["on_exit"](None)
    assert not path.exists()


def test_the_gunicorn_config_sets_the_directory_without_importing_prometheus_client():
    # Workers fork from the master: had it imported prometheus_client before the variable was set,
    # every worker would keep its values in memory and a scrape would see one worker only.
    code = (
        "import os, sys, predictor.gunicorn_conf as conf; "
        "print('prometheus_client' in sys.modules, os.environ['PROMETHEUS_MULTIPROC_DIR']); conf.on_exit(None)"
    )
    env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_DIR_ENV}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=SRC, check=True)
    imported, path = done.stdout.split()
    assert imported == "False"
    assert Path(path).name.startswith("fml-prometheus-") and not Path(path).exists()
