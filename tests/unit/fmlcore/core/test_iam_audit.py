"""The IAM coverage report's pure logic: operation -> IAM action, and used vs granted per role."""

import configparser
import json

import pytest

from fmlcore.core.errors import ConfigError
from fmlcore.core.iam_audit import coverage, iam_actions, read_calls, render, role_of
from fmldev.stack import USER_ROLE_ENV, WORKLOADS, aws_config, env_from_outputs, role_env, with_role


@pytest.mark.parametrize(
    ("call", "actions"),
    [
        ({"service": "s3", "operation": "HeadObject"}, ["s3:GetObject"]),
        ({"service": "s3", "operation": "HeadObject", "version": True}, ["s3:GetObjectVersion"]),
        ({"service": "s3", "operation": "GetObject", "version": True}, ["s3:GetObjectVersion"]),
        ({"service": "s3", "operation": "ListObjectVersions"}, ["s3:ListBucketVersions"]),
        ({"service": "s3", "operation": "HeadBucket"}, ["s3:ListBucket"]),
        ({"service": "s3", "operation": "UploadPart"}, ["s3:PutObject"]),
        ({"service": "s3", "operation": "CopyObject", "source_version": True}, ["s3:PutObject", "s3:GetObjectVersion"]),
        ({"service": "s3", "operation": "DeleteObject"}, ["s3:DeleteObject"]),
        ({"service": "sqs", "operation": "ReceiveMessage"}, ["sqs:ReceiveMessage"]),
        ({"service": "sts", "operation": "GetCallerIdentity"}, []),
        ({"service": "sts", "operation": "AssumeRole"}, ["sts:AssumeRole"]),
    ],
)
def test_operations_map_to_the_actions_iam_checks(call, actions):
    assert iam_actions(call) == actions


def test_role_of_an_assumed_role_session():
    assert role_of("arn:aws:sts::000000000000:assumed-role/fml-trainer-api/host.1") == "fml-trainer-api"
    assert role_of("arn:aws:iam::000000000000:role/fml-user") == "fml-user"
    assert role_of("arn:aws:iam::000000000000:root") == "arn:aws:iam::000000000000:root"


def test_coverage_sets_used_beside_granted(tmp_path):
    session = "arn:aws:sts::000000000000:assumed-role/fml-predictor-worker/h.1"
    calls = [
        {"caller": session, "service": "s3", "operation": "GetObject", "status": 200},
        {"caller": session, "service": "s3", "operation": "HeadObject", "status": 404},
        {"caller": session, "service": "s3", "operation": "PutObject", "status": 403},
        {"caller": "arn:aws:iam::000000000000:root", "service": "s3", "operation": "DeleteObject", "status": 204},
    ]
    (tmp_path / "1.jsonl").write_text("".join(json.dumps(c) + "\n" for c in calls))
    granted = {"predictor_worker": ["s3:GetObject", "s3:ListBucket"], "trainer_api": ["sqs:SendMessage"]}
    names = {"predictor_worker": "fml-predictor-worker", "trainer_api": "fml-trainer-api"}
    report = coverage(read_calls(tmp_path), granted, names)
    worker = report["predictor_worker"]
    assert worker["used"] == {"s3:GetObject": 2}  # a 404 is an allowed call
    assert worker["refused"] == {"s3:PutObject": 1}
    assert worker["unused"] == ["s3:ListBucket"]
    assert report["trainer_api"]["unused"] == ["sqs:SendMessage"]  # no calls: all of it unused
    table = render(report)
    assert "| predictor_worker | s3:GetObject (2) | s3:ListBucket | s3:PutObject (1) |" in table
    assert "| trainer_api | no calls recorded | sqs:SendMessage | - |" in table


OUTPUTS = {
    "buckets": {"value": {"datasets": "d", "models": "m", "inference": "i", "predictions": "p"}},
    "queues": {"value": {"train": "qt", "predict": "qp", "train_dlq": "qtd", "predict_dlq": "qpd"}},
    "roles": {"value": {w: f"arn:aws:iam::000000000000:role/fml-{w}" for w in WORKLOADS}},
    "user_role_arn": {"value": "arn:aws:iam::000000000000:role/fml-user"},
}


