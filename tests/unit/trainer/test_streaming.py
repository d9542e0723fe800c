"""Training from a file read in chunks: the same model, metadata, reference set and refusals as
`train(prepare(read_table(file)))`, without a frame of the whole file. Real xgboost, real files."""

import json
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from fmlcore.core.errors import InvalidInput
from fmlcore.ml import formats
from fmlcore.ml.features import FeatureSchema
from tests.conftest import ROOT
from trainer import streaming
from trainer.streaming import DatasetStats, read_chunks, train_file
from trainer.training import BudgetExceeded, Interrupted, TrainOptions, prepare, train

TIMING = ("train_seconds", "trained_at")


def whole(path: Path, opts: TrainOptions, reference_max_rows: int = 10_000):
    """The control: the file read whole, as the in-memory path reads it."""
    frame = formats.for_extension(path.suffix).read_table(path.read_bytes())
    return train(prepare(frame, opts), opts, reference_max_rows=reference_max_rows), frame


def probe(trained, frame: pd.DataFrame) -> np.ndarray:
    meta = trained.metadata
    booster = trained.booster
    schema = FeatureSchema(list(booster.feature_names), list(booster.feature_types), meta["categories"])
    return booster.inplace_predict(schema.encode(frame.head(300)))


def assert_same(streamed, control, frame: pd.DataFrame) -> None:
    assert np.array_equal(probe(streamed, frame), probe(control, frame))
    assert bytes(streamed.booster.save_raw()) == bytes(control.booster.save_raw())  # the very same model
    assert {k: v for k, v in streamed.metadata.items() if k not in TIMING} == {
        k: v for k, v in control.metadata.items() if k not in TIMING
    }
    assert streamed.booster.feature_names == control.booster.feature_names
    assert streamed.booster.feature_types == control.booster.feature_types
    pd.testing.assert_frame_equal(streamed.reference, control.reference)


