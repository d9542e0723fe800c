"""Distributed training on a Dask cluster (training option `engine=dask`, or any dataset of at
least FML_DASK_MIN_BYTES): `xgboost.dask` on partitions read straight from S3 by the Dask workers.

The cluster: FML_DASK_SCHEDULER's (on AWS the ECS services of terraform/modules/dask_cluster,
scaled up from zero for the job when FML_DASK_ECS_SERVICES names them, and back to zero after),
else a `distributed.LocalCluster` of FML_DASK_WORKERS worker processes this trainer worker
starts once and keeps.

The data: the dataset object is cut into partitions of about FML_DASK_PARTITION_BYTES
(fmlcore.ml.ranges: CSV and JSON lines at line ends, Parquet at row groups). Each Dask worker
reads its partitions with ranged GETs under its own credentials, and parses them as
trainer.streaming does a local file:

1. pass 1: each partition's `DatasetStats`, merged here into one `Plan` (the schema, objective
   and classes single-task training would derive; the same refusals);
2. pass 2: each partition encoded by the plan and split into training and holdout rows (a
   seeded draw per partition: the holdout differs from single-task training's, its size does
   not), plus a seeded sample of raw holdout rows for the reference set;
3. `xgboost.dask.train` on a DaskQuantileDMatrix with early stopping on the holdout; metrics
   from distributed predictions; the same artifact and metadata as single-task training, with
   `"engine": "dask"` and `"dask_workers"`.

A Dask worker that dies mid-training fails the attempt within a second or two (the worker set
is watched while xgboost's collective runs, which would otherwise wait on the dead peer) with
TransientError: the message comes back and the job is retried on a fresh cluster.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmlcore.core.aws import AwsClients
from fmlcore.core.errors import InvalidInput, TransientError
from fmlcore.core.layout import data_extension
from fmlcore.core.settings import Settings
from fmlcore.jobs.message import InputRef
from fmlcore.ml import ranges
from fmlcore.ml.readers import ReadLimits
from trainer.streaming import DatasetStats, Plan, read_chunks
from trainer.training import (
    SPLIT_SEED,
    Guard,
    Trained,
    TrainOptions,
    best_trees,
    boost_params,
    reference_frame,
    rejected,
    rounds,
    trained_model,
)

log = logging.getLogger("fml.trainer.dask")

CHUNK_ROWS = 100_000
WATCH_SECONDS = 0.5


# ---------------------------------------------------------------------------- on the Dask workers
@functools.cache
def _worker_s3() -> Any:
    """The S3 client of this Dask worker process (its environment's credentials and endpoint)."""
    return AwsClients(Settings.from_env(os.environ)).s3


def _local_copy(ref: ranges.S3Version, cut: ranges.Cut, header: bytes, ext: str, directory: str) -> Path:
    """The partition as a local file of its own: the CSV header in front of a later part; a
    Parquet part's row groups rewritten as one file."""
    s3 = _worker_s3()
    path = Path(directory) / f"part{ext}"
    if cut.unit == "row_groups":
        import pyarrow.parquet as pq

        size = int(s3.head_object(Bucket=ref.bucket, Key=ref.key, **_version(ref))["ContentLength"])
        source = pq.ParquetFile(ranges.RangeFile(s3, ref, size), pre_buffer=True)
        pq.write_table(source.read_row_groups(range(cut.start, cut.end)), path)
        return path
    with open(path, "wb") as fh:
        if header and cut.start > 0:
            fh.write(header)
        body = ranges.get_range(s3, ref, cut.start, cut.end)
        for block in iter(lambda: body.read(8 << 20), b""):
            fh.write(block)
    return path


def _version(ref: InputRef) -> dict[str, str]:
    return {"VersionId": ref.version_id} if ref.version_id else {}


def partition_stats(ref: ranges.S3Version, cut: ranges.Cut, header: bytes, ext: str, target: str, text: list[str],
                    limits: ReadLimits, max_columns: int) -> DatasetStats:  # fmt: skip
    """Pass 1 of one partition."""
    stats = DatasetStats(target, csv=ext == ".csv")
    with tempfile.TemporaryDirectory(prefix="fml-dask-") as tmp:
        for frame in read_chunks(_local_copy(ref, cut, header, ext, tmp), ext, CHUNK_ROWS, limits, max_columns, text):
            stats.add(frame)
    return stats


def partition_encoded(
    ref: ranges.S3Version, cut: ranges.Cut, header: bytes, ext: str, plan: Plan, text: list[str], limits: ReadLimits,
    max_columns: int, fraction: float, reference_rows: int,
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series, pd.DataFrame]:  # fmt: skip
    """Pass 2 of one partition: (train features, train labels, holdout features, holdout labels,
    a seeded sample of the holdout rows as given)."""
    parts: dict[str, list[Any]] = {"x": [], "y": [], "raw": []}
    with tempfile.TemporaryDirectory(prefix="fml-dask-") as tmp:
        for frame in read_chunks(_local_copy(ref, cut, header, ext, tmp), ext, CHUNK_ROWS, limits, max_columns, text):
            typed = plan.conform(frame)
            features, labels, keep = plan.encode_conformed(typed)
            parts["x"].append(features)
            parts["y"].append(labels)
            parts["raw"].append(typed.loc[keep])
    x = (
        pd.concat(parts["x"]).reset_index(drop=True)
        if parts["x"]
        else plan.schema.encode(pd.DataFrame(columns=plan.schema.names))
    )
    y = pd.Series(np.concatenate(parts["y"]) if parts["y"] else np.zeros(0, "float32"), name="label")
    raw = pd.concat(parts["raw"]).reset_index(drop=True) if parts["raw"] else pd.DataFrame()
    valid = np.random.default_rng([SPLIT_SEED, cut.index]).random(len(x)) < fraction
    sample = np.flatnonzero(valid)
    if len(sample) > reference_rows:
        sample = np.sort(
            np.random.default_rng([SPLIT_SEED, cut.index, 1]).choice(sample, reference_rows, replace=False)
        )
    return x[~valid], y[~valid], x[valid], y[valid], raw.iloc[sample]


def _pick(parts: tuple, i: int) -> Any:
    return parts[i]


# ---------------------------------------------------------------------------- the cluster
class DaskCluster:
    """The Dask cluster of this trainer worker, connected on first use and kept for later jobs."""

    def __init__(self, settings: Settings, clients: AwsClients | None = None) -> None:
        self.settings = settings
        self.clients = clients
        self._client: Any = None
        self._local: Any = None
        self._lock = threading.Lock()

    @property
    def remote(self) -> bool:
        return bool(self.settings.dask_scheduler)

    def client(self, timeout: float = 600) -> Any:
        """A client with FML_DASK_WORKERS workers (scaling the ECS services up first, on AWS)."""
        from distributed import Client, LocalCluster

        with self._lock:
            if self._client is None:
                logging.getLogger("distributed").setLevel(logging.WARNING)  # its INFO lines are per task
                workers = self.settings.dask_workers
                if self.remote:
                    self._scale(workers)
                    # The scheduler's task may still be starting (its DNS name appears with it).
                    self._client = Client(self.settings.dask_scheduler, timeout=timeout)
                else:
                    self._local = LocalCluster(
                        n_workers=workers,
                        threads_per_worker=max(1, (os.cpu_count() or 2) // workers),
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.WARNING,
                    )
                    self._client = Client(self._local)
                atexit.register(self.reset)  # the worker processes end with this one
                self._client.wait_for_workers(workers, timeout=timeout)
                log.info("dask cluster ready", extra={"workers": workers, "remote": self.remote})
            return self._client

    def reset(self) -> None:
        """Forget the cluster (after a worker died): the next job starts a fresh one."""
        with self._lock:
            client, local, self._client, self._local = self._client, self._local, None, None
        for closing in (client, local):
            if closing is not None:
                try:
                    closing.close()
                except Exception as exc:  # a cluster in trouble may not close cleanly
                    log.warning("closing the dask cluster: %s", exc)

    def release(self) -> None:
        """After a job: the ECS services back to zero (a local cluster stays warm)."""
        if self.remote and self.settings.dask_ecs_services:
            self.reset()
            self._scale(0)

    def _scale(self, workers: int) -> None:
        names = [s for s in (self.settings.dask_ecs_services or "").split(",") if s]
        if not names or self.clients is None:
            return
        ecs = self.clients.client("ecs")
        for name in names:
            count = (1 if workers else 0) if "scheduler" in name else workers
            ecs.update_service(cluster=self.settings.dask_ecs_cluster, service=name, desiredCount=count)
        log.info("dask services scaled", extra={"services": names, "workers": workers})


# ---------------------------------------------------------------------------- training
def train_dask(
    cluster: DaskCluster,
    s3: Any,
    ref: InputRef,
    size: int,
    opts: TrainOptions,
    settings: Settings,
    deadline: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Trained:
    """Train `ref`'s dataset on the Dask cluster (see the module docstring)."""

    guard = Guard(deadline, should_stop)
    client = cluster.client()
    ref, size = ranges.S3Version.head(s3, ref)  # its ETag makes every ranged read one request
    ext = data_extension(ref.key)
    limits = ReadLimits.from_settings(settings)
    cuts = ranges.plan_parts(s3, ref, ext, size, settings.dask_partition_bytes, limits.max_line_bytes)
    header = ranges.header_line(s3, ref, size, limits.max_line_bytes) if ext == ".csv" else b""
    workers = len(client.scheduler_info()["workers"])
    log.info("dask training", extra={"partitions": len(cuts), "workers": workers, "bytes": size})
    started = time.perf_counter()

    def stats_with(text: list[str]) -> DatasetStats:
        futures = [
            client.submit(
                partition_stats, ref, cut, header, ext, opts.target, text, limits, settings.max_columns, pure=False
            )
            for cut in cuts
        ]
        merged = None
        for stats in _gather(client, futures, cluster, guard, workers):
            merged = stats if merged is None else merged.merge(stats)
        return merged

    stats = stats_with([])
    text = stats.text_columns()
    if text:  # CSV columns that are text in the file but numbers in some partition: read as text
        stats = stats_with(text)
    if stats.rows == 0 or not stats.columns:
        raise InvalidInput("the file has no data rows", {"format": ext})
    plan = stats.plan(opts)
    per_part = max(1, settings.reference_max_rows)
    encoded = [
        client.submit(
            partition_encoded,
            ref,
            cut,
            header,
            ext,
            plan,
            text,
            limits,
            settings.max_columns,
            opts.validation_fraction,
            per_part,
            pure=False,
        )
        for cut in cuts
    ]
    _gather(client, encoded, cluster, guard, workers, keep=True)
    return _fit(client, cluster, encoded, plan, opts, guard, workers, started, settings.reference_max_rows)


def _fit(client, cluster, encoded, plan, opts, guard, workers, started, reference_max_rows) -> Trained:
    import dask.dataframe as dd
    import xgboost as xgb
    import xgboost.dask

    def collection(i: int) -> Any:
        parts = [client.submit(_pick, f, i, pure=False) for f in encoded]
        meta = client.submit(lambda p: p.iloc[:0], parts[0], pure=False).result()
        return dd.from_delayed(parts, meta=meta, verify_meta=False)

    x_train, y_train, x_valid, y_valid = (collection(i) for i in range(4))
    params = boost_params(plan, opts)
    max_bin = int(params.get("max_bin", 256))
    try:
        dtrain = xgb.dask.DaskQuantileDMatrix(client, x_train, y_train, enable_categorical=True, max_bin=max_bin)
        dvalid = xgb.dask.DaskDMatrix(client, x_valid, y_valid, enable_categorical=True)
        out = _watched(
            lambda: xgb.dask.train(client, params, dtrain, **rounds(opts, dvalid)),
            client,
            cluster,
            guard,
            workers,
        )
    except xgb.core.XGBoostError as exc:
        raise rejected(exc) from exc
    train_seconds = time.perf_counter() - started
    booster = best_trees(out["booster"])
    pred = np.asarray(xgb.dask.inplace_predict(client, booster, x_valid).compute())
    labels = y_valid.compute().to_numpy()
    rows = int(len(labels) + y_train.shape[0].compute())
    samples = pd.concat(client.gather([client.submit(_pick, f, 4, pure=False) for f in encoded]), ignore_index=True)
    if len(samples) > reference_max_rows:
        keep = np.random.default_rng(SPLIT_SEED).choice(len(samples), reference_max_rows, replace=False)
        samples = samples.iloc[np.sort(keep)]
    reference = reference_frame(samples, plan)
    return trained_model(
        plan, opts, rows, booster, params, labels, pred, "DaskQuantileDMatrix", reference, train_seconds,
        engine="dask", dask_workers=workers,
    )  # fmt: skip


def _gather(client, futures, cluster, guard, workers, keep: bool = False) -> list[Any]:
    """The futures' results (or just their completion, with `keep`), watched like training."""
    from distributed import wait

    _watched(lambda: wait(futures), client, cluster, guard, workers)
    return [] if keep else client.gather(futures)


def _watched(work: Callable[[], Any], client, cluster: DaskCluster, guard: Guard, workers: int) -> Any:
    """Run `work` while watching the cluster: a worker gone (or the deadline, or a stop request)
    ends the attempt at once instead of waiting on a peer that will never answer."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:
            result["error"] = exc

    # By address: a worker restarted by its nanny comes back under a new one, and its part of
    # xgboost's collective is lost all the same.
    started_with = set(client.scheduler_info()["workers"])
    thread = threading.Thread(target=run, name="fml-dask-train", daemon=True)
    thread.start()

    def check_workers() -> None:
        gone = started_with - set(client.scheduler_info()["workers"])
        if gone:
            raise TransientError(
                f"a Dask worker died mid-training ({len(gone)} of {len(started_with)} gone): the attempt is "
                "abandoned and the job retried on a fresh cluster",
                {"workers": len(started_with), "gone": sorted(gone)},
            )

    try:
        while thread.is_alive():
            thread.join(WATCH_SECONDS)
            guard.check("while training on dask")
            check_workers()
        if "error" in result:  # xgboost's collective may notice the dead peer first ("Ring Allreduce failed")
            time.sleep(WATCH_SECONDS)
            try:
                check_workers()
            except TransientError as exc:
                raise exc from result["error"]
    except BaseException:
        cluster.reset()
        raise
    if "error" in result:
        raise result["error"]
    return result.get("value")
