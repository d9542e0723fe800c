"""Structured JSON logs, one object per line, with the job id / request id on every line.

`bind(job_id=...)` puts fields into a context variable for the duration of a block, so
every log line written inside it (from any module) carries them.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("fml_log_context", default={})  # noqa: B039

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# Extra keys starting with "_" are private and dropped, but for CloudWatch's embedded metric format
# directive: a line carrying `_aws` becomes metrics (fmlcore.jobs.metrics writes them).
_KEPT_UNDERSCORE_KEYS = frozenset({"_aws"})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_context.get())
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and (not key.startswith("_") or key in _KEPT_UNDERSCORE_KEYS):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", stream=None) -> None:
    """Send every logger's records, as JSON lines, to `stream` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add `fields` to every log line written inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def push(**fields: Any) -> contextvars.Token:
    """Like `bind`, for code that cannot wrap a block (request hooks); undo with `pop(token)`."""
    return _context.set({**_context.get(), **fields})


def pop(token: contextvars.Token) -> None:
    _context.reset(token)


def bound() -> dict[str, Any]:
    """The fields bound right now (for error bodies and status records)."""
    return dict(_context.get())
