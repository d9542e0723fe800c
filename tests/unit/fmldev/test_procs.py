"""fmldev.procs against real tiny subprocesses: exit codes, signals, health and log waits, pid files."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fmldev.procs import NotReady, Proc, Procs, free_port, running, stop

PY = sys.executable


def python(code: str) -> list[str]:
    return [PY, "-c", code]


def sleeper(seconds: float = 30) -> list[str]:
    return python(f"import time; print('ready', flush=True); time.sleep({seconds})")


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting to be reaped by its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat[stat.rfind(")") + 2 :][0] in "ZX"


@pytest.fixture
def procs(tmp_path):
    with Procs(tmp_path / "logs") as procs:
        yield procs


def test_a_process_runs_in_its_own_group_with_the_given_env_and_logs_to_its_file(procs):
    proc = procs.start(
        "env", python("import os; print(os.environ['FML_PROBE'], os.getpgid(0) == os.getpid(), flush=True)"),
        {**os.environ, "FML_PROBE": "probe-value"},
    )  # fmt: skip
    assert proc.proc.wait(5) == 0
    assert proc.log() == "probe-value True\n"
    assert proc.log_path == procs.log_dir / "env.log"
    assert os.getpgid(0) != proc.pid


def test_log_tail_is_the_end_of_the_log(procs):
    proc = procs.start(
        "tail", python("print('x' * 100 + 'é' * 20 + 'END')"), {**os.environ, "PYTHONIOENCODING": "utf-8"}
    )
    proc.proc.wait(5)
    assert proc.log_tail(10) == "é" * 6 + "END\n"
    assert proc.log_tail(30) == "xxxxxx" + "é" * 20 + "END\n"
    assert proc.log().endswith("END\n")


def test_stop_returns_the_exit_code(procs):
    failing = procs.start("failing", python("import sys; sys.exit(3)"), None)
    assert failing.proc.wait(5) == 3
    assert failing.stop() == 3
    sleeping = procs.start("sleeping", sleeper(), None)
    sleeping.wait_log("ready", timeout=5)
    assert sleeping.stop(timeout=5) == -signal.SIGTERM
    assert sleeping.stop() == -signal.SIGTERM  # a second stop only says it again


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(procs):
    stubborn = procs.start(
        "stubborn",
        python("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"),
        None,
    )  # fmt: skip
    stubborn.wait_log("ready", timeout=5)
    began = time.monotonic()
    assert stubborn.stop(timeout=0.5) == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - began < 3


def test_stop_takes_the_whole_group_with_it(procs):
    """A child left behind by its parent (gunicorn worker, forkserver) is stopped with the group."""
    parent = procs.start(
        "parent",
        python(
            "import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', "
            "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(30)'])\n"
            "print('child', child.pid, flush=True); time.sleep(30)"
        ),
        None,
    )  # fmt: skip
    parent.wait_log("child ", timeout=5)
    child = int(parent.log().split()[1])
    assert not gone(child)
    assert parent.stop(timeout=5) == -signal.SIGTERM
    deadline = time.monotonic() + 3
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(child)


def test_signal_reaches_the_process(procs):
    proc = procs.start("signalled", sleeper(), None)
    proc.wait_log("ready", timeout=5)
    assert proc.signal(signal.SIGKILL) is True
    assert proc.proc.wait(5) == -signal.SIGKILL


def test_wait_healthy_returns_once_the_url_answers_200(procs, tmp_path):
    port = free_port()
    server = procs.start("http", [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"], None)
    server.wait_healthy(f"http://127.0.0.1:{port}/", timeout=5)
    assert server.alive()


def test_wait_healthy_fails_at_once_when_the_process_exits(procs):
    proc = procs.start("crashing", python("import sys; print('bad config', flush=True); sys.exit(2)"), None)
    began = time.monotonic()
    with pytest.raises(NotReady, match="crashing exited with 2") as raised:
        proc.wait_healthy(f"http://127.0.0.1:{free_port()}/health", timeout=10)
    assert time.monotonic() - began < 3
    assert "bad config" in str(raised.value)  # the log's tail comes with the error


def test_wait_log_times_out_on_a_line_that_never_comes(procs):
    proc = procs.start("quiet", sleeper(), None)
    proc.wait_log("ready", timeout=5)
    with pytest.raises(NotReady, match="log line 'never' not seen within 0 s"):
        proc.wait_log("never", timeout=0.3)
    assert proc.alive()


def test_stop_all_stops_every_process(tmp_path):
    with Procs(tmp_path) as procs:
        started = [procs.start(f"p{i}", sleeper(), None) for i in range(3)]
    assert [p.proc.returncode for p in started] == [-signal.SIGTERM] * 3
    assert procs.started == []


def cli(state: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "-m", "fmldev.procs", "--state", str(state), *args], capture_output=True, text=True, timeout=20
    )


def test_a_started_process_outlives_the_cli_and_a_second_start_is_a_no_op(tmp_path):
    state = tmp_path / "state"
    try:
        first = cli(state, "start", "sleeper", "--", *sleeper())
        assert first.returncode == 0, first.stderr
        pid = running(state / "sleeper.pid")
        assert pid is not None and f"sleeper started (pid {pid}" in first.stdout
        second = cli(state, "start", "sleeper", "--", *sleeper())
        assert second.returncode == 0
        assert second.stdout == f"sleeper already running (pid {pid})\n"
        assert running(state / "sleeper.pid") == pid
        assert cli(state, "status", "sleeper").stdout == f"sleeper: running (pid {pid})\n"
        stopped = cli(state, "stop", "sleeper", "--timeout", "5")
        assert stopped.stdout == f"sleeper stopped (pid {pid})\n"
        assert gone(pid) and not (state / "sleeper.pid").exists()
        assert cli(state, "status", "sleeper").stdout == "sleeper: stopped\n"
    finally:
        stop(state, "sleeper", timeout=1)


def test_cli_start_with_health_fails_when_the_process_exits(tmp_path):
    state = tmp_path / "state"
    done = cli(
        state, "start", "broken", "--health", f"http://127.0.0.1:{free_port()}/", "--", *python("raise SystemExit(4)")
    )
    assert done.returncode == 1
    assert done.stderr == f"broken exited with 4; see {state / 'broken.log'}\n"
    assert running(state / "broken.pid") is None


def test_a_proc_runs_in_cwd_and_appends_to_its_log(tmp_path):
    log_path = tmp_path / "deep" / "cwd.log"
    for _ in range(2):
        proc = Proc("cwd", python("import os; print(os.getcwd())"), None, log_path, cwd=tmp_path)
        assert proc.proc.wait(5) == 0
        assert proc.stop() == 0
    assert log_path.read_text() == f"{tmp_path}\n" * 2
