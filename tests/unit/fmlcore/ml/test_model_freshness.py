"""ModelStore keeps the latest version fresh in the background: a request for a loaded model makes no S3 call.

The store runs against an in-memory versioned bucket that counts head_object/get_object calls.
Rounds of the refresher are run by hand (`refresh_latest`) where the test is about what a round
does, and by the real thread (short TTL, polled) where it is about the thread.
"""

import gc
import threading
import time

import numpy as np
import pytest
import xgboost as xgb

from fmlcore.core.errors import NotFound
from fmlcore.ml.model_store import ModelStore

from .versioned_s3 import VersionedS3, client_error

BUCKET, MODEL = "models", "churn"
HOUR = 3600.0  # a TTL under which the refresher thread never runs a round during a test


def booster(depth: int) -> xgb.Booster:
    rng = np.random.default_rng(depth)
    x = rng.normal(size=(40, 2))
    data = xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int), feature_names=["a", "b"])
    return xgb.train({"objective": "binary:logistic", "max_depth": depth, "nthread": 1}, data, num_boost_round=2)


def publish(s3: VersionedS3, depth: int = 1) -> str:
    """A new latest version written by another process (its own store, so nothing is shared in memory)."""
    return ModelStore(s3, BUCKET).save(MODEL, booster(depth), {"objective": "binary:logistic"})


def wait_until(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture
def s3() -> VersionedS3:
    return VersionedS3()


@pytest.fixture
def store(s3):
    store = ModelStore(s3, BUCKET, latest_ttl_seconds=HOUR, nthread=1)
    yield store
    store.close()


def test_first_load_asks_s3_then_the_hot_path_makes_no_s3_call(s3, store):
    version = publish(s3)
    assert store.load(MODEL).version == version
    assert (s3.calls["head_object"], s3.calls["get_object"]) == (1, 1)  # the first load: HEAD + GET
    for _ in range(1000):
        assert store.load(MODEL).version == version
    assert (s3.calls["head_object"], s3.calls["get_object"]) == (1, 1)


def test_the_refresher_is_one_daemon_thread_started_by_the_first_latest_load(s3, store):
    version = publish(s3)
    assert store._refresher is None
    store.load(MODEL, version)  # a pinned version needs no freshness
    assert store._refresher is None
    store.load(MODEL)
    thread = store._refresher
    assert thread is not None and thread.daemon and thread.is_alive()
    store.load(MODEL)
    assert store._refresher is thread
    store.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_new_version_is_downloaded_by_a_round_then_served_from_memory(s3, store):
    old = publish(s3, depth=1)
    assert store.load(MODEL).version == old
    new = publish(s3, depth=3)
    assert store.load(MODEL).version == old  # no round yet: requests keep the version they know
    store.refresh_latest()
    assert (s3.calls["head_object"], s3.calls["get_object"]) == (2, 2)  # the round: HEAD, then GET of the new one
    assert store.load(MODEL).version == new
    store.refresh_latest()  # nothing new: one HEAD, no download
    assert (s3.calls["head_object"], s3.calls["get_object"]) == (3, 2)
    for _ in range(100):
        assert store.load(MODEL).version == new
    assert (s3.calls["head_object"], s3.calls["get_object"]) == (3, 2)


def test_the_thread_picks_up_a_new_version_without_a_restart(s3):
    store = ModelStore(s3, BUCKET, latest_ttl_seconds=0.05, nthread=1)
    try:
        old = publish(s3, depth=1)
        assert store.load(MODEL).version == old
        new = publish(s3, depth=3)
        wait_until(lambda: store.load(MODEL).version == new)
    finally:
        store.close()


def test_the_refresher_survives_s3_errors_and_retries(s3, store, caplog):
    old = publish(s3)
    store.load(MODEL)
    new = publish(s3, depth=3)
    s3.failing["head_object"] = client_error("ServiceUnavailable", 503, "HeadObject")
    store.refresh_latest()  # logged, not raised
    assert store.load(MODEL).version == old
    assert "retrying" in caplog.text
    del s3.failing["head_object"]
    store.refresh_latest()
    assert store.load(MODEL).version == new


def test_the_thread_keeps_running_through_errors(s3):
    store = ModelStore(s3, BUCKET, latest_ttl_seconds=0.02, nthread=1)
    try:
        publish(s3)
        store.load(MODEL)
        s3.failing["head_object"] = RuntimeError("the network is down")
        before = s3.calls["head_object"]
        wait_until(lambda: s3.calls["head_object"] >= before + 3)  # several failed rounds
        new = publish(s3, depth=3)
        del s3.failing["head_object"]
        wait_until(lambda: store.load(MODEL).version == new)
        assert store._refresher.is_alive()
    finally:
        store.close()


def test_a_failed_download_of_the_new_version_leaves_it_to_requests_as_before(s3, store):
    publish(s3)
    store.load(MODEL)
    new = publish(s3, depth=3)
    s3.failing["get_object"] = client_error("InternalError", 500, "GetObject")
    store.refresh_latest()
    del s3.failing["get_object"]
    assert store.load(MODEL).version == new  # the request downloads it, as it did before the refresher


def test_a_deleted_model_is_forgotten_and_its_next_request_is_404(s3, store):
    publish(s3)
    store.load(MODEL)
    s3.delete_all(BUCKET, f"{MODEL}/model.ubj")
    store.refresh_latest()
    with pytest.raises(NotFound, match="no model"):
        store.load(MODEL)


def test_a_model_evicted_from_the_cache_is_no_longer_watched(s3):
    store = ModelStore(s3, BUCKET, cache_size=1, latest_ttl_seconds=HOUR, nthread=1)
    try:
        publish(s3)
        store.load(MODEL)
        other = ModelStore(s3, BUCKET).save("other", booster(2), {"objective": "binary:logistic"})
        assert store.load("other").version == other  # evicts churn
        heads = s3.calls["head_object"]
        store.refresh_latest()
        assert store._watched == {"other"}
        assert s3.calls["head_object"] == heads + 1  # only "other" is checked
    finally:
        store.close()


def test_a_zero_ttl_asks_s3_on_every_load_and_starts_no_thread(s3):
    store = ModelStore(s3, BUCKET, latest_ttl_seconds=0, nthread=1)
    old = publish(s3)
    for _ in range(3):
        assert store.load(MODEL).version == old
    assert s3.calls["head_object"] == 3 and store._refresher is None
    new = publish(s3, depth=3)
    assert store.load(MODEL).version == new


def test_latest_version_fresh_still_asks_s3(s3, store):
    publish(s3)
    store.load(MODEL)
    new = publish(s3, depth=3)
    heads = s3.calls["head_object"]
    assert store.latest_version(MODEL, fresh=True) == new
    assert s3.calls["head_object"] == heads + 1
    assert store.load(MODEL).version == new  # and requests follow what it found


def test_requests_during_a_switch_see_the_old_or_the_new_version(s3, store):
    old = publish(s3, depth=1)
    store.load(MODEL)
    new = publish(s3, depth=3)
    seen, errors = set(), []

    def client() -> None:
        try:
            for _ in range(300):
                seen.add(store.load(MODEL).version)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    store.refresh_latest()
    for t in threads:
        t.join()
    assert errors == [] and seen <= {old, new}
    assert store.load(MODEL).version == new
    assert s3.calls["get_object"] == 2  # each version downloaded once


def test_a_store_nobody_holds_ends_its_thread(s3):
    store = ModelStore(s3, BUCKET, latest_ttl_seconds=0.02, nthread=1)
    publish(s3)
    store.load(MODEL)
    thread = store._refresher
    del store
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()
