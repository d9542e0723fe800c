"""A versioned S3 bucket in memory, enough for ModelStore: put/head/get by version, calls counted, errors scripted."""

from __future__ import annotations

import io
import threading
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError


def client_error(code: str, status: int, operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class VersionedS3:
    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], list[tuple[str, bytes, dict[str, str]]]] = {}
        self.calls: Counter[str] = Counter()
        self.failing: dict[str, BaseException] = {}  # operation → error raised until cleared
        self._lock = threading.Lock()
        self._next = 0

    def put_object(self, Bucket: str, Key: str, Body: bytes, Metadata: dict | None = None, **_: Any) -> dict:
        with self._lock:
            self.calls["put_object"] += 1
            self._next += 1
            version = f"v{self._next:04d}"
            self.versions.setdefault((Bucket, Key), []).append((version, bytes(Body), dict(Metadata or {})))
            return {"VersionId": version}

    def delete_all(self, Bucket: str, Key: str) -> None:
        with self._lock:
            self.versions.pop((Bucket, Key), None)

    def _find(self, operation: str, bucket: str, key: str, version: str | None) -> tuple[str, bytes, dict[str, str]]:
        with self._lock:
            self.calls[operation] += 1
            error = self.failing.get(operation)
            if error is not None:
                raise error
            versions = self.versions.get((bucket, key), [])
            if version is None:
                if versions:
                    return versions[-1]
                raise client_error("404", 404, operation)
            for found in versions:
                if found[0] == version:
                    return found
            raise client_error("NoSuchVersion", 404, operation)

    def head_object(self, Bucket: str, Key: str, VersionId: str | None = None) -> dict:
        version, body, metadata = self._find("head_object", Bucket, Key, VersionId)
        return {"VersionId": version, "Metadata": metadata, "ContentLength": len(body)}

    def get_object(self, Bucket: str, Key: str, VersionId: str | None = None) -> dict:
        version, body, metadata = self._find("get_object", Bucket, Key, VersionId)
        return {"VersionId": version, "Metadata": metadata, "Body": io.BytesIO(body)}
