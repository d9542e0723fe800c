"""Batch: files through the whole path (put → Lambda → queue → worker → S3 output) vs in-process.

- Worker path: a fresh `python -m predictor.worker` per file (so its VmHWM is that file's peak
  RSS), the file put into the inference bucket, the clock stopped when the job's status
  says `succeeded` (written after the outputs are uploaded). rows/s = rows / (put start →
  succeeded).
- In-process: `python bench/batch.py inprocess ...` in a subprocess: read the same local file
  whole with pyarrow, the booster's categories applied, one `inplace_predict`, the same output
  columns written with pyarrow. rows/s over read + predict + write; its own peak RSS too.

    python bench/batch.py inprocess --model model.ubj --input score.csv --output out.csv
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

from common import MODEL, PY, Procs, RssSampler, Stack, history_at, hwm_mib, percentile, rounded, say, wait_status


# ---------------------------------------------------------------------------- in-process limit
def inprocess(model_path: Path, input_path: Path, output_path: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    import xgboost as xgb

    started = time.perf_counter()
    booster = xgb.Booster()
    booster.load_model(str(model_path))
    names = list(booster.feature_names or [])
    categories = json.loads(booster.attr("fml_metadata") or "{}").get("categories", {})
    parquet = input_path.suffix == ".parquet"
    table = pq.read_table(input_path) if parquet else pacsv.read_csv(input_path)
    frame = table.to_pandas()
    features = frame[names].copy()
    for name, cats in categories.items():
        features[name] = pd.Categorical(features[name], categories=cats)
    t_read = time.perf_counter()
    p = booster.inplace_predict(features)
    t_predict = time.perf_counter()
    frame["prediction"] = (p >= 0.5).astype(np.int64)
    frame["probability_0"] = 1.0 - p
    frame["probability_1"] = p
    out = pa.Table.from_pandas(frame, preserve_index=False)
    if parquet:
        pq.write_table(out, output_path)
    else:
        pacsv.write_csv(out, output_path)
    done = time.perf_counter()
    seconds = done - started
    return {
        "rows": len(frame),
        "seconds": round(seconds, 3),
        "read_seconds": round(t_read - started, 3),
        "predict_seconds": round(t_predict - t_read, 3),
        "write_seconds": round(done - t_predict, 3),
        "rows_per_s": round(len(frame) / seconds, 1),
        "peak_rss_mib": rounded(hwm_mib(os.getpid()), 1),
    }


def run_inprocess(model_path: Path, input_path: Path, work: Path) -> dict[str, Any]:
    output = work / f"inprocess-out{input_path.suffix}"
    done = subprocess.run(
        [PY, __file__, "inprocess", "--model", str(model_path), "--input", str(input_path), "--output", str(output)],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    output.unlink(missing_ok=True)
    if done.returncode:
        raise RuntimeError(f"in-process run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- worker path
def worker_job(stack: Stack, procs: Procs, path: Path, rows: int, label: str) -> dict[str, Any]:
    from latency import drop

    env = stack.env
    inference, predictions = env["FML_INFERENCE_BUCKET"], env["FML_PREDICTIONS_BUCKET"]
    s3 = stack.clients().s3
    # A short long-poll: a message arriving mid-poll is returned at once anyway, and the idle
    # worker then stops within a second instead of finishing a 20 s poll.
    worker = procs.start(
        f"batch-worker-{label}", [PY, "-m", "predictor.worker"], {**env, "FML_WORKER_WAIT_SECONDS": "1"}
    )
    try:
        worker.wait_log("worker started", timeout=60)
        idle_rss = hwm_mib(worker.pid)
        key = f"{MODEL}/batch-{uuid.uuid4().hex[:8]}/{path.name}"
        with RssSampler(worker.pid, interval=0.5) as rss:
            with open(path, "rb") as body:
                job_id, put_at = drop(s3, inference, key, body)
            put_done = time.time()
            record = wait_status(s3, predictions, job_id, {"succeeded"}, timeout=max(600, rows / 2000), interval=0.2)
            finished = time.time()
            peak = hwm_mib(worker.pid)
    finally:
        procs.stop(worker)
    running, succeeded = history_at(record, "running"), history_at(record, "succeeded")
    metrics = record.get("metrics", {})
    seconds = finished - put_at
    _cleanup(s3, inference, key, record)
    return {
        "rows": metrics.get("rows_total"),
        "rows_failed": metrics.get("rows_failed"),
        "bytes": path.stat().st_size,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds, 1),
        "upload_seconds": round(put_done - put_at, 3),
        "put_to_running_s": rounded(running - put_at, 3) if running else None,
        "running_to_succeeded_s": rounded(succeeded - running, 3) if running and succeeded else None,
        "worker_reported_seconds": metrics.get("seconds"),
        "worker_peak_rss_mib": rounded(peak, 1),
        "worker_idle_rss_mib": rounded(idle_rss, 1),
        # RSS sampled every 0.5 s while the job ran: a steady working set vs a rare spike behind the peak.
        "worker_rss_median_mib": rounded(percentile(rss.samples, 50), 1),
        "worker_rss_timeline_mib": [round(v) for v in rss.samples[:: max(1, len(rss.samples) // 60)]],
        "outputs": record.get("outputs", {}),
    }


def _cleanup(s3: Any, inference: str, key: str, record: dict[str, Any]) -> None:
    """Delete the input and output versions, so the emulator's memory does not grow run after run."""
    from fmlcore.core.layout import parse_s3_uri

    targets = [(inference, key, None)]
    outputs = record.get("outputs", {})
    if outputs.get("predictions_uri"):
        bucket, out_key = parse_s3_uri(outputs["predictions_uri"])
        targets.append((bucket, out_key, outputs.get("predictions_version")))
    for bucket, obj_key, version in targets:
        try:
            versions = [version] if version else [
                v["VersionId"] for v in s3.list_object_versions(Bucket=bucket, Prefix=obj_key).get("Versions", [])
            ]  # fmt: skip
            for v in versions:
                s3.delete_object(Bucket=bucket, Key=obj_key, VersionId=v)
        except Exception as exc:
            say(f"cleanup of s3://{bucket}/{obj_key} failed: {exc}")


