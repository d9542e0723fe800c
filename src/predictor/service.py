"""Batch prediction jobs end to end: input file → scored output and errors files → status."""

from __future__ import annotations

import csv
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from fmlcore.core.errors import FmlError
from fmlcore.core.layout import batch_errors_key, batch_output_key, s3_uri
from fmlcore.core.settings import Settings
from fmlcore.core.versions import version_written_by
from fmlcore.jobs.lifecycle import JobLifecycle
from fmlcore.jobs.message import JobMessage
from fmlcore.jobs.status import StatusStore
from fmlcore.jobs.worker import JobContext
from fmlcore.ml import formats
from fmlcore.ml.model_store import ModelStore
from fmlcore.ml.readers import ReadLimits
from predictor.batch import TRANSFER, score_file

log = logging.getLogger("fml.predictor")

# How many of an output key's newest versions a job looks through for its own (other jobs may write the same key).
OUTPUT_VERSIONS_SEARCHED = 10


class BatchService:
    def __init__(self, settings: Settings, s3: Any, store: ModelStore, statuses: StatusStore) -> None:
        self.settings = settings
        self.s3 = s3
        self.store = store
        self.bucket = statuses.bucket
        self.jobs = JobLifecycle(statuses)

    def run_job(self, job: JobMessage, ctx: JobContext) -> None:
        record = self.jobs.record(job)
        if not self.jobs.should_run(record):
            return
        record = self.jobs.start(record, ctx)
        started = time.perf_counter()
        loaded = self.store.load(job.model, job.options.get("model_version"), job.options.get("alias"))
        output_key = batch_output_key(job.model, job.input.key)
        errors_key = batch_errors_key(job.model, job.input.key)
        with tempfile.TemporaryDirectory(prefix="fml-batch-") as tmp:
            result = score_file(
                self.s3,
                job.input,
                loaded,
                Path(tmp),
                self.settings.batch_chunk_rows,
                on_progress=lambda rows: self.jobs.progress(record, progress={"rows_done": rows}),
                should_stop=ctx.should_stop,
                limits=ReadLimits.from_settings(self.settings),
                check_deadline=ctx.check_deadline,
                explain=bool(job.options.get("explain")),
            )
            meta = {"job_id": job.job_id, "model_version": loaded.version, "input_version": job.input.version_id or ""}
            content_type = formats.for_key(output_key).content_type
            outputs = {"predictions_uri": s3_uri(self.bucket, output_key)}
            outputs["predictions_version"] = self._upload(result.output_path, output_key, content_type, meta)
            if result.rows_failed:
                outputs["errors_uri"] = s3_uri(self.bucket, errors_key)
                outputs["errors_version"] = self._upload(result.errors_path, errors_key, "text/csv", meta)
        seconds = time.perf_counter() - started
        self.jobs.succeed(
            record,
            model_version=loaded.version,
            outputs=outputs,
            progress={"rows_done": result.rows_total},
            metrics={
                "rows_total": result.rows_total,
                "rows_scored": result.rows_scored,
                "rows_failed": result.rows_failed,
                "seconds": round(seconds, 3),
                "rows_per_second": round(result.rows_total / seconds, 1) if seconds else None,
            },
        )
        log.info(
            "batch scored",
            extra={"rows": result.rows_total, "failed": result.rows_failed, "seconds": round(seconds, 3)},
        )

    def _upload(self, path: Path, key: str, content_type: str, meta: dict[str, str]) -> str:
        """Upload unless this job already did (a retry after a crash): one output version per job."""
        done = version_written_by(self.s3, self.bucket, key, meta["job_id"], OUTPUT_VERSIONS_SEARCHED)
        if done is not None:
            log.info("output already uploaded by an earlier attempt", extra={"key": key})
            return done
        self.s3.upload_file(
            str(path), self.bucket, key, ExtraArgs={"ContentType": content_type, "Metadata": meta}, Config=TRANSFER
        )
        # Another job may write the same key at the same time: find our version by its job id.
        return version_written_by(self.s3, self.bucket, key, meta["job_id"], OUTPUT_VERSIONS_SEARCHED) or ""

    def on_permanent(self, job: JobMessage, ctx: JobContext, exc: BaseException) -> None:
        """Failed status, plus an error record next to where the output would have been."""
        self.jobs.on_permanent(job, ctx, exc)
        message = exc.message if isinstance(exc, FmlError) else str(exc)
        with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", delete=False) as fh:
            writer = csv.writer(fh)
            writer.writerow(["line", "reason"])
            writer.writerow(["", f"job failed: {message}"])
        try:
            meta = {"job_id": job.job_id, "input_version": job.input.version_id or ""}
            self.s3.upload_file(
                fh.name, self.bucket, batch_errors_key(job.model, job.input.key), ExtraArgs={"Metadata": meta}
            )
        finally:
            Path(fh.name).unlink(missing_ok=True)
