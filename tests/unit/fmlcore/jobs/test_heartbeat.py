"""The worker's heartbeat renews the job's lease even when the visibility extension fails (and
the other way round): two renewals, neither hostage to the other."""

import threading
import time

from botocore.exceptions import ClientError

from fmlcore.jobs.worker import _Heartbeat


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Op")


class Leases:
    def __init__(self, fail: bool = False) -> None:
        self.renewed = 0
        self.fail = fail

    def renew(self, lease):
        self.renewed += 1
        if self.fail:
            raise client_error("ServiceUnavailable")
        return lease


class Worker:
    visibility_timeout = 3  # a beat every second

    def __init__(self, leases: Leases, fail: bool) -> None:
        self.leases = leases
        self.fail = fail
        self.extended = 0

    def extend(self, receipt: str) -> None:
        self.extended += 1
        if self.fail:  # e.g. SQS refusing to go past 12 h
            raise client_error("InvalidParameterValue")


def beat_for(worker: Worker, seconds: float) -> threading.Event:
    lost = threading.Event()
    with _Heartbeat(worker, "receipt", lease=object(), lease_lost=lost):
        time.sleep(seconds)
    return lost


def test_a_failing_visibility_extension_does_not_stop_lease_renewal():
    worker = Worker(Leases(), fail=True)
    assert not beat_for(worker, 2.5).is_set()
    assert worker.extended >= 2 and worker.leases.renewed >= 2


def test_a_failing_lease_renewal_does_not_stop_visibility_extension():
    worker = Worker(Leases(fail=True), fail=False)
    assert not beat_for(worker, 2.5).is_set()  # a transient error is no lost lease
    assert worker.leases.renewed >= 2 and worker.extended >= 2
