"""The workers' job metrics (fmlcore.jobs.metrics): one CloudWatch EMF line per finished attempt.

The record is checked against the EMF rules CloudWatch applies (every metric the directive names is a
top-level number, every dimension a top-level string, the timestamp whole milliseconds); the rules'
checker is itself shown to refuse broken records. Then the worker loop is driven message by message
(`QueueWorker.process`, a fake SQS, a fake clock) and the `fml.metrics` lines it writes, formatted by
the services' JsonFormatter, are read back: one per attempt, with the attempt's outcome.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from fmlcore.core.errors import InvalidInput, TransientError
from fmlcore.core.logs import JsonFormatter, bind
from fmlcore.core.settings import Settings
from fmlcore.jobs.message import InputRef, JobMessage
from fmlcore.jobs.metrics import OUTCOMES, Attempt, JobMetrics, emf_record
from fmlcore.jobs.worker import JobContext, JobInterrupted, QueueWorker
from tests.emf import emf_problems
from tests.unit.fakes import Clock, FakeS3, FakeSQS, client_error

QUEUE = "https://sqs.eu-west-1.amazonaws.com/000000000000/predict"
JOB = JobMessage.new("predict", "churn", InputRef("inference", "churn/jan.csv", "v1"), {})
NAMESPACE = "fml-test"
METRIC_NAMES = {"JobSeconds", "QueueWaitSeconds", "Attempts", "Rows", "Succeeded", "Failed", "Retried"}


# ---------------------------------------------------------------------------- the record
def a_record(**attempt: Any) -> dict[str, Any]:
    fields = {"kind": "predict", "outcome": "succeeded", "seconds": 12.3456, "receive_count": 1, "rows": 5000}
    return emf_record(NAMESPACE, Attempt(**{**fields, **attempt}))


def test_the_record_is_valid_emf_with_the_fixed_names_in_one_kind_dimension():
    record = a_record(queue_wait_seconds=0.81, ended_at=1_700_000_000.25)
    assert emf_problems(record) == []
    [metric_set] = record["_aws"]["CloudWatchMetrics"]
    assert metric_set["Namespace"] == NAMESPACE
    assert metric_set["Dimensions"] == [["Kind"]]
    assert {m["Name"] for m in metric_set["Metrics"]} == METRIC_NAMES
    assert {m["Name"]: m["Unit"] for m in metric_set["Metrics"]}["JobSeconds"] == "Seconds"
    assert record["_aws"]["Timestamp"] == 1_700_000_000_250
    assert record["Kind"] == "predict" and record["outcome"] == "succeeded"
    assert (record["JobSeconds"], record["QueueWaitSeconds"], record["Attempts"], record["Rows"]) == (
        12.346,
        0.81,
        1,
        5000,
    )
    assert (record["Succeeded"], record["Failed"], record["Retried"]) == (1, 0, 0)


def test_the_emf_checker_refuses_what_cloudwatch_would_refuse():
    # Positive control for tests.emf, which every test here relies on: each breakage is caught.
    good = a_record(queue_wait_seconds=1.0)
    assert emf_problems(good) == []
    missing = {k: v for k, v in good.items() if k != "Rows"}
    text_value = {**good, "Attempts": "1"}
    number_dimension = {**good, "Kind": 3}
    seconds_timestamp = {**good, "_aws": {**good["_aws"], "Timestamp": good["_aws"]["Timestamp"] / 1000}}
    for broken, said in [
        (missing, "'Rows' is not a top-level number"),
        (text_value, "'Attempts' is not a top-level number"),
        (number_dimension, "'Kind' is not a top-level string"),
        (seconds_timestamp, "not epoch milliseconds"),
        ({"Kind": "predict"}, "no _aws object"),
    ]:
        assert any(said in problem for problem in emf_problems(broken)), (said, emf_problems(broken))


@pytest.mark.parametrize(
    ("outcome", "flags"),
    [("succeeded", (1, 0, 0)), ("failed", (0, 1, 0)), ("retried", (0, 0, 1)), ("released", (0, 0, 0)),
     ("abandoned", (0, 0, 0))],
)  # fmt: skip
def test_each_outcome_sets_at_most_one_flag(outcome, flags):
    record = a_record(outcome=outcome)
    assert emf_problems(record) == []
    assert (record["Succeeded"], record["Failed"], record["Retried"]) == flags
    assert record["outcome"] == outcome


def test_an_unknown_wait_is_left_out_a_negative_one_is_zero_and_unknown_rows_are_zero():
    unknown = a_record(queue_wait_seconds=None, rows=None)
    assert emf_problems(unknown) == []
    assert "QueueWaitSeconds" not in unknown
    assert "QueueWaitSeconds" not in {m["Name"] for m in unknown["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert unknown["Rows"] == 0
    skewed = a_record(queue_wait_seconds=-0.2)
    assert skewed["QueueWaitSeconds"] == 0.0


def test_an_unknown_outcome_is_refused():
    assert set(OUTCOMES) == {"succeeded", "failed", "retried", "released", "abandoned"}
    with pytest.raises(ValueError, match="unknown attempt outcome"):
        Attempt(kind="train", outcome="done", seconds=1.0, receive_count=1)


# ---------------------------------------------------------------------------- through the log
@pytest.fixture
def metric_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The `fml.metrics` lines written so far in the test, as the services format them (JSON)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("fml.metrics")
    logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)


def test_a_line_through_the_json_formatter_keeps_aws_and_the_bound_context(metric_lines):
    with bind(job_id="predict-1", model="churn"):
        JobMetrics(NAMESPACE).attempt_ended(Attempt("predict", "succeeded", 2.0, 1, queue_wait_seconds=0.5, rows=7))
    [line] = metric_lines()
    assert emf_problems(line) == []
    assert {"ts", "level", "logger", "msg"} <= set(line)
    assert (line["logger"], line["level"], line["msg"]) == ("fml.metrics", "INFO", "job attempt succeeded")
    assert (line["job_id"], line["model"], line["Rows"]) == ("predict-1", "churn", 7)


def test_the_formatter_lets_only_aws_through_of_the_underscore_keys():
    record = logging.LogRecord("fml.x", logging.INFO, __file__, 1, "hello", (), None)
    record.__dict__.update({"_aws": {"Timestamp": 1}, "_secret": "x", "_awsx": 1, "plain": 2})
    line = json.loads(JsonFormatter().format(record))
    assert line["_aws"] == {"Timestamp": 1} and line["plain"] == 2
    assert "_secret" not in line and "_awsx" not in line


def test_metric_lines_are_written_even_when_the_log_level_is_warning(metric_lines):
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.WARNING)
    try:
        assert not logging.getLogger("fml.worker").isEnabledFor(logging.INFO)  # positive control: others are quiet
        JobMetrics(NAMESPACE).attempt_ended(Attempt("train", "failed", 1.0, 1))
    finally:
        root.setLevel(before)
    assert [line["outcome"] for line in metric_lines()] == ["failed"]


# ---------------------------------------------------------------------------- the worker loop
def message(receive_count: int = 1, sent_seconds_ago: float | None = 7.5, now: float = 0.0, body: str | None = None):
    attributes = {"ApproximateReceiveCount": str(receive_count)}
    if sent_seconds_ago is not None:
        attributes["SentTimestamp"] = str(int((now - sent_seconds_ago) * 1000))
    return {
        "MessageId": "m-1",
        "ReceiptHandle": f"r-{receive_count}",
        "Body": JOB.to_json() if body is None else body,
        "Attributes": attributes,
    }


class Handler:
    """A job handler that takes `seconds` on the fake clock, reports `rows`, then raises `raises`."""

    def __init__(self, clock: Clock, seconds: float = 3.0, rows: int | None = None, raises=None, run=None) -> None:
        self.clock, self.seconds, self.rows, self.raises, self.run = clock, seconds, rows, raises, run
        self.permanent_fails = False
        self.calls: list[str] = []

    def handle(self, job: JobMessage, ctx: JobContext) -> None:
        self.clock.advance(self.seconds)
        ctx.rows = self.rows
        if self.run is not None:
            self.run(ctx)
        if self.raises is not None:
            raise self.raises

    def on_permanent(self, job, ctx, exc) -> None:
        self.calls.append("on_permanent")
        if self.permanent_fails:
            raise RuntimeError("status bucket unreachable")

    def on_retry(self, job, ctx, exc) -> None:
        self.calls.append("on_retry")

    def on_released(self, job, ctx) -> None:
        self.calls.append("on_released")


def make_worker(handler: Handler, sqs: FakeSQS | None = None, metrics: JobMetrics | None = None) -> QueueWorker:
    return QueueWorker(
        sqs if sqs is not None else FakeSQS(max_receives=3),
        QUEUE,
        handler.handle,
        handler.on_permanent,
        handler.on_retry,
        handler.on_released,
        visibility_timeout=60,
        kind="predict",
        metrics=JobMetrics(NAMESPACE) if metrics is None else metrics,
    )


def test_a_successful_attempt_writes_one_line_with_its_rows_wait_and_duration(clock, metric_lines):
    handler, sqs = Handler(clock, seconds=3.0, rows=42), FakeSQS(max_receives=3)
    make_worker(handler, sqs).process(message(receive_count=1, sent_seconds_ago=7.5, now=clock.time()))
    assert sqs.deleted() == ["r-1"]
    [line] = metric_lines()
    assert emf_problems(line) == []
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE
    assert (line["Kind"], line["outcome"]) == ("predict", "succeeded")
    assert (line["Succeeded"], line["Failed"], line["Retried"]) == (1, 0, 0)
    assert (line["JobSeconds"], line["QueueWaitSeconds"], line["Attempts"], line["Rows"]) == (3.0, 7.5, 1, 42)
    assert line["_aws"]["Timestamp"] == int(clock.time() * 1000)
    assert (line["job_id"], line["model"], line["message_id"]) == (JOB.job_id, "churn", "m-1")


def test_a_permanent_failure_writes_failed(clock, metric_lines):
    handler, sqs = Handler(clock, raises=InvalidInput("bad column")), FakeSQS()
    make_worker(handler, sqs).process(message(now=clock.time()))
    assert sqs.deleted() == ["r-1"] and handler.calls == ["on_permanent"]
    [line] = metric_lines()
    assert emf_problems(line) == []
    assert (line["outcome"], line["Succeeded"], line["Failed"], line["Retried"], line["Rows"]) == ("failed", 0, 1, 0, 0)


def test_access_denied_is_a_permanent_failure_too(clock, metric_lines):
    handler = Handler(clock, raises=client_error("AccessDenied", operation="GetObject"))
    make_worker(handler).process(message(now=clock.time()))
    assert [line["outcome"] for line in metric_lines()] == ["failed"]


@pytest.mark.parametrize("receive_count", [1, 3], ids=["to-be-redelivered", "last-attempt-to-the-dlq"])
@pytest.mark.parametrize(
    "error", [TransientError("S3 slow down"), client_error("SlowDown"), RuntimeError("a bug")], ids=type
)
def test_an_attempt_sqs_will_redeliver_writes_retried(clock, metric_lines, error, receive_count):
    handler, sqs = Handler(clock, rows=10, raises=error), FakeSQS(max_receives=3)
    make_worker(handler, sqs).process(message(receive_count=receive_count, now=clock.time()))
    assert sqs.deleted() == [] and handler.calls == ["on_retry"]
    [line] = metric_lines()
    assert emf_problems(line) == []
    assert (line["outcome"], line["Succeeded"], line["Failed"], line["Retried"]) == ("retried", 0, 0, 1)
    assert (line["Attempts"], line["Rows"]) == (receive_count, 10)  # rows read before it failed


def test_a_permanent_failure_whose_status_is_not_written_is_retried_not_failed(clock, metric_lines):
    handler = Handler(clock, raises=InvalidInput("bad column"))
    handler.permanent_fails = True
    sqs = FakeSQS()
    make_worker(handler, sqs).process(message(now=clock.time()))
    assert sqs.deleted() == []  # the message stays: the job runs again
    assert [(line["outcome"], line["Failed"], line["Retried"]) for line in metric_lines()] == [("retried", 0, 1)]


def test_a_shutdown_writes_released_and_a_lost_lease_abandoned(clock, metric_lines):
    shutdown = Handler(clock, raises=JobInterrupted("stopping"))
    make_worker(shutdown).process(message(now=clock.time()))

    def lose_lease(ctx: JobContext) -> None:
        ctx.lease_lost.set()

    lost = Handler(clock, raises=JobInterrupted("lease lost"), run=lose_lease)
    make_worker(lost).process(message(now=clock.time()))
    lines = metric_lines()
    assert [line["outcome"] for line in lines] == ["released", "abandoned"]
    assert all(emf_problems(line) == [] for line in lines)
    assert [(line["Succeeded"], line["Failed"], line["Retried"]) for line in lines] == [(0, 0, 0)] * 2


def test_only_attempts_write_lines_not_messages_that_are_no_job(clock, metric_lines):
    worker = make_worker(Handler(clock))
    worker.process(message(body="not json"))
    worker.process(message(body=json.dumps({"Event": "s3:TestEvent"})))
    assert metric_lines() == []
    worker.process(message(now=clock.time()))  # positive control: a job's attempt does
    assert [line["outcome"] for line in metric_lines()] == ["succeeded"]


def test_without_a_sent_timestamp_the_wait_is_left_out(clock, metric_lines):
    make_worker(Handler(clock)).process(message(sent_seconds_ago=None))
    [line] = metric_lines()
    assert emf_problems(line) == [] and "QueueWaitSeconds" not in line


def test_a_worker_without_metrics_writes_none(clock, metric_lines):
    worker = QueueWorker(FakeSQS(), QUEUE, Handler(clock).handle, lambda *a: None, lambda *a: None, lambda *a: None)
    worker.process(message(now=clock.time()))
    assert metric_lines() == []


def test_the_loop_asks_sqs_for_the_sent_timestamp(clock, metric_lines):
    sqs = FakeSQS(batches=[[message(now=clock.time())]])
    assert make_worker(Handler(clock, rows=3), sqs).run(max_messages=1) == 1
    [(_, receive)] = [call for call in sqs.calls if call[0] == "receive_message"]
    assert {"ApproximateReceiveCount", "SentTimestamp"} <= set(receive["AttributeNames"])
    assert [line["QueueWaitSeconds"] for line in metric_lines()] == [7.5]


def test_workers_built_from_settings_write_in_the_configured_namespace():
    clients = SimpleNamespace(sqs=FakeSQS(), s3=FakeS3())
    jobs = SimpleNamespace(on_permanent=None, on_retry=None, on_released=None)
    default = QueueWorker.for_jobs(Settings.from_env({}), clients, "train", QUEUE, "models", lambda *a: None, jobs)
    assert default.metrics is not None and default.metrics.namespace == "fargate-ml"
    settings = Settings.from_env({"FML_METRICS_NAMESPACE": "fargate-ml-staging"})
    configured = QueueWorker.for_jobs(settings, clients, "train", QUEUE, "models", lambda *a: None, jobs)
    assert configured.metrics.namespace == "fargate-ml-staging"
