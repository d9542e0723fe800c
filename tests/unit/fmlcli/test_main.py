"""fmlcli.main end to end against a tiny local HTTP server: what lands on stdout and stderr, and the
exit codes (0 done, 1 failed, 2 usage), with no traceback for any expected failure."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fmlcli import report
from fmlcli.main import main, output_paths

TRAIN_JOB = "train-" + "0" * 32
PREDICT_JOB = "predict-" + "1" * 32


@pytest.fixture
def env_file(tmp_path) -> Path:
    path = tmp_path / "local.env"
    path.write_text("FML_TARGET=local\nFML_DATASETS_BUCKET=d\nFML_INFERENCE_BUCKET=i\n")
    return path


@pytest.fixture
def fml(fake_api, env_file, capsys):
    """Run `fml ARGS` against the fake API; returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        urls = ["--env-file", str(env_file), "--trainer-url", fake_api.url, "--predictor-url", fake_api.url]
        code = main([*urls, *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


MODELS = {
    "models": [
        {"model": "churn", "live_version": "v2", "latest_version": "v3", "objective": "binary:logistic",
         "trained_at": "2026-11-30T07:29:38.910Z", "aliases": {"live": "v2", "candidate": "v3"}},
    ]
}  # fmt: skip


def test_models_prints_a_table(fml, fake_api):
    fake_api.answer("GET", "/models", 200, MODELS)
    code, out, err = fml("models")
    assert code == 0 and err == ""
    header, row = out.splitlines()
    assert header.split() == ["MODEL", "LIVE", "LATEST", "OBJECTIVE", "TRAINED_AT", "OTHER", "ALIASES"]
    assert row.split() == ["churn", "v2", "v3", "binary:logistic", "2026-11-30T07:29:38.910Z", "candidate=v3"]


def test_a_4xx_prints_the_servers_message_on_stderr_and_exits_1(fml, fake_api):
    error = {"error": {"type": "NotFound", "message": "model 'churn' has no version 'nope'", "details": {}}}
    fake_api.answer("POST", "/models/churn/rollback", 404, error)
    code, out, err = fml("rollback", "churn", "nope")
    assert (code, out) == (1, "")
    assert err == "fml: error: model 'churn' has no version 'nope' (trainer API: HTTP 404 NotFound)\n"
    assert fake_api.requests[-1].body == b'{"version": "nope"}'


def test_rollback_200_is_the_positive_control(fml, fake_api):
    moved = {"model": "churn", "alias": "live", "version": "v1", "previous_version": "v2", "reason": "rollback to v1"}
    fake_api.answer("POST", "/models/churn/rollback", 200, moved)
    code, out, err = fml("rollback", "churn")
    assert (code, err) == (0, "")
    assert out == "churn: live v2 -> v1 (rollback to v1)\n"
    assert fake_api.requests[-1].body == b""  # no version: no body, back one move


def test_versions_passes_the_limit_and_prints_metrics(fml, fake_api):
    versions = {"versions": [{"version": "v3", "aliases": ["candidate", "live"], "trained_at": "t", "rows": 2000,
                              "metrics": {"auc": 0.80583, "logloss": 0.53275}}]}  # fmt: skip
    fake_api.answer("GET", "/models/churn/versions?limit=2", 200, versions)
    code, out, _ = fml("versions", "churn", "--limit", "2")
    assert code == 0
    assert out.splitlines()[1].split() == [
        "v3",
        "candidate,live",
        "t",
        "2,000",
        "auc",
        "0.80583,",
        "logloss",
        "0.53275",
    ]


def test_jobs_reads_the_record_from_the_service_its_prefix_names(fml, fake_api):
    train = {"job_id": TRAIN_JOB, "kind": "train", "model": "churn", "state": "succeeded", "model_version": "v1",
             "input": {"bucket": "d", "key": "churn/churn.csv", "version_id": "x"}, "progress": {"rows_done": 2000}}  # fmt: skip
    fake_api.answer("GET", f"/training-jobs/{TRAIN_JOB}", 200, train)
    code, out, _ = fml("jobs", TRAIN_JOB)
    assert code == 0
    assert "state:          succeeded" in out and "input:          s3://d/churn/churn.csv (version x)" in out
    code, out, _ = fml("jobs", TRAIN_JOB, "--json")
    assert code == 0 and '"model_version": "v1"' in out
    fake_api.answer("GET", f"/prediction-jobs/{PREDICT_JOB}", 200, {"job_id": PREDICT_JOB, "state": "queued"})
    assert "queued" in fml("jobs", PREDICT_JOB)[1]
    assert [r.path for r in fake_api.requests] == [f"/training-jobs/{TRAIN_JOB}"] * 2 + [
        f"/prediction-jobs/{PREDICT_JOB}"
    ]


def test_watching_a_job_that_failed_exits_1_with_its_reason(fml, fake_api):
    failed = {"job_id": PREDICT_JOB, "state": "failed", "progress": {"rows_done": 0},
              "error": {"type": "InvalidInput", "message": "missing column(s) contract"}}  # fmt: skip
    fake_api.answer("GET", f"/prediction-jobs/{PREDICT_JOB}", 200, failed)
    code, out, err = fml("jobs", PREDICT_JOB, "--watch", "--interval", "0.01")
    assert (code, out) == (1, "")
    progress, reason = err.splitlines()
    assert progress.startswith("predict-1111… failed ") and progress.endswith("s")
    assert reason == f"fml: job {PREDICT_JOB} failed: InvalidInput: missing column(s) contract"


def test_watching_a_job_that_succeeded_prints_its_summary(fml, fake_api):
    done = {"job_id": PREDICT_JOB, "state": "succeeded", "model": "churn", "model_version": "v1",
            "submitted_at": "2026-11-30T10:00:00.000Z", "finished_at": "2026-11-30T10:00:04.500Z",
            "progress": {"rows_done": 5000}, "metrics": {"rows_total": 5000, "rows_scored": 4997, "rows_failed": 3},
            "outputs": {"predictions_uri": "s3://p/batch/churn/c.predictions.csv", "errors_uri": "s3://p/batch/churn/c.errors.csv"}}  # fmt: skip
    fake_api.answer("GET", f"/prediction-jobs/{PREDICT_JOB}", 200, done)
    code, out, err = fml("jobs", PREDICT_JOB, "--watch")
    assert code == 0
    assert f"job:          {PREDICT_JOB} succeeded in 4.5s" in out
    assert "rows:         5,000 in total, 4,997 scored, 3 failed" in out
    assert "errors:       3 rows failed, reasons in s3://p/batch/churn/c.errors.csv" in out
    assert "predict-1111… succeeded 5,000 rows" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "churn", "samples/churn.csv"],  # --target (the label) is required
        ["predict", "churn", "x.csv", "--alias", "a", "--version", "v"],
        ["jobs", TRAIN_JOB, "--interval", "0"],
        ["nosuchcommand"],
    ],
)
def test_argparse_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "usage: fml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "churn", "x.csv", "--target", "y", "--option", "tagret=z"], "unknown train option(s)"),
        (["train", "Churn", "x.csv", "--target", "y"], "invalid model name 'Churn'"),
        (["predict", "churn", "x.txt"], "unsupported file type"),
        (["predict", "churn", "x.csv", "--out", "o.csv"], "--out needs --wait"),
        (["jobs", "job-123"], "is not a job id"),
    ],
)
def test_our_own_usage_errors_exit_2_before_anything_is_sent(fml, fake_api, argv, message):
    code, out, err = fml(*argv)
    assert (code, out) == (2, "")
    assert err.startswith("fml: error: ") and message in err and "Traceback" not in err
    assert fake_api.requests == []


