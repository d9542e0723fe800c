"""Group commit of online predictions (predictor.online.PredictionLog) over the in-memory S3 of tests/unit/fakes.py:
requests in one window share one PUT, each id finds its own line, a failed PUT fails the
whole group and leaves nothing retrievable."""

from __future__ import annotations

import threading

import pytest

from fmlcore.core.errors import NotFound, TransientError
from predictor.online import PredictionLog, locate
from tests.unit.fakes import FakeS3, client_error


def puts(s3: FakeS3) -> list[str]:
    return [call["Key"] for call in s3.calls_of("put_object")]


def body(s3: FakeS3, key: str) -> bytes:
    return s3.objects[("preds", key)][0]


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
    s3 = FakeS3()
    log = PredictionLog(s3, "preds", window_seconds=0.5, max_lines=64)
    results = concurrently(log, 8)
    assert len(puts(s3)) == 1 and log.puts == 1
    key = puts(s3)[0]
    assert key.startswith("online/churn/dt=") and "/hour=" in key and key.endswith(".jsonl")
    assert body(s3, key).count(b"\n") == 8
    for i, (prediction_id, uri) in enumerate(results):
        assert uri == f"s3://preds/{key}"
        assert log.get(prediction_id) == {"prediction_id": prediction_id, "model": "churn", "n": i}


def test_a_full_group_is_put_at_once_and_models_never_share_an_object():
    s3 = FakeS3()
    log = PredictionLog(s3, "preds", window_seconds=0.5, max_lines=3)
    results = concurrently(log, 9)
    assert len(puts(s3)) == 3  # 9 requests, groups of 3: none waited for the window to close
    assert {locate(pid).key for pid, _ in results} == set(puts(s3))
    log.store("fraud", line(0))
    assert puts(s3)[-1].startswith("online/fraud/")


def test_a_failed_put_fails_every_request_of_its_group_and_stores_nothing():
    s3 = FakeS3()
    s3.fail("put_object", client_error("SlowDown", 503, "PutObject"))
    log = PredictionLog(s3, "preds", window_seconds=0.3, max_lines=64)
    results = concurrently(log, 5)
    assert len(puts(s3)) == 1 and s3.objects == {}
    assert all(isinstance(r, TransientError) for r in results), results
    assert "SlowDown" in results[0].details["reason"]
    # Positive control: once S3 answers again (the scripted error was for one call), the next request is stored.
    prediction_id, _ = log.store("churn", line(99))
    assert log.get(prediction_id)["n"] == 99


def test_a_lone_request_is_stored_alone_after_the_window():
    s3 = FakeS3()
    log = PredictionLog(s3, "preds", window_seconds=0.002)
    first, _ = log.store("churn", line(1))
    second, _ = log.store("churn", line(2))
    assert len(puts(s3)) == 2 and locate(first).line == 1 == locate(second).line


def test_ids_locate_their_object_and_line_and_anything_else_is_not_found():
    where = locate(f"2026113005-{'a' * 32}-17-churn")
    assert where.key == f"online/churn/dt=2026-11-30/hour=05/{'a' * 32}.jsonl" and where.line == 17
    legacy = locate(f"20261130-{'b' * 32}-churn")  # stored alone, before grouping
    assert legacy.key == f"online/churn/2026/11/30/20261130-{'b' * 32}-churn.json" and legacy.line is None
    for bad in ["not-an-id", f"2026139925-{'a' * 32}-1-churn", f"2026113005-{'a' * 32}-1-Churn"]:
        with pytest.raises(NotFound):
            locate(bad)
    log = PredictionLog(FakeS3(), "preds")
    prediction_id, _ = log.store("churn", line(1))
    other_line = prediction_id.replace("-1-churn", "-2-churn")
    with pytest.raises(NotFound):
        log.get(other_line)  # the object exists, the line does not
