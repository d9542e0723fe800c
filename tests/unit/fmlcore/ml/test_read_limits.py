"""Batch input bounds: every reader stops at its limit with a permanent, named error, and reads
no further than it must. Real pyarrow and pandas on in-memory files."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fmlcore.core.errors import InvalidInput
from fmlcore.ml.readers import ReadLimits, read_csv_chunks, read_jsonl_chunks, read_parquet_chunks

SMALL = ReadLimits(max_columns=50, max_line_bytes=1 << 20, max_file_bytes=1 << 30, max_row_group_bytes=1 << 20)


def rows(chunks) -> list[tuple[int, str]]:
    """(line, reason) errors and the number of rows read, over all chunks."""
    errors, count = [], 0
    for chunk in chunks:
        errors += chunk.errors
        count += len(chunk.frame)
    return errors, count


def test_a_header_without_line_end_fails_after_reading_only_the_limit():
    stream = io.BytesIO(b"a" * (40 << 20))  # 40 MB and no newline
    with pytest.raises(InvalidInput, match="header line is longer than 1048576 bytes"):
        list(read_csv_chunks(stream, 1000, SMALL))
    assert stream.tell() <= 2 << 20  # stopped near the limit, not at the end of the file


def test_a_header_field_past_the_csv_modules_limit_is_the_files_fault():
    stream = io.BytesIO(b"a" * 200_000 + b",b\n1,2\n")
    with pytest.raises(InvalidInput, match="cannot read the CSV header"):
        list(read_csv_chunks(stream, 1000))


def test_too_many_csv_columns():
    header = ",".join(f"c{i}" for i in range(51)).encode()
    with pytest.raises(InvalidInput, match="51 columns; the limit is 50"):
        list(read_csv_chunks(io.BytesIO(header + b"\n" + b"1," * 50 + b"1\n"), 1000, SMALL))
    # control: 50 columns read
    header = ",".join(f"c{i}" for i in range(50)).encode()
    assert rows(read_csv_chunks(io.BytesIO(header + b"\n" + b"1," * 49 + b"1\n"), 1000, SMALL))[1] == 1


def test_a_csv_data_line_longer_than_the_limit_fails_the_file():
    body = b"a,b\n1,2\n3," + b"x" * (2 << 20) + b"\n5,6\n"
    with pytest.raises(pa.ArrowInvalid):  # score_file maps it to a permanent InvalidInput
        rows(read_csv_chunks(io.BytesIO(body), 1000, SMALL))


def test_jsonl_lines_keys_and_nesting():
    good = json.dumps({"a": 1, "b": "x"}).encode() + b"\n"
    body = good + b'{"a": {"deep": 1}, "b": "x"}\n' + b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n" + good
    errors, count = rows(read_jsonl_chunks(io.BytesIO(body), 1000, SMALL))
    assert count == 2
    assert [line for line, _ in errors] == [2, 3]
    assert "nested value" in errors[0][1] and "nested too deeply" in errors[1][1]

    long_line = b'{"a": "' + b"x" * (2 << 20) + b'"}\n'
    with pytest.raises(InvalidInput, match="line 2 is longer than"):
        rows(read_jsonl_chunks(io.BytesIO(good + long_line), 1000, SMALL))

    many_keys = b"".join(json.dumps({f"k{i}": i}).encode() + b"\n" for i in range(51))
    with pytest.raises(InvalidInput, match="51 distinct keys; the limit is 50"):
        rows(read_jsonl_chunks(io.BytesIO(many_keys), 1000, SMALL))


def test_parquet_metadata_is_checked_before_rows_are_read(tmp_path):
    wide = tmp_path / "wide.parquet"
    pq.write_table(pa.table({f"c{i}": [1] for i in range(51)}), wide)
    with pytest.raises(InvalidInput, match="51 columns; the limit is 50"):
        list(read_parquet_chunks(wide, 1000, SMALL))

    big_group = tmp_path / "big.parquet"
    frame = pd.DataFrame({"text": [f"{i:01000d}" for i in range(3000)]})  # ~3 MB uncompressed in one row group
    pq.write_table(pa.Table.from_pandas(frame), big_group, row_group_size=10_000)
    with pytest.raises(InvalidInput, match="row group holds"):
        list(read_parquet_chunks(big_group, 1000, SMALL))
    # control: the same rows in small row groups are read
    small_groups = tmp_path / "small.parquet"
    pq.write_table(pa.Table.from_pandas(frame), small_groups, row_group_size=200)
    assert rows(read_parquet_chunks(small_groups, 1000, SMALL))[1] == 3000
