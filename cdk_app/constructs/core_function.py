"""One builder for every function that stores events through the persistence core.

The persister and each front door (Kinesis, SQS FIFO, ...) run the same core
(``kahula_core``): they store into the same table, publish follow-ups on the same bus under
the same source, quarantine conflicts in the same queue and claim-check oversize details into
the same bucket, with the same contract. :class:`PersistenceCore` is that shared part, written
once: its environment, and *what the persister may write* (the grants). :func:`core_function`
builds a function on it with the platform's defaults (the one asset, Python on arm64, the
official Powertools layer, JSON logs, its own log group and role, X-Ray), so a door cannot
drift from the persister in what it may write or how it stores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jsii
from aws_cdk import Duration, IStableStringProducer, Lazy, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from kahula_core import spec

from .common import LogLevel, PlatformLogLevel, log_retention
from .encryption import use_through
from .event_bus import EventBus
from .event_table import EventTable
from .function_code import HANDLERS, RUNTIME, function_code, function_logging, powertools_layer
from .nag import LOGS_WITHOUT_PAYLOADS, acknowledge, control, nag_resource, skip_scan
from .network import DEFAULT_INTERFACE_ENDPOINTS, Endpoints, FunctionNetwork, add_endpoints

#: The key attributes of a table that is not this library's ``EventTable``.
DEFAULT_KEY_ATTRIBUTES: tuple[tuple[str, str], ...] = (("unique_id", "HASH"),)

OUTSIDE_VPC = (
    "The function calls only AWS APIs over TLS; a VPC would add endpoint cost and "
    "cold-start time and protect nothing here (pass network= to run it in one)."
)


def resolve_table(
    table: dynamodb.ITable | EventTable,
) -> tuple[dynamodb.ITable, tuple[tuple[str, str], ...]]:
    """The table and the attributes its keys and indexes are built on."""
    if isinstance(table, EventTable):
        return table.table, table.key_attributes
    return table, DEFAULT_KEY_ATTRIBUTES


@dataclass(frozen=True, kw_only=True)
class PersistenceCore:
    """Where a function that stores events writes, and the contract it stores by.

    The persister builds one (``Persister.core``); a front door takes the persister's and
    stores exactly as it does (``persister.core.on(table=..., event_bus=...)``).
    """

    table: dynamodb.ITable
    key_attributes: tuple[tuple[str, str], ...]
    event_bus: events.IEventBus | EventBus
    conflicts_queue: sqs.IQueue
    payload_bucket: s3.IBucket
    follow_up_source: str
    follow_up_rules: tuple[spec.FollowUpRule, ...]
    contract: spec.ContractPaths
    metrics_namespace: str

    def on(
        self, *, table: dynamodb.ITable | EventTable, event_bus: events.IEventBus | EventBus
    ) -> PersistenceCore:
        """The same core writing to ``table`` and publishing on ``event_bus``."""
        resolved, key_attributes = resolve_table(table)
        return dataclasses.replace(
            self, table=resolved, key_attributes=key_attributes, event_bus=event_bus
        )

    @property
    def bus(self) -> events.IEventBus:
        return self.event_bus.bus if isinstance(self.event_bus, EventBus) else self.event_bus

    @property
    def payload_objects(self) -> str:
        """The claim-check objects' ARN pattern (PutObject is granted on it only)."""
        return self.payload_bucket.arn_for_objects(f"{spec.PAYLOADS_PREFIX}/*")

    def environment(self) -> dict[str, str]:
        """What the core reads from the environment (``kahula_core.settings``)."""
        return {
            spec.Env.TABLE_NAME: self.table.table_name,
            spec.Env.EVENT_BUS_NAME: self.bus.event_bus_name,
            spec.Env.CONFLICTS_QUEUE_URL: self.conflicts_queue.queue_url,
            spec.Env.PAYLOAD_BUCKET: self.payload_bucket.bucket_name,
            spec.Env.PAYLOAD_PREFIX: spec.PAYLOADS_PREFIX,
            spec.Env.FOLLOW_UP_SOURCE: self.follow_up_source,
            spec.Env.FOLLOW_UP_RULES: spec.encode_follow_up_rules(self.follow_up_rules),
            spec.Env.INDEXED_ATTRIBUTES: spec.encode_indexed_attributes(self.key_attributes),
            **self.contract.to_environment(),
        }

    def door_environment(self) -> dict[str, str]:
        """What a front door writing straight into the store adds to :meth:`environment`:
        the sources only the platform publishes under (``RESERVED_SOURCES``), which it
        refuses. Read when the template is rendered, so a source reserved on the bus after
        the door was built (the aggregate store's outbox, replays) is included."""
        return {spec.Env.RESERVED_SOURCES: Lazy.string(_ReservedSources(self))}

    def grant_writes(
        self,
        role: iam.Role,
        *,
        encryption_key: kms.IKey | None,
        key_services: Sequence[str] = (),
    ) -> None:
        """What the persister may write, the one definition of it: PutItem on the table,
        PutObject on the claim-check prefix, SendMessage on the conflicts queue, PutEvents on
        the bus, the key's use through SQS and S3 (plus ``key_services``), and the follow-up
        source reserved for ``role`` on this library's ``EventBus``.

        Written by hand where no grant is narrow enough (``Table.grant`` adds the index ARNs;
        no grant is PutItem-only).
        """
        for sid, action, resource in (
            ("PutNewItemsOnly", "dynamodb:PutItem", self.table.table_arn),
            ("StoreOversizePayloads", "s3:PutObject", self.payload_objects),
            ("QuarantineConflicts", "sqs:SendMessage", self.conflicts_queue.queue_arn),
        ):
            role.add_to_policy(iam.PolicyStatement(sid=sid, actions=[action], resources=[resource]))
        self.bus.grant_put_events_to(role)
        if encryption_key is not None:
            role.add_to_policy(use_through(encryption_key, "sqs", "s3", *key_services))
        if isinstance(self.event_bus, EventBus):
            # Follow-ups carry the persister's source, whichever function stored the event.
            self.event_bus.reserve_source(self.follow_up_source, role)


