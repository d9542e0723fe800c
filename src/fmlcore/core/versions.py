"""Object versions in the versioned buckets: which version of a key a job wrote.

Every object a job writes (a model version, a batch output, an errors file) carries the job's
id in its user metadata (`job_id`), so a retried job finds what an earlier attempt already
wrote instead of writing it twice.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote


def versions_newest_first(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """Every version of exactly `key` (not of keys it prefixes), newest first."""
    versions = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        versions += [v for v in page.get("Versions", []) if v["Key"] == key]
    return sorted(versions, key=lambda v: v["LastModified"], reverse=True)


def version_written_by(s3: Any, bucket: str, key: str, job_id: str, newest: int) -> str | None:
    """The version of `key` whose `job_id` metadata is `job_id`, among its `newest` versions."""
    for version in versions_newest_first(s3, bucket, key)[:newest]:
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
        if unquote(head.get("Metadata", {}).get("job_id", "")) == job_id:
            return version["VersionId"]
    return None
