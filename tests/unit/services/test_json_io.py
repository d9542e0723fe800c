"""Request and response JSON through orjson mean what they meant through the json module."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest
from flask import Flask

from fmlcore.core.errors import InvalidInput
from fmlcore.web.http import json_body, json_dumps, json_loads, json_response

APP = Flask("test")


def body_of(raw: bytes, content_type: str = "application/json"):
    with APP.test_request_context("/", method="POST", data=raw, content_type=content_type):
        return json_body()


def stdlib_error(raw: bytes) -> str:
    try:
        json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"malformed JSON: {exc}"
    raise AssertionError("expected json.loads to fail")


def random_numbers(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25))).lstrip("0") or "0"
        cut = rng.randint(1, len(digits))
        text = digits[:cut] + ("." + digits[cut:] if cut < len(digits) else "")
        if rng.random() < 0.3:
            text += f"e{rng.randint(-340, 280)}"
        out.append(("-" if rng.random() < 0.5 else "") + text)
    return out


def test_numbers_parse_exactly_as_json_loads_does():
    raw = ("[" + ",".join(random_numbers(random.Random(7), 20_000)) + "]").encode()
    ours, theirs = json_loads(raw), json.loads(raw)
    assert [(type(v), repr(v)) for v in ours] == [(type(v), repr(v)) for v in theirs]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"records": [{"a": 1.5, "b": "caf\\u00e9", "c": null, "d": true}]}',
        '{"a": "été ✓"}'.encode(),
        b'{"big": 18446744073709551616, "small": -9223372036854775809, "max": 18446744073709551615}',
        b'{"a": NaN, "b": Infinity, "c": -Infinity}',  # json.loads reads these literals; orjson does not
        b'{"a": 1e400}',  # json.loads: inf
        b'{"s": "\\ud800"}',  # a lone surrogate
        b'\xef\xbb\xbf{"bom": 1}',
        '{"utf16": 1}'.encode("utf-16"),
        b'{"a": 1, "a": 2}',
        b" \n\t{}\r\n",
    ],
)
def test_bodies_parse_as_json_loads_parses_them(raw):
    ours, theirs = json_loads(raw), json.loads(raw)
    assert repr(ours) == repr(theirs) and type(ours) is type(theirs)


@pytest.mark.parametrize("raw", [b"{nope", b'{"a": 1,}', b"[1] x", b'{"a": "\xff"}', b'"\x01"', b"{'a': 1}"])
def test_malformed_json_is_the_same_invalid_input(raw):
    with pytest.raises(InvalidInput) as err:
        body_of(raw)
    assert err.value.message == stdlib_error(raw)
    assert err.value.message.startswith("malformed JSON")


def test_deep_nesting_and_non_objects_are_refused_as_before():
    with pytest.raises(InvalidInput, match="nested too deeply"):
        body_of(b'{"records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with pytest.raises(InvalidInput, match="must be an object") as err:
        body_of(b"[1, 2]")
    assert err.value.details == {"got": "list"}
    with pytest.raises(InvalidInput, match="empty"):
        body_of(b"")
    assert body_of(b'{"records": [{"x": 1}]}') == {"records": [{"x": 1}]}


@dataclass
class Point:
    x: int


def test_responses_hold_what_json_dumps_wrote():
    payload = {
        "prediction": 1,
        "probabilities": {"0": 0.25, "1": 0.75},
        "text": "été ✓",
        "nested": [1, 2.5, None, True, {"k": "v"}],
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # through default=str, as before
        "point": Point(3),
        "set": {1},
        "tuple": (1, 2),
    }
    response = json_response(payload, 201, {"Location": "/x"})
    assert response.status_code == 201 and response.headers["Location"] == "/x"
    assert response.mimetype == "application/json" and response.content_type == "application/json"
    assert json.loads(response.get_data()) == json.loads(json.dumps(payload, default=str))


def test_numpy_numbers_are_numbers():
    payload = {"f64": np.float64(0.1), "f32": np.float32(0.5), "i64": np.int64(7), "row": np.array([1.5, 2.0])}
    assert json.loads(json_dumps(payload)) == {"f64": 0.1, "f32": 0.5, "i64": 7, "row": [1.5, 2.0]}


def test_nan_and_infinity_are_written_as_null_so_the_body_stays_valid_json():
    raw = json_dumps({"nan": math.nan, "inf": math.inf, "np": np.float64("nan")})
    assert json.loads(raw, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}")) == {
        "nan": None,
        "inf": None,
        "np": None,
    }


def test_what_orjson_refuses_is_written_by_json_dumps():
    payload = {1: "int key", None: "none key", "big": 2**70}
    assert json_dumps(payload) == json.dumps(payload, default=str).encode()
