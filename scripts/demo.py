"""`make demo`: the main job on the local emulator, shown as a user would see it.

Drops the sample dataset into the datasets bucket (as `aws s3 cp` would), then shows the
job message the enqueue Lambda put on the train queue and the job's status record.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from fmlcore.aws import AwsClients
from fmlcore.jobs import JobMessage, job_id_for
from fmlcore.settings import Settings
from fmlcore.status import StatusStore

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "churn.csv"


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> int:
    settings = Settings.from_env(os.environ)
    aws = AwsClients(settings)
    bucket, key = settings.require("datasets_bucket"), "churn/churn.csv"
    say(f"$ aws s3 cp {SAMPLE.relative_to(Path.cwd())} s3://{bucket}/{key} --metadata target=churned")
    version = aws.s3.put_object(Bucket=bucket, Key=key, Body=SAMPLE.read_bytes(), Metadata={"target": "churned"})[
        "VersionId"
    ]
    job_id = job_id_for("train", bucket, key, version)
    say(f"uploaded version {version}; expecting job {job_id}\n")

    statuses = StatusStore(aws.s3, settings.require("models_bucket"))
    deadline = time.monotonic() + 20
    message = None
    while time.monotonic() < deadline and message is None:
        resp = aws.sqs.receive_message(
            QueueUrl=settings.require("train_queue_url"), MaxNumberOfMessages=10, WaitTimeSeconds=2, VisibilityTimeout=0
        )
        message = next((m for m in resp.get("Messages", []) if job_id in m["Body"]), None)
    if message is None:
        say("no job message arrived within 20 s: see .state/ministack.log")
        return 1
    say("job message on the train queue:")
    say(json.dumps(JobMessage.from_json(message["Body"]).to_dict(), indent=2))
    say(f"\nstatus record {statuses.uri(job_id)}:")
    say(json.dumps(statuses.require(job_id), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
