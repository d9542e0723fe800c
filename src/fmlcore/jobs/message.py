"""The job message: one schema for every batch and async job (docs/contracts.md, "Job message").

    {"job_id": "...", "kind": "train|predict", "model": "churn",
     "input": {"bucket": "...", "key": "...", "version_id": "..."},
     "options": {"target": "label", "params": {}}, "source": "s3|api",
     "submitted_at": "2026-...Z"}

The job id is a digest of (kind, bucket, key, version id): a re-delivered S3 event or SQS
message maps to the same job and so to the same output keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from fmlcore.core.aws import is_not_found
from fmlcore.core.errors import InvalidInput
from fmlcore.core.layout import validate_model_name
from fmlcore.core.times import isoformat, utcnow
from fmlcore.jobs.options import OPTION_KEYS

KINDS = ("train", "predict")
SOURCES = ("s3", "api")
SCHEMA_VERSION = 1

# Options a job may carry, by kind (declared in fmlcore.jobs.options); anything else is rejected.


def job_id_for(kind: str, bucket: str, key: str, version_id: str | None) -> str:
    """Deterministic job id of the job that processes this input object version."""
    digest = hashlib.sha256(f"{kind}\0{bucket}\0{key}\0{version_id or ''}".encode()).hexdigest()
    return f"{kind}-{digest[:32]}"


def kind_of(job_id: str) -> str | None:
    """The kind a job id names (`train-…`, `predict-…`: the prefix job_id_for writes), else None."""
    kind, sep, _ = job_id.partition("-")
    return kind if sep and kind in KINDS else None


def job_id_for_event(kind: str, bucket: str, key: str, version_id: str | None, sequencer: str | None) -> str:
    """The job id of an S3 event's object: by its version, else by the event's sequencer."""
    return job_id_for(kind, bucket, key, version_id or f"seq:{sequencer or ''}")


@dataclass(frozen=True)
class InputRef:
    bucket: str
    key: str
    version_id: str | None = None


def get_input(s3: Any, ref: InputRef, head: bool = False) -> dict[str, Any]:
    """The S3 object (get_object response; head_object with `head`) a job reads; a missing one is
    a permanent InvalidInput."""
    kwargs = {"VersionId": ref.version_id} if ref.version_id else {}
    try:
        if head:
            return s3.head_object(Bucket=ref.bucket, Key=ref.key, **kwargs)
        return s3.get_object(Bucket=ref.bucket, Key=ref.key, **kwargs)
    except ClientError as exc:
        if is_not_found(exc):
            raise InvalidInput(
                f"input s3://{ref.bucket}/{ref.key} (version {ref.version_id or 'latest'}) no longer exists",
                {"bucket": ref.bucket, "key": ref.key, "version_id": ref.version_id},
            ) from exc
        raise


@dataclass(frozen=True)
class PartRef:
    """One part of a batch file split across workers (predictor.split): byte range [start, end)
    of a CSV or JSON-lines file, or row groups [start, end) of a Parquet file."""

    index: int
    total: int
    start: int
    end: int
    unit: str  # "bytes" | "row_groups"
    row_offset: int = 0  # Parquet: the rows of the file before this part
    etag: str | None = None  # of the input version: ranged reads ask for it (fmlcore.ml.ranges.get_range)

    @classmethod
    def from_dict(cls, data: Any) -> PartRef:
        try:
            part = cls(**{k: data[k] for k in ("index", "total", "start", "end", "unit")},
                       row_offset=int(data.get("row_offset", 0)), etag=data.get("etag"))  # fmt: skip
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"job message part is malformed: {exc}", {"part": data}) from exc
        ints = (part.index, part.total, part.start, part.end)
        if not all(isinstance(v, int) for v in ints) or not 0 <= part.index < part.total or part.start >= part.end:
            raise InvalidInput("job message part is out of range", {"part": data})
        if part.unit not in ("bytes", "row_groups"):
            raise InvalidInput(f"unknown part unit {part.unit!r}", {"part": data})
        return part


@dataclass(frozen=True)
class JobMessage:
    job_id: str
    kind: str
    model: str
    input: InputRef
    options: dict[str, Any] = field(default_factory=dict)
    source: str = "s3"
    submitted_at: str = ""
    part: PartRef | None = None  # set on the messages of one part of a split batch file

    @property
    def lease_id(self) -> str:
        """What a worker's lease covers: the job, or one part of it (parts run in parallel)."""
        return self.job_id if self.part is None else f"{self.job_id}.part-{self.part.index:05d}"

    @classmethod
    def new(
        cls,
        kind: str,
        model: str,
        input: InputRef,
        options: dict[str, Any] | None = None,
        source: str = "s3",
        job_id: str | None = None,
    ) -> JobMessage:
        """A validated message; the job id defaults to the digest of the input object version."""
        msg = cls(
            job_id=job_id or job_id_for(kind, input.bucket, input.key, input.version_id),
            kind=kind,
            model=model,
            input=input,
            options=dict(options or {}),
            source=source,
            submitted_at=isoformat(utcnow()),
        )
        msg.validate()
        return msg

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInput(f"unknown job kind {self.kind!r}: expected one of {KINDS}", {"kind": self.kind})
        if self.source not in SOURCES:
            raise InvalidInput(f"unknown job source {self.source!r}", {"source": self.source})
        validate_model_name(self.model)
        if not self.input.bucket or not self.input.key:
            raise InvalidInput("job input needs a bucket and a key", {"input": asdict(self.input)})
        if not isinstance(self.options, dict):
            raise InvalidInput("job options must be an object", {"options": self.options})
        unknown = sorted(set(self.options) - OPTION_KEYS[self.kind])
        if unknown:
            raise InvalidInput(
                f"unknown {self.kind} option(s): {', '.join(unknown)}",
                {"unknown": unknown, "allowed": sorted(OPTION_KEYS[self.kind])},
            )

    def to_dict(self) -> dict[str, Any]:
        data = {**asdict(self), "schema": SCHEMA_VERSION}
        if self.part is None:
            del data["part"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> JobMessage:
        if not isinstance(data, dict):
            raise InvalidInput("job message must be a JSON object", {"got": type(data).__name__})
        missing = sorted({"job_id", "kind", "model", "input"} - set(data))
        if missing:
            raise InvalidInput(f"job message lacks {', '.join(missing)}", {"missing": missing})
        raw_input = data["input"]
        if not isinstance(raw_input, dict):
            raise InvalidInput("job message input must be an object", {"input": raw_input})
        msg = cls(
            job_id=str(data["job_id"]),
            kind=data["kind"],
            model=data["model"],
            input=InputRef(
                bucket=raw_input.get("bucket", ""),
                key=raw_input.get("key", ""),
                version_id=raw_input.get("version_id"),
            ),
            options=data.get("options") or {},
            source=data.get("source", "s3"),
            submitted_at=data.get("submitted_at", ""),
            part=PartRef.from_dict(data["part"]) if data.get("part") is not None else None,
        )
        msg.validate()
        return msg

    @classmethod
    def from_json(cls, body: str) -> JobMessage:
        try:
            data = json.loads(body)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"job message is not JSON: {exc}") from exc
        return cls.from_dict(data)
