"""The training core on small in-memory frames: real xgboost, no AWS."""

import numpy as np
import pandas as pd
import pytest

from fmlcore.core.errors import InvalidInput
from fmlcore.ml.features import FeatureSchema
from trainer.training import TrainOptions, holdout_metrics, infer_objective, prepare, split, train


def frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    y = ((x + (color == "red") * 1.5 + rng.normal(scale=0.3, size=n)) > 0.5).astype(int)
    df = pd.DataFrame({"x": x, "color": color, "label": y})
    df.loc[::17, "x"] = np.nan  # missing values are fine
    return df


def test_binary_model_learns_and_records_what_prediction_needs():
    opts = TrainOptions.from_job({})
    trained = train(prepare(frame(), opts), opts)
    meta = trained.metadata
    assert meta["objective"] == "binary:logistic"
    assert meta["metrics"]["auc"] > 0.85
    assert meta["categories"] == {"color": ["blue", "green", "red"]}
    assert meta["classes"] == [0, 1]
    assert trained.booster.feature_names == ["x", "color"]
    assert trained.booster.feature_types == ["float", "c"]
    assert trained.booster.num_boosted_rounds() == meta["best_iteration"] + 1


@pytest.mark.parametrize(
    ("values", "objective"),
    [
        ([0, 1, 1, 0], "binary:logistic"),
        (["yes", "no", "no", "yes"], "binary:logistic"),
        ([True, False, True, True], "binary:logistic"),
        (["a", "b", "c", "a"], "multi:softprob"),
        ([0.5, 1.5, 2.25, 3.0], "reg:squarederror"),
        ([1, 2, 3, 4], "reg:squarederror"),
    ],
)
def test_objective_is_inferred_from_the_target(values, objective):
    assert infer_objective(pd.Series(values)) == objective


def test_single_class_target_is_rejected():
    with pytest.raises(InvalidInput, match="single"):
        infer_objective(pd.Series(["a"] * 5))


def test_text_labels_train_a_multiclass_model_with_class_names():
    df = frame()
    df["label"] = np.where(df["x"] > 0.5, "high", np.where(df["x"] < -0.5, "low", "mid"))
    df = df.dropna()
    opts = TrainOptions.from_job({"target": "label"})
    meta = train(prepare(df, opts), opts).metadata
    assert meta["objective"] == "multi:softprob"
    assert meta["classes"] == ["high", "low", "mid"]
    assert meta["metrics"]["accuracy"] > 0.9


def test_regression_metrics():
    df = frame()
    df["label"] = df["x"].fillna(0) * 3 + 1
    opts = TrainOptions.from_job({"params": {"max_depth": 3}})
    meta = train(prepare(df, opts), opts).metadata
    assert meta["objective"] == "reg:squarederror"
    assert set(meta["metrics"]) == {"rmse", "mae", "r2"} and meta["metrics"]["r2"] > 0.9


def test_rows_without_target_are_dropped_and_counted():
    df = frame()
    df.loc[:9, "label"] = np.nan
    prepared = prepare(df, TrainOptions.from_job({}))
    assert prepared.rows_dropped == 10 and len(prepared.label) == 290


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"params": {"max_dept": 3}}, "unknown XGBoost param"),
        ({"params": {"num_class": 3}}, "set by the platform"),
        ({"params": {"nthread": 64}}, "set by the platform"),
        ({"params": {"process_type": "update"}}, "set by the platform"),
        ({"params": {"max_depth": 1000}}, "max_depth must be a whole number from 1 to 20"),
        ({"params": {"max_depth": 0}}, "max_depth"),
        ({"params": {"num_parallel_tree": 10_000}}, "num_parallel_tree"),
        ({"params": {"max_bin": 10**7}}, "max_bin"),
        ({"params": {"max_leaves": 10**9}}, "max_leaves"),
        ({"params": {"eta": 5}}, "eta must be a number from 0 to 1"),
        ({"params": {"tree_method": "exact"}}, "tree_method must be one of approx, auto, hist"),
        ({"params": {"device": "cuda"}}, "device must be one of cpu"),
        ({"num_boost_round": 1_000_000}, "num_boost_round must be a whole number from 1 to 10000"),
        ({"params": [1]}, "JSON object"),
        ({"num_boost_round": 0}, "num_boost_round"),
        ({"validation_fraction": 0.9}, "validation_fraction"),
    ],
)
def test_bad_options_are_rejected(options, problem):
    with pytest.raises(InvalidInput, match=problem):
        TrainOptions.from_job(options)


