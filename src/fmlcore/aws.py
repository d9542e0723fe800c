"""The one place that decides where AWS calls go.

FML_TARGET=local aims every client at the local emulator through localstack-client, which
honours AWS_ENDPOINT_URL and LOCALSTACK_HOST (default 127.0.0.1:4566 here); FML_TARGET=aws
uses boto3's normal resolution (IAM role, profile, AWS_ENDPOINT_URL_<SERVICE> if set).
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from fmlcore.settings import Settings

log = logging.getLogger("fml.aws")

DEFAULT_LOCALSTACK_HOST = "127.0.0.1:4566"

# Standard retry mode backs off on throttling and connection errors; a pool large enough
# for gunicorn threads sharing one client.
CLIENT_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32)


def make_session(settings: Settings) -> Any:
    """A boto3-like session for the configured target."""
    if settings.target == "local":
        from localstack_client.session import Session as LocalSession

        return LocalSession(
            region_name=settings.region,
            localstack_host=settings.localstack_host or DEFAULT_LOCALSTACK_HOST,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
    return boto3.session.Session(region_name=settings.region)


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
        self._session = make_session(settings)
        self._config = config

    def client(self, service: str) -> Any:
        client = self._session.client(service, config=self._config)
        client.meta.events.register("needs-retry", _log_retry)
        return client

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def sqs(self) -> Any:
        return self.client("sqs")


def local_endpoint(localstack_host: str | None = None) -> str:
    """The emulator's URL as localstack-client resolves it: AWS_ENDPOINT_URL, else LOCALSTACK_HOST."""
    from localstack_client.config import get_service_endpoint

    return get_service_endpoint("s3", localstack_host=localstack_host or _env_localstack_host())


def _env_localstack_host() -> str:
    import os

    return os.environ.get("LOCALSTACK_HOST") or DEFAULT_LOCALSTACK_HOST


if __name__ == "__main__":  # `python -m fmlcore.aws`: print the local endpoint (used by the Makefile)
    import sys

    sys.stdout.write(local_endpoint() + "\n")
