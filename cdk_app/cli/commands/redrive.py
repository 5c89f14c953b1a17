"""``kahula redrive QUEUE``: read a failure queue, show each message's reason, redrive the
retryable ones to where they were going, and leave the rest (and every conflict) for a person.

A redrive hands the message to the target that failed it, as that target would have got it:

* ``failed`` (the persister's on-failure records) and ``persister-undeliverable`` (its rule's
  DLQ): the original event, invoked asynchronously on the persister, so its EventBridge id,
  and so its identity, are kept (re-publishing would give it a new one). An event that is
  still malformed (checked with the installed core's contract) is kept, with the reason.
* ``archive-undeliverable``: the event, put on the archive's Firehose stream; an event whose
  archive line is over Firehose's 1,000 KiB record limit (EventBridge carries up to 1 MiB, so
  the rule could never deliver it) is written as its own gzipped object into the current hour
  partition, where Firehose would have put it and every archive reader looks.
* ``follow-ups-undeliverable``: the follow-up, sent to its type's queue.
* ``<type>-dlq`` (a follow-up consumer gave up): moved back to the type's queue.
* ``ingest-dlq`` (the FIFO door): moved back to the FIFO queue, in its tenant's group; an
  envelope the consumer could not read (it carries a ``reason``) is kept.
* ``conflicts``: never redriven: shown with the stored and the incoming payload hash.
* ``stream-malformed``, ``stream-failed``, ``outbox-dlq``: shown, with what to do by hand.

A message is deleted only after its redrive succeeded; one it keeps becomes visible again at
once. Messages are received first, then acted on, so a redriven event that fails again comes
back as a new message and is not retried in the same run.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from kahula_core import spec

from ... import stack_outputs as so
from ..context import State, Target, aws_errors, translate
from ..output import CliError, ExitCode, NotFoundError, Output, UsageError

#: SQS: at most 10 messages per receive, delete or visibility batch.
SQS_BATCH = 10
#: How long received messages stay invisible while this run acts on them.
VISIBILITY_SECONDS = 300


class Kind(Enum):
    ON_FAILURE = "the persister's on-failure records"
    TO_PERSISTER = "events the bus could not deliver to the persister"
    TO_ARCHIVE = "events the bus could not deliver to the archive's Firehose stream"
    TO_FOLLOW_UP_QUEUE = "follow-ups the bus could not deliver to their queue"
    CONSUMER_DLQ = "follow-ups a consumer failed 5 times"
    INGEST_DLQ = "FIFO door messages: unreadable, or received 5 times"
    CONFLICTS = "same unique_id, another payload: shown, never redriven"
    STREAM_MALFORMED = "Kinesis records that are not an event (shown)"
    STREAM_FAILED = "Kinesis batches whose retries ran out (shown: positions, not records)"
    OUTBOX = "aggregate-store batches the outbox pipe gave up on (shown)"


KINDS = {
    "failed": Kind.ON_FAILURE,
    "conflicts": Kind.CONFLICTS,
    "persister-undeliverable": Kind.TO_PERSISTER,
    "archive-undeliverable": Kind.TO_ARCHIVE,
    "follow-ups-undeliverable": Kind.TO_FOLLOW_UP_QUEUE,
    "ingest-dlq": Kind.INGEST_DLQ,
    "stream-malformed": Kind.STREAM_MALFORMED,
    "stream-failed": Kind.STREAM_FAILED,
    "outbox-dlq": Kind.OUTBOX,
}
assert set(KINDS) == set(so.OPERATOR_QUEUES)

QUEUES_HELP = "\n".join(
    f"  {name:<26}{kind.value}"
    for name, kind in [*KINDS.items(), ("<type>-dlq", Kind.CONSUMER_DLQ)]
)


def kind_of(name: str) -> Kind:
    return KINDS.get(name, Kind.CONSUMER_DLQ)


@dataclass
class Examined:
    """One message: what it is, why it is there, and what this run did with it."""

    message_id: str
    what: str
    reason: str
    action: str = "kept"  # redriven | would redrive | kept | failed
    why_kept: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    event: Any = None  # the event it holds, if any (for --export)

    def as_json(self) -> dict[str, Any]:
        out = {
            "message_id": self.message_id,
            "what": self.what,
            "reason": self.reason,
            "action": self.action,
        }
        if self.why_kept:
            out["why_kept"] = self.why_kept
        return out | self.facts


@dataclass
class Plan:
    examined: Examined
    redrive: Callable[[], None] | None  # None: not redrivable (examined.why_kept says why)


def _attribute(message: dict[str, Any], name: str) -> str:
    return str(message.get("MessageAttributes", {}).get(name, {}).get("StringValue", ""))


def _body(message: dict[str, Any]) -> Any:
    try:
        return json.loads(message["Body"])
    except (ValueError, TypeError):
        return message.get("Body")


def _describe(event: Any) -> str:
    if not isinstance(event, dict):
        return "not an event"
    return f"{event.get('detail-type')} from {event.get('source')} (id {event.get('id')})"


def still_malformed(event: Any, replay_source: str | None = None) -> str | None:
    """Why the persister would refuse ``event`` again (the installed core's contract, with
    its default paths), or None. A replayed event (under ``replay_source``) is judged as the
    persister judges it: by the original inside."""
    from kahula_core.envelope import parse_event  # noqa: PLC0415
    from kahula_core.errors import MalformedEventError  # noqa: PLC0415
    from kahula_core.record import build_record  # noqa: PLC0415
    from kahula_core.settings import Settings  # noqa: PLC0415

    try:
        build_record(parse_event(event, replay_source), Settings(), "")
    except (MalformedEventError, ValueError) as exc:
        return str(exc)
    return None


class Redriver:
    """Plans and performs the redrive of one queue's messages."""

    def __init__(self, target: Target, name: str, *, check: bool = True) -> None:
        self.target = target
        self.name = name
        self.kind = kind_of(name)
        self.check = check
        self.sqs = target.client("sqs")

    def plan(self, message: dict[str, Any]) -> Plan:
        body = _body(message)
        examined = Examined(message["MessageId"], "", "")
        handler = getattr(self, f"_plan_{self.kind.name.lower()}")
        return handler(message, body, examined)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ to the persister

    def _to_persister(self, event: Any, examined: Examined) -> Plan:
        if self.check:
            malformed = still_malformed(event, spec.replay_source(self.target.prefix))
            if malformed:
                examined.why_kept = f"still malformed: {malformed}"
                return Plan(examined, None)
        function = self.target.persister_function
        return Plan(examined, lambda: self.target.invoke_async(function, event))

    def _plan_on_failure(self, message: dict[str, Any], body: Any, examined: Examined) -> Plan:
        if not isinstance(body, dict) or "requestPayload" not in body:
            examined.what, examined.reason = "not an on-failure record", str(body)[:200]
            examined.why_kept = "not an on-failure record: nothing to redrive"
            return Plan(examined, None)
        event = examined.event = body["requestPayload"]
        response = body.get("responsePayload") or {}
        examined.what = _describe(event)
        examined.reason = f"{response.get('errorType')}: {response.get('errorMessage')}"
        context = body.get("requestContext") or {}
        examined.facts = {
            "condition": context.get("condition"),
            "attempts": context.get("approximateInvokeCount"),
        }
        return self._to_persister(event, examined)

    def _rule_dlq(self, message: dict[str, Any], body: Any, examined: Examined) -> None:
        examined.what = _describe(body)
        examined.event = body
        code, error = _attribute(message, "ERROR_CODE"), _attribute(message, "ERROR_MESSAGE")
        examined.reason = ": ".join(x for x in (code, error) if x) or "undeliverable"
        examined.facts = {"rule": _attribute(message, "RULE_ARN") or None}

    def _plan_to_persister(self, message: dict[str, Any], body: Any, examined: Examined) -> Plan:
        self._rule_dlq(message, body, examined)
        return self._to_persister(body, examined)

    def _plan_to_archive(self, message: dict[str, Any], body: Any, examined: Examined) -> Plan:
        self._rule_dlq(message, body, examined)
        stream = self.target.archive_stream
        data = json.dumps(body).encode("utf-8")
        if len(data) > spec.FIREHOSE_MAX_RECORD_BYTES:
            examined.facts["archive_line_bytes"] = len(data)
            return Plan(examined, lambda: self._archive_object(stream, message["MessageId"], data))
        firehose = self.target.client("firehose")

        def deliver() -> None:
            response = firehose.put_record_batch(
                DeliveryStreamName=stream, Records=[{"Data": data}]
            )
            if response.get("FailedPutCount"):
                (failed,) = response["RequestResponses"]
                raise CliError(f"Firehose refused it: {failed.get('ErrorCode')}")

        return Plan(examined, deliver)

    def _archive_object(self, stream: str, message_id: str, data: bytes) -> None:
        """One archive line too large for Firehose, as its own object in the hour partition
        Firehose writes now: gzipped, newline-terminated, named like Firehose's objects with
        the message id (so replay, DuckDB and Athena read it with the rest, and a person can
        trace it). Like Firehose's own delivery it is at least once: a redrive whose delete
        failed writes the line again later, which replay treats as the duplicate it is."""
        now = datetime.now(UTC)
        key = (
            f"{spec.archive_hour_prefix(now)}{stream}-redriven-{now:%Y-%m-%d-%H-%M-%S}-"
            f"{message_id}.gz"
        )
        self.target.client("s3").put_object(
            Bucket=self.target.archive_bucket,
            Key=key,
            Body=gzip.compress(data + b"\n"),
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
        )

    def _plan_to_follow_up_queue(
        self, message: dict[str, Any], body: Any, examined: Examined
    ) -> Plan:
        self._rule_dlq(message, body, examined)
        detail_type = body.get("detail-type") if isinstance(body, dict) else None
        url = self.target.outputs.get(so.follow_up_queue_url(str(detail_type)))
        if not url:
            examined.why_kept = f"no follow-up queue for detail type {detail_type}"
            return Plan(examined, None)
        return Plan(examined, lambda: self._send(url, message))

    # ------------------------------------------------------------------ back to a queue

    def _send(self, url: str, message: dict[str, Any], **fifo: str) -> None:
        attributes = {
            k: v
            for k, v in message.get("MessageAttributes", {}).items()
            if v.get("DataType", "").split(".")[0] in ("String", "Number")
        }
        kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": message["Body"], **fifo}
        if attributes:
            kwargs["MessageAttributes"] = attributes
        self.sqs.send_message(**kwargs)

    def _plan_consumer_dlq(self, message: dict[str, Any], body: Any, examined: Examined) -> Plan:
        examined.what = _describe(body)
        examined.event = body
        receives = message.get("Attributes", {}).get("ApproximateReceiveCount")
        examined.reason = "the consumer failed it (its receive limit was reached)"
        examined.facts = {"receives_here": receives}
        detail_type = next(
            (t for t in self.target.follow_up_types() if so.consumer_dlq_name(t) == self.name),
            None,
        )
        url = self.target.outputs.get(so.follow_up_queue_url(str(detail_type)))
        if not url:
            examined.why_kept = f"no source queue known for {self.name}"
            return Plan(examined, None)
        return Plan(examined, lambda: self._send(url, message))

    def _plan_ingest_dlq(self, message: dict[str, Any], body: Any, examined: Examined) -> Plan:
        tenant = body.get("tenant_id") if isinstance(body, dict) else None
        event_id = body.get("event_id") if isinstance(body, dict) else None
        examined.what = f"tenant {tenant}, event {event_id}"
        unreadable = _attribute(message, "reason")
        if unreadable:
            examined.reason = unreadable
            examined.why_kept = "unreadable envelope: fix the producer and send it again"
            return Plan(examined, None)
        examined.reason = "received too many times (the consumer kept failing it)"
        group = message.get("Attributes", {}).get("MessageGroupId") or tenant
        if not group:
            examined.why_kept = "no message group (tenant) to send it back under"
            return Plan(examined, None)
        url = self.target.ingest_queue_url
        return Plan(
            examined,
            lambda: self._send(
                url,
                message,
                MessageGroupId=str(group),
                MessageDeduplicationId=f"redrive-{message['MessageId']}",
            ),
        )

    # ------------------------------------------------------------------ shown only

    def _plan_conflicts(self, message: dict[str, Any], body: Any, examined: Examined) -> Plan:
        body = body if isinstance(body, dict) else {}
        stored, incoming = body.get("stored_payload_hash"), body.get("incoming_payload_hash")
        examined.what = f"unique_id {body.get('unique_id')}: {_describe(body.get('event'))}"
        examined.event = body.get("event")
        differences = ", ".join(body.get("differences", [])) or "?"
        examined.reason = (
            f"stored {str(stored)[:12]}… vs incoming {str(incoming)[:12]}… "
            f"(different {differences})"
        )
        examined.facts = {
            "unique_id": body.get("unique_id"),
            "differences": body.get("differences"),
            "stored_payload_hash": stored,
            "incoming_payload_hash": incoming,
            "stored_event_name": body.get("stored_event_name"),
            "stored_source": body.get("stored_source"),
        }
        examined.why_kept = (
            "a conflict is for a person: decide which payload is right (a redriven conflict "
            "conflicts again)"
        )
        return Plan(examined, None)

    def _plan_stream_malformed(
        self, message: dict[str, Any], body: Any, examined: Examined
    ) -> Plan:
        body = body if isinstance(body, dict) else {}
        where = body.get("coordinates", {})
        examined.what = f"shard {where.get('shardId')} record {where.get('sequenceNumber')}"
        examined.reason = str(body.get("reason"))
        examined.why_kept = "decode its base64 data, fix the producer, put the record again"
        return Plan(examined, None)

    def _plan_stream_failed(self, message: dict[str, Any], body: Any, examined: Examined) -> Plan:
        body = body if isinstance(body, dict) else {}
        info = body.get("KinesisBatchInfo", {})
        examined.what = (
            f"shard {info.get('shardId')}, {info.get('batchSize')} records from "
            f"{info.get('startSequenceNumber')}"
        )
        examined.reason = str(body.get("requestContext", {}).get("condition", "batch failed"))
        examined.facts = {"batch": info}
        examined.why_kept = (
            "the records are not in the message: read them from the stream while its retention "
            "lasts and put them again (see the README's runbook)"
        )
        return Plan(examined, None)

    def _plan_outbox(self, message: dict[str, Any], body: Any, examined: Examined) -> Plan:
        examined.what = "an outbox pipe batch"
        examined.reason = str(body)[:200]
        examined.why_kept = (
            "republish those events from the aggregate store by their ids (see the runbook)"
        )
        return Plan(examined, None)


