"""Move dead-lettered jobs back to their queue once the cause is fixed: `make redrive QUEUE=train|predict`.

    python -m fmlcore.jobs.redrive train predict [--max N]

The dead-letter function has marked each such job `dead_lettered` and indexed it under
`_jobs/dead/`; its status record holds the whole job message. For each: the record goes back
to `queued` with a note (keeping the history of its attempts), the message is sent again,
then the index entry is deleted (send first, so a crash in between can only duplicate a job,
and jobs are idempotent). Messages still waiting in the dead-letter queue itself (the
function has not taken them yet, or runs nowhere) are moved back the same way.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from fmlcore.core.aws import AwsClients
from fmlcore.core.errors import FmlError
from fmlcore.core.logs import bind, configure_logging
from fmlcore.core.settings import Settings
from fmlcore.jobs.lifecycle import JobLifecycle
from fmlcore.jobs.message import JobMessage
from fmlcore.jobs.status import StatusStore

log = logging.getLogger("fml.redrive")

# kind → (queue setting, dead-letter queue setting, bucket holding the kind's status records)
QUEUES = {
    "train": ("train_queue_url", "train_dlq_url", "models_bucket"),
    "predict": ("predict_queue_url", "predict_dlq_url", "predictions_bucket"),
}


def redrive(sqs: Any, s3: Any, settings: Settings, kind: str, limit: int | None = None) -> list[str]:
    """Move up to `limit` messages of `kind`'s dead-letter queue back; returns the job ids moved."""
    queue_attr, dlq_attr, bucket_attr = QUEUES[kind]
    queue, dlq = settings.require(queue_attr), settings.require(dlq_attr)
    jobs = JobLifecycle(StatusStore(s3, settings.require(bucket_attr)))
    moved: list[str] = []
    for job_id in jobs.dead_job_ids():
        if limit is not None and len(moved) >= limit:
            return moved
        with bind(job_id=job_id):
            record = jobs.redrive(job_id)
            if record is not None:
                sqs.send_message(QueueUrl=queue, MessageBody=record.message().to_json())
                moved.append(job_id)
                log.info("job redriven", extra={"kind": kind})
            jobs.unindex_dead(job_id)
    while limit is None or len(moved) < limit:
        wanted = 10 if limit is None else min(10, limit - len(moved))
        batch = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=wanted, WaitTimeSeconds=1, VisibilityTimeout=60)
        messages = batch.get("Messages", [])
        if not messages:
            break
        for message in messages:
            try:
                job = JobMessage.from_json(message["Body"])
            except FmlError:
                job = None
            with bind(message_id=message["MessageId"], job_id=job.job_id if job else None):
                # The status first: once the message is back, a worker may pick it up at once.
                if job is not None:
                    jobs.redriven_message(job.job_id)
                sqs.send_message(QueueUrl=queue, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                if job is not None:
                    moved.append(job.job_id)
                log.info("message redriven", extra={"kind": kind})
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kinds", nargs="*", choices=sorted(QUEUES), default=sorted(QUEUES))
    parser.add_argument("--max", type=int, default=None, help="move at most this many messages per queue")
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level)
    aws = AwsClients(settings)
    for kind in args.kinds:
        moved = redrive(aws.sqs, aws.s3, settings, kind, args.max)
        log.info("redrive finished", extra={"kind": kind, "moved": len(moved), "job_ids": moved})
    return 0


if __name__ == "__main__":
    sys.exit(main())
