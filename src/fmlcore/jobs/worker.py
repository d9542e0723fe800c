"""The queue worker loop shared by the trainer and the predictor (docs/reliability.md).

- Long poll (20 s), one message at a time; a heartbeat thread extends the message's
  visibility while the job runs; the message is deleted only after the handler has written
  its outputs and status.
- Permanent errors (FmlError with permanent=True: bad input, unknown model, ...; and AWS
  AccessDenied, as PermissionDenied): the job is failed by `on_permanent`, then the message
  is deleted: retrying cannot help.
- Anything else (throttling, network, a bug): the message is left for SQS to redeliver,
  with a growing visibility delay as backoff (`on_retry` keeps the error as the job's
  `last_error`); after maxReceiveCount SQS moves it to the dead-letter queue, where the
  dead-letter function marks the job `dead_lettered`.
- Every job has a deadline (FML_JOB_TIMEOUT_SECONDS, below SQS's 12 h): past it the job
  fails for good (DeadlineExceeded).
- SIGTERM/SIGINT: stop taking messages; the running job sees `should_stop()` at its next
  safe point and raises JobInterrupted; its message is released (visibility 0); exit 0.
- `s3:TestEvent`, non-JSON and wrongly shaped messages are logged with their message id
  and deleted, never a crash.
- A job runs under a lease (fmlcore.jobs.lease): a second message for a job another live worker
  is running is a duplicate and is deleted; the same message seen again while its holder
  still renews the lease is released for later.
- Every attempt that ran its handler ends with one metrics line (fmlcore.jobs.metrics: CloudWatch
  EMF) saying how it ended, how long it took and waited, and how many rows the handler read.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fmlcore.core.aws import AwsClients, error_code, is_access_denied
from fmlcore.core.errors import ConfigError, DeadlineExceeded, FmlError, PermissionDenied
from fmlcore.core.logs import bind, bound, configure_logging
from fmlcore.core.settings import Settings
from fmlcore.jobs.lease import CONFLICT_CODES, Holder, Lease, LeaseStore
from fmlcore.jobs.message import JobMessage
from fmlcore.jobs.metrics import ABANDONED, FAILED, RELEASED, RETRIED, SUCCEEDED, Attempt, JobMetrics

log = logging.getLogger("fml.worker")

MAX_WAIT_TIME_SECONDS = 20  # SQS long-poll maximum
MAX_VISIBILITY_TIMEOUT = 12 * 60 * 60  # SQS maximum
# SQS keeps a received message hidden for at most 12 h in all: a job must end well before.
MAX_JOB_SECONDS = 11 * 60 * 60
RETRY_BASE_SECONDS = 5
RETRY_MAX_SECONDS = 300


class JobInterrupted(Exception):
    """The job stopped at a safe point because the worker is shutting down."""


@dataclass
class JobContext:
    """What a handler gets besides the message: its attempt number and the stop flag."""

    message_id: str
    receive_count: int
    max_receives: int | None
    should_stop: Callable[[], bool]
    lease_lost: threading.Event | None = None
    deadline: float | None = None  # time.monotonic() past which the job fails (DeadlineExceeded)
    sent_at: float | None = None  # epoch seconds SQS got the message (SentTimestamp), for the queue wait
    rows: int | None = None  # rows the handler read or scored in this attempt (the attempt's metrics)

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineExceeded("the job ran past its time limit (FML_JOB_TIMEOUT_SECONDS)")

    @property
    def last_attempt(self) -> bool:
        return self.max_receives is not None and self.receive_count >= self.max_receives


Handler = Callable[[JobMessage, JobContext], None]
FailureHook = Callable[[JobMessage, JobContext, BaseException], None]


class QueueWorker:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handle: Handler,
        on_permanent: FailureHook,
        on_retry: FailureHook,
        on_released: Callable[[JobMessage, JobContext], None],
        visibility_timeout: int = 60,
        wait_seconds: int = MAX_WAIT_TIME_SECONDS,
        retry_base_seconds: int = RETRY_BASE_SECONDS,
        kind: str | None = None,
        leases: LeaseStore | None = None,
        job_timeout_seconds: int = MAX_JOB_SECONDS,
        metrics: JobMetrics | None = None,
    ) -> None:
        if not 1 <= job_timeout_seconds <= MAX_JOB_SECONDS:
            raise ConfigError(
                f"FML_JOB_TIMEOUT_SECONDS must be from 1 to {MAX_JOB_SECONDS} (SQS keeps a message 12 h at most)",
                {"value": job_timeout_seconds},
            )
        self.job_timeout_seconds = job_timeout_seconds
        self.sqs = sqs
        self.queue_url = queue_url
        self.handle = handle
        self.on_permanent = on_permanent
        self.on_retry = on_retry
        self.on_released = on_released
        self.visibility_timeout = visibility_timeout
        self.wait_seconds = min(wait_seconds, MAX_WAIT_TIME_SECONDS)
        self.retry_base_seconds = retry_base_seconds
        self.leases = leases
        self.kind = kind
        self.metrics = metrics  # None: no metrics line per attempt
        self.stop_requested = threading.Event()
        self._max_receives = self._read_max_receives()

    @classmethod
    def for_jobs(
        cls,
        settings: Settings,
        clients: AwsClients,
        kind: str,
        queue_url: str,
        status_bucket: str,
        handle: Callable[..., Any],
        jobs: Any,
        **hooks: Any,
    ) -> QueueWorker:
        """A worker of `kind` jobs with the configured timings, leasing jobs in their status bucket;
        the job lifecycle `jobs` records what the loop decides unless `hooks` name another hook."""
        hooks = {
            "on_permanent": jobs.on_permanent,
            "on_retry": jobs.on_retry,
            "on_released": jobs.on_released,
            **hooks,
        }
        return cls(
            clients.sqs,
            queue_url,
            visibility_timeout=settings.worker_visibility_timeout,
            wait_seconds=settings.worker_wait_seconds,
            retry_base_seconds=settings.worker_retry_base_seconds,
            job_timeout_seconds=settings.job_timeout_seconds,
            kind=kind,
            leases=LeaseStore(clients.s3, status_bucket, ttl_seconds=settings.worker_visibility_timeout),
            metrics=JobMetrics(settings.metrics_namespace),
            handle=handle,
            **hooks,
        )

    # ------------------------------------------------------------------ lifecycle
    def install_signal_handlers(self) -> None:
        def request_stop(signum, _frame):
            log.info("stop requested", extra={"signal": signal.Signals(signum).name})
            self.stop_requested.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def run(self, max_messages: int | None = None) -> int:
        """Process messages until stopped (or `max_messages` handled); returns how many were handled."""
        handled = 0
        log.info("worker started", extra={"queue_url": self.queue_url, "max_receives": self._max_receives})
        while not self.stop_requested.is_set() and (max_messages is None or handled < max_messages):
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=self.wait_seconds,
                    VisibilityTimeout=self.visibility_timeout,
                    AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                ).get("Messages", [])
            except (BotoCoreError, ClientError) as exc:
                delay = self.retry_base_seconds
                log.warning("receive failed, retrying in %ss: %s", delay, exc)
                self.stop_requested.wait(delay)
                continue
            for message in messages:
                try:
                    self.process(message)
                except (BotoCoreError, ClientError) as exc:
                    # AWS unreachable around the job (lease, delete): the message comes back after its
                    # visibility timeout and the job, being idempotent, is picked up again.
                    log.warning("could not settle message %s: %s", message.get("MessageId"), exc)
                    self.stop_requested.wait(self.retry_base_seconds)
                handled += 1
        log.info("worker stopped", extra={"handled": handled})
        return handled

    # ------------------------------------------------------------------ one message
    def process(self, message: dict[str, Any]) -> None:
        message_id = message.get("MessageId", "?")
        receipt = message["ReceiptHandle"]
        attributes = message.get("Attributes", {})
        receive_count = int(attributes.get("ApproximateReceiveCount", "1"))
        sent = str(attributes.get("SentTimestamp", ""))  # epoch milliseconds
        sent_at = int(sent) / 1000 if sent.isdigit() else None
        with bind(message_id=message_id, receive_count=receive_count):
            job = self._parse(message)
            if job is None:
                self._delete(receipt)
                return
            if self.stop_requested.is_set():
                self._release(receipt, 0)
                return
            lease_lost = threading.Event()
            ctx = JobContext(
                message_id,
                receive_count,
                self._max_receives,
                lambda: self.stop_requested.is_set() or lease_lost.is_set(),
                lease_lost,
                deadline=time.monotonic() + self.job_timeout_seconds,
                sent_at=sent_at,
            )
            with bind(job_id=job.job_id, model=job.model, kind=job.kind):
                lease = None
                if self.leases is not None:
                    lease = self.leases.acquire(job.lease_id, message_id)
                    if isinstance(lease, Holder):
                        self._busy(receipt, message_id, lease)
                        return
                try:
                    with _Heartbeat(self, receipt, lease, lease_lost):
                        release_after = self._run_job(job, ctx)
                    # The heartbeat has stopped: now the message's fate is settled.
                    if release_after is None:
                        self._delete(receipt)
                    else:
                        self._release(receipt, release_after)
                finally:
                    if lease is not None and not lease_lost.is_set():
                        self._guarded(self.leases.release, lease)

    def _busy(self, receipt: str, message_id: str, holder: Holder) -> None:
        if holder.message_id != message_id:
            log.info("duplicate message: another worker is running this job", extra={"holder": holder.owner})
            self._delete(receipt)
        else:
            wait = max(1, int(holder.expires_at - time.time()) + 1)
            log.info("this message's job is still held by a live worker; retrying in %ss", wait)
            self._release(receipt, min(wait, MAX_VISIBILITY_TIMEOUT))

    def _run_job(self, job: JobMessage, ctx: JobContext) -> int | None:
        """Run the handler and write the attempt's metrics line; None to delete the message, else
        seconds until SQS redelivers it."""
        started_at = time.time()
        started = time.perf_counter()
        outcome, release_after = self._attempt(job, ctx)
        seconds = time.perf_counter() - started
        if outcome == SUCCEEDED:
            log.info("job done", extra={"seconds": round(seconds, 3)})
        if self.metrics is not None:
            self.metrics.attempt_ended(
                Attempt(
                    kind=job.kind,
                    outcome=outcome,
                    seconds=seconds,
                    receive_count=ctx.receive_count,
                    queue_wait_seconds=None if ctx.sent_at is None else started_at - ctx.sent_at,
                    rows=ctx.rows,
                    ended_at=time.time(),
                )
            )
        return release_after

    def _attempt(self, job: JobMessage, ctx: JobContext) -> tuple[str, int | None]:
        """Run the handler: how the attempt ended (fmlcore.jobs.metrics outcomes), and the message's
        fate (None: delete it, else seconds until SQS redelivers it)."""
        try:
            self.handle(job, ctx)
        except JobInterrupted:
            if ctx.lease_lost is not None and ctx.lease_lost.is_set():
                log.info("attempt abandoned: another worker holds the job now")
                return ABANDONED, 0
            log.info("job interrupted by shutdown; message released for another worker")
            self._guarded(self.on_released, job, ctx)
            return RELEASED, 0
        except FmlError as exc:
            if exc.permanent:
                log.warning("job failed permanently: %s", exc.message, extra={"error_type": exc.type})
                return self._fail(job, ctx, exc)
            return RETRIED, self._retry_later(job, ctx, exc)
        except Exception as exc:  # transient AWS trouble or a bug: let SQS retry, then dead-letter
            if isinstance(exc, ClientError) and is_access_denied(exc):
                # The worker's role lacks a permission: no retry can fix that.
                denied = PermissionDenied.from_client_error(exc)
                log.error("job failed permanently: %s", denied.message, extra={"error_type": denied.type})
                return self._fail(job, ctx, denied)
            return RETRIED, self._retry_later(job, ctx, exc)
        return SUCCEEDED, None

    def _fail(self, job: JobMessage, ctx: JobContext, exc: BaseException) -> tuple[str, int | None]:
        """Record a permanent failure; while its status is not written the message is kept (and
        the job will run again), so the attempt counts as retried, not failed."""
        if not self._guarded(self.on_permanent, job, ctx, exc):
            return RETRIED, self.retry_base_seconds
        return FAILED, None

    def _retry_later(self, job: JobMessage, ctx: JobContext, exc: BaseException) -> int:
        delay = min(RETRY_MAX_SECONDS, self.retry_base_seconds * 2 ** (ctx.receive_count - 1))
        log.warning(
            "job attempt failed; SQS will redeliver%s",
            " (last attempt: next stop is the dead-letter queue)" if ctx.last_attempt else f" in {delay}s",
            extra={"error_type": type(exc).__name__, "error": str(exc)[:500]},
            exc_info=not isinstance(exc, FmlError | BotoCoreError | ClientError),
        )
        self._guarded(self.on_retry, job, ctx, exc)
        return 0 if ctx.last_attempt else delay

    def _parse(self, message: dict[str, Any]) -> JobMessage | None:
        body = message.get("Body", "")
        try:
            data = json.loads(body)
        except ValueError:
            log.warning("deleting a message that is not JSON", extra={"body": body[:200]})
            return None
        if isinstance(data, dict) and data.get("Event") == "s3:TestEvent":
            log.info("deleting s3:TestEvent")
            return None
        try:
            job = JobMessage.from_dict(data)
        except FmlError as exc:
            log.warning("deleting a message of the wrong shape: %s", exc.message, extra={"body": body[:200]})
            return None
        if self.kind and job.kind != self.kind:
            log.warning("deleting a %s job sent to the %s queue", job.kind, self.kind, extra={"job_id": job.job_id})
            return None
        return job

    # ------------------------------------------------------------------ SQS calls
    def _delete(self, receipt: str) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)

    def _release(self, receipt: str, delay: int) -> None:
        try:
            self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=delay)
        except (BotoCoreError, ClientError) as exc:  # it comes back after its visibility timeout anyway
            log.warning("could not release the message: %s", exc)

    def extend(self, receipt: str) -> None:
        self.sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=self.visibility_timeout
        )

    def _guarded(self, hook: Callable[..., None], *args: Any) -> bool:
        """Run a status hook; if it fails, log it and return False."""
        try:
            hook(*args)
            return True
        except Exception:
            log.exception("status hook %s failed", getattr(hook, "__name__", hook))
            return False

    def _read_max_receives(self) -> int | None:
        try:
            attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"])
            return int(json.loads(attrs["Attributes"]["RedrivePolicy"])["maxReceiveCount"])
        except (KeyError, ValueError, BotoCoreError, ClientError):
            return None


class _Heartbeat:
    """Extends the message's visibility (and renews the job's lease) every third of the timeout."""

    def __init__(self, worker: QueueWorker, receipt: str, lease: Lease | None, lease_lost: threading.Event) -> None:
        self.worker = worker
        self.receipt = receipt
        self.lease = lease
        self.lease_lost = lease_lost
        self.done = threading.Event()
        self.interval = max(1.0, worker.visibility_timeout / 3)
        self.context = {}
        self.thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.context = bound()
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.done.set()
        self.thread.join(timeout=5)

    def _beat(self) -> None:
        with bind(**self.context):
            while not self.done.wait(self.interval):
                # Two separate renewals: a failed visibility extension (SQS's 12 h cap, a blip)
                # must not skip the lease's, nor the other way round.
                try:
                    self.worker.extend(self.receipt)
                except (BotoCoreError, ClientError) as exc:
                    log.warning("visibility extension failed: %s", exc)
                if self.lease is None or self.worker.leases is None:
                    continue
                try:
                    self.worker.leases.renew(self.lease)
                except (BotoCoreError, ClientError) as exc:
                    if error_code(exc) in CONFLICT_CODES:
                        # Another worker took the job over (we were cut off past the lease's TTL):
                        # stop at the next safe point, write nothing more, leave its lease alone.
                        log.warning("job lease lost to another worker; stopping this attempt")
                        self.lease_lost.set()
                        return
                    log.warning("lease renewal failed: %s", exc)


def main(build: Callable[[Settings, AwsClients], QueueWorker]) -> int:
    """Entry point of a worker process: settings from the environment, signals trapped, run until stopped."""
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level)
    clients = AwsClients(settings)
    clients.log_identity()
    worker = build(settings, clients)
    worker.install_signal_handlers()
    worker.run()
    return 0
