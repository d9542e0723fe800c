"""Models in S3: one self-describing XGBoost UBJSON object per model; S3 versions are model versions.

    <models bucket>/<model>/model.ubj
    <models bucket>/<model>/aliases/<alias>.json      which version `live`, `candidate`, `shadow`… are
    <models bucket>/<model>/reference/<job_id>.parquet the holdout rows of the version that job wrote

- The artifact is XGBoost's native UBJSON (never pickle: loading a pickle is code execution).
- Feature names and types live in the booster; the training metadata (objective, params,
  metrics, dataset URI and version, row counts, durations, library versions, trained_at,
  categories, reference set) is a booster attribute `fml_metadata` (JSON), summarised in the
  object's user metadata so listing versions needs no download.
- The model version is the S3 VersionId. Which version serves is an alias (fmlcore.ml.aliases):
  `load(model)` serves `live`, `load(model, alias=a)` another alias, `load(model, version)` a
  pinned version. Saving a version serves nothing by itself; moving an alias does.
- `load` caches boosters by (model, version) in an LRU. The first `load` of an alias asks S3
  which version it points at and downloads it; from then on a background thread (one per store,
  a daemon started on that first load) re-reads every alias served that way each
  `latest_ttl_seconds` and downloads a newly pointed-at version before requests switch to it, so
  a moved alias reaches every process within seconds, without a restart, and a request for a
  loaded model never waits on S3. With `latest_ttl_seconds` <= 0 there is no thread: every
  alias load asks S3.
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
from fmlcore.core.layout import (
    LIVE,
    MODEL_OBJECT,
    model_key,
    validate_alias,
    validate_model_name,
    validate_version_id,
)
from fmlcore.core.settings import Settings
from fmlcore.core.versions import version_written_by, versions_newest_first
from fmlcore.ml.aliases import Alias, AliasStore
from fmlcore.ml.features import FeatureSchema

log = logging.getLogger("fml.models")

METADATA_ATTR = "fml_metadata"
# S3 user metadata is limited to 2 KB in all: only a summary goes there.
SUMMARY_KEYS = ("objective", "trained_at", "job_id", "dataset_uri", "dataset_version", "rows")


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
        self.aliases = AliasStore(s3, bucket)
        self.nthread = nthread
        self.cache_size = cache_size
        self.latest_ttl_seconds = latest_ttl_seconds
        self._boosters: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        # (model, alias) → (when read, version or None when the alias does not exist).
        self._pointers: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._lock = threading.Lock()
        # One lock per download in flight, so threads asking for the same new version fetch it
        # once; removed when that download ends, whatever its outcome (versions come from callers).
        self._loading: dict[tuple[str, str], threading.Lock] = {}
        # Aliases served from memory: their entry in _pointers is kept current by the refresher thread.
        self._watched: set[tuple[str, str]] = set()
        self._refresher: threading.Thread | None = None
        self._closed = threading.Event()

    @classmethod
    def from_settings(cls, s3: Any, settings: Settings, nthread: int = 0, cache_size: int | None = None) -> ModelStore:
        """The store of the configured models bucket, with the configured cache and alias re-read TTL."""
        return cls(
            s3,
            settings.require("models_bucket"),
            cache_size=settings.model_cache_size if cache_size is None else cache_size,
            latest_ttl_seconds=settings.model_latest_ttl,
            nthread=nthread,
        )

    # ------------------------------------------------------------------ writing
    def save(self, model: str, booster: xgb.Booster, metadata: dict[str, Any]) -> str:
        """Store a trained booster as a new version of `model`; returns its version id. No alias moves."""
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
        return resp["VersionId"]

    def move_alias(
        self,
        model: str,
        alias: str,
        version: str,
        by: dict[str, Any],
        reason: str,
        expected: Alias | bool | None = True,
    ) -> Alias:
        """Point `alias` at an existing `version` (see AliasStore.move for `expected`)."""
        self._head(model, version)  # NotFound for a version that does not exist
        moved = self.aliases.move(model, alias, version, by, reason, expected)
        with self._lock:
            self._pointers[(model, alias)] = (time.monotonic(), version)
        log.info(
            "alias moved", extra={"model": model, "alias": alias, "version": version, "from": moved.previous_version}
        )
        return moved

    # ------------------------------------------------------------------ reading
    def list_models(self) -> list[dict[str, Any]]:
        """Every model with a current version, with its newest version's summary and its aliases."""
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
                aliases = self.aliases.all(name)
                models.append(
                    {
                        "model": name,
                        "live_version": aliases.get(LIVE),
                        "latest_version": head["VersionId"],
                        "aliases": aliases,
                        **_describe_head(head),
                    }
                )
        return models

    def list_versions(self, model: str, limit: int = 100) -> list[dict[str, Any]]:
        """Versions of `model`, newest first, with their summaries (metrics included) and aliases."""
        versions = versions_newest_first(self.s3, self.bucket, model_key(model))
        if not versions:
            raise NotFound(f"no model {model!r}", {"model": model})
        named = self.aliases.all(model)
        out = []
        for v in versions[:limit]:
            head = self._head(model, v["VersionId"])
            out.append(
                {
                    "version": v["VersionId"],
                    "is_latest": bool(v.get("IsLatest")),
                    "aliases": sorted(a for a, version in named.items() if version == v["VersionId"]),
                    **_describe_head(head),
                }
            )
        return out

    def latest_version(self, model: str) -> str:
        """The newest version id (the last one trained, whatever the aliases say)."""
        return self._head(model, None)["VersionId"]

    def resolve(self, model: str, alias: str = LIVE) -> str | None:
        """The version `alias` points at (None when the alias does not exist), from memory when
        the alias is watched; otherwise read now and watched from then on."""
        validate_alias(alias)
        with self._lock:
            seen = self._pointers.get((model, alias)) if (model, alias) in self._watched else None
        if seen is not None:
            return seen[1]
        version = self.aliases.version_of(model, alias)
        with self._lock:
            self._pointers[(model, alias)] = (time.monotonic(), version)
            # An absent alias is watched only beside a served `live` (the `shadow` asked on every
            # request): any other miss is asked again, so unknown names never pile up in memory.
            watch = version is not None or self._serving_live(model)
        if watch:
            self._watch(model, alias)
        return version

    def _serving_live(self, model: str) -> bool:
        """(Under the lock.) Whether `live` of `model` is watched and points at a version."""
        seen = self._pointers.get((model, LIVE))
        return (model, LIVE) in self._watched and seen is not None and seen[1] is not None

    def load(self, model: str, version: str | None = None, alias: str | None = None) -> LoadedModel:
        """The booster of (model, version), through the LRU cache; without a version, the one
        `alias` (default `live`) points at. A watched alias is resolved from memory (kept current
        in the background); the first time it is asked of S3 and the alias starts being watched."""
        validate_model_name(model)
        if version is not None:
            if alias is not None:
                raise InvalidInput("name a model version or an alias, not both", {"version": version, "alias": alias})
            return self._load(model, validate_version_id(version))
        alias = alias or LIVE
        pointed = self.resolve(model, alias)
        if pointed is None:
            self._head(model, None)  # NotFound "no model" when there is no version at all
            raise NotFound(
                f"model {model!r} has no alias {alias!r}"
                + (": promote a version (PUT /models/<model>/aliases/live) or name one" if alias == LIVE else ""),
                {"model": model, "alias": alias},
            )
        return self._load(model, pointed)

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
    def _watch(self, model: str, alias: str) -> None:
        """Keep `alias` of `model` current from now on (starting the refresher if need be)."""
        if self.latest_ttl_seconds <= 0 or self._closed.is_set():
            return
        with self._lock:
            self._watched.add((model, alias))
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

    def refresh_aliases(self) -> None:
        """One round of the refresher: every watched alias re-read, and a newly pointed-at
        version downloaded before `load` switches to it. A failure is logged and retried on
        the next round."""
        with self._lock:
            watched = sorted(self._watched)
        for model, alias in watched:
            try:
                self._refresh(model, alias)
            except Exception as exc:
                log.warning("re-reading alias %r of model %r failed (retrying): %s", alias, model, exc)

    def _refresh(self, model: str, alias: str) -> None:
        with self._lock:
            seen = self._pointers.get((model, alias))
            in_use = seen is not None and (
                (model, seen[1]) in self._boosters if seen[1] is not None else self._serving_live(model)
            )
            if not in_use:
                # Evicted from the cache (or forgotten, or an absent alias of a model no longer
                # served): not served from memory any more, so not watched; the next request for
                # it reads the alias like a first one.
                self._watched.discard((model, alias))
                return
        checked_at = time.monotonic()
        version = self.aliases.version_of(model, alias)
        if version is not None and version != seen[1]:
            try:
                self._load(model, version)
            except Exception as exc:  # requests will load it themselves, and meet the error as before
                log.warning("downloading version %r of model %r failed: %s", version, model, exc)
        with self._lock:
            if self._pointers.get((model, alias)) is not seen:  # move_alias/resolve set it meanwhile
                return
            self._pointers[(model, alias)] = (checked_at, version)
        if version != seen[1]:
            log.info("model %r: alias %r now points at version %r", model, alias, version)

    def close(self) -> None:
        """Stop the refresher; alias loads then ask S3 each time they are not watched."""
        self._closed.set()
        with self._lock:
            self._watched.clear()

    def describe(self, model: str, version: str) -> dict[str, Any]:
        """The full metadata of one version (from the artifact itself), with its aliases."""
        loaded = self.load(model, version)
        named = self.aliases.all(model)
        return {
            "model": model,
            "version": version,
            "is_latest": version == self.latest_version(model),
            "aliases": sorted(a for a, v in named.items() if v == version),
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
    return loaded_booster(model, version, booster)


def loaded_booster(model: str, version: str, booster: xgb.Booster) -> LoadedModel:
    """A booster carrying its metadata (as `save` leaves it, or as loaded) as a LoadedModel."""
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
            store.refresh_aliases()
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
