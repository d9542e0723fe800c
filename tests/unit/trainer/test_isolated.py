"""Training in a child process: the same model as in-process, errors carried back, and a hard
deadline that kills a round that would not end by itself."""

import time

import numpy as np
import pandas as pd
import pytest

from fmlcore.core.errors import InvalidInput
from tests.conftest import ROOT
from trainer.isolated import train_in_child
from trainer.training import BudgetExceeded, Interrupted, TrainOptions, prepare, train

SAMPLE = pd.read_csv(ROOT / "samples" / "churn.csv")
OPTIONS = {"target": "churned", "num_boost_round": 20}


def test_the_child_trains_the_same_model_as_in_process():
    trained, rows = train_in_child(SAMPLE, OPTIONS, nthread=1)
    opts = TrainOptions.from_job(OPTIONS)
    here = train(prepare(SAMPLE, opts), opts, nthread=1)
    assert rows == len(SAMPLE)
    features = prepare(SAMPLE.head(50), opts).features
    assert np.allclose(trained.booster.inplace_predict(features), here.booster.inplace_predict(features))
    assert trained.metadata["metrics"] == here.metadata["metrics"]


def test_a_file_is_read_in_chunks_in_the_child_and_errors_come_back_as_themselves():
    trained, rows = train_in_child(ROOT / "samples" / "churn.csv", OPTIONS, chunk_rows=500)
    assert rows == len(SAMPLE) and trained.metadata["rows"] == len(SAMPLE)
    with pytest.raises(InvalidInput, match="'nope' is not in the data"):
        train_in_child(SAMPLE, {"target": "nope"})


def test_a_round_longer_than_the_deadline_is_killed():
    """One boosting round here takes far longer than the 1 s limit; the round-level guard could
    only act after it, the child is killed on time. Control: the same data, a small model, ends."""
    rng = np.random.default_rng(0)
    big = pd.DataFrame(rng.normal(size=(200_000, 20)), columns=[f"x{i}" for i in range(20)])
    big["y"] = rng.normal(size=len(big))
    heavy = {
        "target": "y",
        "num_boost_round": 50,
        "params": {"max_depth": 20, "num_parallel_tree": 20, "max_bin": 1024},
    }
    with pytest.raises(BudgetExceeded, match="killed at its deadline"):  # the kill, not the round guard
        train_in_child(big, heavy, nthread=1, deadline=time.monotonic() + 1.0)
    light = {"target": "y", "num_boost_round": 2, "params": {"max_depth": 2}}
    trained, _ = train_in_child(big.head(2_000), light, nthread=1, deadline=time.monotonic() + 60)
    assert trained.metadata["num_trees"] >= 1


def test_a_stop_request_kills_the_child():
    rng = np.random.default_rng(1)
    big = pd.DataFrame(rng.normal(size=(100_000, 10)), columns=[f"x{i}" for i in range(10)])
    big["y"] = rng.normal(size=len(big))
    heavy = {"target": "y", "num_boost_round": 10_000, "params": {"max_depth": 12}}
    asked = time.monotonic() + 0.5
    with pytest.raises(Interrupted):
        train_in_child(big, heavy, nthread=1, should_stop=lambda: time.monotonic() > asked)
