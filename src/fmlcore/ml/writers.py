"""Writing scored tables to a local file, chunk by chunk, one class per output format.

Each writer takes DataFrames as they come (`write`) and finishes the file on `close`, which
also writes a valid file when no row was scored at all (a header for CSV, an empty Parquet
file with the input's columns, an empty JSON-lines file). `fmlcore.ml.formats` names which
writer serves which format.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
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
    """pyarrow's CSV writer: several times faster than DataFrame.to_csv."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._fh = pa.OSFile(str(path), "wb")
        self._csv: pacsv.CSVWriter | None = None

    def _open(self, schema: pa.Schema) -> None:
        self._csv = pacsv.CSVWriter(self._fh, schema)

    def _write(self, table: pa.Table) -> None:
        self._csv.write_table(table)

    def close(self, empty_columns: list[str]) -> None:
        if self._csv is not None:
            self._csv.close()
        elif empty_columns:
            self._fh.write((",".join(empty_columns) + "\n").encode())
        self._fh.close()


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
