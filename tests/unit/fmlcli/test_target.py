"""fmlcli.target: the env file, where it is found, and how local and AWS targets resolve."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from fmlcli.errors import CliError, UsageError
from fmlcli.target import (
    apply_stack_environment,
    find_env_file,
    output_value,
    resolve,
)
from fmlcore.core.errors import ConfigError
from fmlcore.core.settings import parse_env_text

# The shape `make localstack-up` writes (fmldev.stack, then scripts/emulator.py's emulator.env).
LOCAL_ENV = """FML_TARGET=local
FML_DATASETS_BUCKET=fargate-ml-local-datasets
FML_MODELS_BUCKET=fargate-ml-local-models
FML_INFERENCE_BUCKET=fargate-ml-local-inference
FML_PREDICTIONS_BUCKET=fargate-ml-local-predictions
FML_TRAIN_QUEUE_URL=https://127.0.0.1:4566/000000000000/fargate-ml-local-train
FML_USER_ROLE_ARN=arn:aws:iam::000000000000:role/fargate-ml-local-user
USE_SSL=1
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_CA_BUNDLE=/home/me/fargate-ml/.state/tls/ca-bundle.pem
"""


def args(**kw) -> Namespace:
    base = dict(target=None, profile=None, region=None, env_file=None, trainer_url=None, predictor_url=None,
                outputs=None, tf_dir=None)  # fmt: skip
    return Namespace(**{**base, **kw})


def test_the_env_file_as_make_writes_it():
    env = parse_env_text(LOCAL_ENV)
    assert env["FML_INFERENCE_BUCKET"] == "fargate-ml-local-inference"
    assert (
        env["FML_TRAIN_QUEUE_URL"] == "https://127.0.0.1:4566/000000000000/fargate-ml-local-train"
    )  # '=' after the first kept
    assert env["USE_SSL"] == "1" and len(env) == 11


def test_comments_blank_lines_export_and_quotes():
    env = parse_env_text("# a comment\n\nexport A=1\nB = 'two words'\nC=\"x=y\"\nD=\n")
    assert env == {"A": "1", "B": "two words", "C": "x=y", "D": ""}


@pytest.mark.parametrize("line", ["JUSTAKEY", "BAD KEY=1", "=value"])
def test_a_line_that_is_not_key_value_is_an_error(line):
    with pytest.raises(ConfigError, match="line 2 of the env file"):
        parse_env_text(f"A=1\n{line}\n")


def test_the_env_file_is_found_upwards_from_the_working_directory(tmp_path):
    (tmp_path / ".state").mkdir()
    (tmp_path / ".state" / "local.env").write_text(LOCAL_ENV)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_env_file(None, deep, {}) == tmp_path / ".state" / "local.env"


def test_explicit_file_then_walk_up_then_fml_env_file(tmp_path):
    explicit = tmp_path / "mine.env"
    explicit.write_text("A=1\n")
    other = tmp_path / "other.env"
    other.write_text("A=2\n")
    nowhere = tmp_path / "empty"
    nowhere.mkdir()
    assert find_env_file(str(explicit), nowhere, {"FML_ENV_FILE": str(other)}) == explicit
    assert find_env_file(None, nowhere, {"FML_ENV_FILE": str(other)}) == other
    with pytest.raises(CliError, match="no local stack"):
        find_env_file(None, nowhere, {})
    with pytest.raises(CliError, match="not found"):
        find_env_file(str(tmp_path / "absent.env"), nowhere, {})


def test_local_target_buckets_and_api_urls(tmp_path):
    env_file = tmp_path / "local.env"
    env_file.write_text(LOCAL_ENV + "FML_PREDICTOR_URL=http://127.0.0.1:9001\n")
    target = resolve(args(env_file=str(env_file)), environ={}, cwd=tmp_path)
    assert target.name == "local"
    assert target.bucket("datasets") == "fargate-ml-local-datasets"
    assert target.bucket("predictions") == "fargate-ml-local-predictions"
    assert target.trainer.base_url == "http://127.0.0.1:8081"  # make run's port by default
    assert target.predictor.base_url == "http://127.0.0.1:9001"  # from the file
    assert target.trainer.sign is None  # the local APIs are plain HTTP on localhost

    environ = {"FML_TRAINER_URL": "http://127.0.0.1:7001", "FML_PREDICTOR_URL": "http://127.0.0.1:7002"}
    target = resolve(args(env_file=str(env_file)), environ=environ, cwd=tmp_path)
    assert (target.trainer.base_url, target.predictor.base_url) == ("http://127.0.0.1:7001", "http://127.0.0.1:7002")
    target = resolve(args(env_file=str(env_file), trainer_url="http://h:1"), environ=environ, cwd=tmp_path)
    assert target.trainer.base_url == "http://h:1"  # the flag wins


def test_a_bucket_the_file_does_not_name_is_a_clear_error(tmp_path):
    env_file = tmp_path / "local.env"
    env_file.write_text("FML_TARGET=local\nFML_DATASETS_BUCKET=d\n")
    target = resolve(args(env_file=str(env_file)), environ={}, cwd=tmp_path)
    assert target.bucket("datasets") == "d"
    with pytest.raises(CliError, match="no inference bucket"):
        target.bucket("inference")


def test_the_stack_environment_replaces_another_identity():
    environ = {"AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "tok", "AWS_ACCESS_KEY_ID": "AKIAREAL", "HOME": "/root"}
    apply_stack_environment(parse_env_text(LOCAL_ENV), environ)
    assert environ["AWS_ACCESS_KEY_ID"] == "test" and environ["USE_SSL"] == "1" and environ["HOME"] == "/root"
    assert "AWS_PROFILE" not in environ and "AWS_SESSION_TOKEN" not in environ
    # Positive control: a file without credentials leaves the environment's identity alone.
    environ = {"AWS_PROFILE": "dev"}
    apply_stack_environment({"FML_DATASETS_BUCKET": "d"}, environ)
    assert environ == {"AWS_PROFILE": "dev", "FML_DATASETS_BUCKET": "d"}


# ---------------------------------------------------------------------------- AWS
OUTPUTS = {
    "api_url": {"sensitive": False, "type": "string", "value": "https://abc123.execute-api.eu-west-1.amazonaws.com"},
    "buckets": {
        "type": ["object", {}],
        "value": {
            "datasets": "fml-prod-datasets",
            "models": "fml-prod-models",
            "inference": "fml-prod-inference",
            "predictions": "fml-prod-predictions",
        },
    },
}


def test_output_values_wrapped_by_terraform_or_plain():
    assert output_value(OUTPUTS, "api_url") == "https://abc123.execute-api.eu-west-1.amazonaws.com"
    assert output_value({"api_url": "https://x"}, "api_url") == "https://x"
    with pytest.raises(CliError, match="no 'buckets'"):
        output_value({"api_url": "https://x"}, "buckets")


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Static credentials in the environment and no config files: boto3 resolves offline."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(OUTPUTS))
    return outputs


def test_region_selects_aws_with_buckets_and_one_signed_api(aws_env, tmp_path):
    target = resolve(args(region="eu-west-1", outputs=str(aws_env)), environ={}, cwd=tmp_path)
    assert target.name == "aws"
    assert target.bucket("inference") == "fml-prod-inference"
    assert target.trainer.base_url == target.predictor.base_url == OUTPUTS["api_url"]["value"]
    assert target.trainer.sign is not None


def test_the_aws_signature_verifies_with_the_callers_credentials(aws_env, tmp_path, fake_api):
    """A request the CLI sends to the API is signed for execute-api in the session's region with the
    session's credentials, its token included: re-signing what the server received gives the same."""
    target = resolve(args(region="eu-west-1", outputs=str(aws_env), trainer_url=fake_api.url), {}, tmp_path)
    fake_api.answer("POST", "/models/churn/rollback", 200, {"version": "v1"})
    assert target.trainer.post("/models/churn/rollback", {"version": "v1"}) == {"version": "v1"}
    got = fake_api.requests[0]
    assert got.headers["X-Amz-Security-Token"] == "session-token"
    auth = got.headers["Authorization"]
    assert "/eu-west-1/execute-api/aws4_request" in auth
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    # The server's side of SigV4: the same canonical request from what arrived, the same key.
    again = AWSRequest(method="POST", url=fake_api.url + got.path, data=got.body,
                       headers={k: v for k, v in got.headers.items() if k.lower() in signed and k.lower() != "host"})  # fmt: skip
    creds = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
    signer = SigV4Auth(creds, "execute-api", "eu-west-1")
    again.context["timestamp"] = got.headers["X-Amz-Date"]
    expected = signer.signature(signer.string_to_sign(again, signer.canonical_request(again)), again)
    assert auth.endswith(f"Signature={expected}")
    # Positive control: a changed body would not verify.
    again.data = b'{"version": "v2"}'
    assert not auth.endswith(
        f"Signature={signer.signature(signer.string_to_sign(again, signer.canonical_request(again)), again)}"
    )


