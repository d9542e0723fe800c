"""Training core: a DataFrame and job options in, a booster and its metadata out.

- target column from the options (default `label`); rows with a missing target are dropped;
- objective inferred from the target unless given: text/bool or exactly two distinct
  values → binary:logistic (text or > 2 classes → multi:softprob), otherwise reg:squarederror;
- user params merged over defaults (hist, seeded split, early stopping); unknown params are
  rejected, not ignored;
- numeric columns as float with missing values left to XGBoost; text columns as
  categorical with their categories recorded for prediction, except text columns whose every
  value is a number (numbers as text, booleans with gaps) and columns with no value at all
  (carrying no information), which are numeric (floats; all NaN for an empty one);
- holdout metrics: AUC, logloss, accuracy (binary); logloss, accuracy (multiclass);
  RMSE, MAE, R² (regression).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy.stats import rankdata

from fmlcore.core.errors import InvalidInput
from fmlcore.core.times import isoformat, utcnow
from fmlcore.jobs.options import TrainJobOptions, checked
from fmlcore.ml.features import FeatureSchema

DEFAULT_PARAMS = {"tree_method": "hist", "max_depth": 6, "eta": 0.1, "seed": 42}
SPLIT_SEED = 42
MIN_ROWS = 10
MAX_CLASSES = 100

# Every booster/learning-task parameter XGBoost documents; anything else is a typo.
KNOWN_PARAMS = frozenset(
    [
        "booster",
        "device",
        "verbosity",
        "validate_parameters",
        "nthread",
        "disable_default_eval_metric",
        "seed",
        "seed_per_iteration",
        "eta",
        "learning_rate",
        "gamma",
        "min_split_loss",
        "max_depth",
        "min_child_weight",
        "max_delta_step",
        "subsample",
        "sampling_method",
        "colsample_bytree",
        "colsample_bylevel",
        "colsample_bynode",
        "lambda",
        "reg_lambda",
        "alpha",
        "reg_alpha",
        "tree_method",
        "scale_pos_weight",
        "updater",
        "refresh_leaf",
        "process_type",
        "grow_policy",
        "max_leaves",
        "max_bin",
        "num_parallel_tree",
        "monotone_constraints",
        "interaction_constraints",
        "multi_strategy",
        "max_cat_to_onehot",
        "max_cat_threshold",
        "max_cached_hist_node",
        "extmem_single_page",
        "objective",
        "eval_metric",
        "base_score",
        "num_class",
        "huber_slope",
        "quantile_alpha",
        "tweedie_variance_power",
        "aft_loss_distribution",
        "aft_loss_distribution_scale",
        "lambdarank_pair_method",
        "lambdarank_num_pair_per_sample",
        "lambdarank_normalization",
        "lambdarank_unbiased",
        "lambdarank_bias_norm",
        "ndcg_exp_gain",
        "sample_type",
        "normalize_type",
        "rate_drop",
        "one_drop",
        "skip_drop",
        "feature_selector",
        "top_k",
    ]
)
# Set by the platform (from the data, or from the task's cores), or turning training into
# something else (updating an existing model): a user value is refused.
RESERVED_PARAMS = frozenset({"num_class", "nthread", "updater", "process_type", "refresh_leaf"})
# Size-like params, bounded so that one job cannot ask for unbounded work or memory per round
# (the job's time limit bounds the rounds). (low, high, integer?)
PARAM_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "max_depth": (1, 20, True),
    "max_leaves": (0, 65_536, True),
    "max_bin": (2, 1_024, True),
    "num_parallel_tree": (1, 20, True),
    "max_cat_to_onehot": (1, 256, True),
    "max_cat_threshold": (1, 1_024, True),
    "max_cached_hist_node": (1, 65_536, True),
    "lambdarank_num_pair_per_sample": (1, 100, True),
    "top_k": (0, 1_000, True),
    "eta": (0, 1, False),
    "learning_rate": (0, 1, False),
    "subsample": (0, 1, False),
    "colsample_bytree": (0, 1, False),
    "colsample_bylevel": (0, 1, False),
    "colsample_bynode": (0, 1, False),
    "rate_drop": (0, 1, False),
    "skip_drop": (0, 1, False),
}
# Params with a closed set of values on this platform (CPU tasks; no exact method, which scans
# every split of every feature).
ALLOWED_VALUES: dict[str, frozenset[str]] = {
    "tree_method": frozenset({"hist", "approx", "auto"}),
    "device": frozenset({"cpu"}),
    "booster": frozenset({"gbtree", "dart", "gblinear"}),
    "grow_policy": frozenset({"depthwise", "lossguide"}),
}


class BudgetExceeded(Exception):
    """Training ran past the time budget given to `train` (the caller decides what to do)."""


class Interrupted(Exception):
    """Training was asked to stop (worker shutdown) before it finished."""


@dataclass(frozen=True)
class TrainOptions(TrainJobOptions):
    """The options of one training (declared in fmlcore.jobs.options), with the params checked against XGBoost's."""

    @classmethod
    def from_job(cls, options: dict[str, Any]) -> TrainOptions:
        values = checked("train", options)
        params = dict(values["params"] or {})
        unknown = sorted(set(params) - KNOWN_PARAMS)
        if unknown:
            raise InvalidInput(f"unknown XGBoost param(s): {', '.join(unknown)}", {"unknown": unknown})
        reserved = sorted(set(params) & RESERVED_PARAMS)
        if reserved:
            raise InvalidInput(
                f"param(s) set by the platform, not by hand: {', '.join(reserved)}", {"params": reserved}
            )
        for name, value in params.items():
            _check_param(name, value)
        values["objective"] = values["objective"] or params.get("objective")
        values["params"] = {k: v for k, v in params.items() if k != "objective"}
        return cls(**values)


