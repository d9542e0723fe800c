"""Every environment variable fargate-ml reads, mapped to a setting in this one place.

Processes build `Settings.from_env(os.environ)` once at start and pass it down; nothing
reads the environment at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from fmlcore.errors import ConfigError

TARGETS = ("aws", "local")


def _env(name: str, help: str, default: str | None = None, cast=str):
    """Declare a setting read from environment variable `name`."""
    return field(default=default, metadata={"env": name, "help": help, "cast": cast})


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    target: str = _env("FML_TARGET", "'aws' (real endpoints) or 'local' (the emulator, via localstack-client)", "aws")
    region: str = _env("AWS_REGION", "AWS region", "us-east-1")
    localstack_host: str | None = _env("LOCALSTACK_HOST", "host:port of the local emulator when FML_TARGET=local", None)
    log_level: str = _env("FML_LOG_LEVEL", "log level", "INFO")

    datasets_bucket: str | None = _env("FML_DATASETS_BUCKET", "bucket users drop training data into")
    models_bucket: str | None = _env("FML_MODELS_BUCKET", "versioned bucket of model artifacts")
    inference_bucket: str | None = _env("FML_INFERENCE_BUCKET", "bucket users drop files to score into")
    predictions_bucket: str | None = _env("FML_PREDICTIONS_BUCKET", "versioned bucket of predictions")
    train_queue_url: str | None = _env("FML_TRAIN_QUEUE_URL", "SQS queue of training jobs")
    predict_queue_url: str | None = _env("FML_PREDICT_QUEUE_URL", "SQS queue of batch prediction jobs")
    train_dlq_url: str | None = _env("FML_TRAIN_DLQ_URL", "dead-letter queue of the train queue")
    predict_dlq_url: str | None = _env("FML_PREDICT_DLQ_URL", "dead-letter queue of the predict queue")

    # The enqueue Lambda: which kind of job its bucket makes, where it sends and records it.
    job_kind: str | None = _env("FML_JOB_KIND", "train or predict (enqueue Lambda)")
    queue_url: str | None = _env("FML_QUEUE_URL", "queue the enqueue Lambda sends to")
    status_bucket: str | None = _env("FML_STATUS_BUCKET", "bucket the enqueue Lambda writes _jobs/ records to")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides) -> Settings:
        values = {}
        for f in fields(cls):
            name = f.metadata["env"]
            raw = environ.get(name)
            if name == "AWS_REGION" and not raw:
                raw = environ.get("AWS_DEFAULT_REGION")
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = f.metadata["cast"](raw)
            except ValueError as exc:
                raise ConfigError(f"{name}={raw!r} is not valid: {exc}", {"variable": name}) from exc
        values.update(overrides)
        settings = cls(**values)
        if settings.target not in TARGETS:
            raise ConfigError(f"FML_TARGET must be one of {TARGETS}, not {settings.target!r}")
        return settings

    def require(self, name: str):
        """The value of setting `name`, or a ConfigError naming its environment variable."""
        value = getattr(self, name)
        if value is None or value == "":
            env = next(f.metadata["env"] for f in fields(self) if f.name == name)
            raise ConfigError(f"setting {name} is not configured: set {env}", {"variable": env})
        return value

    @classmethod
    def documented(cls) -> list[tuple[str, str, str | None]]:
        """(env var, help, default) of every setting, for docs and `--help`."""
        return [(f.metadata["env"], f.metadata["help"], f.default) for f in fields(cls)]
