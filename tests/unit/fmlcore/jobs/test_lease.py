"""Job leases over S3 conditional writes: take, renew, take over when expired, meet a live holder, release.

The S3 is `fakes.FakeS3` (412 PreconditionFailed, 409 ConditionalRequestConflict, 404 NoSuchKey
as S3 answers them); the time is a fake clock, so expiry is exact.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from fmlcore.core.aws import error_code
from fmlcore.jobs import lease as lease_module
from fmlcore.jobs.lease import CONFLICT_CODES, Holder, Lease, LeaseStore, lease_key
from tests.unit.fakes import Clock, FakeS3, client_error

BUCKET = "status"
TTL = 60
JOB_ID = "train-0123456789abcdef"
KEY = lease_key(JOB_ID)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(lease_module, "time", clock)
    return clock


@pytest.fixture
def s3() -> FakeS3:
    return FakeS3()


def store(s3: FakeS3) -> LeaseStore:
    return LeaseStore(s3, BUCKET, ttl_seconds=TTL)


def conditions(put: dict) -> dict:
    return {name: value for name, value in put.items() if name in ("IfMatch", "IfNoneMatch")}


# ---------------------------------------------------------------------------------- the fake itself
def test_the_fake_s3_answers_conditional_writes_as_s3_does(s3):
    first = s3.put_object(Bucket=BUCKET, Key="k", Body=b"1", IfNoneMatch="*")["ETag"]
    answers = {}
    for name, kwargs in {
        "create-existing": {"Key": "k", "IfNoneMatch": "*"},
        "match-other-etag": {"Key": "k", "IfMatch": '"0"'},
        "match-missing": {"Key": "gone", "IfMatch": first},
    }.items():
        with pytest.raises(ClientError) as info:
            s3.put_object(Bucket=BUCKET, Body=b"2", **kwargs)
        answers[name] = (error_code(info.value), info.value.response["ResponseMetadata"]["HTTPStatusCode"])
    assert answers == {
        "create-existing": ("PreconditionFailed", 412),
        "match-other-etag": ("PreconditionFailed", 412),
        "match-missing": ("NoSuchKey", 404),
    }
    assert s3.etag(BUCKET, "k") == first  # no failed write changed the object
    second = s3.put_object(Bucket=BUCKET, Key="k", Body=b"2", IfMatch=first)["ETag"]  # positive control
    assert second != first and s3.etag(BUCKET, "k") == second


# ---------------------------------------------------------------------------------- acquire
def test_acquire_creates_the_lease_only_where_there_is_none(clock, s3):
    leases = store(s3)
    lease = leases.acquire(JOB_ID, "m-1")
    assert lease == Lease(JOB_ID, "m-1", s3.etag(BUCKET, KEY), clock.time() + TTL)
    [put] = s3.calls_of("put_object")
    assert (put["Bucket"], put["Key"], conditions(put)) == (
        BUCKET,
        "_jobs/train-0123456789abcdef.lease",
        {"IfNoneMatch": "*"},
    )
    assert s3.body(BUCKET, KEY) == {
        "job_id": JOB_ID,
        "message_id": "m-1",
        "owner": leases.owner,
        "expires_at": clock.time() + TTL,
    }
    assert s3.calls_of("get_object") == []


def test_acquire_names_the_live_holder_and_leaves_its_lease(clock, s3):
    holder, other = store(s3), store(s3)
    held = holder.acquire(JOB_ID, "m-1")
    clock.advance(TTL - 1)
    assert other.acquire(JOB_ID, "m-2") == Holder("m-1", holder.owner, held.expires_at)
    assert s3.etag(BUCKET, KEY) == held.etag
    assert [conditions(put) for put in s3.calls_of("put_object")] == [{"IfNoneMatch": "*"}] * 2
    assert len(s3.calls_of("get_object")) == 1


def test_acquire_leaves_a_lease_one_instant_before_it_expires(clock, s3):
    holder, next_worker = store(s3), store(s3)
    held = holder.acquire(JOB_ID, "m-1")
    clock.advance(TTL - 0.001)
    assert next_worker.acquire(JOB_ID, "m-1") == Holder("m-1", holder.owner, held.expires_at)
    assert s3.body(BUCKET, KEY)["owner"] == holder.owner
    assert [conditions(put) for put in s3.calls_of("put_object")] == [{"IfNoneMatch": "*"}] * 2


@pytest.mark.parametrize("past_expiry", [0, 3600])
def test_acquire_takes_over_a_lease_once_it_has_expired(clock, s3, past_expiry):
    dead, next_worker = store(s3), store(s3)
    held = dead.acquire(JOB_ID, "m-1")
    clock.advance(TTL + past_expiry)
    got = next_worker.acquire(JOB_ID, "m-1")
    assert got == Lease(JOB_ID, "m-1", s3.etag(BUCKET, KEY), clock.time() + TTL)
    assert conditions(s3.calls_of("put_object")[-1]) == {"IfMatch": held.etag}
    assert s3.body(BUCKET, KEY)["owner"] == next_worker.owner  # positive control: the test above


def test_a_takeover_lost_to_a_faster_worker_returns_a_holder(clock, s3):
    dead, slow, fast = store(s3), store(s3), store(s3)
    dead.acquire(JOB_ID, "m-1")
    clock.advance(TTL + 1)
    # Between the slow worker reading the expired lease and writing its own, the fast one takes it.
    s3.after("get_object", lambda: fast.acquire(JOB_ID, "m-2"))
    assert slow.acquire(JOB_ID, "m-1") == Holder("?", "another worker", clock.time() + TTL)
    assert s3.body(BUCKET, KEY)["owner"] == fast.owner
    assert s3.body(BUCKET, KEY)["message_id"] == "m-2"


def test_a_lease_released_between_the_two_calls_is_created_again(clock, s3):
    holder, other = store(s3), store(s3)
    held = holder.acquire(JOB_ID, "m-1")
    s3.after("put_object", lambda: holder.release(held))  # right after the other's first, failed, write
    lease = other.acquire(JOB_ID, "m-2")
    assert isinstance(lease, Lease) and lease.message_id == "m-2"
    assert s3.body(BUCKET, KEY)["owner"] == other.owner
    assert [name for name, _ in s3.calls if name != "delete_object"] == [
        "put_object",  # holder's
        "put_object",  # other's If-None-Match: 412
        "get_object",  # NoSuchKey
        "put_object",  # other's If-None-Match again
    ]
    assert [conditions(put) for put in s3.calls_of("put_object")][1:] == [{"IfNoneMatch": "*"}] * 2


def test_a_concurrent_create_409_counts_as_held(clock, s3):
    holder, other = store(s3), store(s3)
    held = holder.acquire(JOB_ID, "m-1")
    s3.fail("put_object", client_error("ConditionalRequestConflict"))
    assert other.acquire(JOB_ID, "m-2") == Holder("m-1", holder.owner, held.expires_at)


@pytest.mark.parametrize("code", ["AccessDenied", "SlowDown", "InternalError"])
def test_acquire_raises_errors_that_are_no_conflict(clock, s3, code):
    s3.fail("put_object", client_error(code))
    with pytest.raises(ClientError) as info:
        store(s3).acquire(JOB_ID, "m-1")
    assert error_code(info.value) == code
    assert s3.calls_of("get_object") == []  # positive control: the 412/409 tests above go on to read the lease
    assert KEY not in {key for _, key in s3.objects}


def test_acquire_raises_when_the_held_lease_cannot_be_read(clock, s3):
    store(s3).acquire(JOB_ID, "m-1")
    s3.fail("get_object", client_error("AccessDenied"))
    with pytest.raises(ClientError) as info:
        store(s3).acquire(JOB_ID, "m-2")
    assert error_code(info.value) == "AccessDenied"


def test_acquire_raises_when_the_takeover_write_fails_for_another_reason(clock, s3):
    held = store(s3).acquire(JOB_ID, "m-1")
    clock.advance(TTL + 1)
    s3.after("get_object", lambda: s3.fail("put_object", client_error("SlowDown")))
    with pytest.raises(ClientError) as info:
        store(s3).acquire(JOB_ID, "m-1")
    assert error_code(info.value) == "SlowDown"  # not a Holder: test_a_takeover_lost_to_a_faster_worker_...
    assert s3.etag(BUCKET, KEY) == held.etag


# ---------------------------------------------------------------------------------- renew, release
def test_renew_extends_the_lease_under_its_etag(clock, s3):
    leases = store(s3)
    lease = leases.acquire(JOB_ID, "m-1")
    old_etag = lease.etag
    clock.advance(20)
    renewed = leases.renew(lease)
    assert renewed is lease
    assert lease.expires_at == clock.time() + TTL
    assert lease.etag == s3.etag(BUCKET, KEY) != old_etag
    assert conditions(s3.calls_of("put_object")[-1]) == {"IfMatch": old_etag}
    assert s3.body(BUCKET, KEY)["expires_at"] == lease.expires_at
    clock.advance(20)
    leases.renew(lease)  # and again, with the new etag
    assert lease.expires_at == clock.time() + TTL


def test_renew_after_a_takeover_raises_a_conflict_and_leaves_the_new_lease(clock, s3):
    cut_off, next_worker = store(s3), store(s3)
    lease = cut_off.acquire(JOB_ID, "m-1")
    clock.advance(TTL + 1)
    taken = next_worker.acquire(JOB_ID, "m-1")
    assert isinstance(taken, Lease)
    with pytest.raises(ClientError) as info:
        cut_off.renew(lease)
    assert error_code(info.value) == "PreconditionFailed"
    assert error_code(info.value) in CONFLICT_CODES
    assert s3.etag(BUCKET, KEY) == taken.etag
    assert s3.body(BUCKET, KEY)["owner"] == next_worker.owner
    next_worker.renew(taken)  # positive control: the new holder still renews


def test_renew_meeting_a_concurrent_write_raises_a_conflict(clock, s3):
    leases = store(s3)
    lease = leases.acquire(JOB_ID, "m-1")
    s3.fail("put_object", client_error("ConditionalRequestConflict"))
    with pytest.raises(ClientError) as info:
        leases.renew(lease)
    assert error_code(info.value) in CONFLICT_CODES
    assert s3.etag(BUCKET, KEY) == lease.etag


def test_release_deletes_the_lease_so_the_next_worker_takes_it_at_once(clock, s3):
    first, second = store(s3), store(s3)
    first.release(first.acquire(JOB_ID, "m-1"))
    assert s3.calls_of("delete_object") == [{"Bucket": BUCKET, "Key": KEY}]
    assert (BUCKET, KEY) not in s3.objects
    lease = second.acquire(JOB_ID, "m-2")
    assert isinstance(lease, Lease)
    assert conditions(s3.calls_of("put_object")[-1]) == {"IfNoneMatch": "*"}
    assert s3.calls_of("get_object") == []


def test_every_store_has_its_own_owner(s3):
    assert store(s3).owner != store(s3).owner