def _check_param(name: str, value: Any) -> None:
    """A bounded or closed-set param must be within its bounds or set (InvalidInput naming them)."""
    if name in PARAM_BOUNDS:
        low, high, integer = PARAM_BOUNDS[name]
        kind = int if integer else int | float
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            what = "a whole number" if integer else "a number"
            raise InvalidInput(f"param {name} must be {what} from {low} to {high}, not {value!r}", {"param": name})
    if name in ALLOWED_VALUES and value not in ALLOWED_VALUES[name]:
        raise InvalidInput(
            f"param {name} must be one of {', '.join(sorted(ALLOWED_VALUES[name]))}, not {value!r}", {"param": name}
        )


@dataclass(frozen=True)
class Setup:
    """What a training derives from its whole dataset, however it was read: the feature schema, the
    objective, the class names (index = class id; None for a regression), the rows without a target."""

    schema: FeatureSchema
    objective: str
    classes: list[Any] | None
    rows_dropped: int
    target: str


@dataclass(frozen=True)
class Prepared(Setup):
    """A dataset read whole, validated and encoded: `Setup` and the encoded kept rows."""

    features: pd.DataFrame
    label: np.ndarray
    rows: pd.DataFrame  # the kept rows as given (not a copy), for the reference set


def prepare(frame: pd.DataFrame, opts: TrainOptions) -> Prepared:
    """Validate and encode a dataset for training."""
    check_columns(list(frame.columns), opts)
    target = frame[opts.target]
    keep = target.notna().to_numpy()
    dropped = int((~keep).sum())
    check_rows(int(keep.sum()))
    frame = frame.loc[keep]
    target = target.loc[keep]
    features = frame.drop(columns=[opts.target, *opts.ignore_columns])
    schema = FeatureSchema.fit(features)
    objective = opts.objective or infer_objective(target)
    label, classes = encode_label(target, objective)
    return Prepared(
        schema=schema,
        objective=objective,
        classes=classes,
        rows_dropped=dropped,
        target=opts.target,
        features=schema.encode(features),
        label=label,
        rows=frame,
    )