def test_aws_without_a_region_or_outputs_is_a_clear_error(aws_env, tmp_path):
    with pytest.raises(CliError, match="no AWS region"):
        resolve(args(target="aws", outputs=str(aws_env)), environ={}, cwd=tmp_path)
    with pytest.raises(CliError, match="cannot read Terraform outputs"):
        resolve(args(region="eu-west-1", outputs=str(tmp_path / "absent.json")), environ={}, cwd=tmp_path)
    with pytest.raises(CliError, match="The config profile \\(nope\\) could not be found"):
        resolve(args(profile="nope", outputs=str(aws_env)), environ={}, cwd=tmp_path)


def test_terraform_outputs_are_read_from_the_tf_dir(aws_env, tmp_path, monkeypatch):
    calls = []

    class Done:
        returncode, stdout, stderr = 0, json.dumps(OUTPUTS), ""

    def run(cmd, **kw):
        calls.append(cmd)
        return Done()

    monkeypatch.setattr("fmlcli.target.subprocess.run", run)
    target = resolve(args(region="eu-west-1", tf_dir=str(tmp_path / "tf")), environ={}, cwd=tmp_path)
    assert calls == [["terraform", f"-chdir={tmp_path / 'tf'}", "output", "-json"]]
    assert target.bucket("datasets") == "fml-prod-datasets"

    class Failed:
        returncode, stdout, stderr = 1, "", "Error: something\nNo state file was found!\n"

    monkeypatch.setattr("fmlcli.target.subprocess.run", lambda cmd, **kw: Failed())
    with pytest.raises(CliError, match="No state file was found"):
        resolve(args(region="eu-west-1", tf_dir="tf"), environ={}, cwd=tmp_path)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"target": "local", "profile": "p"}, "cannot go with --target local"),
        ({"target": "aws", "env_file": "x.env"}, "--env-file is for the local target"),
        ({"outputs": "o.json"}, "for the AWS target"),
    ],
)
def test_contradicting_target_flags_are_usage_errors(kw, message, tmp_path):
    with pytest.raises(UsageError, match=message):
        resolve(args(**kw), environ={}, cwd=Path(tmp_path))
