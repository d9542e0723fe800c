"""Map the Terraform outputs of a stack (`buckets`, `queues`, `roles`) to environment variables.

The bucket, queue and role names are declared once, in Terraform; the Python side learns
them from `terraform output -json` through this mapping:

    python -m fmldev.stack outputs.json > local.env     (KEY=value lines, for `set -a; . local.env`)
    python -m fmldev.stack --aws-config outputs.json emulator.env > aws-config
                                                         (AWS config profiles for the local stack)
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from fmlcore.core.errors import ConfigError
from fmlcore.core.settings import parse_env_text

BUCKET_ENV = {
    "datasets": "FML_DATASETS_BUCKET",
    "models": "FML_MODELS_BUCKET",
    "inference": "FML_INFERENCE_BUCKET",
    "predictions": "FML_PREDICTIONS_BUCKET",
}
# Where ended jobs are announced (both envs: events_topic_arn), and locally the queue subscribed to it.
EVENTS_TOPIC_ENV = "FML_EVENTS_TOPIC_ARN"
EVENTS_QUEUE_ENV = "FML_EVENTS_QUEUE_URL"
QUEUE_ENV = {
    "train": "FML_TRAIN_QUEUE_URL",
    "predict": "FML_PREDICT_QUEUE_URL",
    "train_dlq": "FML_TRAIN_DLQ_URL",
    "predict_dlq": "FML_PREDICT_DLQ_URL",
}

# Each local process assumes its workload's role: FML_ROLE_ARN=$FML_ROLE_ARN_<WORKLOAD>.
WORKLOADS = ("trainer_api", "trainer_worker", "predictor_api", "predictor_worker", "enqueue")
USER_ROLE_ENV = "FML_USER_ROLE_ARN"


def role_env(workload: str) -> str:
    """The variable holding `workload`'s role ARN (FML_ROLE_ARN_TRAINER_API, ...)."""
    return f"FML_ROLE_ARN_{workload.upper()}"


# `python -m trainer.worker`, `gunicorn ... predictor.api:create_app()`: which workload a command runs.
_WORKLOAD_IN_COMMAND = re.compile(r"\b(trainer|predictor)\.(worker|api)\b")


def with_role(command: list[str], env: dict[str, str]) -> dict[str, str]:
    """`env` plus FML_ROLE_ARN for the workload `command` runs, taken from env's
    FML_ROLE_ARN_<WORKLOAD>: each local process under its own role, as on ECS. An env that
    names FML_ROLE_ARN already, or holds no role ARNs (a stack without roles), is left as it is."""
    match = _WORKLOAD_IN_COMMAND.search(" ".join(command))
    if match is None or "FML_ROLE_ARN" in env:
        return env
    arn = env.get(role_env(f"{match[1]}_{match[2]}"))
    return {**env, "FML_ROLE_ARN": arn} if arn else env


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
    if "events_topic_arn" in outputs:
        env[EVENTS_TOPIC_ENV] = value("events_topic_arn")
    if "notifications" in outputs:  # the local stack: a queue subscribed to the topic, to read events from
        env[EVENTS_QUEUE_ENV] = value("notifications")["queue_url"]
    if "roles" in outputs:  # the local stack: processes assume these roles themselves
        roles = value("roles")
        if set(roles) != set(WORKLOADS):
            raise ConfigError("terraform output roles must name exactly the five workloads", {"have": sorted(roles)})
        env.update({role_env(w): roles[w] for w in WORKLOADS})
        env[USER_ROLE_ENV] = value("user_role_arn")
    return env


USER_PROFILE = "fml-user"
OPERATOR_PROFILE = "fml-local-operator"


def aws_config(
    outputs: dict[str, Any], emulator_env: dict[str, str], endpoint: str, region: str, session_name: str
) -> str:
    """An AWS config file with two profiles for the local stack: the operator (the emulator's
    account root, which Terraform uses) and `fml-user`, the platform's user role assumed with it.

        AWS_CONFIG_FILE=.state/aws-config aws --profile fml-user s3 cp data.csv s3://<datasets>/<model>/

    `session_name` is the user role's session name, new at each `make localstack-up`: the aws CLI
    caches assumed-role credentials (~/.aws/cli/cache) under a key that holds it, and a session of
    an emulator since stopped is unknown to the next one (InvalidAccessKeyId until it expires).
    """
    env = env_from_outputs(outputs)
    common = {"region": region, "endpoint_url": endpoint}
    if emulator_env.get("AWS_CA_BUNDLE"):
        common["ca_bundle"] = emulator_env["AWS_CA_BUNDLE"]
    profiles = {
        OPERATOR_PROFILE: {
            "aws_access_key_id": emulator_env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": emulator_env["AWS_SECRET_ACCESS_KEY"],
            **common,
        },
        USER_PROFILE: {
            "role_arn": env[USER_ROLE_ENV],
            "role_session_name": session_name,
            "source_profile": OPERATOR_PROFILE,
            **common,
        },
    }
    return "\n".join(
        f"[profile {name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) for name, values in profiles.items()
    )


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines (as written by scripts/emulator.py) into a dict."""
    return parse_env_text(path.read_text())


def main(argv: list[str]) -> int:
    if argv[1] == "--aws-config":
        import os

        from fmlcore.core.aws import local_endpoint

        emulator_env = read_env_file(Path(argv[3]))
        os.environ["USE_SSL"] = emulator_env.get("USE_SSL", "0")  # the scheme the emulator serves
        outputs = json.loads(Path(argv[2]).read_text())
        session_name = time.strftime(f"{USER_PROFILE}-%Y%m%dT%H%M%SZ", time.gmtime())
        region = os.environ.get("AWS_REGION", "us-east-1")
        sys.stdout.write(aws_config(outputs, emulator_env, local_endpoint(), region, session_name))
        return 0
    outputs = json.loads(Path(argv[1]).read_text())
    for name, val in env_from_outputs(outputs).items():
        sys.stdout.write(f"{name}={val}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
