"""Scoring: a model version and a table in, predictions out, with the model's exact encoding.

Shapes (documented in README "Predictions"):
- regression: `{"prediction": <value>}`;
- classification: `{"prediction": <class>, "probabilities": {<class>: p, ...}}`, the class
  being the one with the highest probability (for binary, p(positive) >= 0.5).
Batch outputs carry the same as columns: `prediction`, then `probability_<class>` per class.

Online requests go straight from the payload to the model's float32 feature matrix
(`matrix_from_instances`, `matrix_from_records`, `matrix_from_csv`): no DataFrame, so a small
request costs about what the prediction costs. They give the same numbers and the same errors
as encoding the DataFrame pandas would build (`frame_from_*`, `formats.CSV.read_table`, then
`FeatureSchema.encode_array`, as batch scoring does), and fall back to exactly that for any
input whose encoding depends on pandas' type inference (`fmlcore.ml.features.NeedsFrame`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from fmlcore.core.errors import InvalidInput, PayloadTooLarge
from fmlcore.ml import formats
from fmlcore.ml.features import NeedsFrame
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
        # tolist(): Python floats in one call, not one numpy scalar per value
        if self.classes is None:
            return [{"prediction": v} for v in self.values.tolist()]
        names = [str(c) for c in self.classes]
        labels = self.labels()
        return [
            {"prediction": label, "probabilities": dict(zip(names, row, strict=True))}
            for label, row in zip(labels, self.values.tolist(), strict=True)
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


def _contribution_values(loaded: LoadedModel, features: np.ndarray) -> tuple[np.ndarray, list[str], list[str] | None]:
    """XGBoost's exact TreeSHAP (`pred_contribs`): (rows, features + 1) values, or (rows, classes,
    features + 1) for multiclass; with the names (features, then `bias`) and the classes."""
    matrix = xgb.DMatrix(
        features, feature_names=loaded.schema.names, feature_types=loaded.schema.types, enable_categorical=True
    )
    values = loaded.booster.predict(matrix, pred_contribs=True, validate_features=False)
    classes = None if values.ndim == 2 else [str(c) for c in loaded.metadata.get("classes") or range(values.shape[1])]
    return values, [*loaded.schema.names, "bias"], classes


def contributions(loaded: LoadedModel, features: np.ndarray) -> list[dict[str, Any]]:
    """Each row's contributions in margin space, per feature plus `bias`, summing to the row's
    margin (for binary, log(p/(1-p)) of the second class); multiclass: one mapping per class."""
    values, names, classes = _contribution_values(loaded, features)
    if classes is None:
        return [dict(zip(names, row.tolist(), strict=True)) for row in values]
    return [
        {cls: dict(zip(names, per_class.tolist(), strict=True)) for cls, per_class in zip(classes, row, strict=True)}
        for row in values
    ]


def contribution_columns(loaded: LoadedModel, features: np.ndarray) -> dict[str, np.ndarray]:
    """The same as batch output columns: `contribution_<feature>` (multiclass `contribution_<class>_<feature>`)."""
    values, names, classes = _contribution_values(loaded, features)
    if classes is None:
        return {f"contribution_{name}": values[:, i] for i, name in enumerate(names)}
    return {
        f"contribution_{cls}_{name}": values[:, c, i] for c, cls in enumerate(classes) for i, name in enumerate(names)
    }


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


# ---------------------------------------------------------------------------- the lean request path
def matrix_from_instances(loaded: LoadedModel, instances: Any, max_rows: int) -> np.ndarray:
    """`{"instances": [[...], ...]}` to the model's feature matrix: `frame_from_instances` + `encode_array`."""
    if not isinstance(instances, list) or not instances:
        raise InvalidInput('"instances" must be a non-empty list of rows')
    check_rows(len(instances), max_rows)
    width = len(loaded.schema.names)
    try:
        for row in instances:
            if type(row) is not list or len(row) != width:
                raise NeedsFrame  # the frame path names the instance
        return loaded.schema.encode_json_columns(list(zip(*instances, strict=True)))
    except NeedsFrame:
        return _by_frame(loaded, frame_from_instances(loaded, instances, max_rows))


def matrix_from_records(loaded: LoadedModel, records: Any, max_rows: int) -> np.ndarray:
    """`{"records": [{...}, ...]}` to the model's feature matrix: `frame_from_records` + `check_columns`
    (no column missing from every record, none unexpected) + `encode_array`; an absent key is NaN."""
    if not isinstance(records, list) or not records:
        raise InvalidInput('"records" must be a non-empty list of objects')
    check_rows(len(records), max_rows)
    names = loaded.schema.names
    known = set(names)
    try:
        partial = False
        for record in records:
            if type(record) is not dict or not known.issuperset(record):
                raise NeedsFrame  # the frame path names the record and its unexpected keys
            partial = partial or len(record) != len(known)
        if partial:
            if len(set().union(*records)) != len(known):
                raise NeedsFrame  # a feature no record has: check_columns names it
            columns = [[record.get(name) for record in records] for name in names]
        elif len(names) == 1:
            columns = [[record[names[0]] for record in records]]
        else:
            columns = list(zip(*map(itemgetter(*names), records), strict=True))
        return loaded.schema.encode_json_columns(columns)
    except NeedsFrame:
        return _by_frame(loaded, frame_from_records(loaded, records, max_rows))


def matrix_from_csv(loaded: LoadedModel, raw: bytes, max_rows: int, max_columns: int) -> np.ndarray:
    """A text/csv body (header, then rows) to the model's feature matrix: `check_csv_shape` +
    `formats.CSV.read_table` + `check_columns` (exactly the model's columns) + `encode_array`."""
    check_csv_shape(raw, max_rows, max_columns)
    names = loaded.schema.names
    try:
        header, rows = _csv_fields(raw)
        position = {name: i for i, name in enumerate(header)}
        if position.keys() != set(names):
            raise NeedsFrame  # check_columns names the missing and unexpected columns
        columns = list(zip(*rows, strict=True))
        return loaded.schema.encode_csv_columns([columns[position[name]] for name in names])
    except NeedsFrame:
        return _by_frame(loaded, formats.CSV.read_table(raw))


def _by_frame(loaded: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
    """The reference the lean path matches: the DataFrame path of batch scoring, with no extra column allowed."""
    check_columns(loaded, [str(c) for c in frame.columns], allow_extra=False)
    return loaded.schema.encode_array(frame)


def _csv_fields(raw: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV body split as `pd.read_csv(skipinitialspace=True)` splits it, or NeedsFrame
    for anything where the two could differ or pandas would refuse (tabs, bad quoting, ragged rows,
    unnamed or repeated columns, text that is not UTF-8, no rows): pandas then reads it and decides."""
    if b"\t" in raw or b"\0" in raw:
        raise NeedsFrame
    try:
        text = raw.decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True)
        header = next(reader, [])
        rows = [row for row in reader if row]  # blank lines are no rows
    except (UnicodeDecodeError, csv.Error) as exc:
        raise NeedsFrame from exc
    width = len(header)
    if not rows or "" in header or len(set(header)) != width:
        raise NeedsFrame
    for row in rows:
        # [""] is a line of spaces (no row to pandas) or a quoted empty field (a row): pandas knows which.
        if len(row) != width or row == [""]:
            raise NeedsFrame
    if '"' in text and any('"' in field for row in (header, *rows) for field in row):
        raise NeedsFrame  # an escaped or stray quote
    return header, rows
