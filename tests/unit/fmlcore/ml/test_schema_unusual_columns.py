"""`FeatureSchema.fit` on text columns that hold only numbers, and on columns that hold no value.

A text (object or string) column whose every value reads as a number is a numeric feature, encoded
as `encode` encodes any numeric column of text; a column with no value at all carries no information
and is a numeric feature of NaN, as a CSV file reads it (an empty CSV column is a column of floats).
"""

import numpy as np
import pandas as pd
import pytest

from fmlcore.core.errors import InvalidInput
from fmlcore.ml.features import CATEGORICAL, NUMERIC, FeatureSchema, TextSummary

NAN = np.nan


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # booleans with gaps: read from CSV, JSON lines or Parquet as an object column of bools
        ([True, False, None, True], [1.0, 0.0, NAN, 1.0]),
        (pd.Series([True, False, None, True], dtype=object), [1.0, 0.0, NAN, 1.0]),
        # numbers as text, with and without gaps, as object or pandas' string types
        (["1", "2", None], [1.0, 2.0, NAN]),
        (pd.Series(["1", "2.5", None], dtype="str"), [1.0, 2.5, NAN]),
        (pd.Series(["-3", " 4", None], dtype="string"), [-3.0, 4.0, NAN]),
        (["07", "1.50", "1e3"], [7.0, 1.5, 1000.0]),
        # numbers and their text mixed (JSON lines: 1 and "2" in one column)
        (pd.Series([1, "2", None, 3.5], dtype=object), [1.0, 2.0, NAN, 3.5]),
    ],
)
def test_a_text_column_of_numbers_is_a_numeric_feature_encoded_as_numbers(values, expected):
    frame = pd.DataFrame({"x": [0.5, 1.5, 2.5, 3.5][: len(expected)], "t": values})
    assert not pd.api.types.is_numeric_dtype(frame["t"])  # the case: numbers in a text column
    schema = FeatureSchema.fit(frame)
    assert schema.types == [NUMERIC, NUMERIC] and schema.categories == {}
    encoded = schema.encode(frame)
    np.testing.assert_array_equal(encoded["t"].to_numpy(), np.array(expected, dtype=np.float32))
    np.testing.assert_array_equal(schema.encode_array(frame)[:, 1], np.array(expected, dtype=np.float32))
    assert schema.bad_rows(frame) == {}


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([None, None, None], dtype=object),  # JSON lines, Parquet (a null column)
        pd.Series([None, None, None], dtype="str"),  # Parquet (a string column of nulls)
        pd.Series([None, None, None], dtype="string"),
        pd.Series([], dtype=object),
    ],
)
def test_a_column_without_any_value_is_a_numeric_feature_of_nan(values):
    frame = pd.DataFrame({"x": np.arange(len(values), dtype=float), "z": values})
    schema = FeatureSchema.fit(frame)
    assert schema.types == [NUMERIC, NUMERIC] and schema.categories == {}
    assert np.isnan(schema.encode(frame)["z"].to_numpy()).all()
    assert np.isnan(schema.encode_array(frame)[:, 1]).all()
    assert schema.bad_rows(frame) == {}
    # the same as the CSV reading of that column: floats, all missing
    assert schema == FeatureSchema.fit(frame.assign(z=np.full(len(values), NAN)))


def test_controls_text_stays_categorical_and_numbers_with_junk_are_refused():
    frame = pd.DataFrame({"color": ["red", None, " blue", "red"], "n": ["1", "2", "3", "4"]})
    schema = FeatureSchema.fit(frame)
    assert schema.types == [CATEGORICAL, NUMERIC]
    assert schema.categories == {"color": ["blue", "red"]}
    # mostly numbers with a value that is not one: refused, naming it (not taken for numbers)
    junk = pd.DataFrame({"n": [*map(str, range(9)), "n/a?", None]})
    with pytest.raises(InvalidInput) as err:
        FeatureSchema.fit(junk)
    assert err.value.message == "column 'n' is numeric but 1 value(s) are not numbers, e.g. 'n/a?'"
    assert err.value.details == {"column": "n", "bad_values": 1, "examples": [{"row": 10, "value": "n/a?"}]}
    # a text column with a few numbers among its values stays a text column
    few = pd.DataFrame({"t": ["a", "b", "1", "c"]})
    assert FeatureSchema.fit(few).categories == {"t": ["1", "a", "b", "c"]}


def test_summaries_of_parts_agree_with_the_whole_column():
    """Parts summed up (chunks of a file) type the column as the whole does: numbers, none, or junk."""
    numbers = pd.Series(["1", "2", None, "4"], dtype=object)
    empty = pd.Series([None, None], dtype=object, index=[4, 5])
    whole = TextSummary.of(pd.concat([numbers, empty]))
    merged = TextSummary.of(numbers).merge(TextSummary.of(empty)).merge(TextSummary.of_numbers(3))
    for summary in (whole, merged, TextSummary.of(empty), TextSummary()):
        assert FeatureSchema.from_columns([("t", summary)]).types == [NUMERIC]
    junk = TextSummary.of(pd.Series(["x"], index=[9])).merge(TextSummary.of_numbers(9))
    with pytest.raises(InvalidInput, match=r"^column 't' is numeric but 1 value\(s\) are not numbers, e.g. 'x'$"):
        FeatureSchema.from_columns([("t", junk)])
