"""The one place that decides where AWS calls go and under which identity.

FML_TARGET=local aims every client at the local emulator: localstack-client resolves its URL
(AWS_ENDPOINT_URL, else LOCALSTACK_HOST, default 127.0.0.1:4566; https when USE_SSL=1), and
the emulator's certificate is verified against AWS_CA_BUNDLE (written by `make
localstack-up`). localstack-client's own Session is not used: it hard-codes verify=False and
drops session tokens, so it can neither check the certificate nor carry a role's session.
FML_TARGET=aws uses boto3's normal resolution (task role, profile, AWS_ENDPOINT_URL_<SERVICE>).

Credentials come from the environment as for any AWS SDK. With FML_ROLE_ARN set, a process
uses them only to assume that role at start, and botocore refreshes the session before it
expires: locally each API and worker runs under its own role, as an ECS task does.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from functools import cached_property
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

from fmlcore.core import iam_audit
from fmlcore.core.settings import Settings

log = logging.getLogger("fml.aws")

DEFAULT_LOCALSTACK_HOST = "127.0.0.1:4566"

# Standard retry mode backs off on throttling and connection errors; a pool large enough
# for gunicorn threads sharing one client.
CLIENT_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32)


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Endpoint and certificate arguments of every client for the configured target."""
    if settings.target != "local":
        return {}
    # verify=None leaves botocore's own default (AWS_CA_BUNDLE, else the system store).
    return {"endpoint_url": local_endpoint(settings.localstack_host), "verify": settings.ca_bundle or None}


def session_name(role_arn: str) -> str:
    """An AssumeRole session name saying which host and process holds the session."""
    role = role_arn.rsplit("/", 1)[-1]
    name = re.sub(r"[^\w+=,.@-]", "-", f"{role}@{socket.gethostname()}.{os.getpid()}")
    return name[:64]


def assume_role_session(base: Any, settings: Settings, role_arn: str) -> boto3.session.Session:
    """A session with `role_arn`'s credentials, assumed with `base`'s and refreshed before they expire."""
    sts = base.client("sts", config=CLIENT_CONFIG, **client_kwargs(settings))
    name = session_name(role_arn)

    def fetch() -> dict[str, str]:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=name, DurationSeconds=settings.role_session_seconds)[
            "Credentials"
        ]
        log.info("assumed role", extra={"role_arn": role_arn, "expires": creds["Expiration"].isoformat()})
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    core = botocore.session.get_session()
    # botocore has no public setter for a refreshable source; this is how its own providers install one.
    core._credentials = RefreshableCredentials.create_from_metadata(fetch(), fetch, "assume-role")
    return boto3.session.Session(botocore_session=core, region_name=settings.region)


def make_session(settings: Settings) -> boto3.session.Session:
    """A boto3 session for the configured target, under FML_ROLE_ARN's role when it is set."""
    base = boto3.session.Session(region_name=settings.region)
    return assume_role_session(base, settings, settings.role_arn) if settings.role_arn else base


def _log_retry(
    attempts: int = 0, caught_exception: Exception | None = None, response=None, operation=None, **_
) -> None:
    """Make botocore's own retries visible: an unreachable or throttling endpoint shows in the logs."""
    status = (response or (None, {}))[1].get("ResponseMetadata", {}).get("HTTPStatusCode") if response else None
    if caught_exception is not None or (status is not None and status >= 500) or status == 429:
        log.warning(
            "AWS call %s failed (attempt %s), botocore retries with backoff: %s",
            getattr(operation, "name", "?"),
            attempts,
            caught_exception or f"HTTP {status}",
        )
    return None


# What S3, SQS and STS answer when a policy refuses a call: the process's role lacks a
# permission, which no retry can fix.
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError", "403", "Forbidden"})

NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404", "NotFound"})
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "SlowDown",
        "RequestTimeout",
        "ServiceUnavailable",
        "InternalError",
        "503",
        "500",
    }
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_not_found(exc: BaseException) -> bool:
    """True for S3's 'no such key/version/bucket' answers, however they are spelled."""
    return error_code(exc) in NOT_FOUND_CODES


def is_access_denied(exc: BaseException) -> bool:
    """True when IAM or a bucket policy refused the call."""
    return error_code(exc) in ACCESS_DENIED_CODES


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same call later may succeed: throttling, 5xx, no connection."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in TRANSIENT_CODES or status >= 500
    return isinstance(exc, BotoCoreError)


class AwsClients:
    """The AWS clients of one process, created once on first use and then shared (thread-safe)."""

    def __init__(self, settings: Settings, config: Config = CLIENT_CONFIG) -> None:
        self._settings = settings
        self._session = make_session(settings)
        self._config = config
        self._audit = iam_audit.Recorder.from_settings(settings)

    def client(self, service: str) -> Any:
        client = self._session.client(service, config=self._config, **client_kwargs(self._settings))
        client.meta.events.register("needs-retry", _log_retry)
        if self._audit is not None:
            self._audit.attach(client)
        return client

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def sqs(self) -> Any:
        return self.client("sqs")

    @cached_property
    def sns(self) -> Any:
        return self.client("sns")

    def credentials(self) -> Any:
        """This process's current credentials (access key, secret, token), for tools that sign
        their own requests (pyarrow's S3 filesystem reading the predictions bucket)."""
        return self._session.get_credentials().get_frozen_credentials()

    def log_identity(self) -> str | None:
        """Log, once at start, the identity this process's calls are made under (`caller`)."""
        try:
            caller = self.client("sts").get_caller_identity()["Arn"]
        except Exception as exc:  # the identity is for the log: a process still starts without it
            log.warning("could not tell the AWS identity: %s", exc)
            return None
        log.info("AWS identity", extra={"caller": caller})
        if self._audit is not None:
            self._audit.caller = caller
        return caller


def local_endpoint(localstack_host: str | None = None) -> str:
    """The emulator's URL as localstack-client resolves it: AWS_ENDPOINT_URL, else LOCALSTACK_HOST."""
    from localstack_client.config import get_service_endpoint

    return get_service_endpoint("s3", localstack_host=localstack_host or _env_localstack_host())


def _env_localstack_host() -> str:
    import os

    return os.environ.get("LOCALSTACK_HOST") or DEFAULT_LOCALSTACK_HOST


if __name__ == "__main__":  # `python -m fmlcore.core.aws`: print the local endpoint (used by the Makefile)
    import sys

    sys.stdout.write(local_endpoint() + "\n")
