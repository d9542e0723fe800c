"""`make bench-peers`: the online load against MLflow `models serve` and BentoML, measured, not quoted.

Installs mlflow and bentoml (with the project's XGBoost version) into bench/.peers-venv the
first time it runs (never into the project's venv), then, in one run on one machine:
the predictor (validation + storage), the naive baseline, `mlflow models serve` and
`bentoml serve`, all serving the same 100-tree model, each with 2 worker processes, all
driven by the same load generator (bench/loadgen.py) at the same points.

    python bench/peers.py [--quick] [--peers mlflow,bentoml] [--seconds 15] [--concurrency 1,8,32]

Both peers need a few lines of glue for the model's categorical features (their stock XGBoost
flavours build a DMatrix without categories): a pyfunc `PythonModel` for MLflow and a
`@bentoml.service` class for BentoML, each doing what the baseline does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS_VENV = HERE / ".peers-venv"
PEER_PACKAGES = ("mlflow>=3,<4", "bentoml>=1.4,<2")


# ---------------------------------------------------------------------------- run inside the peers venv
def package_mlflow(model_path: Path, out: Path) -> None:
    """An MLflow pyfunc model around the .ubj (run with the peers venv's python)."""
    import shutil

    import mlflow.pyfunc

    class XGBoostCategorical(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            import xgboost as xgb

            self.booster = xgb.Booster()
            self.booster.load_model(context.artifacts["model"])
            self.names = list(self.booster.feature_names or [])
            self.categories = json.loads(self.booster.attr("fml_metadata") or "{}").get("categories", {})

        def predict(self, context, model_input, params=None):
            import pandas as pd

            frame = model_input.reindex(columns=self.names)
            for name, cats in self.categories.items():
                frame[name] = pd.Categorical(frame[name], categories=cats)
            return self.booster.inplace_predict(frame)

    shutil.rmtree(out, ignore_errors=True)
    mlflow.pyfunc.save_model(str(out), python_model=XGBoostCategorical(), artifacts={"model": str(model_path)})


# ---------------------------------------------------------------------------- orchestration (project venv)
def ensure_venv(python: str) -> Path:
    """bench/.peers-venv with mlflow, bentoml and the project's XGBoost/pandas versions."""
    import xgboost

    wanted = [*PEER_PACKAGES, f"xgboost=={xgboost.__version__}", "pandas", "pyarrow"]
    stamp = PEERS_VENV / ".installed"
    if stamp.exists() and stamp.read_text() == "\n".join(wanted):
        return PEERS_VENV / "bin" / "python"
    from common import say

    say(f"installing {', '.join(wanted)} into {PEERS_VENV} (once)")
    subprocess.run([python, "-m", "venv", str(PEERS_VENV)], check=True)
    pip = [str(PEERS_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *wanted], check=True)
    stamp.write_text("\n".join(wanted))
    return PEERS_VENV / "bin" / "python"


def peer_versions(peer_python: Path) -> dict[str, str]:
    out = subprocess.run([str(peer_python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    wanted = {"mlflow", "bentoml", "xgboost", "pandas", "uvicorn", "starlette", "fastapi"}
    try:
        return {p["name"]: p["version"] for p in json.loads(out.stdout) if p["name"].lower() in wanted}
    except ValueError:
        return {}


def start_peers(procs, peers: list[str], model_path: Path, work: Path, peer_python: Path) -> dict[str, Any]:
    from common import free_port

    servers: dict[str, Any] = {}
    bindir = peer_python.parent
    env = {**os.environ, "BENCH_MODEL_PATH": str(model_path), "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}
    env.pop("VIRTUAL_ENV", None)
    if "mlflow" in peers:
        mlflow_model = work / "mlflow-model"
        subprocess.run(
            [str(peer_python), __file__, "package-mlflow", "--model", str(model_path), "--out", str(mlflow_model)],
            check=True, env=env, cwd=work,
        )  # fmt: skip
        port = free_port()
        proc = procs.start(
            "mlflow-serve",
            [str(bindir / "mlflow"), "models", "serve", "-m", str(mlflow_model), "--env-manager", "local",
             "-h", "127.0.0.1", "-p", str(port), "-w", "2"],
            env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        proc.wait_healthy(f"{base}/ping", timeout=180)
        servers["mlflow"] = {"proc": proc, "url": f"{base}/invocations", "body_key": "dataframe_records"}
    if "bentoml" in peers:
        port = free_port()
        proc = procs.start(
            "bentoml-serve",
            [str(bindir / "bentoml"), "serve", "peers_bento_service:XGBoostService", "--working-dir", str(HERE),
             "--host", "127.0.0.1", "--port", str(port)],
            {**env, "BENTOML_HOME": str(work / "bentoml-home")},
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        proc.wait_healthy(f"{base}/readyz", timeout=180)
        servers["bentoml"] = {"proc": proc, "url": f"{base}/predict", "body_key": "records"}
    return servers


def probabilities(name: str, answer: Any) -> list[float]:
    """p(class 1) from each server's answer shape."""
    if name == "predictor":
        return [p["probabilities"]["1"] for p in answer["predictions"]]
    if name == "bentoml":
        return list(answer)
    return list(answer["predictions"])


def check_answers(servers: dict[str, Any], body: bytes) -> dict[str, float]:
    """Every server's predictions for the same rows, compared with the baseline's: the same model really."""
    import urllib.request

    got = {}
    for name, server in servers.items():
        req = urllib.request.Request(
            server["url"], body_for(body, server["body_key"]), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            got[name] = probabilities(name, json.loads(resp.read()))
    reference = got["baseline"]
    diffs = {n: max(abs(a - b) for a, b in zip(v, reference, strict=True)) for n, v in got.items()}
    bad = {n: d for n, d in diffs.items() if d > 1e-5}
    if bad:
        raise RuntimeError(f"servers disagree with the baseline's predictions: {bad}")
    return diffs


def body_for(body: bytes, key: str) -> bytes:
    if key == "records":
        return body
    return json.dumps({key: json.loads(body)["records"]}, separators=(",", ":")).encode()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["package-mlflow"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("command")
        parser.add_argument("--model", type=Path, required=True)
        parser.add_argument("--out", type=Path, required=True)
        args = parser.parse_args(argv)
        package_mlflow(args.model, args.out)
        return 0

    sys.path.insert(0, str(HERE))
    import data
    import online
    from common import Procs, Stack, machine_info, say
    from loadgen import choose_engine, wrk_version
    from run import table

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s per point")
    parser.add_argument("--peers", default="mlflow,bentoml")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--payload-rows", default="1,100")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--state-dir", type=Path, default=HERE / ".state")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    seconds = args.seconds or (3.0 if args.quick else 15.0)
    warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    engine = choose_engine(args.loadgen)
    peer_python = ensure_venv(sys.executable)

    started = datetime.now(UTC)
    run_dir, data_dir = args.state_dir / "peers-run", args.state_dir / "data"
    run_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    procs = Procs(run_dir)
    procs.reap_stale()
    stack = Stack(run_dir / "stack")
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "machine": machine_info(),
        "loadgen": wrk_version() if engine == "wrk" else "python asyncio client",
        "peer_packages": peer_versions(peer_python),
        "points": [],
        "errors": {},
    }
    try:
        stack.up()
        model_path = run_dir / "model.ubj"
        results["model"] = data.build_model(stack.clients().s3, stack.env["FML_MODELS_BUCKET"], data_dir, model_path)
        servers = online.start_servers(stack, procs, str(model_path), {})
        for name in ("predictor", "baseline"):
            servers[name]["body_key"] = "records"
        servers.update(start_peers(procs, peers, model_path, run_dir, peer_python))
        results["max_abs_diff_vs_baseline"] = check_answers(servers, data.payload(100))
        for rows in [int(x) for x in args.payload_rows.split(",")]:
            body = data.payload(rows)
            for concurrency in [int(x) for x in args.concurrency.split(",")]:
                point: dict[str, Any] = {"payload": f"{rows}-row", "concurrency": concurrency}
                for name, server in servers.items():
                    server_body = body_for(body, server["body_key"])
                    try:
                        if warmup:
                            online.run_load(server["url"], server_body, concurrency, warmup, engine)
                        point[name] = online.measure(server, server_body, concurrency, seconds, engine, None)
                    except Exception as exc:
                        point[name] = {"error": repr(exc)}
                say(
                    f"{rows}-row c={concurrency}: "
                    + ", ".join(f"{n} {point[n].get('rps', 'error')} rps" for n in servers)
                )
                results["points"].append(point)
    except (Exception, KeyboardInterrupt, SystemExit):
        results["errors"]["run"] = traceback.format_exc()
        say(f"peers bench failed:\n{results['errors']['run']}")
    finally:
        procs.stop_all()
        stack.down()

    names = [n for n in ("predictor", "baseline", *peers) if any(n in p for p in results["points"])]
    rows_out = []
    for p in results["points"]:
        row = [p["payload"], p["concurrency"]]
        for n in names:
            r = p.get(n, {})
            row.append(f"{r['rps']:.0f} ({r['p99_ms']:.0f} ms, {r['errors']} err)" if "rps" in r else "error")
        rows_out.append(row)
    text = (
        f"## Peers {results['started_at']} ({seconds:.0f} s per point, {results['loadgen']})\n\n"
        "requests/s (p99, errors) for the same model and payloads; largest difference from the baseline's "
        f"predictions: {results.get('max_abs_diff_vs_baseline')}\n\n" + table(["payload", "c", *names], rows_out) + "\n"
    )
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}-peers.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(text)
    sys.stdout.write("\n" + text + f"\nresults: {out}\n")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
