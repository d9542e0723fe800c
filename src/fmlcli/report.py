"""What the CLI prints on stdout: job summaries, a status record's key fields, and tables.

Plain text on purpose (no colours, no terminal-width wrapping): stdout is what scripts and
logs capture, so a version id is never cut and `grep`/`awk` read the columns as they are. The
full JSON is always one `--json` away.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, two spaces apart; None shows as `-`."""
    cells = [[str(h) for h in headers]] + [["-" if c is None or c == "" else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def number(value: Any) -> str:
    """A metric as people read it: whole numbers with separators, others to 6 significant digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return json.dumps(value) if isinstance(value, dict | list) else str(value)
    if isinstance(value, int) or value.is_integer():
        return f"{int(value):,}"
    return f"{value:.6g}"


def metrics_text(metrics: dict[str, Any] | None) -> str:
    """`auc 0.81234, logloss 0.43` (nested values as compact JSON)."""
    return ", ".join(f"{k} {number(v)}" for k, v in (metrics or {}).items()) or "-"


def promotion_text(promotion: dict[str, Any] | None) -> str:
    if not promotion:
        return "-"
    alias = promotion.get("alias", "live")
    if promotion.get("promoted"):
        head = f"promoted to {alias}"
    else:
        live = promotion.get("live_version")
        head = f"held back as candidate ({alias} stays {live})" if live else "held back as candidate"
    return f"{head}: {promotion['reason']}" if promotion.get("reason") else head


def error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return "-"
    return f"{error.get('type', 'Error')}: {error.get('message', '')}"


def failure_message(record: dict[str, Any]) -> str:
    """Why a job ended badly: its error, and the last attempt's when that says more."""
    message = f"job {record.get('job_id')} {record.get('state')}: {error_text(record.get('error'))}"
    last = record.get("last_error")
    if last and last.get("message") != (record.get("error") or {}).get("message"):
        message += f" (last attempt: {error_text(last)})"
    return message


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """`name:  value` lines, aligned, for the values that are set."""
    shown = [(k, v) for k, v in pairs if v not in (None, "", {}, [])]
    width = max((len(k) for k, _ in shown), default=0) + 1
    return "".join(f"{(k + ':').ljust(width)}  {v}\n" for k, v in shown)


def _input(record: dict[str, Any]) -> str | None:
    inp = record.get("input") or {}
    if not inp.get("bucket"):
        return None
    version = f" (version {inp['version_id']})" if inp.get("version_id") else ""
    return f"s3://{inp['bucket']}/{inp.get('key', '')}{version}"


def duration(record: dict[str, Any]) -> float | None:
    """Seconds from the job's submission to its end, by its own record."""
    try:
        begin = datetime.fromisoformat(record["submitted_at"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(record["finished_at"].replace("Z", "+00:00"))
    except (KeyError, AttributeError, TypeError, ValueError):
        return None
    return (end - begin).total_seconds()


def _ended(record: dict[str, Any], elapsed: float | None) -> str:
    return f"{record['job_id']} {record.get('state')}" + (f" in {elapsed:.1f}s" if elapsed is not None else "")


def train_summary(record: dict[str, Any], elapsed: float | None) -> str:
    """The trained version, its holdout metrics and the promotion decision."""
    return fields(
        [
            ("job", _ended(record, elapsed)),
            ("model", record.get("model")),
            ("version", record.get("model_version")),
            ("metrics", metrics_text(record.get("metrics"))),
            ("promotion", promotion_text(record.get("promotion"))),
        ]
    )


def predict_summary(
    record: dict[str, Any], elapsed: float | None, predictions: str | None = None, errors: str | None = None
) -> str:
    """The scored job: rows, the model version, where the predictions (and errors) are: the local
    files when they were downloaded, with the S3 URIs they came from."""
    metrics = record.get("metrics") or {}
    outputs = record.get("outputs") or {}
    total = metrics.get("rows_total", (record.get("progress") or {}).get("rows_done"))
    failed = int(metrics.get("rows_failed") or 0)
    rows = f"{number(total)} in total, {number(metrics.get('rows_scored', total))} scored, {failed:,} failed"

    def where(local: str | None, uri: str | None) -> str | None:
        return f"{local} (from {uri})" if local and uri else local or uri

    errors_line = None
    if failed or outputs.get("errors_uri"):
        noun = "row" if failed == 1 else "rows"
        errors_line = f"{failed:,} {noun} failed, reasons in {where(errors, outputs.get('errors_uri'))}"
    return fields(
        [
            ("job", _ended(record, elapsed)),
            ("model", record.get("model")),
            ("version", record.get("model_version")),
            ("rows", rows),
            ("predictions", where(predictions, outputs.get("predictions_uri"))),
            ("errors", errors_line),
        ]
    )


def record_text(record: dict[str, Any]) -> str:
    """A status record's key fields, one a line (`fml jobs <id>`)."""
    progress = record.get("progress") or {}
    parts = record.get("parts") or {}
    outputs = record.get("outputs") or {}
    history = "; ".join(f"{h.get('state')} {h.get('at')}" for h in record.get("history") or [])
    return fields(
        [
            ("job", record.get("job_id")),
            ("kind", record.get("kind")),
            ("model", record.get("model")),
            ("state", record.get("state")),
            ("attempts", record.get("attempts")),
            ("source", record.get("source")),
            ("input", _input(record)),
            ("options", json.dumps(record["options"], sort_keys=True) if record.get("options") else None),
            ("submitted", record.get("submitted_at")),
            ("started", record.get("started_at")),
            ("finished", record.get("finished_at")),
            ("rows done", f"{int(progress.get('rows_done') or 0):,}"),
            ("parts", f"{parts.get('done')}/{parts.get('total')}" if parts else None),
            ("model version", record.get("model_version")),
            ("metrics", metrics_text(record.get("metrics")) if record.get("metrics") else None),
            *((f"output {k}", v) for k, v in outputs.items()),
            ("promotion", promotion_text(record.get("promotion")) if record.get("promotion") else None),
            ("error", error_text(record.get("error")) if record.get("error") else None),
            ("last error", error_text(record.get("last_error")) if record.get("last_error") else None),
            ("history", history),
        ]
    )


def models_table(models: list[dict[str, Any]]) -> str:
    rows = []
    for m in models:
        others = ", ".join(f"{a}={v}" for a, v in sorted((m.get("aliases") or {}).items()) if a != "live")
        rows.append(
            (m.get("model"), m.get("live_version"), m.get("latest_version"), m.get("objective"),
             m.get("trained_at"), others)
        )  # fmt: skip
    return table(("MODEL", "LIVE", "LATEST", "OBJECTIVE", "TRAINED_AT", "OTHER ALIASES"), rows)


def versions_table(versions: list[dict[str, Any]]) -> str:
    rows = [
        (v.get("version"), ",".join(v.get("aliases") or []), v.get("trained_at"), number(v.get("rows")),
         metrics_text(v.get("metrics")))
        for v in versions
    ]  # fmt: skip
    return table(("VERSION", "ALIASES", "TRAINED_AT", "ROWS", "METRICS"), rows)


def moved_text(moved: dict[str, Any]) -> str:
    """An alias move (`POST /rollback`'s answer)."""
    head = f"{moved.get('model')}: {moved.get('alias', 'live')} {moved.get('previous_version') or '-'} -> {moved.get('version')}"
    return head + (f" ({moved['reason']})" if moved.get("reason") else "") + "\n"
