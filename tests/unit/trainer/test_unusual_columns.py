"""Unusual feature columns on both training paths (the file read whole, and read in chunks).

- a text column whose every value is a number (booleans with gaps, numbers written as text) is a
  numeric feature, encoded as prediction encodes it;
- a column without any value (all null) is a numeric feature of NaN, as a CSV file reads it.

Both train, the same model on both paths, and the model predicts on the same input as it was
trained on: through the DataFrame encoding and the scoring service's fast JSON and CSV encoders.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fmlcore.core.errors import InvalidInput
from fmlcore.ml import formats
from fmlcore.ml.features import FeatureSchema
from fmlcore.ml.model_store import LoadedModel
from predictor.scoring import matrix_from_csv, matrix_from_records
from tests.unit.trainer.test_streaming import assert_same, whole
from trainer.streaming import train_file
from trainer.training import TrainOptions, prepare

N = 240
CHUNK = 32  # chunks of a few rows: some hold only the gaps of a column, or none of them
EXTS = [".csv", ".jsonl", ".parquet"]
NAN = np.nan


def base(n: int = N, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n).round(3)
    return pd.DataFrame({"x": x, "label": (x + rng.normal(scale=0.5, size=n) > 0).astype(int)})


def flag_with_gaps(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[float]]:
    """Booleans that carry the label, with gaps: an object column of bools in every format."""
    values = [
        None if i % 7 == 2 else (y == 1) != (i % 13 == 5)  # a few flipped
        for i, y in enumerate(frame["label"].tolist())
    ]
    flag = pd.Series(values, dtype=object, index=frame.index)
    expected = [NAN if v is None else float(v) for v in values]
    return frame.assign(flag=flag), expected


def digits(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[float]]:
    """Numbers written as text ("1", "2.5", gaps): text in JSON lines and Parquet, numbers in CSV."""
    values = pd.Series([str(round(v * 2) / 2).removesuffix(".0") for v in frame["x"]], dtype=object)
    values[frame.index % 9 == 4] = None
    expected = [NAN if v is None else float(v) for v in values]
    return frame.assign(digits=values), expected


def all_missing(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[float]]:
    return frame.assign(empty=pd.Series([None] * len(frame), dtype=object)), [NAN] * len(frame)


def write(frame: pd.DataFrame, path: Path, types: dict[str, pa.DataType] | None = None) -> Path:
    """The frame as a file; None is a missing value (an empty CSV field, a JSON null, a Parquet null)."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        with path.open("w") as fh:
            for record in frame.to_dict(orient="records"):
                fh.write(json.dumps({k: None if v is None or v != v else v for k, v in record.items()}) + "\n")
    else:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for name, kind in (types or {}).items():
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, table.column(name).cast(kind))
        pq.write_table(table, path, row_group_size=50)
    return path


def both(path: Path, opts: TrainOptions, kept_only: bool = False):
    """The model of the file read whole and read in chunks (asserting they are the very same,
    predicting on all rows, or with `kept_only` on the rows with a target)."""
    control, frame = whole(path, opts)
    streamed, rows = train_file(path, path.suffix, opts, chunk_rows=CHUNK)
    assert rows == len(frame)
    assert_same(streamed, control, frame[frame[opts.target].notna()] if kept_only else frame)
    return control, frame


def loaded(trained) -> LoadedModel:
    booster = trained.booster
    schema = FeatureSchema(list(booster.feature_names), list(booster.feature_types), trained.metadata["categories"])
    return LoadedModel(model="m", version="v1", booster=booster, metadata=trained.metadata, schema=schema)


