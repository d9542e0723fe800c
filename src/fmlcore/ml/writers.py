"""Writing scored tables to a local file, chunk by chunk, one class per output format.

Each writer takes DataFrames as they come (`write`) and finishes the file on `close`, which
also writes a valid file when no row was scored at all (a header for CSV, an empty Parquet
file with the input's columns, an empty JSON-lines file). `fmlcore.ml.formats` names which
writer serves which format.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


class _ArrowWriter:
    """Chunks as Arrow tables; the first chunk fixes the schema, later ones are cast to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._schema is None:
            self._schema = table.schema
            self._open(table.schema)
        self._write(table.cast(self._schema))
        self.rows += len(frame)

    def _open(self, schema: pa.Schema) -> None:
        raise NotImplementedError

    def _write(self, table: pa.Table) -> None:
        raise NotImplementedError


class CsvWriter(_ArrowWriter):
    """CSV as a person would write it: numbers and plain text bare, a value quoted only when it must be.

    pyarrow's CSV writer quotes every text value, and batch CSV input is read as text (so it keeps
    its exact form: an id `007` stays `007`), which came back as `"16","37.69"`. Here each column
    is rendered to text with pyarrow compute, chunk by chunk, and a text value is quoted only
    when it holds a comma, a quote or a line break, starts or ends with a space or tab, or is
    empty (an empty field is read back as missing; `""` as the empty text). Numbers are written
    as pyarrow's writer writes them.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._fh = pa.OSFile(str(path), "wb")

    def _open(self, schema: pa.Schema) -> None:
        self._fh.write(_csv_header(schema.names))

    def _write(self, table: pa.Table) -> None:
        cells = [_csv_cells(column) for column in table.columns]
        rows = pc.binary_join_element_wise(*cells, _text(","), null_handling="replace", null_replacement="")
        for chunk in pc.binary_join_element_wise(rows, _text(""), _text("\n")).chunks:  # each row and its line end
            if len(chunk):
                self._fh.write(_text_bytes(chunk))

    def close(self, empty_columns: list[str]) -> None:
        if self._schema is None and empty_columns:
            self._fh.write(_csv_header(empty_columns))
        self._fh.close()


# A text value that cannot be written bare: empty (bare, it reads back as missing), holding a
# delimiter, a quote or a line break, or with a space at either end (which readers may trim).
_NEEDS_QUOTES = r'^$|^[ \t]|[ \t]$|[",\r\n]'
_SPECIAL_BYTES = np.frombuffer(b'," \t\r\n', dtype=np.uint8)
_BARE_TYPES = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_null)  # no quote, ever


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if re.search(_NEEDS_QUOTES, value) else value


def _csv_header(names: list[str]) -> bytes:
    return (",".join(_quoted(str(name)) for name in names) + "\n").encode()


def _csv_cells(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as the text of its CSV cells (null for a missing value): numbers bare, text quoted where needed."""
    text = column.cast(pa.large_string())
    if any(is_type(column.type) for is_type in _BARE_TYPES) or not _may_need_quotes(text):
        return text
    needs = pc.match_substring_regex(text, _NEEDS_QUOTES)
    quote = _text('"')
    quoted = pc.binary_join_element_wise(quote, pc.replace_substring(text, '"', '""'), quote, _text(""))
    return pc.if_else(needs, quoted, text)


def _may_need_quotes(text: pa.ChunkedArray) -> bool:
    """False when no value can need quotes: not one byte of the text is a delimiter, quote, line
    break, space or tab, and no value is empty. A scan of the bytes, several times faster than the
    regular expression, which then runs only on columns that hold such bytes (free text)."""
    for chunk in text.chunks:
        data = chunk.buffers()[2]
        if data is not None and np.isin(np.frombuffer(data, np.uint8), _SPECIAL_BYTES).any():
            return True
    return pc.min(pc.binary_length(text)).as_py() == 0


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


def _text_bytes(text: pa.LargeStringArray) -> pa.Buffer:
    """The UTF-8 bytes of all the values of `text`, end to end (its data buffer, without a copy)."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64, count=len(text) + 1, offset=text.offset * 8)
    return text.buffers()[2][offsets[0] : offsets[-1]]


class JsonlWriter:
    """One JSON object per line, ISO dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        self._fh.write(frame.to_json(orient="records", lines=True, date_format="iso"))
        self.rows += len(frame)

    def close(self, empty_columns: list[str]) -> None:
        self._fh.close()


class ParquetWriter(_ArrowWriter):
    """A Parquet file, one row group per chunk."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._parquet: pq.ParquetWriter | None = None

    def _open(self, schema: pa.Schema) -> None:
        self._parquet = pq.ParquetWriter(self.path, schema)

    def _write(self, table: pa.Table) -> None:
        self._parquet.write_table(table)

    def close(self, empty_columns: list[str]) -> None:
        if self._parquet is not None:
            self._parquet.close()
        else:  # no row at all: an empty file with the input's columns
            pq.write_table(pa.table({c: pa.array([], pa.string()) for c in empty_columns}), self.path)
