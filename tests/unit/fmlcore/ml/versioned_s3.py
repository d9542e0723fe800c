"""A versioned S3 bucket in memory, enough for ModelStore: put/head/get by version, calls counted, errors scripted."""

from __future__ import annotations

import io
import threading
from collections import Counter
from types import SimpleNamespace
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
        self.failing_keys: dict[str, BaseException] = {}  # key → error raised by any read of it until cleared
        self._lock = threading.Lock()
        self._next = 0

    def put_object(self, Bucket: str, Key: str, Body: bytes, Metadata: dict | None = None, **kwargs: Any) -> dict:
        """A new version; `IfMatch` (the current version's ETag) and `IfNoneMatch="*"` as S3 checks them."""
        with self._lock:
            self.calls["put_object"] += 1
            current = self.versions.get((Bucket, Key))
            if kwargs.get("IfNoneMatch") == "*" and current:
                raise client_error("PreconditionFailed", 412, "PutObject")
            if "IfMatch" in kwargs:
                if not current:
                    raise client_error("NoSuchKey", 404, "PutObject")
                if kwargs["IfMatch"] != current[-1][0]:
                    raise client_error("PreconditionFailed", 412, "PutObject")
            self._next += 1
            version = f"v{self._next:04d}"
            self.versions.setdefault((Bucket, Key), []).append((version, bytes(Body), dict(Metadata or {})))
            return {"VersionId": version, "ETag": version}

    def get_paginator(self, operation: str) -> Any:
        """list_objects_v2 as one page: the keys of `Bucket` under `Prefix` that have a version."""
        assert operation == "list_objects_v2", operation

        def paginate(Bucket: str, Prefix: str = "") -> list[dict[str, Any]]:
            with self._lock:
                keys = sorted(k for (b, k), v in self.versions.items() if b == Bucket and k.startswith(Prefix) and v)
            return [{"Contents": [{"Key": k} for k in keys]}]

        return SimpleNamespace(paginate=paginate)

    def delete_all(self, Bucket: str, Key: str) -> None:
        with self._lock:
            self.versions.pop((Bucket, Key), None)

    def _find(self, operation: str, bucket: str, key: str, version: str | None) -> tuple[str, bytes, dict[str, str]]:
        with self._lock:
            self.calls[operation] += 1
            error = self.failing.get(operation) or self.failing_keys.get(key)
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
        return {"VersionId": version, "ETag": version, "Metadata": metadata, "ContentLength": len(body)}

    def get_object(self, Bucket: str, Key: str, VersionId: str | None = None) -> dict:
        version, body, metadata = self._find("get_object", Bucket, Key, VersionId)
        return {"VersionId": version, "ETag": version, "Metadata": metadata, "Body": io.BytesIO(body)}