def messy(n: int = 900, seed: int = 0) -> pd.DataFrame:
    """Numbers, integers, booleans, text with gaps, padding and missing markers; `late`: integers
    only in the second half (as JSON lines, a key absent from the first chunks); `code`: text that
    reads as numbers in the first chunks (CSV reads those chunks as numbers: 1.5 for "1.50")."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n).round(4)
    late = pd.Series(rng.integers(0, 9, size=n), dtype=object)
    late[: n // 2] = None
    return pd.DataFrame(
        {
            "x": np.where(rng.random(n) < 0.05, np.nan, x),
            "count": rng.integers(0, 50, size=n),
            "flag": rng.random(n) < 0.5,
            "color": rng.choice(["red", "green", " blue", "NA"], size=n),
            "late": late,
            "score": (x * 10).round(1),
            "code": np.where(np.arange(n) < n // 3, rng.choice(["07", "1.50"], size=n), rng.choice(["A", "B"], size=n)),
        }
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        with path.open("w") as fh:
            for record in frame.to_dict(orient="records"):
                record = {k: None if v != v else v for k, v in record.items()}  # NaN: null
                if record.get("late") is None:
                    del record["late"]
                fh.write(json.dumps(record) + "\n")
    else:
        for name in frame.columns:  # numbers with junk: as text (Parquet columns have one type)
            if pd.api.types.infer_dtype(frame[name], skipna=True).startswith("mixed"):
                frame[name] = frame[name].map(lambda v: v if v is None or v != v else str(v))
        if "count" in frame:  # nullable integers stay nullable integers, 32-bit floats 32-bit floats
            frame = frame.assign(count=frame["count"].astype("Int64"), score=frame["score"].astype("float32"))
            frame.loc[5, "count"] = pd.NA
        frame.to_parquet(path, index=False, row_group_size=150)
    return path


def multiclass(n: int = 900) -> pd.DataFrame:
    frame = messy(n)
    frame["label"] = np.where(frame["score"] > 4, "high", np.where(frame["score"] < -4, "low", "mid"))
    return frame


def regression(n: int = 900) -> pd.DataFrame:
    frame = messy(n, seed=1)
    frame["label"] = frame["score"] * 2.5 + frame["count"] / 7
    return frame


def with_missing_targets(n: int = 900) -> pd.DataFrame:
    frame = messy(n, seed=2)
    frame["label"] = (frame["score"] > 0).astype(int).astype(object)
    frame.loc[frame.index % 11 == 3, "label"] = None  # an integer target with gaps reads as floats
    return frame


CASES = [
    pytest.param(lambda tmp: ROOT / "samples" / "churn.csv", {"target": "churned"}, id="churn-csv"),
    pytest.param(lambda tmp: write(multiclass(), tmp / "multi.csv"), {}, id="multiclass-csv"),
    pytest.param(lambda tmp: write(regression(), tmp / "reg.csv"), {"params": {"max_depth": 4}}, id="regression-csv"),
    pytest.param(lambda tmp: write(with_missing_targets(), tmp / "gaps.csv"), {}, id="missing-targets-csv"),
    pytest.param(lambda tmp: write(multiclass(), tmp / "multi.jsonl"), {"ignore_columns": ["count"]}, id="jsonl"),
    pytest.param(lambda tmp: write(with_missing_targets(), tmp / "gaps.parquet"), {}, id="parquet"),
]


@pytest.mark.parametrize(("make", "options"), CASES)
def test_a_file_read_in_chunks_trains_exactly_the_model_of_the_file_read_whole(tmp_path, make, options):
    path = make(tmp_path)
    opts = TrainOptions.from_job({"num_boost_round": 25, **options})
    control, frame = whole(path, opts, reference_max_rows=60)
    streamed, rows = train_file(path, path.suffix, opts, chunk_rows=170, reference_max_rows=60)
    assert rows == len(frame)
    assert_same(streamed, control, frame)
    assert streamed.metadata["data_matrix"] == "QuantileDMatrix"


def test_rows_and_lines_pandas_reads_its_own_way_count_the_same(tmp_path):
    """Blank lines are skipped, a line of separators is a row without a target, a short line is
    padded, padded fields and missing markers are stripped and missing, as read_csv has them."""
    lines = ["a, b,c,label"] + [f"{i % 7}, {'x' if i % 3 else 'NA'},{i % 5 * 1.5},{i % 2}" for i in range(120)]
    lines[40:40] = ["", ",,,", "3", "  "]
    path = tmp_path / "odd.csv"
    path.write_text("\n".join(lines) + "\n")
    opts = TrainOptions.from_job({"num_boost_round": 10})
    control, frame = whole(path, opts)
    streamed, rows = train_file(path, ".csv", opts, chunk_rows=16)
    assert rows == len(frame) and streamed.metadata["rows_dropped_missing_target"] == 2
    assert streamed.booster.feature_names == ["a", "b", "c"]
    assert_same(streamed, control, frame)


def test_the_external_memory_matrix_trains_the_same_model_with_its_cache_on_the_given_disk(tmp_path, monkeypatch):
    path = write(multiclass(), tmp_path / "multi.csv")
    cache = tmp_path / "cache"
    cache.mkdir()
    seen = {}
    real = xgb.ExtMemQuantileDMatrix

    def spy(it, **kwargs):
        matrix = real(it, **kwargs)
        seen["prefix"] = it.cache_prefix
        seen["files"] = [p for p in cache.rglob("*") if p.is_file()]
        return matrix

    monkeypatch.setattr(xgb, "ExtMemQuantileDMatrix", spy)
    opts = TrainOptions.from_job({"num_boost_round": 25})
    control, frame = whole(path, opts)
    streamed, _ = train_file(path, ".csv", opts, chunk_rows=170, in_memory_bytes=1, cache_dir=cache)
    assert seen["prefix"].startswith(str(cache)) and seen["files"]
    assert not any(cache.iterdir())  # the cache is removed afterwards
    assert streamed.metadata["data_matrix"] == "ExtMemQuantileDMatrix"
    assert np.array_equal(probe(streamed, frame), probe(control, frame))
    assert streamed.metadata["metrics"] == control.metadata["metrics"]


def refusal_data(case: str) -> tuple[pd.DataFrame, dict]:
    frame = multiclass(300)
    if case == "too few rows":
        frame.loc[8:, "label"] = None
    if case == "single class":
        frame["label"] = "a"
    if case == "too many classes":
        frame["label"] = [f"c{i % 150}" for i in range(len(frame))]
    if case == "junk":
        frame["x"] = frame["x"].astype(object)
        frame.loc[[7, 250], "x"] = "n/a?"
    if case == "no name":
        frame = frame.rename(columns={"count": ""})
    if case == "identifier":
        frame = multiclass(1200)
        frame["id"] = [f"C{i}" for i in range(len(frame))]
    options = {
        "target missing": {"target": "nope"},
        "unknown ignored": {"ignore_columns": ["nope", "color"]},
        "binary of 3 classes": {"objective": "binary:logistic"},
        "regression of text": {"objective": "reg:squarederror"},
    }.get(case, {})
    return frame, options


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("target missing", "target column 'nope' is not in the data"),
        ("unknown ignored", "ignore_columns names unknown column(s): nope"),
        ("too few rows", "too few rows with a target value: 8 (at least 10 are needed)"),
        ("single class", "the target has a single class: nothing to learn"),
        ("binary of 3 classes", "objective binary:logistic needs exactly 2 classes, the target has 3"),
        ("too many classes", "the target has more than 100 classes"),
        ("regression of text", "objective reg:squarederror needs a numeric target; 'label' is text"),
        ("junk", "column 'x' is numeric but 2 value(s) are not numbers, e.g. 'n/a?'"),
        ("no name", "column "),  # 'Unnamed: 1' from CSV, '' from JSON and Parquet
        ("identifier", "column 'id' has more than 1024 distinct text values"),
    ],
)
@pytest.mark.parametrize("ext", [".csv", ".jsonl", ".parquet"])
def test_each_refusal_is_the_one_of_the_whole_read(tmp_path, case, message, ext):
    frame, options = refusal_data(case)
    opts = TrainOptions.from_job({"num_boost_round": 5, **options})
    path = write(frame, tmp_path / f"data{ext}")
    with pytest.raises(InvalidInput) as control:  # the in-memory path, the control
        whole(path, opts)
    with pytest.raises(InvalidInput) as streamed:
        train_file(path, ext, opts, chunk_rows=64)
    assert control.value.message.startswith(message)
    assert (streamed.value.message, streamed.value.details) == (control.value.message, control.value.details)


def test_a_stop_request_or_the_deadline_stops_the_reading(tmp_path):
    path = write(multiclass(300), tmp_path / "multi.csv")
    opts = TrainOptions.from_job({})
    with pytest.raises(Interrupted):
        train_file(path, ".csv", opts, chunk_rows=50, should_stop=lambda: True)
    with pytest.raises(BudgetExceeded, match="while reading the data"):
        train_file(path, ".csv", opts, chunk_rows=50, deadline=time.monotonic() - 1)


def test_unreadable_files_are_refused_as_the_whole_read_words_it(tmp_path):
    bad, empty, header = tmp_path / "bad.csv", tmp_path / "empty.csv", tmp_path / "header.csv"
    bad.write_text("a,b,label\n" + "1,2,0\n" * 150 + "1,2,3,4\n" + "1,2,1\n" * 10)
    empty.write_text("")
    header.write_text("a,b,label\n")
    opts = TrainOptions.from_job({})
    for path, message in [
        (bad, "cannot read the csv data: Error tokenizing data. C error: Expected 3 fields in line 152, saw 4"),
        (empty, "the file is empty"),
        (header, "the file has no data rows"),
    ]:
        with pytest.raises(InvalidInput) as control:
            whole(path, opts)
        with pytest.raises(InvalidInput) as streamed:
            train_file(path, ".csv", opts, chunk_rows=50)
        assert control.value.message == message
        assert (streamed.value.message, streamed.value.details) == (control.value.message, control.value.details)


def test_a_malformed_json_line_is_named(tmp_path):
    """The whole read names a character position in the whole file; chunks name the line."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1, "label": 0}\n' * 30 + '{"a": 1, "label":\n' + '{"a": 2, "label": 1}\n' * 5)
    with pytest.raises(InvalidInput, match=r"^cannot read the jsonl data: line 31: Expected object or value") as err:
        train_file(path, ".jsonl", TrainOptions.from_job({}), chunk_rows=8)
    assert err.value.details == {"format": ".jsonl", "line": 31}
    path.write_text('{"a": 1, "label": 0}\n' * 30 + "[1, 2]\n")
    with pytest.raises(InvalidInput, match="line 31 is not a JSON object"):
        train_file(path, ".jsonl", TrainOptions.from_job({}), chunk_rows=8)


