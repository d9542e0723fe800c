"""Job metrics of both workers, as CloudWatch embedded metric format (EMF) log lines.

Each finished attempt of a job (fmlcore.jobs.worker) writes one JSON line through the `fml.metrics`
logger; CloudWatch Logs turns the line into metrics, so the workers need no metrics client, no
PutMetricData permission and no flush at shutdown, and the line is also a searchable log event:

    {"_aws": {"Timestamp": <ms>, "CloudWatchMetrics": [{"Namespace": "<FML_METRICS_NAMESPACE>",
              "Dimensions": [["Kind"]], "Metrics": [{"Name": "JobSeconds", "Unit": "Seconds"}, ...]}]},
     "Kind": "predict", "JobSeconds": 12.3, "QueueWaitSeconds": 0.8, "Attempts": 1, "Rows": 5000,
     "Succeeded": 1, "Failed": 0, "Retried": 0, "outcome": "succeeded", "job_id": ..., "model": ...}

The metric names are a contract (a CloudWatch dashboard reads them):

    JobSeconds        Seconds  the attempt's duration (the handler's run)
    QueueWaitSeconds  Seconds  from the message's SentTimestamp to the attempt's start; a redelivery
                               counts from the first send (its earlier attempts and backoff included);
                               left out when SQS did not say when it was sent
    Attempts          Count    the message's ApproximateReceiveCount at this attempt
    Rows              Count    rows the attempt read or scored (0 when the handler did not say)
    Succeeded         Count    1 when the attempt succeeded
    Failed            Count    1 when the job failed for good
    Retried           Count    1 when the attempt failed and SQS redelivers it (or dead-letters it)

One dimension set, `Kind` (train or predict), keeps the metric count small; the job id, model and
outcome are plain properties (searchable in Logs Insights, not dimensions). The bound log context
(job_id, model, message_id, ...) rides along: EMF allows extra properties.

Standard library and fmlcore.core only: the Lambda zip ships this layer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("fml.metrics")
# Metric lines are data, not chatter: written at INFO whatever FML_LOG_LEVEL quiets elsewhere.
log.setLevel(logging.INFO)

SUCCEEDED = "succeeded"
FAILED = "failed"  # for good: the job's status says failed
RETRIED = "retried"  # SQS redelivers the message (or moves it to the dead-letter queue)
RELEASED = "released"  # the worker is shutting down; the message goes back at once
ABANDONED = "abandoned"  # another worker took the job over (lease lost)
OUTCOMES = (SUCCEEDED, FAILED, RETRIED, RELEASED, ABANDONED)

DIMENSIONS = [["Kind"]]
UNITS = {
    "JobSeconds": "Seconds",
    "QueueWaitSeconds": "Seconds",
    "Attempts": "Count",
    "Rows": "Count",
    "Succeeded": "Count",
    "Failed": "Count",
    "Retried": "Count",
}


@dataclass(frozen=True)
class Attempt:
    """What one attempt of a job came to, as the worker loop saw it."""

    kind: str
    outcome: str
    seconds: float
    receive_count: int
    queue_wait_seconds: float | None = None
    rows: int | None = None
    ended_at: float | None = None  # epoch seconds; None: now

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown attempt outcome {self.outcome!r}; one of {OUTCOMES}")


def emf_record(namespace: str, attempt: Attempt) -> dict[str, Any]:
    """The attempt as one EMF object: the `_aws` directive, the `Kind` dimension, each metric as a
    top-level number, and the outcome as a property."""
    values: dict[str, float | int] = {
        "JobSeconds": round(max(0.0, attempt.seconds), 3),
        "Attempts": int(attempt.receive_count),
        "Rows": int(attempt.rows or 0),
        "Succeeded": int(attempt.outcome == SUCCEEDED),
        "Failed": int(attempt.outcome == FAILED),
        "Retried": int(attempt.outcome == RETRIED),
    }
    if attempt.queue_wait_seconds is not None:
        # SQS's clock and the worker's may differ by a little: a wait is never negative.
        values["QueueWaitSeconds"] = round(max(0.0, attempt.queue_wait_seconds), 3)
    ended_at = time.time() if attempt.ended_at is None else attempt.ended_at
    directive = {
        "Timestamp": int(ended_at * 1000),
        "CloudWatchMetrics": [
            {
                "Namespace": namespace,
                "Dimensions": DIMENSIONS,
                "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in UNITS if name in values],
            }
        ],
    }
    return {"_aws": directive, "Kind": attempt.kind, **values, "outcome": attempt.outcome}


class JobMetrics:
    """Writes the EMF line of each finished attempt into the `fml.metrics` log, in `namespace`."""

    def __init__(self, namespace: str, logger: logging.Logger = log) -> None:
        self.namespace = namespace
        self.logger = logger

    def attempt_ended(self, attempt: Attempt) -> None:
        self.logger.info("job attempt %s", attempt.outcome, extra=emf_record(self.namespace, attempt))
