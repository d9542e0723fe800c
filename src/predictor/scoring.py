"""Scoring: a model version and a table in, predictions out, with the model's exact encoding.

Shapes (documented in README "Predictions"):
- regression: `{"prediction": <value>}`;
- classification: `{"prediction": <class>, "probabilities": {<class>: p, ...}}`, the class
  being the one with the highest probability (for binary, p(positive) >= 0.5).
Batch outputs carry the same as columns: `prediction`, then `probability_<class>` per class.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fmlcore.core.errors import InvalidInput, PayloadTooLarge
from fmlcore.ml.model_store import LoadedModel


@dataclass(frozen=True)
class Scores:
    """Raw model output for n rows: values (regression) or an (n, classes) probability matrix."""

    values: np.ndarray
    classes: list[Any] | None

    def labels(self) -> list[Any]:
        if self.classes is None:
            return self.values.tolist()
        return [self.classes[i] for i in self.values.argmax(axis=1)]

    def records(self) -> list[dict[str, Any]]:
        if self.classes is None:
            return [{"prediction": float(v)} for v in self.values]
        names = [str(c) for c in self.classes]
        labels = self.labels()
        return [
            {"prediction": label, "probabilities": dict(zip(names, map(float, row), strict=True))}
            for label, row in zip(labels, self.values, strict=True)
        ]

    def columns(self) -> dict[str, Any]:
        """Output columns for batch files."""
        if self.classes is None:
            return {"prediction": self.values}
        out: dict[str, Any] = {"prediction": self.labels()}
        for i, name in enumerate(self.classes):
            out[f"probability_{name}"] = self.values[:, i]
        return out


def check_columns(loaded: LoadedModel, columns: list[str], allow_extra: bool) -> None:
    """Missing columns are always an error; unexpected ones unless `allow_extra` (batch pass-through)."""
    expected = loaded.schema.names
    given, known = set(columns), set(expected)
    missing = [c for c in expected if c not in given]
    extra = [c for c in columns if c not in known]
    if missing or (extra and not allow_extra):
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing[:10])}")
        if extra and not allow_extra:
            parts.append(f"unexpected column(s) {', '.join(map(str, extra[:10]))}")
        raise InvalidInput(
            f"input does not match model {loaded.model!r}: {'; '.join(parts)}",
            {"missing": missing[:50], "unexpected": [] if allow_extra else extra[:50], "features": len(expected)},
        )


def predict(loaded: LoadedModel, features: np.ndarray | pd.DataFrame) -> Scores:
    """Scores for already-encoded features (FeatureSchema.encode_array, or .encode)."""
    raw = loaded.booster.inplace_predict(features)
    classes = loaded.metadata.get("classes")
    objective = loaded.objective
    if objective.startswith("binary:"):
        p = np.asarray(raw, dtype="float64").reshape(-1)
        return Scores(np.column_stack([1 - p, p]), classes or [0, 1])
    if objective.startswith("multi:"):
        proba = np.asarray(raw, dtype="float64")
        if proba.ndim == 1:  # multi:softmax returns class ids: one-hot them
            proba = np.eye(len(classes))[proba.astype(int)]
        return Scores(proba, classes)
    return Scores(np.asarray(raw, dtype="float64").reshape(-1), None)


def check_rows(count: int, max_rows: int) -> None:
    """More rows than one request may score is 413, naming the limit."""
    if count > max_rows:
        raise PayloadTooLarge(
            f"{count} rows is over the limit of {max_rows} rows per request: split the request, or drop a file "
            "into the inference bucket for batch scoring",
            {"rows": count, "limit": max_rows},
        )


def _scalar_check(values: Any, where: str) -> None:
    """A cell is a JSON scalar (string, number, boolean, null): nested objects and lists are 400."""
    for name, value in values:
        if isinstance(value, dict | list):
            raise InvalidInput(
                f"{where}, column {name!r}: values must be JSON scalars, not {type(value).__name__}s",
                {"column": str(name)[:100]},
            )


def frame_from_instances(loaded: LoadedModel, instances: Any, max_rows: int) -> pd.DataFrame:
    """`{"instances": [[...], ...]}`: rows of values in the model's feature order."""
    names = loaded.schema.names
    if not isinstance(instances, list) or not instances:
        raise InvalidInput('"instances" must be a non-empty list of rows')
    check_rows(len(instances), max_rows)
    for i, row in enumerate(instances):
        if not isinstance(row, list) or len(row) != len(names):
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise InvalidInput(
                f"instance {i} must be a list of {len(names)} values in the model's feature order ({shown})",
                {
                    "instance": i,
                    "expected": len(names),
                    "got": len(row) if isinstance(row, list) else type(row).__name__,
                },
            )
        _scalar_check(zip(names, row, strict=True), f"instance {i}")
    return pd.DataFrame(instances, columns=names)


def frame_from_records(loaded: LoadedModel, records: Any, max_rows: int) -> pd.DataFrame:
    """`{"records": [{...}, ...]}`: one object per row, keyed by the model's feature names.

    Keys outside the model's features are refused before any frame is built: a body of a few
    kilobytes with thousands of distinct keys never becomes a thousands-wide table.
    """
    if not isinstance(records, list) or not records:
        raise InvalidInput('"records" must be a non-empty list of objects')
    check_rows(len(records), max_rows)
    known = set(loaded.schema.names)
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInput(f"record {i} is not an object", {"record": i})
        unexpected = [k for k in record if k not in known]
        if unexpected:
            raise InvalidInput(
                f"input does not match model {loaded.model!r}: record {i} has unexpected column(s) "
                + ", ".join(map(str, unexpected[:10]))[:500],
                {"record": i, "unexpected": [str(k)[:100] for k in unexpected[:50]], "features": len(known)},
            )
        _scalar_check(record.items(), f"record {i}")
    return pd.DataFrame.from_records(records)


def check_csv_shape(raw: bytes, max_rows: int, max_columns: int) -> None:
    """Bounds of a text/csv body, checked on its bytes before pandas parses it."""
    header = raw.split(b"\n", 1)[0]
    try:
        columns = len(next(csv.reader([header.decode("utf-8", errors="replace")]), []))
    except csv.Error as exc:
        raise InvalidInput(f"cannot read the CSV header: {exc}") from exc
    if columns > max_columns:
        raise PayloadTooLarge(
            f"{columns} columns is over the limit of {max_columns} columns per request",
            {"columns": columns, "limit": max_columns},
        )
    lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1)
    check_rows(lines - 1, max_rows)  # the header is no row
