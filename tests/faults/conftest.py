"""Fault tests reuse the integration fixtures (real stack, real processes); each test owns its workers."""

import pytest

from fmldev.procs import Procs
from tests.integration.conftest import (  # noqa: F401  (fixtures)
    aws,
    proc_env,
    settings,
    unique,
    user,
)


@pytest.fixture
def start_proc(tmp_path):
    """Start a named process (`start(name, cmd, env) -> Proc`); stopped when the test ends, so no
    worker outlives its scenario."""
    with Procs(tmp_path) as procs:
        yield procs.start
