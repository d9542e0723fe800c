from datetime import UTC, datetime

import pytest

from fmlcore.core.errors import InvalidInput
from fmlcore.core.layout import (
    batch_errors_key,
    batch_output_key,
    model_from_key,
    online_prediction_key,
    parse_s3_uri,
    validate_model_name,
)


@pytest.mark.parametrize("name", ["churn", "a", "fraud_v2", "x-1", "0model", "a" * 64])
def test_valid_model_names(name):
    assert validate_model_name(name) == name


@pytest.mark.parametrize("name", ["", "Churn", "_jobs", "-x", "a" * 65, "a/b", "a b", "é"])
def test_invalid_model_names(name):
    with pytest.raises(InvalidInput):
        validate_model_name(name)


def test_keys_follow_the_bucket_layout():
    assert model_from_key("churn/2026/jan.csv") == "churn"
    assert batch_output_key("churn", "churn/2026/jan.csv") == "batch/churn/2026/jan.predictions.csv"
    assert batch_errors_key("churn", "churn/jan.PARQUET") == "batch/churn/jan.errors.csv"
    at = datetime(2026, 3, 4, tzinfo=UTC)
    assert online_prediction_key("churn", "p1", at) == "online/churn/2026/03/04/p1.json"


def test_s3_uris():
    assert parse_s3_uri("s3://b/k/x.csv") == ("b", "k/x.csv")
    for bad in ("b/k", "s3://b", "s3:///k"):
        with pytest.raises(InvalidInput):
            parse_s3_uri(bad)
