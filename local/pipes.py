"""The outbox pipe locally: DynamoDB stream -> EventBridge Pipe -> bus, read from the template.

moto stores a table's stream (DescribeStream, GetShardIterator, GetRecords in server mode) but
has no Pipes data plane: ``AWS::Pipes::Pipe`` is only a name to it. This module does what the
service does with what the synthesized ``AWS::Pipes::Pipe`` declares:

* **source**: the table's stream (``Fn::GetAtt [Table, StreamArn]``), every shard, from the
  pipe's ``StartingPosition`` (``TRIM_HORIZON``), remembering each shard's position, so a
  second pump publishes only what was written since;
* **filter**: each record, in the shape Pipes gives it (``eventName``, ``dynamodb.NewImage``
  ...), against the ``FilterCriteria`` patterns (any pattern matches; EventBridge's pattern
  language, evaluated by moto's matcher);
* **target**: the bus, with ``Source``, ``DetailType`` (a static value or a ``$.`` dynamic
  path) and the ``InputTemplate`` rendered per record: a ``<$.path>`` inside a JSON string is
  replaced by the text it points to; outside a string, by the JSON value. A path missing from
  the record, text that would need escaping, or a rendered detail that is not a JSON object
  fails at once with :class:`PipeTemplateError` (a mismatch between the template the
  construct writes and the records the client writes must not pass quietly);
* **batches** of ``BatchSize`` records, one PutEvents each; failed entries are retried a few
  times (the pipe would retry ``MaximumRetryAttempts`` times), then the batch's stream
  positions go to the pipe's dead-letter queue, as Pipes does for a stream source.

Not simulated: enrichment, other sources or targets, and the pipe's role (no IAM locally); the
template is refused if it asks for them. ``AWS::Backup::*`` is accepted and not simulated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .topology import Resource, Topology, UnsupportedTemplate

PIPE = "AWS::Pipes::Pipe"
#: Resource types provision accepts without creating anything for them locally.
NOT_SIMULATED = (
    "AWS::Backup::BackupVault",
    "AWS::Backup::BackupPlan",
    "AWS::Backup::BackupSelection",
)
PUT_EVENTS_BATCH = 10  # PutEvents limit
LOCAL_TARGET_ATTEMPTS = 3  # the pipe retries up to MaximumRetryAttempts; locally, a few times
_PLACEHOLDER = re.compile(r"<(\$(?:\.[A-Za-z0-9_-]+)+)>")
_NEEDS_ESCAPING = re.compile(r'["\\\x00-\x1f]')
_SUPPORTED_SOURCE_PARAMETERS = {"DynamoDBStreamParameters", "FilterCriteria"}
_SUPPORTED_PIPE_PROPERTIES = {
    "Description",
    "RoleArn",
    "Source",
    "SourceParameters",
    "Target",
    "TargetParameters",
    "Name",
    "DesiredState",
    "Tags",
}


class PipeTemplateError(UnsupportedTemplate):
    """The pipe's input template and a stream record do not fit: Pipes would publish
    something else than the construct means, or nothing."""


@dataclass(frozen=True)
class PipeSpec:
    """What one ``AWS::Pipes::Pipe`` declares, resolved against the local resources."""

    logical_id: str
    table_name: str
    bus_name: str
    source: str
    detail_type: str
    input_template: str | None
    filters: tuple[str, ...]
    batch_size: int
    starting_position: str
    retry_attempts: int
    running: bool  # DesiredState RUNNING (the default); a STOPPED pipe reads nothing
    dead_letter_queue_url: str | None


@dataclass
class PipeStats:
    read: int = 0
    filtered_out: int = 0
    published: int = 0
    dead_lettered: int = 0


def read_pipes(topology: Topology) -> list[PipeSpec]:
    """Every pipe of the template; anything this module does not simulate is refused."""
    return [_spec(topology, r) for r in topology.of_type(PIPE)]


def _spec(topology: Topology, r: Resource) -> PipeSpec:
    p = r.properties
    where = f"pipe {r.logical_id}"
    extra = set(p) - _SUPPORTED_PIPE_PROPERTIES
    if extra:
        raise UnsupportedTemplate(f"{where}: {', '.join(sorted(extra))} not simulated locally")
    source = p["Source"]
    if not (
        isinstance(source, dict)
        and list(source) == ["Fn::GetAtt"]
        and source["Fn::GetAtt"][1] == "StreamArn"
        and topology.resources[source["Fn::GetAtt"][0]].type == "AWS::DynamoDB::Table"
    ):
        raise UnsupportedTemplate(f"{where}: only a DynamoDB table's stream is simulated as source")
    table_name = topology.name(source["Fn::GetAtt"][0])
    target = topology.by_arn(topology.resolve(p["Target"]))
    if target.type != "AWS::Events::EventBus":
        raise UnsupportedTemplate(f"{where}: target {target.type} is not simulated locally")
    source_parameters = p.get("SourceParameters", {})
    extra = set(source_parameters) - _SUPPORTED_SOURCE_PARAMETERS
    if extra:
        raise UnsupportedTemplate(f"{where}: {', '.join(sorted(extra))} not simulated locally")
    stream = source_parameters.get("DynamoDBStreamParameters", {})
    target_parameters = p.get("TargetParameters", {})
    bus_parameters = target_parameters.get("EventBridgeEventBusParameters", {})
    extra = set(target_parameters) - {"EventBridgeEventBusParameters", "InputTemplate"}
    if extra:
        raise UnsupportedTemplate(f"{where}: {', '.join(sorted(extra))} not simulated locally")
    dlq_arn = topology.resolve(stream.get("DeadLetterConfig", {}).get("Arn"))
    return PipeSpec(
        logical_id=r.logical_id,
        table_name=table_name,
        bus_name=topology.name(target.logical_id),
        source=bus_parameters.get("Source", "Pipe " + topology.name(r.logical_id)),
        detail_type=bus_parameters.get("DetailType", "Event from aws:dynamodb"),
        input_template=target_parameters.get("InputTemplate"),
        filters=tuple(
            f["Pattern"] for f in source_parameters.get("FilterCriteria", {}).get("Filters", [])
        ),
        batch_size=int(stream.get("BatchSize", 100)),
        starting_position=stream.get("StartingPosition", "LATEST"),
        retry_attempts=int(stream.get("MaximumRetryAttempts", -1)),
        running=p.get("DesiredState", "RUNNING") == "RUNNING",
        dead_letter_queue_url=(
            topology.ref(topology.by_arn(dlq_arn).logical_id) if dlq_arn else None
        ),
    )


# ---------------------------------------------------------------------- record -> entry


def lookup(record: dict[str, Any], path: str) -> Any:
    """The value at a ``$.a.b.c`` path of a record; a missing step is a PipeTemplateError."""
    value: Any = record
    walked = "$"
    for step in path.removeprefix("$.").split("."):
        if not isinstance(value, dict) or step not in value:
            have = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise PipeTemplateError(f"{path}: the record has no {step!r} under {walked} ({have})")
        value = value[step]
        walked += f".{step}"
    return value


def render(template: str, record: dict[str, Any]) -> str:
    """The pipe's ``InputTemplate`` filled from one record, as Pipes fills it.

    A placeholder inside a JSON string takes the text it points to (it must be text that
    needs no escaping: Pipes does not promise to escape it); outside a string it takes the
    JSON value (an object, here). The result must be a JSON object, the bus event's detail.
    """
    out: list[str] = []
    in_string = escaped = False
    i = 0
    while i < len(template):
        char = template[i]
        match = _PLACEHOLDER.match(template, i) if char == "<" else None
        if match:
            value = lookup(record, match.group(1))
            if in_string:
                if not isinstance(value, str):
                    raise PipeTemplateError(
                        f"{match.group(1)} is inside a JSON string but is a "
                        f"{type(value).__name__}, not text"
                    )
                if _NEEDS_ESCAPING.search(value):
                    raise PipeTemplateError(
                        f"{match.group(1)} = {value!r} would need JSON escaping inside a string"
                    )
                out.append(value)
            else:
                out.append(json.dumps(value, separators=(",", ":")))
            i = match.end()
            continue
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        out.append(char)
        i += 1
    rendered = "".join(out)
    try:
        detail = json.loads(rendered)
    except json.JSONDecodeError as exc:
        raise PipeTemplateError(
            f"the rendered input is not JSON ({exc}): {rendered[:200]}"
        ) from None
    if not isinstance(detail, dict):
        raise PipeTemplateError(f"the rendered input is a {type(detail).__name__}, not an object")
    return rendered


def as_pipe_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record in the shape Pipes hands to filters and templates (JSON only:
    the creation time as epoch seconds, as in Lambda's and Pipes' DynamoDB events)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        **{k: v for k, v in record.items() if k != "dynamodb"},
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def _matches(patterns: tuple[str, ...], record: dict[str, Any]) -> bool:
    if not patterns:
        return True
    from moto.events.models import EventPattern  # noqa: PLC0415 - the tooling's matcher

    return any(EventPattern.load(p).matches_event(record) for p in patterns)  # type: ignore[arg-type]


def to_entry(spec: PipeSpec, record: dict[str, Any]) -> dict[str, Any]:
    """The PutEvents entry the pipe makes of one record."""
    detail_type = spec.detail_type
    if detail_type.startswith("$."):
        detail_type = lookup(record, detail_type)
        if not isinstance(detail_type, str):
            raise PipeTemplateError(f"{spec.detail_type} is not text: {detail_type!r}")
    detail = (
        render(spec.input_template, record)
        if spec.input_template is not None
        else json.dumps(record)
    )
    return {
        "Source": spec.source,
        "DetailType": detail_type,
        "Detail": detail,
        "EventBusName": spec.bus_name,
    }


# ---------------------------------------------------------------------- the pump


@dataclass
class LocalPipe:
    """One pipe: its spec, its position in each shard, and what it has published."""

    spec: PipeSpec
    stats: PipeStats = field(default_factory=PipeStats)
    positions: dict[str, str] = field(default_factory=dict)  # shard -> last sequence number
    #: EventBridge id -> the PutEvents entry, for everything the pipe put on the bus
    published: dict[str, dict[str, Any]] = field(default_factory=dict)


class LocalPipes:
    """Moves each pipe's new stream records to its bus: ``pump()`` until the streams are read."""

    def __init__(
        self, topology: Topology, *, dynamodb: Any, streams: Any, events: Any, sqs: Any
    ) -> None:
        self.pipes = [LocalPipe(spec) for spec in read_pipes(topology)]
        self._dynamodb = dynamodb
        self._streams = streams
        self._events = events
        self._sqs = sqs

    def pump(self) -> dict[str, dict[str, Any]]:
        """Publish what was committed since the last pump; returns it (EventBridge id ->
        entry). Each pipe reads every shard of its stream from its saved position."""
        published: dict[str, dict[str, Any]] = {}
        for pipe in (p for p in self.pipes if p.spec.running):
            stream_arn = self._stream_arn(pipe.spec)
            for shard_id, records in self._read(pipe, stream_arn):
                batch = [as_pipe_record(r, stream_arn) for r in records]
                for start in range(0, len(batch), pipe.spec.batch_size):
                    published |= self._deliver(
                        pipe, shard_id, batch[start : start + pipe.spec.batch_size]
                    )
                if records:
                    pipe.positions[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        return published

    def _stream_arn(self, spec: PipeSpec) -> str:
        table = self._dynamodb.describe_table(TableName=spec.table_name)["Table"]
        arn = table.get("LatestStreamArn")
        if not arn:
            raise UnsupportedTemplate(
                f"pipe {spec.logical_id}: table {spec.table_name} has no stream"
            )
        return str(arn)

    def _shards(self, stream_arn: str) -> Iterator[str]:
        request: dict[str, Any] = {"StreamArn": stream_arn}
        while True:
            description = self._streams.describe_stream(**request)["StreamDescription"]
            for shard in description["Shards"]:
                yield shard["ShardId"]
            last = description.get("LastEvaluatedShardId")
            if not last:
                return
            request["ExclusiveStartShardId"] = last

    def _read(self, pipe: LocalPipe, stream_arn: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        for shard_id in self._shards(stream_arn):
            position = pipe.positions.get(shard_id)
            request: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": shard_id}
            if position is not None:
                request |= {
                    "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                    "SequenceNumber": position,
                }
            else:
                request["ShardIteratorType"] = pipe.spec.starting_position
            iterator = self._streams.get_shard_iterator(**request)["ShardIterator"]
            while iterator:
                response = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                records = response["Records"]
                if not records:
                    break
                yield shard_id, records
                iterator = response.get("NextShardIterator")

    def _deliver(
        self, pipe: LocalPipe, shard_id: str, batch: list[dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        pipe.stats.read += len(batch)
        passing = [r for r in batch if _matches(pipe.spec.filters, r)]
        pipe.stats.filtered_out += len(batch) - len(passing)
        entries = [to_entry(pipe.spec, r) for r in passing]
        published: dict[str, dict[str, Any]] = {}
        for start in range(0, len(entries), PUT_EVENTS_BATCH):
            pending = entries[start : start + PUT_EVENTS_BATCH]
            error = ""
            retries = pipe.spec.retry_attempts  # -1: Pipes retries until the record expires
            attempts = LOCAL_TARGET_ATTEMPTS if retries < 0 else 1 + retries
            for _ in range(min(LOCAL_TARGET_ATTEMPTS, attempts)):
                response = self._events.put_events(Entries=pending)
                failed = []
                for entry, result in zip(pending, response["Entries"], strict=True):
                    if "EventId" in result:
                        published[result["EventId"]] = entry
                    else:
                        failed.append(entry)
                        error = result.get("ErrorMessage", "rejected")
                pending = failed
                if not pending:
                    break
            if pending:
                self._dead_letter(pipe, shard_id, batch, error)
        pipe.published |= published
        pipe.stats.published += len(published)
        return published

    def _dead_letter(
        self, pipe: LocalPipe, shard_id: str, batch: list[dict[str, Any]], error: str
    ) -> None:
        """Pipes' dead letter for a stream source: where the batch is, not the events."""
        if pipe.spec.dead_letter_queue_url is None:
            raise RuntimeError(
                f"pipe {pipe.spec.logical_id} has no DLQ and delivery failed: {error}"
            )
        self._sqs.send_message(
            QueueUrl=pipe.spec.dead_letter_queue_url,
            MessageBody=json.dumps(
                {
                    "context": {"condition": "RetryAttemptsExhausted", "error": error},
                    "DDBStreamBatchInfo": {
                        "shardId": shard_id,
                        "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                        "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                        "batchSize": len(batch),
                        "streamArn": batch[0]["eventSourceARN"],
                    },
                }
            ),
        )
        pipe.stats.dead_lettered += 1


def aggregate_store(topology: Topology, dynamodb: Any, **kwargs: Any) -> Any:
    """A client of the table the (one) outbox pipe reads, on the local endpoint."""
    from kahula_core.aggregates.client import AggregateStore  # noqa: PLC0415

    specs = read_pipes(topology)
    if len(specs) != 1:
        raise UnsupportedTemplate(f"expected one outbox pipe, the template has {len(specs)}")
    return AggregateStore(table_name=specs[0].table_name, dynamodb=dynamodb, **kwargs)
