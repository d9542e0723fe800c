"""Completion events: every job that ends publishes one event, carrying its status record, to
the stack's SNS topic (docs/contracts.md, "Completion events").

A job ends `succeeded`, `failed` or `dead_lettered`; the lifecycle (the one writer of status
records) calls `JobEvents.ended` right after it has written that record, so an event never
announces a state the record does not hold. Subscribers (a queue, a Lambda, an e-mail address)
filter on the message attributes `kind`, `model` and `state`.

Delivery is at least once and best effort after the record: a duplicate (a redelivered dead
letter, a retried publish) carries the same `event_id`; if SNS stays unreachable through
botocore's retries, the event is lost, the error is logged with the job id, and the status
record, the source of truth, is unchanged.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from fmlcore.core.aws import AwsClients
    from fmlcore.core.settings import Settings
    from fmlcore.jobs.status import JobRecord

log = logging.getLogger("fml.events")

EVENT_TYPE = "fargate-ml.job.ended"
SCHEMA_VERSION = 1
# SNS takes messages up to 256 KiB, attributes included; a record over this loses its history.
MAX_MESSAGE_BYTES = 250_000


def event_for(record: JobRecord, status_uri: str) -> dict[str, Any]:
    """The event of an ended job: who, what, how it ended, and its whole status record."""
    body = record.to_dict()
    event = {
        "type": EVENT_TYPE,
        "schema_version": SCHEMA_VERSION,
        # The same job ending the same way at the same moment is the same event (dedupe on it).
        "event_id": f"{record.job_id}/{record.state}/{record.updated_at}",
        "job_id": record.job_id,
        "kind": record.kind,
        "model": record.model,
        "state": record.state,
        "at": record.finished_at or record.updated_at,
        "status_uri": status_uri,
        "record": body,
    }
    if len(encode(event)) > MAX_MESSAGE_BYTES:
        event["record"] = {**body, "history": []}
        event["record_truncated"] = "history left out (over SNS's message size); the status record holds it"
    return event


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), default=str).encode()


def attributes(event: dict[str, Any]) -> dict[str, dict[str, str]]:
    """SNS message attributes subscription filter policies can match."""
    return {name: {"DataType": "String", "StringValue": str(event[name])} for name in ("kind", "model", "state")}


class JobEvents:
    """Publishes the events of ended jobs to `topic_arn` (nothing when it is None)."""

    def __init__(self, sns: Any, topic_arn: str | None) -> None:
        self.sns = sns
        self.topic_arn = topic_arn

    @classmethod
    def from_settings(cls, settings: Settings, clients: AwsClients) -> JobEvents:
        topic = settings.events_topic_arn
        return cls(clients.sns if topic else None, topic)

    def ended(self, record: JobRecord, status_uri: str) -> dict[str, Any] | None:
        """Publish `record`'s event; returns it (None when no topic is configured or publishing failed)."""
        if self.topic_arn is None:
            return None
        event = event_for(record, status_uri)
        try:
            reply = self.sns.publish(
                TopicArn=self.topic_arn,
                Message=encode(event).decode(),
                Subject=f"fargate-ml {record.kind} job {record.state}: {record.model}"[:100],
                MessageAttributes=attributes(event),
            )
        except (BotoCoreError, ClientError) as exc:
            log.error("job event not published: %s", exc, extra={"job_id": record.job_id, "state": record.state})
            return None
        log.info(
            "job event published",
            extra={"job_id": record.job_id, "state": record.state, "sns_message_id": reply.get("MessageId")},
        )
        return event
