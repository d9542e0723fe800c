"""fmlcli.rows: the progress bar's total, counted as the batch worker counts its rows_done."""

from __future__ import annotations

import io

import pandas as pd
import pytest

import fmlcli.rows
from fmlcli.errors import CliError
from fmlcli.rows import count_rows
from fmlcore.ml.readers import read_csv_chunks, read_jsonl_chunks, read_parquet_chunks

CSV_CASES = {
    "trailing newline": (b"a,b\n1,2\n3,4\n", 2),
    "no trailing newline": (b"a,b\n1,2\n3,4", 2),
    "quoted fields with commas and quotes": (b'id,name\n1,"Smith, Jane"\n2,"say ""hi"""\n3,plain\n', 3),
    "CRLF line ends": (b"a,b\r\n1,2\r\n3,4\r\n", 2),
    "blank line in the middle is a row (an error row)": (b"a,b\n1,2\n\n3,4\n", 3),
    "header only": (b"a,b\n", 0),
    "header without newline": (b"a,b", 0),
}


@pytest.mark.parametrize("name", CSV_CASES)
def test_csv_rows_are_the_physical_lines_after_the_header(tmp_path, name):
    data, expected = CSV_CASES[name]
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    assert count_rows(path) == expected


@pytest.mark.parametrize("name", [n for n in CSV_CASES if CSV_CASES[n][1]])
def test_csv_count_equals_the_batch_workers_row_count(tmp_path, name):
    # rows_done at the end of a job = rows read + rows that could not be read, as the worker counts.
    data, expected = CSV_CASES[name]
    worker_rows = sum(len(c.frame) + len(c.errors) for c in read_csv_chunks(io.BytesIO(data), 2))
    assert worker_rows == expected


def test_an_empty_csv_counts_zero(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert count_rows(path) == 0


def test_lines_across_read_blocks_are_counted_once(tmp_path, monkeypatch):
    monkeypatch.setattr(fmlcli.rows, "BLOCK", 7)  # blocks end mid-line and right after line ends
    path = tmp_path / "in.csv"
    lines = ["a,b"] + [f"{i},{i * i}" for i in range(1000)]
    path.write_text("\n".join(lines))  # and no newline at the very end
    assert count_rows(path) == 1000
    path.write_text("\n".join(lines) + "\n")
    assert count_rows(path) == 1000


def test_jsonl_counts_non_blank_lines_as_the_worker_does(tmp_path):
    data = b'{"a": 1}\n\n{"a": 2}\n   \n{"a": 3}\nnot json\n'
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    assert count_rows(path) == 4  # a line that is not JSON is still a row (an error row)
    assert sum(len(c.frame) + len(c.errors) for c in read_jsonl_chunks(io.BytesIO(data), 2)) == 4


def test_parquet_reads_the_footer(tmp_path):
    path = tmp_path / "in.parquet"
    pd.DataFrame({"a": range(1234), "b": ["x"] * 1234}).to_parquet(path, row_group_size=500)
    assert count_rows(path) == 1234
    assert sum(len(c.frame) for c in read_parquet_chunks(path, 100)) == 1234


def test_without_pyarrow_parquet_has_no_total(tmp_path, monkeypatch):
    import builtins

    path = tmp_path / "in.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    assert count_rows(path) is None


def test_a_broken_parquet_file_is_a_cli_error(tmp_path):
    path = tmp_path / "in.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(CliError, match="not a readable Parquet file"):
        count_rows(path)


def test_other_extensions_have_no_count(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("a\nb\n")
    assert count_rows(path) is None


def test_extensions_are_matched_case_insensitively(tmp_path):
    path = tmp_path / "UPPER.CSV"
    path.write_bytes(b"a\n1\n2\n")
    assert count_rows(path) == 2
