"""Batch scoring of one file, streamed in chunks so memory stays flat whatever the file size.

Input (CSV, Parquet or JSON lines) is read chunk by chunk; rows that cannot be scored (a
malformed CSV line, a JSON line that is not an object, a non-number in a numeric column)
go to the errors file with their line number and reason while every other row is scored.
Outputs are written to local temporary files and uploaded at the end, so a worker killed
mid-job leaves no partial output behind:

    batch/<model>/<input name>.predictions.<same ext>   every input column, then prediction columns
    batch/<model>/<input name>.errors.csv               line,reason (only when some row failed)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from boto3.s3.transfer import TransferConfig

from fmlcore.core.errors import InvalidInput
from fmlcore.core.layout import data_extension
from fmlcore.jobs.message import InputRef, get_input
from fmlcore.jobs.worker import JobInterrupted
from fmlcore.ml.model_store import LoadedModel
from fmlcore.ml.tabular import check_column_count, check_file_size
from predictor.scoring import check_columns, predict

log = logging.getLogger("fml.predictor.batch")

TRANSFER = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20)


@dataclass(frozen=True)
class ReadLimits:
    """What one input file may hold; past any of these the job fails at once (permanent), naming it."""

    max_columns: int = 2_000  # columns, or distinct keys over a JSON-lines file
    max_line_bytes: int = 8 << 20  # a CSV or JSON line, the header included
    max_file_bytes: int = 4 << 30  # a Parquet file, copied whole to local disk
    max_row_group_bytes: int = 1 << 30  # a Parquet row group, read whole into memory

    @classmethod
    def from_settings(cls, settings: Any) -> ReadLimits:
        return cls(settings.max_columns, settings.max_line_bytes, settings.max_dataset_bytes,
                   settings.max_row_group_bytes)  # fmt: skip

    def check_columns(self, count: int, what: str = "columns") -> None:
        check_column_count(count, self.max_columns, what)


@dataclass
class Chunk:
    frame: pd.DataFrame  # input columns, as read
    lines: np.ndarray  # line (CSV/JSONL) or row (Parquet) number of every row of `frame`
    errors: list[tuple[int, str]] = field(default_factory=list)  # rows that could not even be read


@dataclass
class BatchResult:
    rows_total: int = 0
    rows_scored: int = 0
    rows_failed: int = 0
    output_path: Path | None = None
    errors_path: Path | None = None


# ---------------------------------------------------------------------------- readers
class _Prepend(io.RawIOBase):
    """A stream that replays `prefix` and then continues with `rest` (after peeking at a header)."""

    def __init__(self, prefix: bytes, rest: Any) -> None:
        self.prefix = memoryview(prefix)
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.prefix:
            n = min(len(buffer), len(self.prefix))
            buffer[:n] = self.prefix[:n]
            self.prefix = self.prefix[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _header(stream: Any, max_line_bytes: int) -> bytes:
    """The bytes read up to and including the header line's end: each piece is searched once,
    and a header longer than `max_line_bytes` fails at once instead of being read whole."""
    pieces, size = [], 0
    while True:
        more = stream.read(64 << 10)
        if not more:
            break
        pieces.append(more)
        size += len(more)
        if b"\n" in more:
            break
        if size > max_line_bytes:
            raise InvalidInput(
                f"the header line is longer than {max_line_bytes} bytes (FML_MAX_LINE_BYTES): is this a CSV file?",
                {"limit": max_line_bytes},
            )
    return b"".join(pieces)


def read_csv_chunks(stream: Any, chunk_rows: int, limits: ReadLimits = ReadLimits()) -> Iterator[Chunk]:
    """CSV in chunks; every column read as text, so nothing is coerced behind the user's back."""
    head = _header(stream, limits.max_line_bytes)
    header_line = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
    if not header_line.strip():
        raise InvalidInput("the file is empty or has no header line")
    limits.check_columns(header_line.count(",") + 1)  # an upper bound, before the csv module parses it
    try:
        names = next(csv.reader([header_line]))
    except csv.Error as exc:  # e.g. a field over the csv module's limit: the file, not the system
        raise InvalidInput(f"cannot read the CSV header: {exc}") from exc
    if len(set(names)) != len(names):
        raise InvalidInput("the header repeats a column name", {"columns": names[:50]})
    bad: list[tuple[int, str]] = []

    def on_invalid(row) -> str:
        bad.append((row.number or -1, f"expected {row.expected_columns} fields, found {row.actual_columns}"))
        return "skip"

    reader = pacsv.open_csv(
        pa.PythonFile(io.BufferedReader(_Prepend(head, stream), buffer_size=1 << 20), mode="r"),
        # A block holds whole lines: a line longer than a block (the line limit) fails the file.
        read_options=pacsv.ReadOptions(use_threads=False, block_size=limits.max_line_bytes),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    numbering = _LineNumbers(first_line=2)
    for batch in reader:
        errors, bad[:] = list(bad), []
        numbering.skip(line for line, _ in errors)
        frame = batch.to_pandas()
        lines = numbering.assign(len(frame))
        empty = frame.isna().all(axis=1).to_numpy()
        if empty.any():  # blank lines (kept so line numbers stay physical) are not rows to score
            errors += [(int(line), "empty line") for line in lines[empty]]
            frame, lines = frame.loc[~empty].reset_index(drop=True), lines[~empty]
        yield from _split_rows(frame, lines, errors, chunk_rows)
    if bad:
        yield Chunk(pd.DataFrame(columns=names), np.array([], dtype=int), list(bad))


class _LineNumbers:
    """Physical line numbers of the rows a streaming CSV parser returns, given the lines it skipped.

    Skipped lines may be reported before the rows that precede them are returned (the
    parser reads ahead), so they wait in `pending` until numbering reaches them.
    """

    def __init__(self, first_line: int) -> None:
        self.next_line = first_line
        self.pending: set[int] = set()

    def skip(self, lines) -> None:
        self.pending.update(line for line in lines if line >= self.next_line)

    def assign(self, n: int) -> np.ndarray:
        line = self.next_line
        if not self.pending or min(self.pending) >= line + n:
            self.next_line = line + n
            return np.arange(line, line + n, dtype=np.int64)
        lines = np.empty(n, dtype=np.int64)
        i = 0
        while i < n:
            if line in self.pending:
                self.pending.discard(line)
            else:
                lines[i] = line
                i += 1
            line += 1
        self.next_line = line
        return lines


def _split_rows(frame: pd.DataFrame, lines: np.ndarray, errors, chunk_rows: int) -> Iterator[Chunk]:
    if len(frame) <= chunk_rows:
        yield Chunk(frame, lines, errors)
        return
    for start in range(0, len(frame), chunk_rows):
        yield Chunk(
            frame.iloc[start : start + chunk_rows], lines[start : start + chunk_rows], errors if start == 0 else []
        )


def read_jsonl_chunks(stream: Any, chunk_rows: int, limits: ReadLimits = ReadLimits()) -> Iterator[Chunk]:
    lines_in = io.BufferedReader(_Prepend(b"", stream), buffer_size=1 << 20)
    records: list[dict] = []
    lines: list[int] = []
    errors: list[tuple[int, str]] = []
    keys: set[str] = set()
    number = 0
    while raw := lines_in.readline(limits.max_line_bytes + 1):
        number += 1
        if len(raw) > limits.max_line_bytes and not raw.endswith(b"\n"):
            raise InvalidInput(
                f"line {number} is longer than {limits.max_line_bytes} bytes (FML_MAX_LINE_BYTES)",
                {"line": number, "limit": limits.max_line_bytes},
            )
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            errors.append((number, "not UTF-8 text"))
            continue
        except ValueError as exc:
            errors.append((number, f"not JSON: {exc}"))
            continue
        except RecursionError:
            errors.append((number, "JSON nested too deeply"))
            continue
        if not isinstance(value, dict):
            errors.append((number, "not a JSON object"))
            continue
        nested = next((k for k, v in value.items() if isinstance(v, dict | list)), None)
        if nested is not None:
            errors.append((number, f"column {nested[:100]!r} holds a nested value, not a scalar"))
            continue
        keys.update(value)
        limits.check_columns(len(keys), "distinct keys")
        records.append(value)
        lines.append(number)
        if len(records) >= chunk_rows:
            yield Chunk(pd.DataFrame.from_records(records), np.array(lines), errors)
            records, lines, errors = [], [], []
    if records or errors:
        yield Chunk(pd.DataFrame.from_records(records), np.array(lines, dtype=int), errors)


def read_parquet_chunks(path: Path, chunk_rows: int, limits: ReadLimits = ReadLimits()) -> Iterator[Chunk]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"cannot read the parquet file: {exc}") from exc
    try:
        meta = parquet.metadata  # checked before any row is read
        limits.check_columns(meta.num_columns)
        biggest = max((meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)), default=0)
        if biggest > limits.max_row_group_bytes:
            raise InvalidInput(
                f"a row group holds {biggest} bytes uncompressed; the limit is {limits.max_row_group_bytes} "
                "(FML_MAX_ROW_GROUP_BYTES): write the file with smaller row groups",
                {"row_group_bytes": biggest, "limit": limits.max_row_group_bytes, "rows": meta.num_rows},
            )
        row = 1
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas()
            yield Chunk(frame, np.arange(row, row + len(frame)), [])
            row += len(frame)
    finally:
        parquet.close()


