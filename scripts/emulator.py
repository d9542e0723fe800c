"""Start, stop and probe the local AWS emulator (MiniStack) for `make localstack-*`.

    python scripts/emulator.py up        start MiniStack in the background unless the endpoint is healthy
    python scripts/emulator.py down      stop the MiniStack this project started (by its pid file)
    python scripts/emulator.py status    exit 0 when the endpoint answers its health check

The endpoint comes from fmlcore.aws.local_endpoint (AWS_ENDPOINT_URL, else LOCALSTACK_HOST,
else 127.0.0.1:4566), so a user's own emulator (LocalStack with its token, or MiniStack
elsewhere) is used as it is and never started or stopped by us.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from procs import running  # scripts/procs.py: the one pid-file check

from fmlcore.aws import local_endpoint
from fmlcore.logs import configure_logging

log = logging.getLogger("fml.emulator")
HEALTH_PATHS = ("/_ministack/health", "/_localstack/health")


def healthy(endpoint: str, timeout: float = 2.0) -> dict | None:
    """The emulator's health document, or None when nothing healthy answers."""
    for path in HEALTH_PATHS:
        try:
            with urllib.request.urlopen(endpoint.rstrip("/") + path, timeout=timeout) as resp:
                if resp.status == 200:
                    return json.loads(resp.read() or b"{}")
        except (OSError, ValueError):
            continue
    return None


def up(state: Path, endpoint: str, wait_seconds: float) -> int:
    if healthy(endpoint):
        log.info("emulator already up", extra={"endpoint": endpoint})
        return 0
    url = urlparse(endpoint)
    if url.hostname not in ("127.0.0.1", "localhost"):
        log.error("emulator at %s is not answering; start it yourself (only a local one is started here)", endpoint)
        return 1
    state.mkdir(parents=True, exist_ok=True)
    log_path = state / "ministack.log"
    env = {
        **os.environ,
        "GATEWAY_PORT": str(url.port or 4566),
        "BIND_HOST": "127.0.0.1",
        "LAMBDA_EXECUTOR": "local",
        "MINISTACK_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "S3_PERSIST": "0",
    }
    # The emulator's own Lambda executor spawns handlers with this interpreter, so the
    # project's venv (boto3, localstack-client) is what the handlers import.
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ministack"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    (state / "ministack.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.error("MiniStack exited with %s; see %s", proc.returncode, log_path)
            return 1
        if healthy(endpoint, timeout=1.0):
            log.info("MiniStack up", extra={"endpoint": endpoint, "pid": proc.pid, "log": str(log_path)})
            return 0
        time.sleep(0.2)
    log.error("MiniStack did not become healthy within %.0f s; see %s", wait_seconds, log_path)
    return 1


def down(state: Path, stop_timeout: float = 10.0) -> int:
    pid_file = state / "ministack.pid"
    pid = running(pid_file)
    if pid is None:
        log.info("no MiniStack started by this project is running")
    else:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + stop_timeout
        while time.monotonic() < deadline and running(pid_file) is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if running(pid_file) is not None:
            os.killpg(pid, signal.SIGKILL)
        log.info("MiniStack stopped", extra={"pid": pid})
    pid_file.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--state", type=Path, default=Path(".state"), help="folder for pid and log files")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for health on start")
    args = parser.parse_args(argv)
    configure_logging("INFO")
    endpoint = local_endpoint()
    if args.command == "up":
        return up(args.state, endpoint, args.wait)
    if args.command == "down":
        return down(args.state)
    health = healthy(endpoint)
    if health is None:
        log.info("emulator down", extra={"endpoint": endpoint})
        return 1
    running = sorted(k for k, v in (health.get("services") or {}).items() if v in ("running", "available"))
    log.info("emulator up", extra={"endpoint": endpoint, "services": len(running)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
