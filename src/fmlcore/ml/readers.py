"""Reading tables (CSV, Parquet, JSON lines) into pandas, whole or in chunks, with errors that name the problem.

Whole reads serve training and online CSV; chunk readers stream a batch file so memory stays
flat whatever its size, and number every row with its physical line (CSV, JSON lines; the
header is line 1) or row (Parquet, from 1), so a row that cannot be read or scored is
reported where the user can find it. `fmlcore.ml.formats` names which reader serves which format.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fmlcore.core.errors import InvalidInput, PayloadTooLarge


def read_whole(read: Any, source: bytes | IO[bytes], ext: str) -> pd.DataFrame:
    """A whole table read by `read(file)`; an empty or unreadable one is InvalidInput naming the format."""
    name = ext.lstrip(".")
    fh = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        frame = read(fh)
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput("the file is empty", {"format": ext}) from exc
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the {name} data: {_first_line(exc)}", {"format": ext}) from exc
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        if type(exc).__module__.startswith("pyarrow"):
            raise InvalidInput(f"cannot read the {name} data: {_first_line(exc)}", {"format": ext}) from exc
        raise
    if frame.empty:
        raise InvalidInput("the file has no data rows", {"format": ext, "columns": list(frame.columns)[:20]})
    return frame


def read_csv(fh: IO[bytes]) -> pd.DataFrame:
    return pd.read_csv(fh, skipinitialspace=True)


def read_parquet(fh: IO[bytes]) -> pd.DataFrame:
    return pd.read_parquet(fh)


def read_jsonl(fh: IO[bytes]) -> pd.DataFrame:
    return pd.read_json(fh, lines=True, dtype=False)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def check_column_count(count: int, limit: int, what: str = "columns") -> None:
    """InvalidInput when an input has more than `limit` columns (FML_MAX_COLUMNS)."""
    if count > limit:
        raise InvalidInput(
            f"the file has {count} {what}; the limit is {limit} (FML_MAX_COLUMNS)", {"columns": count, "limit": limit}
        )


def check_file_size(size: int, limit: int) -> None:
    """PayloadTooLarge when a file read whole is over `limit` bytes (FML_MAX_DATASET_BYTES)."""
    if size > limit:
        raise PayloadTooLarge(
            f"the file is {size} bytes; the limit is {limit} (FML_MAX_DATASET_BYTES)", {"bytes": size, "limit": limit}
        )


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


DEFAULT_LIMITS = ReadLimits()


@dataclass
class Chunk:
    frame: pd.DataFrame  # input columns, as read
    lines: np.ndarray  # line (CSV/JSONL) or row (Parquet) number of every row of `frame`
    errors: list[tuple[int, str]] = field(default_factory=list)  # rows that could not even be read


# ---------------------------------------------------------------------------- chunk readers
class Prepend(io.RawIOBase):
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


def read_csv_chunks(stream: Any, chunk_rows: int, limits: ReadLimits = DEFAULT_LIMITS) -> Iterator[Chunk]:
    """CSV in chunks; every column read as text, so nothing is coerced behind the user's back.

    The stream is cut here into blocks of whole lines, parsed one at a time: pyarrow's own
    streaming reader reads up to 32 blocks ahead on a thread of its own, which held up to
    32 x FML_MAX_LINE_BYTES of input in memory (the whole file, for a file under that size).
    """
    head = _header(stream, limits.max_line_bytes)
    header_bytes, _, rest = head.partition(b"\n")
    header_line = header_bytes.decode("utf-8-sig", errors="replace").rstrip("\r")
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
    first_line = 2  # of the block being parsed: pyarrow counts a row per line from 1 in each block

    def on_invalid(row) -> str:
        line = first_line - 1 + row.number if row.number and row.number > 0 else -1
        bad.append((line, f"expected {row.expected_columns} fields, found {row.actual_columns}"))
        return "skip"

    block_size = limits.max_line_bytes + 1  # a line and its line end
    read_options = pacsv.ReadOptions(use_threads=False, block_size=block_size, column_names=names)
    parse_options = pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False)
    convert_options = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=True, quoted_strings_can_be_null=False
    )
    numbering = LineNumbers(first_line=2)
    for block in _line_blocks(rest, stream, block_size):
        table = pacsv.read_csv(pa.BufferReader(pa.py_buffer(block)), read_options, parse_options, convert_options)
        errors, bad[:] = list(bad), []
        first_line += table.num_rows + len(errors)
        numbering.skip(line for line, _ in errors)
        frame = table.to_pandas()
        lines = numbering.assign(len(frame))
        empty = frame.isna().all(axis=1).to_numpy()
        if empty.any():  # blank lines (kept so line numbers stay physical) are not rows to score
            errors += [(int(line), "empty line") for line in lines[empty]]
            frame, lines = frame.loc[~empty].reset_index(drop=True), lines[~empty]
        yield from _split_rows(frame, lines, errors, chunk_rows)


def _line_blocks(first: bytes, stream: Any, size: int) -> Iterator[memoryview]:
    """`first`, then the rest of `stream`, in blocks of whole lines of at most `size` bytes each
    (the last block may lack its line end). A line that does not fit in a block fails the file:
    ArrowInvalid, as for any other CSV pyarrow cannot read (score_file makes it InvalidInput)."""
    buf, line = first, 2  # `line`: the first line of `buf` (the header is line 1)
    while True:
        if len(buf) < size:
            buf += _read_up_to(stream, size - len(buf))
        if len(buf) < size:  # the end of the stream
            if buf:
                yield memoryview(buf)
            return
        cut = buf.rfind(b"\n", 0, size) + 1
        if not cut:
            raise pa.ArrowInvalid(f"line {line} is longer than {size - 1} bytes (FML_MAX_LINE_BYTES)")
        yield memoryview(buf)[:cut]
        line += buf.count(b"\n", 0, cut)
        buf = buf[cut:]


def _read_up_to(stream: Any, size: int) -> bytes:
    """`size` bytes of `stream`, fewer only at its end (a read may return less than asked)."""
    pieces, got = [], 0
    while got < size:
        piece = stream.read(size - got)
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class LineNumbers:
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
    errors = sorted(errors)  # each chunk takes the errors on the lines before its end, so they stay in line order
    for start in range(0, len(frame), chunk_rows):
        end = start + chunk_rows
        taken = bisect.bisect_left(errors, (int(lines[end]),)) if end < len(frame) else len(errors)
        yield Chunk(frame.iloc[start:end], lines[start:end], errors[:taken])
        errors = errors[taken:]


def read_jsonl_chunks(stream: Any, chunk_rows: int, limits: ReadLimits = DEFAULT_LIMITS) -> Iterator[Chunk]:
    lines_in = io.BufferedReader(Prepend(b"", stream), buffer_size=1 << 20)
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


def read_parquet_chunks(
    path: Path | Any, chunk_rows: int, limits: ReadLimits = DEFAULT_LIMITS,
    row_groups: tuple[int, int] | None = None, first_row: int = 1,
) -> Iterator[Chunk]:  # fmt: skip
    """Chunks of a Parquet file (a path, or a seekable file object such as a ranged S3 reader);
    `row_groups` = [start, end) reads only those (one part of a split file), numbering rows
    from `first_row`."""
    try:
        parquet = pq.ParquetFile(path, pre_buffer=True)
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
        row = first_row
        groups = range(*row_groups) if row_groups is not None else None
        for batch in parquet.iter_batches(batch_size=chunk_rows, row_groups=groups):
            frame = batch.to_pandas()
            yield Chunk(frame, np.arange(row, row + len(frame)), [])
            row += len(frame)
    finally:
        parquet.close()