@jsii.implements(IStableStringProducer)
class _ReservedSources:
    """The persister's follow-up source and every source and source prefix (``prefix*``)
    reserved on the library's bus."""

    def __init__(self, core: PersistenceCore) -> None:
        self._core = core

    def produce(self) -> str:
        bus = self._core.event_bus
        reserved = {self._core.follow_up_source}
        if isinstance(bus, EventBus):
            reserved.update(bus.reserved_sources)
            reserved.update(p + spec.RESERVED_PREFIX_MARK for p in bus.reserved_source_prefixes)
        return spec.encode_reserved_sources(reserved)


class HasCore(Protocol):
    """What has a persistence core: a ``Persister``, a ``StandaloneCore``."""

    @property
    def core(self) -> PersistenceCore: ...


def door_core(
    door: str,
    *,
    core: PersistenceCore | None,
    persister: HasCore | None,
    table: dynamodb.ITable | EventTable,
    event_bus: events.IEventBus | EventBus,
) -> PersistenceCore:
    """The core a front door stores with: ``core`` (``persister.core``, or a
    ``StandaloneCore``'s, with no persister deployed) XOR ``persister``, on ``table`` and
    ``event_bus``."""
    if (core is None) == (persister is None):
        raise ValueError(
            f"{door}: pass exactly one of core= (persister.core, or StandaloneCore(...).core "
            "to deploy no persister) and persister="
        )
    chosen = core if core is not None else persister.core  # type: ignore[union-attr]
    return chosen.on(table=table, event_bus=event_bus)


class Archives(Protocol):
    """What has a Firehose delivery stream: an ``EventArchive``."""

    @property
    def delivery_stream(self) -> firehose.IDeliveryStream: ...


def archive_stream(
    archive: Archives | firehose.IDeliveryStream | None,
) -> firehose.IDeliveryStream | None:
    """The delivery stream of ``archive`` (an ``EventArchive`` or a delivery stream)."""
    if archive is None:
        return None
    if hasattr(archive, "delivery_stream_arn"):  # a delivery stream (jsii interfaces are
        return archive  # type: ignore[return-value]  # not runtime-checkable)
    return archive.delivery_stream  # type: ignore[union-attr]


class FunctionKnobs(Protocol):
    """The knobs every core function's props have (``PersisterProps``, ``StreamIngestProps``,
    ``QueueIngestProps`` all do)."""

    @property
    def memory_mb(self) -> int: ...
    @property
    def timeout_seconds(self) -> int: ...
    @property
    def log_retention_days(self) -> int: ...
    @property
    def log_level(self) -> LogLevel: ...
    @property
    def platform_log_level(self) -> PlatformLogLevel: ...
    @property
    def powertools_version(self) -> str: ...


@dataclass(frozen=True)
class CoreFunction:
    """What :func:`core_function` creates."""

    function: lambda_.Function
    role: iam.Role
    log_group: logs.LogGroup
    endpoints: Endpoints | None


