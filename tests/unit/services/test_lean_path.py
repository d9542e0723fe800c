"""The lean request path (payload → float32 matrix, no DataFrame) predicts exactly what the DataFrame path
and batch scoring predict on the same rows, and refuses what they refuse with the same errors.

A real model is trained on the churn sample (numeric and categorical features, missing values)
and loaded through ModelStore, as the predictor loads it. Three paths are compared:

    lean    matrix_from_instances / matrix_from_records / matrix_from_csv
    frame   frame_from_* (or formats.CSV.read_table) + check_columns + FeatureSchema.encode_array
    batch   the chunk readers (CSV, JSON lines) + predictor.batch._score_chunk
"""

from __future__ import annotations

import io
import json
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

import predictor.scoring as scoring
from fmlcore.core.errors import FmlError
from fmlcore.ml import formats
from fmlcore.ml.model_store import LoadedModel, ModelStore
from fmlcore.ml.readers import DEFAULT_LIMITS
from predictor.batch import _score_chunk
from predictor.scoring import (
    check_columns,
    check_csv_shape,
    frame_from_instances,
    frame_from_records,
    matrix_from_csv,
    matrix_from_instances,
    matrix_from_records,
    predict,
)
from tests.conftest import ROOT
from tests.unit.fmlcore.ml.versioned_s3 import VersionedS3
from trainer.training import TrainOptions, prepare, train

MAX_ROWS, MAX_COLUMNS = 10_000, 2_000
SAMPLE = pd.read_csv(ROOT / "samples" / "churn.csv")
FEATURES = [c for c in SAMPLE.columns if c != "churned"]
NUMERIC = ["tenure_months", "monthly_charges", "support_calls"]


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    opts = TrainOptions.from_job({"target": "churned", "num_boost_round": 30})
    trained = train(prepare(SAMPLE, opts), opts, nthread=1)
    store = ModelStore(VersionedS3(), "models", latest_ttl_seconds=0, nthread=1)
    loaded = store.load("churn", store.save("churn", trained.booster, trained.metadata))
    assert loaded.schema.names == FEATURES and loaded.schema.types == ["float", "float", "float", "c", "c", "c"]
    return loaded


