"""What the queue worker does with a message, decision by decision (docs/reliability.md).

Each test feeds `QueueWorker.process` one message through a fake SQS and fake hooks and checks
the message's fate on the fake queue: deleted, or its visibility changed to a delay (0 releases
it at once; at the last attempt SQS then moves it to the dead-letter queue), and which status
hook ran with which error. Time is a fake clock; the heartbeat's decisions are run in the test's
own thread.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from fmlcore.core.aws import ACCESS_DENIED_CODES, error_code
from fmlcore.core.errors import (
    ConfigError,
    Conflict,
    DeadlineExceeded,
    FmlError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransientError,
    UnsupportedMediaType,
)
from fmlcore.jobs.lease import Holder, Lease, LeaseStore, lease_key
from fmlcore.jobs.message import InputRef, JobMessage
from fmlcore.jobs.worker import MAX_JOB_SECONDS, JobContext, JobInterrupted, QueueWorker, _Heartbeat
from tests.unit.fakes import FakeS3, FakeSQS, client_error

QUEUE = "https://sqs.eu-west-1.amazonaws.com/000000000000/train"
JOB = JobMessage.new("train", "churn", InputRef("datasets", "churn/x.csv", "v1"), {"target": "y"})


def message(receive_count: int = 1, message_id: str = "m-1", body: str | None = None) -> dict[str, Any]:
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"r-{message_id}-{receive_count}",
        "Body": JOB.to_json() if body is None else body,
        "Attributes": {"ApproximateReceiveCount": str(receive_count)},
    }


class Hooks:
    """The handler and the three status hooks, recording what they were given."""

    def __init__(self, raises: BaseException | None = None, run: Any = None) -> None:
        self.raises = raises
        self.run = run  # called with (job, ctx) before raising
        self.handled: list[tuple[JobMessage, JobContext]] = []
        self.permanent: list[tuple[JobMessage, JobContext, BaseException]] = []
        self.retried: list[tuple[JobMessage, JobContext, BaseException]] = []
        self.released: list[tuple[JobMessage, JobContext]] = []
        self.failing: set[str] = set()  # names of hooks that raise

    def handle(self, job: JobMessage, ctx: JobContext) -> None:
        self.handled.append((job, ctx))
        if self.run is not None:
            self.run(job, ctx)
        if self.raises is not None:
            raise self.raises

    def on_permanent(self, job: JobMessage, ctx: JobContext, exc: BaseException) -> None:
        self.permanent.append((job, ctx, exc))
        if "on_permanent" in self.failing:
            raise RuntimeError("status bucket unreachable")

    def on_retry(self, job: JobMessage, ctx: JobContext, exc: BaseException) -> None:
        self.retried.append((job, ctx, exc))
        if "on_retry" in self.failing:
            raise RuntimeError("status bucket unreachable")

    def on_released(self, job: JobMessage, ctx: JobContext) -> None:
        self.released.append((job, ctx))


class FakeLeases:
    """A LeaseStore whose answers the test chooses."""

    def __init__(self, *answers: Lease | Holder | BaseException) -> None:
        """`acquire` gives `answers` in turn, the last one for good; by default `self.lease`."""
        self.lease = Lease(JOB.job_id, "m-1", '"e1"', 0.0)
        self.answers = list(answers) or [self.lease]
        self.acquires: list[tuple[str, str]] = []
        self.renewals: list[Lease] = []
        self.releases: list[Lease] = []
        self.renew_error: BaseException | None = None
        self.release_error: BaseException | None = None
        self.after_renew: Any = None

    def acquire(self, job_id: str, message_id: str) -> Lease | Holder:
        self.acquires.append((job_id, message_id))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def renew(self, lease: Lease) -> Lease:
        self.renewals.append(lease)
        if self.after_renew is not None:
            self.after_renew(len(self.renewals))
        if self.renew_error is not None:
            raise self.renew_error
        return lease

    def release(self, lease: Lease) -> None:
        self.releases.append(lease)
        if self.release_error is not None:
            raise self.release_error


def make_worker(
    hooks: Hooks,
    sqs: FakeSQS | None = None,
    leases: Any = None,
    retry_base_seconds: int = 5,
    job_timeout_seconds: int = 3600,
) -> QueueWorker:
    return QueueWorker(
        sqs if sqs is not None else FakeSQS(max_receives=3),
        QUEUE,
        hooks.handle,
        hooks.on_permanent,
        hooks.on_retry,
        hooks.on_released,
        visibility_timeout=60,
        retry_base_seconds=retry_base_seconds,
        kind="train",
        leases=leases,
        job_timeout_seconds=job_timeout_seconds,
    )


# ---------------------------------------------------------------------------------- success
def test_a_job_that_succeeds_has_its_message_deleted_and_its_lease_released(clock):
    hooks, sqs, leases = Hooks(), FakeSQS(), FakeLeases()
    make_worker(hooks, sqs, leases).process(message())
    assert [job for job, _ in hooks.handled] == [JOB]
    assert sqs.deleted() == ["r-m-1-1"]
    assert sqs.visibility() == []
    assert leases.acquires == [(JOB.job_id, "m-1")]
    assert leases.releases == [leases.lease]
    assert hooks.permanent == hooks.retried == hooks.released == []


def test_the_handler_gets_its_attempt_and_deadline(clock):
    hooks = Hooks()
    make_worker(hooks, FakeSQS(max_receives=4), job_timeout_seconds=600).process(message(receive_count=2))
    [(_, ctx)] = hooks.handled
    assert (ctx.message_id, ctx.receive_count, ctx.max_receives) == ("m-1", 2, 4)
    assert ctx.deadline == clock.monotonic() + 600
    assert not ctx.last_attempt
    assert not ctx.should_stop()


# ---------------------------------------------------------------------------------- permanent errors
@pytest.mark.parametrize(
    "error",
    [
        InvalidInput("bad column"),
        UnsupportedMediaType("a .xls file"),
        NotFound("no model churn"),
        ConfigError("no bucket set"),
        Conflict("clash"),
        DeadlineExceeded("too long"),
        PermissionDenied("no s3:PutObject"),
        FmlError("ours, permanent by default"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_permanent_error_fails_the_job_and_deletes_the_message(clock, error):
    hooks, sqs, leases = Hooks(raises=error), FakeSQS(), FakeLeases()
    make_worker(hooks, sqs, leases).process(message())
    assert [(job, exc) for job, _, exc in hooks.permanent] == [(JOB, error)]
    assert sqs.deleted() == ["r-m-1-1"]
    assert sqs.visibility() == []
    assert hooks.retried == []
    assert leases.releases == [leases.lease]


def test_a_permanent_error_keeps_the_message_while_the_failed_status_is_not_written(clock):
    hooks, sqs = Hooks(raises=InvalidInput("bad column")), FakeSQS()
    hooks.failing.add("on_permanent")
    make_worker(hooks, sqs, retry_base_seconds=7).process(message(receive_count=2))
    assert len(hooks.permanent) == 1
    assert sqs.deleted() == []  # positive control: test_a_permanent_error_fails_the_job_and_deletes_the_message
    assert sqs.visibility() == [("r-m-1-2", 7)]  # the base delay, not the growing one
    assert hooks.retried == []


@pytest.mark.parametrize("code", sorted(ACCESS_DENIED_CODES))
def test_aws_access_denied_is_permanent_as_permission_denied(clock, code):
    denied = client_error(code, operation="PutObject")
    hooks, sqs = Hooks(raises=denied), FakeSQS()
    make_worker(hooks, sqs).process(message())
    [(_, _, exc)] = hooks.permanent
    assert isinstance(exc, PermissionDenied)
    assert exc.details["code"] == code and exc.details["operation"] == "PutObject"
    assert sqs.deleted() == ["r-m-1-1"]
    assert hooks.retried == []


def test_aws_access_denied_keeps_the_message_while_the_failed_status_is_not_written(clock):
    hooks, sqs = Hooks(raises=client_error("AccessDenied")), FakeSQS()
    hooks.failing.add("on_permanent")
    make_worker(hooks, sqs, retry_base_seconds=7).process(message())
    assert sqs.deleted() == []
    assert sqs.visibility() == [("r-m-1-1", 7)]


def test_a_deadline_passed_inside_the_job_is_permanent(clock):
    def overrun(job, ctx):
        clock.advance(601)
        ctx.check_deadline()

    hooks, sqs = Hooks(run=overrun), FakeSQS()
    make_worker(hooks, sqs, job_timeout_seconds=600).process(message())
    [(_, _, exc)] = hooks.permanent
    assert isinstance(exc, DeadlineExceeded)
    assert sqs.deleted() == ["r-m-1-1"]
    assert hooks.retried == []


def test_a_job_within_its_deadline_passes_the_check(clock):
    def in_time(job, ctx):
        clock.advance(599)
        ctx.check_deadline()

    hooks, sqs = Hooks(run=in_time), FakeSQS()
    make_worker(hooks, sqs, job_timeout_seconds=600).process(message())
    assert hooks.permanent == []
    assert sqs.deleted() == ["r-m-1-1"]


# ---------------------------------------------------------------------------------- transient errors
@pytest.mark.parametrize(
    "error",
    [
        TransientError("throttled"),
        client_error("Throttling"),
        client_error("ThrottlingException"),
        client_error("SlowDown"),
        client_error("ServiceUnavailable"),
        client_error("InternalError"),
        client_error("RequestTimeout"),
        client_error("NoSuchBucket"),  # any AWS error but AccessDenied is retried
        EndpointConnectionError(endpoint_url="https://s3.eu-west-1.amazonaws.com"),
        ValueError("a bug"),
        KeyError("target"),
    ],
    ids=lambda e: "-".join(filter(None, [type(e).__name__, error_code(e)])),
)
def test_any_other_error_leaves_the_message_for_redelivery_after_a_delay(clock, error):
    hooks, sqs, leases = Hooks(raises=error), FakeSQS(max_receives=3), FakeLeases()
    make_worker(hooks, sqs, leases, retry_base_seconds=5).process(message(receive_count=1))
    assert [(job, exc) for job, _, exc in hooks.retried] == [(JOB, error)]
    assert sqs.deleted() == []  # positive control: the permanent errors above are deleted
    assert sqs.visibility() == [("r-m-1-1", 5)]
    assert hooks.permanent == []
    assert leases.releases == [leases.lease]


@pytest.mark.parametrize(
    ("receive_count", "delay"),
    [(1, 5), (2, 10), (3, 20), (4, 40), (5, 80), (6, 160), (7, 300), (12, 300)],
)
def test_the_retry_delay_doubles_per_attempt_up_to_five_minutes(clock, receive_count, delay):
    hooks, sqs = Hooks(raises=TransientError("throttled")), FakeSQS(max_receives=None)
    make_worker(hooks, sqs, retry_base_seconds=5).process(message(receive_count=receive_count))
    assert sqs.visibility() == [(f"r-m-1-{receive_count}", delay)]
    [(_, ctx, _)] = hooks.retried
    assert not ctx.last_attempt  # no redrive policy: no attempt is the last


@pytest.mark.parametrize(("receive_count", "delay", "last"), [(2, 10, False), (3, 0, True), (4, 0, True)])
def test_the_last_attempt_releases_at_once_so_sqs_dead_letters_it(clock, receive_count, delay, last):
    hooks, sqs = Hooks(raises=client_error("SlowDown")), FakeSQS(max_receives=3)
    make_worker(hooks, sqs, retry_base_seconds=5).process(message(receive_count=receive_count))
    assert sqs.visibility() == [(f"r-m-1-{receive_count}", delay)]
    assert sqs.deleted() == []  # SQS, not the worker, moves it to the dead-letter queue
    [(_, ctx, _)] = hooks.retried
    assert ctx.last_attempt is last


def test_a_permanent_error_at_the_last_attempt_is_still_deleted(clock):
    hooks, sqs = Hooks(raises=NotFound("no model")), FakeSQS(max_receives=3)
    make_worker(hooks, sqs).process(message(receive_count=3))
    assert sqs.deleted() == ["r-m-1-3"]
    assert sqs.visibility() == []
    assert hooks.retried == []


def test_a_failing_retry_hook_does_not_change_the_delay(clock):
    hooks, sqs = Hooks(raises=TransientError("throttled")), FakeSQS(max_receives=3)
    hooks.failing.add("on_retry")
    make_worker(hooks, sqs, retry_base_seconds=5).process(message(receive_count=2))
    assert len(hooks.retried) == 1
    assert sqs.visibility() == [("r-m-1-2", 10)]
    assert sqs.deleted() == []


@pytest.mark.parametrize(
    ("policy", "max_receives"),
    [
        ('{"deadLetterTargetArn": "arn", "maxReceiveCount": "5"}', 5),
        ('{"deadLetterTargetArn": "arn", "maxReceiveCount": 2}', 2),
        (None, None),
        ("not json", None),
        ('{"deadLetterTargetArn": "arn"}', None),
    ],
)
def test_max_receives_comes_from_the_queues_redrive_policy(policy, max_receives):
    sqs = FakeSQS()
    sqs.redrive_policy = policy
    assert make_worker(Hooks(), sqs)._max_receives == max_receives


def test_max_receives_is_unknown_when_the_queue_attributes_cannot_be_read():
    sqs = FakeSQS(max_receives=3)
    assert make_worker(Hooks(), sqs)._max_receives == 3  # positive control
    sqs.attributes_error = client_error("AccessDenied")
    assert make_worker(Hooks(), sqs)._max_receives is None


# ---------------------------------------------------------------------------------- interruptions
def test_a_shutdown_releases_the_message_and_requeues_the_job(clock):
    seen = []

    def stop_midway(job, ctx):
        seen.append(ctx.should_stop())
        worker.stop_requested.set()
        seen.append(ctx.should_stop())
        raise JobInterrupted

    hooks, sqs, leases = Hooks(run=stop_midway), FakeSQS(), FakeLeases()
    worker = make_worker(hooks, sqs, leases)
    worker.process(message())
    assert seen == [False, True]
    assert sqs.visibility() == [("r-m-1-1", 0)]
    assert sqs.deleted() == []
    assert [job for job, _ in hooks.released] == [JOB]
    assert leases.releases == [leases.lease]
    assert hooks.permanent == hooks.retried == []


def test_an_attempt_whose_lease_was_taken_over_writes_nothing_and_leaves_the_lease(clock):
    seen = []

    def lose_lease(job, ctx):
        ctx.lease_lost.set()  # what the heartbeat does when renewing meets a conflict
        seen.append(ctx.should_stop())
        raise JobInterrupted

    hooks, sqs, leases = Hooks(run=lose_lease), FakeSQS(), FakeLeases()
    make_worker(hooks, sqs, leases).process(message())
    assert seen == [True]
    assert sqs.visibility() == [("r-m-1-1", 0)]
    assert sqs.deleted() == []
    assert hooks.released == []  # positive control: test_a_shutdown_releases_the_message_and_requeues_the_job
    assert leases.releases == []  # the new holder's lease is left alone
    assert hooks.permanent == hooks.retried == []


def test_a_message_received_after_the_stop_request_is_released_untouched(clock):
    hooks, sqs, leases = Hooks(), FakeSQS(), FakeLeases()
    worker = make_worker(hooks, sqs, leases)
    worker.stop_requested.set()
    worker.process(message())
    assert sqs.visibility() == [("r-m-1-1", 0)]
    assert sqs.deleted() == []
    assert hooks.handled == [] and leases.acquires == []


# ---------------------------------------------------------------------------------- poison messages
@pytest.mark.parametrize(
    "body",
    [
        "not json",
        '{"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "datasets"}',
        "[1, 2]",
        '{"kind": "train"}',
        '{"job_id": "j", "kind": "paint", "model": "churn", "input": {"bucket": "b", "key": "k"}}',
        JobMessage.new("predict", "churn", InputRef("inference", "churn/x.csv", "v1")).to_json(),  # wrong queue
    ],
    ids=["not-json", "s3-test-event", "not-an-object", "missing-fields", "unknown-kind", "predict-on-train-queue"],
)
def test_a_message_that_is_no_job_of_this_queue_is_deleted_unrun(clock, body):
    hooks, sqs, leases = Hooks(), FakeSQS(), FakeLeases()
    make_worker(hooks, sqs, leases).process(message(body=body))
    assert sqs.deleted() == ["r-m-1-1"]
    assert hooks.handled == [] and leases.acquires == []  # positive control: the success test runs JOB
    assert hooks.permanent == hooks.retried == []


# ---------------------------------------------------------------------------------- lease held elsewhere
def test_a_second_message_for_a_job_another_worker_runs_is_deleted_as_a_duplicate(clock):
    holder = Holder("m-other", "host:1:abc", clock.time() + 30)
    hooks, sqs, leases = Hooks(), FakeSQS(), FakeLeases(holder)
    make_worker(hooks, sqs, leases).process(message(message_id="m-1"))
    assert sqs.deleted() == ["r-m-1-1"]
    assert sqs.visibility() == []
    assert hooks.handled == []
    assert leases.releases == []  # not ours to release


@pytest.mark.parametrize(
    ("expires_in", "delay"),
    [(30.5, 31), (0.2, 1), (-10, 1), (10**6, 12 * 60 * 60)],
    ids=["live", "about-to-expire", "expired", "capped-at-12h"],
)
def test_the_same_message_held_by_a_live_worker_is_released_until_the_lease_expires(clock, expires_in, delay):
    holder = Holder("m-1", "host:1:abc", clock.time() + expires_in)
    hooks, sqs, leases = Hooks(), FakeSQS(), FakeLeases(holder)
    make_worker(hooks, sqs, leases).process(message(message_id="m-1"))
    assert sqs.visibility() == [("r-m-1-1", delay)]
    assert sqs.deleted() == []  # positive control: the duplicate above is deleted
    assert hooks.handled == []
    assert leases.releases == []


def test_a_failed_release_of_a_held_message_is_not_an_error(clock):
    hooks, sqs = Hooks(), FakeSQS()
    sqs.visibility_error = client_error("ReceiptHandleIsInvalid")
    make_worker(hooks, sqs, FakeLeases(Holder("m-1", "h", clock.time() + 5))).process(message())
    assert sqs.visibility() == [("r-m-1-1", 6)]
    assert sqs.deleted() == [] and hooks.handled == []


def test_a_lease_that_cannot_be_read_leaves_the_message_to_come_back(clock):
    hooks, sqs = Hooks(), FakeSQS()
    leases = FakeLeases(client_error("ServiceUnavailable"))
    with pytest.raises(ClientError) as info:
        make_worker(hooks, sqs, leases).process(message())
    assert error_code(info.value) == "ServiceUnavailable"  # for run() to log; the message comes back by itself
    assert sqs.deleted() == [] and sqs.visibility() == []
    assert hooks.handled == []


def test_a_failed_lease_release_does_not_undo_the_settled_message(clock):
    hooks, sqs, leases = Hooks(), FakeSQS(), FakeLeases()
    leases.release_error = client_error("ServiceUnavailable")
    make_worker(hooks, sqs, leases).process(message())
    assert leases.releases == [leases.lease]
    assert sqs.deleted() == ["r-m-1-1"]


def test_leases_with_a_real_lease_store_over_conditional_writes(clock):
    """Worker B meets worker A's lease in a fake S3: duplicate deleted, same message held back, then taken over."""
    s3 = FakeS3()
    held = LeaseStore(s3, "status", ttl_seconds=60).acquire(JOB.job_id, "m-1")
    assert isinstance(held, Lease)
    hooks, sqs = Hooks(), FakeSQS()
    worker = make_worker(hooks, sqs, LeaseStore(s3, "status", ttl_seconds=60))

    worker.process(message(message_id="m-2"))
    assert sqs.deleted() == ["r-m-2-1"]

    clock.advance(20)
    worker.process(message(message_id="m-1", receive_count=2))
    assert sqs.visibility() == [("r-m-1-2", 41)]
    assert hooks.handled == []

    clock.advance(41)  # A stopped renewing: its lease has expired
    worker.process(message(message_id="m-1", receive_count=3))
    assert [job for job, _ in hooks.handled] == [JOB]
    assert sqs.deleted() == ["r-m-2-1", "r-m-1-3"]
    assert ("status", lease_key(JOB.job_id)) not in s3.objects  # released after the job
    takeover = s3.calls_of("put_object")[-1]
    assert takeover["IfMatch"] == held.etag