# ---------------------------------------------------------------------- the run


def receive_all(sqs: Any, url: str, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` messages, each once, kept invisible while this run works."""
    received: dict[str, dict[str, Any]] = {}
    while len(received) < limit:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(SQS_BATCH, limit - len(received)),
            VisibilityTimeout=VISIBILITY_SECONDS,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in received]
        if not fresh:
            break
        received.update((m["MessageId"], m) for m in fresh)
    return list(received.values())


def _visible_now(handles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**h, "VisibilityTimeout": 0} for h in handles]


def _named(message_id: str, wanted: str) -> bool:
    return message_id == wanted or (len(wanted) >= 8 and message_id.startswith(wanted))


def _resolve_deletes(wanted: frozenset[str], message_ids: list[str]) -> set[str]:
    """The message ids ``--delete`` names among those received; each name must match exactly
    one message (a prefix shared by two would delete both), else nothing is done."""
    chosen: set[str] = set()
    for name in sorted(wanted):
        matches = [m for m in message_ids if _named(m, name)]
        if len(matches) > 1:
            raise UsageError(
                f"--delete {name} matches {len(matches)} messages; give more of the id "
                "(nothing was deleted or redriven)"
            )
        if not matches:
            raise NotFoundError(
                f"--delete {name}: no such message among the {len(message_ids)} received "
                "(a message past --max, or in flight elsewhere, is not seen; nothing was "
                "deleted or redriven)"
            )
        chosen.update(matches)
    return chosen


def export(examined: list[Examined], path: Path) -> int:
    """The events of the messages that stay, as JSON lines ``kahula put`` takes: fix them,
    then put them."""
    staying = [e.event for e in examined if e.action in ("kept", "failed") and e.event]
    path.write_text("".join(json.dumps(event) + "\n" for event in staying), encoding="utf-8")
    return len(staying)


def _in_batches(sqs: Any, call: str, url: str, entries: list[dict[str, Any]]) -> None:
    for start in range(0, len(entries), SQS_BATCH):
        chunk = entries[start : start + SQS_BATCH]
        getattr(sqs, call)(QueueUrl=url, Entries=[{**e, "Id": str(i)} for i, e in enumerate(chunk)])


def redrive(
    target: Target,
    name: str,
    *,
    dry_run: bool = False,
    limit: int = 100,
    check: bool = True,
    delete_ids: frozenset[str] = frozenset(),
    on_item: Callable[[Examined], None] | None = None,
) -> list[Examined]:
    """Examine up to ``limit`` messages of queue ``name``; redrive what can be (not with
    ``dry_run``), delete each redriven one, make the others visible again. A message named
    in ``delete_ids`` (its id, or the first 8 characters shown) is deleted deliberately,
    not redriven."""
    url = target.queue_url(name)
    redriver = Redriver(target, name, check=check)
    sqs = redriver.sqs
    with aws_errors():
        messages = receive_all(sqs, url, limit)
    done: list[Examined] = []
    release: list[dict[str, Any]] = []
    delete: list[dict[str, Any]] = []
    try:
        chosen = _resolve_deletes(delete_ids, [m["MessageId"] for m in messages])
    except CliError:  # nothing is done: every message received becomes visible again
        release = [{"ReceiptHandle": m["ReceiptHandle"]} for m in messages]
        with aws_errors():
            _in_batches(sqs, "change_message_visibility_batch", url, _visible_now(release))
        raise
    try:
        for message in messages:
            plan = redriver.plan(message)
            handle = {"ReceiptHandle": message["ReceiptHandle"]}
            if message["MessageId"] in chosen:
                plan.examined.action = "would delete" if dry_run else "deleted"
                (release if dry_run else delete).append(handle)
            elif plan.redrive is None:
                release.append(handle)
            elif dry_run:
                plan.examined.action = "would redrive"
                release.append(handle)
            else:
                try:
                    plan.redrive()
                except Exception as exc:
                    error = exc if isinstance(exc, CliError) else translate(exc)
                    if error is None:
                        raise
                    plan.examined.action = "failed"
                    plan.examined.why_kept = f"redrive failed: {error}"
                    release.append(handle)
                else:
                    plan.examined.action = "redriven"
                    delete.append(handle)
            done.append(plan.examined)
            if on_item is not None:
                on_item(plan.examined)
    finally:
        with aws_errors():
            _in_batches(sqs, "delete_message_batch", url, delete)
            _in_batches(sqs, "change_message_visibility_batch", url, _visible_now(release))
    if delete:
        target.settle()
    return done


def report(out: Output, name: str, examined: list[Examined], *, dry_run: bool) -> None:
    for item in examined:
        out.json_line(item.as_json())
    if not examined:
        out.note(f"queue {name} is empty")
        return
    colour = {
        "redriven": "green",
        "would redrive": "cyan",
        "deleted": "magenta",
        "would delete": "magenta",
        "failed": "red",
        "kept": "yellow",
    }
    rows = [
        (
            item.message_id[:8],
            item.what,
            item.reason,
            f"[{colour[item.action]}]{item.action}[/{colour[item.action]}]"
            + (f": {item.why_kept}" if item.why_kept else ""),
        )
        for item in examined
    ]
    columns = ("message", "what", "reason", "action")
    out.table(f"queue {name}", columns, rows, fold=columns[1:])
    counts = {a: sum(1 for i in examined if i.action == a) for a in colour}
    summary = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
    out.note(f"{len(examined)} message(s): {summary}" + (" (dry run)" if dry_run else ""))


def register(app: typer.Typer) -> None:
    @app.command(
        "redrive",
        no_args_is_help=True,
        help=f"""Inspect a failure queue and redrive what can be redriven.

Shows each message's reason (the persister's error, the rule's ERROR_CODE/ERROR_MESSAGE,
stored vs incoming hash for a conflict); hands each retryable one back to the target that
failed it (the persister, the archive stream, a follow-up queue, the FIFO queue), deleting
it only once that succeeded. Conflicts and what cannot be redriven stay, with why. Exit
code 1 when any message stays (0 with --dry-run).

QUEUE is one of:

\b
{QUEUES_HELP}

Examples:

\b
  kahula redrive failed --dry-run
  kahula --env prod redrive persister-undeliverable --max 50
  kahula redrive failed --export stuck.jsonl    # fix them, then: kahula put stuck.jsonl
  kahula redrive failed --delete 9b75c56d       # drop one deliberately (its fixed event is put)
  kahula --json redrive conflicts | jq '{{unique_id, stored_payload_hash, incoming_payload_hash}}'
""",
    )
    def redrive_command(
        ctx: typer.Context,
        queue: Annotated[str, typer.Argument(metavar="QUEUE", help="the queue's short name")],
        *,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="show what would be redriven; change nothing")
        ] = False,
        max_messages: Annotated[
            int, typer.Option("--max", min=1, help="examine at most N messages")
        ] = 100,
        check: Annotated[
            bool,
            typer.Option(
                "--check/--no-check",
                help="keep events the persister would still refuse (the installed contract)",
            ),
        ] = True,
        export_to: Annotated[
            Path | None,
            typer.Option(
                "--export",
                metavar="FILE",
                help="write the events that stay as JSON lines (fix them, then `kahula put`)",
            ),
        ] = None,
        delete_ids: Annotated[
            list[str] | None,
            typer.Option(
                "--delete",
                metavar="MESSAGE_ID",
                help="delete this message without redriving it (repeatable; once its fixed "
                "event is put, or deliberately dropped)",
            ),
        ] = None,
    ) -> int:
        state = State.of(ctx)
        examined = redrive(
            state.target(),
            queue,
            dry_run=dry_run,
            limit=max_messages,
            check=check,
            delete_ids=frozenset(delete_ids or ()),
        )
        report(state.out, queue, examined, dry_run=dry_run)
        if export_to is not None:
            state.out.note(f"{export(examined, export_to)} event(s) written to {export_to}")
        done = ("redriven", "deleted")
        if dry_run or all(item.action in done for item in examined):
            return ExitCode.OK
        return ExitCode.ITEMS_FAILED
