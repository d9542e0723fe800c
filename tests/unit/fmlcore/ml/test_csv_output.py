"""Batch CSV keeps its form: values read as text are written back as the user wrote them, numbers
bare and text quoted only when it must be; the reader holds one block of lines at a time, and
rows keep their physical line numbers across blocks. Real pyarrow and XGBoost, no AWS."""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import xgboost as xgb

from fmlcore.ml import formats
from fmlcore.ml.features import FeatureSchema
from fmlcore.ml.model_store import LoadedModel
from fmlcore.ml.readers import ReadLimits, read_csv_chunks
from fmlcore.ml.writers import CsvWriter
from predictor.batch import score_chunks

LIMITS = ReadLimits(max_columns=50, max_line_bytes=1 << 16, max_file_bytes=1 << 30, max_row_group_bytes=1 << 20)


def copy_through(text: bytes, tmp_path, chunk_rows: int = 1000, limits: ReadLimits = LIMITS) -> bytes:
    """The bytes CsvWriter writes for what read_csv_chunks read."""
    writer = CsvWriter(tmp_path / "out.csv")
    for chunk in read_csv_chunks(io.BytesIO(text), chunk_rows, limits):
        writer.write(chunk.frame)
    writer.close([])
    return (tmp_path / "out.csv").read_bytes()


def test_values_read_as_text_are_written_back_as_written(tmp_path):
    text = (
        b"id,age,charges,note\n"
        b"007,16,37.69,plain\n"
        b'"0042",1.50,1e3,"a, b"\n'  # quotes not needed by a value are dropped; the value stays
        b'008,,-0.0,"say ""hi"""\n'  # missing stays missing; a quote inside is doubled
        b'009,  7,"",x\n'  # a leading space and the empty text are quoted, so they read back as such
        b'010,7,8,"two\nlines"\n'
    )
    assert copy_through(text, tmp_path) == (
        b"id,age,charges,note\n"
        b"007,16,37.69,plain\n"
        b'0042,1.50,1e3,"a, b"\n'
        b'008,,-0.0,"say ""hi"""\n'
        b'009,"  7","",x\n'
        b'010,7,8,"two\nlines"\n'
    )


def test_the_header_is_quoted_only_where_a_name_needs_it(tmp_path):
    assert copy_through(b'id,"a,b"," c"\n1,2,3\n', tmp_path) == b'id,"a,b"," c"\n1,2,3\n'
    writer = CsvWriter(tmp_path / "empty.csv")
    writer.close(["id", "a,b"])
    assert (tmp_path / "empty.csv").read_bytes() == b'id,"a,b"\n'


def test_what_is_written_reads_back_the_same(tmp_path):
    values = ["007", "", None, "a,b", 'q"x', "two\nlines", " lead", "trail\t", "é,ü", "1.50"]
    text = b"v,n\n" + b"".join(
        (b"" if v is None else ('"' + v.replace('"', '""') + '"').encode()) + b",1\n" for v in values
    )
    out = copy_through(text, tmp_path, chunk_rows=3)
    back = [v for c in read_csv_chunks(io.BytesIO(out), 1000, LIMITS) for v in c.frame["v"].tolist()]
    assert [None if isinstance(v, float) else v for v in back] == values


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_blocks_of_lines_keep_rows_and_errors_on_their_physical_lines(line_end):
    # 64-byte blocks of about 8 lines, in chunks of 5 rows: rows, bad lines and blank lines fall on
    # block and chunk edges.
    limits = ReadLimits(max_columns=50, max_line_bytes=64)
    lines, expected_rows, expected_errors = [b"a,b"], {}, []
    for n in range(2, 200):
        if n % 7 == 0:
            lines.append(b"bad%d" % n)  # one field short
            expected_errors.append(n)
        elif n % 11 == 0:
            lines.append(b"")
            expected_errors.append(n)
        else:
            lines.append(b"r%d,%d" % (n, n))
            expected_rows[n] = f"r{n}"
    body = line_end.join(lines) + line_end
    rows, errors = {}, []
    for chunk in read_csv_chunks(io.BytesIO(body), 5, limits):
        rows.update({int(line): a for line, a in zip(chunk.lines, chunk.frame["a"], strict=True)})
        errors += sorted(line for line, _ in chunk.errors)  # the batch loop sorts each chunk's
    assert rows == expected_rows
    assert errors == expected_errors  # so the errors file is in line order


def test_a_line_longer_than_the_limit_is_named():
    limits = ReadLimits(max_columns=50, max_line_bytes=64)
    body = b"a,b\n1,2\n3,4\n5," + b"x" * 100 + b"\n7,8\n"
    with pytest.raises(pa.ArrowInvalid, match="line 4 is longer than 64 bytes"):
        list(read_csv_chunks(io.BytesIO(body), 1000, limits))
    # control: a line of exactly the limit is read
    body = b"a,b\n5," + b"x" * 62 + b"\n7,8\n"
    assert sum(len(c.frame) for c in read_csv_chunks(io.BytesIO(body), 1000, limits)) == 2


class Counting(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.most = 0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.most = max(self.most, self.tell())
        return data


def test_csv_chunks_read_no_further_than_the_block_being_scored():
    # pyarrow's streaming reader read up to 32 blocks ahead: a file under that was held whole.
    limits = ReadLimits(max_columns=50, max_line_bytes=1 << 16)
    stream = Counting(b"a,b\n" + b"".join(b"r%d,%d\n" % (i, i) for i in range(500_000)))
    chunks = read_csv_chunks(stream, 1000, limits)
    next(chunks)
    assert stream.most <= 3 << 16
    assert sum(len(c.frame) for c in chunks) == 500_000 - 1000


# ---------------------------------------------------------------------------- the batch scoring loop
@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"age": rng.integers(18, 80, 200).astype(float), "charges": rng.uniform(10, 100, 200)})
    y = (x["charges"] > 50).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, y), num_boost_round=3)
    schema = FeatureSchema(names=["age", "charges"], types=["float", "float"])
    metadata = {"objective": "binary:logistic", "classes": [0, 1]}
    return LoadedModel(model="m", version="v1", booster=booster, metadata=metadata, schema=schema)


def test_batch_csv_output_has_the_input_columns_as_written_then_the_predictions(loaded, tmp_path):
    text = (
        b"id,age,charges,city\n"
        b"007,16,37.69,Paris\n"  # 2
        b"008,x,40,Lyon\n"  # 3: not a number
        b"009,30\n"  # 4: a field short
        b'010,41,99.5,"Saint-Denis, 93"\n'  # 5
    )
    result = score_chunks(formats.CSV.chunks(io.BytesIO(text), 1000, LIMITS), formats.CSV, loaded, tmp_path)
    assert (result.rows_total, result.rows_scored, result.rows_failed) == (4, 2, 2)
    out = result.output_path.read_bytes().decode().splitlines()
    assert out[0] == "id,age,charges,city,prediction,probability_0,probability_1"
    assert re.fullmatch(r"007,16,37\.69,Paris,[01],[0-9.e-]+,[0-9.e-]+", out[1])
    assert re.fullmatch(r'010,41,99\.5,"Saint-Denis, 93",[01],[0-9.e-]+,[0-9.e-]+', out[2])
    assert len(out) == 3
    errors = list(csv.reader(io.StringIO(result.errors_path.read_text())))
    assert [row[0] for row in errors] == ["line", "3", "4"]
    assert "'x' is not a number" in errors[1][1] and "expected 4 fields, found 2" in errors[2][1]
