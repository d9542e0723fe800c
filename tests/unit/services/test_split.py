"""Cutting a batch file into parts, and putting the parts' outputs back together (pure logic over
an in-memory ranged S3; the end-to-end run with two workers is tests/integration/test_predictor.py)."""

from __future__ import annotations

import io
import itertools

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fmlcore.core.errors import InvalidInput
from fmlcore.jobs.message import InputRef
from predictor.split import (
    MIN_COPY_PART,
    PartDone,
    Piece,
    copy_ranges,
    global_line,
    output_pieces,
    plan_parts,
)

REF = InputRef("inference", "churn/big.csv", "v1")


class RangedS3:
    """get_object with Range, over one object; counts the bytes it served. With
    `versioned_ranges=False` it answers a ranged GET by version id with the whole object, as
    MiniStack does (HTTP allows a server to ignore Range)."""

    def __init__(self, body: bytes, versioned_ranges: bool = True, ranges: bool = True) -> None:
        self.body, self.served, self.versioned_ranges, self.ranges = body, 0, versioned_ranges, ranges
        self.requests = 0

    def get_object(self, Bucket: str, Key: str, Range: str | None = None, VersionId=None, IfMatch=None) -> dict:
        self.requests += 1
        data, resp = self.body, {}
        if Range and self.ranges and (self.versioned_ranges or VersionId is None):
            first, last = Range.removeprefix("bytes=").split("-")
            data = self.body[int(first) : int(last) + 1]
            resp["ContentRange"] = f"bytes {first}-{last}/{len(self.body)}"
        self.served += len(data)
        return {**resp, "Body": io.BytesIO(data)}

    def head_object(self, Bucket: str, Key: str, VersionId=None) -> dict:
        return {"ETag": '"e"', "ContentLength": len(self.body)}


def csv_body(rows: int) -> bytes:
    return b"id,x\n" + b"".join(f"{i},{i * 7 % 13}\n".encode() for i in range(rows))


def cut(body: bytes, ext: str, split_bytes: int, max_line: int = 1 << 16):
    s3 = RangedS3(body)
    return s3, plan_parts(s3, REF, ext, len(body), split_bytes, max_line)


@pytest.mark.parametrize("split_bytes", [7, 50, 333, 1000])
def test_csv_parts_cover_the_file_and_cut_only_at_line_ends(split_bytes):
    body = csv_body(200)
    _, parts = cut(body, ".csv", split_bytes)
    assert parts[0].start == 0 and parts[-1].end == len(body)
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))  # no gap, no overlap
    assert all(body[p.start - 1 : p.start] == b"\n" for p in parts[1:])  # each part starts a line
    assert all(p.total == len(parts) and p.index == i for i, p in enumerate(parts))
    assert parts[0].end > len(b"id,x\n")  # the first part holds more than the header
    assert len(parts) >= len(body) // max(split_bytes, 8) // 2  # about size/split_bytes parts


def test_only_a_window_around_each_cut_is_read():
    body = csv_body(200_000)
    s3, parts = cut(body, ".csv", 100_000)
    assert len(parts) == pytest.approx(len(body) / 100_000, abs=1)
    assert s3.served < len(parts) * 2 * 4096  # the header, then one 4 KiB window per cut


def test_a_file_under_one_split_is_one_part():
    body = csv_body(10)
    assert len(cut(body, ".csv", len(body) + 1)[1]) == 1


def test_jsonl_parts_and_a_line_over_the_limit():
    body = b"".join(b'{"id": %d}\n' % i for i in range(100))
    _, parts = cut(body, ".jsonl", 64)
    assert len(parts) > 10 and all(body[p.start - 1] == ord("\n") for p in parts[1:])
    long = b'{"id": 1}\n' + b'{"x": "' + b"a" * 5000 + b'"}\n' + b'{"id": 2}\n'
    with pytest.raises(InvalidInput, match="longer than 1000 bytes"):
        cut(long, ".jsonl", 20, max_line=1000)


def test_parquet_parts_are_row_groups_with_their_row_offsets(tmp_path):
    table = pa.table({"id": list(range(1000)), "x": [float(i) for i in range(1000)]})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=100)
    body = buf.getvalue()
    group = pq.read_metadata(io.BytesIO(body)).row_group(0)
    one_group = sum(group.column(c).total_compressed_size for c in range(group.num_columns))
    _, parts = cut(body, ".parquet", one_group * 3)
    assert [(p.start, p.end, p.row_offset) for p in parts] == [(0, 3, 0), (3, 6, 300), (6, 9, 600), (9, 10, 900)]
    assert all(p.unit == "row_groups" for p in parts)


