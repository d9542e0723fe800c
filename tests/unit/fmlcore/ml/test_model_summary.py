"""The S3 summary of a model version fits S3's 2 KB user-metadata limit, whatever its inputs."""

from urllib.parse import unquote

import pytest

from fmlcore.core.errors import InvalidInput
from fmlcore.core.layout import validate_version_id
from fmlcore.ml.model_store import SUMMARY_BUDGET_BYTES, _summary


def metadata_size(summary: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in summary.items())


BASE = {"objective": "binary:logistic", "trained_at": "2026-11-30T00:00:00Z", "job_id": "train-" + "0" * 32,
        "rows": 2000, "metrics": {"auc": 0.91, "logloss": 0.3}}  # fmt: skip


def test_a_short_summary_is_kept_whole():
    summary = _summary({**BASE, "dataset_uri": "s3://d/churn/churn.csv"})
    assert "truncated" not in summary and unquote(summary["dataset_uri"]) == "s3://d/churn/churn.csv"


@pytest.mark.parametrize(
    "extra",
    [
        {"dataset_uri": "s3://d/churn/" + "é" * 1000 + ".csv"},  # 1 KB key, 6 encoded bytes per letter
        {"metrics": {f"class_{i}_recall": 0.5 for i in range(200)}},  # a wide multiclass report
    ],
    ids=["unicode-key", "many-metrics"],
)
def test_an_oversized_summary_is_cut_to_fit_and_says_so(extra):
    summary = _summary({**BASE, "dataset_uri": "s3://d/churn/churn.csv", **extra})
    assert metadata_size(summary) <= SUMMARY_BUDGET_BYTES
    assert summary["truncated"] in ("dataset_uri", "metrics")
    assert unquote(summary[summary["truncated"]]).endswith("...")
    assert summary["objective"] == "binary:logistic"  # the short fields are untouched


def test_version_ids_are_checked_for_shape_and_length():
    assert validate_version_id("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY") == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    assert validate_version_id("null") == "null"
    for bad in ("", "a b", "../x", "v" * 1025, "é"):
        with pytest.raises(InvalidInput, match="invalid model version"):
            validate_version_id(bad)
