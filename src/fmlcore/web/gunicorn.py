"""The gunicorn settings both APIs share; each service's `gunicorn_conf.py` takes them with its port.

gthread workers: a slow client or a long request holds one thread, not a whole process; the
timeout leaves room for the trainer's synchronous budget. gunicorn's own log lines are JSON
like the app's.

Prometheus metrics (fmlcore.web.metrics) in multiprocess mode: prometheus_client picks how it stores
values from PROMETHEUS_MULTIPROC_DIR when it is first imported, so the variable is set here, in the
master, before any worker imports the app (a private temporary directory unless the environment
names one), and prometheus_client is imported here only inside the hooks. The directory is emptied
when gunicorn starts (values of an earlier run must not add up with this one's), and a worker's
live gauges are dropped when it exits.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from typing import Any

from fmlcore.core.settings import Settings

# The variable prometheus_client reads (not taken from fmlcore.web.metrics: importing that here would
# import prometheus_client in the master before the variable is set, and the workers fork from it).
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def gunicorn_settings(default_bind: str) -> dict[str, Any]:
    settings = Settings.from_env(os.environ)
    return {
        **prometheus_hooks(),
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


def prometheus_hooks() -> dict[str, Any]:
    """Point PROMETHEUS_MULTIPROC_DIR at a directory (a new private one unless set) and return the
    gunicorn hooks that keep it: emptied at start, a dead worker's live gauges dropped, removed at
    exit when it was made here."""
    made_here = not os.environ.get(MULTIPROC_DIR_ENV)
    if made_here:
        os.environ[MULTIPROC_DIR_ENV] = tempfile.mkdtemp(prefix="fml-prometheus-")
    path = os.environ[MULTIPROC_DIR_ENV]

    def on_starting(_server: Any) -> None:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):  # prometheus_client's files, nothing else
            os.remove(stale)

    def child_exit(_server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess  # imported after the variable is set, in the master only

        multiprocess.mark_process_dead(worker.pid, path)

    def on_exit(_server: Any) -> None:
        if made_here:
            shutil.rmtree(path, ignore_errors=True)

    return {"on_starting": on_starting, "child_exit": child_exit, "on_exit": on_exit}
