"""`make bench`: measure online, batch, training and put→running latency against their limits.

    python bench/run.py            the full run (online 15 s per point, 1M/5M-row files, 1M-row training, 20 drops)
    python bench/run.py --quick    a smoke run with tiny sizes (< 3 minutes)
    python bench/run.py --only online --loadgen python --env OMP_NUM_THREADS=1

Starts everything it needs on free ports (a private MiniStack with terraform/envs/local
applied to a copy of terraform/, the predictor API, the naive baseline, fresh workers), stops
it all at the end even on failure, and writes bench/results/<UTC timestamp>.json (every
number plus machine info) and .md (the tables printed at the end). Targets are reported
(met / missed), never asserted: the exit code is non-zero only when a section failed to run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import batch
import data
import latency
import online
import train
from common import BENCH, Procs, Stack, machine_info, say
from loadgen import choose_engine, wrk_version

SECTIONS = ("latency", "online", "batch", "batch_split", "train", "train_dask")
FULL = {
    "seconds": 15.0,
    "warmup": 3.0,
    "concurrency": "1,8,32",
    "payload_rows": "1,100",
    "batch_rows": "1000000,5000000",
    "formats": "csv,parquet",
    "train_rows": 1_000_000,
    "train_rounds": 100,
    "drops": 20,
}
QUICK = {**FULL, "seconds": 3.0, "warmup": 0.5, "batch_rows": "20000,100000", "train_rows": 20_000, "drops": 3}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run in under 3 minutes")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections to run, comma-separated: {SECTIONS}")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto", help="auto: wrk if installed")
    parser.add_argument("--seconds", type=float, help="online: seconds per measured point (15; quick 3)")
    parser.add_argument("--warmup", type=float, help="online: unmeasured seconds before each point (3; quick 1)")
    parser.add_argument("--concurrency", help="online: connection counts (1,8,32)")
    parser.add_argument("--payload-rows", help="online: rows per request (1,100)")
    parser.add_argument(
        "--batch-rows", help="batch: file sizes; the first is compared with in-process (1000000,5000000)"
    )
    parser.add_argument("--formats", help="batch: csv,parquet")
    parser.add_argument("--train-rows", type=int, help="training rows (1000000; quick 20000)")
    parser.add_argument("--train-rounds", type=int, help="boosting rounds for both training paths (100)")
    parser.add_argument("--drops", type=int, help="latency: measured drops (20; quick 3)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE",
        help="set for every process the bench starts, both sides alike (e.g. OMP_NUM_THREADS=1, FML_WEB_WORKERS=3)",
    )  # fmt: skip
    parser.add_argument("--state-dir", type=Path, default=BENCH / ".state", help="logs, emulator, cached data files")
    parser.add_argument("--results-dir", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    return args


def ints(text: str) -> list[int]:
    return [int(x) for x in str(text).split(",") if x.strip()]


# ---------------------------------------------------------------------------- targets
def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target (issues 7 and 13) with the measured value and met / missed (or not measured)."""
    out = []

    def add(name: str, goal: str, value: float | None, met: bool | None, unit: str = "") -> None:
        shown = "-" if value is None else f"{value}{unit}"
        status = "not measured" if met is None else ("met" if met else "MISSED")
        out.append({"target": name, "goal": goal, "value": value, "shown": shown, "status": status})

    points = {(p["payload"], p["concurrency"]): p for p in results.get("online", {}).get("points", [])}
    for payload, floor_goal in (("1-row", 3), ("100-row", 2)):
        pt = points.get((payload, 8))
        ratio = pt["ratio_rps"] if pt else None
        add(f"online {payload} c=8: rps vs naive baseline", "≥ 2x", ratio, None if ratio is None else ratio >= 2, "x")
        over = pt["predictor"].get("cpu_vs_floor") if pt else None
        add(f"online {payload} c=8: server CPU per request vs in-process floor", f"≤ {floor_goal}x", over,
            None if over is None else over <= floor_goal, "x")  # fmt: skip
        puts = pt["predictor"].get("puts_per_1000_requests") if pt else None
        add(f"online {payload} c=8: S3 PUTs per 1,000 requests", "≤ 200", puts, None if puts is None else puts <= 200)
    pt = points.get(("100-row", 8))
    p99 = pt["predictor"]["p99_ms"] if pt else None
    add("online 100-row c=8: p99", "≤ 25 ms", p99, None if p99 is None else p99 <= 25, " ms")
    for fmt, entry in results.get("batch", {}).items():
        if not isinstance(entry, dict) or "inprocess" not in entry:  # the load average beside the formats
            continue
        ratio = entry.get("ratio_rows_per_s")
        add(f"batch {fmt}: rows/s vs in-process", "≥ 0.8x", ratio, None if ratio is None else ratio >= 0.8, "x")
        growth = entry.get("rss_growth")
        if growth:
            name = f"batch {fmt}: worker peak RSS {growth['large_rows']:,} / {growth['small_rows']:,} rows"
            add(name, "≤ 1.2x", growth["ratio"], growth["ratio"] <= 1.2, "x")
    overhead = results.get("train", {}).get("overhead_pct")
    add(
        "training overhead vs raw xgboost.train", "≤ 10 %", overhead, None if overhead is None else overhead <= 10, " %"
    )
    p95 = results.get("latency", {}).get("put_to_running_s", {}).get("p95")
    add("S3 put → running (p95, warm worker)", "≤ 2 s", p95, None if p95 is None else p95 <= 2, " s")
    return out


