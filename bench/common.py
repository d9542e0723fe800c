"""Shared plumbing of the benchmark harness: processes, the local stack, /proc metrics, output.

Everything the bench starts is tracked here and stopped at the end, even on failure:
- `Procs` starts background processes in their own process group (gunicorn master and its
  workers, queue workers) and stops them by process group id (`fmldev.procs`, shared with
  `make run` and the tests);
- `Stack` starts a private MiniStack on a free port (never the developer's 127.0.0.1:4566)
  and applies a *copy* of `terraform/` to it, with its own Terraform state and data dir, so
  nothing in the repository's `.state/` or `terraform/` working dirs is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import fmldev.procs
from fmldev.procs import Proc, free_port, signal_group

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PY = sys.executable
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
MODEL = "bench"  # the model the online and batch benches serve
TRAIN_MODEL = "bench-train"  # the model the training bench produces


# ---------------------------------------------------------------------------- output
def say(message: str) -> None:
    """Progress line on stderr (stdout carries the final table)."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------------------- /proc metrics
def _status_fields(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (KiB) of one process; empty when it is gone."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    out[name] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return out


def rss_mib(pid: int) -> float | None:
    kib = _status_fields(pid).get("VmRSS")
    return None if kib is None else kib / 1024


def hwm_mib(pid: int) -> float | None:
    """Peak resident set size (VmHWM) of one process, in MiB."""
    kib = _status_fields(pid).get("VmHWM")
    return None if kib is None else kib / 1024


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            raw = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may contain spaces: split after its closing parenthesis.
    return raw[raw.rfind(")") + 2 :].split()


def tree_pids(root: int) -> list[int]:
    """`root` and all its descendants (e.g. a gunicorn master and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def tree_rss_mib(root: int) -> float:
    return sum(rss_mib(pid) or 0.0 for pid in tree_pids(root))


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used by `root`'s live tree plus the children it has reaped (recycled workers)."""
    total = 0
    for pid in tree_pids(root):
        fields = _stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime
            if pid == root:
                total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / CLK_TCK


class RssSampler:
    """Samples the summed RSS of a process tree in the background while a load runs."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        self.root = root
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(tree_rss_mib(self.root))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def summary(self) -> dict[str, float | None]:
        if not self.samples:
            return {"rss_peak_mib": None, "rss_mean_mib": None}
        return {
            "rss_peak_mib": round(max(self.samples), 1),
            "rss_mean_mib": round(sum(self.samples) / len(self.samples), 1),
        }


# ---------------------------------------------------------------------------- processes
class Procs(fmldev.procs.Procs):
    """The processes of one bench run, started from the repository root; `stop_all` is called from
    run.py's `finally`. Their pids are kept in `<run dir>/pids.json` for `reap_stale`."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir, cwd=REPO)
        self.pid_file = log_dir / "pids.json"

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> Proc:
        proc = super().start(name, cmd, env)
        self._save()
        return proc

    def stop_soon(self, proc: Proc) -> None:
        """SIGTERM without waiting (a worker finishing its long poll); `stop_all` reaps it later."""
        if proc.alive():
            proc.signal(signal.SIGTERM)

    def stop(self, proc: Proc, timeout: float = 30.0) -> int:
        try:
            return super().stop(proc, timeout)
        finally:
            self._save()

    def stop_all(self, timeout: float = 15.0) -> None:
        try:
            super().stop_all(timeout)
        except RuntimeError as exc:
            say(str(exc))

    def _save(self) -> None:
        self.pid_file.write_text(json.dumps({p.name: p.pid for p in self.started}))

    def reap_stale(self) -> None:
        """Stop processes a killed earlier run left behind (by the pids it recorded)."""
        try:
            stale = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return
        for name, pid in stale.items():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(BIN) in cmdline or sys.executable in cmdline:
                say(f"stopping {name} (pid {pid}) left by an earlier run")
                signal_group(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- the local stack
class Stack:
    """A private MiniStack on a free port with terraform/envs/local applied to it."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = 0
        self.env: dict[str, str] = {}
        self.settings_env: dict[str, str] = {}

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.env.get("USE_SSL", os.environ.get("USE_SSL", "1")) == "1" else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _emulator(self, command: str, env: dict[str, str]) -> None:
        subprocess.run(
            [PY, str(REPO / "scripts" / "emulator.py"), command, "--state", str(self.state)],
            env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def up(self, attempts: int = 2) -> None:
        """Start and apply; a failed apply (MiniStack occasionally answers a Lambda AddPermission
        twice, and Terraform then fails with a 409) is retried once on a fresh emulator."""
        for attempt in range(1, attempts + 1):
            try:
                self._up()
                return
            except RuntimeError as exc:
                if attempt == attempts:
                    raise
                say(f"stack setup failed, retrying on a fresh emulator: {str(exc).strip().splitlines()[-1][:300]}")
                (self.state / "terraform.log").replace(self.state / f"terraform-attempt{attempt}.log")

    def _up(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.down()  # a MiniStack left by a killed earlier run, or by a failed attempt
        self.port = free_port()
        base = {
            **os.environ,
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
            "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        base.pop("AWS_ENDPOINT_URL", None)
        base.setdefault("USE_SSL", "1")
        say(f"starting MiniStack (IAM enforced) on 127.0.0.1:{self.port} (state {self.state})")
        self._emulator("up", base)
        from fmldev.stack import read_env_file

        emulator_env = read_env_file(self.state / "emulator.env")  # scheme, CA bundle, operator credentials
        base.update(emulator_env)
        # The bench itself acts as the local operator (as `make` does by sourcing .state/local.env):
        # its own clients find the credentials where every AWS SDK looks, the environment, and
        # localstack-client reads the endpoint's scheme (USE_SSL) there too.
        os.environ.update({k: emulator_env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "USE_SSL")})
        self.env = base
        (self.state / "emulator.port").write_text(str(self.port))
        zip_path = self.state / "enqueue.zip"
        subprocess.run([PY, str(REPO / "scripts" / "build_lambda.py"), str(REPO / "src"), str(zip_path)], check=True)
        outputs = self._terraform(base, zip_path)
        from fmldev.stack import env_from_outputs

        self.settings_env = env_from_outputs(outputs)
        self.env = {**base, **self.settings_env}

    def _terraform(self, base: dict[str, str], zip_path: Path) -> dict[str, Any]:
        """Apply a copy of terraform/ (own data dir, own state): the repo's working dirs stay untouched."""
        tf_root = self.state / "terraform"
        shutil.rmtree(tf_root, ignore_errors=True)
        shutil.copytree(
            REPO / "terraform",
            tf_root,
            ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"),
        )
        # The provider reaches the emulator through the standard AWS_ENDPOINT_URL, as `make localstack-up` does.
        env = {
            **base,
            "TF_IN_AUTOMATION": "1",
            "TF_DATA_DIR": str(self.state / "tf-data"),
            "AWS_ENDPOINT_URL": self.endpoint,
        }
        rc = os.environ.get("TF_CLI_CONFIG_FILE")
        if not rc or not Path(rc).is_file():
            cache = self.state.parent / "tf-plugin-cache"
            cache.mkdir(parents=True, exist_ok=True)
            text = f'plugin_cache_dir = "{cache}"\nplugin_cache_may_break_dependency_lock_file = true\n'
            mirror = os.environ.get("TF_PROVIDER_MIRROR")
            if mirror:
                text = f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n' + text
            (self.state / "terraform.rc").write_text(text)
            env["TF_CLI_CONFIG_FILE"] = str(self.state / "terraform.rc")
        chdir = f"-chdir={tf_root / 'envs' / 'local'}"
        tfstate = self.state / "local.tfstate"
        log_path = self.state / "terraform.log"
        say("terraform init + apply of terraform/envs/local (a copy)")
        with open(log_path, "wb") as log:
            for args in (
                ["init", "-input=false", "-no-color", "-reconfigure", f"-backend-config=path={tfstate}"],
                [
                    "apply", "-input=false", "-no-color", "-auto-approve",
                    f"-var=lambda_zip_path={zip_path}",
                ],
            ):  # fmt: skip
                try:
                    done = subprocess.run(
                        ["terraform", chdir, *args], env=env, stdout=log, stderr=subprocess.STDOUT, timeout=300
                    )
                except subprocess.TimeoutExpired as exc:
                    raise RuntimeError(f"terraform {args[0]} took over 300 s (log {log_path})") from exc
                if done.returncode:
                    tail = re.sub(r"\x1b\[[0-9;]*m", "", log_path.read_text(errors="replace"))[-3000:]
                    raise RuntimeError(f"terraform {args[0]} failed (log {log_path}):\n{tail}")
        out = subprocess.run(["terraform", chdir, "output", "-json"], env=env, capture_output=True, check=True)
        return json.loads(out.stdout)

    def down(self) -> None:
        port_file = self.state / "emulator.port"
        if not (self.state / "ministack.pid").exists():
            return
        port = port_file.read_text().strip() if port_file.exists() else str(self.port or 4567)
        env = {**os.environ, "LOCALSTACK_HOST": f"127.0.0.1:{port}"}
        env.pop("AWS_ENDPOINT_URL", None)
        try:
            self._emulator("down", env)
        except subprocess.CalledProcessError as exc:
            say(f"emulator down failed: {exc.stderr.decode(errors='replace')[-500:]}")
        port_file.unlink(missing_ok=True)

    @property
    def emulator_pid(self) -> int | None:
        try:
            return int((self.state / "ministack.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def clients(self):
        from fmlcore.core.aws import AwsClients
        from fmlcore.core.settings import Settings

        return AwsClients(Settings.from_env(self.env))


# ---------------------------------------------------------------------------- S3 jobs
def wait_status(
    s3: Any, bucket: str, job_id: str, until: Iterable[str], timeout: float, interval: float = 0.1
) -> dict[str, Any]:
    """Poll `_jobs/<job_id>.json` until its state is one of `until`; returns the record."""
    from fmlcore.jobs.status import StatusStore

    store = StatusStore(s3, bucket)
    wanted = set(until)
    deadline = time.monotonic() + timeout
    record = None
    while time.monotonic() < deadline:
        found = store.get(job_id)
        record = found.to_dict() if found is not None else None  # the JSON a user reads
        if record is not None and record["state"] in wanted:
            return record
        if record is not None and record["state"] == "failed":
            raise RuntimeError(f"job {job_id} failed: {record.get('error')}")
        time.sleep(interval)
    raise TimeoutError(f"job {job_id} not {sorted(wanted)} within {timeout:.0f} s (last: {record})")


def parse_ts(text: str) -> float:
    """Epoch seconds of an ISO timestamp written by fmlcore.jobs.isoformat."""
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def history_at(record: dict[str, Any], state: str) -> float | None:
    """Epoch time of the first `state` step in the record's history."""
    for step in record.get("history", []):
        if step.get("state") == state:
            return parse_ts(step["at"])
    return None


# ---------------------------------------------------------------------------- machine info
def git_rev() -> str | None:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True
        ).stdout
        return rev.stdout.strip() + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def machine_info() -> dict[str, Any]:
    import numpy
    import pandas
    import pyarrow
    import xgboost

    cpu = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "mem_total_mib": mem_kib // 1024 if mem_kib else None,
        "loadavg_at_start": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "xgboost": xgboost.__version__,
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "git_rev": git_rev(),
        "src": str(Path(__import__("fmlcore").__file__).parent.parent),  # the code the services ran (editable install)
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
