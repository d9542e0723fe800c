"""The predictor's HTTP API (Flask app factory; served by gunicorn, see predictor/gunicorn_conf.py).

    POST /models/<model>/predict      JSON {"instances": [[…]]} or {"records": [{…}]}, or a text/csv body;
                                      `version` (query or JSON) pins a model version, else the latest
    GET  /predictions/<prediction_id> a stored online prediction (inputs, outputs, model version)
    GET  /prediction-jobs/<job_id>    a batch job's status record
    GET  /health, /ready, /openapi.json

Every prediction is stored before it is returned, so a returned prediction_id is always
retrievable.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, g, request

from fmlcore.core.aws import AwsClients
from fmlcore.core.errors import InvalidInput, NotFound, UnsupportedMediaType
from fmlcore.core.layout import validate_model_name
from fmlcore.core.settings import Settings
from fmlcore.jobs.options import flag
from fmlcore.jobs.status import StatusStore
from fmlcore.ml import formats
from fmlcore.ml.model_store import ModelStore
from fmlcore.web.http import create_service_app, json_body, json_response
from predictor import online
from predictor.openapi import SPEC
from predictor.scoring import (
    check_csv_shape,
    contributions,
    matrix_from_csv,
    matrix_from_instances,
    matrix_from_records,
    predict,
)

bp = Blueprint("predictor", __name__)
JOB_ID_RE = re.compile(r"^predict-[0-9a-f]{32}$")
JSON_KEYS = {"instances", "records", "version", "explain"}


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
        )
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
    explain = flag("explain", request.args.get("explain"))
    mimetype = (request.mimetype or "").lower()
    if mimetype == "application/json":
        body = json_body()
        unknown = sorted(set(body) - JSON_KEYS)
        given = [k for k in ("instances", "records") if k in body]
        if unknown or len(given) != 1:
            raise InvalidInput(
                'the JSON body needs exactly one of "instances" or "records" (and optionally "version")',
                {"unknown": unknown, "given": given},
            )
        version = body.get("version") or version
        if "explain" in body:
            explain = flag("explain", body["explain"])
        if version is not None and not isinstance(version, str):
            raise InvalidInput('"version" must be a string (a model version id)')
        loaded = app.store.load(model, version)
        if given[0] == "instances":
            features = matrix_from_instances(loaded, body["instances"], app.settings.max_predict_rows)
        else:
            features = matrix_from_records(loaded, body["records"], app.settings.max_predict_rows)
        input_format = given[0]
    elif mimetype in formats.CSV.content_types:
        check_csv_shape(raw, app.settings.max_predict_rows, app.settings.max_columns)
        loaded = app.store.load(model, version)
        features = matrix_from_csv(loaded, raw, app.settings.max_predict_rows, app.settings.max_columns)
        input_format = "csv"
    else:
        raise UnsupportedMediaType(
            f"unsupported content type {mimetype or '(none)'!r}: use application/json or text/csv",
            {"content_type": mimetype},
        )
    scores = predict(loaded, features)
    predictions = scores.records()
    if explain:
        for prediction, contribution in zip(predictions, contributions(loaded, features), strict=True):
            prediction["contributions"] = contribution

    sha256 = hashlib.sha256(raw).hexdigest()
    request_id = g.get("request_id")

    def line(prediction_id: str) -> dict:
        at = datetime.now(UTC)
        return online.line_of(
            prediction_id, model, loaded.version, at, input_format, raw, sha256, predictions, request_id
        )

    prediction_id, stored_uri = app.predictions.store(model, line)
    return json_response(
        {
            "prediction_id": prediction_id,
            "model": model,
            "model_version": loaded.version,
            "predictions": predictions,
            "stored_uri": stored_uri,
        }
    )


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
