"""fmlcli.upload: job options as S3 metadata, checked as the enqueue Lambda will read them; the
upload (one PUT or parts) and the job id of the new version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fmlcli.errors import CliError, UsageError
from fmlcli.upload import (
    check_metadata,
    json_or_text,
    object_key,
    parse_pairs,
    predict_metadata,
    put_file,
    submit,
    train_metadata,
)
from fmlcore.jobs.message import job_id_for_event
from fmlcore.jobs.options import options_from_text


def test_params_become_one_json_object_with_values_parsed_as_json_when_they_parse():
    metadata = train_metadata(
        "churned",
        ["max_depth=4", "eta=0.1", "tree_method=hist", "monotone_constraints=[1,0]", "flag=true", 'name="x"'],
    )
    assert metadata["target"] == "churned"
    assert json.loads(metadata["params"]) == {
        "max_depth": 4,
        "eta": 0.1,
        "tree_method": "hist",  # not JSON: kept as the string
        "monotone_constraints": [1, 0],
        "flag": True,
        "name": "x",
    }
    # What the enqueue Lambda reads back from this metadata is the same object.
    assert options_from_text("train", metadata)["params"] == json.loads(metadata["params"])


def test_no_param_means_no_params_key_and_options_pass_through_normalised():
    metadata = train_metadata("y", None, ["num-boost-round=50", "Promote=never", "ignore_columns=id,name"])
    assert metadata == {"target": "y", "num_boost_round": "50", "promote": "never", "ignore_columns": "id,name"}
    typed = check_metadata("train", metadata)
    assert (typed["num_boost_round"], typed["promote"], typed["ignore_columns"]) == (50, "never", ("id", "name"))


def test_predict_metadata():
    assert predict_metadata() == {}
    assert predict_metadata(alias="canary", explain=True) == {"alias": "canary", "explain": "true"}
    assert predict_metadata(version="3HL4kqtJlcpXroDTDmJ", options=["split=false"]) == {
        "model_version": "3HL4kqtJlcpXroDTDmJ",
        "split": "false",
    }
    assert check_metadata("predict", {"explain": "true", "split": "false"})["split"] is False


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_pairs(["max_depth"], "--param"), "--param takes key=value"),
        (lambda: parse_pairs(["=4"], "--param"), "--param takes key=value"),
        (lambda: parse_pairs(["a=1", "a=2"], "--param"), "--param a is given twice"),
        (lambda: train_metadata("y", None, ["target=z"]), "repeats an option"),
        (lambda: train_metadata("y", ["max_depth=3"], ["params={}"]), "repeats an option"),
        (lambda: predict_metadata(alias="a", options=["alias=b"]), "repeats an option"),
    ],
)
def test_malformed_pairs_are_usage_errors(call, message):
    with pytest.raises(UsageError, match=message) as caught:
        call()
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("kind", "metadata", "message"),
    [
        ("train", {"target": "y", "tagret": "z"}, "unknown train option"),
        ("train", {"target": "y", "num_boost_round": "0"}, "num_boost_round must be"),
        ("train", {"target": "y", "promote": "sometimes"}, "promote must be one of"),
        ("predict", {"explain": "perhaps"}, "explain"),
        ("predict", {"target": "y"}, "unknown predict option"),
        ("train", {"target": "é"}, "must be ASCII"),
        ("train", {"target": "y", "ignore_columns": "c" * 3000}, "S3 allows 2048"),
    ],
)
def test_options_the_platform_would_reject_are_refused_before_upload(kind, metadata, message):
    with pytest.raises(UsageError, match=message):
        check_metadata(kind, metadata)


def test_valid_options_pass_the_same_check():
    # Positive control of the refusals above.
    check_metadata("train", {"target": "y", "num_boost_round": "10", "promote": "always"})
    check_metadata("predict", {"explain": "true"})


def test_json_or_text():
    assert json_or_text("4") == 4 and json_or_text("null") is None and json_or_text("hist") == "hist"


@pytest.mark.parametrize(
    ("model", "name", "message"),
    [
        ("Churn", "a.csv", "invalid model name"),
        ("churn", "a.txt", "unsupported file type"),
        ("_x", "a.csv", "invalid"),
        ("churn", "A.CSV", "lower-case .csv"),  # the bucket notification's suffix filter would not fire
    ],
)
def test_keys_the_enqueue_function_would_skip_are_refused(model, name, message):
    with pytest.raises(UsageError, match=message):
        object_key(model, Path(name))


def test_object_key_is_model_slash_basename():
    assert object_key("churn", Path("/data/2026/Jan Customers.parquet")) == "churn/Jan Customers.parquet"


class RecordingS3:
    """Answers what S3 answers to the upload calls (a new version id each), and records them."""

    def __init__(self, versioned: bool = True) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.versioned = versioned
        self.parts: dict[int, bytes] = {}

    def _version(self) -> dict[str, str]:
        return {"VersionId": f"v{len(self.calls)}"} if self.versioned else {}

    def put_object(self, **kw: Any) -> dict[str, str]:
        self.calls.append(("put_object", {**kw, "Body": kw["Body"].read()}))
        return self._version()

    def create_multipart_upload(self, **kw: Any) -> dict[str, str]:
        self.calls.append(("create_multipart_upload", kw))
        return {"UploadId": "up-1"}

    def upload_part(self, **kw: Any) -> dict[str, str]:
        self.calls.append(("upload_part", {k: v for k, v in kw.items() if k != "Body"}))
        self.parts[kw["PartNumber"]] = kw["Body"]
        return {"ETag": f'"etag-{kw["PartNumber"]}"'}

    def complete_multipart_upload(self, **kw: Any) -> dict[str, str]:
        self.calls.append(("complete_multipart_upload", kw))
        return self._version()

    def abort_multipart_upload(self, **kw: Any) -> None:
        self.calls.append(("abort_multipart_upload", kw))


def test_a_small_file_is_one_put_with_its_metadata(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes(b"a,b\n1,2\n")
    s3 = RecordingS3()
    assert put_file(s3, "bucket", "m/rows.csv", path, {"target": "b"}) == "v1"
    assert s3.calls == [("put_object", {"Bucket": "bucket", "Key": "m/rows.csv", "Body": b"a,b\n1,2\n",
                                        "Metadata": {"target": "b"}})]  # fmt: skip


def test_a_big_file_goes_up_in_parts_and_the_completion_gives_the_version(tmp_path):
    path = tmp_path / "big.csv"
    data = bytes(range(256)) * 100  # 25,600 bytes
    path.write_bytes(data)
    s3 = RecordingS3()
    assert put_file(s3, "bucket", "m/big.csv", path, {"target": "b"}, threshold=10_000, part_size=10_000) == "v5"
    names = [name for name, _ in s3.calls]
    assert names == [
        "create_multipart_upload",
        "upload_part",
        "upload_part",
        "upload_part",
        "complete_multipart_upload",
    ]
    assert s3.calls[0][1]["Metadata"] == {"target": "b"}
    assert b"".join(s3.parts[i] for i in sorted(s3.parts)) == data
    assert s3.calls[-1][1]["MultipartUpload"] == {
        "Parts": [{"PartNumber": i, "ETag": f'"etag-{i}"'} for i in (1, 2, 3)]
    }


def test_a_failed_part_aborts_the_upload(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 30)
    s3 = RecordingS3()

    def broken(**kw: Any) -> None:
        raise ConnectionError("network down")

    s3.upload_part = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        put_file(s3, "bucket", "m/big.csv", path, {}, threshold=10, part_size=10)
    assert [name for name, _ in s3.calls] == ["create_multipart_upload", "abort_multipart_upload"]


def test_submit_names_the_job_as_the_enqueue_function_will(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(b"a\n1\n")
    s3 = RecordingS3()
    sub = submit(s3, "predict", "fml-inference", "churn", path, {"explain": "true"})
    assert (sub.bucket, sub.key, sub.version_id) == ("fml-inference", "churn/customers.csv", "v1")
    # The enqueue Lambda names the job by the event's object version: the same id.
    assert sub.job_id == job_id_for_event("predict", "fml-inference", "churn/customers.csv", "v1", "seq-any")
    assert sub.job_id.startswith("predict-") and len(sub.job_id) == len("predict-") + 32
    other = submit(s3, "predict", "fml-inference", "churn", path, {})
    assert other.job_id != sub.job_id  # a second upload is a new version, so a new job


def test_an_unversioned_bucket_cannot_name_the_job(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(b"a\n1\n")
    with pytest.raises(CliError, match="no version id"):
        submit(RecordingS3(versioned=False), "predict", "b", "churn", path, {})


def test_a_missing_file_is_refused_before_any_call(tmp_path):
    s3 = RecordingS3()
    with pytest.raises(CliError, match="no such file"):
        submit(s3, "predict", "b", "churn", tmp_path / "absent.csv", {})
    assert s3.calls == []
