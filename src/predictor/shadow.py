"""Shadow scoring: when alias `shadow` exists, a share of online requests (FML_SHADOW_FRACTION) is
also scored by that version; both outputs are stored in the prediction line and the answer
carries live's only. `report` summarises the stored lines of a model since a time.

    GET /models/<model>/shadow-report?since=2026-11-30T06:00:00Z
    {"model": "churn", "since": "…", "until": "…", "requests_compared": 120, "predictions_compared": 480,
     "labels_equal_share": 0.97, "abs_delta": {"of": "probability", "mean": 0.02, "p95": 0.06, "max": 0.2},
     "live_versions": {"<v>": 120}, "shadow_versions": {"<v>": 120}, "shadow_errors": 0,
     "objects_read": 12, "truncated": false}

For classifiers Δ is the largest difference between the two models' class probabilities of a
row (for binary, the difference in P(positive)); for regression, the difference in values.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from fmlcore.core.errors import InvalidInput
from fmlcore.core.layout import online_day_prefix
from fmlcore.core.times import isoformat

DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=31)


def parse_since(raw: str | None, now: datetime) -> datetime:
    """`since` as an aware datetime: ISO 8601 (a date, or a time with or without zone: UTC)."""
    if not raw:
        return now - DEFAULT_WINDOW
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"since must be an ISO 8601 date or time (2026-11-30 or 2026-11-30T06:00:00Z), not {raw[:40]!r}"
        ) from exc
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if at > now:
        raise InvalidInput("since is in the future", {"since": raw[:40]})
    if now - at > MAX_WINDOW:
        raise InvalidInput(f"since may go back at most {MAX_WINDOW.days} days", {"since": raw[:40]})
    return at


def _delta(live: dict[str, Any], shadow: dict[str, Any]) -> tuple[float, bool | None]:
    """(|Δ|, labels equal or None for regression) of one row's two predictions."""
    lp, sp = live.get("probabilities"), shadow.get("probabilities")
    if lp is None or sp is None:
        return abs(float(live["prediction"]) - float(shadow["prediction"])), None
    delta = max(abs(float(lp.get(c, 0.0)) - float(sp.get(c, 0.0))) for c in set(lp) | set(sp))
    return delta, live["prediction"] == shadow["prediction"]


def summarize(lines: Iterable[dict[str, Any]], since: datetime) -> dict[str, Any]:
    """The comparison of live and shadow outputs over the lines stored since `since`."""
    requests = errors = 0
    deltas: list[float] = []
    equal: list[bool] = []
    kinds: set[str] = set()
    live_versions: Counter[str] = Counter()
    shadow_versions: Counter[str] = Counter()
    for line in lines:
        shadow = line.get("shadow")
        created = line.get("created_at")
        if not shadow or not created or datetime.fromisoformat(created.replace("Z", "+00:00")) < since:
            continue
        if shadow.get("error") or len(shadow.get("predictions") or ()) != len(line.get("predictions") or ()):
            errors += 1
            continue
        requests += 1
        live_versions[line.get("model_version")] += 1
        shadow_versions[shadow.get("model_version")] += 1
        for live_p, shadow_p in zip(line["predictions"], shadow["predictions"], strict=True):
            delta, same = _delta(live_p, shadow_p)
            deltas.append(delta)
            kinds.add("value" if same is None else "probability")
            if same is not None:
                equal.append(same)
    abs_delta = None
    if deltas:
        values = np.asarray(deltas)
        abs_delta = {
            "of": kinds.pop() if len(kinds) == 1 else "mixed",
            "mean": round(float(values.mean()), 6),
            "p95": round(float(np.percentile(values, 95)), 6),
            "max": round(float(values.max()), 6),
        }
    return {
        "requests_compared": requests,
        "predictions_compared": len(deltas),
        "labels_equal_share": round(sum(equal) / len(equal), 6) if equal else None,
        "abs_delta": abs_delta,
        "live_versions": dict(live_versions),
        "shadow_versions": dict(shadow_versions),
        "shadow_errors": errors,
    }


def report(s3: Any, bucket: str, model: str, since: datetime, now: datetime, max_objects: int) -> dict[str, Any]:
    """Read the model's online prediction objects from `since`'s day on (newest first, at most
    `max_objects`) and summarise their shadow comparisons."""
    keys: list[tuple[str, str]] = []  # (hour partition + key for ordering, key)
    day = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    paginator = s3.get_paginator("list_objects_v2")
    while day <= now:
        for page in paginator.paginate(Bucket=bucket, Prefix=online_day_prefix(model, day)):
            for item in page.get("Contents", []):
                if item["LastModified"] >= since:  # an object is written after its last line
                    keys.append((item["LastModified"].isoformat(), item["Key"]))
        day += timedelta(days=1)
    keys.sort(reverse=True)
    chosen = keys[:max_objects]

    def lines() -> Iterable[dict[str, Any]]:
        for _, key in chosen:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            for raw in body.splitlines():
                if raw.strip():
                    yield json.loads(raw)

    summary = summarize(lines(), since)
    return {
        "model": model,
        "since": isoformat(since),
        "until": isoformat(now),
        **summary,
        "objects_read": len(chosen),
        "truncated": len(keys) > len(chosen),
    }
