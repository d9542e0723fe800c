"""Hand-written fakes for the unit tests (the jobs layer, the status lifecycle, the prediction log): a clock,
an S3 with conditional writes, an SQS queue.

- `Clock` stands in for the `time` module of the code under test
  (`monkeypatch.setattr(fmlcore.jobs.lease, "time", clock)`): time only moves when a test says so.
- `FakeS3` keeps objects in memory and answers put/get/delete as S3 does, conditional writes
  included: `IfNoneMatch="*"` on an existing key and `IfMatch` with another ETag fail with
  412 PreconditionFailed, `IfMatch` on a missing key with 404 NoSuchKey. `fail()` queues an
  error for the next call of an operation (409 ConditionalRequestConflict, AccessDenied, ...);
  `after()` runs a one-shot callback after the next call of an operation, to interleave another
  worker between two calls.
- `FakeSQS` records every call; `receive_message` hands out scripted batches (or raises a
  scripted error) and fails the test when the script runs out instead of polling forever;
  `after_visibility` lets a test stop a heartbeat after so many visibility extensions.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import ClientError

HTTP_STATUS = {
    "PreconditionFailed": 412,
    "ConditionalRequestConflict": 409,
    "NoSuchKey": 404,
    "AccessDenied": 403,
    "Throttling": 400,
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
}


def client_error(code: str, status: int | None = None, operation: str = "Op") -> ClientError:
    """A botocore ClientError shaped like the one AWS returns for `code`."""
    status = status if status is not None else HTTP_STATUS.get(code, 400)
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class Clock:
    """time.time(), time.monotonic() and time.perf_counter() that move only by `advance`."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.mono = 1_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def perf_counter(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


class FakeS3:
    """An S3 bucket store in memory, with S3's conditional writes and error codes."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._errors: dict[str, list[BaseException]] = {}
        self._after: dict[str, list[Callable[[], None]]] = {}

    # -------------------------------------------------------------- scripting
    def fail(self, operation: str, error: BaseException) -> None:
        """The next call of `operation` raises `error` and changes nothing."""
        self._errors.setdefault(operation, []).append(error)

    def after(self, operation: str, callback: Callable[[], None]) -> None:
        """Run `callback` once, right after the next call of `operation` (whether it succeeded or not)."""
        self._after.setdefault(operation, []).append(callback)

    def calls_of(self, operation: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == operation]

    def body(self, bucket: str, key: str) -> dict[str, Any]:
        return json.loads(self.objects[(bucket, key)][0])

    def etag(self, bucket: str, key: str) -> str:
        return self.objects[(bucket, key)][1]

    # -------------------------------------------------------------- the S3 API used
    def put_object(self, Bucket: str, Key: str, Body: bytes, **kwargs: Any) -> dict[str, Any]:
        with self._call("put_object", Bucket=Bucket, Key=Key, Body=Body, **kwargs):
            current = self.objects.get((Bucket, Key))
            if kwargs.get("IfNoneMatch") == "*" and current is not None:
                raise client_error("PreconditionFailed", operation="PutObject")
            if "IfMatch" in kwargs:
                if current is None:
                    raise client_error("NoSuchKey", operation="PutObject")
                if kwargs["IfMatch"].strip('"') != current[1].strip('"'):
                    raise client_error("PreconditionFailed", operation="PutObject")
            etag = f'"{hashlib.md5(Body).hexdigest()}"'
            self.objects[(Bucket, Key)] = (Body, etag)
            return {"ETag": etag}

    def get_object(self, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        with self._call("get_object", Bucket=Bucket, Key=Key, **kwargs):
            if (Bucket, Key) not in self.objects:
                raise client_error("NoSuchKey", operation="GetObject")
            body, etag = self.objects[(Bucket, Key)]
            return {"Body": io.BytesIO(body), "ETag": etag}

    def delete_object(self, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        with self._call("delete_object", Bucket=Bucket, Key=Key, **kwargs):
            self.objects.pop((Bucket, Key), None)  # S3 answers 204 for a missing key too
            return {}

    def get_paginator(self, operation: str) -> Any:
        """list_objects_v2 as one page: the keys of `Bucket` under `Prefix`, sorted."""
        assert operation == "list_objects_v2", operation

        def paginate(Bucket: str, Prefix: str = "") -> list[dict[str, Any]]:
            keys = sorted(k for b, k in self.objects if b == Bucket and k.startswith(Prefix))
            return [{"Contents": [{"Key": k} for k in keys], "KeyCount": len(keys)}]

        return SimpleNamespace(paginate=paginate)

    def _call(self, operation: str, **kwargs: Any) -> _Call:
        self.calls.append((operation, kwargs))
        return _Call(self, operation)


class _Call:
    """Raises a scripted error on entry, runs the scripted callbacks on exit."""

    def __init__(self, s3: FakeS3, operation: str) -> None:
        self.s3 = s3
        self.operation = operation

    def __enter__(self) -> None:
        errors = self.s3._errors.get(self.operation)
        if errors:
            raise errors.pop(0)

    def __exit__(self, *exc_info: Any) -> None:
        callbacks = self.s3._after.pop(self.operation, [])
        for callback in callbacks:
            callback()


class FakeSQS:
    """One queue: scripted receives, recorded deletes and visibility changes."""

    def __init__(self, max_receives: int | None = 3, batches: list[Any] | None = None) -> None:
        self.redrive_policy: str | None = None  # the queue's RedrivePolicy attribute, as SQS gives it
        if max_receives is not None:
            self.redrive_policy = json.dumps(
                {"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:000000000000:dlq", "maxReceiveCount": str(max_receives)}
            )
        self.attributes_error: BaseException | None = None
        self.batches = list(batches or [])  # each a list of messages, or an exception to raise
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.visibility_error: BaseException | None = None
        self.after_visibility: Callable[[int], None] | None = None  # called with the count of changes so far

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        self.calls.append(("get_queue_attributes", {"QueueUrl": QueueUrl, "AttributeNames": AttributeNames}))
        if self.attributes_error is not None:
            raise self.attributes_error
        if self.redrive_policy is None:
            return {"Attributes": {}}
        return {"Attributes": {"RedrivePolicy": self.redrive_policy}}

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("receive_message", kwargs))
        if not self.batches:
            raise AssertionError("the test scripted no more receives")
        batch = self.batches.pop(0)
        if isinstance(batch, BaseException):
            raise batch
        return {"Messages": batch}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> dict[str, Any]:
        self.calls.append(("delete_message", {"QueueUrl": QueueUrl, "ReceiptHandle": ReceiptHandle}))
        return {}

    def change_message_visibility(self, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> dict[str, Any]:
        self.calls.append(
            (
                "change_message_visibility",
                {"QueueUrl": QueueUrl, "ReceiptHandle": ReceiptHandle, "VisibilityTimeout": VisibilityTimeout},
            )
        )
        if self.after_visibility is not None:
            self.after_visibility(len(self.visibility()))
        if self.visibility_error is not None:
            raise self.visibility_error
        return {}

    # -------------------------------------------------------------- what the worker did
    def deleted(self) -> list[str]:
        return [kwargs["ReceiptHandle"] for name, kwargs in self.calls if name == "delete_message"]

    def visibility(self) -> list[tuple[str, int]]:
        return [
            (kwargs["ReceiptHandle"], kwargs["VisibilityTimeout"])
            for name, kwargs in self.calls
            if name == "change_message_visibility"
        ]
