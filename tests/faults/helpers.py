"""Shared steps of the fault scenarios: workers with short timings, job waits, output counting, figures."""

from __future__ import annotations

import io
import sys
from typing import Any

import pandas as pd

from fmlcore.core.layout import LIVE
from fmlcore.ml.model_store import ModelStore
from fmldev.procs import Proc
from fmldev.sample_data import write as write_sample
from tests.conftest import ROOT
from tests.integration.conftest import wait_for
from tests.status_records import StatusRecords
from trainer.training import TrainOptions, prepare, train

# Short timings so a killed worker's job comes back quickly: visibility (= lease TTL) 6 s.
FAULT_ENV = {
    "FML_WORKER_VISIBILITY_TIMEOUT": "6",
    "FML_WORKER_WAIT_SECONDS": "1",
    "FML_WORKER_RETRY_BASE_SECONDS": "1",
    "FML_MODEL_LATEST_TTL": "0.5",
}
FINAL = ("succeeded", "failed")
SAMPLE = (ROOT / "samples" / "churn.csv").read_bytes()


def start_worker(start_proc, proc_env: dict[str, str], kind: str, name: str, **env: str) -> Proc:
    proc = start_proc(name, [sys.executable, "-m", f"{kind}.worker"], {**proc_env, **FAULT_ENV, **env})
    wait_for(lambda: "worker started" in proc.log(), 20, what=f"{name} to start")
    return proc


def wait_state(statuses: StatusRecords, job_id: str, states=FINAL, timeout: float = 120) -> dict[str, Any]:
    return wait_for(
        lambda: (r := statuses.get(job_id)) and r["state"] in states and r,
        timeout=timeout,
        interval=0.2,
        what=f"job {job_id} to reach {states}",
    )


def versions(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    resp = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [v for v in resp.get("Versions", []) if v["Key"] == key]


def csv_bytes(rows: int, score: bool, seed: int, tmp_path) -> bytes:
    return write_sample(tmp_path / f"data-{rows}-{seed}-{score}.csv", rows, score=score, seed=seed).read_bytes()


def trained_model(store: ModelStore, model: str) -> str:
    """A small real model stored as a new version of `model`, made `live`."""
    frame = pd.read_csv(io.BytesIO(SAMPLE))
    opts = TrainOptions.from_job({"target": "churned", "num_boost_round": 30})
    trained = train(prepare(frame, opts), opts)
    version = store.save(model, trained.booster, {**trained.metadata, "job_id": f"fixture-{model}"})
    store.move_alias(model, LIVE, version, {"source": "test"}, "fixture")
    return version


def report(capsys, scenario: str, **figures: Any) -> None:
    """Print a scenario's figures (submitted / succeeded / lost / duplicated ...) in the test output."""
    with capsys.disabled():
        sys.stderr.write(f"\n[faults] {scenario}: " + ", ".join(f"{k}={v}" for k, v in figures.items()) + "\n")
