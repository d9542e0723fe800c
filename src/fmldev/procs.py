"""Start and stop the project's background processes (APIs, workers) for `make run` / `make stop`.

    python src/fmldev/procs.py start NAME [--health URL] -- COMMAND...   pid in .state/NAME.pid, log in .state/NAME.log
    python src/fmldev/procs.py stop NAME...                              SIGTERM, then SIGKILL after --timeout
    python src/fmldev/procs.py status NAME...

`start` is a no-op when NAME is already running; with --health it waits until URL answers 200.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def running(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def start(state: Path, name: str, command: list[str], health: str | None, wait: float) -> int:
    state.mkdir(parents=True, exist_ok=True)
    pid_file, log_file = state / f"{name}.pid", state / f"{name}.log"
    if running(pid_file):
        sys.stdout.write(f"{name} already running (pid {running(pid_file)})\n")
        return 0
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + wait
    while health and time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.stderr.write(f"{name} exited with {proc.returncode}; see {log_file}\n")
            return 1
        if healthy(health):
            break
        time.sleep(0.2)
    else:
        if health:
            sys.stderr.write(f"{name} not healthy within {wait:.0f} s; see {log_file}\n")
            return 1
    sys.stdout.write(f"{name} started (pid {proc.pid}, log {log_file})\n")
    return 0


def stop(state: Path, name: str, timeout: float) -> None:
    pid_file = state / f"{name}.pid"
    pid = running(pid_file)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while running(pid_file) and time.monotonic() < deadline:
            time.sleep(0.1)
        if running(pid_file):
            os.killpg(pid, signal.SIGKILL)
        sys.stdout.write(f"{name} stopped (pid {pid})\n")
    pid_file.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("names", nargs="+")
    parser.add_argument("--state", type=Path, default=Path(".state"))
    parser.add_argument("--health")
    parser.add_argument("--wait", type=float, default=30)
    parser.add_argument("--timeout", type=float, default=35)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, command = parser.parse_args(argv[:split]), argv[split + 1 :]
    if args.action == "start":
        if len(args.names) != 1 or not command:
            parser.error("start takes one NAME and a command after --")
        return start(args.state, args.names[0], command, args.health, args.wait)
    for name in args.names:
        if args.action == "stop":
            stop(args.state, name, args.timeout)
        else:
            pid = running(args.state / f"{name}.pid")
            sys.stdout.write(f"{name}: running (pid {pid})\n" if pid else f"{name}: stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
