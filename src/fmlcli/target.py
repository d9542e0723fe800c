"""Where the CLI's calls go: the local stack (the emulator and APIs on localhost) or AWS.

Local (the default): `.state/local.env`, the KEY=value lines `make localstack-up` writes (the
stack's buckets and roles from fmldev.stack, then the emulator's TLS and operator credentials
from scripts/emulator.py). S3 calls are made as the platform's USER role, assumed with the
operator's credentials exactly as the local processes assume theirs (`Settings` + `AwsClients`),
so the CLI can do what a user may do and nothing more. The APIs are plain HTTP on localhost.

AWS (`--target aws`, `--profile` or `--region`): a boto3 session from the profile; the bucket
names and the API's URL from the Terraform outputs of terraform/envs/aws (`--outputs FILE`, else
`terraform output -json`); every API call SigV4-signed by the CLI (fmlcli.http).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fmlcli.errors import CliError, UsageError
from fmlcli.http import Api, session_signer
from fmlcore.core.errors import ConfigError
from fmlcore.core.settings import parse_env_text

LOCAL_ENV = Path(".state") / "local.env"
DEFAULT_TF_DIR = Path("terraform") / "envs" / "aws"
DEFAULT_TRAINER_URL = "http://127.0.0.1:8081"
DEFAULT_PREDICTOR_URL = "http://127.0.0.1:8080"
# The bucket names as fmldev.stack writes them into local.env (and Terraform's `buckets` output keys).
BUCKET_ENV = {
    "datasets": "FML_DATASETS_BUCKET",
    "models": "FML_MODELS_BUCKET",
    "inference": "FML_INFERENCE_BUCKET",
    "predictions": "FML_PREDICTIONS_BUCKET",
}
USER_ROLE_ENV = "FML_USER_ROLE_ARN"
# Identity variables that would point boto3 somewhere else than the env file's operator credentials.
_FOREIGN_IDENTITY = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")


@dataclass
class Target:
    """The resolved target: bucket names, the two APIs, and an S3 client made on first use
    (listing models needs no S3, and assuming a role costs a call)."""

    name: str
    buckets: Mapping[str, str]
    trainer: Api
    predictor: Api
    make_s3: Callable[[], Any] = field(repr=False)
    _s3: Any = field(default=None, init=False, repr=False)

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = self.make_s3()
        return self._s3

    def bucket(self, kind: str) -> str:
        name = self.buckets.get(kind)
        if not name:
            raise CliError(f"the {self.name} target names no {kind} bucket (have: {', '.join(sorted(self.buckets))})")
        return name


# ---------------------------------------------------------------------------- env file
def find_upwards(start: Path, relative: Path) -> Path | None:
    """`relative` under `start` or under the nearest of its parents that has it."""
    for folder in (start, *start.parents):
        if (folder / relative).exists():
            return folder / relative
    return None


def find_env_file(explicit: str | None, cwd: Path, environ: Mapping[str, str]) -> Path:
    """The local stack's env file: `--env-file`, else `.state/local.env` found from the working
    directory upwards (a checkout's own stack), else FML_ENV_FILE."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise CliError(f"env file {path} not found")
        return path
    found = find_upwards(cwd, LOCAL_ENV)
    if found is not None:
        return found
    if environ.get("FML_ENV_FILE"):
        path = Path(environ["FML_ENV_FILE"])
        if not path.is_file():
            raise CliError(f"FML_ENV_FILE={path} does not exist")
        return path
    raise CliError(
        f"no local stack: {LOCAL_ENV} not found in {cwd} or above, and FML_ENV_FILE is not set "
        "(run `make localstack-up`, pass --env-file, or use --target aws)"
    )


def read_env_file(path: Path) -> dict[str, str]:
    try:
        return parse_env_text(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read env file {path}: {exc.strerror or exc}") from None
    except ConfigError as exc:
        raise CliError(f"{path}: {exc.message}") from None


def apply_stack_environment(stack: Mapping[str, str], environ: MutableMapping[str, str]) -> None:
    """Export the env file into `environ`, as `set -a; . .state/local.env` does for the local
    processes: boto3's credential chain and localstack-client's endpoint (USE_SSL, AWS_CA_BUNDLE)
    read the process environment, not a mapping. When the file brings credentials, a profile or
    session token already in the environment is dropped: it would sign with another identity."""
    environ.update(stack)
    if "AWS_ACCESS_KEY_ID" in stack:
        for name in _FOREIGN_IDENTITY:
            if name not in stack:
                environ.pop(name, None)


def local_buckets(stack: Mapping[str, str]) -> dict[str, str]:
    return {kind: stack[var] for kind, var in BUCKET_ENV.items() if stack.get(var)}


def local_s3(stack: Mapping[str, str]) -> Any:
    """An S3 client of the emulator under the platform's user role (the process environment is
    the env file's from here on: see apply_stack_environment)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from fmlcore.core.aws import AwsClients
    from fmlcore.core.settings import Settings

    role = stack.get(USER_ROLE_ENV) or os.environ.get(USER_ROLE_ENV)
    if not role:
        raise CliError(f"the env file names no {USER_ROLE_ENV}: re-run `make localstack-up`")
    apply_stack_environment(stack, os.environ)
    try:
        return AwsClients(Settings.from_env(os.environ, role_arn=role, target="local")).s3
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"cannot act as the user role {role} on the emulator: {exc}") from None


def local_target(args: Any, environ: Mapping[str, str], cwd: Path) -> Target:
    """The local stack. API URLs: the flags, else FML_TRAINER_URL / FML_PREDICTOR_URL from the
    environment (a test's or your own services on other ports), else the env file, else make run's ports."""
    stack = read_env_file(find_env_file(args.env_file, cwd, environ))

    def url(flag: str | None, var: str, default: str) -> str:
        return flag or environ.get(var) or stack.get(var) or default

    return Target(
        name="local",
        buckets=local_buckets(stack),
        trainer=Api("trainer", url(args.trainer_url, "FML_TRAINER_URL", DEFAULT_TRAINER_URL)),
        predictor=Api("predictor", url(args.predictor_url, "FML_PREDICTOR_URL", DEFAULT_PREDICTOR_URL)),
        make_s3=lambda: local_s3(stack),
    )


# ---------------------------------------------------------------------------- AWS
def output_value(outputs: Mapping[str, Any], name: str) -> Any:
    """One output of `terraform output -json` ({"value": ..., "type": ...}) or of a plain map."""
    if name not in outputs:
        raise CliError(f"the Terraform outputs have no {name!r} (have: {', '.join(sorted(outputs)) or 'none'})")
    raw = outputs[name]
    return raw["value"] if isinstance(raw, dict) and "value" in raw else raw


def load_outputs(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read Terraform outputs {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CliError(f"Terraform outputs {path} are not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"Terraform outputs {path} are not a JSON object")
    return data


def terraform_outputs(tf_dir: Path) -> dict[str, Any]:
    """`terraform -chdir=<tf_dir> output -json`."""
    try:
        done = subprocess.run(
            ["terraform", f"-chdir={tf_dir}", "output", "-json"], capture_output=True, text=True, timeout=120
        )
    except FileNotFoundError:
        raise CliError("terraform is not installed: pass the stack's outputs with --outputs FILE") from None
    except subprocess.TimeoutExpired:
        raise CliError(f"terraform output in {tf_dir} took over 120 s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise CliError(f"terraform output in {tf_dir} failed: {last}")
    try:
        outputs = json.loads(done.stdout or "{}")
    except ValueError:
        raise CliError(f"terraform output in {tf_dir} printed no JSON") from None
    if not outputs:
        raise CliError(f"terraform in {tf_dir} has no outputs: is the AWS stack applied there?")
    return outputs


def aws_target(args: Any, cwd: Path) -> Target:
    import boto3
    from botocore.exceptions import BotoCoreError

    from fmlcore.core.aws import CLIENT_CONFIG

    try:
        session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    except BotoCoreError as exc:  # ProfileNotFound and the like
        raise CliError(str(exc)) from None
    region = session.region_name
    if not region:
        raise CliError("no AWS region: pass --region or set AWS_REGION (or a region in the profile)")
    if args.outputs:
        outputs = load_outputs(Path(args.outputs))
    else:
        tf_dir = Path(args.tf_dir) if args.tf_dir else (find_upwards(cwd, DEFAULT_TF_DIR) or DEFAULT_TF_DIR)
        outputs = terraform_outputs(tf_dir)
    buckets = output_value(outputs, "buckets")
    api_url = output_value(outputs, "api_url")
    if not isinstance(buckets, dict) or not isinstance(api_url, str):
        raise CliError("the Terraform outputs `buckets` (a map) and `api_url` (a URL) have an unexpected shape")
    # Sign for the API's own region (execute-api.<region>.amazonaws.com), whatever the profile's.
    api_region = re.search(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com", api_url)
    sign = session_signer(session, api_region[1] if api_region else region)
    return Target(
        name="aws",
        buckets={k: str(v) for k, v in buckets.items()},
        trainer=Api("trainer", args.trainer_url or api_url, sign),
        predictor=Api("predictor", args.predictor_url or api_url, sign),
        make_s3=lambda: session.client("s3", config=CLIENT_CONFIG),
    )


def resolve(args: Any, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Target:
    """The target the command line asks for: AWS with --target aws, --profile or --region; else local."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    wants_aws = bool(args.profile or args.region)
    if args.target == "local" and wants_aws:
        raise UsageError("--profile and --region select AWS: they cannot go with --target local")
    if args.target == "aws" or wants_aws:
        if args.env_file:
            raise UsageError("--env-file is for the local target")
        return aws_target(args, cwd)
    if args.outputs or args.tf_dir:
        raise UsageError("--outputs and --tf-dir are for the AWS target (--target aws)")
    return local_target(args, environ, cwd)
