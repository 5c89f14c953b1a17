"""The whole pipeline on a local moto server: synthesize, provision, publish, route, account.

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
from typing import Any, TextIO

import boto3
from botocore.config import Config
from kahula_core.hashing import payload_hash
from kahula_core.settings import Settings

from cdk_app.config import DEFAULT_PREFIX, Naming, select_environments

from .moto_server import moto_server
from .provision import Clients, Route, provision
from .runtime import Invocation, LocalEventBridge, LocalLambda
from .synth import synthesize
from .topology import Topology

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


def _client(service: str, endpoint: str) -> Any:
    # A private session: hooks on boto3's default session (the handler's) never touch these.
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )


class LocalPipeline:
    def __init__(
        self,
        topology: Topology,
        clients: Clients,
        routes: list[Route],
        bridge: LocalEventBridge,
        *,
        names: Naming,
    ) -> None:
        self.names = names
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
    ) -> Iterator[LocalPipeline]:
        """Synthesize ``env``, start moto, create the template's resources, wire the rules."""
        assembly_dir = workdir / "cdk.out"
        (config,) = select_environments(env)
        _, (stack,) = synthesize(assembly_dir, [config])
        topology = Topology.from_assembly(assembly_dir, stack.stack_name, REGION)
        log = handler_log or (workdir / "persister.log").open("w")
        # The local function runs in this process with its template environment (endpoint,
        # table name, ...): put the caller's environment back afterwards.
        saved_environment = dict(os.environ)
        try:
            with moto_server() as endpoint:
                clients = Clients(
                    s3=_client("s3", endpoint),
                    sqs=_client("sqs", endpoint),
                    dynamodb=_client("dynamodb", endpoint),
                    events=_client("events", endpoint),
                    firehose=_client("firehose", endpoint),
                )
                routes = provision(topology, clients)
                lambdas = {
                    f.logical_id: LocalLambda(
                        topology, f, endpoint=endpoint, sqs=clients.sqs, log=log
                    )
                    for f in topology.of_type("AWS::Lambda::Function")
                }
                bridge = LocalEventBridge(
                    topology, clients, routes, lambdas, firehose_fault=firehose_fault
                )
                yield cls(
                    topology,
                    clients,
                    routes,
                    bridge,
                    names=Naming(DEFAULT_PREFIX, env),
                )
        finally:
            os.environ.clear()
            os.environ.update(saved_environment)
            if handler_log is None:
                log.close()

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
        """Route until every rule's queue is empty (follow-ups are routed again)."""
        self.bridge.pump(on_delivered)

    def process(
        self,
        entries: Iterable[dict[str, Any]],
        *,
        chunk: int = 100,
        on_published: Callable[[int], None] | None = None,
        on_delivered: Callable[[int], None] | None = None,
    ) -> Published:
        """Publish and route in chunks, so queues stay short (moto scans them per receive)."""
        published = Published()
        pending: list[dict[str, Any]] = []

        def flush() -> None:
            part = self.publish(pending, on_published)
            published.accepted.update(part.accepted)
            published.rejected += part.rejected
            self.run(on_delivered)
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
        base, *suffix = what.split("/")
        return "-".join([self.names.of(base), *suffix])

    def _queue(self, what: str) -> list[dict[str, Any]]:
        """Every message on one of the template's queues, drained."""
        name = self.queue_name(what)
        (queue,) = [
            q
            for q in self.topology.of_type("AWS::SQS::Queue")
            if self.topology.name(q.logical_id) == name
        ]
        return self._drain_queue(queue.logical_id)

    def _drain_queue(self, logical_id: str) -> list[dict[str, Any]]:
        out = []
        for messages in self.bridge._drain(self.topology.ref(logical_id)):
            out += [json.loads(m["Body"]) for m in messages]
        return out

    @property
    def function(self) -> LocalLambda:
        """The persister: the one function the bus's rules invoke (the HTTP API's are not)."""
        (logical_id,) = {
            r.target.logical_id for r in self.routes if r.target.type == "AWS::Lambda::Function"
        }
        return self.bridge.lambdas[logical_id]

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
        (table,) = self.topology.of_type("AWS::DynamoDB::Table")
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
