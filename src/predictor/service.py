"""Batch prediction jobs end to end: input file → scored output and errors files → status."""

from __future__ import annotations

import csv
import io
import logging
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from fmlcore.core.errors import FmlError
from fmlcore.core.layout import (
    batch_errors_key,
    batch_output_key,
    data_extension,
    part_errors_key,
    part_output_key,
    s3_uri,
)
from fmlcore.core.settings import Settings
from fmlcore.core.times import utcnow
from fmlcore.core.versions import version_written_by
from fmlcore.jobs.events import JobEvents
from fmlcore.jobs.lease import Holder, LeaseStore
from fmlcore.jobs.lifecycle import JobLifecycle
from fmlcore.jobs.message import JobMessage, get_input
from fmlcore.jobs.status import StatusStore
from fmlcore.jobs.worker import JobContext
from fmlcore.ml import formats
from fmlcore.ml.model_store import ModelStore
from fmlcore.ml.ranges import LineCounter, RangeFile, S3Version, get_range, header_line
from fmlcore.ml.readers import Prepend, ReadLimits
from predictor.batch import TRANSFER, score_chunks, score_file
from predictor.split import (
    PartDone,
    PartMarkers,
    assemble_errors,
    assemble_output,
    new_workdir,
    plan_parts,
    upload,
)

log = logging.getLogger("fml.predictor")

# How many of an output key's newest versions a job looks through for its own (other jobs may write the same key).
OUTPUT_VERSIONS_SEARCHED = 10


