"""Deliver what moto's rules matched to each rule's real target, as AWS would.

* Lambda targets: the real handler, loaded from the synthesized code asset, with the
  environment the template gives the function (resolved to the local resources); Lambda's
  async retries, then the on-failure destination with Lambda's own record format.
* Firehose targets: PutRecordBatch on the local stream, retried, then the rule's DLQ.
* SQS targets: the event as a message body (ten to a SendMessageBatch), then the rule's DLQ.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

from .provision import Clients, Route
from .topology import Resource, Topology, UnsupportedTemplate

FIREHOSE_BATCH = 500  # PutRecordBatch: at most 500 records ...
FIREHOSE_BATCH_BYTES = 4 * 1024 * 1024  # ... and 4 MiB per call (Amazon Data Firehose quotas)
SQS_BATCH = 10  # SendMessageBatch / DeleteMessageBatch: at most 10 entries ...
SQS_BATCH_BYTES = 256 * 1024  # ... and 256 KiB of message bodies per SendMessageBatch


def _batches(bodies: list[str], count: int, size: int) -> Iterator[list[tuple[int, str]]]:
    """(index, body) in consecutive batches of at most ``count`` bodies and ``size`` bytes
    (a body larger than ``size`` on its own is a batch of one: the service judges it)."""
    batch: list[tuple[int, str]] = []
    total = 0
    for index, body in enumerate(bodies):
        length = len(body.encode("utf-8"))
        if batch and (len(batch) == count or total + length > size):
            yield batch
            batch, total = [], 0
        batch.append((index, body))
        total += length
    if batch:
        yield batch


CORE_PACKAGE = "kahula_core"  # the persistence core every entry imports
# A Firehose route's messages stay in flight while the whole queue is read and delivered.
ROUTE_IN_FLIGHT_SECONDS = 600
LOCAL_TARGET_ATTEMPTS = 3  # EventBridge would retry for up to 24 h; locally, a few times


@dataclass
class Invocation:
    event: Any
    response: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None
    attempts: int = 0


class LocalLambda:
    """One function of the template, run in this process with its template environment."""

    def __init__(
        self,
        topology: Topology,
        function: Resource,
        *,
        endpoint: str | None,
        sqs: Any,
        log: TextIO,
    ) -> None:
        props = function.properties
        asset = function.metadata.get("aws:asset:path")
        if not asset:
            raise UnsupportedTemplate(f"{function.logical_id}: no code asset path in metadata")
        self.name = topology.name(function.logical_id)
        self.arn = topology.arn(function.logical_id)
        self.code_dir = topology.assembly_dir / asset
        self.handler_path = props["Handler"]
        self.environment = {
            k: str(v)
            for k, v in topology.resolve(props.get("Environment", {}).get("Variables", {})).items()
        }
        if endpoint is not None:  # a moto server; in-process moto needs no endpoint
            self.environment["AWS_ENDPOINT_URL"] = endpoint
        self.environment.update(
            AWS_DEFAULT_REGION=topology.region,
            AWS_REGION=topology.region,
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - moto accepts any credentials
            AWS_LAMBDA_FUNCTION_NAME=self.name,
        )
        self.memory = int(props.get("MemorySize", 128))
        self.retry_attempts, self.on_failure_url = 2, None
        for config in topology.of_type("AWS::Lambda::EventInvokeConfig"):
            if topology.resolve(config.properties["FunctionName"]) == self.name:
                self.retry_attempts = int(config.properties.get("MaximumRetryAttempts", 2))
                destination = config.properties.get("DestinationConfig", {}).get("OnFailure")
                if destination:
                    arn = topology.resolve(destination["Destination"])
                    self.on_failure_url = topology.ref(topology.by_arn(arn).logical_id)
        self._sqs = sqs
        self._log = log
        self._handler: Callable[[Any, Any], Any] | None = None
        self.module: Any = None  # the entry module, imported from the asset on first use
        self.modules: dict[str, Any] = {}
        self.invocations: list[Invocation] = []

    def _load(self) -> Callable[[Any, Any], Any]:
        """Import the handler from the function's own code asset, in its environment.

        Any copy of the package already imported in this process (a test's, a benchmark's)
        is set aside first: the function runs the synthesized asset, as Lambda would.
        """
        if self._handler is None:
            os.environ.update(self.environment)
            module_name, _, attribute = self.handler_path.rpartition(".")
            # The entry's package and the core it imports must both come from the asset: a
            # core missing from the asset fails here, as it would in Lambda.
            packages = (module_name.split(".")[0], CORE_PACKAGE)

            def ours() -> dict[str, Any]:
                return {m: sys.modules[m] for m in list(sys.modules) if m.split(".")[0] in packages}

            # Afterwards the process's own copies are put back: the handler keeps references to
            # the asset's modules, and later imports elsewhere (a test's, a benchmark's) keep
            # getting one copy of each class, never a mix.
            saved = ours()
            for name in saved:
                del sys.modules[name]
            sys.path.insert(0, str(self.code_dir))
            try:
                with contextlib.redirect_stdout(self._log):
                    module = importlib.import_module(module_name)
                core = sys.modules.get(CORE_PACKAGE)
                self.modules = ours()  # the asset's copies, by name (tests reach in through it)
            finally:
                sys.path.remove(str(self.code_dir))
                for name in ours():
                    del sys.modules[name]
                sys.modules.update(saved)
            for loaded in (module, core):
                origin = Path(getattr(loaded, "__file__", None) or "").resolve()
                if self.code_dir.resolve() not in origin.parents:
                    raise UnsupportedTemplate(f"{module_name}: {origin} is not in the asset")
            self.module = module
            self._handler = getattr(module, attribute)
        return self._handler

    def _context(self) -> Any:
        return SimpleNamespace(
            function_name=self.name,
            memory_limit_in_mb=self.memory,
            invoked_function_arn=self.arn,
            aws_request_id=str(uuid.uuid4()),
        )

    def invoke_async(self, event: Any) -> Invocation:
        """Lambda's async invocation: the handler, its retries, then the failure destination."""
        handler = self._load()
        invocation = Invocation(event)
        for _ in range(1 + self.retry_attempts):
            invocation.attempts += 1
            try:
                with contextlib.redirect_stdout(self._log):
                    invocation.response = handler(event, self._context())
            except Exception as exc:
                invocation.error, invocation.error_type = str(exc), type(exc).__name__
                continue
            invocation.error = invocation.error_type = None
            break
        if invocation.error is not None and self.on_failure_url:
            self._sqs.send_message(
                QueueUrl=self.on_failure_url,
                MessageBody=json.dumps(
                    {
                        "version": "1.0",
                        "requestContext": {
                            "functionArn": self.arn,
                            "condition": "RetriesExhausted",
                            "approximateInvokeCount": invocation.attempts,
                        },
                        "requestPayload": event,
                        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                        "responsePayload": {
                            "errorMessage": invocation.error,
                            "errorType": invocation.error_type,
                        },
                    }
                ),
            )
        self.invocations.append(invocation)
        return invocation


