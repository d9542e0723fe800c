"""Batch line numbering: every row and every error carries the physical line the user sees
in an editor (header = line 1), whatever the chunking and whichever lines the parser skips."""

from __future__ import annotations

import io

import numpy as np
import pytest

from fmlcore.ml.readers import LineNumbers, ReadLimits, read_csv_chunks, read_jsonl_chunks

LIMITS = ReadLimits(max_columns=50, max_line_bytes=1 << 16, max_file_bytes=1 << 30, max_row_group_bytes=1 << 20)


def numbered(chunks) -> tuple[dict[int, str], list[tuple[int, str]]]:
    """{line: value of column a} for the rows read, and the (line, reason) errors, over all chunks."""
    rows, errors = {}, []
    for chunk in chunks:
        rows.update({int(line): str(a) for line, a in zip(chunk.lines, chunk.frame["a"], strict=True)})
        errors += chunk.errors
    return rows, sorted(errors)


def test_line_numbers_without_skips_are_consecutive():
    numbers = LineNumbers(first_line=2)
    assert numbers.assign(3).tolist() == [2, 3, 4]
    assert numbers.assign(2).tolist() == [5, 6]


def test_a_skip_reported_ahead_of_its_rows_waits_until_numbering_reaches_it():
    numbers = LineNumbers(first_line=2)
    numbers.skip([6, 3])  # the parser read ahead: line 6 is bad, rows before it come later
    assert numbers.assign(2).tolist() == [2, 4]
    assert numbers.assign(3).tolist() == [5, 7, 8]
    numbers.skip([1])  # a line already passed is ignored
    assert numbers.assign(1).tolist() == [9]


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 1000])
def test_csv_rows_and_errors_keep_their_physical_lines_at_any_chunk_size(chunk_rows):
    text = (
        "a,b\n"  # 1
        "r2,1\n"  # 2
        "r3,1,extra\n"  # 3: one field too many
        "r4,1\n"  # 4
        "\n"  # 5: blank
        "r6,1\n"  # 6
        "r7\n"  # 7: one field short
        "r8,1\n"  # 8
    )
    rows, errors = numbered(read_csv_chunks(io.BytesIO(text.encode()), chunk_rows, LIMITS))
    assert rows == {2: "r2", 4: "r4", 6: "r6", 8: "r8"}
    assert [line for line, _ in errors] == [3, 5, 7]
    assert "expected 2 fields, found 3" in dict(errors)[3]
    assert dict(errors)[5] == "empty line"


def test_jsonl_lines_count_blank_lines_and_report_bad_ones():
    text = '{"a": "r1"}\n\n[1, 2]\n{"a": "r4"}\nnot json\n{"a": "r6"}\n'
    rows, errors = numbered(read_jsonl_chunks(io.BytesIO(text.encode()), 2, LIMITS))
    assert rows == {1: "r1", 4: "r4", 6: "r6"}
    assert [line for line, _ in errors] == [3, 5]


def test_many_chunks_number_a_long_file_without_gaps():
    body = "a\n" + "".join(f"v{i}\n" for i in range(2, 2002))
    chunks = list(read_csv_chunks(io.BytesIO(body.encode()), 300, LIMITS))
    lines = np.concatenate([c.lines for c in chunks])
    assert len(chunks) > 1
    assert lines.tolist() == list(range(2, 2002))
