"""fargate-ml predictor: scoring core, online prediction API (with stored predictions) and the batch worker."""
