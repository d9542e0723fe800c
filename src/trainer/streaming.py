"""Training from a dataset file on local disk, read in chunks: never the whole table as one frame.

`train(prepare(read_table(file)))` reads the whole table into one DataFrame. `train_file` gives
the same model from the file read in chunks of at most `chunk_rows` rows:

1. pass 1 sums up, in a `DatasetStats`, what `prepare` derives from the whole frame: each
   column's type as the whole read would infer it, the summary of every text column's values
   that `FeatureSchema` needs (`TextSummary`), the target's distinct values (a bounded set) and
   the rows that have one. `DatasetStats.plan(opts)` turns that into a `Plan`: the same schema,
   objective, classes and refusals as `prepare`. Stats of parts of a file merge (`merge`).
2. pass 2 is an `xgb.DataIter` over the chunks that yields the training rows encoded by the plan
   to a `QuantileDMatrix` (an `ExtMemQuantileDMatrix` cached on local disk, past
   `in_memory_bytes`); the holdout rows (the same seeded positions as `train`'s) are kept
   encoded, the reference set's rows as given. The rest is `training.fit`, as for `train`.

The chunks are parsed by the parsers of `formats...read_table` with its options, so tokenizing,
missing markers, header names, numbers and unreadable files are as in the whole read: CSV by
`pandas.read_csv(skipinitialspace=True)`, JSON lines by pandas' JSON parser (as
`read_json(lines=True, dtype=False)`; values kept as parsed, a column typed once all chunks are
seen), Parquet by the formats' chunk reader. A chunk's types can differ from the whole file's (a
column of integers with a missing value in another chunk is a column of floats in the whole
file): `Plan.conform` gives each chunk the whole file's types. A CSV column that is text in the
whole file but numbers in some chunk lost those numbers' text (1.50 read as 1.5): such columns
(`DatasetStats.text_columns`) are read again as text (one more pass, only then).

Known differences from the whole read, on unusual data only: a malformed JSON line is named by
its line number, where pandas names a character position; pandas parses a CSV of more than
about 2**20 fields per column in blocks and leaves the numbers of a block of numbers as numbers
in a column that is text in another block, where chunks read that column as text (a category
written "1.50" stays "1.50", not "1.5"); JSON lines whose keys are all numbers name the columns
with text, where pandas makes numbers of them.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from pandas.io.json import ujson_loads

from fmlcore.core.errors import InvalidInput
from fmlcore.ml import formats
from fmlcore.ml.features import MAX_CATEGORIES, FeatureSchema, TextSummary, is_numeric
from fmlcore.ml.readers import DEFAULT_LIMITS, ReadLimits, _first_line, check_column_count
from trainer.training import (
    MAX_CLASSES,
    Guard,
    Setup,
    Trained,
    TrainOptions,
    check_columns,
    check_rows,
    fit,
    label_classes,
    label_codes,
    objective_for,
    reference_frame,
    reference_positions,
    split,
)

log = logging.getLogger(__name__)

BYTES_PER_VALUE = 4  # the estimate of a training matrix's size: a float32 per value


# ------------------------------------------------------------------------------- reading
def read_chunks(
    path: Path,
    ext: str,
    chunk_rows: int,
    limits: ReadLimits = DEFAULT_LIMITS,
    max_columns: int = 2_000,
    text_columns: Sequence[str] = (),
) -> Iterator[pd.DataFrame]:
    """The rows of the file at `path` in frames of at most `chunk_rows` rows, indexed by their
    position in the file (from 0), typed by the parser chunk by chunk (CSV `text_columns` as
    text): what `DatasetStats.add` and `Plan.encode` take.

    An unreadable file is InvalidInput as `read_table` words it; more than `max_columns`
    columns as `check_column_count` words it.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    fmt = formats.for_extension(ext)
    if fmt.name == "csv":
        frames = _csv_chunks(path, chunk_rows, text_columns)
    elif fmt.name == "jsonl":
        frames = _jsonl_chunks(path, chunk_rows)
    else:
        frames = (chunk.frame for chunk in fmt.chunks(path, chunk_rows, limits))
    row, columns = 0, set()
    with _reading(fmt):
        for frame in frames:
            columns.update(frame.columns)
            check_column_count(len(columns), max_columns)
            frame.index = pd.RangeIndex(row, row + len(frame))
            row += len(frame)
            yield frame


