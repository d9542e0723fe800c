"""Models in S3: one self-describing XGBoost UBJSON object per model; S3 versions are model versions.

    <models bucket>/<model>/model.ubj

- The artifact is XGBoost's native UBJSON (never pickle: loading a pickle is code execution).
- Feature names and types live in the booster; the training metadata (objective, params,
  metrics, dataset URI and version, row counts, durations, library versions, trained_at,
  categories) is a booster attribute `fml_metadata` (JSON), summarised in the object's user
  metadata so listing versions needs no download.
- The model version is the S3 VersionId; "latest" is the current version; rollback copies an
  old version on top (a new version whose metadata says where it came from).
- `load` caches boosters by (model, version) in an LRU. The first `load(model)` (latest) asks S3
  for the current version and downloads it; from then on a background thread (one per store,
  a daemon started on that first load) re-checks the latest version of every model served that
  way each `latest_ttl_seconds` and downloads a new one before requests switch to it, so a new
  training is picked up without a restart and a request for a loaded model never waits on S3.
  With `latest_ttl_seconds` <= 0 there is no thread: every `load(model)` asks S3.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
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

log = logging.getLogger("fml.models")

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
        # Models served as "latest": their entry in _latest is kept current by the refresher thread.
        self._watched: set[str] = set()
        self._refresher: threading.Thread | None = None
        self._closed = threading.Event()

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
        """The booster of (model, version), latest when version is None, through the LRU cache.

        The latest version of a model loaded before comes from memory (kept current in the
        background); the first time, it is asked of S3 and the model starts being watched.
        """
        validate_model_name(model)
        if version is not None:
            return self._load(model, validate_version_id(version))
        with self._lock:
            watched = self._latest.get(model) if model in self._watched else None
        if watched is not None:
            return self._load(model, watched[1])
        loaded = self._load(model, self.latest_version(model))
        self._watch(model)
        return loaded

    def _load(self, model: str, version: str) -> LoadedModel:
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

    # ------------------------------------------------------------------ freshness, in the background
    def _watch(self, model: str) -> None:
        """Keep the latest version of `model` current from now on (starting the refresher if need be)."""
        if self.latest_ttl_seconds <= 0 or self._closed.is_set():
            return
        with self._lock:
            self._watched.add(model)
            if self._refresher is not None and self._refresher.is_alive():
                return
            # The thread holds the store weakly: a store nobody uses any more ends its thread.
            self._refresher = threading.Thread(
                target=_refresh_loop,
                args=(weakref.ref(self), self._closed, self.latest_ttl_seconds),
                name="fml-model-refresher",
                daemon=True,
            )
            self._refresher.start()

    def refresh_latest(self) -> None:
        """One round of the refresher: the current version of every watched model, downloaded before
        `load(model)` switches to it. A failure is logged and retried on the next round."""
        with self._lock:
            models = sorted(self._watched)
        for model in models:
            try:
                self._refresh(model)
            except NotFound:
                with self._lock:  # deleted: the next request asks S3, and gets its 404
                    self._watched.discard(model)
                    self._latest.pop(model, None)
                log.warning("model %r has no current version any more", model)
            except Exception as exc:
                log.warning("checking the latest version of model %r failed (retrying): %s", model, exc)

    def _refresh(self, model: str) -> None:
        with self._lock:
            seen = self._latest.get(model)
            if seen is None or (model, seen[1]) not in self._boosters:
                # Evicted from the cache (or forgotten): no longer served from memory, so no longer
                # watched; the next request for it loads it like a first one.
                self._watched.discard(model)
                return
        checked_at = time.monotonic()
        version = self._head(model, None)["VersionId"]
        if version != seen[1]:
            try:
                self._load(model, version)
            except Exception as exc:  # requests will load it themselves, and meet the error as before
                log.warning("downloading version %r of model %r failed: %s", version, model, exc)
        with self._lock:
            if self._latest.get(model) is not seen:  # save/rollback/latest_version set it meanwhile
                return
            self._latest[model] = (checked_at, version)
        if version != seen[1]:
            log.info("model %r: the latest version is now %r", model, version)

    def close(self) -> None:
        """Stop the refresher; `load(model)` then asks S3 each latest_ttl_seconds, as before it started."""
        self._closed.set()
        with self._lock:
            self._watched.clear()

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
        return loaded_model(model, version, bytearray(obj["Body"].read()), self.nthread)


def loaded_model(model: str, version: str, artifact: bytearray | str, nthread: int = 0) -> LoadedModel:
    """A model artifact (its bytes, or a local `.ubj` path) as a LoadedModel: booster, metadata, schema."""
    booster = xgb.Booster()
    booster.load_model(artifact)
    if nthread:
        booster.set_param({"nthread": nthread})
    metadata = json.loads(booster.attr(METADATA_ATTR) or "{}")
    schema = FeatureSchema(
        names=list(booster.feature_names or []),
        types=list(booster.feature_types or []),
        categories=metadata.get("categories", {}),
    )
    return LoadedModel(model=model, version=version, booster=booster, metadata=metadata, schema=schema)


def _refresh_loop(store_ref: weakref.ref[ModelStore], closed: threading.Event, interval: float) -> None:
    """The refresher thread: a round every `interval` seconds until the store is closed or gone."""
    while not closed.wait(interval):
        store = store_ref()
        if store is None:
            return
        try:
            store.refresh_latest()
        except Exception:
            log.exception("refreshing the latest model versions failed")
        del store


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
