"""Promotion, not overwrite: a new version starts as `candidate` and becomes `live` through a gate.

Each version keeps its holdout rows (a seeded sample of at most FML_REFERENCE_MAX_ROWS) beside
its artifact as its reference set (`<model>/reference/<job_id>.parquet`, written before the
artifact, so every version that has one can be judged). With option `promote`:

- `never`: the version stays a candidate;
- `always`: it becomes `live`;
- `gate` (default): it becomes `live` when there is no live version yet, or when it scores no
  worse than the live version, within `promote_tolerance`, on **both** reference sets: its own
  holdout and the live version's — both models scored on the same rows. Judging on the new data
  alone would wave through a model trained on broken labels, since the live model scores as
  badly on them; the live version's set is data the platform already trusted.

The metric is `promote_metric`, else AUC (binary), logloss (multiclass), RMSE (regression).
Models that cannot be compared (another objective, target or classes; a set one of them cannot
score) are not promoted, and the reason says why: a person decides (PUT the alias).

The `live` move is conditional on the alias read before judging: if another training moved it
meanwhile, the candidate is judged again against the new live version.
"""

from __future__ import annotations

import io
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from botocore.exceptions import ClientError

from fmlcore.core.aws import is_not_found
from fmlcore.core.errors import InvalidInput
from fmlcore.core.layout import CANDIDATE, LIVE, reference_key
from fmlcore.jobs.message import JobMessage
from fmlcore.jobs.options import HIGHER_IS_BETTER
from fmlcore.ml.aliases import Alias, AliasConflict
from fmlcore.ml.model_store import LoadedModel, ModelStore
from trainer.training import TrainOptions, holdout_metrics

log = logging.getLogger("fml.trainer.promotion")

MOVE_ATTEMPTS = 3
CANDIDATE_SET, LIVE_SET = "candidate_holdout", "live_reference"


def default_metric(objective: str) -> str:
    if objective.startswith("binary:"):
        return "auc"
    if objective.startswith("multi:"):
        return "logloss" if objective == "multi:softprob" else "accuracy"
    return "rmse"


@dataclass(frozen=True)
class Promotion:
    promoted: bool
    reason: str
    alias: str = LIVE
    metric: str | None = None
    # Both models on the rows of the set that decided (the failed one, else live's reference set).
    candidate_metric: float | None = None
    live_metric: float | None = None
    live_version: str | None = None  # the version judged against (the one replaced, when promoted)
    sets: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != []}