@contextmanager
def _reading(fmt: formats.Format) -> Iterator[None]:
    """Errors of the parsers as InvalidInput, worded as `readers.read_whole` words them."""
    try:
        yield
    except InvalidInput:
        raise
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput("the file is empty", {"format": fmt.extension}) from exc
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the {fmt.name} data: {_first_line(exc)}", {"format": fmt.extension}) from exc
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        if type(exc).__module__.startswith("pyarrow"):
            raise InvalidInput(
                f"cannot read the {fmt.name} data: {_first_line(exc)}", {"format": fmt.extension}
            ) from exc
        raise


def _csv_chunks(path: Path, chunk_rows: int, text_columns: Sequence[str]) -> Iterator[pd.DataFrame]:
    """CSV chunks as `readers.read_csv` reads the whole file (its parser, its options)."""
    dtype = dict.fromkeys(text_columns, str) or None
    with pd.read_csv(path, skipinitialspace=True, dtype=dtype, chunksize=chunk_rows) as reader:
        yield from reader


def _jsonl_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """`chunk_rows` lines at a time (blank ones included), parsed as `read_json(lines=True,
    dtype=False)` parses the whole file: lines split at "\\n" and stripped, pandas' JSON parser
    with its float precision. The values stay as parsed, in object columns (an absent key as NaN):
    DatasetStats types each column over the whole file, as the whole read's DataFrame does."""
    with open(path, "rb") as fh:
        first = 1
        while lines := list(islice(fh, chunk_rows)):
            texts = [line.decode("utf-8").strip() for line in lines]
            try:
                records = ujson_loads(f"[{','.join(t for t in texts if t)}]", precise_float=False)
            except ValueError as exc:
                raise _bad_json_line(texts, first) from exc
            _check_objects(records, [first + i for i, text in enumerate(texts) if text])
            columns = dict.fromkeys(key for record in records for key in record)
            yield pd.DataFrame(
                {key: pd.Series([r.get(key, np.nan) for r in records], dtype=object) for key in columns},
                index=pd.RangeIndex(len(records)),
            )
            first += len(lines)


def _check_objects(records: list[Any], lines: list[int]) -> None:
    """Every record must be a JSON object (InvalidInput naming the line of the first that is not;
    `lines`: the line of each record, unless a line held several)."""
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            line = lines[i] if len(lines) == len(records) else None
            where = f"line {line}" if line else "a line"
            raise InvalidInput(
                f"cannot read the jsonl data: {where} is not a JSON object", {"format": ".jsonl", "line": line}
            )


def _bad_json_line(texts: list[str], first: int) -> InvalidInput:
    """The refusal naming the first of these lines (numbered from `first`) that does not parse."""
    for number, text in enumerate(texts, start=first):
        try:
            if text:
                ujson_loads(text, precise_float=False)
        except ValueError as exc:
            return InvalidInput(
                f"cannot read the jsonl data: line {number}: {_first_line(exc)}", {"format": ".jsonl", "line": number}
            )
    last = first + len(texts) - 1
    return InvalidInput(f"cannot read the jsonl data: lines {first}-{last} do not parse together", {"format": ".jsonl"})


# ------------------------------------------------------------------------------- typing
# The kinds of values a chunk's column holds: "int", "float", "bool", "str", "mixed" (other
# Python objects) and "other" (a dtype pandas keeps whatever the values: dates, categories,
# nullable integers...). From them and whether any row misses a value, the column's type in
# the whole file, as pandas infers it.
_INFERRED = {"empty": set(), "integer": {"int"}, "floating": {"float"}, "mixed-integer-float": {"int", "float"},
             "boolean": {"bool"}, "string": {"str"}}  # fmt: skip
_NUMPY_KINDS = {"i": {"int"}, "u": {"int"}, "f": {"float"}, "b": {"bool"}}


