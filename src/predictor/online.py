"""Online predictions, stored: `online/<model>/<yyyy>/<mm>/<dd>/<prediction_id>.json` in the predictions bucket.

The prediction id carries the day and the model (`<yyyymmdd>-<32 hex>-<model>`), so the
stored object is found from the id alone, without an index to keep in step.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from fmlcore.core.aws import is_not_found
from fmlcore.core.errors import NotFound
from fmlcore.core.layout import MODEL_NAME_RE, online_prediction_key, s3_uri
from fmlcore.jobs.message import isoformat

PREDICTION_ID_RE = re.compile(r"^(?P<day>\d{8})-(?P<hex>[0-9a-f]{32})-(?P<model>[a-z0-9][a-z0-9_-]{0,63})$")


def new_prediction_id(model: str, at: datetime) -> str:
    return f"{at:%Y%m%d}-{uuid.uuid4().hex}-{model}"


def key_for(prediction_id: str) -> str:
    match = PREDICTION_ID_RE.match(prediction_id)
    if not match or not MODEL_NAME_RE.match(match["model"]):
        raise NotFound(f"no prediction {prediction_id!r}", {"prediction_id": prediction_id})
    try:
        day = datetime.strptime(match["day"], "%Y%m%d").replace(tzinfo=UTC)
    except ValueError as exc:  # 20261399: the shape of an id, not a real day
        raise NotFound(f"no prediction {prediction_id!r}", {"prediction_id": prediction_id}) from exc
    return online_prediction_key(match["model"], prediction_id, day)


class PredictionStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put(self, record: dict[str, Any]) -> str:
        """Store one request's inputs and outputs; returns the object's URI."""
        key = key_for(record["prediction_id"])
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(record, separators=(",", ":"), default=str).encode(),
            ContentType="application/json",
            Metadata={"model": record["model"], "model_version": record["model_version"]},
        )
        return s3_uri(self.bucket, key)

    def get(self, prediction_id: str) -> dict[str, Any]:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=key_for(prediction_id))
        except ClientError as exc:
            if is_not_found(exc):
                raise NotFound(f"no prediction {prediction_id!r}", {"prediction_id": prediction_id}) from exc
            raise
        return json.loads(obj["Body"].read())


def record(
    prediction_id: str, model: str, version: str, at: datetime, input_format: str, payload: Any, input_sha256: str,
    predictions: list[dict[str, Any]], request_id: str | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "prediction_id": prediction_id,
        "model": model,
        "model_version": version,
        "created_at": isoformat(at),
        "request_id": request_id,
        "input": {"format": input_format, "sha256": input_sha256, "data": payload},
        "predictions": predictions,
    }
