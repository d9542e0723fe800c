"""S3 ObjectCreated → job message on SQS, with a `queued` status record.

The handler is thin: it reads settings and clients once per container and hands each event
to `enqueue_event`, which receives everything it uses.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from fmlcore.core.aws import AwsClients, is_not_found
from fmlcore.core.errors import InvalidInput
from fmlcore.core.layout import RESERVED_PREFIX, data_extension, model_from_key
from fmlcore.core.logs import bind
from fmlcore.core.settings import Settings
from fmlcore.jobs.events import JobEvents
from fmlcore.jobs.lifecycle import JobLifecycle
from fmlcore.jobs.message import InputRef, JobMessage, job_id_for_event
from fmlcore.jobs.options import options_from_text
from fmlcore.jobs.status import QUEUED, StatusStore
from lambdas.runtime import warm

log = logging.getLogger("fml.enqueue")


def enqueue_event(
    event: dict[str, Any], *, kind: str, queue_url: str, s3: Any, sqs: Any, jobs: JobLifecycle
) -> dict[str, list]:
    """Turn every S3 record of `event` into a job; returns what was enqueued, skipped and failed."""
    summary: dict[str, list] = {"enqueued": [], "skipped": [], "failed": []}
    if event.get("Event") == "s3:TestEvent":
        log.info("skipping s3:TestEvent", extra={"bucket": event.get("Bucket")})
        summary["skipped"].append({"reason": "s3:TestEvent"})
        return summary
    records = event.get("Records")
    if not isinstance(records, list):
        log.warning("skipping event of unknown shape", extra={"keys": sorted(event)[:10]})
        summary["skipped"].append({"reason": "unknown event shape"})
        return summary
    for record in records:
        try:
            outcome, detail = _enqueue_record(record, kind=kind, queue_url=queue_url, s3=s3, sqs=sqs, jobs=jobs)
        except (KeyError, TypeError, AttributeError) as exc:  # a record of an unknown shape: skip it, go on
            outcome, detail = _skip(f"malformed record ({type(exc).__name__}: {exc})")
        summary[outcome].append(detail)
    return summary


def _skip(reason: str, **fields: Any) -> tuple[str, dict]:
    log.info("skipping record: %s", reason, extra=fields)
    return "skipped", {"reason": reason, **fields}


def _enqueue_record(
    record: dict[str, Any], *, kind: str, queue_url: str, s3: Any, sqs: Any, jobs: JobLifecycle
) -> tuple[str, dict]:
    s3_part = record.get("s3") if isinstance(record, dict) else None
    if not isinstance(s3_part, dict) or record.get("eventSource") != "aws:s3":
        return _skip("not an S3 record")
    if not str(record.get("eventName", "")).startswith("ObjectCreated"):
        return _skip("not an ObjectCreated event", event=record.get("eventName"))
    bucket = s3_part["bucket"]["name"]
    obj = s3_part["object"]
    key = unquote_plus(obj["key"])
    if key.endswith("/"):
        return _skip("folder marker", bucket=bucket, key=key)
    if key.startswith(RESERVED_PREFIX):
        return _skip("reserved prefix (status records, API uploads)", bucket=bucket, key=key)
    try:
        model = model_from_key(key)
        data_extension(key)
    except InvalidInput as exc:
        return _skip(exc.message, bucket=bucket, key=key)

    version_id = obj.get("versionId")
    job_id = job_id_for_event(kind, bucket, key, version_id, obj.get("sequencer"))
    with bind(job_id=job_id, model=model, bucket=bucket, key=key, version_id=version_id):
        existing = jobs.get(job_id)
        if existing is not None and existing.state != QUEUED:
            return _skip(f"duplicate event: job already {existing.state}", job_id=job_id)
        try:
            head = s3.head_object(Bucket=bucket, Key=key, **({"VersionId": version_id} if version_id else {}))
        except ClientError as exc:
            if is_not_found(exc):
                return _skip("object no longer exists", job_id=job_id)
            raise
        ref = InputRef(bucket=bucket, key=key, version_id=version_id or head.get("VersionId"))
        try:
            options = options_from_text(kind, head.get("Metadata", {}))
            msg = JobMessage.new(kind, model, ref, options, source="s3", job_id=job_id)
        except InvalidInput as exc:
            msg = JobMessage(job_id=job_id, kind=kind, model=model, input=ref, source="s3")
            jobs.reject(msg, exc.to_dict(), note="rejected on arrival")
            log.warning("job rejected: %s", exc.message)
            return "failed", {"job_id": job_id, "error": exc.message}
        if existing is None:
            jobs.accept(msg)
        sqs.send_message(QueueUrl=queue_url, MessageBody=msg.to_json())
        log.info("job enqueued", extra={"kind": kind, "options": msg.options})
        return "enqueued", {"job_id": job_id, "model": model, "key": key}


_runtime: dict[str, Any] = {}


def _build(settings: Settings, clients: AwsClients) -> dict[str, Any]:
    """The keyword arguments of `enqueue_event` this function's settings fix."""
    return {
        "kind": settings.require("job_kind"),
        "queue_url": settings.require("queue_url"),
        "s3": clients.s3,
        "sqs": clients.sqs,
        "jobs": JobLifecycle(
            StatusStore(clients.s3, settings.require("status_bucket")), JobEvents.from_settings(settings, clients)
        ),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, list]:
    runtime = warm(_runtime, _build)
    request_id = getattr(context, "aws_request_id", None)
    with bind(request_id=request_id):
        return enqueue_event(event, **runtime)
