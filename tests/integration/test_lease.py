"""Job leases on the emulator's S3 conditional writes."""

import time

import pytest

from fmlcore.jobs.lease import Holder, Lease, LeaseStore

pytestmark = pytest.mark.emulator


def test_one_holder_at_a_time_and_takeover_after_expiry(aws, settings, unique):
    job_id = f"train-{unique}"
    a = LeaseStore(aws.s3, settings.models_bucket, ttl_seconds=1.5)
    b = LeaseStore(aws.s3, settings.models_bucket, ttl_seconds=1.5)

    first = a.acquire(job_id, "msg-1")
    assert isinstance(first, Lease)
    busy = b.acquire(job_id, "msg-2")
    assert isinstance(busy, Holder) and busy.message_id == "msg-1" and busy.owner == a.owner

    a.renew(first)  # the holder's heartbeat keeps it
    time.sleep(1.7)  # ...until it stops renewing (a dead worker)
    taken = b.acquire(job_id, "msg-2")
    assert isinstance(taken, Lease)
    with pytest.raises(Exception, match="PreconditionFailed"):
        a.renew(first)  # the old holder has lost it

    b.release(taken)
    assert isinstance(a.acquire(job_id, "msg-3"), Lease)
