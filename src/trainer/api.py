"""The trainer's HTTP API (Flask app factory; served by gunicorn, see trainer/gunicorn_conf.py).

    POST /models/<model>/train            train: a CSV / JSON-lines body, or JSON {"dataset": "s3://…", …}
    GET  /models                          models with their latest version
    GET  /models/<model>/versions         versions, newest first, with metrics
    GET  /models/<model>/versions/<v>     one version's full metadata
    GET  /models/<model>/aliases          {"aliases": {"live": "<v>", "candidate": "<v>", …}}
    PUT  /models/<model>/aliases/<alias>  {"version": "<v>"}: point an alias at a version (promote by hand)
    DELETE /models/<model>/aliases/<alias>  remove an alias (not `live`)
    GET  /models/<model>/aliases/<alias>/history  the alias's moves, newest first
    POST /models/<model>/rollback         move `live` back: to {"version": "<v>"}, else one move back
    GET  /training-jobs/<job_id>          a job's status record
    GET  /health, /ready, /openapi.json

A trained version becomes `candidate`, and `live` through the promotion gate (trainer/promotion.py).
Training runs within the request while the dataset fits the synchronous budget (rows, bytes,
seconds: FML_SYNC_TRAIN_*); beyond it the job goes through the train queue and the answer is
202 with the job id.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from flask import Blueprint, Flask, Response, current_app, g, request

from fmlcore.core.aws import AwsClients, error_code, is_access_denied, is_not_found
from fmlcore.core.errors import Conflict, InvalidInput, NotFound
from fmlcore.core.layout import (
    API_UPLOADS_PREFIX,
    LIVE,
    RESERVED_PREFIX,
    parse_s3_uri,
    validate_alias,
    validate_model_name,
)
from fmlcore.core.logs import bind
from fmlcore.core.settings import Settings
from fmlcore.jobs.events import JobEvents
from fmlcore.jobs.message import InputRef, JobMessage
from fmlcore.jobs.options import options_from_text
from fmlcore.jobs.status import QUEUED, JobRecord, StatusStore
from fmlcore.ml import formats
from fmlcore.ml.model_store import ModelStore
from fmlcore.web.http import create_service_app, json_body, json_response
from trainer.openapi import SPEC
from trainer.service import TrainingService
from trainer.training import BudgetExceeded

log = logging.getLogger("fml.trainer.api")
bp = Blueprint("trainer", __name__)

JOB_ID_RE = re.compile(r"^train-[0-9a-f]{32}$")


class TrainerApp:
    """What the routes need, built once per process."""

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.s3 = clients.s3
        self.sqs = clients.sqs
        models_bucket = settings.require("models_bucket")
        self.store = ModelStore.from_settings(clients.s3, settings)
        statuses = StatusStore(clients.s3, models_bucket)
        events = JobEvents.from_settings(settings, clients)
        self.service = TrainingService(settings, clients.s3, self.store, statuses, events=events)
        self.jobs = self.service.jobs


def ctx() -> TrainerApp:
    return current_app.extensions["fml"]


# ---------------------------------------------------------------------------- training
@bp.post("/models/<model>/train")
def train_model(model: str) -> Response:
    validate_model_name(model)
    app = ctx()
    content_type = (request.mimetype or "").lower()
    if content_type == "application/json":
        body = json_body()
        uri = body.pop("dataset", None)
        version = body.pop("dataset_version", None)
        if not uri or not isinstance(uri, str):
            raise InvalidInput('the JSON body needs "dataset": "s3://bucket/key"', {"fields": sorted(body)})
        if version is not None and not isinstance(version, str):
            raise InvalidInput('"dataset_version" must be a string (an S3 VersionId)')
        bucket, key = _own_dataset(app, model, uri)
        options = body
        ref, frame, size = _s3_dataset(app, bucket, key, version or None)
    else:
        fmt = formats.for_content_type(request.content_type)
        options = options_from_text("train", dict(request.args))
        data = request.get_data(cache=False)
        if not data:
            raise InvalidInput("the request body is empty: send the dataset as CSV or JSON lines")
        ref = _store_upload(app, model, data, fmt.extension)
        size = len(data)
        frame = fmt.read_table(data) if size <= app.settings.sync_train_max_bytes else None

    job = JobMessage.new("train", model, ref, options, source="api", job_id=f"train-{uuid.uuid4().hex}")
    with bind(job_id=job.job_id, model=model):
        if frame is None or len(frame) > app.settings.sync_train_max_rows or options.get("engine") == "dask":
            if options.get("engine") == "dask":
                reason = "engine=dask trains on the Dask cluster, through the train queue"
            elif frame is None:
                reason = f"dataset of {size} bytes is over the synchronous budget"
            else:
                reason = f"{len(frame)} rows are over the synchronous budget of {app.settings.sync_train_max_rows}"
            return _enqueue(app, job, reason)
        record = app.jobs.start_sync(job)
        deadline = time.monotonic() + app.settings.sync_train_max_seconds
        try:
            result = app.service.train(job, frame=frame, deadline=deadline)
        except BudgetExceeded as exc:
            return _enqueue(app, job, str(exc), record)
        except Exception as exc:  # the record must not stay `running`: nothing else would finish it
            app.jobs.fail(record, exc)
            raise
        try:
            app.service.succeed(record, result)
        except (BotoCoreError, ClientError) as exc:
            # The model is stored: say so. The record still says running; reading it after the
            # budget settles it from the models bucket (TrainingService.settle_if_abandoned).
            log.error(
                "model stored, but its job status could not be written: %s", exc, extra={"version": result.version}
            )
        return json_response(result.to_dict(), 201, {"Location": f"/models/{model}/versions/{result.version}"})


def _own_dataset(app: TrainerApp, model: str, uri: str) -> tuple[str, str]:
    """(bucket, key) of a `dataset` option, which may only name the model's own data: the
    datasets bucket under `<model>/` (never another bucket, another model's data, or the
    platform's `_`-prefixed keys such as `_api/` uploads)."""
    bucket, key = parse_s3_uri(uri)
    datasets = app.settings.require("datasets_bucket")
    if bucket != datasets or not key.startswith(f"{model}/") or key.startswith(RESERVED_PREFIX):
        raise InvalidInput(
            f'"dataset" must be an object of this model in the datasets bucket: s3://{datasets}/{model}/<file>',
            {"dataset": uri[:300], "expected_prefix": f"s3://{datasets}/{model}/"},
        )
    return bucket, key


def _s3_dataset(app: TrainerApp, bucket: str, key: str, version: str | None):
    """(input ref, frame or None when over the byte budget, size) of a dataset already in S3."""
    kwargs = {"VersionId": version} if version else {}
    try:
        head = app.s3.head_object(Bucket=bucket, Key=key, **kwargs)
    except ParamValidationError as exc:
        raise InvalidInput(f"s3://{bucket}/{key} is not a valid S3 location", {"dataset": key}) from exc
    except ClientError as exc:
        if is_not_found(exc) or is_access_denied(exc) or error_code(exc) == "403":
            raise InvalidInput(
                f"dataset s3://{bucket}/{key} cannot be read ({error_code(exc)})", {"dataset": key}
            ) from exc
        raise
    ref = InputRef(bucket, key, head.get("VersionId") or version)
    size = int(head.get("ContentLength") or 0)
    if size > app.settings.sync_train_max_bytes:
        return ref, None, size
    return ref, app.service.read_dataset(ref), size


def _store_upload(app: TrainerApp, model: str, data: bytes, ext: str) -> InputRef:
    """Keep an inline dataset in the datasets bucket, so the model's provenance points at real data."""
    bucket = app.settings.require("datasets_bucket")
    key = f"{API_UPLOADS_PREFIX}{model}/{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}{ext}"
    resp = app.s3.put_object(Bucket=bucket, Key=key, Body=data)
    return InputRef(bucket, key, resp.get("VersionId"))


def _enqueue(app: TrainerApp, job: JobMessage, reason: str, record: JobRecord | None = None) -> Response:
    record = app.jobs.queue(record, reason) if record is not None else app.jobs.accept(job)
    try:
        app.sqs.send_message(QueueUrl=app.settings.require("train_queue_url"), MessageBody=job.to_json())
    except Exception as exc:  # no message, no worker: the record must say the job did not start
        app.jobs.fail(record, exc, note="could not be queued")
        raise
    log.info("training queued: %s", reason)
    body = {
        "job_id": job.job_id,
        "state": QUEUED,
        "reason": reason,
        "status_url": f"/training-jobs/{job.job_id}",
        "dataset": {"uri": f"s3://{job.input.bucket}/{job.input.key}", "version_id": job.input.version_id},
    }
    return json_response(body, 202, {"Location": body["status_url"]})


# ---------------------------------------------------------------------------- models
@bp.get("/models")
def list_models() -> Response:
    return json_response({"models": ctx().store.list_models()})


@bp.get("/models/<model>/versions")
def list_versions(model: str) -> Response:
    validate_model_name(model)
    limit = _int_arg("limit", 50, 1, 1000)
    return json_response({"model": model, "versions": ctx().store.list_versions(model, limit=limit)})


@bp.get("/models/<model>/versions/<version>")
def get_version(model: str, version: str) -> Response:
    validate_model_name(model)
    return json_response(ctx().store.describe(model, version))


@bp.get("/models/<model>/aliases")
def list_aliases(model: str) -> Response:
    store = ctx().store
    store.latest_version(validate_model_name(model))  # 404 for a model with no version
    return json_response({"model": model, "aliases": store.aliases.all(model)})


@bp.put("/models/<model>/aliases/<alias>")
def move_alias(model: str, alias: str) -> Response:
    validate_model_name(model)
    validate_alias(alias)
    body = json_body()
    version, reason = body.get("version"), body.get("reason", "moved by hand")
    if not isinstance(version, str) or not version:
        raise InvalidInput('the JSON body needs "version": the model version the alias should point at')
    if not isinstance(reason, str) or len(reason) > 500:
        raise InvalidInput('"reason" must be a string of at most 500 characters')
    moved = ctx().store.move_alias(model, alias, version, _by_request(), reason)
    return json_response(moved.to_dict())


@bp.delete("/models/<model>/aliases/<alias>")
def remove_alias(model: str, alias: str) -> Response:
    validate_model_name(model)
    if validate_alias(alias) == LIVE:
        raise Conflict("alias live cannot be removed, only moved (PUT it, or POST /rollback)", {"alias": alias})
    removed = ctx().store.aliases.remove(model, alias)
    log.info("alias removed", extra={"model": model, "alias": alias, "version": removed.version})
    return json_response({"model": model, "alias": alias, "removed": True, "version": removed.version})


@bp.get("/models/<model>/aliases/<alias>/history")
def alias_history(model: str, alias: str) -> Response:
    validate_model_name(model)
    validate_alias(alias)
    limit = _int_arg("limit", 50, 1, 1000)
    return json_response({"model": model, "alias": alias, "history": ctx().store.aliases.history(model, alias, limit)})


@bp.post("/models/<model>/rollback")
def rollback(model: str) -> Response:
    """Move `live` back: to the version named, else to the version it pointed at before."""
    validate_model_name(model)
    body = json_body() if request.get_data(cache=True) else {}
    version = body.get("version")
    if version is not None and (not isinstance(version, str) or not version):
        raise InvalidInput('"version" must be a model version id (or leave it out to go back one move)')
    store = ctx().store
    live = store.aliases.get(model, LIVE)
    if version is None:
        if live is None or not live.previous_version:
            raise Conflict(f"model {model!r} has no earlier live version to roll back to", {"model": model})
        version = live.previous_version
    moved = store.move_alias(model, LIVE, version, _by_request(), f"rollback to {version}", expected=live)
    return json_response(moved.to_dict())


def _by_request() -> dict[str, str]:
    return {"request_id": g.get("request_id") or "", "source": "api"}


@bp.get("/training-jobs/<job_id>")
def get_job(job_id: str) -> Response:
    if not JOB_ID_RE.match(job_id):
        raise NotFound(f"no job {job_id!r}", {"job_id": job_id})
    app = ctx()
    return json_response(app.service.settle_if_abandoned(app.jobs.require(job_id)).to_dict())


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(f"query parameter {name} must be a whole number from {low} to {high}")
    return int(raw)


# ---------------------------------------------------------------------------- factory
def create_app(settings: Settings | None = None, clients: AwsClients | None = None) -> Flask:
    return create_service_app("trainer", settings, clients, TrainerApp, bp, SPEC, ("models_bucket", "datasets_bucket"))
