"""The APIs' Prometheus metrics, in one place: what they are, how requests feed them, how `/metrics`
exposes them.

    fml_http_requests_total{service,route,method,status}        counter: every request answered
    fml_http_request_duration_seconds{service,route,method}     histogram: its time in the app
    fml_predict_rows_total{model}                               counter: rows scored online
    fml_model_version_served{model,alias,version}               gauge: 1 for the version served per alias
    fml_prediction_group_commit_size                            histogram: requests per stored predictions object

`route` is the Flask rule (`/models/<model>/predict`), never the raw path, and `method` one of the
HTTP methods (else `<other>`): what a client sends cannot multiply the series. A request that
matched no rule (404, 405) is `<unmatched>`.

Under gunicorn each worker is a process of its own: the gunicorn config (fmlcore.web.gunicorn)
points PROMETHEUS_MULTIPROC_DIR at a private directory before any worker imports this module, so
prometheus_client keeps every worker's values in files there, and a scrape, answered by any one
worker, adds them all up (MultiProcessCollector). Without the variable (the Flask test client, unit
tests) the process's default registry holds them.

`/metrics` is served by the `probes` blueprint (fmlcore.web.http): scraped inside the VPC, never
routed through API Gateway.
"""

from __future__ import annotations

import os
import threading

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "<unmatched>"
OTHER_METHOD = "<other>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# 1 ms (a probe) to 30 s (API Gateway's limit, the trainer's synchronous budget near the top).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)
# Powers of two up to past FML_CAPTURE_MAX_LINES' default (64).
GROUP_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

HTTP_REQUESTS = Counter(
    "fml_http_requests_total",
    "HTTP requests answered, by route pattern, method and status code",
    ["service", "route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "fml_http_request_duration_seconds",
    "Seconds from a request's arrival in the app to its response",
    ["service", "route", "method"],
    buckets=DURATION_BUCKETS,
)
PREDICT_ROWS = Counter("fml_predict_rows_total", "Rows scored by online predictions", ["model"])
# livemax: one series per (model, alias, version) whatever the number of workers, worth 1 while any
# live worker serves that version and 0 once none does (each worker sets the version it moved off to
# 0; a dead worker's values are dropped by mark_process_dead). liveall would add a `pid` label, a
# series per worker that a recycled worker (max_requests) replaces with another: more to store,
# nothing more to read, as the versions served are what the dashboards ask.
MODEL_VERSION_SERVED = Gauge(
    "fml_model_version_served",
    "1 for the model version a process serves through an alias (as of its last request), else 0",
    ["model", "alias", "version"],
    multiprocess_mode="livemax",
)
GROUP_COMMIT_SIZE = Histogram(
    "fml_prediction_group_commit_size",
    "Online prediction requests stored together in one S3 object (the predictor's group commit)",
    buckets=GROUP_SIZE_BUCKETS,
)


def route_label(rule: object | None) -> str:
    """The route pattern of a request's matched rule (`request.url_rule`), `<unmatched>` without one."""
    return getattr(rule, "rule", None) or UNMATCHED_ROUTE


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER_METHOD


def observe_request(service: str, rule: object | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its duration."""
    route, method = route_label(rule), method_label(method)
    HTTP_REQUESTS.labels(service, route, method, str(status)).inc()
    HTTP_DURATION.labels(service, route, method).observe(seconds)


class ServedVersions:
    """The version this process serves per (model, alias), mirrored in `fml_model_version_served`:
    the current one at 1, the ones it moved off at 0 (multiprocess mode cannot remove a series).
    Updated as requests are served, so it changes only when the version a request got does."""

    def __init__(self, gauge: Gauge = MODEL_VERSION_SERVED) -> None:
        self.gauge = gauge
        self._current: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def served(self, model: str, alias: str, version: str) -> None:
        key = (model, alias)
        if self._current.get(key) == version:  # the usual case: no lock, no write
            return
        with self._lock:
            previous = self._current.get(key)
            if previous == version:
                return
            self._current[key] = version
            if previous is not None:
                self.gauge.labels(model, alias, previous).set(0)
            self.gauge.labels(model, alias, version).set(1)


def exposition() -> tuple[bytes, str]:
    """The text `/metrics` answers and its content type: every worker's values summed from the
    multiprocess directory when there is one, else this process's registry."""
    registry = REGISTRY
    if os.environ.get(MULTIPROC_DIR_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    # The 0.0.4 text format: what every Prometheus (2.x and 3.x) and agent scrapes; the names here
    # need none of 1.0.0's escaping, so the body is the same either way.
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4