def core_function(
    scope: Construct,
    *,
    core: PersistenceCore,
    handler: str,
    function_name: str | None,
    description: str,
    role_description: str,
    knobs: FunctionKnobs,
    environment: Mapping[str, str] | None = None,
    statements: Sequence[iam.PolicyStatement] = (),
    tracing: lambda_.Tracing = lambda_.Tracing.ACTIVE,
    detailed_tracing: bool = False,
    reserved_concurrency: int | None = None,
    encryption_key: kms.IKey | None = None,
    key_services: Sequence[str] = (),
    network: FunctionNetwork | None = None,
    endpoints_for: Sequence[ec2.InterfaceVpcEndpointAwsService] = DEFAULT_INTERFACE_ENDPOINTS,
    scan_skips: Mapping[str, str] | None = None,
    **function_args: Any,
) -> CoreFunction:
    """A function on the persistence core, created in ``scope`` as ``Logs``, ``Role`` and
    ``Function`` (so the logical ids are those of the construct that calls it), sized and
    logged as ``knobs`` (the caller's props) say.

    Its role may write its own log group, what the persister may write
    (:meth:`PersistenceCore.grant_writes`), then ``statements`` (the caller's own). Its
    environment is the core's, then ``environment``, then Powertools' (the platform's service
    and metrics namespace, so every alarm counts every door). ``network`` runs it in a VPC
    (and with ``add_endpoints``, adds the endpoints of ``endpoints_for``, the APIs it calls).
    ``scan_skips`` are the caller's checkov skips on the function, with their reasons.
    ``function_args`` go to ``lambda_.Function`` as they are (retries, destinations...).
    """
    log_group = logs.LogGroup(
        scope,
        "Logs",
        retention=log_retention(knobs.log_retention_days),
        encryption_key=encryption_key,
        removal_policy=RemovalPolicy.DESTROY,
    )
    role = iam.Role(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=role_description,
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn],
        )
    )
    if network is not None:
        # Lambda attaches the function through ENIs made with its role. CDK adds this policy
        # only to a role it creates itself; without it, CreateFunction fails at deploy.
        role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name(
                "service-role/AWSLambdaVPCAccessExecutionRole"
            )
        )
    core.grant_writes(role, encryption_key=encryption_key, key_services=key_services)
    for statement in statements:
        role.add_to_policy(statement)

    function = lambda_.Function(
        scope,
        "Function",
        function_name=function_name,
        description=description,
        runtime=RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        handler=HANDLERS[handler],
        code=function_code(),
        layers=[powertools_layer(scope, "Powertools", knobs.powertools_version)],
        memory_size=knobs.memory_mb,
        timeout=Duration.seconds(knobs.timeout_seconds),
        role=role,
        log_group=log_group,
        tracing=tracing,
        environment={
            **core.environment(),
            **(environment or {}),
            spec.Env.POWERTOOLS_SERVICE_NAME: spec.PERSISTER_SERVICE_NAME,
            spec.Env.POWERTOOLS_METRICS_NAMESPACE: core.metrics_namespace,
            spec.Env.POWERTOOLS_LOG_LEVEL: knobs.log_level.value,
            spec.Env.POWERTOOLS_TRACE_DISABLED: "false" if detailed_tracing else "true",
        },
        reserved_concurrent_executions=reserved_concurrency,
        vpc=network.vpc if network else None,
        vpc_subnets=network.subnet_selection() if network else None,
        security_groups=list(network.security_groups) or None if network else None,
        **function_logging(knobs.log_level, knobs.platform_log_level),
        **function_args,
    )
    endpoints = (
        add_endpoints(scope, network, calls=endpoints_for)
        if network is not None and network.add_endpoints
        else None
    )
    _findings(
        scope,
        function,
        role,
        log_group,
        core=core,
        encryption_key=encryption_key,
        network=network,
        scan_skips=scan_skips or {},
    )
    return CoreFunction(function=function, role=role, log_group=log_group, endpoints=endpoints)


def _findings(
    scope: Construct,
    function: lambda_.Function,
    role: iam.Role,
    log_group: logs.LogGroup,
    *,
    core: PersistenceCore,
    encryption_key: kms.IKey | None,
    network: FunctionNetwork | None,
    scan_skips: Mapping[str, str],
) -> None:
    """The acknowledgements every core function shares, each with its reason."""
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level scoping.",
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::{nag_resource(scope, core.payload_objects)}]",
        "PutObject only, under the claim-check prefix; keys are content hashes made at "
        "run time, so they cannot be listed in the policy.",
    )
    if encryption_key is None:
        skip_scan(log_group, "checkov", "CKV_AWS_158", LOGS_WITHOUT_PAYLOADS)
        acknowledge(log_group, control("CT.CLOUDWATCH.PR.3"), LOGS_WITHOUT_PAYLOADS)
    if network is None:
        acknowledge(function, control("CT.LAMBDA.PR.3"), OUTSIDE_VPC)
        skip_scan(function, "checkov", "CKV_AWS_117", OUTSIDE_VPC)
    else:
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaVPCAccessExecutionRole]",
            "Lambda attaches the function to the VPC through ENIs; AWS's managed policy holds "
            "exactly the EC2 network-interface actions it needs, which allow no scoping.",
        )
    for check_id, reason in scan_skips.items():
        skip_scan(function, "checkov", check_id, reason)
    skip_scan(
        function,
        "cfn-lint",
        "W3005",
        "CDK orders the function after its role and the role's policy; the role part is "
        "redundant with Fn::GetAtt, the policy part is needed.",
    )