def assert_predicts_on_its_input(trained, frame: pd.DataFrame, path: Path) -> None:
    """Predictions on the training file: the DataFrame encoding, the array encoding and the scoring
    service's encoders of JSON records and CSV bodies agree."""
    model = loaded(trained)
    features = frame[model.schema.names]
    expected = model.booster.inplace_predict(model.schema.encode(features))
    assert np.array_equal(model.booster.inplace_predict(model.schema.encode_array(features)), expected)
    assert model.schema.bad_rows(features) == {}
    if path.suffix == ".jsonl":
        records = [json.loads(line) for line in path.read_text().splitlines()]
        records = [{k: v for k, v in r.items() if k in model.schema.names} for r in records]
        assert np.array_equal(model.booster.inplace_predict(matrix_from_records(model, records, 10_000)), expected)
    body = features.to_csv(index=False).encode()  # the rows as a CSV body, whatever the file
    if body:
        assert np.array_equal(model.booster.inplace_predict(matrix_from_csv(model, body, 10_000, 100)), expected)


# ------------------------------------------------------------------ text columns of numbers
@pytest.mark.parametrize("ext", EXTS)
@pytest.mark.parametrize("make", [flag_with_gaps, digits], ids=["flag-with-gaps", "digits"])
def test_a_text_column_of_numbers_trains_as_a_numeric_feature(tmp_path, ext, make):
    data, expected = make(base())
    name = data.columns[-1]
    path = write(data, tmp_path / f"data{ext}")
    opts = TrainOptions.from_job({"num_boost_round": 20})
    trained, frame = both(path, opts)
    assert trained.booster.feature_names == ["x", name]
    assert trained.booster.feature_types == ["float", "float"]
    assert trained.metadata["categories"] == {}
    prepared = prepare(frame, opts)
    np.testing.assert_array_equal(prepared.features[name].to_numpy(), np.array(expected, dtype=np.float32))
    assert_predicts_on_its_input(trained, frame, path)


@pytest.mark.parametrize("ext", EXTS)
def test_control_booleans_without_gaps_were_already_a_numeric_feature_of_the_same_encoding(tmp_path, ext):
    data, expected = flag_with_gaps(base())
    gapless = data.assign(flag=data["flag"].map(lambda v: bool(v) if v is not None else False).astype(bool))
    path = write(gapless, tmp_path / f"data{ext}")
    opts = TrainOptions.from_job({"num_boost_round": 20})
    trained, frame = both(path, opts)
    assert trained.booster.feature_types == ["float", "float"]
    encoded = prepare(frame, opts).features["flag"].to_numpy()
    gaps = np.isnan(expected)
    np.testing.assert_array_equal(encoded[~gaps], np.array(expected, dtype=np.float32)[~gaps])


@pytest.mark.parametrize("ext", [".jsonl", ".parquet"])
def test_numbers_with_junk_in_a_text_column_are_still_refused_on_both_paths(tmp_path, ext):
    data, _ = digits(base())
    data.loc[[17, 200], "digits"] = "n/a?"
    path = write(data, tmp_path / f"data{ext}")
    opts = TrainOptions.from_job({"num_boost_round": 5})
    with pytest.raises(InvalidInput) as control:
        whole(path, opts)
    with pytest.raises(InvalidInput) as streamed:
        train_file(path, ext, opts, chunk_rows=CHUNK)
    assert control.value.message == "column 'digits' is numeric but 2 value(s) are not numbers, e.g. 'n/a?'"
    assert (streamed.value.message, streamed.value.details) == (control.value.message, control.value.details)


def test_numbers_and_their_text_mixed_in_json_lines_train_as_numbers(tmp_path):
    data = base()
    data["mixed"] = pd.Series([v if i % 3 else str(v) for i, v in enumerate(data["x"] * 10)], dtype=object)
    data.loc[data.index % 11 == 0, "mixed"] = None
    path = write(data, tmp_path / "data.jsonl")
    trained, frame = both(path, TrainOptions.from_job({"num_boost_round": 20}))
    assert trained.booster.feature_types == ["float", "float"]
    assert_predicts_on_its_input(trained, frame, path)