def test_line_numbers_become_the_files():
    # CSV part 2 was read as header (local 1) + its lines (local 2...); 40 lines came before it.
    assert global_line(2, 1, 40, ".csv") == 41
    assert global_line(5, 0, 0, ".csv") == 5  # the first part is the file's start
    assert global_line(1, 3, 70, ".jsonl") == 71
    assert global_line(301, 3, 0, ".parquet") == 301  # numbered from the row offset already


def done(index: int, size: int, header: int = 5) -> PartDone:
    return PartDone(index, 1, 1, 0, 1, f"p{index}", f"v{index}", size, header, None, None, "m1")


def test_one_header_then_every_parts_rows_in_order():
    pieces = output_pieces([done(0, 100), done(1, 5), done(2, 80)])  # part 1: header only (all rows failed)
    assert pieces == [Piece("p0", "v0", 0, 100), Piece("p2", "v2", 5, 80)]
    no_header = output_pieces([done(0, 0, 0), done(1, 50, 5)])  # part 0 had nothing at all
    assert no_header == [Piece("p1", "v1", 0, 50)]


def test_server_side_copy_only_when_s3_would_take_every_part():
    big = MIN_COPY_PART + 10
    fine = copy_ranges([Piece("a", None, 0, big), Piece("b", None, 5, big), Piece("c", None, 5, 10)])
    assert fine is not None and len(fine) == 3  # the last part may be small
    assert copy_ranges([Piece("a", None, 0, 100), Piece("b", None, 5, big)]) is None  # a small middle part
    huge = copy_ranges([Piece("a", None, 0, 9 << 30)])
    assert huge is not None and len(huge) == 3 and all(p.size <= 4 << 30 for p in huge)
    assert huge[0].start == 0 and huge[-1].end == 9 << 30


def test_parquet_row_groups_read_through_ranged_gets(tmp_path):
    """The part reader reads only its row groups' bytes from S3, not the file."""
    from fmlcore.ml.ranges import RangeFile
    from fmlcore.ml.readers import read_parquet_chunks

    frame = pd.DataFrame({"id": range(200_000), "text": [f"row {i} " * 5 for i in range(200_000)]})
    buf = io.BytesIO()
    frame.to_parquet(buf, row_group_size=20_000, index=False)
    s3 = RangedS3(buf.getvalue())
    chunks = list(read_parquet_chunks(RangeFile(s3, REF, len(s3.body)), 100_000, row_groups=(2, 4), first_row=40_001))
    rows = pd.concat([c.frame for c in chunks])
    assert rows["id"].tolist() == list(range(40_000, 80_000))
    assert chunks[0].lines[0] == 40_001
    assert s3.served < len(s3.body) * 0.4  # two row groups of ten, and the footer


@pytest.mark.parametrize(("versioned_ranges", "ranges"), [(True, True), (False, True), (False, False)])
def test_a_server_that_ignores_ranges_still_gives_the_right_bytes(versioned_ranges, ranges):
    from fmlcore.ml.ranges import get_range

    body = csv_body(5000)
    s3 = RangedS3(body, versioned_ranges, ranges)
    assert get_range(s3, REF, 1000, 2000).read() == body[1000:2000]
    assert get_range(s3, REF, len(body) - 10, len(body)).read() == body[-10:]
    parts = plan_parts(s3, REF, ".csv", len(body), 10_000, 1 << 16)
    assert len(parts) > 3 and all(body[p.start - 1] == ord("\n") for p in parts[1:])


def test_with_the_etag_known_a_range_is_one_request_even_where_versioned_ranges_are_ignored():
    from fmlcore.ml.ranges import S3Version, get_range

    body = csv_body(5000)
    s3 = RangedS3(body, versioned_ranges=False)  # as MiniStack
    located = S3Version(REF.bucket, REF.key, REF.version_id, '"e"')
    assert get_range(s3, located, 1000, 2000).read() == body[1000:2000]
    assert (s3.requests, s3.served) == (1, 1000)
    # control: without the ETag the same read costs a whole-object answer first
    s3.requests = s3.served = 0
    assert get_range(s3, REF, 1000, 2000).read() == body[1000:2000]
    assert s3.requests == 2 and s3.served == len(body) + 1000
