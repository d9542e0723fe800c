"""Job options come from one declaration: the string parser, the typed check, the OpenAPI
schema and the README table all agree with it."""

from __future__ import annotations

import pytest

from fmlcore.core.errors import InvalidInput
from fmlcore.jobs.options import OPTION_KEYS, checked, markdown_table, openapi_properties, options_from_text
from tests.conftest import ROOT
from trainer.openapi import SPEC


def test_the_readme_table_is_the_declaration():
    assert markdown_table() in (ROOT / "README.md").read_text()


def test_the_openapi_document_lists_every_declared_training_option():
    body = SPEC["paths"]["/models/{model}/train"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert OPTION_KEYS["train"] <= set(body["properties"])
    query = {p["name"] for p in SPEC["paths"]["/models/{model}/train"]["post"]["parameters"] if p["in"] == "query"}
    assert query == OPTION_KEYS["train"]
    assert openapi_properties("train")["num_boost_round"] == {
        "type": "integer",
        "description": "boosting rounds at most",
        "minimum": 1,
        "maximum": 10_000,
        "default": 500,
    }


@pytest.mark.parametrize("raw", ["id;notes", "id notes", "id,notes", " id ; notes "])
def test_ignore_columns_parse_the_same_from_metadata_and_from_json(raw):
    # One parser: what `aws s3 cp --metadata ignore_columns=...` and a JSON string give is the same.
    from_metadata = checked("train", options_from_text("train", {"ignore_columns": raw}))
    from_json = checked("train", {"ignore_columns": raw})
    assert from_metadata["ignore_columns"] == from_json["ignore_columns"] == ("id", "notes")
    assert checked("train", {"ignore_columns": ["id", "notes"]})["ignore_columns"] == ("id", "notes")


def test_checked_fills_defaults_and_refuses_out_of_bounds_values():
    values = checked("train", {"num_boost_round": 10})
    assert values["num_boost_round"] == 10 and values["validation_fraction"] == 0.2 and values["target"] == "label"
    for bad, problem in [
        ({"num_boost_round": 0}, "from 1 to 10000"),
        ({"validation_fraction": True}, "validation_fraction must be a number"),
        ({"target": 3}, "target must be a string"),
        ({"ignore_columns": [["nested"]]}, "list of column names"),
        ({"tagret": "y"}, "unknown train option"),
    ]:
        with pytest.raises(InvalidInput, match=problem):
            checked("train", bad)


def test_text_values_are_typed_by_their_declaration():
    assert options_from_text("predict", {"Model-Version": "abc"}) == {"model_version": "abc"}
    assert options_from_text("train", {"early_stopping_rounds": "5"}) == {"early_stopping_rounds": 5}
    with pytest.raises(InvalidInput, match="unknown predict option"):
        options_from_text("predict", {"target": "y"})
