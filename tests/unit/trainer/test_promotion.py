"""The promotion gate, with real XGBoost models of the sample data and an in-memory versioned bucket."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmlcore.core.layout import CANDIDATE, LIVE
from fmlcore.jobs.message import InputRef, JobMessage
from fmlcore.ml.model_store import LoadedModel, ModelStore, loaded_booster
from tests.conftest import ROOT
from tests.unit.fmlcore.ml.versioned_s3 import VersionedS3
from trainer.promotion import Promoter, default_metric
from trainer.training import TrainOptions, prepare, reference_set, train

SAMPLE = pd.read_csv(ROOT / "samples" / "churn.csv")
MODEL = "churn"


def flipped(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(churned=1 - frame["churned"])


class Versions:
    """Trains versions the way the trainer does: reference set written, artifact saved."""

    def __init__(self) -> None:
        self.s3 = VersionedS3()
        self.store = ModelStore(self.s3, "models", latest_ttl_seconds=0, nthread=1)
        self.promoter = Promoter(self.s3, self.store)
        self.count = 0

    def train(self, frame: pd.DataFrame, **options) -> tuple[JobMessage, LoadedModel, pd.DataFrame, TrainOptions]:
        self.count += 1
        opts = TrainOptions.from_job({"target": "churned", "num_boost_round": 30, **options})
        trained = train(prepare(frame, opts), opts, nthread=1)
        job = JobMessage.new("train", MODEL, InputRef("d", "churn/x.csv", "1"), options, "api", f"train-{self.count}")
        self.promoter.write_reference(MODEL, job.job_id, trained.reference)
        version = self.store.save(MODEL, trained.booster, {**trained.metadata, "job_id": job.job_id})
        return job, loaded_booster(MODEL, version, trained.booster), trained.reference, opts

    def promote(self, frame: pd.DataFrame, **options):
        job, candidate, reference, opts = self.train(frame, **options)
        return candidate.version, self.promoter.promote(job, candidate, reference, opts)


@pytest.fixture
def versions() -> Versions:
    return Versions()


def test_the_first_version_goes_live_and_every_version_is_the_candidate(versions):
    first, promotion = versions.promote(SAMPLE)
    assert promotion.promoted and promotion.reason == "no live version yet"
    assert versions.store.aliases.all(MODEL) == {CANDIDATE: first, LIVE: first}


def test_the_same_model_again_is_no_worse_on_both_sets(versions):
    first, _ = versions.promote(SAMPLE)
    second, promotion = versions.promote(SAMPLE)
    assert promotion.promoted, promotion
    assert [s["set"] for s in promotion.sets] == ["candidate_holdout", "live_reference"]
    assert all(s["candidate"] == s["live"] for s in promotion.sets)  # same data, same seed: the same model
    assert promotion.live_version == first and versions.store.aliases.version_of(MODEL, LIVE) == second


def test_broken_labels_are_held_back_by_the_live_reference_set(versions):
    good, _ = versions.promote(SAMPLE)
    bad, promotion = versions.promote(flipped(SAMPLE))
    assert not promotion.promoted and "worse than live on the live reference set" in promotion.reason
    sets = {s["set"]: s for s in promotion.sets}
    assert sets["candidate_holdout"]["no_worse"] is True  # its own holdout alone would have let it through
    assert sets["live_reference"]["candidate"] < 0.5 < sets["live_reference"]["live"]
    assert promotion.candidate_metric == sets["live_reference"]["candidate"] and promotion.metric == "auc"
    assert promotion.live_metric == sets["live_reference"]["live"]  # the figures of the set that decided
    assert versions.store.aliases.all(MODEL) == {CANDIDATE: bad, LIVE: good}


def test_judged_on_the_new_data_alone_the_broken_model_would_pass(versions):
    """Why both sets: the same decision without the live version's rows promotes the broken model."""
    versions.promote(SAMPLE)
    _job, candidate, reference, opts = versions.train(flipped(SAMPLE))
    live = versions.store.load(MODEL)
    alone = versions.promoter.judge(candidate, reference, live, None, opts)
    assert alone.promoted and "has no reference set" in alone.reason
    both = versions.promoter.judge(candidate, reference, live, versions.promoter.read_reference(live), opts)
    assert not both.promoted


