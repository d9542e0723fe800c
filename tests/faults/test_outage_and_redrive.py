"""The emulator unreachable for 10 s; dead-lettered jobs redriven after their cause is fixed."""

import os
import subprocess
import sys
import time

import pytest

from fmlcore.core.layout import LIVE
from fmlcore.jobs.message import job_id_for
from fmlcore.ml.model_store import ModelStore
from tests.status_records import StatusRecords

from .helpers import csv_bytes, report, start_worker, trained_model, versions, wait_state
from .proxy import TcpProxy

pytestmark = pytest.mark.emulator


@pytest.fixture
def proxy(settings):
    host, port = (settings.localstack_host or "127.0.0.1:4566").rsplit(":", 1)
    proxy = TcpProxy((host, int(port))).start()
    yield proxy
    proxy.stop()


def test_emulator_outage_while_polling_and_while_writing(aws, settings, start_proc, proc_env, proxy, tmp_path,
                                                         unique, capsys):  # fmt: skip
    models = ModelStore(aws.s3, settings.models_bucket)
    statuses = StatusRecords(aws.s3, settings.predictions_bucket)
    model = f"outage-{unique}"
    trained_model(models, model)
    # The worker reaches the emulator through the proxy (AWS_ENDPOINT_URL, from .state/local.env,
    # would take precedence over LOCALSTACK_HOST: both point at the proxy).
    scheme = "https" if os.environ.get("USE_SSL", "0") == "1" else "http"
    worker = start_worker(start_proc, proc_env, "predictor", f"predictor-outage-{unique}",
                          LOCALSTACK_HOST=f"127.0.0.1:{proxy.port}",
                          AWS_ENDPOINT_URL=f"{scheme}://127.0.0.1:{proxy.port}")  # fmt: skip

    # 1. Outage while the worker long-polls; a file dropped meanwhile waits in SQS.
    proxy.cut()
    key_a = f"{model}/during-poll.csv"
    version_a = aws.s3.put_object(
        Bucket=settings.inference_bucket, Key=key_a, Body=csv_bytes(1000, True, 31, tmp_path)
    )["VersionId"]
    time.sleep(10)
    proxy.restore()
    job_a = wait_state(statuses, job_id_for("predict", settings.inference_bucket, key_a, version_a), timeout=90)

    # 2. Outage while a job is running (reading, scoring, writing).
    key_b = f"{model}/during-write.csv"
    version_b = aws.s3.put_object(
        Bucket=settings.inference_bucket, Key=key_b, Body=csv_bytes(400_000, True, 32, tmp_path)
    )["VersionId"]
    job_id_b = job_id_for("predict", settings.inference_bucket, key_b, version_b)
    wait_state(statuses, job_id_b, ("running",), timeout=30)
    time.sleep(0.5)
    proxy.cut()
    time.sleep(10)
    proxy.restore()
    job_b = wait_state(statuses, job_id_b, timeout=180)

    assert job_a["state"] == "succeeded" and job_b["state"] == "succeeded", (job_a, job_b)
    assert job_b["metrics"]["rows_scored"] == 400_000
    counts = [
        len(versions(aws.s3, settings.predictions_bucket, f"batch/{model}/{name}.predictions.csv"))
        for name in ("during-poll", "during-write")
    ]
    assert counts == [1, 1]
    log = worker.log()
    retries = sum(log.count(m) for m in ("botocore retries", "receive failed", "heartbeat failed", "attempt failed"))
    assert retries > 0, "the outage left no trace in the worker's log"
    assert worker.proc.poll() is None
    report(capsys, "emulator outage 2x10 s", submitted=2, succeeded=2, lost=0, duplicated=sum(counts) - 2,
           attempts_job_b=job_b["attempts"], retry_log_lines=retries)  # fmt: skip


def test_dead_lettered_job_succeeds_after_redrive(aws, settings, start_proc, proc_env, tmp_path, unique, capsys):
    """A broken model artifact fails the job until SQS dead-letters it; fixed, `make redrive` brings it back."""
    models = ModelStore(aws.s3, settings.models_bucket)
    statuses = StatusRecords(aws.s3, settings.predictions_bucket)
    model = f"redrive-{unique}"
    broken = aws.s3.put_object(Bucket=settings.models_bucket, Key=f"{model}/model.ubj", Body=b"not a model")
    models.move_alias(model, LIVE, broken["VersionId"], {"source": "test"}, "the cause: live is a broken artifact")
    start_worker(start_proc, proc_env, "predictor", f"predictor-redrive-{unique}")
    key = f"{model}/x.csv"
    version = aws.s3.put_object(Bucket=settings.inference_bucket, Key=key, Body=csv_bytes(50, True, 41, tmp_path))[
        "VersionId"
    ]
    job_id = job_id_for("predict", settings.inference_bucket, key, version)
    dead = wait_state(statuses, job_id, ("dead_lettered",), timeout=90)
    assert dead["error"]["type"] == "DeadLettered"
    assert dead["error"]["details"]["last_error"]["type"] != "WorkerDied"  # the attempts said why
    assert job_id in statuses.dead_job_ids()
    attempts_before = dead["attempts"]

    trained_model(models, model)  # the fix: a good model version on top
    subprocess.run([sys.executable, "-m", "fmlcore.jobs.redrive", "predict"], check=True, env=proc_env, timeout=60)
    record = wait_state(statuses, job_id, ("succeeded",), timeout=60)
    states = [h["state"] for h in record["history"]]
    assert states.count("running") == attempts_before + 1
    assert "dead_lettered" in states
    assert any(h.get("note") == "redriven from the dead-letter queue" for h in record["history"])
    assert job_id not in statuses.dead_job_ids()
    report(capsys, "DLQ redrive", submitted=1, dead_lettered=1, redriven=1, succeeded=1, lost=0, duplicated=0,
           attempts=record["attempts"])  # fmt: skip
