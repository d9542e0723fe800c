"""The in-process floor of one online request: what the work itself costs, with no HTTP, no
storage, no framework. Per request, at one thread: parse the JSON body (orjson), encode the
records into the model's float32 matrix (the predictor's own encoders), `inplace_predict`.

    python bench/floor.py MODEL.ubj BODY.json [--seconds 3]    → JSON {"ms_per_request": ..., ...}

Run in a subprocess with OMP_NUM_THREADS=1 by bench/online.py; CPU time (process_time) per
request is reported beside the servers' CPU per request, so the ratio says how far a server
is from the work it cannot avoid.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import orjson

from fmlcore.ml.model_store import loaded_model
from predictor.scoring import matrix_from_records, predict


def measure(model_path: str, body: bytes, seconds: float) -> dict[str, float | int]:
    loaded = loaded_model("bench", "file", model_path, nthread=1)
    rows = len(orjson.loads(body)["records"])

    def one() -> None:
        records = orjson.loads(body)["records"]
        predict(loaded, matrix_from_records(loaded, records, max_rows=1 << 20))

    for _ in range(50):  # warm caches and xgboost's first-call set-up
        one()
    n, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds:
        one()
        n += 1
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"rows": rows, "iterations": n, "ms_per_request": round(cpu * 1000 / n, 4),
            "wall_ms_per_request": round(wall * 1000 / n, 4)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("body")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(measure(args.model, Path(args.body).read_bytes(), args.seconds)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