def _kinds(col: pd.Series, csv: bool) -> set[str]:
    """The kinds of a chunk's column (its missing values aside)."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in _NUMPY_KINDS:
        if csv and dtype.kind == "f" and not col.notna().any():
            return set()  # read_csv's type of a column of missing values, whatever the other chunks hold
        return _NUMPY_KINDS[dtype.kind]
    if pd.api.types.is_object_dtype(dtype):
        return _INFERRED.get(pd.api.types.infer_dtype(col, skipna=True), {"mixed"})
    if isinstance(dtype, pd.StringDtype) and dtype.na_value is np.nan:  # pandas' default text type
        return {"str"}
    return {"other"}


@dataclass(frozen=True)
class Typing:
    """The type of a column in the whole file, and how to give a chunk's column that type.

    kind: "int", "float", "bool", "str", "object" (booleans with missing values, or a mix), or
    "keep" (the chunks' own dtype). `dtype`: the dtype of a "keep" column, of a "float" one
    when not float64.
    """

    kind: str
    dtype: Any = None

    @property
    def numeric(self) -> bool:
        """Numbers or booleans (a numeric feature)."""
        keep = self.kind == "keep" and is_numeric(pd.Series(dtype=self.dtype))
        return self.kind in ("int", "float", "bool") or keep

    @property
    def number(self) -> bool:
        """Numbers, not booleans (how the objective is inferred)."""
        boolean = self.kind == "bool" or (self.kind == "keep" and pd.api.types.is_bool_dtype(self.dtype))
        return self.numeric and not boolean

    def apply(self, col: pd.Series | None, index: pd.Index) -> pd.Series:
        """`col` (None: absent from the chunk) with the whole file's type."""
        if col is None:
            dtype = {"str": "str", "float": self.dtype or "float64", "keep": self.dtype}.get(self.kind, object)
            return pd.Series(np.nan, index=index, dtype=dtype)
        if self.kind == "int":  # as read: int64, or uint64 past it
            return col if col.dtype.kind in "iu" else col.infer_objects()
        if self.kind == "keep":
            return col
        return col.astype({"float": self.dtype or "float64", "bool": bool, "str": "str", "object": object}[self.kind])

    def scalars(self, values: list[Any]) -> list[Any]:
        """Distinct values of the column as chunks held them, as distinct Python values of this type."""
        typed = self.apply(pd.Series(values, dtype=object), pd.RangeIndex(len(values)))
        cast = {"int": int, "float": float, "bool": bool}.get(self.kind)
        return list(dict.fromkeys((typed.map(cast) if cast else typed).dropna().tolist()))


def _typing(kinds: set[str], missing: bool, csv: bool, dtypes: set[Any]) -> Typing:
    """The whole file's type of a column whose chunks held `kinds` (`missing`: some row has no
    value; `csv`: as read_csv types it, else as a DataFrame of the values does); `dtypes`: the
    chunks' dtypes of kinds "float" and "other"."""
    if "other" in kinds:
        return Typing("keep", next(d for d in dtypes if not _is_float(d)))
    if not kinds:
        return Typing("float" if csv else "object")  # read_csv reads a column of missing values as floats
    if kinds == {"int"}:
        return Typing("float" if missing else "int")
    if kinds <= {"int", "float"}:
        floats = {d for d in dtypes if _is_float(d)}
        return Typing("float", floats.pop() if kinds == {"float"} and len(floats) == 1 else None)
    if kinds == {"bool"}:
        return Typing("object" if missing else "bool")
    return Typing("str" if csv or kinds == {"str"} else "object")  # read_csv keeps mixed fields as text


def _is_float(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind == "f"


# ------------------------------------------------------------------------------- pass 1
@dataclass
class _ColumnStats:
    """What pass 1 knows of one column: its kinds and dtypes in all rows, how many rows hold a
    value, and the summary of its values in the rows with a target."""

    kinds: set[str] = field(default_factory=set)
    dtypes: set[Any] = field(default_factory=set)
    values: int = 0
    text: TextSummary = field(default_factory=TextSummary)

    def merge(self, other: _ColumnStats, limit: int) -> _ColumnStats:
        return _ColumnStats(self.kinds | other.kinds, self.dtypes | other.dtypes, self.values + other.values,
                            self.text.merge(other.text, limit))  # fmt: skip


class DatasetStats:
    """What `prepare` derives from a whole dataset, summed over its parts: per column the kinds of
    values (so its type in the whole file), the rows holding one, the summary of a text column's
    values (`TextSummary`); the rows, the rows with a target, and the target's distinct values
    (at most MAX_CLASSES + 1 of them: enough to pick the objective and to refuse too many classes).

    `add` takes the frames of `read_chunks` (`csv`: of a CSV file), indexed by their position in
    the file; `merge` adds up the stats of parts computed elsewhere (plain data: it pickles);
    `plan` gives the training's `Plan`, with the refusals of `prepare`.
    """

    def __init__(self, target: str, csv: bool = False, max_categories: int = MAX_CATEGORIES) -> None:
        self.target = target
        self.csv = csv
        self.max_categories = max_categories
        self.rows = 0  # data rows
        self.kept = 0  # rows with a target value
        self.columns: dict[str, _ColumnStats] = {}  # in the order they first appear
        self.target_values: set[Any] = set()  # distinct target values as read, at most MAX_CLASSES + 1

    def add(self, frame: pd.DataFrame) -> DatasetStats:
        """Add a chunk's rows (returns self)."""
        keep = frame[self.target].notna().to_numpy() if self.target in frame.columns else np.zeros(len(frame), bool)
        for name in frame.columns:
            self._add_column(str(name), frame[name], keep)
        self.rows += len(frame)
        self.kept += int(keep.sum())
        return self

    def _add_column(self, name: str, col: pd.Series, keep: np.ndarray) -> None:
        stats = self.columns.setdefault(name, _ColumnStats())
        stats.values += int(col.notna().sum())
        kinds = _kinds(col, self.csv)
        stats.kinds |= kinds
        if kinds & {"float", "other"}:
            stats.dtypes.add(col.dtype)
        kept = col[keep]
        if name == self.target:
            for value in kept.dropna().unique().tolist() if len(self.target_values) <= MAX_CLASSES else ():
                self.target_values.add(value)
                if len(self.target_values) > MAX_CLASSES:
                    break
        elif kinds <= {"int", "float"} and stats.text.distinct is None:  # numbers only: no junk, no categories
            stats.text = stats.text.merge(TextSummary.of_numbers(int(kept.notna().sum())), self.max_categories)
        else:
            part = TextSummary.of(kept, self.max_categories, distinct=stats.text.distinct is not None)
            stats.text = stats.text.merge(part, self.max_categories)

    def merge(self, other: DatasetStats) -> DatasetStats:
        """The stats of both parts (`other`'s rows after this one's, numbered in the same file)."""
        if (other.target, other.csv, other.max_categories) != (self.target, self.csv, self.max_categories):
            raise ValueError("stats of different targets or formats do not merge")
        merged = DatasetStats(self.target, self.csv, self.max_categories)
        merged.rows, merged.kept = self.rows + other.rows, self.kept + other.kept
        for name in [*self.columns, *(n for n in other.columns if n not in self.columns)]:
            mine, theirs = self.columns.get(name), other.columns.get(name)
            merged.columns[name] = mine.merge(theirs, self.max_categories) if mine and theirs else (mine or theirs)
        merged.target_values = set(islice(self.target_values | other.target_values, MAX_CLASSES + 1))
        return merged

    def typing(self, name: str) -> Typing:
        """The whole file's type of column `name`."""
        stats = self.columns[name]
        return _typing(stats.kinds, stats.values < self.rows, self.csv, stats.dtypes)

    def text_columns(self) -> list[str]:
        """The CSV columns that are text in the whole file but numbers or booleans in some chunk,
        whose text those chunks lost: to read again as text (`read_chunks(text_columns=...)`)."""
        lossy = [n for n, s in self.columns.items() if s.kinds & {"int", "float", "bool"}]
        return [n for n in lossy if self.typing(n).kind == "str"] if self.csv else []

    def plan(self, opts: TrainOptions) -> Plan:
        """The schema, objective and classes `prepare` would find in the whole dataset, or its refusal."""
        columns = list(self.columns)
        check_columns(columns, opts)
        check_rows(self.kept)
        typings = {name: self.typing(name) for name in columns}
        features = [n for n in columns if n != opts.target and n not in opts.ignore_columns]
        schema = FeatureSchema.from_columns(
            ((name, None if typings[name].numeric else self.columns[name].text) for name in features),
            self.max_categories,
        )
        target = typings[opts.target]
        values = target.scalars(list(self.target_values))
        objective = opts.objective or objective_for(target.number, len(values))
        classes = label_classes(values, objective, target.numeric, opts.target)
        return Plan(
            schema=schema,
            objective=objective,
            classes=classes,
            rows_dropped=self.rows - self.kept,
            target=opts.target,
            rows=self.kept,
            typings={name: typings[name] for name in [*schema.names, opts.target]},
        )


@dataclass(frozen=True)
class Plan(Setup):
    """How to train on a dataset read in chunks: `Setup` (as `prepare` derives it from the whole
    dataset), the rows with a target, and the whole file's type of each column training reads.
    It takes chunks as `read_chunks` gives them, with the stats' `text_columns` read as text."""

    rows: int
    typings: dict[str, Typing]

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The features and the target of a chunk as the whole file's reader types them."""
        return pd.DataFrame(
            {name: typing.apply(frame.get(name), frame.index) for name, typing in self.typings.items()},
            index=frame.index,
        )

    def encode(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """A chunk's rows with a target, encoded as `prepare` encodes them: (features, labels, the
        mask of those rows in the chunk)."""
        return self.encode_conformed(self.conform(frame))

    def encode_conformed(self, typed: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """`encode` of a chunk already conformed."""
        keep = typed[self.target].notna().to_numpy()
        kept = typed.loc[keep]
        return self.schema.encode(kept), label_codes(kept[self.target], self.classes), keep


# ------------------------------------------------------------------------------- pass 2
class _Batches(xgb.DataIter):
    """The training rows of the file, one batch per chunk that has some, encoded by the plan. The
    first whole pass also keeps the holdout rows (encoded) and the reference set's rows (as given):
    `valid` marks the holdout among the rows with a target, `reference` lists the reference rows'
    positions among them (sorted). With `replay`, the first pass also keeps the training batches
    (encoded: about the size of the matrix) and later passes replay them instead of reading the
    file again (XGBoost makes several passes to build a matrix), until `release()`."""

    def __init__(
        self,
        chunks: Callable[[], Iterator[pd.DataFrame]],
        plan: Plan,
        valid: np.ndarray,
        reference: np.ndarray,
        guard: Guard,
        cache_prefix: str | None = None,
        replay: bool = False,
    ) -> None:
        super().__init__(cache_prefix=cache_prefix)
        self.chunks, self.plan, self.valid, self.reference, self.guard = chunks, plan, valid, reference, guard
        self._frames: Iterator[pd.DataFrame] | None = None
        self._offset = 0  # position, among the rows with a target, of the next chunk's first one
        self._complete = False  # a whole pass is done: the holdout and the reference rows are kept
        self._holdout: list[tuple[pd.DataFrame, np.ndarray]] = []
        self._reference: list[pd.DataFrame] = []
        self._batches: list[tuple[pd.DataFrame, np.ndarray]] | None = [] if replay else None
        self._replayed = 0  # batches replayed in this pass

    def reset(self) -> None:
        if self._frames is not None:
            self._frames.close()
        self._frames, self._offset, self._replayed = None, 0, 0
        if not self._complete:
            self._holdout, self._reference = [], []
            self._batches = None if self._batches is None else []

    def release(self) -> None:
        """Drop the kept training batches: a later pass reads the file again."""
        self._batches = None

    def next(self, input_data: Callable) -> bool:
        if self._complete and self._batches is not None:
            if self._replayed == len(self._batches):
                return False
            features, label = self._batches[self._replayed]
            self._replayed += 1
            input_data(data=features, label=label)
            return True
        if self._frames is None:
            self._frames = self.chunks()
        for frame in self._frames:
            self.guard.check("while reading the data")
            typed = self.plan.conform(frame)
            features, label, keep = self.plan.encode_conformed(typed)
            start, self._offset = self._offset, self._offset + len(label)
            valid = self.valid[start : self._offset]
            if not self._complete:
                self._keep(typed, keep, features, label, valid, start)
            if not valid.all():
                batch = features[~valid], label[~valid]
                if not self._complete and self._batches is not None:
                    self._batches.append(batch)
                input_data(data=batch[0], label=batch[1])
                return True
        self._complete = True
        return False

    def _keep(self, typed, keep, features, label, valid, start) -> None:
        """Keep a chunk's holdout rows (encoded) and its reference rows (as given); `start`: the
        position of its first row with a target among all of them."""
        if valid.any():
            self._holdout.append((features[valid], label[valid]))
        lo, hi = np.searchsorted(self.reference, [start, start + len(label)])
        if hi > lo or not self._reference:  # the first chunk's, even empty: the reference set's types
            self._reference.append(typed.loc[keep].iloc[self.reference[lo:hi] - start])

    def holdout(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The holdout rows' encoded features and labels, in file order."""
        return pd.concat([f for f, _ in self._holdout]), np.concatenate([y for _, y in self._holdout])

    def reference_rows(self) -> pd.DataFrame:
        """The reference set: the sampled holdout rows as given."""
        return reference_frame(pd.concat(self._reference), self.plan)


def train_file(
    path: Path,
    ext: str,
    opts: TrainOptions,
    nthread: int = 0,
    deadline: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    reference_max_rows: int = 10_000,
    chunk_rows: int = 100_000,
    in_memory_bytes: int = 2 << 30,
    cache_dir: Path | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
    max_columns: int = 2_000,
) -> tuple[Trained, int]:
    """`train(prepare(read_table(file)), ...)` of the dataset file at `path` (format by `ext`, such
    as ".csv"), read in chunks of at most `chunk_rows` rows; the Trained and the file's data rows.

    The training matrix is a QuantileDMatrix, or past `in_memory_bytes` (estimated at
    BYTES_PER_VALUE per training value) an ExtMemQuantileDMatrix whose cache lives in a
    temporary directory under `cache_dir` (the system's temporary directory by default),
    removed afterwards. `deadline`/`should_stop` are checked between chunks and rounds.
    """
    fmt = formats.for_extension(ext)
    guard = Guard(deadline, should_stop)

    text: list[str] = []

    def chunks() -> Iterator[pd.DataFrame]:
        return read_chunks(path, fmt.extension, chunk_rows, limits, max_columns, text)

    def pass1() -> DatasetStats:
        stats = DatasetStats(opts.target, csv=fmt.name == "csv")
        for frame in chunks():
            guard.check("while reading the data")
            stats.add(frame)
        return stats

    stats = pass1()
    if stats.text_columns():
        text[:] = stats.text_columns()
        log.info("reading again as text: %s", ", ".join(text[:20]))
        stats = pass1()
    if stats.rows == 0 or not stats.columns:
        raise InvalidInput("the file has no data rows", {"format": fmt.extension, "columns": list(stats.columns)[:20]})
    plan = stats.plan(opts)
    log.info("read %d rows (%d with a target) in chunks of %d; %s", stats.rows, plan.rows, chunk_rows, plan.objective)

    started = time.perf_counter()
    train_idx, valid_idx = split(plan.rows, opts.validation_fraction)
    valid = np.zeros(plan.rows, dtype=bool)
    valid[valid_idx] = True
    size = len(train_idx) * len(plan.schema.names) * BYTES_PER_VALUE
    external = size > in_memory_bytes
    reference = reference_positions(valid_idx, reference_max_rows)
    del train_idx, valid_idx
    cache = Path(tempfile.mkdtemp(prefix="fml-extmem-", dir=cache_dir)) if external else None
    batches = _Batches(chunks, plan, valid, reference, guard, str(cache / "train") if cache else None, not external)

    def matrices(max_bin: int) -> tuple[xgb.DMatrix, pd.DataFrame, np.ndarray]:
        matrix = xgb.ExtMemQuantileDMatrix if external else xgb.QuantileDMatrix
        log.info("training matrix: %s (about %d bytes in memory)", matrix.__name__, size)
        dtrain = matrix(batches, max_bin=max_bin, enable_categorical=True)
        batches.release()
        return (dtrain, *batches.holdout())

    try:
        trained = fit(plan, opts, plan.rows, matrices, batches.reference_rows, nthread, guard, started)
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
    return trained, stats.rows
