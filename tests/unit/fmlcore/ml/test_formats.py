"""The format registry: every format round-trips through its own reader, chunk reader and writer."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from fmlcore.core.errors import InvalidInput, UnsupportedMediaType
from fmlcore.core.layout import DATA_EXTENSIONS
from fmlcore.ml import formats

FRAME = pd.DataFrame({"a": ["1", "2", "3"], "b": ["x", "y", None]})


def test_the_lambdas_extension_filter_matches_the_registry():
    # The Lambda cannot import pandas, so it filters keys on its own tuple: it must name the same formats.
    assert set(DATA_EXTENSIONS) == {f.extension for f in formats.FORMATS}


@pytest.mark.parametrize("fmt", formats.FORMATS, ids=lambda f: f.name)
def test_each_format_reads_back_what_its_writer_wrote(fmt, tmp_path):
    path = tmp_path / f"out{fmt.extension}"
    writer = fmt.writer(path)
    writer.write(FRAME.iloc[:2])
    writer.write(FRAME.iloc[2:])
    writer.close(list(FRAME.columns))
    assert writer.rows == 3

    whole = fmt.read_table(path.read_bytes())
    assert list(whole.columns) == ["a", "b"]
    assert [str(v) for v in whole["a"]] == ["1", "2", "3"]

    source = path if fmt.spooled else io.BytesIO(path.read_bytes())
    chunks = list(fmt.chunks(source, 2, formats.ReadLimits()))
    assert sum(len(c.frame) for c in chunks) == 3
    # CSV counts physical lines (header = line 1); JSON lines count lines; Parquet counts rows from 1.
    first = {"csv": 2, "jsonl": 1, "parquet": 1}[fmt.name]
    assert [int(n) for c in chunks for n in c.lines] == [first, first + 1, first + 2]


@pytest.mark.parametrize("fmt", formats.FORMATS, ids=lambda f: f.name)
def test_a_writer_with_no_rows_still_writes_a_readable_file(fmt, tmp_path):
    path = tmp_path / f"empty{fmt.extension}"
    writer = fmt.writer(path)
    writer.close(["a", "b"])
    assert path.exists()
    if fmt.name != "jsonl":  # an empty JSON-lines file has no columns to keep
        with pytest.raises(InvalidInput, match="no data rows"):
            fmt.read_table(path.read_bytes())


def test_lookups_by_key_content_type_and_extension():
    assert formats.for_key("churn/data.PARQUET".lower()) is formats.PARQUET
    assert formats.for_content_type("text/csv; charset=utf-8") is formats.CSV
    assert formats.for_content_type("application/x-ndjson") is formats.JSONL
    assert formats.for_extension(".jsonl").content_type == "application/x-ndjson"
    with pytest.raises(UnsupportedMediaType) as exc:
        formats.for_content_type("application/xml")
    assert "text/csv" in exc.value.details["supported"]
    with pytest.raises(InvalidInput):
        formats.for_key("churn/data.xlsx")


def test_an_unreadable_body_names_its_format():
    with pytest.raises(InvalidInput, match="cannot read the parquet data"):
        formats.PARQUET.read_table(b"not parquet at all")
    with pytest.raises(InvalidInput, match="the file is empty"):
        formats.CSV.read_table(b"")
