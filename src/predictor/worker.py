"""`python -m predictor.worker`: long-polls the predict queue and scores each dropped file."""

from __future__ import annotations

import sys

from fmlcore.aws import AwsClients
from fmlcore.lease import LeaseStore
from fmlcore.model_store import ModelStore
from fmlcore.settings import Settings
from fmlcore.status import StatusStore
from fmlcore.worker import QueueWorker, main
from predictor.service import BatchService


def build_worker(settings: Settings, clients: AwsClients) -> QueueWorker:
    bucket = settings.require("predictions_bucket")
    store = ModelStore(
        clients.s3,
        settings.require("models_bucket"),
        cache_size=settings.model_cache_size,
        latest_ttl_seconds=settings.model_latest_ttl,
    )
    service = BatchService(settings, clients.s3, store, StatusStore(clients.s3, bucket))
    return QueueWorker(
        clients.sqs,
        settings.require("predict_queue_url"),
        handle=service.run_job,
        on_permanent=service.on_permanent,
        on_retry=service.jobs.on_retry,
        on_released=service.jobs.on_released,
        visibility_timeout=settings.worker_visibility_timeout,
        wait_seconds=settings.worker_wait_seconds,
        retry_base_seconds=settings.worker_retry_base_seconds,
        kind="predict",
        leases=LeaseStore(clients.s3, bucket, ttl_seconds=settings.worker_visibility_timeout),
    )


if __name__ == "__main__":
    sys.exit(main(build_worker))