# ---------------------------------------------------------------------------- the rows
def sample_records(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Rows of the sample as a client sends them (pandas to_json: NaN → null)."""
    return json.loads(SAMPLE[FEATURES].iloc[start : start + n].to_json(orient="records"))


def edge_records() -> list[dict[str, Any]]:
    base = sample_records(12, start=100)
    edits = [
        {"monthly_charges": None},  # null number
        {"contract": None},  # null category
        {"payment_method": "satellite"},  # a category never seen in training
        {"has_internet": ""},  # empty text in a categorical column
        {"contract": "  one-year "},  # padding, stripped as in training
        {"tenure_months": 12.5, "support_calls": 0.0},  # floats where training had integers
        {"tenure_months": "42", "monthly_charges": "69.07"},  # numbers as text
        {"monthly_charges": " 1e2 "},  # text that float() reads
        {"monthly_charges": ""},  # empty text in a numeric column: missing
        {"support_calls": True},  # a boolean counts as 1
    ]
    for record, edit in zip(base, edits, strict=False):
        record.update(edit)
    del base[10]["monthly_charges"]  # a missing key is a missing value
    del base[11]["contract"]
    return base


def csv_body(records: list[dict[str, Any]], columns: list[str] = FEATURES) -> bytes:
    lines = [",".join(columns)]
    for record in records:
        lines.append(",".join("" if record.get(c) is None else str(record[c]) for c in columns))
    return ("\n".join(lines) + "\n").encode()


CSV_EDGES = (
    b"tenure_months,monthly_charges,support_calls,contract,payment_method,has_internet\n"
    b"42,69.07,0,two-year,mailed-check,yes\n"
    b"9,,1,month-to-month,satellite,yes\n"  # empty number, unseen category
    b"29,47.65,,,bank-transfer,\n"  # empty category fields
    b"48, 78.92,NA,month-to-month, card,yes\n"  # spaces after the comma, NA
    b'32,71.84,0,"one-year",bank-transfer,no\n'  # a quoted field
    b"\n"  # a blank line is no row
    b"22,27.28,4,one-year,bank-transfer,no\r\n"  # CRLF
    b"7,1e2,3,month-to-month,mailed-check,null\n"
)


# ---------------------------------------------------------------------------- the three paths
def frame_path(loaded: LoadedModel, kind: str, payload: Any) -> np.ndarray:
    """What the predict route did before the lean path."""
    if kind == "csv":
        check_csv_shape(payload, MAX_ROWS, MAX_COLUMNS)
        frame = formats.CSV.read_table(payload)
    elif kind == "instances":
        frame = frame_from_instances(loaded, payload, MAX_ROWS)
    else:
        frame = frame_from_records(loaded, payload, MAX_ROWS)
    check_columns(loaded, [str(c) for c in frame.columns], allow_extra=False)
    return loaded.schema.encode_array(frame)


def lean_path(loaded: LoadedModel, kind: str, payload: Any) -> np.ndarray:
    if kind == "csv":
        return matrix_from_csv(loaded, payload, MAX_ROWS, MAX_COLUMNS)
    if kind == "instances":
        return matrix_from_instances(loaded, payload, MAX_ROWS)
    return matrix_from_records(loaded, payload, MAX_ROWS)


def batch_probabilities(loaded: LoadedModel, fmt: formats.Format, body: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The encoded matrix and p(churn) of batch scoring, over every chunk of `body` (chunks of 7 rows)."""
    matrices, probabilities = [], []
    for chunk in fmt.chunks(io.BytesIO(body), 7, DEFAULT_LIMITS):
        assert all(reason == "empty line" for _, reason in chunk.errors)  # batch notes blank lines; no rows either way
        matrices.append(loaded.schema.encode_array(chunk.frame.reset_index(drop=True)))
        scored, failed = _score_chunk(loaded, chunk)
        assert failed == []
        probabilities.append(scored["probability_1"].to_numpy())
    return np.vstack(matrices), np.concatenate(probabilities)


def jsonl_body(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def as_instances(records: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r.get(c) for c in FEATURES] for r in records]


def assert_same_matrix(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True)


def assert_same_predictions(loaded: LoadedModel, a: np.ndarray, b: np.ndarray) -> None:
    left, right = predict(loaded, a), predict(loaded, b)
    assert np.array_equal(left.values, right.values)
    assert left.records() == right.records()


# ---------------------------------------------------------------------------- identical predictions
@pytest.mark.parametrize("rows", ["sample", "edges"])
def test_records_and_instances_predict_like_the_frame_path_and_batch(loaded, rows):
    records = sample_records(200) if rows == "sample" else edge_records()
    lean_records = lean_path(loaded, "records", records)
    lean_instances = lean_path(loaded, "instances", as_instances(records))
    assert_same_matrix(lean_records, frame_path(loaded, "records", records))
    assert_same_matrix(lean_instances, frame_path(loaded, "instances", as_instances(records)))
    assert_same_matrix(lean_records, lean_instances)
    assert_same_predictions(loaded, lean_records, frame_path(loaded, "records", records))

    batch_matrix, batch_p = batch_probabilities(loaded, formats.JSONL, jsonl_body(records))
    assert_same_matrix(lean_records, batch_matrix)
    assert np.array_equal(predict(loaded, lean_records).values[:, 1], batch_p)


@pytest.mark.parametrize("body", ["sample", "edges", "from-records"])
def test_csv_predicts_like_the_frame_path_and_batch(loaded, body):
    raw = {
        "sample": (ROOT / "samples" / "churn.csv").read_bytes().replace(b",churned", b"").replace(b"\r", b""),
        "edges": CSV_EDGES,
        "from-records": csv_body(sample_records(50, start=300)),
    }[body]
    if body == "sample":  # drop the target column: the online body has exactly the model's columns
        raw = b"\n".join(line.rsplit(b",", 1)[0] if i else line for i, line in enumerate(raw.splitlines())) + b"\n"
    lean = lean_path(loaded, "csv", raw)
    assert_same_matrix(lean, frame_path(loaded, "csv", raw))
    assert_same_predictions(loaded, lean, frame_path(loaded, "csv", raw))
    batch_matrix, batch_p = batch_probabilities(loaded, formats.CSV, raw)
    assert_same_matrix(lean, batch_matrix)
    assert np.array_equal(predict(loaded, lean).values[:, 1], batch_p)


def test_the_same_rows_predict_the_same_in_every_format(loaded):
    records = sample_records(30, start=500)
    by_records = lean_path(loaded, "records", records)
    by_instances = lean_path(loaded, "instances", as_instances(records))
    by_csv = lean_path(loaded, "csv", csv_body(records, columns=list(reversed(FEATURES))))  # any column order
    assert_same_matrix(by_records, by_instances)
    assert_same_matrix(by_records, by_csv)


def test_clean_payloads_never_build_a_dataframe(loaded, monkeypatch):
    def refuse(*_args):
        raise AssertionError("the lean path fell back to the DataFrame path")

    monkeypatch.setattr(scoring, "_by_frame", refuse)
    # Every edge but one stays on the lean path: text that float() refuses in a numeric column ("" here,
    # which pandas reads as missing) is left to the frame path, which knows its rules.
    lean_path(loaded, "records", [r for r in edge_records() if r.get("monthly_charges") != ""])
    lean_path(loaded, "instances", as_instances(sample_records(100)))
    lean_path(loaded, "csv", CSV_EDGES)
    lean_path(loaded, "csv", csv_body(sample_records(100)))


def test_the_matrix_is_what_the_booster_reads(loaded):
    matrix = lean_path(loaded, "records", sample_records(5))
    assert matrix.dtype == np.float32 and matrix.shape == (5, len(FEATURES)) and matrix.flags.c_contiguous
    categories = loaded.schema.categories["contract"]
    assert matrix[0, FEATURES.index("contract")] == categories.index(sample_records(1)[0]["contract"])


# ---------------------------------------------------------------------------- identical refusals
def outcome(path, loaded: LoadedModel, kind: str, payload: Any) -> tuple:
    """("ok", matrix), or what was raised: an FmlError's type, message and details, or any other exception."""
    try:
        return ("ok", path(loaded, kind, payload))
    except FmlError as exc:
        return (type(exc).__name__, exc.message, exc.details)
    except Exception as exc:  # whatever the frame path raises, the lean path must raise too
        return (type(exc).__name__, str(exc))


def same(a: tuple, b: tuple) -> bool:
    if a[0] == b[0] == "ok":
        return (
            a[1].shape == b[1].shape
            and np.array_equal(a[1], b[1], equal_nan=True)
            and np.array_equal(np.signbit(a[1]), np.signbit(b[1]))
        )
    return a == b


def records_with(**changes: Any) -> list[dict[str, Any]]:
    records = sample_records(3)
    for record in records:
        record.update(changes)
    return records


BAD_JSON = [
    ("records", [{k: v for k, v in r.items() if k != "contract"} for r in sample_records(2)], "missing column"),
    ("records", records_with(colour="red"), "unexpected column"),
    ("records", records_with(tenure_months="long"), "must be numeric"),
    ("records", records_with(tenure_months={"deep": [1]}), "JSON scalars"),
    ("records", [{f"k{i}": i} for i in range(500)], "record 0 has unexpected column(s) k0"),
    ("records", [*sample_records(2), "not an object"], "record 2 is not an object"),
    ("records", [], "non-empty list"),
    ("records", {"tenure_months": 1}, "non-empty list"),
    ("records", sample_records(1) * (MAX_ROWS + 1), "limit of 10000 rows"),
    ("records", [{}], "missing column"),
    ("instances", [[1, 2, 3]], "6 values"),
    ("instances", [[[1]] * 6], "JSON scalars"),
    ("instances", [as_instances(sample_records(1))[0], "row"], "instance 1"),
    ("instances", [[1, "x", 0, "one-year", "card", "yes"]], "must be numeric"),
    ("instances", "rows", "non-empty list"),
]


@pytest.mark.parametrize(("kind", "payload", "mentions"), BAD_JSON, ids=[f"{k}-{m}" for k, _, m in BAD_JSON])
def test_bad_json_payloads_get_the_same_errors(loaded, kind, payload, mentions):
    lean = outcome(lean_path, loaded, kind, payload)
    assert lean == outcome(frame_path, loaded, kind, payload)
    assert lean[0] != "ok" and mentions in lean[1]


HEADER = ",".join(FEATURES).encode()
BAD_CSV = [
    (HEADER.replace(b",contract", b"") + b"\n1,2,3,card,yes\n", "missing column(s) contract"),
    (HEADER + b",colour\n1,2,3,one-year,card,yes,red\n", "unexpected column(s) colour"),
    (HEADER + b",contract\n1,2,3,one-year,card,yes,two-year\n", "unexpected column(s) contract.1"),
    (HEADER + b"\n1,2,3,one-year,card,yes\nlong,2,3,one-year,card,yes\n", "must be numeric"),
    (HEADER + b"\n1,2,3,one-year,card,yes\n1,2,3,one-year,card,yes,extra\n", "Expected 6 fields in line 3, saw 7"),
    (HEADER + b"\n", "no data rows"),
    (b"", "the file is empty"),
    (HEADER + b"\n" + b"1,2,3,one-year,card,yes\n" * (MAX_ROWS + 1), "limit of 10000 rows"),
    (b",".join(b"c%d" % i for i in range(MAX_COLUMNS + 1)) + b"\n", "limit of 2000 columns"),
    (HEADER + b'\n1,2,3,"one-year,card,yes\n', "cannot read the csv data"),
    (HEADER + b"\n1,2,3,one-year,card,\xff\n", "cannot read the csv data"),
]


@pytest.mark.parametrize(("raw", "mentions"), BAD_CSV, ids=[m for _, m in BAD_CSV])
def test_bad_csv_bodies_get_the_same_errors(loaded, raw, mentions):
    lean = outcome(lean_path, loaded, "csv", raw)
    assert lean == outcome(frame_path, loaded, "csv", raw)
    assert lean[0] != "ok" and mentions in lean[1]


# ---------------------------------------------------------------------------- a small differential fuzz
NUMBER_VALUES = [0, 7, -3, 2**53 + 1, 2**64, 1.5, -0.0, 1e300, float("nan"), float("inf"), True, False, None,
                 "1.5", " 2 ", "1_000", "abc", "", "true", "nan", "-0", "1e5", "0x10", {"a": 1}, [1]]  # fmt: skip
CATEGORY_VALUES = ["one-year", " card ", "yes", "satellite", "", " ", None, 1, 1.0, True, "1", "NA", "é", [2]]
CSV_NUMBERS = ["1", "1.5", '"1\n2"', "123456789012345", "1234567890123456", "0.12345678901234", "-0", "+5", "007", ".5", "5.", "1e5", "1e-3", "12345678901234567", "NA", "", "nan",
               "true", "False", "tRuE", "abc", "inf", "1_0", "3 ", '"4"', '""']  # fmt: skip
CSV_CATEGORIES = ["one-year", " card", "yes ", "satellite", '"two-year"', "", "NA", "1", "01", "True", "é", '"a,b"']


def json_case(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            c: rng.choice(NUMBER_VALUES if c in NUMERIC else CATEGORY_VALUES)
            for c in FEATURES
            if rng.random() > 0.1  # a key now and then missing
        }
        for _ in range(rng.randint(1, 4))
    ]


def csv_case(rng: random.Random) -> bytes:
    columns = rng.sample(FEATURES, len(FEATURES))
    lines = [",".join(columns)]
    for _ in range(rng.randint(1, 4)):
        lines.append(",".join(rng.choice(CSV_NUMBERS if c in NUMERIC else CSV_CATEGORIES) for c in columns))
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 1e300 as float32, both paths
def test_random_payloads_encode_or_fail_like_the_frame_path(loaded):
    rng = random.Random(13)
    for _ in range(300):
        records = json_case(rng)
        for kind, payload in (("records", records), ("instances", as_instances(records)), ("csv", csv_case(rng))):
            lean, frame = outcome(lean_path, loaded, kind, payload), outcome(frame_path, loaded, kind, payload)
            assert same(lean, frame), (kind, payload, lean, frame)