def test_a_missing_file_is_one_line_and_exit_1(fml, tmp_path):
    code, out, err = fml("predict", "churn", str(tmp_path / "absent.csv"))
    assert (code, out) == (1, "")
    assert err == f"fml: error: {tmp_path / 'absent.csv'}: no such file\n"


def test_an_unreachable_api_is_one_line_and_exit_1(env_file, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["--env-file", str(env_file), "--trainer-url", f"http://127.0.0.1:{port}", "models"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"fml: error: cannot reach the trainer API at http://127.0.0.1:{port}: ")
    assert err.count("\n") == 1


def test_no_local_stack_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FML_ENV_FILE", raising=False)
    assert main(["models"]) == 1
    assert capsys.readouterr().err.startswith("fml: error: no local stack: .state/local.env not found")


def test_output_paths(tmp_path):
    data = tmp_path / "in" / "customers.csv"
    assert output_paths(data, None) == (tmp_path / "in/customers.predictions.csv", tmp_path / "in/customers.errors.csv")
    assert output_paths(data, str(tmp_path / "o.csv")) == (tmp_path / "o.csv", tmp_path / "customers.errors.csv")
    out_dir = tmp_path / "new" / ""
    assert output_paths(data, str(out_dir) + "/")[0] == tmp_path / "new/customers.predictions.csv"
    (tmp_path / "existing").mkdir()
    assert output_paths(data, str(tmp_path / "existing"))[0] == tmp_path / "existing/customers.predictions.csv"


def test_the_training_summary_says_what_the_gate_decided():
    record = {"job_id": TRAIN_JOB, "state": "succeeded", "model": "churn", "model_version": "v9",
              "metrics": {"auc": 0.204288, "logloss": 0.9}, "promotion": {
                  "promoted": False, "alias": "live", "live_version": "v8",
                  "reason": "worse than live on the live reference set: auc 0.204288 against 0.792236"}}  # fmt: skip
    text = report.train_summary(record, 12.34)
    assert text.splitlines() == [
        f"job:        {TRAIN_JOB} succeeded in 12.3s",
        "model:      churn",
        "version:    v9",
        "metrics:    auc 0.204288, logloss 0.9",
        "promotion:  held back as candidate (live stays v8): worse than live on the live reference set: "
        "auc 0.204288 against 0.792236",
    ]
    record["promotion"] = {"promoted": True, "alias": "live", "reason": "no live version yet"}
    assert "promotion:  promoted to live: no live version yet" in report.train_summary(record, 1.0)