def test_bounded_params_within_their_bounds_are_kept():  # the control of the refusals above
    opts = TrainOptions.from_job(
        {"params": {"max_depth": 20, "max_bin": 1024, "tree_method": "approx", "eta": 0.3}, "num_boost_round": 10_000}
    )
    assert opts.params == {"max_depth": 20, "max_bin": 1024, "tree_method": "approx", "eta": 0.3}


def test_the_platform_sets_nthread():
    opts = TrainOptions.from_job({"num_boost_round": 5})
    assert train(prepare(frame(), opts), opts, nthread=2).metadata["params"]["nthread"] == 2


def test_xgboost_rejecting_a_param_value_is_invalid_input():
    opts = TrainOptions.from_job({"params": {"min_child_weight": -3}})
    with pytest.raises(InvalidInput, match="XGBoost rejected"):
        train(prepare(frame(), opts), opts)


def test_missing_target_and_junk_are_named():
    with pytest.raises(InvalidInput, match="'churned'"):
        prepare(frame(), TrainOptions.from_job({"target": "churned"}))
    df = frame()
    df["x"] = df["x"].astype(object)
    df.loc[5, "x"] = "n/a?"
    with pytest.raises(InvalidInput, match="'x' is numeric") as err:
        prepare(df, TrainOptions.from_job({}))
    assert err.value.details["examples"][0] == {"row": 6, "value": "n/a?"}


def test_identifier_columns_are_rejected_unless_ignored():
    df = frame()
    df["customer_id"] = [f"C{i}" for i in range(len(df))]
    with pytest.raises(InvalidInput, match="customer_id"):
        FeatureSchema.fit(df.drop(columns="label"), max_categories=100)
    prepared = prepare(df, TrainOptions.from_job({"ignore_columns": ["customer_id"]}))
    assert "customer_id" not in prepared.schema.names


def test_schema_encodes_categories_with_training_codes():
    schema = FeatureSchema(["x", "color"], ["float", "c"], {"color": ["blue", "green", "red"]})
    encoded = schema.encode(pd.DataFrame({"color": ["red", "blue", "purple"], "x": ["1.5", None, 2]}))
    assert list(encoded.columns) == ["x", "color"]
    assert encoded["color"].cat.codes.tolist() == [2, 0, -1]  # unseen category → missing
    assert np.isnan(encoded["x"][1]) and encoded["x"][0] == 1.5
    with pytest.raises(InvalidInput, match="missing feature"):
        schema.encode(pd.DataFrame({"x": [1.0]}))


def test_split_is_seeded_and_disjoint():
    a_train, a_valid = split(100, 0.2)
    b_train, b_valid = split(100, 0.2)
    assert (a_train == b_train).all() and (a_valid == b_valid).all()
    assert len(a_valid) == 20 and not set(a_train) & set(a_valid)


def test_auc_matches_the_definition():
    y = np.array([0, 0, 1, 1], dtype=float)
    assert holdout_metrics("binary:logistic", y, np.array([0.1, 0.4, 0.35, 0.8]))["auc"] == 0.75


def test_text_from_csv_is_read_like_pandas_reads_it():
    """Batch reads CSV as text: true/false and padded categories must encode as in training."""
    schema = FeatureSchema(["flag", "color"], ["float", "c"], {"color": ["blue", "red"]})
    encoded = schema.encode(pd.DataFrame({"flag": ["true", " False", None], "color": [" red", "blue ", "x"]}))
    assert encoded["flag"].tolist()[:2] == [1.0, 0.0] and np.isnan(encoded["flag"][2])
    assert encoded["color"].cat.codes.tolist() == [1, 0, -1]


def test_array_encoding_predicts_exactly_like_the_dataframe_encoding():
    opts = TrainOptions.from_job({})
    trained = train(prepare(frame(), opts), opts)
    schema = FeatureSchema(
        list(trained.booster.feature_names), list(trained.booster.feature_types), trained.metadata["categories"]
    )
    rows = frame(50, seed=3).drop(columns="label")
    rows.loc[0, "color"] = "purple"  # unseen category
    rows.loc[1, "color"] = None
    by_frame = trained.booster.inplace_predict(schema.encode(rows))
    by_array = trained.booster.inplace_predict(schema.encode_array(rows))
    assert np.array_equal(by_frame, by_array)


def test_max_bin_is_honoured():
    """QuantileDMatrix is binned with the booster's max_bin (XGBoost refused any other before)."""
    opts = TrainOptions.from_job({"num_boost_round": 3, "params": {"max_bin": 16}})
    assert train(prepare(frame(), opts), opts).metadata["params"]["max_bin"] == 16
