"""Batch scoring of one file, streamed in chunks so memory stays flat whatever the file size.

Input (any format of `fmlcore.ml.formats`) is read chunk by chunk; rows that cannot be scored (a
malformed CSV line, a JSON line that is not an object, a non-number in a numeric column)
go to the errors file with their line number and reason while every other row is scored.
Outputs are written to local temporary files and uploaded at the end, so a worker killed
mid-job leaves no partial output behind:

    batch/<model>/<input name>.predictions.<same ext>   every input column, then prediction columns
    batch/<model>/<input name>.errors.csv               line,reason (only when some row failed)
"""

from __future__ import annotations

import contextlib
import csv
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from boto3.s3.transfer import TransferConfig

from fmlcore.core.errors import InvalidInput
from fmlcore.jobs.message import InputRef, get_input
from fmlcore.jobs.worker import JobInterrupted
from fmlcore.ml import formats
from fmlcore.ml.model_store import LoadedModel
from fmlcore.ml.readers import DEFAULT_LIMITS, Chunk, ReadLimits, check_file_size
from predictor.scoring import check_columns, contribution_columns, predict

log = logging.getLogger("fml.predictor.batch")

TRANSFER = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20)

# How often a scored file's progress (rows done) is written to its status record: what
# `GET /prediction-jobs/<id>` and `fml predict --wait` show move. One small PUT a second per job.
PROGRESS_SECONDS = 1.0


@dataclass
class BatchResult:
    rows_total: int = 0
    rows_scored: int = 0
    rows_failed: int = 0
    output_path: Path | None = None
    errors_path: Path | None = None


# ---------------------------------------------------------------------------- scoring
def score_file(
    s3: Any,
    ref: InputRef,
    loaded: LoadedModel,
    workdir: Path,
    chunk_rows: int,
    on_progress: Callable[[int], None] = lambda rows: None,
    should_stop: Callable[[], bool] = lambda: False,
    limits: ReadLimits = DEFAULT_LIMITS,
    check_deadline: Callable[[], None] = lambda: None,
    explain: bool = False,
) -> BatchResult:
    """Score one input object into local output/error files (the caller uploads them); with
    `explain`, each row's TreeSHAP contributions are added as columns."""
    fmt = formats.for_key(ref.key)
    obj = get_input(s3, ref)
    if fmt.spooled:  # copied whole to disk (Parquet); CSV and JSON lines are streamed
        try:
            check_file_size(int(obj.get("ContentLength") or 0), limits.max_file_bytes)
        except InvalidInput:
            obj["Body"].close()
            raise
    with contextlib.closing(obj["Body"]) as stream:
        source = stream
        if fmt.spooled:
            source = workdir / f"input{fmt.extension}"
            with open(source, "wb") as fh:
                for piece in stream.iter_chunks(8 << 20):
                    fh.write(piece)
        chunks = fmt.chunks(source, chunk_rows, limits)
        result = score_chunks(chunks, fmt, loaded, workdir, on_progress, should_stop, check_deadline, explain)
    if result.rows_total == 0:
        raise InvalidInput("the file has no data rows")
    return result


def score_chunks(
    chunks: Iterator[Chunk],
    fmt: formats.Format,
    loaded: LoadedModel,
    workdir: Path,
    on_progress: Callable[[int], None] = lambda rows: None,
    should_stop: Callable[[], bool] = lambda: False,
    check_deadline: Callable[[], None] = lambda: None,
    explain: bool = False,
) -> BatchResult:
    """Score chunks (of a file, or of one part of a split file) into local output/error files."""
    try:
        return _score_chunks(chunks, fmt, loaded, workdir, on_progress, should_stop, check_deadline, explain)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:  # the file itself cannot be decoded
        raise InvalidInput(f"cannot read the {fmt.name} file: {str(exc).splitlines()[0][:300]}") from exc


def _score_chunks(
    chunks: Iterator[Chunk],
    fmt: formats.Format,
    loaded: LoadedModel,
    workdir: Path,
    on_progress: Callable[[int], None],
    should_stop: Callable[[], bool],
    check_deadline: Callable[[], None],
    explain: bool,
) -> BatchResult:
    result = BatchResult(output_path=workdir / f"output{fmt.extension}", errors_path=workdir / "errors.csv")
    writer = fmt.writer(result.output_path)
    columns: list[str] | None = None
    with open(result.errors_path, "w", newline="", encoding="utf-8") as err_fh:
        errors = csv.writer(err_fh)
        errors.writerow(["line", "reason"])
        last_report = time.monotonic()
        try:
            for chunk in chunks:
                if should_stop():
                    raise JobInterrupted("batch scoring interrupted by shutdown")
                check_deadline()
                result.rows_total += len(chunk.errors) + len(chunk.frame)
                failed = list(chunk.errors)
                scored = chunk.frame
                if not chunk.frame.empty:
                    if columns is None:
                        columns = [str(c) for c in chunk.frame.columns]
                        check_columns(loaded, columns, allow_extra=True)
                    scored, bad = _score_chunk(loaded, chunk, explain)
                    failed += bad
                errors.writerows(sorted(failed))  # in line order, whichever step found them
                result.rows_failed += len(failed)
                result.rows_scored += len(scored)
                writer.write(scored)
                if time.monotonic() - last_report > PROGRESS_SECONDS:
                    on_progress(result.rows_total)
                    last_report = time.monotonic()
        finally:
            writer.close(columns or [])
    return result


def _score_chunk(
    loaded: LoadedModel, chunk: Chunk, explain: bool = False
) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """The scored rows (input columns + prediction columns) and the (line, reason) of rows that could not be."""
    frame = chunk.frame.reset_index(drop=True)
    missing_cols = [c for c in loaded.schema.names if c not in frame.columns]
    if missing_cols:  # JSON lines may lack keys in a later chunk
        check_columns(loaded, [str(c) for c in frame.columns], allow_extra=True)
    bad = loaded.schema.bad_rows(frame)
    failed = [(int(chunk.lines[pos]), reason) for pos, reason in sorted(bad.items())]
    if bad:
        keep = np.ones(len(frame), dtype=bool)
        keep[sorted(bad)] = False
        frame = frame.loc[keep].reset_index(drop=True)
    if frame.empty:
        return frame, failed
    features = loaded.schema.encode_array(frame)
    scores = predict(loaded, features)
    out = frame.copy()
    for name, values in scores.columns().items():
        out[name] = values
    if explain:
        for name, values in contribution_columns(loaded, features).items():
            out[name] = values
    return out, failed