def test_tolerance_and_metric_are_the_options(versions):
    versions.promote(SAMPLE, params={"max_depth": 4})
    _job, candidate, reference, opts = versions.train(SAMPLE, num_boost_round=1, params={"max_depth": 1})
    live = versions.store.load(MODEL)
    live_rows = versions.promoter.read_reference(live)
    strict = versions.promoter.judge(candidate, reference, live, live_rows, opts)
    assert not strict.promoted and strict.metric == "auc"  # a one-stump model is worse
    loose = TrainOptions.from_job({"target": "churned", "promote_tolerance": 1.0})
    assert versions.promoter.judge(candidate, reference, live, live_rows, loose).promoted
    by_logloss = TrainOptions.from_job({"target": "churned", "promote_metric": "logloss"})
    judged = versions.promoter.judge(candidate, reference, live, live_rows, by_logloss)
    assert judged.metric == "logloss" and not judged.promoted
    assert all(s["candidate"] > s["live"] for s in judged.sets)  # lower is better for logloss


def test_never_and_always(versions):
    first, _ = versions.promote(SAMPLE)
    _, never = versions.promote(SAMPLE, promote="never")
    assert not never.promoted and "never" in never.reason
    bad, always = versions.promote(flipped(SAMPLE), promote="always")
    assert always.promoted and always.live_version == first
    assert versions.store.aliases.version_of(MODEL, LIVE) == bad


def test_models_that_cannot_be_compared_are_held_for_a_person(versions):
    versions.promote(SAMPLE)
    _, promotion = versions.promote(SAMPLE, objective="reg:squarederror")
    assert not promotion.promoted and "its objective is 'binary:logistic'" in promotion.reason


def test_a_live_move_by_someone_else_meanwhile_means_judging_again(versions, monkeypatch):
    _first, _ = versions.promote(SAMPLE)
    job, candidate, reference, opts = versions.train(SAMPLE)
    other = versions.train(SAMPLE)[1].version
    real_get, moved = versions.store.aliases.get, []

    def get_then_someone_moves(model, alias):
        found = real_get(model, alias)
        if alias == LIVE and not moved:  # between our read and our move, another trainer promotes
            moved.append(ModelStore(versions.s3, "models").move_alias(MODEL, LIVE, other, {"job_id": "x"}, "x"))
        return found

    monkeypatch.setattr(versions.store.aliases, "get", get_then_someone_moves)
    promotion = versions.promoter.promote(job, candidate, reference, opts)
    assert moved and promotion.promoted and promotion.live_version == other  # judged again, against `other`
    assert real_get(MODEL, LIVE).version == candidate.version


def test_the_reference_set_is_the_holdout_as_given_capped_by_a_seeded_sample():
    opts = TrainOptions.from_job({"target": "churned", "num_boost_round": 5})
    prepared = prepare(SAMPLE, opts)
    valid = np.arange(0, 400, 2)
    capped = reference_set(prepared, valid, max_rows=50)
    assert len(capped) == 50 and list(capped.columns) == list(SAMPLE.columns)
    assert capped.equals(reference_set(prepared, valid, max_rows=50))  # seeded
    assert pd.api.types.is_string_dtype(capped["contract"])  # text kept as text
    whole = reference_set(prepared, valid, max_rows=10_000)
    pd.testing.assert_frame_equal(
        whole.astype(str), SAMPLE.iloc[valid].reset_index(drop=True).astype(str), check_dtype=False
    )


@pytest.mark.parametrize(
    ("objective", "metric"),
    [
        ("binary:logistic", "auc"),
        ("multi:softprob", "logloss"),
        ("multi:softmax", "accuracy"),
        ("reg:squarederror", "rmse"),
    ],
)
def test_default_metrics(objective, metric):
    assert default_metric(objective) == metric
