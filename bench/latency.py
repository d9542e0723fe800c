"""Latency from an S3 put to the job's `running` state, with a warm predictor worker.

One worker (default settings: 20 s long poll) is started and warmed with one unmeasured
drop; then each measured drop is a small CSV put into the inference bucket, and the bench
waits for the job to succeed before the next one, so the worker is idle in its long poll
each time, as in production. Times come from the status record's `history` (`queued` is
written by the Lambda, `running` by the worker) against the wall clock just before the put.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from common import MODEL, PY, Procs, Stack, history_at, percentile, rounded, say, wait_status

from fmlcore.jobs.message import job_id_for


def drop(s3: Any, bucket: str, key: str, body: Any, metadata: dict[str, str] | None = None) -> tuple[str, float]:
    """Put `body` at `key`; returns (the job id the enqueue Lambda derives from it, wall time before the put)."""
    put_at = time.time()
    resp = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata or {})
    version = resp.get("VersionId")
    if not version:
        raise RuntimeError(f"bucket {bucket} gave no VersionId: is versioning on?")
    kind = "train" if "datasets" in bucket else "predict"
    return job_id_for(kind, bucket, key, version), put_at


def run(stack: Stack, procs: Procs, drops: int, body: bytes) -> dict[str, Any]:
    env = stack.env
    inference, predictions = env["FML_INFERENCE_BUCKET"], env["FML_PREDICTIONS_BUCKET"]
    s3 = stack.clients().s3
    worker = procs.start("latency-worker", [PY, "-m", "predictor.worker"], env)
    try:
        worker.wait_log("worker started", timeout=60)
        token = uuid.uuid4().hex[:8]
        samples = []
        for i in range(drops + 1):  # the first drop warms the Lambda and the worker's model cache
            job_id, put_at = drop(s3, inference, f"{MODEL}/latency-{token}/drop-{i}.csv", body)
            record = wait_status(s3, predictions, job_id, {"succeeded"}, timeout=120, interval=0.05)
            queued, running, done = (history_at(record, s) for s in ("queued", "running", "succeeded"))
            if i == 0:
                continue
            sample = {
                "put_to_queued_s": rounded(queued - put_at, 3) if queued else None,
                "queued_to_running_s": rounded(running - queued, 3) if queued and running else None,
                "put_to_running_s": rounded(running - put_at, 3) if running else None,
                "put_to_succeeded_s": rounded(done - put_at, 3) if done else None,
            }
            samples.append(sample)
            say(f"latency drop {i}/{drops}: put→running {sample['put_to_running_s']} s")
            time.sleep(0.5)  # let the worker return to its long poll
    finally:
        # Graceful: a worker killed inside its long poll can still be handed the next message by
        # SQS, which then stays invisible for the visibility timeout. It finishes its poll (up to
        # 20 s) in the background while the next section runs (run.py runs this one first).
        procs.stop_soon(worker)

    def stat(name: str) -> dict[str, float | None]:
        values = [s[name] for s in samples if s[name] is not None]
        return {"median": rounded(percentile(values, 50), 3), "p95": rounded(percentile(values, 95), 3)}

    return {
        "drops": drops,
        "rows_per_drop": body.count(b"\n") - 1,
        "put_to_running_s": stat("put_to_running_s"),
        "put_to_queued_s": stat("put_to_queued_s"),
        "queued_to_running_s": stat("queued_to_running_s"),
        "put_to_succeeded_s": stat("put_to_succeeded_s"),
        "samples": samples,
    }
