"""Aliases: named pointers to model versions, kept in the models bucket (docs/contracts.md).

    <models bucket>/<model>/aliases/<alias>.json
        {"model": "churn", "alias": "live", "version": "<S3 VersionId of model.ubj>",
         "previous_version": "<v>" | null, "moved_at": "…Z", "by": {"job_id": "…"} | {"request_id": "…"},
         "reason": "…"}

The bucket is versioned, so each alias object's S3 versions are that alias's history: when it
moved, from which version to which, by which job or request and why. Moves are conditional
writes on the ETag read before them (If-Match, or If-None-Match for a new alias): of two moves
racing from the same state one wins and the other gets AliasConflict, so a decision taken on
what `live` was is never applied on top of a `live` that changed meanwhile.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from fmlcore.core.aws import error_code, is_not_found
from fmlcore.core.errors import Conflict, NotFound
from fmlcore.core.layout import alias_key, aliases_prefix, validate_alias
from fmlcore.core.times import isoformat, utcnow

HISTORY_LIMIT = 100


class AliasConflict(Conflict):
    """The alias moved between reading it and moving it."""


@dataclass(frozen=True)
class Alias:
    model: str
    alias: str
    version: str | None  # None: the alias was removed (a delete marker in its history)
    previous_version: str | None
    moved_at: str | None
    by: dict[str, Any]
    reason: str
    etag: str | None = None  # of the object read; for conditional moves, not part of the record

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("etag")
        return out


class AliasStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def get(self, model: str, alias: str) -> Alias | None:
        """The alias as it is now, or None when it does not exist."""
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=alias_key(model, alias))
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        return _parse(obj["Body"].read(), obj.get("ETag"))

    def version_of(self, model: str, alias: str) -> str | None:
        found = self.get(model, alias)
        return found.version if found else None

    def all(self, model: str) -> dict[str, str]:
        """{alias: version} of every alias of `model`."""
        out = {}
        prefix = aliases_prefix(model)
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) :]
                if not name.endswith(".json") or "/" in name:
                    continue
                found = self.get(model, name[: -len(".json")])
                if found is not None and found.version:
                    out[found.alias] = found.version
        return dict(sorted(out.items()))

    def move(
        self,
        model: str,
        alias: str,
        version: str,
        by: dict[str, Any],
        reason: str,
        expected: Alias | bool | None = True,
    ) -> Alias:
        """Point `alias` at `version`. `expected` is the Alias read before deciding (the move
        fails with AliasConflict if the alias changed since), None when it did not exist
        (the move fails if it was created since), or True for an unconditional move."""
        validate_alias(alias)
        if expected is True:
            expected = self.get(model, alias)
        record = Alias(
            model=model,
            alias=alias,
            version=version,
            previous_version=expected.version if isinstance(expected, Alias) else None,
            moved_at=isoformat(utcnow()),
            by=by,
            reason=reason,
        )
        condition = (
            {"IfMatch": expected.etag} if isinstance(expected, Alias) and expected.etag else {"IfNoneMatch": "*"}
        )
        try:
            resp = self.s3.put_object(
                Bucket=self.bucket,
                Key=alias_key(model, alias),
                Body=json.dumps(record.to_dict(), sort_keys=True).encode(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            if error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409") or is_not_found(
                exc
            ):
                raise AliasConflict(
                    f"alias {alias!r} of model {model!r} moved meanwhile: read it again and retry",
                    {"model": model, "alias": alias},
                ) from exc
            raise
        return Alias(**{**asdict(record), "etag": resp.get("ETag")})

    def remove(self, model: str, alias: str) -> Alias:
        """Delete the alias (its history stays: the delete marker is one more entry)."""
        found = self.get(model, alias)
        if found is None:
            raise NotFound(f"model {model!r} has no alias {alias!r}", {"model": model, "alias": alias})
        self.s3.delete_object(Bucket=self.bucket, Key=alias_key(model, alias))
        return found

    def history(self, model: str, alias: str, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
        """The alias's moves, newest first: each S3 version of its object; removals as
        {"version": null, "removed_at": …}."""
        key = alias_key(model, alias)
        entries: list[tuple[Any, dict[str, Any]]] = []
        paginator = self.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
            for v in page.get("Versions", []):
                if v["Key"] == key:
                    entries.append((v["LastModified"], {"s3_version": v["VersionId"]}))
            for m in page.get("DeleteMarkers", []):
                if m["Key"] == key:
                    at = m["LastModified"]
                    entries.append((at, {"version": None, "removed_at": isoformat(at), "s3_version": m["VersionId"]}))
        entries.sort(key=lambda e: e[0], reverse=True)
        out = []
        for _, entry in entries[:limit]:
            if "removed_at" not in entry:
                obj = self.s3.get_object(Bucket=self.bucket, Key=key, VersionId=entry["s3_version"])
                entry = {**_parse(obj["Body"].read(), None).to_dict(), "s3_version": entry["s3_version"]}
            out.append(entry)
        if not out:
            raise NotFound(f"model {model!r} has no alias {alias!r}", {"model": model, "alias": alias})
        return out


def _parse(body: bytes, etag: str | None) -> Alias:
    data = json.loads(body)
    return Alias(
        model=data["model"],
        alias=data["alias"],
        version=data.get("version"),
        previous_version=data.get("previous_version"),
        moved_at=data.get("moved_at"),
        by=data.get("by") or {},
        reason=data.get("reason") or "",
        etag=etag,
    )