class Promoter:
    def __init__(self, s3: Any, store: ModelStore) -> None:
        self.s3 = s3
        self.store = store

    # ------------------------------------------------------------------ reference sets
    def write_reference(self, model: str, job_id: str, rows: pd.DataFrame) -> str:
        buf = io.BytesIO()
        rows.to_parquet(buf, index=False)
        key = reference_key(model, job_id)
        self.s3.put_object(
            Bucket=self.store.bucket, Key=key, Body=buf.getvalue(), ContentType="application/vnd.apache.parquet"
        )
        return key

    def read_reference(self, loaded: LoadedModel) -> pd.DataFrame | None:
        """The reference set of a version, or None for a version trained before reference sets."""
        job_id = loaded.metadata.get("job_id")
        if not job_id or "reference_rows" not in loaded.metadata:
            return None
        try:
            obj = self.s3.get_object(Bucket=self.store.bucket, Key=reference_key(loaded.model, job_id))
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        return pd.read_parquet(io.BytesIO(obj["Body"].read()))

    # ------------------------------------------------------------------ the decision
    def promote(
        self,
        job: JobMessage,
        candidate: LoadedModel,
        reference: pd.DataFrame | None,
        opts: TrainOptions,
        move_candidate: bool = True,
    ) -> Promotion:
        """Mark the new version `candidate`, then decide (and apply) whether it becomes `live`."""
        model, version = candidate.model, candidate.version
        by = {"job_id": job.job_id, "source": job.source}
        if move_candidate:
            self.store.move_alias(model, CANDIDATE, version, by, "trained")
        if reference is None:
            reference = self.read_reference(candidate)
        for _ in range(MOVE_ATTEMPTS):
            live = self.store.aliases.get(model, LIVE)
            decision = self._decide(candidate, reference, live, opts)
            if not decision.promoted or (live is not None and live.version == version):
                break
            try:
                self.store.move_alias(model, LIVE, version, by, decision.reason, expected=live)
                break
            except AliasConflict:
                log.info("alias live moved while the candidate was judged: judging again")
        else:
            decision = Promotion(False, "alias live kept moving while this version was judged: promote it by hand")
        log.info("promotion decided", extra={"version": version, "promotion": decision.to_dict()})
        return decision

    def _decide(
        self, candidate: LoadedModel, reference: pd.DataFrame | None, live: Alias | None, opts: TrainOptions
    ) -> Promotion:
        if live is not None and live.version == candidate.version:
            return Promotion(True, "already live", live_version=live.version)
        if opts.promote == "never":
            return Promotion(False, "promote=never: kept as the candidate")
        if live is None or live.version is None:
            return Promotion(True, "no live version yet")
        if opts.promote == "always":
            return Promotion(True, "promote=always", live_version=live.version)
        current = self.store.load(candidate.model, live.version)
        return self.judge(candidate, reference, current, self.read_reference(current), opts)

    def judge(
        self,
        candidate: LoadedModel,
        candidate_rows: pd.DataFrame | None,
        live: LoadedModel,
        live_rows: pd.DataFrame | None,
        opts: TrainOptions,
    ) -> Promotion:
        """Both models on both reference sets: promoted if the candidate is no worse on each."""
        held = _incomparable(candidate, live)
        metric = opts.promote_metric or default_metric(candidate.objective)
        if held:
            return Promotion(False, held, metric=metric, live_version=live.version)
        sets = [(CANDIDATE_SET, candidate_rows), (LIVE_SET, live_rows)]
        notes = []
        if live_rows is None:
            notes.append(f"live version {live.version} has no reference set (trained before the gate)")
        if candidate_rows is None:
            notes.append("the candidate has no reference set")
        judged = []
        for name, rows in sets:
            if rows is None:
                continue
            try:
                c, lv, n = _metric_on(candidate, rows, metric), _metric_on(live, rows, metric), len(rows)
            except InvalidInput as exc:
                reason = f"the models cannot both score the {name.replace('_', ' ')} set: {exc.message}"
                return Promotion(False, reason, metric=metric, live_version=live.version)
            if c is None or lv is None:
                notes.append(f"{metric} cannot be measured on the {name.replace('_', ' ')} set")
                continue
            worse = (lv - c) if metric in HIGHER_IS_BETTER else (c - lv)
            judged.append(
                {"set": name, "rows": n, "candidate": c, "live": lv, "no_worse": worse <= opts.promote_tolerance}
            )
        failed = [j for j in judged if not j["no_worse"]]
        # The figures of the set that decided: the first one failed, else live's (the trusted rows).
        decisive = (failed or [j for j in judged if j["set"] == LIVE_SET] or judged or [{}])[0]
        common = {
            "metric": metric,
            "candidate_metric": decisive.get("candidate"),
            "live_metric": decisive.get("live"),
            "live_version": live.version,
            "sets": judged,
        }
        suffix = f" ({'; '.join(notes)})" if notes else ""
        if not judged:
            return Promotion(False, f"no reference set to judge on{suffix}", **common)
        if failed:
            worst = failed[0]
            reason = (
                f"worse than live on the {worst['set'].replace('_', ' ')} set: {metric} {worst['candidate']:.6g} "
                f"against {worst['live']:.6g} (tolerance {opts.promote_tolerance:g}){suffix}"
            )
            return Promotion(False, reason, **common)
        on = " and ".join(j["set"].replace("_", " ") for j in judged)
        return Promotion(True, f"no worse than live on the {on} set{'s' if len(judged) > 1 else ''}{suffix}", **common)


def _incomparable(candidate: LoadedModel, live: LoadedModel) -> str | None:
    """Why two versions cannot be judged on the same rows, if they cannot."""
    for what in ("objective", "target", "classes"):
        a, b = candidate.metadata.get(what), live.metadata.get(what)
        if a != b:
            return f"not comparable with live version {live.version}: its {what} is {b!r}, the candidate's {a!r}"
    return None


def _class_key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value.item() if hasattr(value, "item") else value)


def _metric_on(loaded: LoadedModel, rows: pd.DataFrame, metric: str) -> float | None:
    """`loaded`'s `metric` on the reference rows (None when it cannot be measured there)."""
    target = loaded.metadata["target"]
    if target not in rows.columns:
        raise InvalidInput(f"the set has no target column {target!r}")
    y = rows[target]
    classes = loaded.metadata.get("classes")
    if classes is not None:
        index = {_class_key(c): i for i, c in enumerate(classes)}
        codes = pd.Series([index.get(_class_key(v)) for v in y.tolist()], dtype="float64")
        keep = codes.notna().to_numpy()
        rows, labels = rows.loc[keep], codes[keep].to_numpy(dtype="float32")
    else:
        labels = pd.to_numeric(y, errors="coerce").to_numpy(dtype="float64")
        keep = ~np.isnan(labels)
        rows, labels = rows.loc[keep], labels[keep]
    if len(labels) == 0:
        return None
    pred = loaded.booster.inplace_predict(loaded.schema.encode(rows[loaded.schema.names]))
    value = holdout_metrics(loaded.objective, labels, np.asarray(pred)).get(metric)
    return None if value is None or np.isnan(value) else float(value)
