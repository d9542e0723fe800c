"""`make demo`: the platform's main jobs on the local emulator, shown as a user would see them.

1. batch training: the sample dataset dropped into the datasets bucket (what
   `aws s3 cp ... --metadata target=churned` does) → Lambda → SQS → trainer worker;
2. online training: the same file POSTed to the trainer API with curl;
3. both model versions listed with their metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fmlcore.aws import AwsClients
from fmlcore.jobs import job_id_for
from fmlcore.settings import Settings
from fmlcore.status import StatusStore

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "churn.csv"
TRAINER = os.environ.get("FML_TRAINER_URL", "http://127.0.0.1:8081")


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def http(method: str, url: str, body: bytes | None = None, content_type: str | None = None) -> str:
    """Run the request with curl when it is installed (as a user would), else urllib; returns the body."""
    shown = f"curl -s -X {method} '{url}'"
    if content_type:
        shown += f" -H 'Content-Type: {content_type}' --data-binary @{SAMPLE.relative_to(ROOT)}"
    say(f"$ {shown}")
    if shutil.which("curl"):
        cmd = ["curl", "-s", "-X", method, url]
        if content_type:
            cmd += ["-H", f"Content-Type: {content_type}", "--data-binary", f"@{SAMPLE}"]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type or ""})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read().decode()


def pretty(text: str) -> str:
    return json.dumps(json.loads(text), indent=2)


def wait_for_job(statuses: StatusStore, job_id: str, timeout: float = 60) -> dict:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = statuses.get(job_id)
        if record and (not seen or seen[-1] != record["state"]):
            seen.append(record["state"])
            say(f"  job {job_id}: {' → '.join(seen)}")
        if record and record["state"] in ("succeeded", "failed"):
            return record
        time.sleep(0.5)
    raise SystemExit(f"job {job_id} did not finish within {timeout} s: see .state/trainer-worker.log")


def main() -> int:
    settings = Settings.from_env(os.environ)
    aws = AwsClients(settings)
    statuses = StatusStore(aws.s3, settings.require("models_bucket"))
    bucket, key = settings.require("datasets_bucket"), "churn/churn.csv"

    say("== 1. Batch training: drop a dataset into the datasets bucket")
    say(f"$ aws s3 cp {SAMPLE.relative_to(ROOT)} s3://{bucket}/{key} --metadata target=churned")
    version = aws.s3.put_object(Bucket=bucket, Key=key, Body=SAMPLE.read_bytes(), Metadata={"target": "churned"})[
        "VersionId"
    ]
    say(f"  uploaded as version {version}; the S3 event → enqueue Lambda → train queue → worker")
    record = wait_for_job(statuses, job_id_for("train", bucket, key, version))
    if record["state"] != "succeeded":
        say(json.dumps(record["error"], indent=2))
        return 1
    say(f"$ curl -s {TRAINER}/training-jobs/{record['job_id']}   (abridged)")
    say(
        json.dumps(
            {k: record[k] for k in ("state", "attempts", "model_version", "metrics", "outputs", "history")}, indent=2
        )
    )

    say("\n== 2. Online training: POST the same data to the trainer API")
    say(pretty(http("POST", f"{TRAINER}/models/churn/train?target=churned", SAMPLE.read_bytes(), "text/csv")))

    say("\n== 3. The model's versions, newest first")
    versions = json.loads(http("GET", f"{TRAINER}/models/churn/versions"))["versions"]
    for v in versions:
        say(
            f"  {v['version']}  {'latest' if v['is_latest'] else '      '}  {v['trained_at']}  "
            f"auc={v['metrics'].get('auc')}  logloss={v['metrics'].get('logloss')}  from {v['dataset_uri']}"
        )
    say("\nLogs: .state/trainer-api.log, .state/trainer-worker.log. Stop with `make stop` or `make localstack-down`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
