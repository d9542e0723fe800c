"""Fixtures for tests against the running local stack (`make localstack-up` provides it)."""

import os
import time
import uuid

import pytest

from fmlcore.aws import AwsClients
from fmlcore.settings import Settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    s = Settings.from_env(os.environ)
    if s.target != "local" or not s.datasets_bucket:
        pytest.fail("the local stack's settings are not in the environment: run through `make test` or `make pytest`")
    return s


@pytest.fixture(scope="session")
def aws(settings) -> AwsClients:
    return AwsClients(settings)


@pytest.fixture
def unique() -> str:
    """A short unique token for object keys and model names of one test."""
    return uuid.uuid4().hex[:10]


def receive_until(sqs, queue_url: str, match, timeout: float = 10.0, visibility: int = 30):
    """Receive from `queue_url` until `match(message)` is true; returns that message or None.

    Messages that do not match are deleted: in tests the queues hold only test traffic.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wait = max(1, min(5, int(deadline - time.monotonic())))
        resp = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            VisibilityTimeout=visibility,
            AttributeNames=["All"],
        )
        for message in resp.get("Messages", []):
            if match(message):
                return message
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return None
