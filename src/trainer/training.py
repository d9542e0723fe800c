"""Training core: a DataFrame and job options in, a booster and its metadata out.

- target column from the options (default `label`); rows with a missing target are dropped;
- objective inferred from the target unless given: text/bool or exactly two distinct
  values → binary:logistic (text or > 2 classes → multi:softprob), otherwise reg:squarederror;
- user params merged over defaults (hist, seeded split, early stopping); unknown params are
  rejected, not ignored;
- numeric columns as float with missing values left to XGBoost; text columns as
  categorical with their categories recorded for prediction;
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
class Prepared:
    features: pd.DataFrame
    label: np.ndarray
    schema: FeatureSchema
    objective: str
    classes: list[Any] | None
    rows_dropped: int
    rows: pd.DataFrame  # the kept rows as given (not a copy), for the reference set
    target: str


def prepare(frame: pd.DataFrame, opts: TrainOptions) -> Prepared:
    """Validate and encode a dataset for training."""
    if opts.target not in frame.columns:
        raise InvalidInput(
            f"target column {opts.target!r} is not in the data",
            {"target": opts.target, "columns": [str(c) for c in frame.columns[:50]]},
        )
    missing_ignored = [c for c in opts.ignore_columns if c not in frame.columns]
    if missing_ignored:
        raise InvalidInput(f"ignore_columns names unknown column(s): {', '.join(missing_ignored)}")
    target = frame[opts.target]
    keep = target.notna().to_numpy()
    dropped = int((~keep).sum())
    if keep.sum() < MIN_ROWS:
        raise InvalidInput(
            f"too few rows with a target value: {int(keep.sum())} (at least {MIN_ROWS} are needed)",
            {"rows": int(keep.sum())},
        )
    frame = frame.loc[keep]
    target = target.loc[keep]
    features = frame.drop(columns=[opts.target, *opts.ignore_columns])
    schema = FeatureSchema.fit(features)
    objective = opts.objective or infer_objective(target)
    label, classes = encode_label(target, objective)
    return Prepared(schema.encode(features), label, schema, objective, classes, dropped, frame, opts.target)


def infer_objective(target: pd.Series) -> str:
    values = target.dropna()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    distinct = values.nunique()
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
    if objective.startswith(("binary:", "multi:")):
        classes = sorted(target.unique().tolist(), key=lambda v: (str(type(v)), v))
        if len(classes) > MAX_CLASSES:
            raise InvalidInput(f"the target has {len(classes)} classes (at most {MAX_CLASSES})")
        if objective.startswith("binary:") and len(classes) != 2:
            raise InvalidInput(f"objective {objective} needs exactly 2 classes, the target has {len(classes)}")
        index = {c: i for i, c in enumerate(classes)}
        return target.map(index).to_numpy(dtype="float32"), [_plain(c) for c in classes]
    if not pd.api.types.is_numeric_dtype(target):
        raise InvalidInput(f"objective {objective} needs a numeric target; {target.name!r} is text")
    return target.to_numpy(dtype="float32"), None


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
    if len(valid_idx) > max_rows:
        valid_idx = np.sort(np.random.default_rng(seed).choice(valid_idx, size=max_rows, replace=False))
    rows = prepared.rows.iloc[valid_idx][[*prepared.schema.names, prepared.target]].reset_index(drop=True)
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
    params = {**DEFAULT_PARAMS, **(opts.params or {}), "objective": prepared.objective}
    if nthread:  # the platform's, never the caller's (refused above): 0 leaves XGBoost all cores
        params["nthread"] = nthread
    if prepared.classes is not None and prepared.objective.startswith("multi:"):
        params["num_class"] = len(prepared.classes)
    train_idx, valid_idx = split(len(prepared.label), opts.validation_fraction)
    x, y = prepared.features, prepared.label
    try:
        # The quantile matrix is binned once, with the booster's own max_bin (XGBoost refuses a mismatch).
        dtrain = xgb.QuantileDMatrix(
            x.iloc[train_idx], y[train_idx], enable_categorical=True, max_bin=int(params.get("max_bin", 256))
        )
        dvalid = xgb.DMatrix(x.iloc[valid_idx], y[valid_idx], enable_categorical=True)
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=opts.num_boost_round,
            evals=[(dvalid, "validation")],
            early_stopping_rounds=opts.early_stopping_rounds,
            verbose_eval=False,
            callbacks=[_Guard(deadline, should_stop)],
        )
    except xgb.core.XGBoostError as exc:
        raise InvalidInput(f"XGBoost rejected the training setup: {str(exc).splitlines()[0][:300]}") from exc
    train_seconds = time.perf_counter() - started
    best = booster.best_iteration if booster.best_iteration is not None else booster.num_boosted_rounds() - 1
    # Keep only the trees up to the best round, so every consumer of the artifact predicts the same.
    booster = booster[: best + 1]
    pred = booster.inplace_predict(x.iloc[valid_idx])
    metrics = holdout_metrics(prepared.objective, y[valid_idx], pred)
    metadata = {
        "objective": prepared.objective,
        "params": params,
        "num_boost_round": opts.num_boost_round,
        "early_stopping_rounds": opts.early_stopping_rounds,
        "best_iteration": int(best),
        "num_trees": int(booster.num_boosted_rounds()),
        "target": opts.target,
        "classes": prepared.classes,
        "categories": prepared.schema.categories,
        "ignored_columns": list(opts.ignore_columns),
        "metrics": metrics,
        "validation_fraction": opts.validation_fraction,
        "rows": len(y),
        "rows_train": len(train_idx),
        "rows_validation": len(valid_idx),
        "rows_dropped_missing_target": prepared.rows_dropped,
        "train_seconds": round(train_seconds, 3),
        "trained_at": isoformat(utcnow()),
        "library_versions": {
            "xgboost": xgb.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    reference = reference_set(prepared, valid_idx, reference_max_rows)
    metadata["reference_rows"] = len(reference)
    return Trained(booster, metadata, reference)


class _Guard(xgb.callback.TrainingCallback):
    """Aborts training past a deadline (BudgetExceeded) or on a stop request (Interrupted)."""

    def __init__(self, deadline: float | None, should_stop: Callable[[], bool] | None) -> None:
        super().__init__()
        self.deadline = deadline
        self.should_stop = should_stop

    def after_iteration(self, model, epoch, evals_log) -> bool:
        if self.should_stop is not None and self.should_stop():
            raise Interrupted("training interrupted by shutdown")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"training passed its time budget after {epoch + 1} rounds")
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
