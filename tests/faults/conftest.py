"""Fault tests reuse the integration fixtures (real stack, real processes); each test owns its workers."""

import pytest

from tests.integration.conftest import (  # noqa: F401  (fixtures)
    Proc,
    aws,
    proc_env,
    settings,
    unique,
    user,
)


@pytest.fixture
def start_proc(tmp_path):
    """Start a named process; stopped when the test ends, so no worker outlives its scenario."""
    started: list[Proc] = []

    def start(name: str, cmd: list[str], env: dict[str, str]) -> Proc:
        proc = Proc(name, cmd, env, tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
