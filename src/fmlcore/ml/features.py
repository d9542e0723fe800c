"""The feature schema of a model: which columns, of which type, with which categories.

Training fits it from a DataFrame (`FeatureSchema.fit`); prediction encodes incoming data
with the *same* schema (`encode`), so categories get exactly the codes they had in
training. The schema is stored inside the model artifact (booster feature names/types plus
the categories in the model's metadata).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fmlcore.core.errors import InvalidInput

NUMERIC, CATEGORICAL = "float", "c"
# A text column whose values are mostly numbers is a numeric column with junk in it, not a category.
NUMERIC_SHARE_FOR_JUNK = 0.8
MAX_CATEGORIES = 1024
EXAMPLES = 3


@dataclass(frozen=True)
class FeatureSchema:
    names: list[str]
    types: list[str]  # XGBoost feature types: "float" or "c" (categorical)
    categories: dict[str, list[str]] = field(default_factory=dict)
    _index: dict[str, pd.Index] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "types": self.types, "categories": self.categories}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        return cls(list(data["names"]), list(data["types"]), {k: list(v) for k, v in data["categories"].items()})

    @classmethod
    def fit(cls, frame: pd.DataFrame, max_categories: int = MAX_CATEGORIES) -> FeatureSchema:
        """Infer the schema of the feature columns of `frame` (target already removed)."""
        if frame.shape[1] == 0:
            raise InvalidInput("the data has no feature columns besides the target")
        names, types, categories = [], [], {}
        for name in frame.columns:
            col = frame[name]
            if str(name).strip() == "" or str(name).startswith("Unnamed: "):
                raise InvalidInput(f"column {name!r} has no name", {"column": str(name)})
            if _is_numeric(col):
                kind = NUMERIC
            else:
                _reject_numeric_with_junk(str(name), col)
                values = col.dropna().astype(str).str.strip()
                cats = sorted(values.unique().tolist())
                if len(cats) > max_categories:
                    raise InvalidInput(
                        f"column {name!r} has {len(cats)} distinct text values (more than {max_categories}): "
                        "an identifier or free text cannot be a feature; drop it with the ignore_columns option",
                        {"column": str(name), "distinct": len(cats)},
                    )
                categories[str(name)] = cats
                kind = CATEGORICAL
            names.append(str(name))
            types.append(kind)
        return cls(names, types, categories)

    def encode(self, frame: pd.DataFrame, row_offset: int = 0) -> pd.DataFrame:
        """The feature matrix of `frame` in training order and encoding.

        Missing or wrong-typed columns raise InvalidInput naming them; extra columns are
        ignored here (callers decide whether extras are an error). `row_offset` makes the
        row numbers in error details absolute.
        """
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise InvalidInput(
                f"missing feature column(s): {', '.join(missing[:10])}",
                {"missing": missing[:50], "expected": len(self.names)},
            )
        out = {}
        for name, kind in zip(self.names, self.types, strict=True):
            col = frame[name]
            if kind == CATEGORICAL:
                categories = self.categories.get(name, [])
                values = col.astype("string").str.strip()
                # A category never seen in training is encoded as missing, as XGBoost would treat it.
                values = values.where(values.isin(categories))
                out[name] = pd.Categorical(values, categories=categories)
            else:
                out[name] = _to_float(name, col, row_offset)
        return pd.DataFrame(out, index=frame.index)

    def encode_array(self, frame: pd.DataFrame, row_offset: int = 0) -> np.ndarray:
        """The same encoding as `encode`, as a float32 matrix: category codes as numbers, NaN for missing.

        XGBoost reads categorical features of a plain array by code through the model's feature
        types; this skips its pandas conversion, which costs more than the prediction itself on
        small requests.
        """
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise InvalidInput(
                f"missing feature column(s): {', '.join(missing[:10])}",
                {"missing": missing[:50], "expected": len(self.names)},
            )
        out = np.empty((len(frame), len(self.names)), dtype=np.float32)
        for j, (name, kind) in enumerate(zip(self.names, self.types, strict=True)):
            col = frame[name]
            if kind == CATEGORICAL:
                out[:, j] = self._codes(name, col)
            else:
                out[:, j] = _to_float(name, col, row_offset)
        return out

    def _codes(self, name: str, col: pd.Series) -> np.ndarray:
        """Training codes of a text column (index in the sorted categories), NaN when missing or unseen."""
        index = self._index.get(name)
        if index is None:
            index = self._index[name] = pd.Index(self.categories.get(name, []))
        codes = index.get_indexer(col.astype("string").str.strip()).astype(np.float32)
        codes[codes < 0] = np.nan
        return codes

    def bad_rows(self, frame: pd.DataFrame) -> dict[int, str]:
        """Rows (by position) whose values cannot be encoded, with the reason: for batch error files."""
        problems: dict[int, str] = {}
        for name, kind in zip(self.names, self.types, strict=True):
            if kind != NUMERIC or name not in frame.columns or _is_numeric(frame[name]):
                continue
            col = frame[name]
            _, bad = _parse_floats(col)
            if bad is None:
                continue
            for pos in np.flatnonzero(bad):
                problems.setdefault(int(pos), f"column {name!r}: {col.iloc[pos]!r} is not a number")
        return problems


def _is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)


def _parse_floats(col: pd.Series) -> tuple[np.ndarray, np.ndarray | None]:
    """Text to float64: (values, mask of non-numbers or None). Fast cast first; a slow scan only on junk."""
    try:
        return col.astype("float64").to_numpy(na_value=np.nan), None
    except (ValueError, TypeError):
        # true/false as text (a bool column read from CSV as text) count as 1/0, as pandas reads them.
        col = col.astype("string").str.strip().replace({"true": "1", "True": "1", "TRUE": "1",
                                                         "false": "0", "False": "0", "FALSE": "0"})  # fmt: skip
        parsed = pd.to_numeric(col, errors="coerce")
        bad = (parsed.isna() & col.notna() & (col.astype("string").str.strip() != "")).to_numpy()
        return parsed.to_numpy(dtype="float64", na_value=np.nan), bad


def _to_float(name: str, col: pd.Series, row_offset: int) -> np.ndarray:
    if pd.api.types.is_bool_dtype(col):
        return col.astype("float32").to_numpy()
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype="float32", na_value=np.nan)
    values, bad = _parse_floats(col)
    if bad is not None and bad.any():
        positions = np.flatnonzero(bad)[:EXAMPLES]
        examples = [{"row": int(p) + 1 + row_offset, "value": str(col.iloc[p])[:50]} for p in positions]
        raise InvalidInput(
            f"column {name!r} must be numeric; {int(bad.sum())} value(s) are not numbers, e.g. {examples[0]['value']!r}",
            {"column": name, "bad_values": int(bad.sum()), "examples": examples},
        )
    return values.astype("float32")


def _reject_numeric_with_junk(name: str, col: pd.Series) -> None:
    counts = col.dropna().value_counts()  # distinct values: a category column has few
    if counts.empty:
        return
    parsed = pd.to_numeric(pd.Series(counts.index, dtype=object), errors="coerce").to_numpy()
    numeric = ~np.isnan(parsed.astype("float64"))
    share = float(counts.to_numpy()[numeric].sum() / counts.sum())
    if share >= NUMERIC_SHARE_FOR_JUNK:
        junk = set(counts.index[~numeric])
        bad = col[col.isin(junk)]
        examples = [{"row": int(i) + 1, "value": str(v)[:50]} for i, v in bad.head(EXAMPLES).items()]
        raise InvalidInput(
            f"column {name!r} is numeric but {len(bad)} value(s) are not numbers, e.g. {examples[0]['value']!r}",
            {"column": name, "bad_values": len(bad), "examples": examples},
        )