def test_role_outputs_become_one_variable_per_workload():
    env = env_from_outputs(OUTPUTS)
    assert env[role_env("predictor_worker")] == "arn:aws:iam::000000000000:role/fml-predictor_worker"
    assert env[USER_ROLE_ENV].endswith("/fml-user")
    with pytest.raises(ConfigError, match="five workloads"):
        env_from_outputs({**OUTPUTS, "roles": {"value": {"trainer_api": "arn"}}})


def test_aws_config_profiles_assume_the_user_role_with_the_operator():
    emulator = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_CA_BUNDLE": "/x/ca.pem"}
    config = configparser.ConfigParser()
    config.read_string(aws_config(OUTPUTS, emulator, "https://127.0.0.1:4566", "us-east-1", "fml-user-20261130T1200Z"))
    user = config["profile fml-user"]
    assert user["role_arn"].endswith("/fml-user") and user["source_profile"] == "fml-local-operator"
    # a session name of its own per stack: the aws CLI's role cache never serves an old emulator's session
    assert user["role_session_name"] == "fml-user-20261130T1200Z"
    assert user["endpoint_url"] == "https://127.0.0.1:4566" and user["ca_bundle"] == "/x/ca.pem"
    assert config["profile fml-local-operator"]["aws_access_key_id"] == "test"


def test_each_command_gets_its_workloads_role():
    env = {role_env(w): f"arn:role/{w}" for w in WORKLOADS}
    gunicorn = ["gunicorn", "-c", "python:predictor.gunicorn_conf", "predictor.api:create_app()"]
    assert with_role(gunicorn, env)["FML_ROLE_ARN"] == "arn:role/predictor_api"
    assert with_role(["python", "-m", "trainer.worker"], env)["FML_ROLE_ARN"] == "arn:role/trainer_worker"
    assert "FML_ROLE_ARN" not in with_role(["python", "scripts/demo.py"], env)  # not a workload
    assert with_role(["python", "-m", "trainer.worker"], {**env, "FML_ROLE_ARN": "x"})["FML_ROLE_ARN"] == "x"
    assert "FML_ROLE_ARN" not in with_role(["python", "-m", "trainer.worker"], {})  # a stack without roles


def test_the_recorder_sees_each_calls_own_parameters(tmp_path):
    """The hook records what decides the IAM action (here: a versioned read), per answered call."""
    import botocore.session
    from botocore.stub import Stubber

    from fmlcore.core.iam_audit import Recorder

    s3 = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    recorder = Recorder(tmp_path / "1.jsonl", "arn:aws:iam::000000000000:role/fml-predictor-worker")
    recorder.attach(s3)
    with Stubber(s3) as stub:
        stub.add_response("head_object", {"ContentLength": 1}, {"Bucket": "b", "Key": "k", "VersionId": "v1"})
        stub.add_response("head_object", {"ContentLength": 1}, {"Bucket": "b", "Key": "k"})
        s3.head_object(Bucket="b", Key="k", VersionId="v1")
        s3.head_object(Bucket="b", Key="k")
    calls = read_calls(tmp_path)
    assert [(c["operation"], c["bucket"], c["key"], c["version"]) for c in calls] == [
        ("HeadObject", "b", "k", True),
        ("HeadObject", "b", "k", False),
    ]
    assert [iam_actions(c) for c in calls] == [["s3:GetObjectVersion"], ["s3:GetObject"]]


def test_the_events_topic_and_the_local_events_queue_become_settings():
    topic = "arn:aws:sns:us-east-1:000000000000:fml-job-events"
    queue = "https://127.0.0.1:4566/000000000000/fml-job-events"
    env = env_from_outputs(
        {
            **OUTPUTS,
            "events_topic_arn": {"value": topic},
            "notifications": {"value": {"topic_arn": topic, "queue_url": queue}},
        }
    )
    assert env["FML_EVENTS_TOPIC_ARN"] == topic and env["FML_EVENTS_QUEUE_URL"] == queue
    assert "FML_EVENTS_TOPIC_ARN" not in env_from_outputs(OUTPUTS)  # a stack without the topic: no events
