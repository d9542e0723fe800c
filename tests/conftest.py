"""Shared test helpers. Integration fixtures live in tests/integration/conftest.py."""

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def load_fixture():
    def load(name: str):
        return json.loads((FIXTURES / name).read_text())

    return load
