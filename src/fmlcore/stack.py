"""Map the Terraform outputs of a stack (`buckets`, `queues`) to the settings' environment variables.

The bucket and queue names are declared once, in Terraform; the Python side learns them
from `terraform output -json` through this mapping:

    python -m fmlcore.stack outputs.json > local.env     (KEY=value lines, for `set -a; . local.env`)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fmlcore.errors import ConfigError

BUCKET_ENV = {
    "datasets": "FML_DATASETS_BUCKET",
    "models": "FML_MODELS_BUCKET",
    "inference": "FML_INFERENCE_BUCKET",
    "predictions": "FML_PREDICTIONS_BUCKET",
}
QUEUE_ENV = {
    "train": "FML_TRAIN_QUEUE_URL",
    "predict": "FML_PREDICT_QUEUE_URL",
    "train_dlq": "FML_TRAIN_DLQ_URL",
    "predict_dlq": "FML_PREDICT_DLQ_URL",
}


def env_from_outputs(outputs: dict[str, Any], target: str = "local") -> dict[str, str]:
    """Environment variables for the settings, from `terraform output -json` of an env root."""

    def value(name: str) -> dict[str, str]:
        try:
            raw = outputs[name]
        except KeyError as exc:
            raise ConfigError(f"terraform output {name!r} is missing") from exc
        return raw["value"] if isinstance(raw, dict) and "value" in raw else raw

    buckets, queues = value("buckets"), value("queues")
    env = {"FML_TARGET": target}
    for mapping, source in ((BUCKET_ENV, buckets), (QUEUE_ENV, queues)):
        for key, var in mapping.items():
            if key not in source:
                raise ConfigError(f"terraform output lacks {key!r}", {"have": sorted(source)})
            env[var] = source[key]
    return env


def main(argv: list[str]) -> int:
    outputs = json.loads(Path(argv[1]).read_text())
    for name, val in env_from_outputs(outputs).items():
        sys.stdout.write(f"{name}={val}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
