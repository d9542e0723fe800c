"""Explanations: XGBoost's exact TreeSHAP in margin space. For every row the contributions plus
the bias equal the model's margin (binary: log(p/(1-p)) of the second class; multiclass: per
class; regression: the prediction), on real models with categorical and missing features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmlcore.ml.model_store import LoadedModel, ModelStore
from fmlcore.ml.readers import Chunk
from predictor.batch import _score_chunk
from predictor.scoring import contribution_columns, contributions, matrix_from_records, predict
from tests.conftest import ROOT
from tests.unit.fmlcore.ml.versioned_s3 import VersionedS3
from trainer.training import TrainOptions, prepare, train

SAMPLE = pd.read_csv(ROOT / "samples" / "churn.csv")


def model(target: str, frame: pd.DataFrame, **options) -> LoadedModel:
    opts = TrainOptions.from_job({"target": target, "num_boost_round": 20, **options})
    trained = train(prepare(frame, opts), opts, nthread=1)
    store = ModelStore(VersionedS3(), "models", latest_ttl_seconds=0, nthread=1)
    return store.load("m", store.save("m", trained.booster, trained.metadata))


def records(frame: pd.DataFrame, target: str, n: int = 25) -> list[dict]:
    rows = frame.drop(columns=[target]).head(n).astype(object).where(lambda f: f.notna(), None)
    return rows.to_dict(orient="records")


def margin(loaded: LoadedModel, features: np.ndarray) -> np.ndarray:
    return loaded.booster.inplace_predict(features, predict_type="margin")


def test_binary_contributions_sum_to_the_log_odds_of_the_second_class():
    loaded = model("churned", SAMPLE)
    features = matrix_from_records(loaded, records(SAMPLE, "churned"), 1000)
    explained = contributions(loaded, features)
    assert set(explained[0]) == {*loaded.schema.names, "bias"}
    p = predict(loaded, features).values[:, 1]
    for row, prob in zip(explained, p, strict=True):
        assert sum(row.values()) == pytest.approx(np.log(prob / (1 - prob)), abs=1e-4)
    np.testing.assert_allclose([sum(r.values()) for r in explained], margin(loaded, features), atol=1e-4)


def test_multiclass_contributions_are_per_class_and_sum_to_each_class_margin():
    frame = SAMPLE.assign(plan=SAMPLE["contract"]).drop(columns=["churned"])
    loaded = model("plan", frame.drop(columns=["contract"]))
    features = matrix_from_records(loaded, records(frame.drop(columns=["contract"]), "plan"), 1000)
    explained = contributions(loaded, features)
    classes = [str(c) for c in loaded.metadata["classes"]]
    assert list(explained[0]) == classes and len(classes) > 2
    sums = np.array([[sum(row[c].values()) for c in classes] for row in explained])
    np.testing.assert_allclose(sums, margin(loaded, features), atol=1e-4)


def test_regression_contributions_sum_to_the_prediction():
    loaded = model("monthly_charges", SAMPLE.drop(columns=["churned"]))
    features = matrix_from_records(loaded, records(SAMPLE.drop(columns=["churned"]), "monthly_charges"), 1000)
    sums = [sum(row.values()) for row in contributions(loaded, features)]
    np.testing.assert_allclose(sums, predict(loaded, features).values, atol=1e-3)


def test_batch_columns_carry_the_same_numbers_and_only_when_asked():
    loaded = model("churned", SAMPLE)
    frame = SAMPLE.drop(columns=["churned"]).head(10).astype(str).replace("nan", None)
    chunk = Chunk(frame, np.arange(2, 12), [])
    plain, _ = _score_chunk(loaded, chunk)
    explained, _ = _score_chunk(loaded, chunk, explain=True)
    added = [c for c in explained.columns if c not in plain.columns]
    assert added == [f"contribution_{n}" for n in [*loaded.schema.names, "bias"]]  # control: absent by default
    features = loaded.schema.encode_array(frame)
    expected = contribution_columns(loaded, features)
    for name in added:
        np.testing.assert_allclose(explained[name].to_numpy(dtype=float), expected[name], atol=1e-6)
    np.testing.assert_allclose(explained[added].sum(axis=1).to_numpy(), margin(loaded, features), atol=1e-4)