def check_columns(columns: list[Any], opts: TrainOptions) -> None:
    """The target and the ignored columns must be columns of the data (InvalidInput naming them)."""
    if opts.target not in columns:
        raise InvalidInput(
            f"target column {opts.target!r} is not in the data",
            {"target": opts.target, "columns": [str(c) for c in columns[:50]]},
        )
    missing_ignored = [c for c in opts.ignore_columns if c not in columns]
    if missing_ignored:
        raise InvalidInput(f"ignore_columns names unknown column(s): {', '.join(missing_ignored)}")


def check_rows(kept: int) -> None:
    """Enough rows must have a target value to train on."""
    if kept < MIN_ROWS:
        raise InvalidInput(f"too few rows with a target value: {kept} (at least {MIN_ROWS} are needed)", {"rows": kept})


def infer_objective(target: pd.Series) -> str:
    values = target.dropna()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return objective_for(numeric, values.nunique())


def objective_for(numeric: bool, distinct: int) -> str:
    """The objective of a target of numbers (not booleans) or not, with `distinct` values (at least;
    only 0, 1, 2 or more matter)."""
    if not numeric:
        if distinct < 2:
            raise InvalidInput("the target has a single class: nothing to learn", {"classes": distinct})
        return "binary:logistic" if distinct == 2 else "multi:softprob"
    if distinct == 2:
        return "binary:logistic"
    if distinct < 2:
        raise InvalidInput("the target has a single value: nothing to learn", {"values": distinct})
    return "reg:squarederror"


def encode_label(target: pd.Series, objective: str) -> tuple[np.ndarray, list[Any] | None]:
    """Labels as XGBoost wants them, and the class names for classifiers (index = class id)."""
    numeric = pd.api.types.is_numeric_dtype(target)
    classes = label_classes(target.unique().tolist(), objective, numeric, target.name)
    return label_codes(target, classes), classes


def label_classes(values: list[Any], objective: str, numeric: bool, name: Any) -> list[Any] | None:
    """The class names of a classifier's distinct target `values` (sorted; index = class id), None
    for a regression; InvalidInput when they do not fit the objective. Past MAX_CLASSES, `values`
    may hold only MAX_CLASSES + 1 of them: no more are needed to refuse."""
    if objective.startswith(("binary:", "multi:")):
        classes = sorted(values, key=lambda v: (str(type(v)), v))
        if len(classes) > MAX_CLASSES:
            raise InvalidInput(f"the target has more than {MAX_CLASSES} classes")
        if objective.startswith("binary:") and len(classes) != 2:
            raise InvalidInput(f"objective {objective} needs exactly 2 classes, the target has {len(classes)}")
        return [_plain(c) for c in classes]
    if not numeric:
        raise InvalidInput(f"objective {objective} needs a numeric target; {name!r} is text")
    return None


