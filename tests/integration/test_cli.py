"""The `fml` executable against the running local stack: real uploads under the user role, the real
enqueue Lambda, workers and gunicorn APIs; what a user sees on stdout and stderr, and the exit codes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fmldev.sample_data import write as write_sample

from ..conftest import ROOT

pytestmark = pytest.mark.emulator

FML = Path(sys.executable).parent / "fml"
SAMPLE = ROOT / "samples" / "churn.csv"
STACK_ENV_KEYS = ("FML_", "AWS_", "USE_SSL", "LOCALSTACK_HOST")


@pytest.fixture(scope="module")
def env_file(settings, tmp_path_factory) -> Path:
    """The stack's env file as `make localstack-up` wrote it; without one, the same KEY=value lines
    from the environment the tests run in (which was loaded from it)."""
    written = ROOT / ".state" / "local.env"
    if written.is_file():
        return written
    path = tmp_path_factory.mktemp("cli") / "local.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in os.environ.items() if k.startswith(STACK_ENV_KEYS)))
    return path


@pytest.fixture(scope="module")
def cli(env_file, trainer_api, predictor_api, tmp_path_factory):
    """Run the real `fml` executable (stderr a pipe: the plain progress lines), from a folder with no
    `.state/` above it, so the env file comes through FML_ENV_FILE."""
    cwd = tmp_path_factory.mktemp("cwd")
    env = {
        **os.environ,
        "FML_ENV_FILE": str(env_file),
        "FML_TRAINER_URL": trainer_api,
        "FML_PREDICTOR_URL": predictor_api,
    }

    def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        done = subprocess.run([str(FML), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    return run


def field(stdout: str, name: str) -> str:
    """The value of a `name:  value` line of a summary."""
    for line in stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep and key == name:
            return value.strip()
    raise AssertionError(f"no {name!r} line in:\n{stdout}")


@pytest.fixture(scope="module")
def trained(cli, trainer_worker, tmp_path_factory) -> dict[str, str]:
    """`fml train <model> samples/churn.csv --target churned --wait` for a model of this module."""
    import uuid

    model = f"cli-{uuid.uuid4().hex[:8]}"
    done = cli("train", model, str(SAMPLE), "--target", "churned", "--param", "max_depth=3", "--wait")
    assert done.returncode == 0, done.stderr
    return {"model": model, "stdout": done.stdout, "stderr": done.stderr}


def test_train_wait_prints_the_job_version_metrics_and_promotion(trained, cli):
    out, err = trained["stdout"], trained["stderr"]
    job_id = out.splitlines()[0]
    assert job_id.startswith("train-") and len(job_id) == len("train-") + 32
    assert field(out, "job").startswith(f"{job_id} succeeded in ")
    version = field(out, "version")
    assert version
    assert "auc " in field(out, "metrics")
    assert field(out, "promotion") == "promoted to live: no live version yet"  # a new model's first version
    assert f"uploaded {SAMPLE} to s3://" in err and f"/{trained['model']}/churn.csv (version " in err
    progress = [line for line in err.splitlines() if line.startswith("train-")]
    assert progress and progress[-1].startswith(f"{job_id[:10]}… succeeded")

    versions = cli("versions", trained["model"])
    assert versions.returncode == 0, versions.stderr
    assert version in versions.stdout and "live" in versions.stdout
    models = cli("models")
    assert models.returncode == 0, models.stderr
    row = next(line for line in models.stdout.splitlines() if line.startswith(trained["model"] + " "))
    assert row.split()[1] == version  # live

    record = cli("jobs", job_id)
    assert record.returncode == 0 and field(record.stdout, "state") == "succeeded"
    assert field(record.stdout, "model version") == version


def test_predict_wait_downloads_every_row_and_reports_progress(trained, cli, predictor_worker, tmp_path):
    rows = 4000
    source = write_sample(tmp_path / "customers.csv", rows, score=True, seed=3)
    out_path = tmp_path / "results" / "scored.csv"
    done = cli("predict", trained["model"], str(source), "--wait", "--out", str(out_path))
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.splitlines()[0]
    assert job_id.startswith("predict-")

    progress = [line for line in done.stderr.splitlines() if line.startswith(job_id[:12])]
    assert progress, done.stderr
    assert all(f"/{rows:,} rows" in line for line in progress)  # the total counted before the upload
    assert progress[-1].startswith(f"{job_id[:12]}… succeeded {rows:,}/{rows:,} rows (100%)")
    assert f"({rows:,} rows) to s3://" in done.stderr

    assert field(done.stdout, "rows") == f"{rows:,} in total, {rows:,} scored, 0 failed"
    assert field(done.stdout, "predictions").startswith(f"{out_path} (from s3://")
    scored = pd.read_csv(out_path, dtype={"customer_id": str})
    assert len(scored) == rows
    assert scored["customer_id"].tolist() == pd.read_csv(source, dtype={"customer_id": str})["customer_id"].tolist()
    assert {"prediction", "probability_0", "probability_1"} <= set(scored.columns)

    status = cli("jobs", job_id)
    assert status.returncode == 0 and field(status.stdout, "state") == "succeeded"
    assert "succeeded" in status.stdout


def test_rows_that_cannot_be_scored_are_counted_and_their_reasons_downloaded(trained, cli, predictor_worker, tmp_path):
    source = write_sample(tmp_path / "feb.csv", 300, score=True, seed=4)
    lines = source.read_text().splitlines()
    parts = lines[9].split(",")
    parts[1] = "not-a-number"  # tenure_months of file line 10
    lines[9] = ",".join(parts)
    source.write_text("\n".join(lines) + "\n")
    done = cli("predict", trained["model"], str(source), "--wait")  # default output: beside the input
    assert done.returncode == 0, done.stderr
    assert field(done.stdout, "rows") == "300 in total, 299 scored, 1 failed"
    errors_file = tmp_path / "feb.errors.csv"
    assert field(done.stdout, "errors").startswith(f"1 row failed, reasons in {errors_file} (from s3://")
    assert len(pd.read_csv(tmp_path / "feb.predictions.csv")) == 299
    [error] = list(csv.DictReader(errors_file.open()))
    assert error["line"] == "10" and "tenure_months" in error["reason"]


def test_a_parquet_file_has_its_total_from_the_footer(trained, cli, predictor_worker, tmp_path):
    frame = pd.read_csv(write_sample(tmp_path / "in.csv", 500, score=True, seed=5), dtype={"customer_id": str})
    source = tmp_path / "mar.parquet"
    frame.to_parquet(source)
    done = cli("predict", trained["model"], str(source), "--wait", "--explain")
    assert done.returncode == 0, done.stderr
    assert "/500 rows" in done.stderr
    scored = pd.read_parquet(tmp_path / "mar.predictions.parquet")
    assert len(scored) == 500 and "contribution_bias" in scored.columns


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing column", "missing column(s) contract, payment_method, has_internet"),
        ("unknown model", "NotFound: no model 'cli-ghost-"),
    ],
)
def test_a_failing_prediction_exits_1_with_the_servers_reason(trained, cli, predictor_worker, tmp_path, case, reason):
    source = tmp_path / "bad.csv"
    source.write_text("tenure_months,monthly_charges,support_calls\n3,94.5,4\n10,20.1,0\n")
    model = trained["model"] if case == "missing column" else f"cli-ghost-{os.getpid()}"
    done = cli("predict", model, str(source), "--wait")
    assert done.returncode == 1, (done.stdout, done.stderr)
    job_id = done.stdout.splitlines()[0]
    assert done.stdout == job_id + "\n"  # no summary: the job failed
    last = done.stderr.splitlines()[-1]
    assert last.startswith(f"fml: job {job_id} failed: ") and reason in last
    assert any(line.startswith(f"{job_id[:12]}… failed") for line in done.stderr.splitlines())


def test_rollback_to_an_unknown_version_prints_the_404s_message(trained, cli):
    done = cli("rollback", trained["model"], "no-such-version")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"fml: error: model '{trained['model']}' has no version 'no-such-version' (trainer API: HTTP 404 NotFound)\n"
    )
    # Positive control: the same route moves live when there is somewhere to go.
    again = cli("train", trained["model"], str(SAMPLE), "--target", "churned", "--option", "promote=always", "--wait")
    assert again.returncode == 0, again.stderr
    back = cli("rollback", trained["model"])
    assert back.returncode == 0, back.stderr
    assert back.stdout.startswith(f"{trained['model']}: live {field(again.stdout, 'version')} -> ")


def test_usage_errors_upload_nothing(cli, trained):
    done = cli("train", trained["model"], str(SAMPLE), "--target", "churned", "--option", "tagret=x")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "fml: error: job option: unknown train option(s) in the object's metadata: tagret\n"