def test_no_frame_of_the_whole_file_is_ever_built(tmp_path, monkeypatch):
    """Every chunk holds at most chunk_rows rows, the parsers are only ever asked for chunks, and
    what is concatenated is the holdout and the reference set, never the file."""
    path = write(multiclass(900), tmp_path / "multi.csv")
    chunk_rows, sizes, concats, parsers = 100, [], [], []
    real_chunks, real_concat, real_read_csv = streaming.read_chunks, pd.concat, pd.read_csv

    def spy_chunks(*args, **kwargs):
        for frame in real_chunks(*args, **kwargs):
            sizes.append(len(frame))
            yield frame

    def spy_concat(objs, *args, **kwargs):
        out = real_concat(objs, *args, **kwargs)
        concats.append(len(out))
        return out

    def spy_read_csv(*args, **kwargs):
        parsers.append(kwargs.get("chunksize"))
        return real_read_csv(*args, **kwargs)

    monkeypatch.setattr(streaming, "read_chunks", spy_chunks)
    monkeypatch.setattr(pd, "concat", spy_concat)
    monkeypatch.setattr(pd, "read_csv", spy_read_csv)
    opts = TrainOptions.from_job({"num_boost_round": 10})
    trained, rows = train_file(path, ".csv", opts, chunk_rows=chunk_rows)
    assert rows == 900 and sizes and max(sizes) <= chunk_rows
    assert sum(sizes) >= 2 * rows  # two passes at least, each in chunks
    assert parsers and all(p == chunk_rows for p in parsers)
    assert concats and max(concats) <= trained.metadata["rows_validation"]


