"""One FIFO message, top to bottom: envelope -> schema -> idempotency claim -> ledger ->
(READY) the platform store and the archive.

- valid for its type's schema: READY in the ledger; ``persist_event`` into the store
  (conflicts, follow-ups, claim checks as for the bus) and one Firehose record; acknowledged.
- invalid, or no schema for its type: INVALID with the reason; acknowledged, never retried.
- unreadable envelope (not JSON, a required field missing): no tenant to file it under, so
  it is sent to the DLQ with the reason as a message attribute; acknowledged.
- a redelivery or duplicate of a recorded message: the ledger is unchanged; READY ones are
  persisted again (a duplicate there, so a no-op); acknowledged.
- refused by DynamoDB's limits (a number it cannot hold, nesting deeper than 32): sent to the
  DLQ with the reason (the ledger may already say READY: the store could not take it).
- a transient AWS error: raised, so the message and the rest of its group return to the queue.

The store gets an EventBridge-shaped event built from the envelope (``to_platform_event``), so
every front door ends in the same items.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kahula_core import spec
from kahula_core.batch import ArchiveLineTooLargeError
from kahula_core.clients import ClientFactory, boto3_clients
from kahula_core.errors import ConfigurationError, MalformedEventError
from kahula_core.persist import Outcome, Pipeline, build_pipeline, persist_event, utc_now
from kahula_core.settings import Settings

from .ledger import IdempotencyStore, LedgerEntry, TenantLedger, now_seconds
from .message import QueueMessage, UnreadableMessageError, parse_message
from .schemas import SchemaRegistry

READY, INVALID, UNREADABLE, REFUSED = "READY", "INVALID", "UNREADABLE", "REFUSED"
#: uuid5 namespace of the EventBridge-style ids given to queue events (stable per message).
QUEUE_EVENT_NAMESPACE = uuid.UUID("6f1c4f0e-7d35-5b8e-a0f4-2f6b1d7c9e31")
DEFAULT_SOURCE_PREFIX = "tenant."


@dataclass(frozen=True)
class Received:
    """What the consumer needs of one SQS record."""

    message_id: str
    body: str
    group_id: str
    receive_count: int = 1

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Received:
        attributes = record.get("attributes") or {}
        return cls(
            message_id=str(record.get("messageId", "")),
            body=str(record.get("body", "")),
            group_id=str(attributes.get("MessageGroupId") or "unknown"),
            receive_count=int(attributes.get("ApproximateReceiveCount") or 1),
        )


@dataclass
class Result:
    status: str  # READY | INVALID | UNREADABLE | REFUSED
    recorded: bool = False  # this attempt wrote the ledger entry (False: it was there)
    reason: str | None = None
    tenant_id: str | None = None
    event_id: str | None = None
    outcome: Outcome | None = None
    #: False when the message went to the DLQ without its reason (no room under SQS's size
    #: limit): the log line is then the only place the reason is kept.
    reason_on_dead_letter: bool = True


class DeadLetters:
    """Unreadable messages to the FIFO DLQ, with the reason as a message attribute."""

    def __init__(self, *, sqs: Callable[[], Any], queue_url: str) -> None:
        self._client = sqs
        self.queue_url = queue_url

    def send(self, received: Received, reason: str) -> bool:
        """Send the message to the DLQ with the reason; False when the body leaves no room for
        it under SQS's message size (body and attributes count together): the message is
        kept without it, and the caller logs the reason instead."""
        body = received.body or "(empty body)"
        reason_attribute = {"reason": {"DataType": "String", "StringValue": reason[:1024]}}
        source = {"source_message_id": {"DataType": "String", "StringValue": received.message_id}}
        # The reason and the source id if they fit, else the source id alone, else nothing:
        # the body is never cut (it is what an operator redrives).
        attributes: dict[str, Any] = {}
        for candidate in ({**reason_attribute, **source}, source):
            if _message_bytes(body, candidate) <= spec.SQS_MAX_MESSAGE_BYTES:
                attributes = candidate
                break
        self._client().send_message(
            QueueUrl=self.queue_url,
            MessageBody=body,
            MessageGroupId=received.group_id,
            MessageDeduplicationId=received.message_id[:128] or uuid.uuid4().hex,
            **({"MessageAttributes": attributes} if attributes else {}),
        )
        return "reason" in attributes


def _message_bytes(body: str, attributes: Mapping[str, Mapping[str, str]]) -> int:
    """What SQS counts against its limit: the body, and each attribute's name, type and value."""
    return len(body.encode("utf-8")) + sum(
        len(name.encode("utf-8"))
        + len(value["DataType"].encode("utf-8"))
        + len(value["StringValue"].encode("utf-8"))
        for name, value in attributes.items()
    )


