"""The feature schema of a model: which columns, of which type, with which categories.

Training fits it from a DataFrame (`FeatureSchema.fit`); prediction encodes incoming data
with the *same* schema (`encode`), so categories get exactly the codes they had in
training. The schema is stored inside the model artifact (booster feature names/types plus
the categories in the model's metadata).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES

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
    _codes_of: dict[Any, dict[str, float]] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "types": self.types, "categories": self.categories}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        return cls(list(data["names"]), list(data["types"]), {k: list(v) for k, v in data["categories"].items()})

    @classmethod
    def fit(cls, frame: pd.DataFrame, max_categories: int = MAX_CATEGORIES) -> FeatureSchema:
        """Infer the schema of the feature columns of `frame` (target already removed)."""
        columns = (
            (name, None if is_numeric(frame[name]) else TextSummary.of(frame[name], max_categories))
            for name in frame.columns
        )
        return cls.from_columns(columns, max_categories)

    @classmethod
    def from_columns(
        cls, columns: Iterable[tuple[Any, TextSummary | None]], max_categories: int = MAX_CATEGORIES
    ) -> FeatureSchema:
        """The schema of feature columns given in order as (name, None for a numeric column, or the
        `TextSummary` of a text column's values): what `fit` infers from a frame, from the parts of
        a dataset read in pieces too. Refusals are raised for the first column that has one.

        A text column none of whose values is other than a number (`TextSummary.numeric`: numbers
        as text, booleans with gaps, or no value at all) is a numeric feature: `encode` reads its
        values as numbers, at prediction as in training."""
        names, types, categories = [], [], {}
        for name, text in columns:
            if str(name).strip() == "" or str(name).startswith("Unnamed: "):
                raise InvalidInput(f"column {name!r} has no name", {"column": str(name)})
            if text is None or text.numeric:
                kind = NUMERIC
            else:
                categories[str(name)] = text.categories(str(name), max_categories)
                kind = CATEGORICAL
            names.append(str(name))
            types.append(kind)
        if not names:
            raise InvalidInput("the data has no feature columns besides the target")
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

    # ------------------------------------------------------------ values, without a DataFrame
    def encode_json_columns(self, columns: Sequence[Sequence[Any]]) -> np.ndarray:
        """`encode_array` of the frame pandas would build from these JSON values, without building it.

        `columns` holds one sequence of JSON scalars per feature, in the schema's order (None for
        null or an absent key). Raises NeedsFrame when a value's encoding (or error) depends on
        how pandas would infer its column: the caller then encodes through the DataFrame.
        """
        return self._matrix(columns, _json_numbers, lambda name, values: _json_codes(self._lookup(name), values))

    def encode_csv_columns(self, columns: Sequence[Sequence[str]]) -> np.ndarray:
        """`encode_array` of the frame `pd.read_csv(skipinitialspace=True)` would read, from its fields.

        `columns` holds the text fields of each feature (as the csv module splits them, leading
        spaces skipped), in the schema's order. Raises NeedsFrame as `encode_json_columns` does.
        """
        return self._matrix(
            columns, _csv_numbers, lambda name, values: _csv_codes(self._csv_lookup(name), self._lookup(name), values)
        )

    def _matrix(self, columns: Sequence[Sequence[Any]], numbers: Any, codes: Any) -> np.ndarray:
        rows = len(columns[0]) if columns else 0
        out = np.empty((rows, len(self.names)), dtype=np.float32)
        for j, (name, kind, values) in enumerate(zip(self.names, self.types, columns, strict=True)):
            out[:, j] = codes(name, values) if kind == CATEGORICAL else numbers(values)
        return out

    def _lookup(self, name: str) -> dict[str, float]:
        """Category → training code (its index in the sorted categories, as `_codes` gets it).

        Only text categories: `_codes` looks up text, which never equals a category of another type.
        """
        lookup = self._codes_of.get(name)
        if lookup is None:
            categories = self.categories.get(name, [])
            lookup = self._codes_of[name] = {c: float(i) for i, c in enumerate(categories) if isinstance(c, str)}
        return lookup

    def _csv_lookup(self, name: str) -> dict[str, float]:
        """The categories a CSV field may match as they are: neither missing markers nor number-like."""
        lookup = self._codes_of.get(("csv", name))
        if lookup is None:
            lookup = self._codes_of[("csv", name)] = {
                c: code for c, code in self._lookup(name).items() if c not in CSV_NA and not _looks_numeric(c)
            }
        return lookup

    def bad_rows(self, frame: pd.DataFrame) -> dict[int, str]:
        """Rows (by position) whose values cannot be encoded, with the reason: for batch error files."""
        problems: dict[int, str] = {}
        for name, kind in zip(self.names, self.types, strict=True):
            if kind != NUMERIC or name not in frame.columns or is_numeric(frame[name]):
                continue
            col = frame[name]
            _, bad = _parse_floats(col)
            if bad is None:
                continue
            for pos in np.flatnonzero(bad):
                problems.setdefault(int(pos), f"column {name!r}: {col.iloc[pos]!r} is not a number")
        return problems


def is_numeric(col: pd.Series) -> bool:
    """Is this a numeric feature column (numbers or booleans)? Any other is a text column."""
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


class NeedsFrame(Exception):
    """A value whose encoding, or error, the value encoders leave to the DataFrame path.

    They encode only what they can encode exactly as `FeatureSchema.encode_array` does on the
    frame pandas would build; for anything else (a number in a categorical column, text that is
    not a plain number, nested values, ...) the caller builds that frame, which also raises the
    same errors as always.
    """


# Integers up to 2**53 are exact as float64, so int64 → float32 (pandas, a column of integers)
# and int → float64 → float32 (here) round the same.
_EXACT_INT = 2**53
_JSON_PLAIN = frozenset({float, bool, type(None)})
_JSON_NUMBERS = frozenset({int, float, bool, type(None)})
_JSON_SCALARS = _JSON_NUMBERS | {str}


def _json_numbers(values: Sequence[Any]) -> np.ndarray:
    """A numeric feature from JSON scalars: numbers, booleans (1/0), null (NaN), numeric text."""
    kinds = set(map(type, values))
    if kinds <= _JSON_PLAIN:
        return np.array(values, dtype=np.float64)
    if kinds <= _JSON_NUMBERS:
        try:
            out = np.array(values, dtype=np.float64)
        except OverflowError as exc:
            raise NeedsFrame from exc
        if (np.abs(out) > _EXACT_INT).any():  # a huge integer: pandas may cast it without float64
            raise NeedsFrame
        return out
    if str not in kinds or not kinds <= _JSON_SCALARS:
        raise NeedsFrame  # nested values: the frame path names them
    # Text makes pandas keep the column as text, and then cast every value with float():
    # only when one does not parse does it take the slower parse (true/false, errors).
    try:
        return np.array([float(v) if type(v) is str else v for v in values], dtype=np.float64)
    except (ValueError, OverflowError) as exc:
        raise NeedsFrame from exc


def _json_codes(lookup: dict[str, float], values: Sequence[Any]) -> list[float]:
    """A categorical feature from JSON text (padding stripped); null or unseen → NaN."""
    out = []
    for v in values:
        try:
            code = lookup.get(v)  # a category exactly (a str: the keys are)
        except TypeError as exc:  # unhashable: a nested value, which the frame path names
            raise NeedsFrame from exc
        if code is None:
            if v is None:
                code = np.nan
            elif type(v) is not str:
                raise NeedsFrame  # a number's text depends on how pandas types its column
            else:
                if not v.isascii():
                    try:
                        v.encode("utf-8")
                    except UnicodeEncodeError as exc:  # a lone surrogate: pandas refuses it
                        raise NeedsFrame from exc
                code = lookup.get(v.strip(), np.nan)
        out.append(code)
    return out


# What `pd.read_csv` reads as missing, true or false, and the numbers it reads exactly as float()
# does: at most 15 digits (exact in a double) times a power of ten up to 1e22 (exact too), so its
# parser's one multiplication or division rounds once, like a correct parser.
CSV_NA = frozenset(STR_NA_VALUES)
CSV_TRUE, CSV_FALSE = frozenset({"True", "TRUE", "true"}), frozenset({"False", "FALSE", "false"})
_CSV_NUMBER = re.compile(r"[+-]?(?=\.?[0-9])([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?\Z")
_MAX_DIGITS, _MAX_POWER = 15, 22
_NUMBER_START = frozenset("0123456789.")
# The common column at once: unsigned decimals of at most 15 characters, or empty (missing).
_PLAIN_FIELD = r"(?:(?=[0-9.]{1,15}(?:\n|\Z))(?:[0-9]+\.?[0-9]*|\.[0-9]+))?"
_PLAIN_COLUMN = re.compile(rf"{_PLAIN_FIELD}(?:\n{_PLAIN_FIELD})*")


def _csv_number(text: str) -> float:
    match = _CSV_NUMBER.match(text)
    if match is None:
        raise NeedsFrame
    whole, fraction, exponent = match.group(1), match.group(2) or "", match.group(3)
    if len(whole) + len(fraction) > _MAX_DIGITS:
        raise NeedsFrame
    if exponent is not None or fraction:
        power = (int(exponent) if exponent is not None else 0) - len(fraction)
        if not -_MAX_POWER <= power <= _MAX_POWER:
            raise NeedsFrame
    value = float(text)
    if value == 0 and text.startswith("-"):
        raise NeedsFrame  # -0 is 0.0 in a column of integers, -0.0 in a column of decimals
    return value


def _csv_numbers(values: Sequence[str]) -> list[float]:
    """A numeric feature from CSV fields: missing markers → NaN, true/false → 1/0, plain numbers."""
    if _PLAIN_COLUMN.fullmatch("\n".join(values)):
        try:
            return [float(v) if v else np.nan for v in values]
        except ValueError:  # a field holding a line break fooled the pattern: take the long way
            pass
    out = []
    flags = numbers = False
    for v in values:
        if v in CSV_NA:
            out.append(np.nan)
        elif v in CSV_TRUE or v in CSV_FALSE:
            out.append(1.0 if v in CSV_TRUE else 0.0)
            flags = True
        else:
            out.append(_csv_number(v))
            numbers = True
    if flags and numbers:
        raise NeedsFrame  # pandas reads such a column as text and parses it another way
    return out


def _looks_numeric(text: str) -> bool:
    """Could pandas read this field as a number or a boolean? (Generously: then the frame decides.)"""
    bare = text.strip().lstrip("+-").lower()
    return bare[:1] in _NUMBER_START or bare.startswith(("inf", "nan")) or bare in ("true", "false")


def _csv_codes(plain: dict[str, float], lookup: dict[str, float], values: Sequence[str]) -> list[float]:
    """A categorical feature from CSV fields: missing markers and unseen categories → NaN."""
    out = []
    for v in values:
        code = plain.get(v)
        if code is None:
            if v in CSV_NA:
                code = np.nan
            elif _looks_numeric(v):
                raise NeedsFrame  # pandas may type the column as numbers, and then their text changes
            else:
                code = lookup.get(v.strip(), np.nan)
        out.append(code)
    return out


@dataclass
class TextSummary:
    """What the schema of a text column needs from its values, in sums that add up over parts of
    the column (chunks of a file, partitions): a column of numbers only, or of no value, is numeric
    (`numeric`); one of mostly numbers with some junk is refused; any other gets its stripped
    distinct values as categories (at most `max_categories`).

    Rows are numbered by the column's index labels (position in the dataset) + 1.
    """

    values: int = 0  # non-missing values
    numbers: int = 0  # of those, the ones that read as numbers
    junk: int = 0  # of those, the ones that do not
    examples: list[tuple[int, str]] = field(default_factory=list)  # the first EXAMPLES junk values: (row, value)
    distinct: set[str] | None = field(default_factory=set)  # stripped text values; None: more than the limit

    @classmethod
    def of(cls, col: pd.Series, max_categories: int = MAX_CATEGORIES, distinct: bool = True) -> TextSummary:
        """The summary of `col`'s values; `distinct=False` skips the distinct values (None, as past the limit)."""
        counts = col.dropna().value_counts()  # distinct values: a category column has few
        if counts.empty:
            return cls(distinct=set() if distinct else None)
        parsed = pd.to_numeric(pd.Series(counts.index, dtype=object), errors="coerce").to_numpy()
        numeric = ~np.isnan(parsed.astype("float64"))
        values = None
        if distinct:
            values = set(col.dropna().astype(str).str.strip().unique().tolist())
            values = values if len(values) <= max_categories else None
        return cls(
            values=int(counts.sum()),
            numbers=int(counts.to_numpy()[numeric].sum()),
            junk=int(counts.to_numpy()[~numeric].sum()),
            examples=_first_rows(col, set(counts.index[~numeric])),
            distinct=values,
        )

    @classmethod
    def of_numbers(cls, count: int) -> TextSummary:
        """The summary of `count` values that are all numbers, without their distinct values."""
        return cls(values=count, numbers=count, distinct=None)

    def merge(self, other: TextSummary, max_categories: int = MAX_CATEGORIES) -> TextSummary:
        """The summary of both parts' values (rows numbered in the same dataset)."""
        distinct = None
        if self.distinct is not None and other.distinct is not None:
            distinct = self.distinct | other.distinct
            distinct = distinct if len(distinct) <= max_categories else None
        return TextSummary(
            values=self.values + other.values,
            numbers=self.numbers + other.numbers,
            junk=self.junk + other.junk,
            examples=sorted(self.examples + other.examples)[:EXAMPLES],
            distinct=distinct,
        )

    @property
    def numeric(self) -> bool:
        """Is it a numeric column? Every value reads as a number (the text of numbers, booleans with
        gaps, as `_parse_floats` reads them), or there is no value at all: a column that carries no
        information, a column of NaN as a CSV file has it (read as floats)."""
        return self.junk == 0

    def categories(self, name: str, max_categories: int = MAX_CATEGORIES) -> list[str]:
        """The sorted categories of a column that is not `numeric`, or InvalidInput: a numeric
        column with junk, or too many values."""
        if self.numeric:
            raise ValueError(f"column {name!r} is numeric: it has no categories")
        if self.numbers / self.values >= NUMERIC_SHARE_FOR_JUNK:
            examples = [{"row": row, "value": value} for row, value in self.examples]
            example = f", e.g. {examples[0]['value']!r}" if examples else ""
            raise InvalidInput(
                f"column {name!r} is numeric but {self.junk} value(s) are not numbers{example}",
                {"column": name, "bad_values": self.junk, "examples": examples},
            )
        if self.distinct is None:
            raise InvalidInput(
                f"column {name!r} has more than {max_categories} distinct text values: "
                "an identifier or free text cannot be a feature; drop it with the ignore_columns option",
                {"column": name, "limit": max_categories},
            )
        return sorted(self.distinct)


def _first_rows(col: pd.Series, values: set[Any]) -> list[tuple[int, str]]:
    """The first EXAMPLES rows of `col` holding one of `values`: (index label + 1, value), read in
    growing slices, so that a column whose junk comes first is not scanned whole."""
    found: list[tuple[int, str]] = []
    start, step = 0, 1024
    while values and start < len(col) and len(found) < EXAMPLES:
        part = col.iloc[start : start + step]
        hits = part[part.isin(values)].head(EXAMPLES - len(found))
        found += [(int(i) + 1, str(v)[:50]) for i, v in hits.items()]
        start, step = start + step, step * 4
    return found
