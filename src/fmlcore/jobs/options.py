"""Job options, declared once: each is a field with its type, bounds, default and meaning
(the way `fmlcore.core.settings.Settings` declares settings). From this declaration come:

- the parser of string values (S3 user metadata, the trainer API's query string):
  `options_from_text`;
- the check of typed values (a JSON body, a job message): `checked`;
- the set of keys each job kind accepts (`OPTION_KEYS`, used by the job message);
- the JSON schema of the options in the trainer's OpenAPI document: `openapi_properties`;
- the options table of the README: `markdown_table` (a unit test keeps the README equal to it).

Lambda-safe (standard library only): the enqueue function parses options on arrival.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from fmlcore.core.errors import InvalidInput

STRING, INTEGER, NUMBER, OBJECT, LIST, BOOL = "string", "integer", "number", "object", "list", "boolean"


def _option(help: str, default: Any = None, type: str = STRING, low: float | None = None,
            high: float | None = None, shown_default: str | None = None,
            choices: tuple[str, ...] | None = None):  # fmt: skip
    """Declare an option: its meaning, default, type, (for numbers) inclusive bounds and (for
    strings) the values it may take."""
    kwargs = {"default_factory": tuple} if default == () else {"default": default}
    meta = {"help": help, "type": type, "low": low, "high": high, "shown_default": shown_default, "choices": choices}
    return field(metadata=meta, **kwargs)


PARAMS_HELP = (
    "JSON object of XGBoost params, merged over `tree_method=hist, max_depth=6, eta=0.1, seed=42`; size-like "
    "ones bounded (`max_depth` 1-20, `max_bin` 2-1024, `num_parallel_tree` 1-20, `max_leaves` ≤ 65536, rates "
    "0-1), `tree_method` hist/approx/auto, `device` cpu; `nthread`, `num_class`, `updater`, `process_type` are "
    "the platform's; unknown names are rejected"
)


ENGINES = ("single", "dask")
PROMOTE_MODES = ("gate", "always", "never")
# Each metric the gate can compare, and whether higher is better.
PROMOTE_METRICS = ("auc", "logloss", "accuracy", "rmse", "mae", "r2")
HIGHER_IS_BETTER = frozenset({"auc", "accuracy", "r2"})


@dataclass(frozen=True)
class TrainJobOptions:
    target: str = _option("the label column", "label")
    objective: str | None = _option("an XGBoost objective", shown_default="inferred from the target")
    params: Mapping[str, Any] | None = _option(PARAMS_HELP, None, OBJECT, shown_default="{}")
    num_boost_round: int = _option("boosting rounds at most", 500, INTEGER, 1, 10_000)
    early_stopping_rounds: int = _option(
        "stop after this many rounds without improvement on the holdout", 20, INTEGER, 1, 10_000
    )
    validation_fraction: float = _option(
        "share of rows held out for early stopping and metrics", 0.2, NUMBER, 0.05, 0.5
    )
    ignore_columns: tuple[str, ...] = _option(
        "columns not to train on (ids, free text): a list, or one string separated by `,` `;` or spaces",
        (),
        LIST,
        shown_default="none",
    )
    engine: str | None = _option(
        "`single`: one task (the dataset streamed from local disk); `dask`: XGBoost on the Dask cluster, partitions "
        "read from S3 by its workers",
        choices=ENGINES,
        shown_default="`single`; `dask` from `FML_DASK_MIN_BYTES`",
    )
    promote: str = _option(
        "`gate`: the new version becomes `live` if no worse than the live one on both reference sets (its "
        "holdout and live's); `always`; `never` (it stays a `candidate`)",
        "gate",
        choices=PROMOTE_MODES,
    )
    promote_metric: str | None = _option(
        "the metric the gate compares",
        choices=PROMOTE_METRICS,
        shown_default="`auc` (binary), `logloss` (multiclass), `rmse` (regression)",
    )
    promote_tolerance: float = _option(
        "how much worse than live the candidate may score and still be promoted", 0.0, NUMBER, 0, 1_000_000
    )


@dataclass(frozen=True)
class PredictJobOptions:
    model_version: str | None = _option("score with this model version (S3 VersionId)", shown_default="alias `live`")
    alias: str | None = _option("score with the version this alias points at", shown_default="`live`")
    explain: bool = _option(
        "add `contribution_<feature>` and `contribution_bias` columns (multiclass: `contribution_<class>_<feature>`): "
        "exact TreeSHAP in margin space",
        False,
        BOOL,
        shown_default="`false`",
    )
    split: bool = _option(
        "a file over `FML_BATCH_SPLIT_BYTES` is scored in parts by several workers (`false`: by one worker)",
        True,
        BOOL,
        shown_default="`true`",
    )


DECLARATIONS: dict[str, type] = {"train": TrainJobOptions, "predict": PredictJobOptions}
OPTION_KEYS = {kind: frozenset(f.name for f in fields(cls)) for kind, cls in DECLARATIONS.items()}


def _fields(kind: str) -> dict[str, Any]:
    return {f.name: f for f in fields(DECLARATIONS[kind])}


def _default(f: Any) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


def split_columns(raw: str) -> list[str]:
    """Column names from one string: `aws s3 cp --metadata a=b,c=d` splits on commas, so ';' and spaces separate too."""
    return [c for c in re.split(r"[,;\s]+", raw) if c]


def flag(name: str, value: Any) -> bool:
    """A true/false option from JSON (a bool) or text (true/false, 1/0, yes/no; empty is false)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise InvalidInput(f"{name} must be true or false, not {value!r}", {"option": name})


