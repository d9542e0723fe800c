"""Shared core of fargate-ml: settings, AWS clients, bucket layout, job messages, job status, logs, errors.

Only the standard library and boto3 are imported by the modules the enqueue Lambda uses
(settings, aws, layout, jobs, status, logs, errors); model code lives in modules that
import xgboost/pandas and is imported only by the trainer and the predictor.
"""
