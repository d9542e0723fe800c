"""Training jobs end to end: dataset from S3 → trained booster → new model version → status.

Used by both the train-queue worker and the HTTP API, so a job trains the same way
whichever door it came in by.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from fmlcore.core.errors import DeadlineExceeded, InvalidInput, PayloadTooLarge
from fmlcore.core.layout import data_extension, model_key, s3_uri
from fmlcore.core.settings import Settings
from fmlcore.jobs.events import JobEvents
from fmlcore.jobs.lifecycle import SYNC_NOTE, JobLifecycle
from fmlcore.jobs.message import InputRef, JobMessage, get_input
from fmlcore.jobs.status import RUNNING, JobRecord, StatusStore
from fmlcore.jobs.worker import JobContext, JobInterrupted
from fmlcore.ml import formats
from fmlcore.ml.model_store import ModelStore, loaded_booster
from fmlcore.ml.readers import check_column_count, check_file_size
from trainer.dask_engine import DaskCluster, train_dask
from trainer.isolated import train_in_child, warm_up
from trainer.promotion import Promoter, Promotion
from trainer.training import BudgetExceeded, Interrupted, Trained, TrainOptions

log = logging.getLogger("fml.trainer")

# The history note of a training run within an API request (the API writes it; see settle_if_abandoned).


@dataclass(frozen=True)
class TrainResult:
    model: str
    version: str
    metadata: dict[str, Any]
    promotion: Promotion

    def to_dict(self) -> dict[str, Any]:
        m = self.metadata
        return {
            "model": self.model,
            "version": self.version,
            "objective": m["objective"],
            "metrics": m["metrics"],
            "rows": m["rows"],
            "best_iteration": m["best_iteration"],
            "dataset": {"uri": m["dataset_uri"], "version_id": m["dataset_version"]},
            "durations": m["durations"],
            "job_id": m["job_id"],
            "promotion": self.promotion.to_dict(),
        }


class TrainingService:
    def __init__(
        self,
        settings: Settings,
        s3: Any,
        store: ModelStore,
        statuses: StatusStore,
        dask: DaskCluster | None = None,
        events: JobEvents | None = None,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.dask = dask  # the trainer worker's Dask cluster (engine=dask); None in the API
        self.store = store
        self.promoter = Promoter(s3, store)
        self.jobs = JobLifecycle(statuses, events)
        warm_up()  # the training forkserver, ready before the first job

    # ------------------------------------------------------------------ training
    def fetch_dataset(self, ref: InputRef) -> tuple[bytes, str]:
        """The dataset file's bytes and extension, within FML_MAX_DATASET_BYTES."""
        ext = data_extension(ref.key)
        obj = get_input(self.s3, ref)
        try:
            check_file_size(int(obj.get("ContentLength") or 0), self.settings.max_dataset_bytes)
        except PayloadTooLarge:
            obj["Body"].close()
            raise
        return obj["Body"].read(), ext

    def download_dataset(self, ref: InputRef, workdir: Path) -> Path:
        """The dataset file streamed to local disk (the task's ephemeral storage), within
        FML_MAX_DATASET_BYTES: a worker's training reads it in chunks, never whole."""
        ext = data_extension(ref.key)
        obj = get_input(self.s3, ref)
        with contextlib.closing(obj["Body"]) as body:
            check_file_size(int(obj.get("ContentLength") or 0), self.settings.max_dataset_bytes)
            path = workdir / f"dataset{ext}"
            with open(path, "wb") as fh:
                for block in body.iter_chunks(8 << 20):
                    fh.write(block)
        return path

    def read_dataset(self, ref: InputRef) -> pd.DataFrame:
        """The dataset as a table (the API's synchronous path, within its small budget)."""
        data, ext = self.fetch_dataset(ref)
        frame = formats.for_extension(ext).read_table(data)
        check_column_count(frame.shape[1], self.settings.max_columns)
        return frame

    def train(
        self,
        job: JobMessage,
        frame: pd.DataFrame | None = None,
        deadline: float | None = None,
        should_stop=None,
    ) -> TrainResult:
        """Train `job` (reading its dataset unless `frame` is given) and store a new model version.

        The training runs in a child process killed at `deadline` (BudgetExceeded) or when
        `should_stop()` (JobInterrupted): the deadline holds however long one round takes. A
        worker's dataset is streamed to local disk and read there in chunks (trainer.streaming),
        never as one table.
        """
        t0 = time.perf_counter()
        opts = TrainOptions.from_job(job.options)  # bad options are refused before any download
        if frame is None and self.engine(job, opts) == "dask":
            trained = self._train_dask(job, opts, deadline, should_stop)
            t_read = t0
        else:
            trained, t_read = self._train_single(job, opts, frame, deadline, should_stop)
        t_train = time.perf_counter()
        metadata = {
            **trained.metadata,
            "model": job.model,
            "job_id": job.job_id,
            "source": job.source,
            "dataset_uri": s3_uri(job.input.bucket, job.input.key),
            "dataset_version": job.input.version_id,
        }
        metadata["durations"] = {
            "read_seconds": round(t_read - t0, 3),
            "prepare_and_train_seconds": round(t_train - t_read, 3),
        }
        # The reference set first: every version is stored with the rows the gate judges it on.
        self.promoter.write_reference(job.model, job.job_id, trained.reference)
        version = self.store.save(job.model, trained.booster, metadata)
        log.info(
            "model version stored",
            extra={"version": version, "metrics": trained.metadata["metrics"], "rows": trained.metadata["rows"]},
        )
        candidate = loaded_booster(job.model, version, trained.booster)
        promotion = self.promoter.promote(job, candidate, trained.reference, opts)
        metadata["durations"]["total_seconds"] = round(time.perf_counter() - t0, 3)
        return TrainResult(job.model, version, metadata, promotion)

    def engine(self, job: JobMessage, opts: TrainOptions) -> str:
        """`single` or `dask`: the job's choice, else dask for a dataset of FML_DASK_MIN_BYTES or more."""
        if opts.engine:
            return opts.engine
        limit = self.settings.dask_min_bytes
        if not limit or self.dask is None:
            return "single"
        size = int(get_input(self.s3, job.input, head=True).get("ContentLength") or 0)
        return "dask" if size >= limit else "single"

    def _train_single(self, job: JobMessage, opts: TrainOptions, frame, deadline, should_stop):
        with tempfile.TemporaryDirectory(prefix="fml-train-", dir=self.settings.train_dir) as tmp:
            source = frame if frame is not None else self.download_dataset(job.input, Path(tmp))
            t_read = time.perf_counter()
            try:
                trained, _ = train_in_child(
                    source,
                    job.options,
                    nthread=self.settings.xgb_nthread,
                    deadline=deadline,
                    should_stop=should_stop,
                    max_columns=self.settings.max_columns,
                    reference_max_rows=self.settings.reference_max_rows,
                    chunk_rows=self.settings.train_chunk_rows,
                    in_memory_bytes=self.settings.train_in_memory_bytes,
                )
            except Interrupted as exc:
                raise JobInterrupted(str(exc)) from exc
        return trained, t_read

    def _train_dask(self, job: JobMessage, opts: TrainOptions, deadline, should_stop) -> Trained:
        if self.dask is None:
            raise InvalidInput("engine=dask trains on the train queue's worker, not within an API request")
        size = int(get_input(self.s3, job.input, head=True).get("ContentLength") or 0)
        try:
            return train_dask(self.dask, self.s3, job.input, size, opts, self.settings, deadline, should_stop)
        except Interrupted as exc:
            raise JobInterrupted(str(exc)) from exc
        finally:
            self.dask.release()

    # ------------------------------------------------------------------ job lifecycle
    def run_job(self, job: JobMessage, ctx: JobContext) -> None:
        """The worker's handler: idempotent, so a redelivered message never makes a second version."""
        record = self.jobs.record(job)
        if not self.jobs.should_run(record):
            return
        done = self.store.find_version_by_job(job.model, job.job_id)
        if done is not None:  # an earlier attempt stored the model, then died before its status
            log.info("an earlier attempt already stored this job's model", extra={"version": done})
            candidate = self.store.load(job.model, done)
            promotion = self.promoter.promote(
                job, candidate, None, TrainOptions.from_job(job.options), move_candidate=False
            )
            self.jobs.succeed(record, model_version=done, promotion=promotion.to_dict(), note="recovered after a crash")
            return
        record = self.jobs.start(record, ctx)
        try:
            result = self.train(job, deadline=ctx.deadline, should_stop=ctx.should_stop)
        except BudgetExceeded as exc:
            raise DeadlineExceeded(
                f"{exc}: the job ran past its time limit of {self.settings.job_timeout_seconds} s "
                "(FML_JOB_TIMEOUT_SECONDS); fewer rounds or a shallower model would fit",
                {"limit_seconds": self.settings.job_timeout_seconds},
            ) from exc
        ctx.rows = result.metadata["rows"]  # the training rows, for the attempt's metrics line
        self.succeed(record, result)

    def settle_if_abandoned(self, record: JobRecord, grace_seconds: float = 60.0) -> JobRecord:
        """A synchronous training whose record still says `running` well past its budget was
        abandoned: its API process stored the model but could not write the status, or died.
        The models bucket says which: the version carrying the job id, or none (then failed)."""
        last_note = (record.history or ({},))[-1].get("note")
        if record.state != RUNNING or last_note != SYNC_NOTE:
            return record
        started = datetime.fromisoformat(str(record.started_at).replace("Z", "+00:00"))
        if (datetime.now(UTC) - started).total_seconds() < self.settings.sync_train_max_seconds + grace_seconds:
            return record  # may still be running
        settled = self.jobs.settle(record, self.store.find_version_by_job(record.model, record.job_id))
        try:
            return self.jobs.write_settled(settled)
        except (BotoCoreError, ClientError) as exc:  # answer with the settled view all the same
            log.warning("could not write the settled status: %s", exc)
            return settled

    def succeed(self, record: JobRecord, result: TrainResult) -> JobRecord:
        return self.jobs.succeed(
            record,
            model_version=result.version,
            metrics=result.metadata["metrics"],
            progress={"rows_done": result.metadata["rows"]},
            outputs={"model_uri": s3_uri(self.store.bucket, model_key(result.model)), "version": result.version},
            result=result.to_dict(),
            promotion=result.promotion.to_dict(),
        )
