"""Bench inputs, made from the seeded sample generator (fmldev.sample_data) and cached by size.

- the 100-tree model both online servers serve (trained here, stored through ModelStore,
  and saved as a local .ubj for the baseline);
- 1-row and 100-row JSON payloads (`{"records": [...]}`, typed values, nulls for missing);
- files to score (CSV and the same rows as Parquet) and a training CSV.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from common import MODEL, say

from fmldev import sample_data

MODEL_TRAIN_ROWS = 20_000
MODEL_ROUNDS = 100
PAYLOAD_SEED = 11
SCORE_SEED = 13
TRAIN_SEED = 7
NUMERIC = ("tenure_months", "monthly_charges", "support_calls")


def _cached(path: Path, make) -> Path:
    if not path.exists():
        tmp = path.with_name(path.name + ".tmp")
        started = time.perf_counter()
        make(tmp)
        tmp.replace(path)
        say(f"made {path.name} in {time.perf_counter() - started:.1f} s")
    return path


def score_csv(data_dir: Path, rows: int) -> Path:
    return _cached(data_dir / f"score-{rows}.csv", lambda p: sample_data.write(p, rows, score=True, seed=SCORE_SEED))


def score_parquet(data_dir: Path, rows: int) -> Path:
    """The same rows as score_csv, typed (numbers as numbers, missing as null), streamed to Parquet."""
    source = score_csv(data_dir, rows)

    def make(out: Path) -> None:
        types = {"customer_id": pa.string(), "tenure_months": pa.int64(), "monthly_charges": pa.float64()}
        types |= {"support_calls": pa.int64(), "contract": pa.string(), "payment_method": pa.string()}
        types |= {"has_internet": pa.string()}
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=16 << 20),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
        with pq.ParquetWriter(out, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)

    return _cached(data_dir / f"score-{rows}.parquet", make)


def train_csv(data_dir: Path, rows: int) -> Path:
    return _cached(data_dir / f"train-{rows}.csv", lambda p: sample_data.write(p, rows, score=False, seed=TRAIN_SEED))


def payload(rows: int) -> bytes:
    """`{"records": [...]}` of `rows` rows to score, as a JSON client would send them."""
    records = []
    for _, row, _ in sample_data.rows(rows, seed=PAYLOAD_SEED):
        record: dict[str, Any] = {}
        for name, value in zip(sample_data.FEATURES, row, strict=True):
            if value == "":
                record[name] = None
            elif name in NUMERIC:
                record[name] = float(value) if isinstance(value, float) else int(value)
            else:
                record[name] = value
        records.append(record)
    return json.dumps({"records": records}, separators=(",", ":")).encode()


def build_model(s3: Any, models_bucket: str, data_dir: Path, out: Path) -> dict[str, Any]:
    """A 100-tree binary model stored as `bench/model.ubj` (the predictor's) and in `out` (the baseline's)."""
    import pandas as pd
    import xgboost as xgb

    from fmlcore.core.layout import LIVE
    from fmlcore.ml.model_store import ModelStore
    from trainer.training import DEFAULT_PARAMS, TrainOptions, prepare

    frame = pd.read_csv(train_csv(data_dir, MODEL_TRAIN_ROWS))
    prepared = prepare(frame, TrainOptions(target="churned"))
    params = {**DEFAULT_PARAMS, "objective": prepared.objective}
    # No early stopping: the model must have exactly MODEL_ROUNDS trees.
    booster = xgb.train(params, xgb.DMatrix(prepared.features, prepared.label, enable_categorical=True), MODEL_ROUNDS)
    trees = booster.num_boosted_rounds()
    if trees != MODEL_ROUNDS:
        raise RuntimeError(f"the bench model has {trees} trees, not {MODEL_ROUNDS}")
    metadata = {
        "objective": prepared.objective,
        "params": params,
        "num_boost_round": MODEL_ROUNDS,
        "best_iteration": MODEL_ROUNDS - 1,
        "num_trees": trees,
        "target": "churned",
        "classes": prepared.classes,
        "categories": prepared.schema.categories,
        "metrics": {},
        "rows": len(prepared.label),
        "job_id": "bench",
        "dataset_uri": "bench",
        "library_versions": {"xgboost": xgb.__version__},
    }
    store = ModelStore(s3, models_bucket)
    version = store.save(MODEL, booster, metadata)  # sets the fml_metadata attribute
    store.move_alias(MODEL, LIVE, version, {"source": "bench"}, "the benchmark's model")
    booster.save_model(str(out))
    return {"model": MODEL, "version": version, "trees": trees, "features": prepared.schema.names, "path": str(out)}


def count_csv_rows(path: Path) -> int:
    with open(path, newline="") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1
