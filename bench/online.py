"""Online: the predictor (validation and storage on) against the naive baseline, side by side.

Both run under gunicorn with the same settings (fmlcore.web.gunicorn) and the same environment,
serve the same 100-tree model and get the same bodies from the same load generator. For
each payload and concurrency the two are measured back to back (alternating which goes
first), after a short unmeasured warm-up, so background noise hits both alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from common import BENCH, BIN, MODEL, REPO, Procs, RssSampler, Stack, free_port, rounded, say, tree_cpu_seconds
from loadgen import run_load

PREDICT_PATH = f"/models/{MODEL}/predict"


def start_servers(stack: Stack, procs: Procs, model_path: str, server_env: dict[str, str]) -> dict[str, Any]:
    servers = {}
    specs = {
        "predictor": (["-c", "python:predictor.gunicorn_conf", "predictor.api:create_app()"], {}),
        "baseline": (
            ["-c", str(BENCH / "baseline_gunicorn_conf.py"), "--pythonpath", str(BENCH), "baseline_app:create_app()"],
            {"BENCH_MODEL_PATH": model_path},
        ),
    }
    for name, (args, extra) in specs.items():
        port = free_port()
        env = {**stack.env, **server_env, **extra, "FML_BIND": f"127.0.0.1:{port}"}
        proc = procs.start(f"{name}-api", [str(BIN / "gunicorn"), *args], env)
        base = f"http://127.0.0.1:{port}"
        proc.wait_healthy(f"{base}/health")
        servers[name] = {"proc": proc, "url": base + PREDICT_PATH, "base": base}
    return servers


def verify_storage(servers: dict[str, Any], body: bytes) -> dict[str, Any]:
    """One prediction through the predictor, then fetched back by its id: storage is really on."""
    req = urllib.request.Request(servers["predictor"]["url"], body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = json.loads(resp.read())
    with urllib.request.urlopen(f"{servers['predictor']['base']}/predictions/{answer['prediction_id']}") as resp:
        stored = json.loads(resp.read())
    if stored["predictions"] != answer["predictions"]:
        raise RuntimeError("the stored prediction differs from the answer")
    return {"verified": True, "stored_uri": answer["stored_uri"], "model_version": answer["model_version"]}


def count_stored(s3: Any, bucket: str, timeout: float = 120.0) -> int | None:
    """Online prediction objects in the predictions bucket (None if listing takes too long): each
    is one PUT, so the count before and after a load point gives the PUTs per request."""
    paginator = s3.get_paginator("list_objects_v2")
    deadline = time.monotonic() + timeout
    count = 0
    for page in paginator.paginate(Bucket=bucket, Prefix=f"online/{MODEL}/"):
        count += page.get("KeyCount", 0)
        if time.monotonic() > deadline:
            return None
    return count


def floors(model_path: str, payloads: dict[str, bytes], seconds: float = 3.0) -> dict[str, dict[str, Any]]:
    """The in-process floor of each payload (bench/floor.py, one thread, no HTTP), in a subprocess."""
    out = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    for name, body in payloads.items():
        with tempfile.NamedTemporaryFile(suffix=".json") as fh:
            fh.write(body)
            fh.flush()
            done = subprocess.run(
                [sys.executable, str(BENCH / "floor.py"), model_path, fh.name, "--seconds", str(seconds)],
                capture_output=True, text=True, env=env, check=True,
            )  # fmt: skip
        out[name] = json.loads(done.stdout)
        say(f"online floor {name}: {out[name]['ms_per_request']} ms CPU per request (parse + encode + predict)")
    return out


def measure(
    server: dict[str, Any], body: bytes, concurrency: int, seconds: float, engine: str, emulator_pid: int | None
) -> dict[str, Any]:
    """One load point; also the CPU the server (and the emulator, which stores predictions) spent on it."""
    pid = server["proc"].pid
    cpu0 = tree_cpu_seconds(pid)
    emu0 = tree_cpu_seconds(emulator_pid) if emulator_pid else 0.0
    with RssSampler(pid) as rss:
        result = run_load(server["url"], body, concurrency, seconds, engine)
    cpu = tree_cpu_seconds(pid) - cpu0
    emu = tree_cpu_seconds(emulator_pid) - emu0 if emulator_pid else None
    out = result.to_dict()
    out.update(rss.summary())
    out["server_cpu_seconds"] = round(cpu, 2)
    out["server_cpu_ms_per_request"] = round(cpu * 1000 / result.ok, 3) if result.ok else None
    out["emulator_cpu_ms_per_request"] = round(emu * 1000 / result.ok, 3) if result.ok and emu is not None else None
    return out


def run(
    stack: Stack,
    procs: Procs,
    model_path: str,
    payloads: dict[str, bytes],
    concurrencies: list[int],
    seconds: float,
    warmup: float,
    engine: str,
    server_env: dict[str, str],
) -> dict[str, Any]:
    servers = start_servers(stack, procs, model_path, server_env)
    try:
        storage = verify_storage(servers, payloads[next(iter(payloads))])
        floor = floors(model_path, payloads)
        s3 = stack.clients().s3
        bucket = stack.settings_env["FML_PREDICTIONS_BUCKET"]
        points = []
        sent_to_predictor = 1
        order = ["predictor", "baseline"]
        for payload_name, body in payloads.items():
            for concurrency in concurrencies:
                point: dict[str, Any] = {"payload": payload_name, "concurrency": concurrency}
                for name in order:
                    if warmup:
                        warm = run_load(servers[name]["url"], body, concurrency, warmup, engine)
                        if name == "predictor":
                            sent_to_predictor += warm.ok
                    before = count_stored(s3, bucket) if name == "predictor" else None
                    point[name] = measure(servers[name], body, concurrency, seconds, engine, stack.emulator_pid)
                    if name == "predictor":
                        sent_to_predictor += point[name]["ok"]
                        after = count_stored(s3, bucket)
                        point[name]["puts_per_1000_requests"] = (
                            round((after - before) * 1000 / point[name]["ok"], 1)
                            if None not in (before, after) and point[name]["ok"]
                            else None
                        )
                p, b = point["predictor"], point["baseline"]
                point["ratio_rps"] = round(p["rps"] / b["rps"], 3) if b["rps"] else None
                point["floor_ms_per_request"] = f = floor[payload_name]["ms_per_request"]
                for side in (p, b):
                    cpu = side["server_cpu_ms_per_request"]
                    side["cpu_vs_floor"] = round(cpu / f, 2) if cpu and f else None
                say(
                    f"online {payload_name} c={concurrency}: predictor {p['rps']:.0f} rps p99 {p['p99_ms']} ms, "
                    f"baseline {b['rps']:.0f} rps p99 {b['p99_ms']} ms, ratio {point['ratio_rps']}"
                )
                points.append(point)
                order.reverse()
        stored = count_stored(s3, bucket)
        return {
            "engine": points[0]["predictor"]["engine"] if points else engine,
            "gunicorn": gunicorn_summary(stack.env),
            "seconds_per_point": seconds,
            "warmup_seconds": warmup,
            "server_env": server_env,
            "storage": {**storage, "ok_responses": sent_to_predictor, "stored_objects": stored},
            "floor": floor,
            "points": points,
        }
    finally:
        for server in servers.values():
            procs.stop(server["proc"])


def gunicorn_summary(env: dict[str, str]) -> dict[str, Any]:
    """The gunicorn settings both servers ran with (fmlcore.web.gunicorn reads them from the environment)."""
    import os
    from unittest import mock

    from fmlcore.web.gunicorn import gunicorn_settings

    with mock.patch.dict(os.environ, env, clear=True):
        settings = gunicorn_settings(default_bind="")
    keys = ("worker_class", "workers", "threads", "keepalive", "max_requests", "max_requests_jitter", "timeout")
    return {k: settings.get(k) for k in keys}


def summary_rows(online: dict[str, Any]) -> list[list[str]]:
    rows = []
    for pt in online.get("points", []):
        p, b = pt["predictor"], pt["baseline"]
        rows.append(
            [
                pt["payload"],
                str(pt["concurrency"]),
                f"{p['rps']:.0f}",
                f"{b['rps']:.0f}",
                f"{pt['ratio_rps']:.2f}" if pt["ratio_rps"] is not None else "-",
                f"{rounded(p['p50_ms'], 1)} / {rounded(p['p99_ms'], 1)}",
                f"{rounded(b['p50_ms'], 1)} / {rounded(b['p99_ms'], 1)}",
                f"{p['errors']} / {b['errors']}",
                f"{p['rss_peak_mib']:.0f} / {b['rss_peak_mib']:.0f}",
                f"{p['server_cpu_ms_per_request']} / {b['server_cpu_ms_per_request']}",
                f"{pt.get('floor_ms_per_request')}",
                f"{p.get('cpu_vs_floor')} / {b.get('cpu_vs_floor')}",
                f"{p['emulator_cpu_ms_per_request']} / {b['emulator_cpu_ms_per_request']}",
                f"{p.get('puts_per_1000_requests')}",
            ]
        )
    return rows
