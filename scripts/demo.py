"""`make demo`: the platform's four flows on the local emulator, shown as a user would see them.

1. batch training: the sample dataset dropped into the datasets bucket (what
   `aws s3 cp ... --metadata target=churned` does) → Lambda → SQS → trainer worker;
2. online training: the same file POSTed to the trainer API with curl (promoted: no worse);
3. promotion: a training on deliberately broken labels is held back as the candidate by the
   gate; promoted by hand, seen in the alias history, rolled back;
4. the model's versions listed with their metrics and aliases;
5. online prediction with curl (with explanations), and the stored prediction fetched back;
6. shadow scoring: the broken version as `shadow`, a few requests, the shadow report;
7. batch prediction: a file dropped into the inference bucket → Lambda → SQS → predictor
   worker; the job's status and the first lines of the result;
8. operating it: `fml predict --wait` (progress from the status record, the result downloaded),
   the predictor's Prometheus metrics, and the completion events the demo's jobs published.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from fmlcore.core.aws import AwsClients
from fmlcore.core.settings import Settings
from fmlcore.jobs.message import job_id_for
from fmlcore.jobs.status import StatusStore
from fmldev.sample_data import write as write_sample

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "churn.csv"
TRAINER = os.environ.get("FML_TRAINER_URL", "http://127.0.0.1:8081")
PREDICTOR = os.environ.get("FML_PREDICTOR_URL", "http://127.0.0.1:8080")
RECORDS = {
    "records": [
        {"tenure_months": 3, "monthly_charges": 94.5, "support_calls": 4, "contract": "month-to-month",
         "payment_method": "electronic-check", "has_internet": "yes"},
        {"tenure_months": 60, "monthly_charges": 25.1, "support_calls": 0, "contract": "two-year",
         "payment_method": "card", "has_internet": "no"},
    ]
}  # fmt: skip


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def http(method: str, url: str, body: bytes | None = None, content_type: str | None = None, file: Path | None = None,
         quiet: bool = False) -> str:  # fmt: skip
    """Run the request with curl when it is installed (as a user would), else urllib; returns the body.

    A body read from `file` is sent as `--data-binary @file`, any other inline with `-d`.
    """
    shown, args = f"curl -s -X {method} '{url}'", []
    if file is not None:
        body = file.read_bytes()
    if content_type:
        args = ["-H", f"Content-Type: {content_type}"]
        if file is not None:
            args += ["--data-binary", f"@{file}"]
            shown += f" -H 'Content-Type: {content_type}' --data-binary @{file.relative_to(ROOT)}"
        else:
            args += ["-d", body.decode()]
            shown += f" -H 'Content-Type: {content_type}' -d '{body.decode()}'"
    if not quiet:
        say(f"$ {shown}")
    if shutil.which("curl"):
        return subprocess.run(
            ["curl", "-s", "-X", method, url, *args], check=True, capture_output=True, text=True
        ).stdout
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type or ""})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.read().decode()
    except urllib.error.HTTPError as exc:  # curl -s prints error bodies too
        return exc.read().decode()


def post_json(url: str, body: dict, method: str = "POST", quiet: bool = False) -> dict:
    return json.loads(http(method, url, json.dumps(body).encode(), "application/json", quiet=quiet))


def pretty(text: str) -> str:
    return json.dumps(json.loads(text), indent=2)


def wait_for_job(statuses: StatusStore, job_id: str, timeout: float = 120) -> dict:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = statuses.get(job_id)
        record = found.to_dict() if found else None  # the JSON users see
        if record and (not seen or seen[-1] != record["state"]):
            seen.append(record["state"])
            say(f"  job {job_id}: {' → '.join(seen)}")
        if record and record["state"] in ("succeeded", "failed"):
            return record
        time.sleep(0.5)
    raise SystemExit(f"job {job_id} did not finish within {timeout} s: see the worker logs in .state/")


def say_events(settings: Settings) -> None:
    """The completion events waiting in the local events queue, one line each (read as the local
    operator: the queue is the operator's, the user role reads no queue)."""
    queue = os.environ.get("FML_EVENTS_QUEUE_URL")
    if not queue:
        say("  (no events queue in this stack)")
        return
    operator = AwsClients(Settings.from_env(os.environ, role_arn=None))
    seen = 0
    while True:
        messages = operator.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get(
            "Messages", []
        )
        if not messages:
            break
        for message in messages:
            event = json.loads(message["Body"])
            record = event["record"]
            reason = (record.get("error") or {}).get("message") or (record.get("promotion") or {}).get("reason", "")
            say(f"  {event['at']}  {event['job_id']}  {event['state']:<13} {event['model']}  {reason[:70]}")
            operator.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            seen += 1
    say(f'  ({seen} event(s); each body is the job\'s whole status record: docs/contracts.md, "Completion events")')


def main() -> int:
    settings = Settings.from_env(os.environ)
    aws = AwsClients(settings)
    say(f"Acting as the platform's user: {aws.log_identity()}")
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
    trained = json.loads(
        http("POST", f"{TRAINER}/models/churn/train?target=churned", file=SAMPLE, content_type="text/csv")
    )
    say(json.dumps(trained, indent=2))
    if "promotion" not in trained:
        return 1

    say("\n== 3. Promotion: train on deliberately broken labels (churned flipped), then decide by hand")
    broken = ROOT / ".state" / "demo" / "churn-broken.csv"
    broken.parent.mkdir(parents=True, exist_ok=True)
    lines = SAMPLE.read_text().splitlines()
    column = lines[0].split(",").index("churned")
    flipped = [",".join(v if i != column else str(1 - int(v)) for i, v in enumerate(r.split(","))) for r in lines[1:]]
    broken.write_text("\n".join([lines[0], *flipped]) + "\n")
    held = json.loads(
        http("POST", f"{TRAINER}/models/churn/train?target=churned", file=broken, content_type="text/csv")
    )
    say(json.dumps({k: held[k] for k in ("version", "metrics", "promotion")}, indent=2))
    say("   held back: the gate scores both models on both reference sets, and on live's rows the new one is worse")
    say(pretty(http("GET", f"{TRAINER}/models/churn/aliases")))
    say("\n   promote it by hand anyway, then look at live's history and roll back")
    say(json.dumps(post_json(f"{TRAINER}/models/churn/aliases/live", {"version": held["version"],
                                                                        "reason": "demo: promoted by hand"}, "PUT"), indent=2))  # fmt: skip
    history = json.loads(http("GET", f"{TRAINER}/models/churn/aliases/live/history?limit=3"))["history"]
    for h in history:
        say(f"  {h['moved_at']}  live → {h['version']}  (from {h['previous_version']}; {h['reason']}; by {h['by']})")
    say(pretty(http("POST", f"{TRAINER}/models/churn/rollback")))

    say("\n== 4. The model's versions, newest first")
    versions = json.loads(http("GET", f"{TRAINER}/models/churn/versions?limit=5"))["versions"]
    for v in versions:
        say(
            f"  {v['version']}  {','.join(v['aliases']) or '-':<15}  {v['trained_at']}  "
            f"auc={v['metrics'].get('auc')}  logloss={v['metrics'].get('logloss')}  from {v['dataset_uri']}"
        )

    say("\n== 5. Online prediction (served by alias live, with explanations): the answer comes back and is stored")
    answer = post_json(f"{PREDICTOR}/models/churn/predict?explain=true", RECORDS)
    say(json.dumps(answer, indent=2))
    say("\n   ...and the stored prediction, fetched back by its id")
    stored = json.loads(http("GET", f"{PREDICTOR}/predictions/{answer['prediction_id']}"))
    say(
        json.dumps({k: stored[k] for k in ("prediction_id", "model_version", "alias", "created_at", "input")}, indent=2)
    )

    say("\n== 6. Shadow scoring: the held-back version as `shadow`, compared on live traffic")
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    say(pretty(http("PUT", f"{TRAINER}/models/churn/aliases/shadow", json.dumps({"version": held["version"]}).encode(),
                    "application/json")))  # fmt: skip
    wait = settings.model_latest_ttl + 1
    say(f"   (each predictor process re-reads its aliases every FML_MODEL_LATEST_TTL, {settings.model_latest_ttl:g} s: "
        f"waiting {wait:g} s, then 20 requests)")  # fmt: skip
    time.sleep(wait)
    for _ in range(20):
        post_json(f"{PREDICTOR}/models/churn/predict", RECORDS, quiet=True)
    say(pretty(http("GET", f"{PREDICTOR}/models/churn/shadow-report?since={since}")))
    say(pretty(http("DELETE", f"{TRAINER}/models/churn/aliases/shadow")))

    say("\n== 7. Batch prediction: drop a file into the inference bucket")
    inference = settings.require("inference_bucket")
    scoring = write_sample(ROOT / ".state" / "demo" / "customers.csv", 5000, score=True, seed=2026)
    say(f"$ aws s3 cp {scoring.relative_to(ROOT)} s3://{inference}/churn/customers.csv")
    version = aws.s3.put_object(Bucket=inference, Key="churn/customers.csv", Body=scoring.read_bytes())["VersionId"]
    predictions = StatusStore(aws.s3, settings.require("predictions_bucket"))
    record = wait_for_job(predictions, job_id_for("predict", inference, "churn/customers.csv", version))
    say(f"$ curl -s {PREDICTOR}/prediction-jobs/{record['job_id']}   (abridged)")
    say(json.dumps({k: record[k] for k in ("state", "model_version", "metrics", "outputs")}, indent=2))
    if record["state"] == "succeeded":
        out_key = record["outputs"]["predictions_uri"].split("/", 3)[3]
        say(f"$ aws s3 cp {record['outputs']['predictions_uri']} - | head -4")
        body = aws.s3.get_object(Bucket=settings.require("predictions_bucket"), Key=out_key)["Body"]
        say("\n".join(body.read(4096).decode().splitlines()[:4]))

    say("\n== 8. Operating it: the fml CLI, the metrics, the completion events")
    scoring = write_sample(ROOT / ".state" / "demo" / "more-customers.csv", 300_000, score=True, seed=2027)
    command = ["fml", "predict", "churn", str(scoring.relative_to(ROOT)), "--wait", "--out", ".state/demo/"]
    say(f"$ {' '.join(command)}")
    cli = subprocess.run([str(Path(sys.executable).parent / "fml"), *command[1:]], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    say(cli.stdout.rstrip())
    if cli.returncode != 0:
        return 1
    say(f"$ curl -s {PREDICTOR}/metrics | grep -E '^fml_(http_requests_total|predict_rows|model_version)'")
    for line in http("GET", f"{PREDICTOR}/metrics", quiet=True).splitlines():
        if line.startswith(("fml_http_requests_total", "fml_predict_rows_total", "fml_model_version_served")):
            say(f"  {line}")
    say(
        '$ aws sqs receive-message --endpoint-url "$AWS_ENDPOINT_URL" --queue-url "$FML_EVENTS_QUEUE_URL"   (as the operator)'
    )
    say_events(settings)

    say("\nLogs: .state/*-api.log, .state/*-worker.log. Stop with `make stop` or `make localstack-down`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
