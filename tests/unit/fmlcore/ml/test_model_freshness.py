"""ModelStore keeps the aliases it serves fresh in the background: a request for a loaded model makes no S3 call.

The store runs against an in-memory versioned bucket that counts head_object/get_object calls.
Rounds of the refresher are run by hand (`refresh_aliases`) where the test is about what a round
does, and by the real thread (short TTL, polled) where it is about the thread.
"""

import gc
import threading
import time

import numpy as np
import pytest
import xgboost as xgb

from fmlcore.core.errors import InvalidInput, NotFound
from fmlcore.core.layout import LIVE, SHADOW, alias_key, model_key
from fmlcore.ml.model_store import ModelStore

from .versioned_s3 import VersionedS3, client_error

BUCKET, MODEL = "models", "churn"
HOUR = 3600.0  # a TTL under which the refresher thread never runs a round during a test


def booster(depth: int) -> xgb.Booster:
    rng = np.random.default_rng(depth)
    x = rng.normal(size=(40, 2))
    data = xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int), feature_names=["a", "b"])
    return xgb.train({"objective": "binary:logistic", "max_depth": depth, "nthread": 1}, data, num_boost_round=2)


def publish(s3: VersionedS3, depth: int = 1, model: str = MODEL, live: bool = True) -> str:
    """A new version (made `live` unless told not to) written by another process: its own store,
    so nothing is shared in memory."""
    other = ModelStore(s3, BUCKET)
    version = other.save(model, booster(depth), {"objective": "binary:logistic"})
    if live:
        other.move_alias(model, LIVE, version, {"source": "test"}, "published")
    return version


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
    s3.calls.clear()
    assert store.load(MODEL).version == version
    assert s3.calls["get_object"] == 2  # the first load: the alias, then the model
    for _ in range(1000):
        assert store.load(MODEL).version == version
    assert s3.calls["get_object"] == 2 and s3.calls["head_object"] == 0


def test_live_is_served_not_the_newest_version(s3, store):
    live = publish(s3, depth=1)
    newer = publish(s3, depth=3, live=False)  # a candidate: stored, not served
    assert store.load(MODEL).version == live
    assert store.load(MODEL, newer).version == newer  # pinned
    assert store.latest_version(MODEL) == newer


def test_an_alias_and_a_version_together_are_refused(s3, store):
    version = publish(s3)
    with pytest.raises(InvalidInput, match="not both"):
        store.load(MODEL, version, alias=LIVE)


def test_a_model_without_live_is_404_naming_the_alias_and_a_missing_model_says_no_model(s3, store):
    publish(s3, live=False)
    with pytest.raises(NotFound, match="no alias 'live'"):
        store.load(MODEL)
    with pytest.raises(NotFound, match="no model 'nobody'"):
        store.load("nobody")
    assert store._watched == set()  # misses are not remembered


def test_an_absent_shadow_is_watched_beside_a_served_live_so_requests_make_no_s3_call(s3, store):
    publish(s3)
    store.load(MODEL)
    assert store.resolve(MODEL, SHADOW) is None
    calls = s3.calls["get_object"]
    for _ in range(100):
        assert store.resolve(MODEL, SHADOW) is None
    assert s3.calls["get_object"] == calls
    shadow = publish(s3, depth=3, live=False)
    ModelStore(s3, BUCKET).move_alias(MODEL, SHADOW, shadow, {"source": "test"}, "shadow it")
    store.refresh_aliases()
    assert store.resolve(MODEL, SHADOW) == shadow
    # positive control: without a served live, an absent alias is asked each time
    assert store.resolve("other", SHADOW) is None
    calls = s3.calls["get_object"]
    store.resolve("other", SHADOW)
    assert s3.calls["get_object"] == calls + 1


def test_the_refresher_is_one_daemon_thread_started_by_the_first_alias_load(s3, store):
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


def test_a_moved_alias_is_downloaded_by_a_round_then_served_from_memory(s3, store):
    old = publish(s3, depth=1)
    assert store.load(MODEL).version == old
    new = publish(s3, depth=3)
    assert store.load(MODEL).version == old  # no round yet: requests keep the version they know
    s3.calls.clear()
    store.refresh_aliases()
    assert s3.calls["get_object"] == 2  # the round: the alias, then the new model
    assert store.load(MODEL).version == new
    store.refresh_aliases()  # nothing new: the alias only
    assert s3.calls["get_object"] == 3
    for _ in range(100):
        assert store.load(MODEL).version == new
    assert s3.calls["get_object"] == 3


