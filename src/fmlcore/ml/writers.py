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


class CsvWriter:
    """pyarrow's CSV writer: several times faster than DataFrame.to_csv; the first chunk fixes the schema."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._fh = pa.OSFile(str(path), "wb")
        self._csv: pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._csv is None:
            self._schema = table.schema
            self._csv = pacsv.CSVWriter(self._fh, table.schema)
        self._csv.write_table(table.cast(self._schema))
        self.rows += len(frame)

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


class ParquetWriter:
    """A Parquet file, one row group per chunk; the first chunk fixes the schema."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.path, table.schema)
        self._parquet.write_table(table.cast(self._parquet.schema))
        self.rows += len(frame)

    def close(self, empty_columns: list[str]) -> None:
        if self._parquet is not None:
            self._parquet.close()
        else:  # no row at all: an empty file with the input's columns
            pq.write_table(pa.table({c: pa.array([], pa.string()) for c in empty_columns}), self.path)