class BatchService:
    def __init__(
        self, settings: Settings, s3: Any, store: ModelStore, statuses: StatusStore, sqs: Any = None,
        leases: LeaseStore | None = None, events: JobEvents | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.s3 = s3
        self.sqs = sqs  # sends the parts of a split file (None: files are never split)
        self.store = store
        self.bucket = statuses.bucket
        self.jobs = JobLifecycle(statuses, events)
        self.markers = PartMarkers(s3, statuses.bucket)
        self.leases = leases or LeaseStore(s3, statuses.bucket, ttl_seconds=settings.worker_visibility_timeout)

    def run_job(self, job: JobMessage, ctx: JobContext) -> None:
        record = self.jobs.record(job)
        if not self.jobs.should_run(record):
            return
        if job.part is not None:
            self.run_part(job, ctx)
            return
        record = self.jobs.start(record, ctx)
        started = time.perf_counter()
        loaded = self.store.load(job.model, job.options.get("model_version"), job.options.get("alias"))
        if self._split(job, loaded.version):
            return
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
            ctx.rows = result.rows_total
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

    # ------------------------------------------------------------------ split files
    def _split(self, job: JobMessage, model_version: str) -> bool:
        """Split a file over FML_BATCH_SPLIT_BYTES into parts (messages on the predict queue), the
        model version pinned so every part scores with the same one. False: score it whole."""
        split_bytes = self.settings.batch_split_bytes
        if self.sqs is None or split_bytes <= 0 or job.options.get("split") is False:
            return False
        head = get_input(self.s3, job.input, head=True)
        size = int(head.get("ContentLength") or 0)
        if size <= split_bytes:
            return False
        ext = data_extension(job.input.key)
        located = S3Version(job.input.bucket, job.input.key, job.input.version_id, head.get("ETag"))
        parts = plan_parts(self.s3, located, ext, size, split_bytes, self.settings.max_line_bytes)
        if len(parts) < 2:
            return False
        self.jobs.split(job.job_id, len(parts))
        options = {**job.options, "model_version": model_version}
        options.pop("alias", None)
        queue_url = self.settings.require("predict_queue_url")
        # One SendMessage per part (SendMessageBatch needs the same permission on AWS, but the
        # emulator asks for an sqs:SendMessageBatch action no policy can grant).
        for part in parts:
            self.sqs.send_message(QueueUrl=queue_url, MessageBody=replace(job, options=options, part=part).to_json())
        log.info("file split into parts", extra={"parts": len(parts), "bytes": size, "split_bytes": split_bytes})
        return True

    def run_part(self, job: JobMessage, ctx: JobContext) -> None:
        """Score one part into its part objects and mark it done (unless an earlier delivery did);
        when every part is done, assemble (one worker, under a lease)."""
        part = job.part
        if not self.markers.exists(job.job_id, part.index):
            done = self._score_part(job, ctx)
            ctx.rows = done.rows_total
            self.markers.put(job.job_id, done)
        markers = self.markers.all(job.job_id)
        self.jobs.part_done(job.job_id, len(markers), sum(m.rows_total for m in markers))
        if len(markers) == part.total:
            self._assemble(job, ctx, markers)

    def _score_part(self, job: JobMessage, ctx: JobContext) -> PartDone:
        part = job.part
        ref = S3Version(job.input.bucket, job.input.key, job.input.version_id, part.etag)
        fmt = formats.for_key(ref.key)
        loaded = self.store.load(job.model, job.options.get("model_version"))
        limits = ReadLimits.from_settings(self.settings)
        chunk_rows = self.settings.batch_chunk_rows
        counter = None
        with tempfile.TemporaryDirectory(prefix="fml-part-") as tmp:
            if part.unit == "row_groups":
                source = RangeFile(self.s3, ref, int(get_input(self.s3, ref, head=True)["ContentLength"]))
                chunks = fmt.chunks(source, chunk_rows, limits, (part.start, part.end), part.row_offset + 1)
            else:
                counter = LineCounter(get_range(self.s3, ref, part.start, part.end))
                stream = counter
                if fmt is formats.CSV and part.index > 0:
                    size = int(get_input(self.s3, ref, head=True)["ContentLength"])
                    stream = Prepend(header_line(self.s3, ref, size, limits.max_line_bytes), counter)
                chunks = fmt.chunks(io.BufferedReader(stream, 1 << 20), chunk_rows, limits)
            result = score_chunks(
                chunks, fmt, loaded, Path(tmp), should_stop=ctx.should_stop, check_deadline=ctx.check_deadline,
                explain=bool(job.options.get("explain")),
            )  # fmt: skip
            output_key = part_output_key(job.job_id, part.index, fmt.extension)
            output_version = upload(self.s3, result.output_path, self.bucket, output_key, fmt.content_type)
            errors_key = errors_version = None
            if result.rows_failed:
                errors_key = part_errors_key(job.job_id, part.index)
                errors_version = upload(self.s3, result.errors_path, self.bucket, errors_key, "text/csv")
            return PartDone(
                index=part.index,
                rows_total=result.rows_total,
                rows_scored=result.rows_scored,
                rows_failed=result.rows_failed,
                lines=counter.lines if counter is not None else 0,
                output_key=output_key,
                output_version=output_version,
                output_size=result.output_path.stat().st_size,
                header_bytes=_header_bytes(result.output_path) if fmt is formats.CSV else 0,
                errors_key=errors_key,
                errors_version=errors_version,
                model_version=loaded.version,
            )

    def _assemble(self, job: JobMessage, ctx: JobContext, markers: list[PartDone]) -> None:
        lease = self.leases.acquire(f"{job.job_id}.assemble", ctx.message_id)
        if isinstance(lease, Holder):  # another worker is assembling; if it dies, its part message comes back
            log.info("another worker is assembling this job's parts")
            return
        try:
            record = self.jobs.get(job.job_id)
            if record is None or record.ended:
                return
            fmt = formats.for_key(job.input.key)
            output_key = batch_output_key(job.model, job.input.key)
            errors_key = batch_errors_key(job.model, job.input.key)
            versions = {m.model_version for m in markers}
            model_version = markers[0].model_version
            meta = {"job_id": job.job_id, "model_version": model_version, "input_version": job.input.version_id or ""}
            outputs = {"predictions_uri": s3_uri(self.bucket, output_key)}
            with new_workdir() as tmp:
                version = version_written_by(self.s3, self.bucket, output_key, job.job_id, OUTPUT_VERSIONS_SEARCHED)
                if version is None:
                    version = assemble_output(
                        self.s3, self.bucket, output_key, fmt.extension, markers, fmt.content_type, meta, Path(tmp)
                    )
                outputs["predictions_version"] = version
                if any(m.rows_failed for m in markers):
                    outputs["errors_uri"] = s3_uri(self.bucket, errors_key)
                    outputs["errors_version"] = version_written_by(
                        self.s3, self.bucket, errors_key, job.job_id, OUTPUT_VERSIONS_SEARCHED
                    ) or assemble_errors(self.s3, self.bucket, errors_key, markers, fmt.extension, meta, Path(tmp))
            rows = sum(m.rows_total for m in markers)
            started = record.started_at or record.submitted_at
            seconds = (utcnow() - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds()
            self.jobs.succeed_split(
                job.job_id,
                note=f"{len(markers)} parts assembled",
                model_version=model_version,
                outputs=outputs,
                parts={"total": len(markers), "done": len(markers)},
                progress={"rows_done": rows},
                metrics={
                    "rows_total": rows,
                    "rows_scored": sum(m.rows_scored for m in markers),
                    "rows_failed": sum(m.rows_failed for m in markers),
                    "seconds": round(seconds, 3),
                    "rows_per_second": round(rows / seconds, 1) if seconds > 0 else None,
                    "parts": len(markers),
                },
            )
            if len(versions) > 1:  # cannot happen (pinned at the split); said loudly if it ever does
                log.error("the parts were scored with different model versions", extra={"versions": sorted(versions)})
            log.info("parts assembled", extra={"parts": len(markers), "rows": rows})
            self.markers.remove_all(job.job_id)
        finally:
            self.leases.release(lease)

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


def _header_bytes(path: Path) -> int:
    """The length of a CSV output's header line, its line end included."""
    with open(path, "rb") as fh:
        return len(fh.readline())
