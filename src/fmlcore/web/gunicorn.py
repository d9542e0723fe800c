"""The gunicorn settings both APIs share; each service's `gunicorn_conf.py` takes them with its port.

gthread workers: a slow client or a long request holds one thread, not a whole process; the
timeout leaves room for the trainer's synchronous budget. gunicorn's own log lines are JSON
like the app's.
"""

from __future__ import annotations

import os
from typing import Any

from fmlcore.core.settings import Settings


def gunicorn_settings(default_bind: str) -> dict[str, Any]:
    settings = Settings.from_env(os.environ)
    return {
        "bind": settings.web_bind or default_bind,
        "workers": settings.web_workers,
        "worker_class": "gthread",
        "threads": settings.web_threads,
        "timeout": settings.web_timeout,
        "graceful_timeout": 30,
        # Above the ALB's idle timeout (60 s), so the ALB, not gunicorn, closes idle connections.
        "keepalive": 75,
        # Recycling a worker reloads its clients and models: rare enough not to show at 1,000 req/s.
        "max_requests": 50_000,
        "max_requests_jitter": 5_000,
        "accesslog": None,  # the app logs every request as JSON with its request id
        "logconfig_dict": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": "fmlcore.core.logs.JsonFormatter"}},
            "handlers": {
                "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
            },
            "root": {"level": "INFO", "handlers": ["stderr"]},
            "loggers": {
                "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
                "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
            },
        },
    }