# ---------------------------------------------------------------------------------- the loop
def test_the_loop_survives_a_failed_receive_and_an_unsettled_message(clock):
    sqs = FakeSQS(
        batches=[client_error("ServiceUnavailable"), [message(message_id="m-1")], [message(message_id="m-2")]]
    )
    hooks = Hooks()
    leases = FakeLeases(client_error("InternalError"), Lease(JOB.job_id, "m-2", '"e2"', 0.0))
    handled = make_worker(hooks, sqs, leases, retry_base_seconds=0).run(max_messages=2)
    assert handled == 2
    assert [name for name, _ in sqs.calls].count("receive_message") == 3
    assert leases.acquires == [(JOB.job_id, "m-1"), (JOB.job_id, "m-2")]
    assert sqs.deleted() == ["r-m-2-1"]  # m-1 comes back after its visibility timeout
    assert len(hooks.handled) == 1


# ---------------------------------------------------------------------------------- the heartbeat's decisions
def beat(leases: FakeLeases, beats: int = 3) -> tuple[QueueWorker, FakeSQS, threading.Event]:
    """Run the heartbeat loop in this thread, without waiting, until the lease is lost or `beats` renewals."""
    sqs = FakeSQS()
    worker = make_worker(Hooks(), sqs, leases)
    lost = threading.Event()
    heartbeat = _Heartbeat(worker, "r-m-1-1", leases.lease, lost)
    heartbeat.interval = 0
    leases.after_renew = lambda n: heartbeat.done.set() if n >= beats else None
    heartbeat._beat()
    return worker, sqs, lost


