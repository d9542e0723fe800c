"""A big batch file split across two workers gives what one worker gives for the whole file:
the same predictions file row for row, the same errors file with the same line numbers, one job
status with its parts counted. The split size is made small (FML_BATCH_SPLIT_BYTES) so a few
hundred kilobytes make several parts."""

from __future__ import annotations

import csv
import io
import json
import sys

import pandas as pd
import pytest

from fmldev.sample_data import write as write_sample
from tests.faults.helpers import trained_model
from tests.integration.test_predictor import drop_and_wait, read_output
from tests.status_records import StatusRecords

from .conftest import wait_for

pytestmark = pytest.mark.emulator

SPLIT_BYTES = 40_000


@pytest.fixture(scope="module")
def split_workers(start_proc, proc_env):
    """Two predictor workers that split files over SPLIT_BYTES (no other worker polls the queue now)."""
    env = {**proc_env, "FML_BATCH_SPLIT_BYTES": str(SPLIT_BYTES)}
    procs = [start_proc(f"predictor-split-{i}", [sys.executable, "-m", "predictor.worker"], env) for i in range(2)]
    for proc in procs:
        wait_for(lambda p=proc: "worker started" in p.log(), 20, what="a split worker to start")
    return procs


@pytest.fixture(scope="module")
def model(aws, settings):
    import uuid

    from fmlcore.ml.model_store import ModelStore

    name = f"split-{uuid.uuid4().hex[:10]}"
    return name, trained_model(ModelStore(aws.s3, settings.models_bucket, latest_ttl_seconds=0), name)


def broken_csv(path, rows: int) -> bytes:
    write_sample(path, rows, score=True, seed=7)
    lines = path.read_text().splitlines()
    for line_no in (10, rows // 2, rows + 1):  # header = line 1; the last data line too
        fields = lines[line_no - 1].split(",")
        fields[1] = "not-a-number"
        lines[line_no - 1] = ",".join(fields)
    return ("\n".join(lines) + "\n").encode()


def outputs(aws, settings, record) -> tuple[bytes, list[dict]]:
    out = record["outputs"]
    body = read_output(aws, settings, out["predictions_uri"].split("/", 3)[3])
    errors = []
    if "errors_uri" in out:
        text = read_output(aws, settings, out["errors_uri"].split("/", 3)[3]).decode()
        errors = list(csv.DictReader(io.StringIO(text)))
    return body, errors


def test_a_split_csv_gives_the_unsplit_predictions_and_errors(user, aws, settings, model, split_workers, tmp_path):
    name, version = model
    body = broken_csv(tmp_path / "in.csv", 6000)
    assert len(body) > 4 * SPLIT_BYTES
    whole = drop_and_wait(user, settings, f"{name}/whole.csv", body, timeout=120, split="false")  # the control
    split = drop_and_wait(user, settings, f"{name}/split.csv", body, timeout=120)
    assert whole["state"] == split["state"] == "succeeded", (whole, split)
    assert "parts" not in whole
    assert split["parts"]["total"] >= 4 and split["parts"]["done"] == split["parts"]["total"], split["parts"]
    assert split["metrics"]["rows_total"] == whole["metrics"]["rows_total"] == 6000
    assert split["metrics"]["rows_failed"] == whole["metrics"]["rows_failed"] == 3
    assert split["model_version"] == whole["model_version"] == version
    whole_body, whole_errors = outputs(aws, settings, whole)
    split_body, split_errors = outputs(aws, settings, split)
    assert split_body == whole_body  # byte for byte: one header, every row in input order
    assert [int(e["line"]) for e in split_errors] == [int(e["line"]) for e in whole_errors] == [10, 3000, 6001]
    assert split_errors == whole_errors
    # The part objects are removed once assembled: right after the record says succeeded (and its
    # completion event is published), so within seconds of it; the record says how it went.
    prefix = f"_jobs/{split['job_id']}/parts/"
    wait_for(
        lambda: aws.s3.list_objects_v2(Bucket=settings.predictions_bucket, Prefix=prefix).get("KeyCount", 0) == 0,
        timeout=15,
        what="the part objects to be removed",
    )
    assert any("parts assembled" in (h.get("note") or "") for h in split["history"])


@pytest.mark.parametrize("ext", [".jsonl", ".parquet"])
def test_split_jsonl_and_parquet_match_the_unsplit_output(user, aws, settings, model, split_workers, tmp_path, ext):
    name, _ = model
    frame = pd.read_csv(io.BytesIO(broken_csv(tmp_path / "in.csv", 6000)), dtype=str)
    frame = frame[frame["tenure_months"] != "not-a-number"].astype({"tenure_months": int, "monthly_charges": float})
    buf = io.BytesIO()
    if ext == ".parquet":
        frame.to_parquet(buf, index=False, row_group_size=300)
    else:
        frame.to_json(buf, orient="records", lines=True)
    whole = drop_and_wait(user, settings, f"{name}/whole{ext}", buf.getvalue(), timeout=120, split="false")
    split = drop_and_wait(user, settings, f"{name}/split{ext}", buf.getvalue(), timeout=120)
    assert whole["state"] == split["state"] == "succeeded", (whole, split)
    assert split["parts"]["total"] >= 2, split.get("parts")
    read = pd.read_parquet if ext == ".parquet" else (lambda b: pd.read_json(b, lines=True))
    whole_out = read(io.BytesIO(outputs(aws, settings, whole)[0]))
    split_out = read(io.BytesIO(outputs(aws, settings, split)[0]))
    pd.testing.assert_frame_equal(split_out, whole_out)


def test_a_part_delivered_again_changes_nothing(user, aws, settings, model, split_workers, tmp_path):
    """A duplicate part message after the job ended: no rescoring, no second output version."""
    name, _ = model
    body = broken_csv(tmp_path / "in.csv", 3000)
    record = drop_and_wait(user, settings, f"{name}/again.csv", body, timeout=120)
    assert record["state"] == "succeeded" and record["parts"]["total"] >= 2
    from fmlcore.jobs.message import InputRef, JobMessage, PartRef

    job = JobMessage.from_dict(
        {**{k: record[k] for k in ("job_id", "kind", "model", "options", "source")}, "input": record["input"]}
    )
    part = PartRef(0, record["parts"]["total"], 0, SPLIT_BYTES, "bytes")
    message = json.loads(job.to_json()) | {"part": part.__dict__}
    seen = sum(p.log().count("already succeeded") for p in split_workers)
    aws.sqs.send_message(QueueUrl=settings.predict_queue_url, MessageBody=json.dumps(message))
    statuses = StatusRecords(aws.s3, settings.predictions_bucket)
    key = record["outputs"]["predictions_uri"].split("/", 3)[3]
    wait_for(lambda: sum(p.log().count("already succeeded") for p in split_workers) > seen, 30, what="the duplicate")
    versions = aws.s3.list_object_versions(Bucket=settings.predictions_bucket, Prefix=key)["Versions"]
    assert [v["VersionId"] for v in versions if v["Key"] == key] == [record["outputs"]["predictions_version"]]
    assert statuses.get(record["job_id"])["updated_at"] == record["updated_at"]
    assert InputRef(**record["input"]).key.endswith("again.csv")
