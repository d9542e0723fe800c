"""Dead letters → job statuses: the SQS-triggered function on the job queues' dead-letter
queues and on the enqueue functions' failure queue (logic in fmlcore.jobs.dead_letters).

A message it cannot record for a transient reason is reported back (ReportBatchItemFailures)
and delivered again; one it cannot read at all is logged and dropped.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fmlcore.core.aws import AwsClients
from fmlcore.core.errors import FmlError
from fmlcore.core.logs import bind
from fmlcore.core.settings import Settings
from fmlcore.jobs.dead_letters import record_dead_job, record_enqueue_failure
from fmlcore.jobs.events import JobEvents
from fmlcore.jobs.lifecycle import JobLifecycle
from fmlcore.jobs.status import StatusStore
from lambdas.runtime import warm

log = logging.getLogger("fml.dead_letter")

_runtime: dict[str, Any] = {}


def _build(settings: Settings, clients: AwsClients) -> dict[str, Any]:
    """The status lifecycles of both job kinds, and which bucket makes which kind."""
    events = JobEvents.from_settings(settings, clients)
    return {
        "jobs": {
            "train": JobLifecycle(StatusStore(clients.s3, settings.require("models_bucket")), events),
            "predict": JobLifecycle(StatusStore(clients.s3, settings.require("predictions_bucket")), events),
        },
        "kinds": {settings.require("datasets_bucket"): "train", settings.require("inference_bucket"): "predict"},
    }


def handle_records(records: list[dict[str, Any]], jobs: dict, kinds: dict) -> list[dict[str, str]]:
    """Record every dead letter; returns the batch item failures (to be delivered again)."""
    failures = []
    for message in records:
        message_id = message.get("messageId", "?")
        with bind(message_id=message_id, queue=str(message.get("eventSourceARN", "")).rsplit(":", 1)[-1]):
            try:
                data = json.loads(message.get("body") or "")
                if isinstance(data, dict) and "requestPayload" in data:
                    record_enqueue_failure(data, kinds, jobs)
                else:
                    record_dead_job(message["body"], jobs)
            except (ValueError, FmlError) as exc:  # not a job message: nothing to record
                log.warning("dropping a dead letter that is no job message: %s", exc)
            except (BotoCoreError, ClientError) as exc:
                log.warning("could not record the dead letter; it will be delivered again: %s", exc)
                failures.append({"itemIdentifier": message_id})
    return failures


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    runtime = warm(_runtime, _build)
    with bind(request_id=getattr(context, "aws_request_id", None)):
        failures = handle_records(event.get("Records") or [], runtime["jobs"], runtime["kinds"])
    return {"batchItemFailures": failures}