# ---------------------------------------------------------------------------- writers
class _Writer:
    def __init__(self, path: Path, ext: str) -> None:
        self.path = path
        self.ext = ext
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None
        if ext == ".csv":
            self._fh = pa.OSFile(str(path), "wb")
        elif ext == ".jsonl":
            self._fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        else:
            self._fh = None

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        if self.ext == ".csv":  # pyarrow's writer: several times faster than DataFrame.to_csv
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._csv is None:
                self._schema = table.schema
                self._csv = pacsv.CSVWriter(self._fh, table.schema)
            self._csv.write_table(table.cast(self._schema))
        elif self.ext == ".jsonl":
            self._fh.write(frame.to_json(orient="records", lines=True, date_format="iso"))
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        self.rows += len(frame)

    def close(self, empty_columns: list[str]) -> None:
        if self._csv is not None:
            self._csv.close()
        if self._fh is not None:
            if self.rows == 0 and self.ext == ".csv":
                self._fh.write((",".join(empty_columns) + "\n").encode())
            self._fh.close()
        elif self._parquet is not None:
            self._parquet.close()
        else:  # no row at all: an empty parquet file with the header columns
            pq.write_table(pa.table({c: pa.array([], pa.string()) for c in empty_columns}), self.path)


# ---------------------------------------------------------------------------- scoring
def score_file(
    s3: Any,
    ref: InputRef,
    loaded: LoadedModel,
    workdir: Path,
    chunk_rows: int,
    on_progress: Callable[[int], None] = lambda rows: None,
    should_stop: Callable[[], bool] = lambda: False,
    limits: ReadLimits = ReadLimits(),
    check_deadline: Callable[[], None] = lambda: None,
) -> BatchResult:
    """Score one input object into local output/error files (the caller uploads them)."""
    ext = data_extension(ref.key)
    obj = get_input(s3, ref)
    if ext == ".parquet":  # copied whole to disk; CSV and JSON lines are streamed
        try:
            check_file_size(int(obj.get("ContentLength") or 0), limits.max_file_bytes)
        except InvalidInput:
            obj["Body"].close()
            raise
    with contextlib.closing(obj["Body"]) as stream:
        try:
            result = _score_stream(
                stream, ext, loaded, workdir, chunk_rows, on_progress, should_stop, limits, check_deadline
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:  # the file itself cannot be decoded
            raise InvalidInput(f"cannot read the {ext[1:]} file: {str(exc).splitlines()[0][:300]}") from exc
    if result.rows_total == 0:
        raise InvalidInput("the file has no data rows")
    return result


def _score_stream(
    stream: Any,
    ext: str,
    loaded: LoadedModel,
    workdir: Path,
    chunk_rows: int,
    on_progress: Callable[[int], None],
    should_stop: Callable[[], bool],
    limits: ReadLimits,
    check_deadline: Callable[[], None],
) -> BatchResult:
    if ext == ".parquet":
        local = workdir / "input.parquet"
        with open(local, "wb") as fh:
            for piece in stream.iter_chunks(8 << 20):
                fh.write(piece)
        chunks = read_parquet_chunks(local, chunk_rows, limits)
    elif ext == ".csv":
        chunks = read_csv_chunks(stream, chunk_rows, limits)
    else:
        chunks = read_jsonl_chunks(stream, chunk_rows, limits)

    result = BatchResult(output_path=workdir / f"output{ext}", errors_path=workdir / "errors.csv")
    writer = _Writer(result.output_path, ext)
    columns: list[str] | None = None
    with open(result.errors_path, "w", newline="", encoding="utf-8") as err_fh:
        errors = csv.writer(err_fh)
        errors.writerow(["line", "reason"])
        last_report = time.monotonic()
        try:
            for chunk in chunks:
                if should_stop():
                    raise JobInterrupted("batch scoring interrupted by shutdown")
                check_deadline()
                result.rows_total += len(chunk.errors) + len(chunk.frame)
                failed = list(chunk.errors)
                scored = chunk.frame
                if not chunk.frame.empty:
                    if columns is None:
                        columns = [str(c) for c in chunk.frame.columns]
                        check_columns(loaded, columns, allow_extra=True)
                    scored, bad = _score_chunk(loaded, chunk)
                    failed += bad
                errors.writerows(sorted(failed))  # in line order, whichever step found them
                result.rows_failed += len(failed)
                result.rows_scored += len(scored)
                writer.write(scored)
                if time.monotonic() - last_report > 5:
                    on_progress(result.rows_total)
                    last_report = time.monotonic()
        finally:
            writer.close(columns or [])
    return result


def _score_chunk(loaded: LoadedModel, chunk: Chunk) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """The scored rows (input columns + prediction columns) and the (line, reason) of rows that could not be."""
    frame = chunk.frame.reset_index(drop=True)
    missing_cols = [c for c in loaded.schema.names if c not in frame.columns]
    if missing_cols:  # JSON lines may lack keys in a later chunk
        check_columns(loaded, [str(c) for c in frame.columns], allow_extra=True)
    bad = loaded.schema.bad_rows(frame)
    failed = [(int(chunk.lines[pos]), reason) for pos, reason in sorted(bad.items())]
    if bad:
        keep = np.ones(len(frame), dtype=bool)
        keep[sorted(bad)] = False
        frame = frame.loc[keep].reset_index(drop=True)
    if frame.empty:
        return frame, failed
    scores = predict(loaded, loaded.schema.encode_array(frame))
    out = frame.copy()
    for name, values in scores.columns().items():
        out[name] = values
    return out, failed
