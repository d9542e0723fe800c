"""The shadow report's arithmetic over stored prediction lines (pure; the S3 reading is an integration test)."""

from datetime import UTC, datetime, timedelta

import pytest

from fmlcore.core.errors import InvalidInput
from predictor.shadow import parse_since, summarize

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
SINCE = NOW - timedelta(hours=1)


def line(live, shadow, at=NOW, version="v1", shadow_version="v2", **extra):
    out = {"model_version": version, "created_at": at.isoformat().replace("+00:00", "Z"), "predictions": live}
    if shadow is not None:
        out["shadow"] = {"model_version": shadow_version, "predictions": shadow, **extra}
    return out


def cls(label, p1):
    return {"prediction": label, "probabilities": {"0": 1 - p1, "1": p1}}


def test_classifier_rows_compare_labels_and_probabilities():
    lines = [
        line([cls(1, 0.9), cls(0, 0.2)], [cls(1, 0.8), cls(1, 0.6)]),
        line([cls(0, 0.1)], [cls(0, 0.1)]),
    ]
    report = summarize(lines, SINCE)
    assert report["requests_compared"] == 2 and report["predictions_compared"] == 3
    assert report["labels_equal_share"] == pytest.approx(2 / 3, abs=1e-6)
    assert report["abs_delta"]["of"] == "probability"
    assert report["abs_delta"]["mean"] == pytest.approx((0.1 + 0.4 + 0.0) / 3, abs=1e-6)
    assert report["abs_delta"]["max"] == pytest.approx(0.4)
    assert report["live_versions"] == {"v1": 2} and report["shadow_versions"] == {"v2": 2}


def test_regression_rows_compare_values_and_have_no_label_share():
    report = summarize(
        [line([{"prediction": 3.0}, {"prediction": 1.0}], [{"prediction": 2.5}, {"prediction": 2.0}])], SINCE
    )
    assert report["labels_equal_share"] is None
    assert report["abs_delta"] == {"of": "value", "mean": 0.75, "p95": pytest.approx(0.975), "max": 1.0}


def test_lines_without_shadow_before_since_or_with_shadow_errors_are_not_compared():
    lines = [
        line([cls(1, 0.9)], None),  # no shadow
        line([cls(1, 0.9)], [cls(0, 0.1)], at=SINCE - timedelta(seconds=1)),  # too old
        line([cls(1, 0.9)], None) | {"shadow": {"model_version": "v2", "error": "missing column x"}},
        line([cls(1, 0.9)], [cls(1, 0.7)]),  # the one compared (positive control)
    ]
    report = summarize(lines, SINCE)
    assert report["requests_compared"] == 1 and report["shadow_errors"] == 1
    assert report["abs_delta"]["max"] == pytest.approx(0.2)


def test_no_comparison_at_all():
    report = summarize([], SINCE)
    assert report["requests_compared"] == 0 and report["abs_delta"] is None and report["labels_equal_share"] is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, NOW - timedelta(hours=24)), ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
     ("2026-11-30T06:00:00Z", datetime(2026, 11, 30, 6, tzinfo=UTC)),
     ("2026-11-30T07:00:00+01:00", datetime(2026, 11, 30, 6, tzinfo=UTC))],
)  # fmt: skip
def test_since_is_iso_8601(raw, expected):
    assert parse_since(raw, NOW) == expected


@pytest.mark.parametrize(
    ("raw", "mentions"), [("yesterday", "ISO 8601"), ("2026-12-01", "future"), ("2026-01-01", "31 days")]
)
def test_bad_since_is_a_clear_400(raw, mentions):
    with pytest.raises(InvalidInput, match=mentions):
        parse_since(raw, NOW)
