"""`python -m predictor.worker`: long-polls the predict queue and scores each dropped file."""

from __future__ import annotations

import sys

from fmlcore.core.aws import AwsClients
from fmlcore.core.settings import Settings
from fmlcore.jobs.events import JobEvents
from fmlcore.jobs.status import StatusStore
from fmlcore.jobs.worker import QueueWorker, main
from fmlcore.ml.model_store import ModelStore
from predictor.service import BatchService


def build_worker(settings: Settings, clients: AwsClients) -> QueueWorker:
    bucket = settings.require("predictions_bucket")
    store = ModelStore.from_settings(clients.s3, settings)
    statuses = StatusStore(clients.s3, bucket)
    events = JobEvents.from_settings(settings, clients)
    service = BatchService(settings, clients.s3, store, statuses, sqs=clients.sqs, events=events)
    queue_url = settings.require("predict_queue_url")
    return QueueWorker.for_jobs(
        settings,
        clients,
        "predict",
        queue_url,
        bucket,
        service.run_job,
        service.jobs,
        on_permanent=service.on_permanent,
    )


if __name__ == "__main__":
    sys.exit(main(build_worker))
