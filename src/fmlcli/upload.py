"""Dropping a file as a job: the key, the job options as S3 user metadata, the upload, the job id.

This is what README "Dropping files: job options" documents for `aws s3 cp --metadata`, done so
that the job id is known at once: the enqueue Lambda names a job after the object VERSION it was
created for (`fmlcore.jobs.message.job_id_for(kind, bucket, key, version_id)`, via
`job_id_for_event`, which uses the version id whenever S3 gives one), and the PUT's answer
carries that version id. The options are checked with the platform's own parser
(`fmlcore.jobs.options`) before anything is uploaded, so a typo (`tagret`) fails here, in a
second, instead of as a `failed` job after the upload.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmlcli.errors import CliError, UsageError
from fmlcore.core.errors import InvalidInput
from fmlcore.core.layout import data_extension, validate_model_name
from fmlcore.jobs.message import job_id_for
from fmlcore.jobs.options import checked, options_from_text

METADATA_MAX_BYTES = 2048  # S3's limit on all user metadata of an object (keys and values)
# Above this size a file goes up in parts (S3 takes at most 5 GiB in one PUT); each part is read
# into memory, so parts stay small, and grow only to fit S3's 10,000-part limit.
MULTIPART_THRESHOLD = 64 << 20
PART_SIZE = 16 << 20
MAX_PARTS = 10_000


def option_key(raw: str) -> str:
    """An option name as the platform reads metadata keys: lower case, `-` as `_`."""
    return raw.strip().lower().replace("-", "_")


def parse_pairs(pairs: list[str] | None, flag: str) -> dict[str, str]:
    """`k=v` arguments of a repeatable flag into a dict; a pair without `=`, with an empty key,
    or a key given twice is a usage error (a silent last-one-wins would hide a typo)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{flag} takes key=value, not {pair!r}")
        if key in out:
            raise UsageError(f"{flag} {key} is given twice")
        out[key] = value
    return out


def json_or_text(raw: str) -> Any:
    """A --param value: JSON when it parses (`4`, `0.1`, `true`, `[1,2]`), else the string itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _merge_options(metadata: dict[str, str], options: list[str] | None) -> dict[str, str]:
    for key, value in parse_pairs(options, "--option").items():
        name = option_key(key)
        if name in metadata:
            raise UsageError(f"--option {key} repeats an option this command sets with its own flag")
        metadata[name] = value
    return metadata


def train_metadata(target: str, params: list[str] | None = None, options: list[str] | None = None) -> dict[str, str]:
    """The metadata of a dataset to train on: `target`, `params` (a JSON object of the --param
    pairs), and every --option as given."""
    metadata = {"target": target}
    parsed = {key: json_or_text(value) for key, value in parse_pairs(params, "--param").items()}
    if parsed:
        metadata["params"] = json.dumps(parsed, separators=(",", ":"), sort_keys=True)
    return _merge_options(metadata, options)


def predict_metadata(
    alias: str | None = None, version: str | None = None, explain: bool = False, options: list[str] | None = None
) -> dict[str, str]:
    """The metadata of a file to score: `alias` or `model_version`, `explain`, and every --option."""
    metadata = {}
    if alias:
        metadata["alias"] = alias
    if version:
        metadata["model_version"] = version
    if explain:
        metadata["explain"] = "true"
    return _merge_options(metadata, options)


def check_metadata(kind: str, metadata: dict[str, str]) -> dict[str, Any]:
    """The typed options the enqueue Lambda will read from this metadata; UsageError saying what
    it would reject (unknown names, bad numbers, out of bounds), and what S3 cannot carry."""
    try:
        typed = checked(kind, options_from_text(kind, metadata))
    except InvalidInput as exc:
        raise UsageError(f"job option: {exc.message}") from None
    for key, value in metadata.items():
        if not (key + value).isascii():
            raise UsageError(f"option {key}: S3 user metadata must be ASCII")
    size = sum(len(k) + len(v) for k, v in metadata.items())
    if size > METADATA_MAX_BYTES:
        raise UsageError(f"the options take {size} bytes of S3 user metadata: S3 allows {METADATA_MAX_BYTES}")
    return typed


def object_key(model: str, path: Path) -> str:
    """`<model>/<file name>`: the key that makes a job of `model` (a name or type the enqueue
    Lambda would skip is refused here: the job would never exist, and --wait would wait forever)."""
    try:
        validate_model_name(model)
        ext = data_extension(path.name)
    except InvalidInput as exc:
        raise UsageError(exc.message) from None
    if not path.name.endswith(ext):  # S3 notification suffix filters are case-sensitive
        raise UsageError(f"{path.name}: the buckets make jobs only of lower-case {ext} names; rename the file")
    return f"{model}/{path.name}"


def put_file(
    s3: Any,
    bucket: str,
    key: str,
    path: Path,
    metadata: dict[str, str],
    threshold: int = MULTIPART_THRESHOLD,
    part_size: int = PART_SIZE,
) -> str | None:
    """Upload `path` with `metadata`; returns the new object version's id (None: unversioned bucket)."""
    size = path.stat().st_size
    if size <= threshold:
        with path.open("rb") as body:
            return s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata).get("VersionId")
    part_size = max(part_size, math.ceil(size / MAX_PARTS))
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, Metadata=metadata)["UploadId"]
    try:
        parts = []
        with path.open("rb") as fh:
            number = 1
            while chunk := fh.read(part_size):
                resp = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk)
                parts.append({"PartNumber": number, "ETag": resp["ETag"]})
                number += 1
        done = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        # Best effort: the user role may not abort; the bucket's lifecycle removes what is left.
        with contextlib.suppress(Exception):
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return done.get("VersionId")


@dataclass(frozen=True)
class Submitted:
    """A file dropped as a job: where it went and the job it makes."""

    kind: str
    job_id: str
    bucket: str
    key: str
    version_id: str


def submit(s3: Any, kind: str, bucket: str, model: str, path: Path, metadata: dict[str, str]) -> Submitted:
    """Upload `path` as a job of `kind` for `model`; the job id follows from the new version."""
    key = object_key(model, path)
    check_metadata(kind, metadata)
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    version = put_file(s3, bucket, key, path, metadata)
    if not version:
        raise CliError(
            f"s3://{bucket} gave no version id: the platform's buckets are versioned, so this is not one of them"
        )
    return Submitted(kind, job_id_for(kind, bucket, key, version), bucket, key, version)
