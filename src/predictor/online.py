"""Online predictions, stored by group commit: requests that arrive in one process within a
short window share one S3 PUT of a JSON-lines object, one line per request.

    online/<model>/dt=<yyyy-mm-dd>/hour=<hh>/<object id>.jsonl      (docs/contracts.md, "Online predictions")

A request is answered only after the PUT holding its line succeeded: a returned
`prediction_id` is always retrievable, and a failed PUT fails every request of its group
(TransientError, 503), so nothing unstored is ever acknowledged. The first request of a group
leads it: it waits up to the window (or until the group is full), then PUTs for everyone;
the others wait for that PUT. While a model's group is being PUT, the next group's leader
waits for it too (classic group commit): under load groups grow instead of PUTs multiplying,
and at low load a lone request waits only the window. No background thread, nothing to flush at shutdown: every line
is stored before its request returns.

The prediction id names the object and the line (`<yyyymmddhh>-<object id>-<line>-<model>`),
so `GET /predictions/<id>` reads one object and needs no index. Ids of predictions stored
alone before grouping (`<yyyymmdd>-<32 hex>-<model>`) still resolve to their objects.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from fmlcore.core.aws import is_not_found
from fmlcore.core.errors import NotFound, TransientError
from fmlcore.core.layout import MODEL_NAME_RE, online_log_key, online_prediction_key, s3_uri
from fmlcore.core.times import isoformat

MODEL = r"(?P<model>[a-z0-9][a-z0-9_-]{0,63})"
PREDICTION_ID_RE = re.compile(rf"^(?P<hour>\d{{10}})-(?P<object>[0-9a-f]{{32}})-(?P<line>\d{{1,6}})-{MODEL}$")
LEGACY_ID_RE = re.compile(rf"^(?P<day>\d{{8}})-(?P<hex>[0-9a-f]{{32}})-{MODEL}$")


@dataclass(frozen=True)
class Location:
    key: str
    line: int | None  # 1-based line of a grouped object; None for a prediction stored alone


def locate(prediction_id: str) -> Location:
    """Where a prediction is stored, from its id alone; NotFound for anything not shaped like one."""
    missing = NotFound(f"no prediction {prediction_id!r}", {"prediction_id": prediction_id})
    match = PREDICTION_ID_RE.match(prediction_id)
    legacy = None if match else LEGACY_ID_RE.match(prediction_id)
    if not (match or legacy) or not MODEL_NAME_RE.match((match or legacy)["model"]):
        raise missing
    try:
        if match:
            at = datetime.strptime(match["hour"], "%Y%m%d%H").replace(tzinfo=UTC)
            return Location(online_log_key(match["model"], at, match["object"]), int(match["line"]))
        at = datetime.strptime(legacy["day"], "%Y%m%d").replace(tzinfo=UTC)
        return Location(online_prediction_key(legacy["model"], prediction_id, at), None)
    except ValueError as exc:  # 2026139925: the shape of an id, not a real hour
        raise missing from exc


def line_of(
    prediction_id: str, model: str, version: str, at: datetime, input_format: str, body: bytes, input_sha256: str,
    predictions: list[dict[str, Any]], request_id: str | None, alias: str | None = None,
    shadow: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One request's line (docs/contracts.md): the request body as sent, its SHA-256, the outputs
    (and the `shadow` version's, when it scored the request too)."""
    line = {
        "prediction_id": prediction_id,
        "model": model,
        "model_version": version,
        "alias": alias,
        "created_at": isoformat(at),
        "request_id": request_id,
        "input": {"format": input_format, "sha256": input_sha256, "body": body.decode("utf-8", errors="replace")},
        "predictions": predictions,
    }
    if shadow is not None:
        line["shadow"] = shadow
    return line


@dataclass
class _Group:
    model: str
    at: datetime
    object_id: str
    opened: float
    lines: list[bytes] = field(default_factory=list)
    size: int = 0
    sealed: bool = False
    stored: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    key: str = ""

    def __post_init__(self) -> None:
        self.key = online_log_key(self.model, self.at, self.object_id)


class PredictionLog:
    """Group commit of online predictions for one process (thread-safe)."""

    def __init__(self, s3: Any, bucket: str, window_seconds: float = 0.002, max_lines: int = 64,
                 max_bytes: int = 8 << 20, on_commit: Callable[[int], None] | None = None) -> None:  # fmt: skip
        self.s3 = s3
        self.bucket = bucket
        self.window = window_seconds
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._lock = threading.Condition()
        self._open: dict[str, _Group] = {}
        self._putting: dict[str, int] = {}  # PUTs in flight, by model
        self.puts = 0  # PUTs made (the bench reports PUTs per 1,000 requests)
        self.on_commit = on_commit  # called with the number of requests each stored object holds

    def store(self, model: str, make_line) -> tuple[str, str]:
        """Append the line `make_line(prediction_id)` builds to the current group of `model` and
        return (prediction_id, the object's URI) once the group's PUT succeeded."""
        with self._lock:
            group = self._open.get(model)
            leader = group is None
            if leader:
                at = datetime.now(UTC)
                group = self._open[model] = _Group(model, at, uuid.uuid4().hex, time.monotonic())
            number = len(group.lines) + 1
            prediction_id = f"{group.at:%Y%m%d%H}-{group.object_id}-{number}-{model}"
            line = orjson.dumps(make_line(prediction_id), default=str)
            group.lines.append(line)
            group.size += len(line) + 1
            if len(group.lines) >= self.max_lines or group.size >= self.max_bytes:
                self._seal(group)
                self._lock.notify_all()
            if leader:
                # Wait out the window, and while this model's previous group is still being PUT:
                # under load the next group grows meanwhile, so PUTs stay few however many requests.
                deadline = group.opened + self.window
                while not group.sealed:
                    left = deadline - time.monotonic()
                    if left <= 0 and not self._putting.get(model):
                        break
                    self._lock.wait(left if left > 0 else None)
                self._seal(group)
                self._putting[model] = self._putting.get(model, 0) + 1
        if leader:
            try:
                self._put(group)
            finally:
                with self._lock:
                    self._putting[model] -= 1
                    self._lock.notify_all()
        else:
            group.stored.wait()
        if group.error is not None:
            raise TransientError(
                "the prediction could not be stored; nothing was kept, send the request again",
                {"reason": f"{type(group.error).__name__}: {str(group.error)[:200]}"},
            ) from group.error
        return prediction_id, s3_uri(self.bucket, group.key)

    def _seal(self, group: _Group) -> None:
        group.sealed = True
        if self._open.get(group.model) is group:
            del self._open[group.model]

    def _put(self, group: _Group) -> None:
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=group.key,
                Body=b"\n".join(group.lines) + b"\n",
                ContentType="application/x-ndjson",
            )
            self.puts += 1
        except BaseException as exc:  # every request of the group learns it was not stored
            group.error = exc
        else:
            if self.on_commit is not None:
                self.on_commit(len(group.lines))
        finally:
            group.stored.set()

    def get(self, prediction_id: str) -> dict[str, Any]:
        where = locate(prediction_id)
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=where.key)
        except Exception as exc:
            if is_not_found(exc):
                raise NotFound(f"no prediction {prediction_id!r}", {"prediction_id": prediction_id}) from exc
            raise
        body = obj["Body"].read()
        if where.line is None:
            return json.loads(body)
        lines = body.split(b"\n")
        found = json.loads(lines[where.line - 1]) if where.line <= len(lines) and lines[where.line - 1] else None
        if not found or found.get("prediction_id") != prediction_id:
            raise NotFound(f"no prediction {prediction_id!r}", {"prediction_id": prediction_id})
        return found
