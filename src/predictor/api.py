"""The predictor's HTTP API (Flask app factory; served by gunicorn, see predictor/gunicorn_conf.py).

    POST /models/<model>/predict      JSON {"instances": [[…]]} or {"records": [{…}]}, or a text/csv body;
                                      served by alias `live`; `alias` or `version` (query or JSON) choose
                                      another; `explain` adds TreeSHAP contributions
    GET  /models/<model>/shadow-report  live against `shadow` over the stored online predictions
    GET  /predictions/<prediction_id> a stored online prediction (inputs, outputs, model version)
    GET  /prediction-jobs/<job_id>    a batch job's status record
    GET  /health, /ready, /openapi.json

Every prediction is stored before it is returned, so a returned prediction_id is always
retrievable.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, g, request

from fmlcore.core.aws import AwsClients
from fmlcore.core.errors import FmlError, InvalidInput, NotFound, UnsupportedMediaType
from fmlcore.core.layout import LIVE, SHADOW, validate_alias, validate_model_name
from fmlcore.core.settings import Settings
from fmlcore.jobs.options import flag
from fmlcore.jobs.status import StatusStore
from fmlcore.ml import formats
from fmlcore.ml.model_store import LoadedModel, ModelStore
from fmlcore.web.http import create_service_app, json_body, json_response
from fmlcore.web.metrics import GROUP_COMMIT_SIZE, PREDICT_ROWS, ServedVersions
from predictor import online, shadow
from predictor.openapi import SPEC
from predictor.scoring import (
    check_csv_shape,
    contributions,
    matrix_from_csv,
    matrix_from_instances,
    matrix_from_records,
    predict,
)

log = logging.getLogger("fml.predictor.api")
bp = Blueprint("predictor", __name__)
JOB_ID_RE = re.compile(r"^predict-[0-9a-f]{32}$")
JSON_KEYS = {"instances", "records", "version", "alias", "explain"}


class PredictorApp:
    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.s3 = clients.s3
        self.store = ModelStore.from_settings(clients.s3, settings, nthread=settings.api_xgb_nthread)
        predictions_bucket = settings.require("predictions_bucket")
        self.predictions = online.PredictionLog(
            clients.s3,
            predictions_bucket,
            window_seconds=settings.capture_window_ms / 1000,
            max_lines=settings.capture_max_lines,
            on_commit=GROUP_COMMIT_SIZE.observe,
        )
        self.served = ServedVersions()  # fml_model_version_served
        self.statuses = StatusStore(clients.s3, predictions_bucket)


def ctx() -> PredictorApp:
    return current_app.extensions["fml"]


@bp.post("/models/<model>/predict")
def predict_route(model: str) -> Response:
    validate_model_name(model)
    app = ctx()
    raw = request.get_data(cache=True)
    if not raw:
        raise InvalidInput("the request body is empty: send JSON instances/records or CSV rows")
    version = request.args.get("version") or None
    alias = request.args.get("alias") or None
    explain = flag("explain", request.args.get("explain"))
    mimetype = (request.mimetype or "").lower()
    body = None
    if mimetype == "application/json":
        body = json_body()
        unknown = sorted(set(body) - JSON_KEYS)
        given = [k for k in ("instances", "records") if k in body]
        if unknown or len(given) != 1:
            raise InvalidInput(
                'the JSON body needs exactly one of "instances" or "records" (and optionally "version", "alias", '
                '"explain")',
                {"unknown": unknown, "given": given},
            )
        version = body.get("version") or version
        alias = body.get("alias") or alias
        if "explain" in body:
            explain = flag("explain", body["explain"])
        for name, value in (("version", version), ("alias", alias)):
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f'"{name}" must be a string')
        input_format = given[0]
    elif mimetype in formats.CSV.content_types:
        check_csv_shape(raw, app.settings.max_predict_rows, app.settings.max_columns)
        input_format = "csv"
    else:
        raise UnsupportedMediaType(
            f"unsupported content type {mimetype or '(none)'!r}: use application/json or text/csv",
            {"content_type": mimetype},
        )
    if alias is not None:
        validate_alias(alias)
    loaded = app.store.load(model, version, alias)
    served_alias = None if version else (alias or LIVE)
    features = _features(app, loaded, input_format, body, raw)
    scores = predict(loaded, features)
    predictions = scores.records()
    PREDICT_ROWS.labels(model).inc(len(predictions))
    if served_alias:
        app.served.served(model, served_alias, loaded.version)
    if explain:
        for prediction, contribution in zip(predictions, contributions(loaded, features), strict=True):
            prediction["contributions"] = contribution
    shadowed = _shadow(app, model, loaded, served_alias, input_format, body, raw)

    sha256 = hashlib.sha256(raw).hexdigest()
    request_id = g.get("request_id")

    def line(prediction_id: str) -> dict:
        at = datetime.now(UTC)
        return online.line_of(
            prediction_id, model, loaded.version, at, input_format, raw, sha256, predictions, request_id,
            alias=served_alias, shadow=shadowed,
        )  # fmt: skip

    prediction_id, stored_uri = app.predictions.store(model, line)
    out = {
        "prediction_id": prediction_id,
        "model": model,
        "model_version": loaded.version,
        "predictions": predictions,
        "stored_uri": stored_uri,
    }
    if served_alias:
        out["alias"] = served_alias
    return json_response(out)


def _features(app: PredictorApp, loaded: LoadedModel, input_format: str, body: dict | None, raw: bytes):
    """The request's rows as `loaded`'s feature matrix."""
    limit = app.settings.max_predict_rows
    if input_format == "instances":
        return matrix_from_instances(loaded, body["instances"], limit)
    if input_format == "records":
        return matrix_from_records(loaded, body["records"], limit)
    return matrix_from_csv(loaded, raw, limit, app.settings.max_columns)


def _shadow(
    app: PredictorApp, model: str, live: LoadedModel, served_alias: str | None, input_format: str,
    body: dict | None, raw: bytes,
) -> dict | None:  # fmt: skip
    """The `shadow` version's outputs for a request served by `live`, for a share of requests;
    its failure (it cannot read these rows, say) is recorded, never answered."""
    if served_alias != LIVE or app.settings.shadow_fraction <= 0 or random.random() >= app.settings.shadow_fraction:
        return None
    version = app.store.resolve(model, SHADOW)
    if version is None or version == live.version:
        return None
    try:
        other = app.store.load(model, version)
        predictions = predict(other, _features(app, other, input_format, body, raw)).records()
    except Exception as exc:
        log.warning("shadow scoring failed: %s", exc, extra={"shadow_version": version})
        message = exc.message if isinstance(exc, FmlError) else f"{type(exc).__name__}: {exc}"
        return {"model_version": version, "error": message[:500]}
    return {"model_version": version, "predictions": predictions}


@bp.get("/models/<model>/shadow-report")
def shadow_report(model: str) -> Response:
    validate_model_name(model)
    app = ctx()
    now = datetime.now(UTC)
    since = shadow.parse_since(request.args.get("since"), now)
    bucket = app.settings.require("predictions_bucket")
    return json_response(shadow.report(app.s3, bucket, model, since, now, app.settings.shadow_report_max_objects))


@bp.get("/predictions/<prediction_id>")
def get_prediction(prediction_id: str) -> Response:
    return json_response(ctx().predictions.get(prediction_id))


@bp.get("/prediction-jobs/<job_id>")
def get_job(job_id: str) -> Response:
    if not JOB_ID_RE.match(job_id):
        raise NotFound(f"no prediction job {job_id!r}", {"job_id": job_id})
    return json_response(ctx().statuses.require(job_id).to_dict())


def create_app(settings: Settings | None = None, clients: AwsClients | None = None) -> Flask:
    return create_service_app(
        "predictor", settings, clients, PredictorApp, bp, SPEC, ("models_bucket", "predictions_bucket")
    )
