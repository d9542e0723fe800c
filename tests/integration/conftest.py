"""Fixtures for tests against the running local stack (`make localstack-up` provides it)."""

import os
import sys
import time
import uuid
from pathlib import Path

import pytest

from fmlcore.core.aws import AwsClients
from fmlcore.core.settings import Settings
from fmldev.procs import Proc, Procs, free_port
from fmldev.stack import USER_ROLE_ENV, role_env

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def settings() -> Settings:
    s = Settings.from_env(os.environ)
    if s.target != "local" or not s.datasets_bucket:
        pytest.fail("the local stack's settings are not in the environment: run through `make test` or `make pytest`")
    return s


@pytest.fixture(scope="session")
def aws(settings) -> AwsClients:
    """The test harness's own clients: the local operator (the emulator's account root), for
    setting scenes up and inspecting them (queues, dead letters, fixture models)."""
    return AwsClients(settings)


@pytest.fixture(scope="session")
def user(settings) -> AwsClients:
    """A user of the platform: the user role defined in Terraform (puts datasets and files to
    score, reads predictions and job status), as `aws --profile fml-user` would be."""
    return AwsClients(Settings.from_env(os.environ, role_arn=os.environ[USER_ROLE_ENV]))


def as_role(settings: Settings, workload: str) -> AwsClients:
    """Clients under one workload's role (trainer_api, predictor_worker, ...), as its process has them."""
    return AwsClients(Settings.from_env(os.environ, role_arn=os.environ[role_env(workload)]))


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


@pytest.fixture(scope="session")
def proc_env(settings) -> dict[str, str]:
    """The environment for processes under test: the stack's settings plus fast worker timings."""
    return {
        **os.environ,
        "FML_WORKER_WAIT_SECONDS": "1",
        "FML_WORKER_VISIBILITY_TIMEOUT": "30",
        "FML_WORKER_RETRY_BASE_SECONDS": "1",
        "FML_MODEL_LATEST_TTL": "0.5",
    }


@pytest.fixture(scope="module")
def start_proc(tmp_path_factory):
    """Start a named process (`start(name, cmd, env) -> Proc`, see fmldev.procs); every process is
    stopped at the end of the test module, so the workers of one module never take the jobs of another."""
    with Procs(tmp_path_factory.mktemp("procs")) as procs:
        yield procs.start


def start_api_proc(start_proc, service: str, env: dict[str, str], name: str | None = None) -> tuple[Proc, str]:
    """Start `service`'s gunicorn API on a free port; returns its process and base URL."""
    port = free_port()
    proc = start_proc(
        name or f"{service}-api",
        [str(BIN / "gunicorn"), "-c", f"python:{service}.gunicorn_conf", f"{service}.api:create_app()"],
        {**env, "FML_BIND": f"127.0.0.1:{port}", "FML_WEB_WORKERS": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    proc.wait_healthy(f"{base}/health", timeout=30)
    return proc, base


def start_api(start_proc, service: str, env: dict[str, str], name: str | None = None) -> str:
    """Start `service`'s gunicorn API on a free port; returns its base URL."""
    return start_api_proc(start_proc, service, env, name)[1]


@pytest.fixture(scope="module")
def trainer_api(start_proc, proc_env) -> str:
    return start_api(start_proc, "trainer", proc_env)


@pytest.fixture(scope="module")
def trainer_worker(start_proc, proc_env) -> Proc:
    return start_proc("trainer-worker", [sys.executable, "-m", "trainer.worker"], proc_env)


@pytest.fixture(scope="module")
def predictor_api(start_proc, proc_env) -> str:
    return start_api(start_proc, "predictor", proc_env)


@pytest.fixture(scope="module")
def predictor_worker(start_proc, proc_env) -> Proc:
    return start_proc("predictor-worker", [sys.executable, "-m", "predictor.worker"], proc_env)


def wait_for(predicate, timeout: float, interval: float = 0.3, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; returns that value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")