class Archive:
    """READY events to the archive's Firehose stream, in the bus archive's line format."""

    def __init__(self, *, firehose: Callable[[], Any], stream_name: str) -> None:
        self._client = firehose
        self.stream_name = stream_name

    @staticmethod
    def line(event: Mapping[str, Any]) -> bytes:
        return json.dumps(event, separators=(",", ":"), default=str).encode("utf-8")

    def check(self, event: Mapping[str, Any]) -> None:
        """ArchiveLineTooLargeError when Firehose would refuse the event's line."""
        size = len(self.line(event))
        if size > spec.FIREHOSE_MAX_RECORD_BYTES:
            raise ArchiveLineTooLargeError(
                f"the event is {size} bytes as an archive line, over Firehose's record limit "
                f"of {spec.FIREHOSE_MAX_RECORD_BYTES} bytes: it could never be archived"
            )

    def put(self, event: Mapping[str, Any]) -> None:
        data = self.line(event)
        self._client().put_record(DeliveryStreamName=self.stream_name, Record={"Data": data})


@dataclass
class Consumer:
    pipeline: Pipeline
    schemas: SchemaRegistry
    idempotency: IdempotencyStore
    ledger: TenantLedger
    dead_letters: DeadLetters
    archive: Archive
    routes: Mapping[str, str] = field(default_factory=dict)
    default_route: str | None = None
    source_prefix: str = DEFAULT_SOURCE_PREFIX
    clock: Callable[[], str] = utc_now

    @property
    def settings(self) -> Settings:
        return self.pipeline.settings


