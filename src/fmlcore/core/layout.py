"""Bucket layout and naming rules (docs/contracts.md): the one place that builds keys."""

from __future__ import annotations

import re
from datetime import datetime

from fmlcore.core.errors import InvalidInput

MODEL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MODEL_OBJECT = "model.ubj"
# Keys starting with "_" belong to the platform (status records, API uploads), never to a
# model: model names cannot start with "_", and the enqueue Lambda skips such keys.
RESERVED_PREFIX = "_"
JOBS_PREFIX = "_jobs/"
API_UPLOADS_PREFIX = "_api/"
DATA_EXTENSIONS = (".csv", ".parquet", ".jsonl")


def validate_model_name(name: str) -> str:
    """Return the name if it is a valid model name, else raise InvalidInput."""
    if not isinstance(name, str) or not MODEL_NAME_RE.match(name):
        raise InvalidInput(
            f"invalid model name {name!r}: use 1-64 of a-z, 0-9, '_' and '-', starting with a letter or digit",
            {"model": name, "pattern": MODEL_NAME_RE.pattern},
        )
    return name


# An S3 VersionId is an opaque, URL-ready string of at most 1,024 bytes (AWS uses letters,
# digits and ._-; emulators UUIDs; "null" names the version of an object written unversioned).
VERSION_ID_RE = re.compile(r"^[A-Za-z0-9._+=-]{1,1024}$")


def validate_version_id(version: str) -> str:
    """Return the version id if it has the shape of an S3 VersionId, else raise InvalidInput.

    Checked before any S3 call or cache entry, so a caller's junk never reaches either.
    """
    if not isinstance(version, str) or not VERSION_ID_RE.match(version):
        shown = version[:40] + "..." if isinstance(version, str) and len(version) > 40 else version
        raise InvalidInput(
            f"invalid model version {shown!r}: an S3 VersionId is 1-1024 of A-Z, a-z, 0-9 and ._+=-",
            {"pattern": VERSION_ID_RE.pattern, "length": len(version) if isinstance(version, str) else None},
        )
    return version


def data_extension(key: str) -> str:
    """The supported data extension of a key ('.csv', '.parquet', '.jsonl'), else InvalidInput."""
    lowered = key.lower()
    for ext in DATA_EXTENSIONS:
        if lowered.endswith(ext):
            return ext
    raise InvalidInput(
        f"unsupported file type for {key!r}: expected one of {', '.join(DATA_EXTENSIONS)}",
        {"key": key, "supported": list(DATA_EXTENSIONS)},
    )


def model_from_key(key: str) -> str:
    """The model name of a dropped file: the first path segment of `<model>/<file>`."""
    model, sep, rest = key.partition("/")
    if not sep or not rest or rest.endswith("/"):
        raise InvalidInput(f"key {key!r} has no model prefix: drop files as <model>/<file>", {"key": key})
    return validate_model_name(model)


def model_key(model: str) -> str:
    return f"{validate_model_name(model)}/{MODEL_OBJECT}"


# Aliases: named pointers to model versions (docs/contracts.md, "Aliases and promotion").
ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
LIVE, CANDIDATE, SHADOW = "live", "candidate", "shadow"


def validate_alias(alias: str) -> str:
    """Return the alias name if valid, else raise InvalidInput."""
    if not isinstance(alias, str) or not ALIAS_RE.match(alias):
        raise InvalidInput(
            f"invalid alias {alias!r}: use 1-32 of a-z, 0-9, '_' and '-', starting with a letter",
            {"alias": alias if isinstance(alias, str) else None, "pattern": ALIAS_RE.pattern},
        )
    return alias


def aliases_prefix(model: str) -> str:
    return f"{validate_model_name(model)}/aliases/"


def alias_key(model: str, alias: str) -> str:
    """One alias: a small versioned JSON object; its S3 versions are the alias's history."""
    return f"{aliases_prefix(model)}{validate_alias(alias)}.json"


def reference_key(model: str, job_id: str) -> str:
    """The reference set (holdout rows) of the version a training job wrote, beside its artifact."""
    return f"{validate_model_name(model)}/reference/{job_id}.parquet"


def online_day_prefix(model: str, day: datetime) -> str:
    """The online predictions of one model and day (see online_log_key)."""
    return f"online/{model}/dt={day:%Y-%m-%d}/"


def status_key(job_id: str) -> str:
    return f"{JOBS_PREFIX}{job_id}.json"


def dead_key(job_id: str) -> str:
    """The index entry of a dead-lettered job (empty object; `make redrive` lists them)."""
    return f"{JOBS_PREFIX}dead/{job_id}"


def online_log_key(model: str, at: datetime, object_id: str) -> str:
    """One group of online predictions (JSON lines), Hive-partitioned by day and hour for analysis."""
    return f"{online_day_prefix(model, at)}hour={at:%H}/{object_id}.jsonl"


def online_prediction_key(model: str, prediction_id: str, at: datetime) -> str:
    """A prediction stored alone, before predictions were grouped (still readable)."""
    return f"online/{model}/{at:%Y/%m/%d}/{prediction_id}.json"


def _input_stem(input_key: str) -> tuple[str, str]:
    """(path below the model prefix without extension, extension) of an input key."""
    ext = data_extension(input_key)
    _, _, rest = input_key.partition("/")
    return (rest or input_key)[: -len(ext)], ext


def batch_output_key(model: str, input_key: str) -> str:
    """`batch/<model>/<input name>.predictions.<ext>`; sub-folders below the model are kept."""
    stem, ext = _input_stem(input_key)
    return f"batch/{model}/{stem}.predictions{ext}"


def parts_prefix(job_id: str) -> str:
    """The parts of a batch file split across workers: each part's outputs and its done marker."""
    return f"{JOBS_PREFIX}{job_id}/parts/"


def part_output_key(job_id: str, index: int, ext: str) -> str:
    return f"{parts_prefix(job_id)}{index:05d}.predictions{ext}"


def part_errors_key(job_id: str, index: int) -> str:
    return f"{parts_prefix(job_id)}{index:05d}.errors.csv"


def part_marker_key(job_id: str, index: int) -> str:
    """Written last, once the part's outputs are stored: the part is done (JSON, see predictor.split)."""
    return f"{parts_prefix(job_id)}{index:05d}.done.json"


def batch_errors_key(model: str, input_key: str) -> str:
    stem, _ = _input_stem(input_key)
    return f"batch/{model}/{stem}.errors.csv"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into (bucket, key), else InvalidInput."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidInput(f"not an s3:// URI: {uri!r}", {"uri": uri})
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        raise InvalidInput(f"S3 URI needs a bucket and a key: {uri!r}", {"uri": uri})
    return bucket, key
