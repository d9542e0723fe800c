"""Group commit of online predictions (predictor.online.PredictionLog) over an in-memory S3:
requests in one window share one PUT, each id finds its own line, a failed PUT fails the
whole group and leaves nothing retrievable."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from fmlcore.core.errors import NotFound, TransientError
from predictor.online import PredictionLog, locate


class MemoryS3:
    def __init__(self, fail: bool = False) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []
        self.fail = fail

    def put_object(self, Bucket, Key, Body, ContentType):
        self.puts.append(Key)
        if self.fail:
            raise ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject")
        self.objects[Key] = Body

    def get_object(self, Bucket, Key):
        if Key not in self.objects:
            raise ClientError(
                {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "GetObject"
            )
        return {"Body": SimpleNamespace(read=lambda: self.objects[Key])}


def line(n: int):
    return lambda prediction_id: {"prediction_id": prediction_id, "model": "churn", "n": n}


def concurrently(log: PredictionLog, count: int, model: str = "churn") -> list:
    results: list = [None] * count
    start = threading.Barrier(count)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = log.store(model, line(i))
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_requests_within_the_window_share_one_put_and_each_finds_its_line():
    s3 = MemoryS3()
    log = PredictionLog(s3, "preds", window_seconds=0.5, max_lines=64)
    results = concurrently(log, 8)
    assert len(s3.puts) == 1 and log.puts == 1
    key = s3.puts[0]
    assert key.startswith("online/churn/dt=") and "/hour=" in key and key.endswith(".jsonl")
    assert s3.objects[key].count(b"\n") == 8
    for i, (prediction_id, uri) in enumerate(results):
        assert uri == f"s3://preds/{key}"
        assert log.get(prediction_id) == {"prediction_id": prediction_id, "model": "churn", "n": i}


def test_a_full_group_is_put_at_once_and_models_never_share_an_object():
    s3 = MemoryS3()
    log = PredictionLog(s3, "preds", window_seconds=0.5, max_lines=3)
    results = concurrently(log, 9)
    assert len(s3.puts) == 3  # 9 requests, groups of 3: none waited for the window to close
    assert {locate(pid).key for pid, _ in results} == set(s3.puts)
    log.store("fraud", line(0))
    assert s3.puts[-1].startswith("online/fraud/")


def test_a_failed_put_fails_every_request_of_its_group_and_stores_nothing():
    s3 = MemoryS3(fail=True)
    log = PredictionLog(s3, "preds", window_seconds=0.3, max_lines=64)
    results = concurrently(log, 5)
    assert len(s3.puts) == 1 and s3.objects == {}
    assert all(isinstance(r, TransientError) for r in results), results
    assert "SlowDown" in results[0].details["reason"]
    # Positive control: once S3 answers again, the next request is stored and retrievable.
    s3.fail = False
    prediction_id, _ = log.store("churn", line(99))
    assert log.get(prediction_id)["n"] == 99


def test_a_lone_request_is_stored_alone_after_the_window():
    s3 = MemoryS3()
    log = PredictionLog(s3, "preds", window_seconds=0.002)
    first, _ = log.store("churn", line(1))
    second, _ = log.store("churn", line(2))
    assert len(s3.puts) == 2 and locate(first).line == 1 == locate(second).line


def test_ids_locate_their_object_and_line_and_anything_else_is_not_found():
    where = locate(f"2026113005-{'a' * 32}-17-churn")
    assert where.key == f"online/churn/dt=2026-11-30/hour=05/{'a' * 32}.jsonl" and where.line == 17
    legacy = locate(f"20261130-{'b' * 32}-churn")  # stored alone, before grouping
    assert legacy.key == f"online/churn/2026/11/30/20261130-{'b' * 32}-churn.json" and legacy.line is None
    for bad in ["not-an-id", f"2026139925-{'a' * 32}-1-churn", f"2026113005-{'a' * 32}-1-Churn"]:
        with pytest.raises(NotFound):
            locate(bad)
    log = PredictionLog(MemoryS3(), "preds")
    prediction_id, _ = log.store("churn", line(1))
    other_line = prediction_id.replace("-1-churn", "-2-churn")
    with pytest.raises(NotFound):
        log.get(other_line)  # the object exists, the line does not
