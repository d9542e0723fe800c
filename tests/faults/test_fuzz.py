"""Both APIs fuzzed from their OpenAPI documents (schemathesis), plus a slow client that must not block others."""

import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from fmlcore.ml.model_store import ModelStore
from tests.integration.conftest import start_api

from .helpers import FAULT_ENV, report, trained_model

pytestmark = pytest.mark.emulator

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.mark.parametrize("service", ["trainer", "predictor"])
def test_fuzzed_endpoints_never_5xx_or_hang(aws, settings, start_proc, proc_env, service, unique, capsys, tmp_path):
    model = f"fuzz-{unique}"
    trained_model(ModelStore(aws.s3, settings.models_bucket), model)
    base = start_api(start_proc, service, {**proc_env, **FAULT_ENV}, name=f"{service}-fuzz-{unique}")
    # Every {model} in a path is the trained model, so fuzzed bodies get past the 404 and reach
    # scoring (the predictor) or training (the trainer); the document's examples are churn rows.
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.model" = "{model}"\n')
    started = time.monotonic()
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--max-response-time",
            "10",
            "--request-timeout",
            "20",
            "--generation-deterministic",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = run.stdout + run.stderr
    cases = sum(int(n) for n in re.findall(r"(\d+) generated", output)) or output.count("PASSED")
    server_errors = len(re.findall(r"Server error", output))
    # Observed, not inferred: the predictions the fuzzed requests got scored and stored, the
    # versions the trainer wrote from fuzzed bodies.
    if service == "predictor":
        listed = aws.s3.list_objects_v2(Bucket=settings.predictions_bucket, Prefix=f"online/{model}/")
        reached = listed.get("KeyCount", 0)
    else:
        reached = len(ModelStore(aws.s3, settings.models_bucket).list_versions(model)) - 1  # less the fixture's
    report(
        capsys,
        f"fuzz {service}",
        cases=cases,
        server_errors=server_errors,
        **{"scored" if service == "predictor" else "trained": reached},
        seconds=round(time.monotonic() - started, 1),
    )
    assert run.returncode == 0, output[-6000:]
    if service == "predictor":
        assert reached > 0, "no fuzzed request reached scoring"


def test_slow_client_does_not_block_others(aws, settings, start_proc, proc_env, unique, capsys):
    base = start_api(start_proc, "predictor", proc_env, name=f"predictor-slowloris-{unique}")
    host, port = base.removeprefix("http://").split(":")
    slow = []
    for _ in range(3):  # clients that send half a request and then stall
        s = socket.create_connection((host, int(port)))
        s.sendall(
            b"POST /models/x/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        slow.append(s)
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(lambda _: requests.get(f"{base}/health", timeout=5).status_code, range(40)))
        elapsed = time.monotonic() - started
    finally:
        for s in slow:
            s.close()
    assert codes == [200] * 40
    report(
        capsys, "slow clients", stalled_connections=3, other_requests=40, ok=codes.count(200), seconds=round(elapsed, 2)
    )
