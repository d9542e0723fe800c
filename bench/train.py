"""Training: the worker path vs raw `xgboost.train` on the same file, rows, split and params.

- Worker path: a fresh `python -m trainer.worker`; the training CSV is put into the datasets
  bucket with `target`, `num_boost_round` and `early_stopping_rounds` as metadata (equal
  rounds and patience: no early stop, the same work every time); timed from the status record
  (`running` → `succeeded`: read from S3, validate, encode, train, store the model version)
  and end to end from the put.
- Raw: `python bench/train.py raw ...` in a subprocess: pyarrow CSV read, text columns as
  categories, the trainer's seeded 80/20 split, `QuantileDMatrix` + `xgb.train` with the
  params the worker recorded in the model's metadata and the same rounds, then `save_raw`.

Overhead % = worker job time / raw time - 1 (the target uses the job time; end-to-end is
reported too).

    python bench/train.py raw --input train.csv --target churned --rounds 100 --params '{...}'
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from common import PY, TRAIN_MODEL, Procs, Stack, history_at, hwm_mib, rounded, say, wait_status


# ---------------------------------------------------------------------------- raw xgboost.train
def raw(input_path: Path, target: str, rounds: int, params: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    import pyarrow.csv as pacsv
    import xgboost as xgb

    started = time.perf_counter()
    frame = pacsv.read_csv(input_path).to_pandas()
    t_read = time.perf_counter()
    label = frame.pop(target).to_numpy(dtype="float32")
    for name in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[name]):
            frame[name] = frame[name].astype("category")
    # The trainer's split (trainer.training.split): seeded permutation, 20 % held out.
    order = np.random.default_rng(42).permutation(len(label))
    n_valid = max(1, round(len(label) * 0.2))
    train_idx, valid_idx = np.sort(order[n_valid:]), np.sort(order[:n_valid])
    dtrain = xgb.QuantileDMatrix(frame.iloc[train_idx], label[train_idx], enable_categorical=True)
    dvalid = xgb.DMatrix(frame.iloc[valid_idx], label[valid_idx], enable_categorical=True)
    t_matrix = time.perf_counter()
    booster = xgb.train(
        params, dtrain, rounds, evals=[(dvalid, "validation")], early_stopping_rounds=rounds, verbose_eval=False
    )
    t_train = time.perf_counter()
    size = len(booster.save_raw(raw_format="ubj"))
    done = time.perf_counter()
    return {
        "rows": len(label),
        "seconds": round(done - started, 3),
        "read_seconds": round(t_read - started, 3),
        "matrix_seconds": round(t_matrix - t_read, 3),
        "train_seconds": round(t_train - t_matrix, 3),
        "save_seconds": round(done - t_train, 3),
        "trees": booster.num_boosted_rounds(),
        "model_bytes": size,
        "peak_rss_mib": rounded(hwm_mib(os.getpid()), 1),
    }


def run_raw(input_path: Path, target: str, rounds: int, params: dict[str, Any]) -> dict[str, Any]:
    cmd = [PY, __file__, "raw", "--input", str(input_path), "--target", target, "--rounds", str(rounds)]
    done = subprocess.run([*cmd, "--params", json.dumps(params)], capture_output=True, text=True, timeout=3600)
    if done.returncode:
        raise RuntimeError(f"raw training failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- worker path
def run(stack: Stack, procs: Procs, path: Path, rows: int, rounds: int, target: str = "churned") -> dict[str, Any]:
    from latency import drop

    from fmlcore.ml.model_store import ModelStore

    env = stack.env
    datasets, models = env["FML_DATASETS_BUCKET"], env["FML_MODELS_BUCKET"]
    s3 = stack.clients().s3
    worker = procs.start("trainer-worker", [PY, "-m", "trainer.worker"], {**env, "FML_WORKER_WAIT_SECONDS": "1"})
    try:
        worker.wait_log("worker started", timeout=60)
        key = f"{TRAIN_MODEL}/{uuid.uuid4().hex[:8]}-{path.name}"
        meta = {"target": target, "num_boost_round": str(rounds), "early_stopping_rounds": str(rounds)}
        with open(path, "rb") as body:
            job_id, put_at = drop(s3, datasets, key, body, meta)
        record = wait_status(s3, models, job_id, {"succeeded"}, timeout=max(900, rows / 500), interval=0.2)
        finished = time.time()
        peak = hwm_mib(worker.pid)
    finally:
        procs.stop(worker)
    running, succeeded = history_at(record, "running"), history_at(record, "succeeded")
    job_seconds = succeeded - running
    loaded = ModelStore(s3, models).load(TRAIN_MODEL, record["model_version"])
    params = loaded.metadata["params"]
    say(f"training {rows} rows via worker: job {job_seconds:.1f} s; now raw xgboost.train")
    limit = run_raw(path, target, rounds, params)
    e2e = finished - put_at
    return {
        "rows": rows,
        "rounds": rounds,
        "params": params,
        "worker": {
            "job_seconds": round(job_seconds, 3),
            "e2e_seconds": round(e2e, 3),
            "put_to_running_s": rounded(running - put_at, 3),
            "durations": loaded.metadata.get("durations", {}),
            "xgb_train_seconds": loaded.metadata.get("train_seconds"),
            "trees": loaded.metadata.get("num_trees"),
            "peak_rss_mib": rounded(peak, 1),
        },
        "raw": limit,
        "overhead_pct": round((job_seconds / limit["seconds"] - 1) * 100, 1),
        "overhead_e2e_pct": round((e2e / limit["seconds"] - 1) * 100, 1),
    }


def engines(stack: Stack, procs: Procs, path: Path, rows: int, rounds: int, target: str = "churned") -> dict[str, Any]:
    """The same file trained with engine=single and engine=dask (a 2-worker LocalCluster): job
    seconds (running → succeeded, the Dask cluster's start included for its first job) and AUC."""
    from latency import drop

    env = {**stack.env, "FML_WORKER_WAIT_SECONDS": "1", "FML_DASK_WORKERS": "2"}
    s3 = stack.clients().s3
    datasets, models = env["FML_DATASETS_BUCKET"], env["FML_MODELS_BUCKET"]
    worker = procs.start("trainer-worker-engines", [PY, "-m", "trainer.worker"], env)
    out: dict[str, Any] = {"rows": rows, "rounds": rounds}
    try:
        worker.wait_log("worker started", timeout=60)
        for engine in ("single", "dask", "dask"):  # dask twice: a cold cluster, then a warm one
            key = f"{TRAIN_MODEL}/{engine}-{uuid.uuid4().hex[:8]}-{path.name}"
            meta = {"target": target, "num_boost_round": str(rounds), "early_stopping_rounds": str(rounds),
                    "engine": engine, "promote": "never"}  # fmt: skip
            with open(path, "rb") as body:
                job_id, _ = drop(s3, datasets, key, body, meta)
            record = wait_status(s3, models, job_id, {"succeeded"}, timeout=max(900, rows / 500), interval=0.2)
            running, succeeded = history_at(record, "running"), history_at(record, "succeeded")
            name = engine if engine not in out else f"{engine}_warm"
            out[name] = {"job_seconds": round(succeeded - running, 3), "auc": record["metrics"].get("auc"),
                         "peak_rss_mib": rounded(hwm_mib(worker.pid), 1)}  # fmt: skip
            say(f"training {rows} rows engine={name}: {out[name]['job_seconds']} s, auc {out[name]['auc']}")
    finally:
        procs.stop(worker)
    out["auc_delta"] = round(abs(out["dask_warm"]["auc"] - out["single"]["auc"]), 6)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("raw",))
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--target", default="churned")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--params", type=json.loads, default={})
    args = parser.parse_args()
    sys.stdout.write(json.dumps(raw(args.input, args.target, args.rounds, args.params)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