def test_stats_of_parts_merge_into_the_stats_of_the_whole(tmp_path):
    """Parts computed elsewhere (pickled, as from Dask workers) merge into the same plan."""
    path = write(with_missing_targets(600), tmp_path / "gaps.jsonl")
    opts = TrainOptions.from_job({})
    chunks = list(read_chunks(path, ".jsonl", 100))
    one = DatasetStats(opts.target)
    for chunk in chunks:
        one.add(chunk)
    parts = [DatasetStats(opts.target) for _ in range(3)]
    for i, chunk in enumerate(chunks):
        parts[i * 3 // len(chunks)].add(chunk)
    parts = [pickle.loads(pickle.dumps(p)) for p in parts]
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert merged.plan(opts) == one.plan(opts)
    plan = one.plan(opts)
    frame = formats.for_extension(".jsonl").read_table(path.read_bytes())
    prepared = prepare(frame, opts)
    assert (plan.schema, plan.objective, plan.classes, plan.rows_dropped) == (
        prepared.schema,
        prepared.objective,
        prepared.classes,
        prepared.rows_dropped,
    )
    features, label, keep = plan.encode(chunks[1])
    assert keep.sum() == len(label) == len(features) and label.dtype == np.float32
    pd.testing.assert_frame_equal(features, prepared.features.loc[features.index])
