"""The file formats fargate-ml reads and writes: one entry per format, the one place that says
which extension, content types, reader, chunk reader and writer go together.

    format    extension  content types (the first is the one written)                 chunk reader reads
    csv       .csv       text/csv, application/csv                                    a stream
    jsonl     .jsonl     application/x-ndjson, application/jsonl, application/x-jsonlines  a stream
    parquet   .parquet   application/vnd.apache.parquet, application/x-parquet        a local file (footer at the end)

Adding a format is one entry here. The enqueue Lambda, which cannot import pandas, filters
keys by `fmlcore.core.layout.DATA_EXTENSIONS`; a unit test keeps that tuple equal to the
extensions declared here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import pandas as pd

from fmlcore.core.errors import UnsupportedMediaType
from fmlcore.core.layout import data_extension
from fmlcore.ml import readers, writers
from fmlcore.ml.readers import Chunk, ReadLimits


class Writer(Protocol):
    rows: int

    def write(self, frame: pd.DataFrame) -> None: ...

    def close(self, empty_columns: list[str]) -> None: ...


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    content_types: tuple[str, ...]
    read: Callable[[IO[bytes]], pd.DataFrame]  # a whole table (training, online CSV)
    chunks: Callable[[Any, int, ReadLimits], Iterator[Chunk]]  # batch scoring, streamed
    writer: Callable[[Path], Writer]
    spooled: bool = False  # the chunk reader needs a local file, not a stream

    @property
    def content_type(self) -> str:
        """The content type written on output objects of this format."""
        return self.content_types[0]

    def read_table(self, source: bytes | IO[bytes]) -> pd.DataFrame:
        """The whole table; an empty or unreadable one is InvalidInput naming the format."""
        return readers.read_whole(self.read, source, self.extension)


CSV = Format("csv", ".csv", ("text/csv", "application/csv"), readers.read_csv, readers.read_csv_chunks,
             writers.CsvWriter)  # fmt: skip
JSONL = Format(
    "jsonl",
    ".jsonl",
    ("application/x-ndjson", "application/jsonl", "application/x-jsonlines"),
    readers.read_jsonl,
    readers.read_jsonl_chunks,
    writers.JsonlWriter,
)
PARQUET = Format(
    "parquet",
    ".parquet",
    ("application/vnd.apache.parquet", "application/x-parquet"),
    readers.read_parquet,
    readers.read_parquet_chunks,
    writers.ParquetWriter,
    spooled=True,
)
FORMATS: tuple[Format, ...] = (CSV, PARQUET, JSONL)
_BY_EXTENSION = {f.extension: f for f in FORMATS}
_BY_CONTENT_TYPE = {ct: f for f in FORMATS for ct in f.content_types}


def for_extension(ext: str) -> Format:
    if ext not in _BY_EXTENSION:
        raise UnsupportedMediaType(f"unsupported file type {ext!r}", {"supported": list(_BY_EXTENSION)})
    return _BY_EXTENSION[ext]


def for_key(key: str) -> Format:
    """The format of an object key, by its extension (InvalidInput naming the supported ones)."""
    return _BY_EXTENSION[data_extension(key)]


def for_content_type(content_type: str | None) -> Format:
    """The format of an HTTP body (parameters such as `; charset=utf-8` ignored), else 415."""
    base = (content_type or "").split(";")[0].strip().lower()
    if base not in _BY_CONTENT_TYPE:
        raise UnsupportedMediaType(
            f"unsupported content type {base or '(none)'!r}",
            {"content_type": base, "supported": sorted(_BY_CONTENT_TYPE)},
        )
    return _BY_CONTENT_TYPE[base]
