"""`python -m trainer.worker`: long-polls the train queue and trains each job."""

from __future__ import annotations

import sys

from fmlcore.core.aws import AwsClients
from fmlcore.core.settings import Settings
from fmlcore.jobs.events import JobEvents
from fmlcore.jobs.status import StatusStore
from fmlcore.jobs.worker import QueueWorker, main
from fmlcore.ml.model_store import ModelStore
from trainer.dask_engine import DaskCluster
from trainer.service import TrainingService


def build_worker(settings: Settings, clients: AwsClients) -> QueueWorker:
    bucket = settings.require("models_bucket")
    store = ModelStore.from_settings(clients.s3, settings, cache_size=1)
    dask = DaskCluster(settings, clients)  # started on the first engine=dask job
    statuses = StatusStore(clients.s3, bucket)
    events = JobEvents.from_settings(settings, clients)
    service = TrainingService(settings, clients.s3, store, statuses, dask=dask, events=events)
    queue_url = settings.require("train_queue_url")
    return QueueWorker.for_jobs(settings, clients, "train", queue_url, bucket, service.run_job, service.jobs)


if __name__ == "__main__":
    sys.exit(main(build_worker))