# ------------------------------------------------------------------ columns without a value
@pytest.mark.parametrize("ext", EXTS)  # CSV: the control, read as floats all along
def test_a_column_without_any_value_trains_as_a_numeric_feature_of_nan(tmp_path, ext):
    data, _ = all_missing(base())
    path = write(data, tmp_path / f"data{ext}")
    opts = TrainOptions.from_job({"num_boost_round": 20})
    trained, frame = both(path, opts)
    assert trained.booster.feature_names == ["x", "empty"]
    assert trained.booster.feature_types == ["float", "float"]
    assert trained.metadata["categories"] == {}
    assert np.isnan(prepare(frame, opts).features["empty"].to_numpy()).all()
    assert_predicts_on_its_input(trained, frame, path)
    # at prediction, numbers or nulls in it are fine; text is refused as in any numeric column
    model = loaded(trained)
    assert matrix_from_records(model, [{"x": 0.1, "empty": None}, {"x": 0.2, "empty": 3}], 10).shape == (2, 2)
    with pytest.raises(InvalidInput, match="column 'empty' must be numeric"):
        matrix_from_records(model, [{"x": 0.1, "empty": "abc"}], 10)


@pytest.mark.parametrize("kind", [pa.string(), pa.bool_(), pa.null()], ids=str)
def test_a_typed_parquet_column_of_nulls_trains_as_a_numeric_feature_of_nan(tmp_path, kind):
    data, _ = all_missing(base())
    path = write(data, tmp_path / "data.parquet", {"empty": kind})
    trained, _ = both(path, TrainOptions.from_job({"num_boost_round": 20}))
    assert trained.booster.feature_types == ["float", "float"]


@pytest.mark.parametrize("ext", EXTS)
def test_a_column_with_values_only_in_rows_without_a_target_trains_as_a_numeric_feature_of_nan(tmp_path, ext):
    """The rows without a target are dropped before the schema is fitted: the column has no value
    left. (The model refuses that text at prediction, as a numeric column with junk in it.)"""
    data, _ = all_missing(base())
    data["label"] = data["label"].astype(object)
    data.loc[[3, 100, 101], ["label", "empty"]] = [None, "text"]
    path = write(data, tmp_path / f"data{ext}")
    trained, frame = both(path, TrainOptions.from_job({"num_boost_round": 20}), kept_only=True)
    assert trained.booster.feature_types == ["float", "float"]
    assert trained.metadata["rows_dropped_missing_target"] == 3
    with pytest.raises(InvalidInput, match="column 'empty' must be numeric; 3 value"):
        loaded(trained).schema.encode(frame)


@pytest.mark.parametrize("ext", [".jsonl", ".parquet"])
def test_several_unusual_columns_together_and_a_text_column_train_on_both_paths(tmp_path, ext):
    data, _ = flag_with_gaps(base())
    data, _ = digits(data)
    data, _ = all_missing(data)
    data["color"] = np.where(data.index % 3 == 0, "red", "blue")
    path = write(data, tmp_path / f"data{ext}")
    trained, frame = both(path, TrainOptions.from_job({"num_boost_round": 20}))
    assert trained.booster.feature_names == ["x", "flag", "digits", "empty", "color"]
    assert trained.booster.feature_types == ["float", "float", "float", "float", "c"]
    assert trained.metadata["categories"] == {"color": ["blue", "red"]}
    assert_predicts_on_its_input(trained, frame, path)
    # the reference set (the holdout as given) encodes with the model's schema, as promotion reads it
    reference = pd.read_parquet(_roundtrip(trained.reference, tmp_path))
    schema = loaded(trained).schema
    assert np.isfinite(trained.booster.inplace_predict(schema.encode(reference[schema.names]))).all()


def _roundtrip(frame: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "reference.parquet"
    frame.to_parquet(path, index=False)
    return path


def test_the_same_data_trains_the_same_features_in_every_format(tmp_path):
    data, _ = flag_with_gaps(base())
    data, _ = digits(data)
    data, _ = all_missing(data)
    opts = TrainOptions.from_job({"num_boost_round": 5})
    encoded = []
    for ext in EXTS:
        path = write(data, tmp_path / f"data{ext}")
        frame = formats.for_extension(ext).read_table(path.read_bytes())
        prepared = prepare(frame, opts)
        assert prepared.schema.types == ["float"] * 4
        encoded.append(prepared.features[["flag", "digits", "empty"]])
    for other in encoded[1:]:
        pd.testing.assert_frame_equal(other, encoded[0])
