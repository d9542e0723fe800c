"""Both services' Flask apps, built as gunicorn builds them (`<service>.api:create_app`) but on
stub settings and stub AWS clients: for tests that read what the apps declare (routes, the
OpenAPI document) without any AWS call."""

from __future__ import annotations

import importlib
from unittest import mock

from flask import Flask

from fmlcore.core.settings import Settings

SERVICES = ("trainer", "predictor")
SETTINGS = Settings.from_env(
    {
        "FML_TARGET": "local",
        "FML_MODELS_BUCKET": "m",
        "FML_DATASETS_BUCKET": "d",
        "FML_PREDICTIONS_BUCKET": "p",
        "FML_INFERENCE_BUCKET": "i",
        "FML_TRAIN_QUEUE_URL": "http://q/train",
    }
)


def build_app(service: str, stub_clients: bool = True) -> Flask:
    """The service's app on stub AWS clients, or on real ones aimed at a local endpoint that is
    never called (for tests that exercise request handling up to, not including, AWS)."""
    create_app = importlib.import_module(f"{service}.api").create_app
    return create_app(SETTINGS, clients=mock.MagicMock(name=f"{service} AWS clients") if stub_clients else None)
