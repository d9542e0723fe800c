"""Flask plumbing shared by the trainer and predictor services.

- every error is JSON `{"error": {"type", "message", "details"}}` with the status code
  from `fmlcore.core.errors.http_status_for` (the one mapping);
- a request id (the caller's `X-Request-Id`, else a new one) is bound to every log line
  and echoed in the response;
- `MAX_CONTENT_LENGTH` enforces the body limit (413, JSON);
- `/health` (process up), `/ready` (its buckets reachable), `/openapi.json`, and `/metrics`
  (Prometheus; every request is counted and timed by its route pattern, fmlcore.web.metrics);
- JSON is read and written with orjson, falling back to the standard library for whatever orjson
  refuses or could read differently, so bodies mean what they always meant.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, Flask, Response, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from fmlcore.core.aws import AwsClients, is_access_denied, is_transient
from fmlcore.core.errors import FmlError, InvalidInput, PayloadTooLarge, PermissionDenied, http_status_for
from fmlcore.core.logs import configure_logging, pop, push
from fmlcore.core.settings import Settings
from fmlcore.web import metrics

log = logging.getLogger("fml.http")


# numpy numbers as numbers; datetimes and dataclasses through `default=str`, as json.dumps writes them.
DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# orjson reads an integer beyond 64 bits as a float, json as an int: a body with a run of 19 digits goes
# to json. (Found as a run of "0" once every digit is a "0": far quicker than a regular expression.)
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19


def json_dumps(payload: Any) -> bytes:
    """`json.dumps(payload, default=str)` as UTF-8, by orjson: NaN and infinities are written as null
    (valid JSON); what orjson refuses (non-string keys, integers beyond 64 bits) goes to json.dumps."""
    try:
        return orjson.dumps(payload, default=str, option=DUMPS_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(payload, default=str).encode()


def json_loads(raw: bytes) -> Any:
    """`json.loads(raw)`, by orjson where the two agree; anything else (invalid JSON included, so its
    error message, NaN literals, lone surrogates, UTF-16, huge integers) is json.loads's."""
    if isinstance(raw, bytes | bytearray) and _LONG_DIGITS not in raw.translate(_DIGITS_AS_ZEROS):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json_dumps(payload), status=status, mimetype="application/json", headers=headers)


def error_response(error_type: str, message: str, status: int, details: dict | None = None) -> Response:
    body = {"error": {"type": error_type, "message": message, "details": details or {}}}
    if getattr(g, "request_id", None):
        body["error"]["request_id"] = g.request_id
    return json_response(body, status)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or InvalidInput saying what is wrong with it."""
    raw = request.get_data(cache=True)
    if not raw:
        raise InvalidInput("the request body is empty")
    try:
        data = json_loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput("malformed JSON: nested too deeply") from exc
    if not isinstance(data, dict):
        raise InvalidInput("the JSON body must be an object", {"got": type(data).__name__})
    return data


def register_common(
    app: Flask, max_body_bytes: int, ready_check: Callable[[], dict[str, Any]], openapi: dict[str, Any]
) -> None:
    """Error mapping, request ids, body limit, request metrics, /health, /ready, /openapi.json and
    /metrics on `app` (its name is the `service` label of the request metrics)."""
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes

    @app.before_request
    def _start() -> None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        g.started = time.perf_counter()
        g.log_token = push(request_id=g.request_id)
        length = request.content_length
        if length is not None and length > max_body_bytes:
            raise PayloadTooLarge(
                f"request body of {length} bytes is over the {max_body_bytes}-byte limit",
                {"limit": max_body_bytes},
            )

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        log.info("%s %s %s", request.method, request.path, response.status_code, extra={"ms": round(seconds * 1000, 2)})
        metrics.observe_request(app.name, request.url_rule, request.method, response.status_code, seconds)
        return response

    @app.teardown_request
    def _teardown(_exc) -> None:
        token = g.pop("log_token", None)
        if token is not None:
            pop(token)

    @app.errorhandler(FmlError)
    def _fml_error(exc: FmlError) -> Response:
        status = http_status_for(exc)
        if status >= 500:
            log.error("request failed: %s", exc.message, extra={"error_type": exc.type})
        return error_response(exc.type, exc.message, status, exc.details)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response:
        return error_response(
            "PayloadTooLarge", f"request body is over the {max_body_bytes}-byte limit", 413, {"limit": max_body_bytes}
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        names = {404: "NotFound", 405: "MethodNotAllowed"}
        return error_response(
            names.get(exc.code or 500, type(exc).__name__), exc.description or exc.name, exc.code or 500
        )

    @app.errorhandler(BotoCoreError)
    @app.errorhandler(ClientError)
    def _aws_error(exc: Exception) -> Response:
        if isinstance(exc, ClientError) and is_access_denied(exc):
            denied = PermissionDenied.from_client_error(exc)
            log.error("request failed: %s", denied.message, extra={"error_type": denied.type})
            return error_response(denied.type, denied.message, denied.http_status, denied.details)
        if is_transient(exc):
            log.warning("AWS unavailable: %s", exc)
            return error_response("TransientError", "a storage or queue service is unavailable; retry later", 503)
        log.exception("AWS call failed")
        return error_response("InternalError", "internal error; see the service log for this request id", 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response("InternalError", "internal error; see the service log for this request id", 500)

    probes = Blueprint("probes", __name__)

    @probes.get("/health")
    def health() -> Response:
        return json_response({"status": "ok"})

    @probes.get("/ready")
    def ready() -> Response:
        checks = ready_check()
        ok = all(v == "ok" for v in checks.values())
        return json_response({"status": "ready" if ok else "not ready", "checks": checks}, 200 if ok else 503)

    @probes.get("/openapi.json")
    def openapi_json() -> Response:
        return json_response(openapi)

    @probes.get("/metrics")
    def prometheus_metrics() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    app.register_blueprint(probes)


def bucket_checks(s3: Any, buckets: dict[str, str]) -> dict[str, str]:
    """'ok' per bucket that answers head_bucket, else the error (for /ready)."""
    checks = {}
    for name, bucket in buckets.items():
        try:
            s3.head_bucket(Bucket=bucket)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return checks


def create_service_app(
    name: str,
    settings: Settings | None,
    clients: AwsClients | None,
    make_context: Callable[[Settings, AwsClients], Any],
    blueprint: Blueprint,
    openapi: dict[str, Any],
    buckets: tuple[str, ...],
) -> Flask:
    """A service's Flask app: settings (from the environment unless given), JSON logs, clients
    under the process's role, its routes' context in `app.extensions["fml"]`, the common
    plumbing, and /ready checking the `buckets` settings (e.g. "models_bucket")."""
    settings = settings or Settings.from_env(os.environ)
    configure_logging(settings.log_level)
    clients = clients or AwsClients(settings)
    clients.log_identity()
    app = Flask(name)
    app.extensions["fml"] = make_context(settings, clients)
    checked = {b.removesuffix("_bucket"): settings.require(b) for b in buckets}
    register_common(app, settings.max_body_bytes, lambda: bucket_checks(clients.s3, checked), openapi)
    app.register_blueprint(blueprint)
    return app
