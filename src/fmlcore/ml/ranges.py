"""Byte ranges of S3 objects, and where to cut a data file into parts of about a given size.

Used to split a big batch file across predictor workers (predictor.split) and to read a
dataset as partitions on Dask workers (trainer.dask_engine): CSV and JSON lines are cut at line
ends (a window of a few KiB is read around each cut, never the file), Parquet at row-group
boundaries (its footer read with ranged GETs). `obj` is anything with `bucket`, `key` and
`version_id` (a job's InputRef).
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from fmlcore.core.aws import error_code
from fmlcore.core.errors import InvalidInput

WINDOW = 4 << 10  # bytes read at a cut to find the next line end (doubled up to FML_MAX_LINE_BYTES)


@dataclass(frozen=True)
class Cut:
    """One part of a file: bytes [start, end), or row groups [start, end) with the rows before them."""

    index: int
    total: int
    start: int
    end: int
    unit: str  # "bytes" | "row_groups"
    row_offset: int = 0


@dataclass(frozen=True)
class S3Version:
    """One version of an object, with its ETag when known (ranged reads use it, see get_range)."""

    bucket: str
    key: str
    version_id: str | None
    etag: str | None = None

    @classmethod
    def head(cls, s3: Any, obj: Any) -> tuple[S3Version, int]:
        """The version `obj` (bucket, key, version_id) names, with its ETag, and its size."""
        version = {"VersionId": obj.version_id} if obj.version_id else {}
        head = s3.head_object(Bucket=obj.bucket, Key=obj.key, **version)
        return cls(obj.bucket, obj.key, obj.version_id, head.get("ETag")), int(head.get("ContentLength") or 0)


def get_range(s3: Any, obj: Any, start: int, end: int) -> Any:
    """The body of bytes [start, end) of the object version (a stream).

    With the version's ETag known (S3Version), the range is asked of the current object on
    condition that it is still that version (If-Match): one request that S3 and MiniStack both
    answer with the range (MiniStack ignores Range on a GET by version id, sending the whole
    object). Else, or if the object was replaced since, by version id; and a server that still
    answers with the whole object (HTTP allows it) has its body cut here, so the bytes are right
    whatever the server does."""
    rng = f"bytes={start}-{end - 1}"
    etag = getattr(obj, "etag", None)
    if etag:
        try:
            current = s3.get_object(Bucket=obj.bucket, Key=obj.key, Range=rng, IfMatch=etag)
        except ClientError as exc:
            if error_code(exc) not in ("PreconditionFailed", "412"):
                raise
        else:
            if current.get("ContentRange"):
                return current["Body"]
            current["Body"].close()
    version = {"VersionId": obj.version_id} if obj.version_id else {}
    resp = s3.get_object(Bucket=obj.bucket, Key=obj.key, Range=rng, **version)
    if resp.get("ContentRange"):
        return resp["Body"]
    if version and not etag:  # learn the ETag, and try the conditional read once
        resp["Body"].close()
        versioned, _ = S3Version.head(s3, obj)
        return (
            get_range(s3, versioned, start, end)
            if versioned.etag
            else _Slice(s3.get_object(Bucket=obj.bucket, Key=obj.key, **version)["Body"], start, end)
        )
    return _Slice(resp["Body"], start, end)


class _Slice(io.RawIOBase):
    """Bytes [start, end) of a stream that starts at byte 0."""

    def __init__(self, stream: Any, start: int, end: int) -> None:
        self.stream, self.skip, self.left = stream, start, end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self.skip:
            dropped = self.stream.read(min(self.skip, 8 << 20))
            if not dropped:
                return 0
            self.skip -= len(dropped)
        data = self.stream.read(min(len(buffer), self.left)) if self.left > 0 else b""
        self.left -= len(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.stream.close()
        super().close()


class RangeFile(io.RawIOBase):
    """A seekable read-only file over one S3 object version, read by ranged GETs (pyarrow reads
    a Parquet footer, then the row groups asked for, without downloading the file)."""

    def __init__(self, s3: Any, obj: Any, size: int) -> None:
        self.s3, self.obj, self.size, self.pos = s3, obj, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer) -> int:
        end = min(self.size, self.pos + len(buffer))
        if end <= self.pos:
            return 0
        data = get_range(self.s3, self.obj, self.pos, end).read()
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


class LineCounter(io.RawIOBase):
    """Passes a stream through, counting its line ends (a part's physical lines)."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.lines = stream, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        self.lines += data.count(b"\n")
        buffer[: len(data)] = data
        return len(data)


# ---------------------------------------------------------------------------- where to cut
def header_line(s3: Any, obj: Any, size: int, max_line_bytes: int) -> bytes:
    """A CSV file's first line, its line end included."""
    end = _line_end(s3, obj, 0, size, max_line_bytes)
    return get_range(s3, obj, 0, end).read() if end else b""


def _line_end(s3: Any, obj: Any, start: int, size: int, max_line_bytes: int) -> int:
    """The offset just after the first line end at or after `start` (`size` if none before the end)."""
    window = WINDOW
    while True:
        end = min(size, start + window)
        found = get_range(s3, obj, start, end).read().find(b"\n") if end > start else -1
        if found > max_line_bytes or (found < 0 and window > max_line_bytes and end < size):
            raise InvalidInput(  # as the unsplit path would refuse the file
                f"a line near byte {start} is longer than {max_line_bytes} bytes (FML_MAX_LINE_BYTES)",
                {"offset": start, "limit": max_line_bytes},
            )
        if found >= 0:
            return start + found + 1
        if end >= size:
            return size
        window *= 2


def plan_parts(s3: Any, obj: Any, ext: str, size: int, split_bytes: int, max_line_bytes: int) -> list[Cut]:
    """The parts of a file of `size` bytes (one part: no split)."""
    if ext == ".parquet":
        return _row_group_parts(RangeFile(s3, obj, size), split_bytes)
    cuts = [0]
    floor = len(header_line(s3, obj, size, max_line_bytes)) if ext == ".csv" else 0
    while cuts[-1] + split_bytes < size:
        # The first line starting at or after the target (a line end at target-1 starts one there).
        cut = _line_end(s3, obj, max(cuts[-1] + split_bytes - 1, floor), size, max_line_bytes)
        if cut >= size:
            break
        cuts.append(cut)
    cuts.append(size)
    return [Cut(i, len(cuts) - 1, a, b, "bytes") for i, (a, b) in enumerate(itertools.pairwise(cuts))]


def _row_group_parts(source: Any, split_bytes: int) -> list[Cut]:
    meta = pq.read_metadata(source)
    groups: list[tuple[int, int, int]] = []  # (first row group, end, rows before)
    first, acc, rows_before, rows = 0, 0, 0, 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        acc += sum(group.column(c).total_compressed_size for c in range(group.num_columns))
        rows += group.num_rows
        if acc >= split_bytes and i + 1 < meta.num_row_groups:
            groups.append((first, i + 1, rows_before))
            first, acc, rows_before = i + 1, 0, rows
    groups.append((first, max(meta.num_row_groups, first + 1), rows_before))
    return [Cut(i, len(groups), a, b, "row_groups", row_offset=r) for i, (a, b, r) in enumerate(groups)]
