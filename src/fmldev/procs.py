"""Background processes (APIs, workers, the bench's peers), one helper for `make run`, the tests and the bench.

`Proc` starts a command in its own session, so that its process group holds everything it forks
(a gunicorn master and its workers, a worker and its training forkserver), with stdin from
/dev/null and stdout + stderr appended to a log file; each command runs under its workload's
role (`fmldev.stack.with_role`). It waits for a URL to answer 200 or for a log line, reads the
log's tail, signals the group, and stops it: SIGTERM, SIGKILL after a timeout, then SIGKILL for
whatever is left in the group. `Procs` is a set of them sharing a log directory, stopped together.

The pid-file layer on top is what `make run` / `make stop` call; the process outlives the command
that started it:

    python -m fmldev.procs start NAME [--health URL] -- COMMAND...   pid in .state/NAME.pid, log in .state/NAME.log
    python -m fmldev.procs stop NAME...                              SIGTERM, then SIGKILL after --timeout
    python -m fmldev.procs status NAME...

`start` is a no-op when NAME is already running; with --health it waits until URL answers 200.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from fmldev.stack import with_role

POLL_SECONDS = 0.1
KILL_WAIT_SECONDS = 5.0  # how long to wait for a SIGKILLed process before saying it stopped


class NotReady(RuntimeError):
    """A process exited, or did not become ready in time, while it was waited for; the message
    ends with its log's tail, `reason` is the one-line account."""

    def __init__(self, reason: str, log_tail: str) -> None:
        super().__init__(f"{reason}:\n{log_tail}")
        self.reason = reason


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str, timeout: float = 1.0) -> bool:
    """Whether `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def poll(done: Callable[[], bool], timeout: float) -> bool:
    """Call `done` every POLL_SECONDS until it is true (returns True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to process group `pgid`; False when there is no such group (any more)."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def terminate(pgid: int, exited: Callable[[float], bool], timeout: float) -> None:
    """Stop the process group `pgid` (a `Proc`'s: its leader's pid): SIGTERM, SIGKILL when
    `exited(seconds)` says the leader has not exited within `timeout`, and last SIGKILL for whatever
    is still in the group (a gunicorn worker or a forkserver orphaned by its parent's crash)."""
    if signal_group(pgid, signal.SIGTERM) and not exited(timeout):
        signal_group(pgid, signal.SIGKILL)
        exited(KILL_WAIT_SECONDS)
    signal_group(pgid, signal.SIGKILL)


class Proc:
    """One background process in its own session (process group), logging to `log_path`.

    `env` is the whole environment (None: this process's); `log()` is `log_tail()` with its default.
    """

    def __init__(
        self, name: str, cmd: Sequence[str], env: Mapping[str, str] | None, log_path: Path, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        environ = dict(os.environ if env is None else env)
        with open(log_path, "ab") as out:  # the child has its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.cmd, env=with_role(self.cmd, environ), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.pid = self.proc.pid
        self._stopped = False

    def __repr__(self) -> str:
        return f"Proc({self.name!r}, pid={self.pid}, returncode={self.proc.returncode})"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 5000) -> str:
        """The last `chars` characters of the log ("" when there is none)."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(max(0, fh.seek(0, os.SEEK_END) - 4 * chars))  # a character is at most 4 bytes
                return fh.read().decode(errors="replace")[-chars:]
        except OSError:
            return ""

    log = log_tail

    def wait_for(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `ready` until it is true; NotReady when the process exits first or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise NotReady(f"{self.name} exited with {self.proc.returncode}", self.log_tail())
            if ready():
                return
            time.sleep(POLL_SECONDS)
        raise NotReady(f"{self.name}: {what} not seen within {timeout:.0f} s", self.log_tail())

    def wait_healthy(self, url: str, timeout: float = 60.0) -> None:
        self.wait_for(lambda: healthy(url), timeout, f"200 from {url}")

    def wait_log(self, text: str, timeout: float = 60.0) -> None:
        self.wait_for(lambda: text in self.log_tail(1 << 16), timeout, f"log line {text!r}")

    def signal(self, sig: int) -> bool:
        """Send `sig` to the process group; False when the group is gone."""
        return signal_group(self.pid, sig)

    def _exited(self, seconds: float) -> bool:
        try:
            self.proc.wait(seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the process group, SIGKILL it after `timeout`; returns the exit code (-N: killed
        by signal N). Stopping a stopped process only returns its exit code again."""
        if not self._stopped:
            self._stopped = True
            terminate(self.pid, self._exited, timeout)
        return self.proc.wait()


class Procs:
    """Named processes logging into one directory (`<log_dir>/<name>.log`), stopped together:
    a test module's, a test's or a bench run's. As a context manager it stops them all on exit."""

    def __init__(self, log_dir: Path, cwd: Path | None = None) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.started: list[Proc] = []

    def start(self, name: str, cmd: Sequence[str], env: Mapping[str, str] | None) -> Proc:
        proc = Proc(name, cmd, env, self.log_dir / f"{name}.log", cwd=self.cwd)
        self.started.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 30.0) -> int:
        try:
            return proc.stop(timeout)
        finally:
            if proc in self.started:
                self.started.remove(proc)

    def stop_all(self, timeout: float = 30.0) -> None:
        """Stop every process, the last started first; one that cannot be stopped does not keep
        the others running (a RuntimeError naming them all is raised at the end)."""
        failures = []
        for proc in reversed(list(self.started)):
            try:
                self.stop(proc, timeout)
            except Exception as exc:
                failures.append(f"{proc.name} (pid {proc.pid}): {exc}")
        if failures:
            raise RuntimeError("could not stop " + "; ".join(failures))

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


# ---------------------------------------------------------------------------- pid files (make run / make stop)
def _zombie(pid: int) -> bool:
    """Whether `pid` has exited and waits for its parent to reap it (False where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith("Z")


def running(pid_file: Path) -> int | None:
    """The pid recorded in `pid_file` when that process is alive, else None."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return None if _zombie(pid) else pid


def start(state: Path, name: str, command: Sequence[str], health: str | None = None, wait: float = 30.0) -> int:
    """Start `command` as NAME unless it runs already; with `health`, wait until that URL answers
    200. Returns the CLI's exit code."""
    state.mkdir(parents=True, exist_ok=True)
    pid_file, log_file = state / f"{name}.pid", state / f"{name}.log"
    pid = running(pid_file)
    if pid is not None:
        sys.stdout.write(f"{name} already running (pid {pid})\n")
        return 0
    proc = Proc(name, command, None, log_file)
    pid_file.write_text(str(proc.pid))
    if health:
        try:
            proc.wait_healthy(health, wait)
        except NotReady as exc:
            sys.stderr.write(f"{exc.reason}; see {log_file}\n")
            return 1
    sys.stdout.write(f"{name} started (pid {proc.pid}, log {log_file})\n")
    return 0


def stop(state: Path, name: str, timeout: float = 35.0) -> None:
    """Stop NAME if it runs (as `Proc.stop` does, by its pid file) and remove its pid file."""
    pid_file = state / f"{name}.pid"
    pid = running(pid_file)
    if pid is not None:
        terminate(pid, lambda seconds: poll(lambda: running(pid_file) is None, seconds), timeout)
        sys.stdout.write(f"{name} stopped (pid {pid})\n")
    pid_file.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fmldev.procs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("names", nargs="+")
    parser.add_argument("--state", type=Path, default=Path(".state"))
    parser.add_argument("--health")
    parser.add_argument("--wait", type=float, default=30)
    parser.add_argument("--timeout", type=float, default=35)
    argv = list(sys.argv[1:] if argv is None else argv)
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
