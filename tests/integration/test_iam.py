"""The local stack enforces what AWS enforces: each process under its own role, the roles'
policies, the buckets' TLS-only policy, signed requests only. Every refusal here has its
positive control: the same call by the principal that should be allowed."""

from __future__ import annotations

import json
import sys
import time

import pytest
import requests
from botocore.exceptions import ClientError

from fmlcore.core.aws import is_access_denied
from fmlcore.jobs.message import InputRef, JobMessage
from tests.faults.helpers import csv_bytes, trained_model
from tests.integration.conftest import as_role, start_api_proc, wait_for
from tests.status_records import StatusRecords

pytestmark = pytest.mark.emulator


def denied(call) -> ClientError:
    """Run `call`; return its AccessDenied error (fails the test if it was allowed)."""
    with pytest.raises(ClientError) as info:
        call()
    assert is_access_denied(info.value), info.value.response
    return info.value


def identity_lines(log: str) -> list[dict]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{") and '"AWS identity"' in line]
    return [line for line in lines if line.get("msg") == "AWS identity"]


# ---------------------------------------------------------------------------- identities


def test_every_process_runs_under_its_own_role(start_proc, proc_env):
    procs = {
        f"{service}-api": start_api_proc(start_proc, service, proc_env, name=f"{service}-api-identity")[0]
        for service in ("trainer", "predictor")
    }
    procs.update(
        {
            f"{kind}-worker": start_proc(f"{kind}-worker-identity", [sys.executable, "-m", f"{kind}.worker"], proc_env)
            for kind in ("trainer", "predictor")
        }
    )
    for role, proc in procs.items():
        lines = wait_for(lambda p=proc: identity_lines(p.log()), 20, what=f"{role} to log its identity")
        # gunicorn: one line per worker process; each is its role's own session.
        assert all(f":assumed-role/fargate-ml-local-{role}/" in line["caller"] for line in lines), lines


def test_enqueue_lambda_runs_under_its_execution_role(aws, settings, user, unique):
    # A drop makes the function run (cold start logs the identity once per container).
    user.s3.put_object(Bucket=settings.inference_bucket, Key=f"iam-{unique}/rows.csv", Body=b"a,b\n1,2\n")
    logs = aws.client("logs")

    def callers() -> set[str]:
        found = set()
        for kind in ("train", "predict"):
            events = logs.filter_log_events(
                logGroupName=f"/aws/lambda/fargate-ml-local-enqueue-{kind}", filterPattern="identity"
            ).get("events", [])
            found |= {json.loads(e["message"])["caller"] for e in events if e["message"].startswith("{")}
        return found

    seen = wait_for(callers, 20, what="the enqueue function to log its identity")
    assert all(":assumed-role/fargate-ml-local-enqueue/" in c for c in seen), seen


def test_the_user_role_is_what_the_tests_act_as(user):
    caller = user.client("sts").get_caller_identity()["Arn"]
    assert ":assumed-role/fargate-ml-local-user/" in caller


# ---------------------------------------------------------------------------- policies


def test_predictor_roles_cannot_write_models(settings, unique):
    key = f"iam-{unique}/model.ubj"
    for workload in ("predictor_api", "predictor_worker"):
        clients = as_role(settings, workload)
        denied(lambda c=clients: c.s3.put_object(Bucket=settings.models_bucket, Key=key, Body=b"x"))
    # Positive control: the trainer worker writes models.
    trainer = as_role(settings, "trainer_worker")
    assert trainer.s3.put_object(Bucket=settings.models_bucket, Key=key, Body=b"x")["VersionId"]


def test_trainer_worker_cannot_read_predictions(aws, settings, unique):
    key = f"batch/iam-{unique}/rows.predictions.csv"
    aws.s3.put_object(Bucket=settings.predictions_bucket, Key=key, Body=b"p\n0.5\n")
    trainer = as_role(settings, "trainer_worker")
    denied(lambda: trainer.s3.get_object(Bucket=settings.predictions_bucket, Key=key))
    # Positive control: the predictor worker reads its batch outputs, and their versions.
    predictor = as_role(settings, "predictor_worker")
    assert predictor.s3.get_object(Bucket=settings.predictions_bucket, Key=key)["Body"].read() == b"p\n0.5\n"
    listed = predictor.s3.list_object_versions(Bucket=settings.predictions_bucket, Prefix=key)["Versions"]
    head = predictor.s3.head_object(Bucket=settings.predictions_bucket, Key=key, VersionId=listed[0]["VersionId"])
    assert head["ContentLength"] == len(b"p\n0.5\n")


def test_user_puts_data_and_reads_predictions_but_writes_no_models(aws, settings, user, unique):
    key = f"batch/iam-{unique}/out.predictions.csv"
    aws.s3.put_object(Bucket=settings.predictions_bucket, Key=key, Body=b"p\n")
    assert user.s3.get_object(Bucket=settings.predictions_bucket, Key=key)["Body"].read() == b"p\n"
    assert user.s3.put_object(Bucket=settings.datasets_bucket, Key=f"iam-{unique}/README", Body=b"x")["VersionId"]
    denied(lambda: user.s3.put_object(Bucket=settings.models_bucket, Key=f"iam-{unique}/model.ubj", Body=b"x"))
    denied(lambda: user.s3.put_object(Bucket=settings.predictions_bucket, Key=key, Body=b"forged"))
    denied(lambda: user.sqs.receive_message(QueueUrl=settings.train_queue_url, WaitTimeSeconds=0))


# ---------------------------------------------------------------------------- transport


def test_unsigned_requests_are_refused(aws, settings, user, unique):
    key = f"online/iam-{unique}/p.json"
    aws.s3.put_object(Bucket=settings.predictions_bucket, Key=key, Body=b"{}")
    url = f"{aws.s3.meta.endpoint_url}/{settings.predictions_bucket}/{key}"
    anonymous = requests.get(url, verify=settings.ca_bundle, timeout=10)
    assert anonymous.status_code == 403 and b"AccessDenied" in anonymous.content
    # Positive control: the same object, signed by the user role.
    assert user.s3.get_object(Bucket=settings.predictions_bucket, Key=key)["Body"].read() == b"{}"


def test_buckets_refuse_requests_not_made_over_tls(settings, user, unique):
    """The emulator serves TLS only; a request it is told came in over plain HTTP stands for one
    that did, and the buckets' DenyInsecureTransport statement must refuse it."""
    key = f"iam-{unique}/rows.csv"
    s3 = user.client("s3")

    def claim_plain_http(request, **_):
        request.headers["X-Forwarded-Proto"] = "http"

    assert s3.put_object(Bucket=settings.datasets_bucket, Key=key, Body=b"a\n")["VersionId"]  # control
    s3.meta.events.register("before-send.s3.PutObject", claim_plain_http)
    error = denied(lambda: s3.put_object(Bucket=settings.datasets_bucket, Key=key, Body=b"a\n"))
    assert "explicit deny" in str(error).lower() or "bucket policy" in str(error).lower(), error


def test_emulator_serves_tls_verified_against_the_stack_ca(settings):
    endpoint = f"https://{settings.localstack_host or '127.0.0.1:4566'}/_ministack/health"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(endpoint, timeout=5)  # the system store does not know the emulator's certificate
    assert requests.get(endpoint, verify=settings.ca_bundle, timeout=5).json()["auth"] == "enabled"


# ---------------------------------------------------------------------------- refusals fail jobs for good


def test_a_refused_input_fails_the_job_permanently(aws, settings, start_proc, proc_env, unique, tmp_path):
    """A job whose input the worker's role may not read fails at once with PermissionDenied:
    no retries, no dead letter. Control: a job on a readable input in the same run succeeds."""
    from fmlcore.ml.model_store import ModelStore

    model = f"iam-{unique}"
    trained_model(ModelStore(aws.s3, settings.models_bucket), model)
    forbidden = InputRef(settings.datasets_bucket, f"{model}/rows.csv")  # the predictor may not read datasets
    allowed = InputRef(settings.inference_bucket, f"{model}/rows.csv")
    rows = csv_bytes(50, True, 7, tmp_path)
    for ref in (forbidden, allowed):
        assert aws.s3.put_object(Bucket=ref.bucket, Key=ref.key, Body=rows)["VersionId"]
    jobs = {
        name: JobMessage.new("predict", model, ref, {}, source="s3", job_id=f"predict-iam-{name}-{unique}")
        for name, ref in (("forbidden", forbidden), ("allowed", allowed))
    }
    statuses = StatusRecords(aws.s3, settings.predictions_bucket)
    for job in jobs.values():
        aws.sqs.send_message(QueueUrl=settings.predict_queue_url, MessageBody=job.to_json())
    start_proc(f"predictor-worker-{unique}", [sys.executable, "-m", "predictor.worker"], proc_env)
    final = {
        name: wait_for(
            lambda j=job: (r := statuses.get(j.job_id)) and r["state"] in ("succeeded", "failed") and r,
            60,
            what=f"{name} job to finish",
        )
        for name, job in jobs.items()
    }
    assert final["allowed"]["state"] == "succeeded", final["allowed"]
    failed = final["forbidden"]
    assert failed["state"] == "failed" and failed["error"]["type"] == "PermissionDenied", failed
    assert failed["attempts"] == 1, failed  # failed on its first attempt, not retried
    time.sleep(1)
    dead = aws.sqs.receive_message(QueueUrl=settings.predict_dlq_url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
    assert all(jobs["forbidden"].job_id not in m["Body"] for m in dead.get("Messages", []))
