"""Big batch files split across workers, and the parts assembled into the one output.

A file larger than FML_BATCH_SPLIT_BYTES is cut into parts of about that size: CSV and JSON
lines at line ends (a CSV part after the first is read with the file's header line in front),
Parquet at row-group boundaries. Each part is a message on the predict queue (`JobMessage.part`)
that any worker scores into part objects under `_jobs/<job_id>/parts/`, then marks done:

    _jobs/<job_id>/parts/<i>.predictions.<ext>   the part's output (CSV: with its own header)
    _jobs/<job_id>/parts/<i>.errors.csv          the part's errors (local line numbers)
    _jobs/<job_id>/parts/<i>.done.json           PartDone, written last

Re-scoring a part (a retry, a duplicate delivery) writes the same keys again: a part is never
counted twice. When every marker is there, one worker (under a lease) assembles: the outputs
in input order into `batch/<model>/<name>.predictions.<ext>` — by S3 multipart UploadPartCopy
(server-side, no download) when every piece but the last is at least 5 MiB as S3 requires,
else by a streamed download-and-upload; Parquet parts are rewritten into one file (Parquet
files do not concatenate) — and the errors into one errors file with the file's line numbers
(header = line 1), as the unsplit path writes them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from fmlcore.core.aws import is_not_found
from fmlcore.core.layout import part_marker_key, parts_prefix
from fmlcore.jobs.message import InputRef, PartRef
from fmlcore.ml import formats, ranges
from predictor.batch import TRANSFER

log = logging.getLogger("fml.predictor.split")

MIN_COPY_PART = 5 << 20  # S3: every part of a multipart upload but the last is at least 5 MiB
MAX_COPY_PART = 4 << 30  # and at most 5 GiB
WINDOW = 4 << 10  # bytes read at a cut to find the next line end (doubled up to FML_MAX_LINE_BYTES)


def plan_parts(s3: Any, ref: Any, ext: str, size: int, split_bytes: int, max_line_bytes: int) -> list[PartRef]:
    """The parts of the input file (fmlcore.ml.ranges.plan_parts), as job message parts; `ref`
    an InputRef, or an S3Version whose ETag the parts then carry."""
    cuts = ranges.plan_parts(s3, ref, ext, size, split_bytes, max_line_bytes)
    return [PartRef(**asdict(cut), etag=getattr(ref, "etag", None)) for cut in cuts]


# ---------------------------------------------------------------------------- a part done
@dataclass(frozen=True)
class PartDone:
    """What a scored part left behind (its marker's content)."""

    index: int
    rows_total: int
    rows_scored: int
    rows_failed: int
    lines: int  # physical lines of the part's byte range (CSV, JSON lines): offsets the next parts
    output_key: str
    output_version: str | None
    output_size: int
    header_bytes: int  # the length of the CSV header line the part's output starts with
    errors_key: str | None
    errors_version: str | None
    model_version: str

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


class PartMarkers:
    """The done markers of a split job's parts, in the bucket the job writes to."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def put(self, job_id: str, done: PartDone) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=part_marker_key(job_id, done.index),
            Body=done.to_json(),
            ContentType="application/json",
        )

    def exists(self, job_id: str, index: int) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=part_marker_key(job_id, index))
        except ClientError as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    def all(self, job_id: str) -> list[PartDone]:
        """Every part marked done, in part order."""
        done = []
        prefix = parts_prefix(job_id)
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".done.json"):
                    body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                    done.append(PartDone(**json.loads(body)))
        return sorted(done, key=lambda d: d.index)

    def remove_all(self, job_id: str) -> None:
        """The part objects and markers, once the job's output is assembled (best effort)."""
        prefix = parts_prefix(job_id)
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                self.s3.delete_object(Bucket=self.bucket, Key=item["Key"])


def global_line(local: int, part_index: int, lines_before: int, ext: str) -> int:
    """A part's local line number as the file's: a CSV part after the first was read with the
    header in front (its first line was local line 2); JSON lines parts count from 1; Parquet
    parts were numbered from their row offset already."""
    if ext == formats.PARQUET.extension:
        return local
    if ext == formats.CSV.extension and part_index > 0:
        return local - 1 + lines_before
    return local + lines_before


# ---------------------------------------------------------------------------- assembly
@dataclass(frozen=True)
class Piece:
    key: str
    version: str | None
    start: int
    end: int  # exclusive

    @property
    def size(self) -> int:
        return self.end - self.start


def output_pieces(parts: list[PartDone]) -> list[Piece]:
    """The byte ranges of the part outputs that make the assembled CSV / JSON-lines output: one
    header (from the first part that has one), then every part's rows, in part order."""
    pieces: list[Piece] = []
    header_taken = False
    for p in parts:
        start = p.header_bytes
        if p.header_bytes and not header_taken:
            start, header_taken = 0, True
        if p.output_size > start:
            pieces.append(Piece(p.output_key, p.output_version, start, p.output_size))
    return pieces


def copy_ranges(pieces: list[Piece]) -> list[Piece] | None:
    """The pieces as UploadPartCopy parts (large pieces cut to at most 4 GiB each), or None when
    S3 would refuse the upload: a part but the last under 5 MiB."""
    out: list[Piece] = []
    for piece in pieces:
        n = max(1, -(-piece.size // MAX_COPY_PART))
        step = -(-piece.size // n)
        out += [
            Piece(piece.key, piece.version, a, min(a + step, piece.end)) for a in range(piece.start, piece.end, step)
        ]
    if not out or any(p.size < MIN_COPY_PART for p in out[:-1]):
        return None
    return out


def assemble_output(
    s3: Any, bucket: str, key: str, ext: str, parts: list[PartDone], content_type: str, metadata: dict[str, str],
    workdir: Path,
) -> str | None:  # fmt: skip
    """Write the one output object from the parts' outputs; returns its version id."""
    if ext == formats.PARQUET.extension:
        return _rewrite_parquet(s3, bucket, key, parts, content_type, metadata, workdir)
    pieces = output_pieces(parts)
    ranges = copy_ranges(pieces)
    if ranges is not None:
        return _multipart_copy(s3, bucket, key, ranges, content_type, metadata)
    path = workdir / f"assembled{ext}"
    with open(path, "wb") as fh:
        for piece in pieces:
            body = _get(s3, bucket, piece, ranged=True)
            for block in iter(lambda b=body: b.read(8 << 20), b""):
                fh.write(block)
    return upload(s3, path, bucket, key, content_type, metadata)


def _get(s3: Any, bucket: str, piece: Piece, ranged: bool = False) -> Any:
    """A part object's version, whole or the piece's bytes."""
    if ranged:
        return ranges.get_range(s3, InputRef(bucket, piece.key, piece.version), piece.start, piece.end)
    kwargs: dict[str, Any] = {"VersionId": piece.version} if piece.version else {}
    return s3.get_object(Bucket=bucket, Key=piece.key, **kwargs)["Body"]


def _multipart_copy(
    s3: Any, bucket: str, key: str, ranges: list[Piece], content_type: str, metadata: dict[str, str]
) -> str | None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type, Metadata=metadata)
    try:
        done = []
        for number, piece in enumerate(ranges, start=1):
            source = {"Bucket": bucket, "Key": piece.key, **({"VersionId": piece.version} if piece.version else {})}
            resp = s3.upload_part_copy(
                Bucket=bucket,
                Key=key,
                UploadId=upload["UploadId"],
                PartNumber=number,
                CopySource=source,
                CopySourceRange=f"bytes={piece.start}-{piece.end - 1}",
            )
            done.append({"PartNumber": number, "ETag": resp["CopyPartResult"]["ETag"]})
        resp = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
        raise
    return resp.get("VersionId")


def _rewrite_parquet(
    s3: Any, bucket: str, key: str, parts: list[PartDone], content_type: str, metadata: dict[str, str], workdir: Path
) -> str | None:
    """Parquet parts into one file, row group by row group (a part's types are cast to the first's)."""
    path = workdir / "assembled.parquet"
    writer = None
    try:
        for p in parts:
            if not p.output_size:
                continue
            local = workdir / f"part-{p.index}.parquet"
            with open(local, "wb") as fh:
                body = _get(s3, bucket, Piece(p.output_key, p.output_version, 0, p.output_size))
                for block in iter(lambda b=body: b.read(8 << 20), b""):
                    fh.write(block)
            source = pq.ParquetFile(local)
            for i in range(source.num_row_groups):
                table = source.read_row_group(i)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                if table.num_rows:
                    writer.write_table(table.cast(writer.schema) if table.schema != writer.schema else table)
            source.close()
            local.unlink()
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # no part had an output: an empty table, as the unsplit path writes
        pq.write_table(pa.table({}), path)
    return upload(s3, path, bucket, key, content_type, metadata)


def upload(
    s3: Any, path: Path, bucket: str, key: str, content_type: str, metadata: dict[str, str] | None = None
) -> str | None:
    """A local file as an object (multipart when large); returns the version written."""
    extra = {"ContentType": content_type, **({"Metadata": metadata} if metadata else {})}
    s3.upload_file(str(path), bucket, key, ExtraArgs=extra, Config=TRANSFER)
    return s3.head_object(Bucket=bucket, Key=key).get("VersionId")


def assembled_errors(s3: Any, bucket: str, parts: list[PartDone], ext: str) -> Iterator[tuple[int, str]]:
    """Every part's errors with the file's line numbers, in line order."""
    before = 0
    rows: list[tuple[int, str]] = []
    for p in parts:
        if p.errors_key:
            body = _get(s3, bucket, Piece(p.errors_key, p.errors_version, 0, 0)).read().decode("utf-8")
            reader = csv.reader(io.StringIO(body))
            next(reader, None)  # header: line,reason
            rows += [(global_line(int(line), p.index, before, ext), reason) for line, reason in reader]
        before += p.lines
    return iter(sorted(rows))


def assemble_errors(s3: Any, bucket: str, key: str, parts: list[PartDone], ext: str, metadata: dict[str, str],
                    workdir: Path) -> str | None:  # fmt: skip
    """The one errors file (line,reason; header = line 1); returns its version id."""
    path = workdir / "errors.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "reason"])
        writer.writerows(assembled_errors(s3, bucket, parts, ext))
    return upload(s3, path, bucket, key, "text/csv", metadata)


def new_workdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="fml-assemble-")
