"""engine=dask: the trainer worker trains on a Dask LocalCluster (2 worker processes) from
partitions its workers read from S3 themselves. Same artifact and metadata as single-task
training, an AUC within 0.01 of it; a Dask worker killed mid-training fails the attempt with a
clear reason, and the retry succeeds on a fresh cluster."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from fmlcore.jobs.message import job_id_for
from fmlcore.ml.model_store import ModelStore
from fmldev.sample_data import write as write_sample
from tests.faults.helpers import start_worker, wait_state
from tests.status_records import StatusRecords

from .conftest import wait_for

pytestmark = pytest.mark.emulator

PARTITION_BYTES = 400_000  # several partitions from a few MB


@pytest.fixture(scope="module")
def dask_worker(start_proc, proc_env):
    return start_worker(start_proc, proc_env, "trainer", "trainer-dask", FML_DASK_PARTITION_BYTES=str(PARTITION_BYTES),
                        FML_DASK_WORKERS="2")  # fmt: skip


def drop(aws, settings, key, body, **metadata):
    version = aws.s3.put_object(Bucket=settings.datasets_bucket, Key=key, Body=body, Metadata=metadata)["VersionId"]
    return job_id_for("train", settings.datasets_bucket, key, version)


def test_dask_training_matches_single_task_training(aws, settings, dask_worker, tmp_path, unique):
    body = write_sample(tmp_path / "data.csv", 60_000, score=False, seed=5).read_bytes()
    assert len(body) > 4 * PARTITION_BYTES
    model = f"dask-{unique}"
    statuses = StatusRecords(aws.s3, settings.models_bucket)
    single_id = drop(aws, settings, f"{model}/single.csv", body, target="churned", engine="single", promote="never")
    dask_id = drop(aws, settings, f"{model}/dask.csv", body, target="churned", engine="dask", promote="never")
    single = wait_state(statuses, single_id, timeout=180)
    dask = wait_state(statuses, dask_id, timeout=180)
    assert single["state"] == dask["state"] == "succeeded", (single.get("error"), dask.get("error"))
    assert abs(dask["metrics"]["auc"] - single["metrics"]["auc"]) <= 0.01, (dask["metrics"], single["metrics"])
    store = ModelStore(aws.s3, settings.models_bucket, latest_ttl_seconds=0)
    d, s = store.describe(model, dask["model_version"]), store.describe(model, single["model_version"])
    assert (d["engine"], d["dask_workers"], d["data_matrix"]) == ("dask", 2, "DaskQuantileDMatrix")
    assert "engine" not in s and s["data_matrix"] == "QuantileDMatrix"
    assert d["features"] == s["features"] and d["classes"] == s["classes"] and d["objective"] == s["objective"]
    assert d["rows"] == s["rows"] == 60_000 and d["reference_rows"] > 0
    shared = set(s) - {"engine", "dask_workers"}
    assert shared <= set(d), shared - set(d)  # every key single-task training writes


def dask_processes(pid: int) -> list[psutil.Process]:
    """The LocalCluster's worker processes: spawned by the trainer worker (whose nannies run in it)."""
    return [p for p in psutil.Process(pid).children() if "spawn_main" in " ".join(p.cmdline())]


def test_a_dask_worker_dying_mid_training_fails_the_attempt_and_the_job_is_retried(
    aws, settings, dask_worker, tmp_path, unique
):
    body = write_sample(tmp_path / "data.csv", 80_000, score=False, seed=6).read_bytes()
    statuses = StatusRecords(aws.s3, settings.models_bucket)
    model = f"dask-kill-{unique}"
    before = dask_worker.log().count("got rank 0")
    job_id = drop(aws, settings, f"{model}/data.csv", body, target="churned", engine="dask", num_boost_round="1500",
                  early_stopping_rounds="10000", params='{"max_depth": 8, "eta": 0.02}')  # fmt: skip
    wait_for(lambda: dask_worker.log().count("got rank 0") > before, 120, what="xgboost to start on the cluster")
    victims = dask_processes(dask_worker.pid)
    assert len(victims) == 2, victims
    os.kill(victims[0].pid, signal.SIGKILL)  # its nanny starts another: xgboost's collective has lost a rank
    retried = wait_for(
        lambda: (r := statuses.get(job_id)) and (r.get("last_error") or {}).get("type") == "TransientError" and r,
        60,
        what="the attempt to fail",
    )
    assert "Dask worker died mid-training" in retried["last_error"]["message"]
    record = wait_state(statuses, job_id, timeout=300)
    assert record["state"] == "succeeded" and record["attempts"] >= 2, record