def split_job(stack: Stack, procs: Procs, path: Path, rows: int, workers: int, split_bytes: int) -> dict[str, Any]:
    """One file split into parts (FML_BATCH_SPLIT_BYTES) and scored by `workers` fresh workers."""
    from latency import drop

    env = {**stack.env, "FML_WORKER_WAIT_SECONDS": "1", "FML_BATCH_SPLIT_BYTES": str(split_bytes)}
    s3 = stack.clients().s3
    inference, predictions = env["FML_INFERENCE_BUCKET"], env["FML_PREDICTIONS_BUCKET"]
    started = [procs.start(f"split-worker-{workers}-{i}", [PY, "-m", "predictor.worker"], env) for i in range(workers)]
    try:
        for worker in started:
            worker.wait_log("worker started", timeout=60)
        key = f"{MODEL}/split-{uuid.uuid4().hex[:8]}/{path.name}"
        with open(path, "rb") as body:
            job_id, put_at = drop(s3, inference, key, body)
        record = wait_status(s3, predictions, job_id, {"succeeded"}, timeout=max(900, rows / 1000), interval=0.5)
        finished = time.time()
        peaks = [hwm_mib(w.pid) for w in started]
        handled = [w.log_path.read_text(errors="replace").count('"msg": "job done"') for w in started]
    finally:
        for worker in started:
            procs.stop(worker)
    seconds = finished - put_at
    _cleanup(s3, inference, key, record)
    return {
        "workers": workers,
        "rows": record.get("metrics", {}).get("rows_total"),
        "parts": record.get("parts", {}).get("total"),
        "messages_per_worker": handled,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds, 1),
        "worker_peak_rss_mib": [rounded(p, 1) for p in peaks],
    }


def split_scaling(stack: Stack, procs: Procs, path: Path, rows: int, parts: int = 8) -> dict[str, Any]:
    """The same file in `parts` parts scored by 1 worker, then by 2: rows/s scaling."""
    split_bytes = -(-path.stat().st_size // parts)
    one = split_job(stack, procs, path, rows, 1, split_bytes)
    say(f"split {rows} rows, {one['parts']} parts, 1 worker: {one['rows_per_s']:.0f} rows/s")
    two = split_job(stack, procs, path, rows, 2, split_bytes)
    say(f"split {rows} rows, {two['parts']} parts, 2 workers: {two['rows_per_s']:.0f} rows/s")
    return {"rows": rows, "bytes": path.stat().st_size, "split_bytes": split_bytes, "one": one, "two": two,
            "scaling": round(two["rows_per_s"] / one["rows_per_s"], 3)}  # fmt: skip


def run(stack: Stack, procs: Procs, model_path: Path, files: dict[str, dict[int, Path]], work: Path) -> dict[str, Any]:
    """`files`: format → rows → path. The smallest size is compared with in-process; every size gives a peak RSS."""
    out: dict[str, Any] = {}
    for fmt, by_size in files.items():
        sizes = sorted(by_size)
        entry: dict[str, Any] = {"sizes": {}}
        for rows in sizes:
            result = worker_job(stack, procs, by_size[rows], rows, f"{fmt}-{rows}")
            entry["sizes"][str(rows)] = result
            say(
                f"batch {fmt} {rows} rows via worker: {result['rows_per_s']:.0f} rows/s, "
                f"peak RSS {result['worker_peak_rss_mib']} MiB"
            )
        base_rows = sizes[0]
        limit = run_inprocess(model_path, by_size[base_rows], work)
        say(f"batch {fmt} {base_rows} rows in-process: {limit['rows_per_s']:.0f} rows/s")
        entry["inprocess"] = limit
        entry["ratio_rows_per_s"] = round(entry["sizes"][str(base_rows)]["rows_per_s"] / limit["rows_per_s"], 3)
        if len(sizes) > 1:
            small = entry["sizes"][str(sizes[0])]["worker_peak_rss_mib"]
            large = entry["sizes"][str(sizes[-1])]["worker_peak_rss_mib"]
            entry["rss_growth"] = {"small_rows": sizes[0], "large_rows": sizes[-1], "ratio": round(large / small, 3)}
        out[fmt] = entry
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("inprocess",))
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(inprocess(args.model, args.input, args.output)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
