"""`python -m trainer.worker`: long-polls the train queue and trains each job."""

from __future__ import annotations

import sys

from fmlcore.aws import AwsClients
from fmlcore.lease import LeaseStore
from fmlcore.model_store import ModelStore
from fmlcore.settings import Settings
from fmlcore.status import StatusStore
from fmlcore.worker import QueueWorker, main
from trainer.service import TrainingService


def build_worker(settings: Settings, clients: AwsClients) -> QueueWorker:
    bucket = settings.require("models_bucket")
    store = ModelStore(clients.s3, bucket, cache_size=1)
    service = TrainingService(settings, clients.s3, store, StatusStore(clients.s3, bucket))
    return QueueWorker(
        clients.sqs,
        settings.require("train_queue_url"),
        handle=service.run_job,
        on_permanent=service.jobs.on_permanent,
        on_retry=service.jobs.on_retry,
        on_released=service.jobs.on_released,
        visibility_timeout=settings.worker_visibility_timeout,
        wait_seconds=settings.worker_wait_seconds,
        retry_base_seconds=settings.worker_retry_base_seconds,
        kind="train",
        leases=LeaseStore(clients.s3, bucket, ttl_seconds=settings.worker_visibility_timeout),
    )


if __name__ == "__main__":
    sys.exit(main(build_worker))
