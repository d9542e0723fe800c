"""Models in S3: one self-describing XGBoost UBJSON object per model; S3 versions are model versions.

    <models bucket>/<model>/model.ubj

- The artifact is XGBoost's native UBJSON (never pickle: loading a pickle is code execution).
- Feature names and types live in the booster; the training metadata (objective, params,
  metrics, dataset URI and version, row counts, durations, library versions, trained_at,
  categories) is a booster attribute `fml_metadata` (JSON), summarised in the object's user
  metadata so listing versions needs no download.
- The model version is the S3 VersionId; "latest" is the current version; rollback copies an
  old version on top (a new version whose metadata says where it came from).
- `load` caches boosters by (model, version) in an LRU; the latest version id is re-checked
  at most every `latest_ttl_seconds`, so a new training is picked up without a restart.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import xgboost as xgb
from botocore.exceptions import ClientError

from fmlcore.core.aws import error_code, is_not_found
from fmlcore.core.errors import InvalidInput, NotFound
from fmlcore.core.layout import MODEL_OBJECT, model_key, validate_model_name, validate_version_id
from fmlcore.core.settings import Settings
from fmlcore.core.versions import version_written_by, versions_newest_first
from fmlcore.ml.features import FeatureSchema

METADATA_ATTR = "fml_metadata"
# S3 user metadata is limited to 2 KB in all: only a summary goes there.
SUMMARY_KEYS = ("objective", "trained_at", "job_id", "dataset_uri", "dataset_version", "rows", "rolled_back_from")


@dataclass(frozen=True)
class LoadedModel:
    model: str
    version: str
    booster: xgb.Booster
    metadata: dict[str, Any]
    schema: FeatureSchema

    @property
    def objective(self) -> str:
        return self.metadata["objective"]


def _not_found(exc: ClientError) -> bool:
    # S3 answers a malformed version id with InvalidArgument: for a caller it is "no such version".
    return is_not_found(exc) or error_code(exc) == "InvalidArgument"


class ModelStore:
    def __init__(
        self, s3: Any, bucket: str, cache_size: int = 8, latest_ttl_seconds: float = 5.0, nthread: int = 0
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.nthread = nthread
        self.cache_size = cache_size
        self.latest_ttl_seconds = latest_ttl_seconds
        self._boosters: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._latest: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        # One lock per download in flight, so threads asking for the same new version fetch it
        # once; removed when that download ends, whatever its outcome (versions come from callers).
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    @classmethod
    def from_settings(cls, s3: Any, settings: Settings, nthread: int = 0, cache_size: int | None = None) -> ModelStore:
        """The store of the configured models bucket, with the configured cache and latest-check TTL."""
        return cls(
            s3,
            settings.require("models_bucket"),
            cache_size=settings.model_cache_size if cache_size is None else cache_size,
            latest_ttl_seconds=settings.model_latest_ttl,
            nthread=nthread,
        )

    # ------------------------------------------------------------------ writing
    def save(self, model: str, booster: xgb.Booster, metadata: dict[str, Any]) -> str:
        """Store a trained booster as the new latest version of `model`; returns its version id."""
        key = model_key(model)
        booster.set_attr(**{METADATA_ATTR: json.dumps(metadata, sort_keys=True, default=str)})
        body = bytes(booster.save_raw(raw_format="ubj"))
        resp = self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType="application/ubjson",
            Metadata=_summary(metadata),
        )
        version = resp["VersionId"]
        with self._lock:
            self._latest[model] = (time.monotonic(), version)
        return version

    def rollback(self, model: str, version: str) -> str:
        """Make an old version the latest by copying it on top; returns the new version id."""
        head = self._head(model, version)
        metadata = {**head.get("Metadata", {}), "rolled_back_from": quote(version, safe="")}
        resp = self.s3.copy_object(
            Bucket=self.bucket,
            Key=model_key(model),
            CopySource={"Bucket": self.bucket, "Key": model_key(model), "VersionId": version},
            MetadataDirective="REPLACE",
            Metadata=metadata,
            ContentType="application/ubjson",
        )
        new_version = resp["VersionId"]
        with self._lock:
            self._latest[model] = (time.monotonic(), new_version)
        return new_version

    # ------------------------------------------------------------------ reading
    def list_models(self) -> list[dict[str, Any]]:
        """Every model with a current version, with its latest summary."""
        models = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Delimiter="/"):
            for prefix in page.get("CommonPrefixes", []):
                name = prefix["Prefix"].rstrip("/")
                try:
                    validate_model_name(name)
                    head = self._head(name, None)
                except (InvalidInput, NotFound):
                    continue
                models.append({"model": name, "latest_version": head["VersionId"], **_describe_head(head)})
        return models

    def list_versions(self, model: str, limit: int = 100) -> list[dict[str, Any]]:
        """Versions of `model`, newest first, with their summaries (metrics included)."""
        versions = versions_newest_first(self.s3, self.bucket, model_key(model))
        if not versions:
            raise NotFound(f"no model {model!r}", {"model": model})
        out = []
        for v in versions[:limit]:
            head = self._head(model, v["VersionId"])
            out.append({"version": v["VersionId"], "is_latest": bool(v.get("IsLatest")), **_describe_head(head)})
        return out

    def latest_version(self, model: str, fresh: bool = False) -> str:
        """The current version id, re-checked at most every latest_ttl_seconds."""
        now = time.monotonic()
        with self._lock:
            cached = self._latest.get(model)
        if cached and not fresh and now - cached[0] < self.latest_ttl_seconds:
            return cached[1]
        version = self._head(model, None)["VersionId"]
        with self._lock:
            self._latest[model] = (now, version)
        return version

    def load(self, model: str, version: str | None = None) -> LoadedModel:
        """The booster of (model, version), latest when version is None, through the LRU cache."""
        validate_model_name(model)
        version = validate_version_id(version) if version is not None else self.latest_version(model)
        cache_key = (model, version)
        hit = self._cached(cache_key)
        if hit is not None:
            return hit
        lock = self._loading_lock(cache_key)
        try:
            with lock:  # threads asking for the same new version download it once
                hit = self._cached(cache_key)
                if hit is not None:
                    return hit
                loaded = self._download(model, version)
                with self._lock:
                    self._boosters[cache_key] = loaded
                    self._boosters.move_to_end(cache_key)
                    while len(self._boosters) > self.cache_size:
                        self._boosters.popitem(last=False)
        finally:
            with self._lock:
                if self._loading.get(cache_key) is lock:
                    del self._loading[cache_key]
        return loaded

    def _cached(self, cache_key: tuple[str, str]) -> LoadedModel | None:
        with self._lock:
            hit = self._boosters.get(cache_key)
            if hit is not None:
                self._boosters.move_to_end(cache_key)
            return hit

    def _loading_lock(self, cache_key: tuple[str, str]) -> threading.Lock:
        with self._lock:
            return self._loading.setdefault(cache_key, threading.Lock())

    def describe(self, model: str, version: str) -> dict[str, Any]:
        """The full metadata of one version (from the artifact itself)."""
        loaded = self.load(model, version)
        return {
            "model": model,
            "version": version,
            "is_latest": version == self.latest_version(model, fresh=True),
            "features": [
                {"name": n, "type": "categorical" if t == "c" else "numeric"}
                for n, t in zip(loaded.schema.names, loaded.schema.types, strict=True)
            ],
            **loaded.metadata,
        }

    def find_version_by_job(self, model: str, job_id: str, newest: int = 5) -> str | None:
        """The version produced by `job_id` among the newest few, if any (idempotent retries)."""
        return version_written_by(self.s3, self.bucket, model_key(model), job_id, newest)

    # ------------------------------------------------------------------ internals
    def _head(self, model: str, version: str | None) -> dict[str, Any]:
        kwargs = {"VersionId": validate_version_id(version)} if version else {}
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=model_key(model), **kwargs)
        except ClientError as exc:
            if _not_found(exc):
                if version:
                    raise NotFound(f"model {model!r} has no version {version!r}", {"model": model}) from exc
                raise NotFound(f"no model {model!r}", {"model": model}) from exc
            raise

    def _download(self, model: str, version: str) -> LoadedModel:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=model_key(model), VersionId=version)
        except ClientError as exc:
            if _not_found(exc):
                raise NotFound(f"model {model!r} has no version {version!r}", {"model": model}) from exc
            raise
        booster = xgb.Booster()
        booster.load_model(bytearray(obj["Body"].read()))
        if self.nthread:
            booster.set_param({"nthread": self.nthread})
        metadata = json.loads(booster.attr(METADATA_ATTR) or "{}")
        schema = FeatureSchema(
            names=list(booster.feature_names or []),
            types=list(booster.feature_types or []),
            categories=metadata.get("categories", {}),
        )
        return LoadedModel(model=model, version=version, booster=booster, metadata=metadata, schema=schema)


# S3 refuses user metadata over 2 KB (keys and values, UTF-8): the summary must fit, or the save
# fails after the training is done. The artifact keeps the full metadata either way.
SUMMARY_BUDGET_BYTES = 2048
TRUNCATED = "..."


def _encode(value: str) -> str:
    return quote(value, safe=':/{},"')


def _summary(metadata: dict[str, Any]) -> dict[str, str]:
    """S3 user metadata must be ASCII: values are percent-encoded (a dataset key may be 'été.csv').

    Over the 2 KB budget the longest values are cut, end in '...', and are named in `truncated`.
    """
    raw = {k: str(metadata[k]) for k in SUMMARY_KEYS if metadata.get(k) is not None}
    raw["metrics"] = json.dumps(metadata.get("metrics", {}), separators=(",", ":"))
    summary = {k: _encode(v) for k, v in raw.items()}
    # Room for the `truncated` entry itself (key and the names of every summary field).
    budget = SUMMARY_BUDGET_BYTES - len("truncated") - sum(len(k) + 1 for k in summary)
    cut: list[str] = []
    while (excess := sum(len(k) + len(v) for k, v in summary.items()) - budget) > 0:
        longest = max(summary, key=lambda k: len(summary[k]))
        summary[longest] = _prefix_within(raw[longest], len(summary[longest]) - excess - len(TRUNCATED)) + TRUNCATED
        cut.append(longest)
    if cut:
        summary["truncated"] = ",".join(dict.fromkeys(cut))
    return summary


def _prefix_within(value: str, limit: int) -> str:
    """The longest prefix of `value` whose encoded form takes at most `limit` characters."""
    low, high = 0, len(value)
    while low < high:
        mid = (low + high + 1) // 2
        if len(_encode(value[:mid])) <= limit:
            low = mid
        else:
            high = mid - 1
    return _encode(value[:low])


def _describe_head(head: dict[str, Any]) -> dict[str, Any]:
    meta = {k: unquote(v) for k, v in head.get("Metadata", {}).items()}
    try:
        metrics = json.loads(meta.pop("metrics", "{}"))
    except ValueError:
        metrics = {}
    rows = meta.pop("rows", None)
    return {
        **meta,
        "rows": int(rows) if rows and rows.isdigit() else rows,
        "metrics": metrics,
        "size": head.get("ContentLength"),
        "last_modified": head["LastModified"].isoformat() if head.get("LastModified") else None,
        "artifact": MODEL_OBJECT,
    }