# ---------------------------------------------------------------------------- strings (metadata, query)
def _from_text(name: str, type: str, raw: str) -> Any:
    if type == OBJECT:
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise InvalidInput(f"option {name} must be a JSON object: {exc}", {"option": name}) from exc
        if not isinstance(value, dict):
            raise InvalidInput(f"option {name} must be a JSON object", {"option": name, "got": raw})
        return value
    if type in (INTEGER, NUMBER):
        cast = int if type == INTEGER else float
        try:
            return cast(raw)
        except ValueError as exc:
            raise InvalidInput(f"option {name} must be a {cast.__name__}, not {raw!r}", {"option": name}) from exc
    if type == LIST:
        return split_columns(raw)
    if type == BOOL:
        return flag(name, raw)
    return raw


def _reject_unknown(kind: str, keys: set[str], where: str) -> None:
    unknown = sorted(keys - OPTION_KEYS[kind])
    if unknown:
        raise InvalidInput(
            f"unknown {kind} option(s){where}: {', '.join(unknown)}",
            {"unknown": unknown, "allowed": sorted(OPTION_KEYS[kind])},
        )


def options_from_text(kind: str, metadata: dict[str, str]) -> dict[str, Any]:
    """Job options from string values (S3 user metadata, a query string); unknown keys are an error."""
    lowered = {k.lower().replace("-", "_"): v for k, v in (metadata or {}).items()}
    _reject_unknown(kind, set(lowered), " in the object's metadata")
    declared = _fields(kind)
    return {name: _from_text(name, declared[name].metadata["type"], raw) for name, raw in lowered.items()}


# ---------------------------------------------------------------------------- typed values (JSON)
def _check(name: str, meta: dict[str, Any], value: Any) -> Any:
    type, low, high = meta["type"], meta["low"], meta["high"]
    if type in (INTEGER, NUMBER):
        kind = int if type == INTEGER else int | float
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            what = "a whole number" if type == INTEGER else "a number"
            raise InvalidInput(f"{name} must be {what} from {low} to {high}, not {value!r}", {"option": name})
        return value if type == INTEGER else float(value)
    if type == OBJECT:
        if not isinstance(value, dict):
            raise InvalidInput(f"{name} must be a JSON object", {name: value})
        return value
    if type == BOOL:
        return flag(name, value)
    if type == LIST:
        items = split_columns(value) if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(c, str | int) for c in items):
            raise InvalidInput(f"{name} must be a list of column names", {"option": name})
        return tuple(str(c) for c in items)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, not {value!r}", {"option": name})
    if meta["choices"] and value not in meta["choices"]:
        raise InvalidInput(
            f"{name} must be one of {', '.join(meta['choices'])}, not {value!r}",
            {"option": name, "allowed": list(meta["choices"])},
        )
    return value


def checked(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """Every declared option of `kind`, typed and within its bounds (defaults for the absent ones)."""
    _reject_unknown(kind, set(options), "")
    values = {}
    for name, f in _fields(kind).items():
        value = options.get(name)
        values[name] = _default(f) if value is None or value == "" else _check(name, f.metadata, value)
    return values


# ---------------------------------------------------------------------------- documents
_JSON_TYPES = {STRING: "string", INTEGER: "integer", NUMBER: "number", OBJECT: "object", LIST: "array", BOOL: "boolean"}


def openapi_properties(kind: str) -> dict[str, dict[str, Any]]:
    """The JSON schema of each option, for the OpenAPI document."""
    props = {}
    for name, f in _fields(kind).items():
        meta = f.metadata
        schema: dict[str, Any] = {"type": _JSON_TYPES[meta["type"]], "description": meta["help"]}
        if meta["type"] == LIST:
            schema = {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}],
                      "description": meta["help"]}  # fmt: skip
        if meta["low"] is not None:
            schema |= {"minimum": meta["low"], "maximum": meta["high"]}
        if meta["choices"]:
            schema["enum"] = list(meta["choices"])
        default = _default(f)
        if default not in (None, ()):
            schema["default"] = default
        props[name] = schema
    return props


def markdown_table() -> str:
    """The README's table of job options (kind, key, meaning, default)."""
    rows = ["| kind | metadata key | meaning | default |", "|---|---|---|---|"]
    for kind in DECLARATIONS:
        for name, f in _fields(kind).items():
            meta = f.metadata
            bounds = f" ({meta['low']:g} to {meta['high']:g})" if meta["low"] is not None else ""
            if meta["choices"]:
                bounds = " (" + ", ".join(f"`{c}`" for c in meta["choices"]) + ")"
            shown = meta["shown_default"] or f"`{_default(f)}`"
            rows.append(f"| {kind} | `{name}` | {meta['help']}{bounds} | {shown} |")
    return "\n".join(rows) + "\n"
