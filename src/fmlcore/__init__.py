"""The shared code of fargate-ml's services, in four layers; imports run downward only.

    core/  settings, errors, logs, bucket layout, AWS clients, IAM audit hook   stdlib + boto3
    jobs/  job message, status records and their lifecycle, completion events, lease,
           worker loop and its job metrics (EMF), dead letters, redrive       stdlib + boto3
    ml/    feature schema, file formats, model store                         + pandas, xgboost
    web/   Flask plumbing, Prometheus metrics, OpenAPI builders, gunicorn   + flask, orjson,
           settings                                                           prometheus-client

`jobs`, `ml` and `web` import `core` and nothing of each other; `core` imports no other layer.
The Lambda functions (`src/lambdas`) may import only `core` and `jobs`: the Lambda zip holds
only those two, and `tests/unit/test_layers.py` checks every import statement against these rules.
"""
