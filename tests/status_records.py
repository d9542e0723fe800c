"""Status records as a user reads them: the JSON objects under `_jobs/` (docs/contracts.md, "Job status").

Tests assert on this JSON, the contract, rather than on the services' own `JobRecord` type.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from fmlcore.core.layout import dead_key, status_key


class StatusRecords:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def get(self, job_id: str) -> dict[str, Any] | None:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=status_key(job_id))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return json.loads(obj["Body"].read())

    def put(self, record: dict[str, Any]) -> None:
        """Write a record as it would stand after some past event (a test's starting point)."""
        self.s3.put_object(Bucket=self.bucket, Key=status_key(record["job_id"]), Body=json.dumps(record).encode())

    def dead_job_ids(self) -> list[str]:
        resp = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=dead_key(""))
        return [obj["Key"].rsplit("/", 1)[1] for obj in resp.get("Contents", [])]