@pytest.mark.parametrize("code", ["PreconditionFailed", "ConditionalRequestConflict", "412", "409"])
def test_a_renewal_conflict_means_the_lease_was_taken_over(code):
    leases = FakeLeases()
    leases.renew_error = client_error(code)
    _, sqs, lost = beat(leases)
    assert lost.is_set()
    assert len(leases.renewals) == 1  # stops renewing at once
    assert sqs.visibility() == [("r-m-1-1", 60)]


@pytest.mark.parametrize("code", ["ServiceUnavailable", "SlowDown", "AccessDenied", "NoSuchKey"])
def test_other_renewal_errors_are_no_lost_lease(code):
    leases = FakeLeases()
    leases.renew_error = client_error(code)
    _, sqs, lost = beat(leases, beats=3)
    assert not lost.is_set()  # positive control: test_a_renewal_conflict_means_the_lease_was_taken_over
    assert len(leases.renewals) == 3
    assert sqs.visibility() == [("r-m-1-1", 60)] * 3


def test_each_beat_extends_the_visibility_and_renews_the_lease():
    leases = FakeLeases()
    _, sqs, lost = beat(leases, beats=2)
    assert not lost.is_set()
    assert leases.renewals == [leases.lease] * 2
    assert sqs.visibility() == [("r-m-1-1", 60)] * 2


def test_without_a_lease_the_heartbeat_still_extends_the_visibility():
    sqs, leases = FakeSQS(), FakeLeases()
    heartbeat = _Heartbeat(make_worker(Hooks(), sqs, leases), "r-m-1-1", None, threading.Event())
    heartbeat.interval = 0
    sqs.after_visibility = lambda n: heartbeat.done.set() if n >= 3 else None
    heartbeat._beat()
    assert sqs.visibility() == [("r-m-1-1", 60)] * 3
    assert leases.renewals == []  # positive control: test_each_beat_extends_the_visibility_and_renews_the_lease


# ---------------------------------------------------------------------------------- settings
@pytest.mark.parametrize("seconds", [0, -1, MAX_JOB_SECONDS + 1])
def test_a_job_timeout_beyond_what_sqs_allows_is_refused(seconds):
    with pytest.raises(ConfigError, match="FML_JOB_TIMEOUT_SECONDS"):
        make_worker(Hooks(), job_timeout_seconds=seconds)


@pytest.mark.parametrize("seconds", [1, MAX_JOB_SECONDS])
def test_a_job_timeout_within_bounds_is_kept(seconds):
    assert make_worker(Hooks(), job_timeout_seconds=seconds).job_timeout_seconds == seconds