def label_codes(target: pd.Series, classes: list[Any] | None) -> np.ndarray:
    """The float32 labels of `target`: class ids for a classifier, the values for a regression."""
    if classes is None:
        return target.to_numpy(dtype="float32")
    index = {c: i for i, c in enumerate(classes)}
    return target.map(index).to_numpy(dtype="float32")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def split(n: int, fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle split into (train, validation) row positions."""
    order = np.random.default_rng(seed).permutation(n)
    n_valid = max(1, round(n * fraction))
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


@dataclass(frozen=True)
class Trained:
    booster: xgb.Booster
    metadata: dict[str, Any]
    reference: pd.DataFrame | None = None  # holdout rows as given, at most reference_max_rows


def reference_set(prepared: Prepared, valid_idx: np.ndarray, max_rows: int, seed: int = SPLIT_SEED) -> pd.DataFrame:
    """The version's reference set: its holdout rows as given (features and target), or a seeded
    sample of `max_rows` of them, in their original order. Text columns are stored as text."""
    rows = prepared.rows.iloc[reference_positions(valid_idx, max_rows, seed)]
    return reference_frame(rows, prepared)


def reference_positions(valid_idx: np.ndarray, max_rows: int, seed: int = SPLIT_SEED) -> np.ndarray:
    """The positions (among the kept rows, sorted) of the holdout rows the reference set keeps:
    all of them, or a seeded sample of `max_rows`."""
    if len(valid_idx) > max_rows:
        valid_idx = np.sort(np.random.default_rng(seed).choice(valid_idx, size=max_rows, replace=False))
    return valid_idx


def reference_frame(rows: pd.DataFrame, setup: Setup) -> pd.DataFrame:
    """The reference set of these kept rows as given: the features and the target, text as text."""
    rows = rows[[*setup.schema.names, setup.target]].reset_index(drop=True)
    for name in rows.columns:
        if rows[name].dtype == object:
            rows[name] = rows[name].astype("string")
    return rows


def train(
    prepared: Prepared,
    opts: TrainOptions,
    nthread: int = 0,
    deadline: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    reference_max_rows: int = 10_000,
) -> Trained:
    """Fit a booster with early stopping on a seeded holdout; metadata has metrics and params;
    the holdout rows (at most `reference_max_rows`) come back as the version's reference set."""
    started = time.perf_counter()
    train_idx, valid_idx = split(len(prepared.label), opts.validation_fraction)
    x, y = prepared.features, prepared.label

    def matrices(max_bin: int) -> tuple[xgb.DMatrix, pd.DataFrame, np.ndarray]:
        # The quantile matrix is binned once, with the booster's own max_bin (XGBoost refuses a mismatch).
        dtrain = xgb.QuantileDMatrix(x.iloc[train_idx], y[train_idx], enable_categorical=True, max_bin=max_bin)
        return dtrain, x.iloc[valid_idx], y[valid_idx]

    return fit(
        prepared,
        opts,
        len(y),
        matrices,
        lambda: reference_set(prepared, valid_idx, reference_max_rows),
        nthread=nthread,
        guard=Guard(deadline, should_stop),
        started=started,
    )


def fit(
    setup: Setup,
    opts: TrainOptions,
    rows: int,
    matrices: Callable[[int], tuple[xgb.DMatrix, pd.DataFrame, np.ndarray]],
    reference: Callable[[], pd.DataFrame],
    nthread: int = 0,
    guard: Guard | None = None,
    started: float | None = None,
) -> Trained:
    """The booster of `setup` on `rows` kept rows, however they are held: `matrices(max_bin)`
    builds the training matrix and returns it with the holdout's encoded features and labels;
    early stopping on the holdout, the trees up to the best round, holdout metrics, metadata,
    and `reference()` as the version's reference set. `started` (perf_counter) times the training."""
    started = time.perf_counter() if started is None else started
    params = boost_params(setup, opts, nthread)
    try:
        dtrain, x_valid, y_valid = matrices(int(params.get("max_bin", 256)))
        dvalid = xgb.DMatrix(x_valid, y_valid, enable_categorical=True)
        booster = xgb.train(params, dtrain, **rounds(opts, dvalid), callbacks=[guard or Guard(None, None)])
    except xgb.core.XGBoostError as exc:
        raise rejected(exc) from exc
    train_seconds = time.perf_counter() - started
    booster = best_trees(booster)
    pred = booster.inplace_predict(x_valid)
    return trained_model(
        setup, opts, rows, booster, params, y_valid, pred, type(dtrain).__name__, reference(), train_seconds
    )


def rejected(exc: Exception) -> InvalidInput:
    """An XGBoostError raised by the setup of a training (params, data) as the caller's error."""
    return InvalidInput(f"XGBoost rejected the training setup: {str(exc).splitlines()[0][:300]}")


def rounds(opts: TrainOptions, dvalid: Any) -> dict[str, Any]:
    """How a training boosts, for xgb.train and xgboost.dask.train alike: the rounds, early
    stopping on the holdout `dvalid`, quiet."""
    return {
        "num_boost_round": opts.num_boost_round,
        "evals": [(dvalid, "validation")],
        "early_stopping_rounds": opts.early_stopping_rounds,
        "verbose_eval": False,
    }


def boost_params(setup: Setup, opts: TrainOptions, nthread: int = 0) -> dict[str, Any]:
    """The XGBoost params of a training: the defaults, the caller's, and the platform's own."""
    params = {**DEFAULT_PARAMS, **(opts.params or {}), "objective": setup.objective}
    if nthread:  # the platform's, never the caller's (refused above): 0 leaves XGBoost all cores
        params["nthread"] = nthread
    if setup.classes is not None and setup.objective.startswith("multi:"):
        params["num_class"] = len(setup.classes)
    return params


def best_trees(booster: xgb.Booster) -> xgb.Booster:
    """Only the trees up to the best round, so every consumer of the artifact predicts the same."""
    best = booster.best_iteration if booster.best_iteration is not None else booster.num_boosted_rounds() - 1
    return booster[: best + 1]


def trained_model(
    setup: Setup, opts: TrainOptions, rows: int, booster: xgb.Booster, params: dict[str, Any], y_valid: np.ndarray,
    pred: np.ndarray, data_matrix: str, reference_rows: pd.DataFrame, train_seconds: float,
    **extra: Any,
) -> Trained:  # fmt: skip
    """The Trained of a booster (its best trees) and its holdout predictions: metrics and metadata."""
    metadata = {
        "objective": setup.objective,
        "params": params,
        "num_boost_round": opts.num_boost_round,
        "early_stopping_rounds": opts.early_stopping_rounds,
        "best_iteration": int(booster.num_boosted_rounds() - 1),
        "num_trees": int(booster.num_boosted_rounds()),
        "target": opts.target,
        "classes": setup.classes,
        "categories": setup.schema.categories,
        "ignored_columns": list(opts.ignore_columns),
        "metrics": holdout_metrics(setup.objective, y_valid, pred),
        "validation_fraction": opts.validation_fraction,
        "rows": rows,
        "rows_train": rows - len(y_valid),
        "rows_validation": len(y_valid),
        "rows_dropped_missing_target": setup.rows_dropped,
        "data_matrix": data_matrix,
        "train_seconds": round(train_seconds, 3),
        "trained_at": isoformat(utcnow()),
        "library_versions": {
            "xgboost": xgb.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        **extra,
        "reference_rows": len(reference_rows),
    }
    return Trained(booster, metadata, reference_rows)


class Guard(xgb.callback.TrainingCallback):
    """Aborts training past a deadline (BudgetExceeded) or on a stop request (Interrupted)."""

    def __init__(self, deadline: float | None, should_stop: Callable[[], bool] | None) -> None:
        super().__init__()
        self.deadline = deadline
        self.should_stop = should_stop

    def check(self, where: str) -> None:
        """Raise if training should stop now; `where` completes the budget message ("after 3 rounds")."""
        if self.should_stop is not None and self.should_stop():
            raise Interrupted("training interrupted by shutdown")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"training passed its time budget {where}")

    def after_iteration(self, model, epoch, evals_log) -> bool:
        self.check(f"after {epoch + 1} rounds")
        return False


def holdout_metrics(objective: str, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    eps = 1e-15
    if objective.startswith("binary:"):
        p = np.clip(pred.astype("float64"), eps, 1 - eps)
        auc = _auc(y, p)
        return {
            "auc": None if np.isnan(auc) else round(auc, 6),  # one class in the holdout: no AUC
            "logloss": round(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))), 6),
            "accuracy": round(float(np.mean((p >= 0.5) == (y == 1))), 6),
        }
    if objective.startswith("multi:"):
        proba = pred.reshape(len(y), -1) if pred.ndim == 1 and objective == "multi:softprob" else pred
        if proba.ndim == 1:  # multi:softmax returns class ids
            return {"accuracy": round(float(np.mean(proba == y)), 6)}
        p = np.clip(proba[np.arange(len(y)), y.astype(int)], eps, 1)
        return {
            "logloss": round(float(-np.mean(np.log(p))), 6),
            "accuracy": round(float(np.mean(proba.argmax(axis=1) == y)), 6),
        }
    err = pred.astype("float64") - y
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {
        "rmse": round(float(np.sqrt(np.mean(err**2))), 6),
        "mae": round(float(np.mean(np.abs(err))), 6),
        "r2": round(1 - float(np.sum(err**2)) / ss_tot, 6) if ss_tot > 0 else 0.0,
    }


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