def _set_path(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = document
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def platform_event_id(message: QueueMessage) -> str:
    """The store's unique_id for a queue event: event ids are unique per tenant only."""
    return f"{message.tenant_id}#{message.event_id}"


def to_platform_event(
    message: QueueMessage, *, created_at: str, route: str | None, consumer: Consumer
) -> dict[str, Any]:
    """The EventBridge-shaped event the store and the archive get for a READY message.

    source ``{source_prefix}{tenant_id}``, detail-type the event type, time its created_at,
    detail ``{"payload": <payload>, "metadata": {...}}`` with ``tenant_id#event_id`` at the
    contract's event-id path; nothing in it changes between deliveries of one message.
    """
    metadata: dict[str, Any] = {
        "tenant_id": message.tenant_id,
        "event_id_in_tenant": message.event_id,
    }
    if route is not None:
        metadata["route"] = route
    event: dict[str, Any] = {
        "version": "0",
        "id": str(uuid.uuid5(QUEUE_EVENT_NAMESPACE, platform_event_id(message))),
        "detail-type": message.event_type,
        "source": f"{consumer.source_prefix}{message.tenant_id}",
        "time": created_at,
        "resources": [],
        "detail": {"payload": message.payload, "metadata": metadata},
    }
    _set_path(event, consumer.settings.event_id_path, platform_event_id(message))
    return event


def process_message(received: Received, consumer: Consumer) -> Result:
    """Record one message in its tenant's ledger exactly once; persist it if READY.

    Raises only what is worth retrying (AWS errors): the batch processor then returns the
    message, and the rest of its group, to the queue.
    """
    try:
        message = parse_message(received.body)
    except UnreadableMessageError as exc:
        attached = consumer.dead_letters.send(received, str(exc))
        return Result(UNREADABLE, reason=str(exc), reason_on_dead_letter=attached)
    try:
        return _record(received, message, consumer)
    except MalformedEventError as exc:
        # Retrying cannot help: keep the message, with the reason, on the DLQ.
        reason = f"refused: {exc}"
        attached = consumer.dead_letters.send(received, reason)
        return Result(
            REFUSED,
            reason=reason,
            tenant_id=message.tenant_id,
            event_id=message.event_id,
            reason_on_dead_letter=attached,
        )


def _record(received: Received, message: QueueMessage, consumer: Consumer) -> Result:
    verdict = consumer.schemas.validate(message.event_type, message.payload)
    status = READY if verdict.valid else INVALID
    route = message.route or consumer.routes.get(message.event_type) or consumer.default_route
    now = message.created_at or consumer.clock()
    if status == READY:
        # Before any write: the line's size does not depend on the claim's created_at (the
        # canonical time is fixed width), and Firehose would refuse it after the writes.
        consumer.archive.check(
            to_platform_event(message, created_at=now, route=route, consumer=consumer)
        )
    claim = consumer.idempotency.claim(
        message.tenant_id,
        message.event_id,
        message.event_type,
        now,
    )
    entry = LedgerEntry(
        tenant_id=message.tenant_id,
        event_id=message.event_id,
        event_type=message.event_type,
        status=status,
        created_at=claim.created_at,
        payload=message.payload,
        retries=max(received.receive_count - 1, 0),
        route=route,
        reason=verdict.reason,
        schema_version=verdict.schema_version,
    )
    recorded = consumer.ledger.record(entry)
    result = Result(
        status,
        recorded=bool(recorded),
        reason=verdict.reason,
        tenant_id=message.tenant_id,
        event_id=message.event_id,
    )
    if status == READY and not recorded and recorded.existing_status == INVALID:
        # The ledger's entry stands: the store never holds an event its ledger calls INVALID.
        result.status = INVALID
        result.reason = (
            "event id already recorded INVALID for this tenant; a later message cannot change "
            "it (send the corrected event under a new event_id)"
        )
        return result
    if status == READY:
        # Also on a duplicate: the attempt that wrote the ledger may have crashed before this;
        # the store's conditional put makes the second write a no-op.
        event = to_platform_event(
            message, created_at=claim.created_at, route=route, consumer=consumer
        )
        result.outcome = persist_event(event, consumer.pipeline)
        if result.recorded or result.outcome.write.value == "persisted":
            consumer.archive.put(event)
    return result


def _days(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(
            f"environment variable {name} must be a whole number of days"
        ) from None
    if value < 0:
        raise ConfigurationError(f"environment variable {name} must be 0 or more, got {value}")
    return value


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def decode_routes(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        routes = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"environment variable ROUTES is not JSON: {exc}") from None
    if not isinstance(routes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in routes.items()
    ):
        raise ConfigurationError("environment variable ROUTES must map event types to names")
    return routes


def build_consumer(
    environ: Mapping[str, str], client_factory: ClientFactory = boto3_clients
) -> Consumer:
    """Wire the consumer from its function's environment (spec.Env + spec.QueueEnv)."""
    env = spec.QueueEnv
    dynamodb = client_factory("dynamodb")
    pipeline = build_pipeline(environ, client_factory)
    return Consumer(
        pipeline=pipeline,
        schemas=SchemaRegistry(),
        idempotency=IdempotencyStore(
            dynamodb=dynamodb,
            table_name=_required(environ, env.IDEMPOTENCY_TABLE),
            ttl_days=_days(environ, env.IDEMPOTENCY_TTL_DAYS, 7),
            clock=now_seconds,
        ),
        ledger=TenantLedger(
            dynamodb=dynamodb,
            table_name=_required(environ, env.LEDGER_TABLE),
            ttl_days=_days(environ, env.EVENTS_TTL_DAYS, 0),
            clock=now_seconds,
            payloads=pipeline.payloads,
        ),
        dead_letters=DeadLetters(
            sqs=client_factory("sqs"), queue_url=_required(environ, env.DEAD_LETTER_QUEUE_URL)
        ),
        archive=Archive(
            firehose=client_factory("firehose"),
            stream_name=_required(environ, env.ARCHIVE_STREAM),
        ),
        routes=decode_routes(environ.get(env.ROUTES)),
        default_route=environ.get(env.DEFAULT_ROUTE, "").strip() or None,
        source_prefix=environ.get(env.EVENT_SOURCE_PREFIX, "").strip() or DEFAULT_SOURCE_PREFIX,
    )