def test_the_thread_picks_up_a_moved_alias_without_a_restart(s3):
    store = ModelStore(s3, BUCKET, latest_ttl_seconds=0.05, nthread=1)
    try:
        old = publish(s3, depth=1)
        assert store.load(MODEL).version == old
        new = publish(s3, depth=3)
        wait_until(lambda: store.load(MODEL).version == new)
        ModelStore(s3, BUCKET).move_alias(MODEL, LIVE, old, {"source": "test"}, "rollback")
        wait_until(lambda: store.load(MODEL).version == old)  # back, from memory: no second download
        assert s3.calls["get_object"] >= 3
    finally:
        store.close()


def test_the_refresher_survives_s3_errors_and_retries(s3, store, caplog):
    old = publish(s3)
    store.load(MODEL)
    new = publish(s3, depth=3)
    s3.failing["get_object"] = client_error("ServiceUnavailable", 503, "GetObject")
    store.refresh_aliases()  # logged, not raised
    assert store.load(MODEL).version == old
    assert "retrying" in caplog.text
    del s3.failing["get_object"]
    store.refresh_aliases()
    assert store.load(MODEL).version == new


def test_the_thread_keeps_running_through_errors(s3):
    store = ModelStore(s3, BUCKET, latest_ttl_seconds=0.02, nthread=1)
    try:
        publish(s3)
        store.load(MODEL)
        s3.failing["get_object"] = RuntimeError("the network is down")
        before = s3.calls["get_object"]
        wait_until(lambda: s3.calls["get_object"] >= before + 3)  # several failed rounds
        del s3.failing["get_object"]
        new = publish(s3, depth=3)
        wait_until(lambda: store.load(MODEL).version == new)
        assert store._refresher.is_alive()
    finally:
        store.close()


def test_a_failed_download_of_the_new_version_leaves_it_to_requests_as_before(s3, store):
    publish(s3)
    store.load(MODEL)
    new = publish(s3, depth=3)
    s3.failing_keys[model_key(MODEL)] = client_error("InternalError", 500, "GetObject")
    store.refresh_aliases()
    del s3.failing_keys[model_key(MODEL)]
    assert store.load(MODEL).version == new  # the request downloads it


def test_a_deleted_model_is_forgotten_and_its_next_request_is_404(s3, store):
    publish(s3)
    store.load(MODEL)
    s3.delete_all(BUCKET, model_key(MODEL))
    s3.delete_all(BUCKET, alias_key(MODEL, LIVE))
    store.refresh_aliases()
    with pytest.raises(NotFound, match="no model"):
        store.load(MODEL)


def test_a_model_evicted_from_the_cache_is_no_longer_watched(s3):
    store = ModelStore(s3, BUCKET, cache_size=1, latest_ttl_seconds=HOUR, nthread=1)
    try:
        publish(s3)
        store.load(MODEL)
        other = publish(s3, depth=2, model="other")
        assert store.load("other").version == other  # evicts churn
        calls = s3.calls["get_object"]
        store.refresh_aliases()
        assert store._watched == {("other", LIVE)}
        assert s3.calls["get_object"] == calls + 1  # only other's alias is read
    finally:
        store.close()


def test_a_zero_ttl_asks_s3_on_every_load_and_starts_no_thread(s3):
    store = ModelStore(s3, BUCKET, latest_ttl_seconds=0, nthread=1)
    old = publish(s3)
    s3.calls.clear()
    for _ in range(3):
        assert store.load(MODEL).version == old
    assert s3.calls["get_object"] == 4 and store._refresher is None  # 3 alias reads, 1 download
    new = publish(s3, depth=3)
    assert store.load(MODEL).version == new


def test_moving_an_alias_in_this_process_is_served_at_once(s3, store):
    old = publish(s3)
    new = publish(s3, depth=3)
    assert store.load(MODEL).version == new
    store.move_alias(MODEL, LIVE, old, {"source": "test"}, "rollback")
    assert store.load(MODEL).version == old
    with pytest.raises(NotFound, match="no version"):
        store.move_alias(MODEL, LIVE, "v9999", {"source": "test"}, "no such version")


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

    s3.calls.clear()
    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    store.refresh_aliases()
    for t in threads:
        t.join()
    assert errors == [] and seen <= {old, new}
    assert store.load(MODEL).version == new
    assert s3.calls["get_object"] == 2  # the alias, and the new version downloaded once


def test_a_store_nobody_holds_ends_its_thread(s3):
    store = ModelStore(s3, BUCKET, latest_ttl_seconds=0.02, nthread=1)
    publish(s3)
    store.load(MODEL)
    thread = store._refresher
    del store
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()