@dataclass
class PumpStats:
    delivered: dict[str, int] = field(default_factory=dict)  # rule -> events delivered
    dead_lettered: int = 0


class LocalEventBridge:
    """Moves matched events from each rule's route queue to its target until all are idle."""

    def __init__(
        self,
        topology: Topology,
        clients: Clients,
        routes: list[Route],
        lambdas: dict[str, LocalLambda],
        *,
        firehose_fault: Callable[[], bool] | None = None,
    ) -> None:
        self.topology = topology
        self.clients = clients
        self.routes = routes
        self.lambdas = lambdas
        self.stats = PumpStats()
        self._firehose_fault = firehose_fault

    def _drain(self, url: str) -> Iterator[list[dict[str, Any]]]:
        while True:
            messages = self.clients.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return
            yield messages
            self.clients.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )

    def pump(self, on_delivered: Callable[[int], None] | None = None) -> PumpStats:
        busy = True
        while busy:
            busy = False
            for route in self.routes:
                if route.target.type == "AWS::KinesisFirehose::DeliveryStream":
                    delivered = self._pump_to_firehose(route)
                    busy = busy or bool(delivered)
                    self._delivered(route, delivered, on_delivered)
                    continue
                for messages in self._drain(route.route_queue_url):
                    busy = True
                    events = [json.loads(m["Body"]) for m in messages]
                    self._deliver(route, events)
                    self._delivered(route, len(events), on_delivered)
        return self.stats

    def _delivered(
        self, route: Route, count: int, on_delivered: Callable[[int], None] | None
    ) -> None:
        if count:
            self.stats.delivered[route.rule] = self.stats.delivered.get(route.rule, 0) + count
            if on_delivered is not None:
                on_delivered(count)

    def _pump_to_firehose(self, route: Route) -> int:
        """Everything waiting on a Firehose route, in PutRecordBatch calls as full as the
        quotas allow (500 records, 4 MiB): the stream buffers records into objects anyway.
        Messages are deleted once their batch is delivered or dead-lettered."""
        received: list[dict[str, Any]] = []
        while True:  # received messages stay in flight (invisible) until deleted
            messages = self.clients.sqs.receive_message(
                QueueUrl=route.route_queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=ROUTE_IN_FLIGHT_SECONDS,
            ).get("Messages", [])
            if not messages:
                break
            received += messages
        bodies = [m["Body"] for m in received]
        for batch in _batches(bodies, FIREHOSE_BATCH, FIREHOSE_BATCH_BYTES):
            self._firehose_batch(route, [received[i] for i, _ in batch])
        return len(received)

    def _firehose_batch(self, route: Route, messages: list[dict[str, Any]]) -> None:
        self._to_firehose(route, [json.loads(m["Body"]) for m in messages])
        for start in range(0, len(messages), SQS_BATCH):
            self.clients.sqs.delete_message_batch(
                QueueUrl=route.route_queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages[start : start + SQS_BATCH])
                ],
            )

    def _deliver(self, route: Route, events: list[dict[str, Any]]) -> None:
        kind = route.target.type
        if kind == "AWS::Lambda::Function":
            function = self.lambdas[route.target.logical_id]
            for event in events:
                function.invoke_async(event)
        elif kind == "AWS::KinesisFirehose::DeliveryStream":
            self._to_firehose(route, events)
        elif kind == "AWS::SQS::Queue":
            self._to_queue(route, events)
        else:
            raise UnsupportedTemplate(f"rule target type {kind}")

    def _to_queue(self, route: Route, events: list[dict[str, Any]]) -> None:
        """Each event as one message with the event as its body (as EventBridge sends them),
        in SendMessageBatch calls within its limits; an entry SQS refuses goes to the DLQ."""
        url = self.topology.ref(route.target.logical_id)
        bodies = [json.dumps(e) for e in events]
        for batch in _batches(bodies, SQS_BATCH, SQS_BATCH_BYTES):
            response = self.clients.sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "MessageBody": body} for i, (_, body) in enumerate(batch)],
            )
            refused = response.get("Failed", [])
            if refused:
                self._dead_letter(
                    route,
                    [events[batch[int(f["Id"])][0]] for f in refused],
                    "; ".join(f"{f['Code']}: {f.get('Message', '')}" for f in refused),
                )

    def _to_firehose(self, route: Route, events: list[dict[str, Any]]) -> None:
        stream = self.topology.name(route.target.logical_id)
        pending = events
        error = ""
        for _ in range(min(LOCAL_TARGET_ATTEMPTS, 1 + route.retry_attempts)):
            if self._firehose_fault is not None and self._firehose_fault():
                error = "ServiceUnavailableException: injected fault"
                continue
            response = self.clients.firehose.put_record_batch(
                DeliveryStreamName=stream,
                Records=[{"Data": json.dumps(e).encode("utf-8")} for e in pending],
            )
            failed = [
                e
                for e, r in zip(pending, response["RequestResponses"], strict=True)
                if r.get("ErrorCode")
            ]
            if not failed:
                return
            pending, error = failed, "Firehose rejected records"
        self._dead_letter(route, pending, error)

    def _dead_letter(self, route: Route, events: list[dict[str, Any]], error: str) -> None:
        if route.dead_letter_queue_url is None:
            raise RuntimeError(f"rule {route.rule} has no DLQ and delivery failed: {error}")
        for event in events:
            self.clients.sqs.send_message(
                QueueUrl=route.dead_letter_queue_url,
                MessageBody=json.dumps(event),
                MessageAttributes={
                    "RULE_ARN": {"DataType": "String", "StringValue": route.rule},
                    "ERROR_MESSAGE": {"DataType": "String", "StringValue": error},
                },
            )
            self.stats.dead_lettered += 1
