"""Role sessions of the local processes: assumed with the operator's credentials at start and
renewed by botocore before they end (15 minutes ahead), as an ECS task's are."""

from __future__ import annotations

import os

import pytest

from fmlcore.core.aws import AwsClients
from fmlcore.core.settings import Settings
from fmldev.stack import role_env

pytestmark = pytest.mark.emulator


def access_key(clients: AwsClients) -> str:
    return clients._session.get_credentials().get_frozen_credentials().access_key


@pytest.mark.parametrize(("seconds", "renewed"), [(900, True), (3600, False)])
def test_sessions_are_renewed_before_they_end(settings, seconds, renewed):
    """A 15-minute session (AWS's shortest) is inside the renewal window from the start, so each
    use renews it; a 1-hour session (the default) is kept: the control."""
    role = os.environ[role_env("predictor_api")]
    clients = AwsClients(Settings.from_env(os.environ, role_arn=role, role_session_seconds=seconds))
    first = access_key(clients)
    assert clients.s3.head_bucket(Bucket=settings.predictions_bucket)
    caller = clients.client("sts").get_caller_identity()["Arn"]
    assert ":assumed-role/fargate-ml-local-predictor-api/" in caller
    assert (access_key(clients) != first) is renewed
    assert clients.s3.head_bucket(Bucket=settings.predictions_bucket)  # still allowed on the new session
