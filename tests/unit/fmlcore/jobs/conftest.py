"""Fixtures of the job-layer unit tests."""

from __future__ import annotations

import pytest

from fmlcore.jobs import lease as lease_module
from fmlcore.jobs import worker as worker_module
from tests.unit.fakes import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A fake clock for the worker loop and the leases (their `time` module)."""
    clock = Clock()
    monkeypatch.setattr(worker_module, "time", clock)
    monkeypatch.setattr(lease_module, "time", clock)
    return clock