# ---------------------------------------------------------------------------- markdown
def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join("-" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    parts = [
        f"## fargate-ml bench {results['started_at']} ({results['mode']})",
        f"{m['nproc']} CPUs ({m['cpu_model']}), load average at start {m['loadavg_at_start'][0]:.2f}, "
        f"Python {m['python']}, XGBoost {m['xgboost']}, git {m['git_rev']}, load generator {results['loadgen']}"
        + (f", env {results['env']}" if results["env"] else ""),
    ]
    if results.get("online", {}).get("points"):
        o = results["online"]
        parts.append(
            f"### Online ({o['seconds_per_point']:.0f} s per point; predictor with validation + storage "
            "vs naive Flask + inplace_predict, same gunicorn settings)"
        )
        header = ["payload", "c", "predictor rps", "baseline rps", "ratio", "pred p50/p99 ms", "base p50/p99 ms"]
        header += ["errors p/b", "RSS MiB p/b", "server CPU ms/req p/b", "floor ms/req", "CPU / floor p/b"]
        header += ["emulator CPU ms/req p/b", "PUTs / 1,000 req"]
        parts.append(table(header, online.summary_rows(o)))
        g = o.get("gunicorn", {})
        parts.append(
            f"gunicorn (both): {g.get('worker_class')}, {g.get('workers')} workers x {g.get('threads')} threads, "
            f"max_requests {g.get('max_requests')}. CPU ms/req = CPU seconds of the server's process tree (or of "
            "the emulator, which stores the predictor's records) / 2xx answers: less sensitive to a busy machine "
            "than requests/s."
        )
        s = o["storage"]
        parts.append(
            f"Storage: a prediction fetched back by its id: {s['verified']}; 2xx answers counted "
            f"{s['ok_responses']}, prediction objects stored {s['stored_objects']} (requests still in flight "
            "when a load point ends are stored but not counted, so stored ≥ answered)."
        )
    if results.get("batch"):
        rows = []
        for fmt, entry in results["batch"].items():
            if not isinstance(entry, dict) or "inprocess" not in entry:  # e.g. the load average beside them
                continue
            limit = entry["inprocess"]
            for size, r in entry["sizes"].items():
                first = size == next(iter(entry["sizes"]))
                rows.append(
                    [fmt, f"{int(size):,}", f"{r['rows_per_s']:,.0f}", f"{limit['rows_per_s']:,.0f}" if first else "",
                     f"{entry['ratio_rows_per_s']:.2f}" if first else "", r["upload_seconds"],
                     r["put_to_running_s"], r["running_to_succeeded_s"],
                     f"{r['worker_peak_rss_mib']} / {r.get('worker_rss_median_mib')}",
                     limit["peak_rss_mib"] if first else ""]
                )  # fmt: skip
        header = ["format", "rows", "worker path rows/s", "in-process rows/s", "ratio", "upload s"]
        header += ["put→running s", "running→done s", "worker RSS peak / median MiB", "in-process peak RSS MiB"]
        parts += ["### Batch (put → Lambda → queue → worker → S3 output vs in-process)", table(header, rows)]
    if results.get("train"):
        t = results["train"]
        w, r = t["worker"], t["raw"]
        parts.append(f"### Training ({t['rows']:,} rows, {t['rounds']} rounds)")
        header = ["path", "seconds", "breakdown", "peak RSS MiB"]
        rows = [
            ["worker job (running → succeeded)", w["job_seconds"], json.dumps(w["durations"]), w["peak_rss_mib"]],
            ["worker end to end (put → succeeded)", w["e2e_seconds"], f"put→running {w['put_to_running_s']} s", ""],
            [
                "raw xgboost.train",
                r["seconds"],
                f"read {r['read_seconds']}, matrix {r['matrix_seconds']}, train {r['train_seconds']}, "
                f"save {r['save_seconds']}",
                r["peak_rss_mib"],
            ],
        ]
        parts.append(table(header, rows))
        parts.append(f"Overhead: job {t['overhead_pct']} %, end to end {t['overhead_e2e_pct']} %.")
    if results.get("batch_split", {}).get("one"):
        b = results["batch_split"]
        rows = [[w["workers"], w["parts"], w["seconds"], f"{w['rows_per_s']:,.0f}", w["messages_per_worker"],
                 w["worker_peak_rss_mib"]] for w in (b["one"], b["two"])]  # fmt: skip
        parts += [
            f"### Split batch file ({b['rows']:,} rows, {b['bytes']:,} bytes, FML_BATCH_SPLIT_BYTES {b['split_bytes']:,})",
            table(["workers", "parts", "put → succeeded s", "rows/s", "messages per worker", "peak RSS MiB"], rows),
            f"Scaling 1 → 2 workers: {b['scaling']}x (2 CPUs shared by the workers, the emulator and the Lambda).",
        ]
    if results.get("train_dask", {}).get("single"):
        t = results["train_dask"]
        rows = [[name, t[name]["job_seconds"], t[name]["auc"], t[name]["peak_rss_mib"]]
                for name in ("single", "dask", "dask_warm")]  # fmt: skip
        parts += [
            f"### Training engines ({t['rows']:,} rows, {t['rounds']} rounds; dask = 2-worker LocalCluster)",
            table(["engine", "job seconds", "holdout AUC", "trainer worker peak RSS MiB"], rows),
            f"|AUC dask - single| = {t['auc_delta']}.",
        ]
    if results.get("latency"):
        lat = results["latency"]
        names = {
            "put_to_running_s": "put → running",
            "put_to_queued_s": "put → queued (Lambda)",
            "queued_to_running_s": "queued → running (SQS + worker)",
            "put_to_succeeded_s": "put → succeeded",
        }
        rows = [[label, lat[name]["median"], lat[name]["p95"]] for name, label in names.items()]
        parts += [f"### Latency ({lat['drops']} drops, warm worker)", table(["interval", "median s", "p95 s"], rows)]
    loads = [
        f"{name} {results[name]['loadavg_1m']['before']} → {results[name]['loadavg_1m']['after']}"
        for name in SECTIONS
        if isinstance(results.get(name), dict) and "loadavg_1m" in results[name]
    ]
    if loads:
        parts.append(f"1-minute load average before → after each section (2 CPUs): {', '.join(loads)}.")
    parts += [
        "### Targets",
        table(
            ["target", "goal", "measured", "status"],
            [[t["target"], t["goal"], t["shown"], t["status"]] for t in results["targets"]],
        ),
    ]
    if results["errors"]:
        parts.append(
            "### Sections that failed\n"
            + "\n".join(f"- {k}: {v.strip().splitlines()[-1]}" for k, v in results["errors"].items())
        )
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------- main
def _terminate(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    extra_env = dict(kv.split("=", 1) for kv in args.env)
    os.environ.update(extra_env)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    run_dir, data_dir = args.state_dir / "run", args.state_dir / "data"
    procs = Procs(run_dir)
    if run_dir.exists():
        procs.reap_stale()
        Stack(run_dir / "stack").down()
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = choose_engine(args.loadgen)
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "mode": "quick" if args.quick else "full",
        "machine": machine_info(),
        "loadgen": wrk_version() if engine == "wrk" else "python asyncio client",
        "env": extra_env,
        "config": {k: getattr(args, k) for k in (*FULL, "sections")},
        "errors": {},
        "logs": str(run_dir),
    }
    stack = Stack(run_dir / "stack")
    clock = time.perf_counter()
    try:
        say(f"{results['mode']} run, sections {args.sections}, load generator {results['loadgen']}")
        stack.up()
        s3 = stack.clients().s3
        model_path = run_dir / "model.ubj"
        results["model"] = data.build_model(s3, stack.env["FML_MODELS_BUCKET"], data_dir, model_path)
        say(f"model {results['model']['model']} stored: {results['model']['trees']} trees")

        def section(name: str, fn) -> None:
            if name not in args.sections:
                return
            before = os.getloadavg()[0]
            try:
                results[name] = fn()
                # The 1-minute load average around each section: high values mean someone else's work shared the CPUs.
                results[name]["loadavg_1m"] = {"before": round(before, 2), "after": round(os.getloadavg()[0], 2)}
            except Exception:
                results["errors"][name] = traceback.format_exc()
                say(f"section {name} failed:\n{results['errors'][name]}")

        # Latency first: its warm worker then ends its last long poll while the online section runs.
        section("latency", lambda: latency.run(stack, procs, args.drops, data.score_csv(data_dir, 100).read_bytes()))
        payloads = {f"{n}-row": data.payload(n) for n in ints(args.payload_rows)}
        section(
            "online",
            lambda: online.run(
                stack, procs, str(model_path), payloads, ints(args.concurrency), args.seconds, args.warmup, engine, {}
            ),
        )

        def batch_files() -> dict[str, dict[int, Path]]:
            makers = {"csv": data.score_csv, "parquet": data.score_parquet}
            fmts = [f.strip() for f in args.formats.split(",") if f.strip()]
            return {f: {n: makers[f](data_dir, n) for n in ints(args.batch_rows)} for f in fmts}

        section("batch", lambda: batch.run(stack, procs, model_path, batch_files(), run_dir))
        section(
            "batch_split",
            lambda: batch.split_scaling(
                stack, procs, data.score_csv(data_dir, max(ints(args.batch_rows))), max(ints(args.batch_rows))
            ),
        )
        section(
            "train_dask",
            lambda: train.engines(
                stack, procs, data.train_csv(data_dir, args.train_rows), args.train_rows, args.train_rounds
            ),
        )
        section(
            "train",
            lambda: train.run(
                stack, procs, data.train_csv(data_dir, args.train_rows), args.train_rows, args.train_rounds
            ),
        )
    except (Exception, KeyboardInterrupt, SystemExit) as exc:
        results["errors"]["setup"] = traceback.format_exc()
        say(f"bench aborted: {exc!r}")
    finally:
        say("stopping everything the bench started")
        procs.stop_all()
        stack.down()
    results["seconds"] = round(time.perf_counter() - clock, 1)
    results["targets"] = targets(results)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = markdown(results)
    out.with_suffix(".md").write_text(text)
    sys.stdout.write("\n" + text + f"\nresults: {out} ({results['seconds']} s)\n")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
