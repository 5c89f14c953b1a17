"""The whole pipeline on moto (in this process, or a local moto server): synthesize, provision,
publish, route, account.

with LocalPipeline.start(workdir) as pipeline:
    published = pipeline.publish(entries)
    pipeline.run()
    ledger = pipeline.account(published)
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import boto3
from botocore.config import Config
from kahula_core.envelope import parse_envelope
from kahula_core.errors import MalformedEventError
from kahula_core.hashing import payload_hash
from kahula_core.record import build_record
from kahula_core.settings import Settings
from kahula_core.stream_events import BareEventFields, Coordinates, to_platform_event

from cdk_app.cli.seeding import put_records

from .fifo import FifoDoor
from .kinesis import LocalKinesisMapping
from .moto_server import moto_in_process, moto_server
from .pipes import LocalPipes
from .provision import Clients, Route, provision
from .runtime import Invocation, LocalEventBridge, LocalLambda
from .synth import synthesize
from .topology import Topology

if TYPE_CHECKING:  # the CDK loads only where synthesis needs it (start), never on attach
    from cdk_app.config import Naming

REGION = "us-east-1"
PUT_EVENTS_BATCH = 10  # PutEvents limit


@dataclass
class Published:
    """What PutEvents accepted (EventBridge id -> entry) and what it rejected, with why."""

    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: list[tuple[dict[str, Any], str]] = field(default_factory=list)


@dataclass
class Ledger:
    """Where every accepted event ended up. ``lost`` must be empty."""

    published: int = 0
    rejected_by_put_events: list[tuple[str, str]] = field(default_factory=list)
    persisted: int = 0
    duplicates: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # unique_id, reason
    failed: list[tuple[str, str]] = field(default_factory=list)  # event id, reason
    undeliverable: list[tuple[str, str]] = field(default_factory=list)
    follow_ups: dict[str, int] = field(default_factory=dict)  # detail type -> emitted
    follow_ups_routed: dict[str, int] = field(default_factory=dict)  # queue -> received
    missing_follow_ups: list[str] = field(default_factory=list)
    follow_up_messages: list[dict[str, Any]] = field(default_factory=list)  # as received
    archive_objects: list[tuple[str, int]] = field(default_factory=list)  # key, lines
    items_in_table: int = 0
    lost: list[tuple[str, str]] = field(default_factory=list)  # event id, what is missing
    # The FIFO door (when the template has one).
    fifo_sent: int = 0
    fifo_ledger: dict[tuple[str, str], int] = field(default_factory=dict)  # tenant, status
    fifo_dead_letters: list[tuple[str, str]] = field(default_factory=list)  # body, reason


@dataclass
class StreamPublished:
    """What PutRecords accepted ((shard, sequence number) -> partition key, data) and refused."""

    stream: str = ""
    accepted: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # partition key, error


@dataclass
class StreamLedger:
    """Where every record PutRecords accepted ended up. ``lost`` must be empty."""

    stream: str = ""
    published: int = 0
    rejected_by_put_records: list[tuple[str, str]] = field(default_factory=list)
    stored: int = 0  # records whose item is in the table (new or duplicate)
    unique_items: int = 0  # distinct unique_ids among them
    conflicts: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # shard:sequence, reason
    failed_batches: list[dict[str, Any]] = field(default_factory=list)  # KinesisBatchInfo
    archived: int = 0
    invocations: int = 0
    partial_failures: int = 0
    retries: int = 0
    bisections: int = 0
    lost: list[tuple[str, str]] = field(default_factory=list)  # shard:sequence, what is missing


def local_clients(endpoint: str | None) -> Clients:
    """Clients of every service the pipeline provisions: on the local server, or on the
    in-process moto when ``endpoint`` is None."""
    return Clients(
        s3=_client("s3", endpoint),
        sqs=_client("sqs", endpoint),
        dynamodb=_client("dynamodb", endpoint),
        events=_client("events", endpoint),
        firehose=_client("firehose", endpoint),
        kinesis=_client("kinesis", endpoint),
    )


def _client(service: str, endpoint: str | None) -> Any:
    # A private session: hooks on boto3's default session (the handler's) never touch these.
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )


@contextlib.contextmanager
def _local_aws(server: bool) -> Iterator[str | None]:
    """moto: a server (yields its endpoint) or in this process (yields None)."""
    if server:
        with moto_server() as endpoint:
            yield endpoint
        return
    # The functions' clients must reach the in-process moto, not an endpoint of the caller's.
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with moto_in_process():
        yield None


class LocalPipeline:
    def __init__(
        self,
        topology: Topology,
        clients: Clients,
        routes: list[Route],
        bridge: LocalEventBridge,
        *,
        names: Naming | None,
        pipes: LocalPipes | None = None,
        stream_mappings: list[LocalKinesisMapping] | None = None,
        fifo: list[FifoDoor] | None = None,
    ) -> None:
        self.names = names
        self.pipes = pipes
        # What the outbox pipes put on the bus (EventBridge id -> entry), for the accounting.
        self.outbox = Published()
        self.stream_mappings = stream_mappings or []
        self._drained: dict[str, list[dict[str, Any]]] = {}
        # Messages process() took off the rules' SQS targets (logical id -> bodies), as their
        # consumer would: _drain_queue() hands them out first.
        self._received: dict[str, list[dict[str, Any]]] = {}
        self.fifo = fifo or []
        self.topology = topology
        self.clients = clients
        self.routes = routes
        self.bridge = bridge
        self.bus_name = topology.name(topology.of_type("AWS::Events::EventBus")[0].logical_id)

    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        workdir: Path,
        *,
        env: str = "dev",
        handler_log: TextIO | None = None,
        firehose_fault: Callable[[], bool] | None = None,
        server: bool = False,
    ) -> Iterator[LocalPipeline]:
        """Synthesize ``env``, start moto, create the template's resources, wire the rules.

        moto runs in this process (``mock_aws``) unless ``server``: then it is a moto server
        on a loopback port, every call an HTTP request (the functions get its endpoint in
        AWS_ENDPOINT_URL), for callers that need AWS reachable from outside the process, and
        for faults injected at botocore's before-send: botocore calls every before-send hook,
        so in-process moto would carry out a call whose injected answer is a failure.
        """
        from cdk_app.config import DEFAULT_PREFIX, Naming, select_environments  # noqa: PLC0415

        assembly_dir = workdir / "cdk.out"
        (config,) = select_environments(env)
        _, (stack,) = synthesize(assembly_dir, [config])
        topology = Topology.from_assembly(assembly_dir, stack.stack_name, REGION)
        log = handler_log or (workdir / "persister.log").open("w")
        # The local function runs in this process with its template environment (endpoint,
        # table name, ...): put the caller's environment back afterwards.
        saved_environment = dict(os.environ)
        try:
            with _local_aws(server) as endpoint:
                clients = local_clients(endpoint)
                routes = provision(topology, clients)
                yield cls.connect(
                    topology,
                    endpoint,
                    clients,
                    routes,
                    names=Naming(DEFAULT_PREFIX, env),
                    log=log,
                    firehose_fault=firehose_fault,
                )
        finally:
            os.environ.clear()
            os.environ.update(saved_environment)
            if handler_log is None:
                log.close()

    @classmethod
    def connect(
        cls,
        topology: Topology,
        endpoint: str | None,
        clients: Clients,
        routes: list[Route],
        *,
        names: Naming | None,
        log: TextIO,
        firehose_fault: Callable[[], bool] | None = None,
    ) -> LocalPipeline:
        """The pipeline over a provisioned server: the template's functions, rules, pipes,
        stream mappings and FIFO door (``start`` provisions first; a later process attaching
        to a running local session passes the routes it looked up). ``names`` (the stack's
        naming) is needed only by the accounting, which finds queues by name."""
        lambdas = {
            f.logical_id: LocalLambda(topology, f, endpoint=endpoint, sqs=clients.sqs, log=log)
            for f in topology.of_type("AWS::Lambda::Function")
        }
        bridge = LocalEventBridge(topology, clients, routes, lambdas, firehose_fault=firehose_fault)
        pipes = LocalPipes(
            topology,
            dynamodb=clients.dynamodb,
            streams=_client("dynamodbstreams", endpoint),
            events=clients.events,
            sqs=clients.sqs,
        )
        by_name = {f.name: f for f in lambdas.values()}
        mappings = [
            LocalKinesisMapping(
                topology,
                m,
                by_name[topology.resolve(m.properties["FunctionName"])],
                kinesis=clients.kinesis,
                sqs=clients.sqs,
            )
            for m in topology.of_type("AWS::Lambda::EventSourceMapping")
            # Kinesis sources here; SQS FIFO sources belong to the FIFO door below
            if topology.by_arn(topology.resolve(m.properties["EventSourceArn"])).type
            == "AWS::Kinesis::Stream"
        ]
        return cls(
            topology,
            clients,
            routes,
            bridge,
            names=names,
            pipes=pipes,
            stream_mappings=mappings,
            fifo=FifoDoor.from_template(topology, clients.sqs, lambdas),
        )

    # ------------------------------------------------------------------ traffic

    def publish(
        self,
        entries: Iterable[dict[str, Any]],
        on_published: Callable[[int], None] | None = None,
    ) -> Published:
        """PutEvents onto the bus in batches of ten; failed entries are reported, not retried."""
        published = Published()
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            response = self.clients.events.put_events(Entries=batch)
            for entry, result in zip(batch, response["Entries"], strict=True):
                if "EventId" in result:
                    published.accepted[result["EventId"]] = entry
                else:
                    published.rejected.append((entry, result.get("ErrorMessage", "rejected")))
            if on_published is not None:
                on_published(len(batch))
            batch.clear()

        for entry in entries:
            batch.append({**entry, "EventBusName": self.bus_name})
            if len(batch) == PUT_EVENTS_BATCH:
                flush()
        if batch:
            flush()
        return published

    def run(self, on_delivered: Callable[[int], None] | None = None) -> None:
        """Publish what the outbox pipes read from their streams, then route until every
        rule's queue is empty (follow-ups are routed again) and every stream's mapping has
        read its shards to the end (its follow-ups are routed too)."""
        if self.pipes is not None:
            self.outbox.accepted.update(self.pipes.pump())
        while True:
            self.bridge.pump(on_delivered)
            if not sum(m.poll() for m in self.stream_mappings):
                return

    # ------------------------------------------------------------------ the Kinesis door

    @property
    def stream_name(self) -> str | None:
        """The stream the template's event source mapping reads, if it has one."""
        return self.stream_mappings[0].stream_name if self.stream_mappings else None

    def put_records(self, records: Iterable[tuple[str, bytes]]) -> StreamPublished:
        """PutRecords (partition key, data) onto the stream; refused entries are reported."""
        if self.stream_name is None:
            raise ValueError("the template has no Kinesis stream")
        given = list(records)
        published = StreamPublished(stream=self.stream_name)
        results = put_records(self.clients.kinesis, self.stream_name, given)
        for (key, data), result in zip(given, results, strict=True):
            if "SequenceNumber" in result:
                published.accepted[(result["ShardId"], result["SequenceNumber"])] = (key, data)
            else:
                published.rejected.append((key, result.get("ErrorMessage", "refused")))
        return published

    def stream_function(self) -> LocalLambda:
        (mapping,) = self.stream_mappings
        return mapping.function

    def account_stream(self, published: StreamPublished) -> StreamLedger:
        """Check every accepted record is stored (its item is this event) and archived, or
        quarantined with its reason, or inside a batch on the on-failure queue."""
        (mapping,) = self.stream_mappings
        ledger = StreamLedger(stream=published.stream, published=len(published.accepted))
        ledger.rejected_by_put_records = list(published.rejected)
        for name in ("invocations", "partial_failures", "retries", "bisections"):
            setattr(ledger, name, getattr(mapping.stats, name))
        environment = self.stream_function().environment
        settings = Settings.from_environment(environment)
        fields = BareEventFields.from_environment(environment)
        quarantined = self._queue("stream/malformed")
        failed = self._queue("stream/failed")
        conflicts = self._queue("persister/conflicts")
        ledger.quarantined = [
            (f"{q['coordinates']['shardId']}:{q['coordinates']['sequenceNumber']}", q["reason"])
            for q in quarantined
        ]
        ledger.failed_batches = [f["KinesisBatchInfo"] for f in failed]
        quarantined_seqs = {seq for seq, _ in ledger.quarantined}
        conflict_ids = {c["unique_id"] for c in conflicts}
        archived_ids = {e["id"] for e in self.archived_events()[0]}
        items = self.items()
        stored_ids: set[str] = set()
        for (shard, sequence), (key, data) in published.accepted.items():
            where = Coordinates(mapping.stream_arn, shard, sequence, key, "2000-01-01T00:00:00Z")
            record_id = where.record_id
            try:
                event = to_platform_event(json.loads(data), where, fields)
                record = build_record(parse_envelope(event), settings, "")
            except (ValueError, MalformedEventError):
                expected = None
            else:
                expected = (record.unique_id, event["id"], record.item)
            if any(_in_batch(shard, sequence, b) for b in ledger.failed_batches):
                continue  # kept by coordinates on the on-failure queue
            if expected is None:
                if record_id not in quarantined_seqs:
                    ledger.lost.append((record_id, "malformed but not quarantined"))
                continue
            unique_id, event_id, item = expected
            stored = items.get(unique_id)
            missing = []
            if stored is None:
                missing.append("no item in the table")
            elif any(stored[a] != item[a] for a in ("event_name", "source", "payload_hash")):
                if unique_id in conflict_ids:
                    ledger.conflicts += 1
                else:
                    missing.append("another event under its id, and no conflict recorded")
            else:
                ledger.stored += 1
                stored_ids.add(unique_id)
            if event_id not in archived_ids:
                missing.append("not archived")
            else:
                ledger.archived += 1
            if missing:
                ledger.lost.append((record_id, ", ".join(missing)))
        ledger.unique_items = len(stored_ids)
        return ledger

    def process(
        self,
        entries: Iterable[dict[str, Any]],
        *,
        chunk: int = 100,
        on_published: Callable[[int], None] | None = None,
        on_delivered: Callable[[int], None] | None = None,
    ) -> Published:
        """Publish and route in chunks, so queues stay short (moto scans a queue on each
        SendMessage and ReceiveMessage): after each chunk, what the rules delivered to SQS
        targets (the follow-up queues) is received and kept for the accounting."""
        published = Published()
        pending: list[dict[str, Any]] = []

        def flush() -> None:
            part = self.publish(pending, on_published)
            published.accepted.update(part.accepted)
            published.rejected += part.rejected
            self.run(on_delivered)
            self._receive_rule_targets()
            pending.clear()

        for entry in entries:
            pending.append(entry)
            if len(pending) == chunk:
                flush()
        if pending:
            flush()
        return published

    # ------------------------------------------------------------------ accounting

    def queue_name(self, what: str) -> str:
        """ "persister/failed" -> "kahula-persister-dev-failed", as the stack names queues."""
        if self.names is None:
            raise ValueError("this pipeline was attached without the stack's naming")
        base, *suffix = what.split("/")
        return "-".join([self.names.of(base), *suffix])

    def _queue(self, what: str) -> list[dict[str, Any]]:
        """Every message on one of the template's queues, drained (and kept, so the bus's
        and the stream's accounts both see them)."""
        name = self.queue_name(what)
        (queue,) = [
            q
            for q in self.topology.of_type("AWS::SQS::Queue")
            if self.topology.name(q.logical_id) == name
        ]
        kept = self._drained.setdefault(name, [])
        kept += self._drain_queue(queue.logical_id)
        return list(kept)

    def put_back_drained(self) -> int:
        """Send back what the accounting drained from the quarantine queues and the FIFO DLQ,
        so a session left running (``make demo KEEP=1``) still holds them for ``kahula
        redrive``. Bodies and the FIFO DLQ's attributes are kept; the rule DLQs' error
        attributes are not (the accounting read bodies only)."""
        sqs, sent = self.clients.sqs, 0
        for name, bodies in self._drained.items():
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            for body in bodies:
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
                sent += 1
        for door in self.fifo:
            for message in door.drained:
                try:
                    tenant = json.loads(message["Body"]).get("tenant_id")
                except (ValueError, AttributeError):
                    tenant = None
                kwargs: dict[str, Any] = {
                    "QueueUrl": door.dead_letter_url,
                    "MessageBody": message["Body"],
                    "MessageGroupId": str(tenant or "unknown"),
                    "MessageDeduplicationId": f"put-back-{message['MessageId']}",
                }
                if message.get("MessageAttributes"):
                    kwargs["MessageAttributes"] = message["MessageAttributes"]
                sqs.send_message(**kwargs)
                sent += 1
            door.drained.clear()
        self._drained.clear()
        return sent

    def _receive_rule_targets(self) -> None:
        for route in self.routes:
            if route.target.type == "AWS::SQS::Queue":
                logical_id = route.target.logical_id
                self._received[logical_id] = self._drain_queue(logical_id)

    def _drain_queue(self, logical_id: str) -> list[dict[str, Any]]:
        """Every message on one of the template's queues, drained (with any process() took)."""
        out = self._received.pop(logical_id, [])
        for messages in self.bridge._drain(self.topology.ref(logical_id)):
            out += [json.loads(m["Body"]) for m in messages]
        return out

    @property
    def function(self) -> LocalLambda:
        """The persister (the bus's function; other functions belong to other doors)."""
        (function,) = [
            f for f in self.bridge.lambdas.values() if f.handler_path.startswith("persister.")
        ]
        return function

    def settings(self) -> Settings:
        """The persister's settings, read from its template environment as it reads them."""
        return Settings.from_environment(self.function.environment)

    def follow_up_queues(self) -> dict[str, list[str]]:
        """Follow-up detail type (from the function's FOLLOW_UP_RULES) -> logical ids of the
        queues the template's rules route it to (a rule whose pattern names the type)."""
        queues: dict[str, list[str]] = {t: [] for t in sorted(self.settings().follow_up_types)}
        for route in self.routes:
            if route.target.type != "AWS::SQS::Queue":
                continue
            rule = self.topology.resources[route.rule]
            pattern = self.topology.resolve(rule.properties.get("EventPattern", {}))
            for detail_type in pattern.get("detail-type", []):
                if isinstance(detail_type, str) and detail_type in queues:
                    queues[detail_type].append(route.target.logical_id)
        return queues

    def archived_events(self) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
        (stream,) = self.topology.of_type("AWS::KinesisFirehose::DeliveryStream")
        s3_config = self.topology.resolve(stream.properties["ExtendedS3DestinationConfiguration"])
        bucket = s3_config["BucketARN"].split(":")[-1]
        events, objects = [], []
        paginator = self.clients.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix="events/"):
            for obj in page.get("Contents", []):
                body = self.clients.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                if body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                lines = body.decode("utf-8").splitlines()
                events += [json.loads(line) for line in lines]
                objects.append((obj["Key"], len(lines)))
        return events, objects

    def items(self) -> dict[str, dict[str, Any]]:
        (table,) = [
            t
            for t in self.topology.of_type("AWS::DynamoDB::Table")
            if t.properties["KeySchema"][0]["AttributeName"] == "unique_id"
        ]
        name = self.topology.name(table.logical_id)
        out: dict[str, dict[str, Any]] = {}
        for page in self.clients.dynamodb.get_paginator("scan").paginate(
            TableName=name, ConsistentRead=True
        ):
            for item in page["Items"]:
                out[item["unique_id"]["S"]] = item
        return out

    def account(self, published: Published) -> Ledger:
        """Check every accepted event is archived and persisted or quarantined with a reason,
        and every due follow-up reached its queue. Drains the quarantine queues."""
        ledger = Ledger(published=len(published.accepted))
        ledger.rejected_by_put_events = [
            (e.get("DetailType", "?"), why) for e, why in published.rejected
        ]
        archived, ledger.archive_objects = self.archived_events()
        archived_ids = {e["id"] for e in archived}
        items = self.items()
        ledger.items_in_table = len(items)

        settings = self.settings()
        outcome_by_id: dict[str, Invocation] = {}
        for done in self.function.invocations:
            if isinstance(done.event, dict) and "id" in done.event:
                outcome_by_id[done.event["id"]] = done

        conflicts = self._queue("persister/conflicts")
        failures = self._queue("persister/failed")
        undeliverable = [
            e
            for q in (
                "persister/undeliverable",
                "archive-undeliverable",
                "follow-ups/undeliverable",
            )
            for e in self._queue(q)
        ]
        conflict_ids = {c["event"]["id"] for c in conflicts if c.get("event")}
        failed_ids = {f["requestPayload"].get("id") for f in failures}
        undeliverable_ids = {e.get("id") for e in undeliverable}
        ledger.conflicts = [(c["unique_id"], c["reason"]) for c in conflicts]
        ledger.failed = [
            (str(f["requestPayload"].get("id")), f["responsePayload"]["errorMessage"])
            for f in failures
        ]
        ledger.undeliverable = [(str(e.get("id")), "undeliverable") for e in undeliverable]

        due_follow_ups: dict[str, str] = {}
        for event_id in published.accepted:
            invocation = outcome_by_id.get(event_id)
            missing = []
            if event_id not in archived_ids and event_id not in undeliverable_ids:
                missing.append("not archived")
            if invocation is None:
                if event_id not in undeliverable_ids:
                    missing.append("never reached the persister")
            elif invocation.response is not None:
                outcome = invocation.response["outcome"]
                unique_id = invocation.response["unique_id"]
                if outcome == "persisted":
                    ledger.persisted += 1
                elif outcome == "duplicate":
                    ledger.duplicates += 1
                if outcome in ("persisted", "duplicate"):
                    entry = published.accepted[event_id]
                    missing += _not_this_event(items.get(unique_id), entry, settings)
                if outcome == "conflict" and event_id not in conflict_ids:
                    missing.append("conflict not on the conflicts queue")
                for fid in invocation.response["follow_ups"]:
                    due_follow_ups[fid] = event_id
            elif event_id not in failed_ids:
                missing.append("failed but not on the failure queue")
            if missing:
                ledger.lost.append((event_id, ", ".join(missing)))

        for detail_type, queues in self.follow_up_queues().items():
            for logical_id in queues:
                received = self._drain_queue(logical_id)
                ledger.follow_ups_routed[self.topology.name(logical_id)] = len(received)
                ledger.follow_up_messages += received
                for message in received:
                    ledger.follow_ups[detail_type] = ledger.follow_ups.get(detail_type, 0) + 1
                    due_follow_ups.pop(message["detail"]["follow_up_id"], None)
        ledger.missing_follow_ups = sorted(due_follow_ups)
        for fid, source_id in due_follow_ups.items():
            ledger.lost.append((source_id, f"follow-up {fid} not in its queue"))
        return ledger

    # ------------------------------------------------------------------ the FIFO door

    @property
    def door(self) -> FifoDoor:
        (door,) = self.fifo
        return door

    def ledger_table(self) -> str:
        (table,) = [
            t
            for t in self.topology.of_type("AWS::DynamoDB::Table")
            if t.properties["KeySchema"][0]["AttributeName"] == "tenant_id"
        ]
        return self.topology.name(table.logical_id)

    def ledger_entries(self) -> list[dict[str, Any]]:
        pages = self.clients.dynamodb.get_paginator("scan").paginate(
            TableName=self.ledger_table(), ConsistentRead=True
        )
        return [item for page in pages for item in page["Items"]]

    def account_fifo(self, ledger: Ledger) -> Ledger:
        """Ledger counts by tenant and status, and the DLQ (drained) with reasons."""
        if not self.fifo:
            return ledger
        counts: dict[tuple[str, str], int] = {}
        for entry in self.ledger_entries():
            key = (entry["tenant_id"]["S"], entry["status"]["S"])
            counts[key] = counts.get(key, 0) + 1
        ledger.fifo_ledger = dict(sorted(counts.items()))
        ledger.fifo_dead_letters = [(d["body"][:80], d["reason"]) for d in self.door.dead_letters()]
        return ledger


def _in_batch(shard: str, sequence: str, batch: dict[str, Any]) -> bool:
    return batch["shardId"] == shard and (
        int(batch["startSequenceNumber"]) <= int(sequence) <= int(batch["endSequenceNumber"])
    )


def _not_this_event(
    item: dict[str, Any] | None, entry: dict[str, Any], settings: Settings
) -> list[str]:
    """What is wrong with the item stored under an event's id, if it is not that event
    (its detail-type, source and payload hash); empty when it is."""
    if item is None:
        return ["no item in the table"]
    expected = {
        "event_name": entry["DetailType"],
        "source": entry["Source"],
        "payload_hash": payload_hash(json.loads(entry["Detail"]), settings.hash_excluded_paths),
    }
    return [
        f"the item under its id has another {name}"
        for name, value in expected.items()
        if item.get(name, {}).get("S") != value
    ]
