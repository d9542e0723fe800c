"""Every environment variable fargate-ml reads, mapped to a setting in this one place.

Processes build `Settings.from_env(os.environ)` once at start and pass it down; nothing
reads the environment at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from fmlcore.core.errors import ConfigError

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
    ca_bundle: str | None = _env(
        "AWS_CA_BUNDLE", "certificates that verify the endpoint's TLS (the emulator's own)", None
    )

    # Identity: the environment's credentials are used only to assume this role when it is set.
    role_arn: str | None = _env(
        "FML_ROLE_ARN", "role this process assumes at start (local processes: their workload's role)", None
    )
    role_session_seconds: int = _env(
        "FML_ROLE_SESSION_SECONDS", "lifetime of an assumed role's session (refreshed before it ends)", 3600, int
    )
    iam_audit_dir: str | None = _env(
        "FML_IAM_AUDIT_DIR", "folder where each process records the AWS calls it made (make iam-report)", None
    )

    datasets_bucket: str | None = _env("FML_DATASETS_BUCKET", "bucket users drop training data into")
    models_bucket: str | None = _env("FML_MODELS_BUCKET", "versioned bucket of model artifacts")
    inference_bucket: str | None = _env("FML_INFERENCE_BUCKET", "bucket users drop files to score into")
    predictions_bucket: str | None = _env("FML_PREDICTIONS_BUCKET", "versioned bucket of predictions")
    train_queue_url: str | None = _env("FML_TRAIN_QUEUE_URL", "SQS queue of training jobs")
    predict_queue_url: str | None = _env("FML_PREDICT_QUEUE_URL", "SQS queue of batch prediction jobs")
    train_dlq_url: str | None = _env("FML_TRAIN_DLQ_URL", "dead-letter queue of the train queue")
    predict_dlq_url: str | None = _env("FML_PREDICT_DLQ_URL", "dead-letter queue of the predict queue")
    events_topic_arn: str | None = _env(
        "FML_EVENTS_TOPIC_ARN", "SNS topic every ended job's event is published to (unset: no events)"
    )

    # The enqueue Lambda: which kind of job its bucket makes, where it sends and records it.
    job_kind: str | None = _env("FML_JOB_KIND", "train or predict (enqueue Lambda)")
    queue_url: str | None = _env("FML_QUEUE_URL", "queue the enqueue Lambda sends to")
    status_bucket: str | None = _env("FML_STATUS_BUCKET", "bucket the enqueue Lambda writes _jobs/ records to")

    # Workers (both kinds).
    worker_visibility_timeout: int = _env(
        "FML_WORKER_VISIBILITY_TIMEOUT", "seconds a received job stays hidden; a heartbeat renews it", 60, int
    )
    worker_wait_seconds: int = _env("FML_WORKER_WAIT_SECONDS", "SQS long-poll wait (max 20)", 20, int)
    worker_retry_base_seconds: int = _env(
        "FML_WORKER_RETRY_BASE_SECONDS",
        "first redelivery delay after a transient failure (doubles per attempt)",
        5,
        int,
    )
    job_timeout_seconds: int = _env(
        "FML_JOB_TIMEOUT_SECONDS",
        "a worker's time limit per job; past it the job fails for good (at most 39600: SQS holds a message 12 h)",
        6 * 3600,
        int,
    )
    metrics_namespace: str = _env(
        "FML_METRICS_NAMESPACE",
        "CloudWatch namespace of the workers' job metrics (one embedded-metric-format log line per job attempt)",
        "fargate-ml",
    )
    xgb_nthread: int = _env("FML_XGB_NTHREAD", "XGBoost threads for training and batch jobs (0 = all cores)", 0, int)
    api_xgb_nthread: int = _env(
        "FML_API_XGB_NTHREAD",
        "XGBoost threads per online prediction (gunicorn threads already run requests side by side)",
        1,
        int,
    )
    batch_chunk_rows: int = _env("FML_BATCH_CHUNK_ROWS", "rows scored per chunk in batch prediction", 50_000, int)
    max_dataset_bytes: int = _env(
        "FML_MAX_DATASET_BYTES",
        "largest file read whole: a dataset trained on (in memory), a Parquet file scored (on disk)",
        4 << 30,
        int,
    )
    max_columns: int = _env(
        "FML_MAX_COLUMNS",
        "columns (or distinct JSON keys) any input may have: requests, batch files, datasets",
        2_000,
        int,
    )
    max_line_bytes: int = _env(
        "FML_MAX_LINE_BYTES", "longest line of a CSV or JSON-lines file (a longer one fails the job)", 8 << 20, int
    )
    batch_split_bytes: int = _env(
        "FML_BATCH_SPLIT_BYTES",
        "a batch file larger than this is split into parts of about this size, scored by any worker and "
        "assembled into one output (predictor worker; 0 = never split)",
        256 << 20,
        int,
    )
    max_row_group_bytes: int = _env(
        "FML_MAX_ROW_GROUP_BYTES", "largest uncompressed Parquet row group a batch job reads at once", 1 << 30, int
    )

    # Models.
    model_cache_size: int = _env("FML_MODEL_CACHE_SIZE", "boosters kept in memory per process (LRU)", 8, int)
    model_latest_ttl: float = _env(
        "FML_MODEL_LATEST_TTL",
        "seconds between re-reads of the aliases a process serves (a moved alias reaches every process within this)",
        5.0,
        float,
    )
    train_chunk_rows: int = _env(
        "FML_TRAIN_CHUNK_ROWS", "rows a training job reads at a time from its dataset file (never the whole table)",
        100_000, int,
    )  # fmt: skip
    train_in_memory_bytes: int = _env(
        "FML_TRAIN_IN_MEMORY_BYTES",
        "training matrices estimated larger than this (4 bytes a value) use XGBoost external memory on local disk",
        4 << 30,
        int,
    )
    train_dir: str | None = _env(
        "FML_TRAIN_DIR",
        "local directory for the dataset being trained on and XGBoost's external-memory cache (the task's "
        "ephemeral storage; default the system's temporary directory)",
    )
    dask_scheduler: str | None = _env(
        "FML_DASK_SCHEDULER",
        "address of the Dask scheduler for engine=dask (tcp://host:8786); unset: a LocalCluster the trainer worker starts",
    )
    dask_workers: int = _env(
        "FML_DASK_WORKERS", "Dask workers a distributed training waits for (and a LocalCluster starts)", 2, int
    )
    dask_partition_bytes: int = _env(
        "FML_DASK_PARTITION_BYTES", "bytes of the dataset file per Dask partition (read by one worker)", 64 << 20, int
    )
    dask_min_bytes: int = _env(
        "FML_DASK_MIN_BYTES",
        "datasets of at least this many bytes train on Dask unless the job says engine=single (0: only when asked)",
        16 << 30,
        int,
    )
    dask_ecs_cluster: str | None = _env("FML_DASK_ECS_CLUSTER", "ECS cluster of the Dask services (AWS)")
    dask_ecs_services: str | None = _env(
        "FML_DASK_ECS_SERVICES", "the Dask scheduler and worker ECS services, scaled up for a job and back to zero"
    )
    reference_max_rows: int = _env(
        "FML_REFERENCE_MAX_ROWS",
        "holdout rows kept beside each model version as its reference set for the promotion gate (seeded sample)",
        10_000,
        int,
    )
    shadow_fraction: float = _env(
        "FML_SHADOW_FRACTION", "share of online requests also scored by the `shadow` alias, when it exists", 1.0, float
    )
    shadow_report_max_objects: int = _env(
        "FML_SHADOW_REPORT_MAX_OBJECTS",
        "online prediction objects a shadow report reads at most (newest first; the report says when it stopped)",
        2_000,
        int,
    )

    # HTTP services (gunicorn reads these through its config module).
    web_bind: str | None = _env("FML_BIND", "host:port the API listens on (trainer 127.0.0.1:8081, predictor :8080)")
    web_workers: int = _env("FML_WEB_WORKERS", "gunicorn worker processes", 2, int)
    web_threads: int = _env(
        "FML_WEB_THREADS", "threads per gunicorn worker (gthread; 8 measured best for the predictor on 2 vCPU)", 8, int
    )
    web_timeout: int = _env("FML_WEB_TIMEOUT", "seconds before gunicorn restarts a stuck worker", 90, int)
    max_body_bytes: int = _env("FML_MAX_BODY_BYTES", "largest request body (API Gateway allows 10 MB)", 10 << 20, int)
    capture_window_ms: float = _env(
        "FML_CAPTURE_WINDOW_MS",
        "how long the first online request of a group waits for others to share its S3 PUT (docs/contracts.md)",
        2.0,
        float,
    )
    capture_max_lines: int = _env(
        "FML_CAPTURE_MAX_LINES",
        "online requests one stored object holds at most (a full group is PUT at once)",
        64,
        int,
    )
    max_predict_rows: int = _env(
        "FML_MAX_PREDICT_ROWS", "rows one online prediction request may score (more → 413)", 10_000, int
    )
    sync_train_max_rows: int = _env(
        "FML_SYNC_TRAIN_MAX_ROWS", "rows trained within the request; more → 202", 200_000, int
    )
    sync_train_max_bytes: int = _env(
        "FML_SYNC_TRAIN_MAX_BYTES", "dataset bytes trained within the request; more → 202", 10 << 20, int
    )
    sync_train_max_seconds: float = _env(
        "FML_SYNC_TRAIN_MAX_SECONDS",
        "training seconds within the request; longer → 202 (API Gateway: 30 s)",
        20.0,
        float,
    )

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


def parse_env_text(text: str) -> dict[str, str]:
    """The KEY=value lines of an env file (`.state/local.env`, `.state/emulator.env`) into a dict:
    blank lines and `#` comments skipped, an `export ` prefix and one pair of surrounding quotes
    allowed (what a shell's `set -a; . file` reads too). Anything else is a ConfigError."""
    env = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").lstrip().partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.replace("_", "a").isalnum():
            raise ConfigError(f"line {number} of the env file is not KEY=value: {raw[:80]!r}", {"line": number})
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env
