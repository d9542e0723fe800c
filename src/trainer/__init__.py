"""fargate-ml trainer: training core, the train-queue worker and the training HTTP API."""
