"""The HTTP API: store an event over HTTPS and read it back by id (API Gateway REST + 2 functions).

``POST /events`` -> the writer, ``GET /events/{id}`` -> the reader. They are separate functions
with separate roles: the writer may write what the persister writes (PutItem, PutEvents for
follow-ups, PutObject on the claim-check prefix, SendMessage to the conflicts queue) and, given
the archive, PutRecord on its stream; the reader may GetItem and GetObject on the claim-check
prefix. No Query or Scan on the event table.

Given an ``aggregate_store`` (the stack does it when the aggregate store is configured too),
``POST /aggregates/{aggregate_id}/events`` -> the aggregate writer and ``GET`` of the same path
-> the aggregate reader, two more functions with their own roles: the writer may PutItem and
ConditionCheckItem on the aggregate table only inside a transaction (TransactWriteItems) and
Query it (the client's redelivery check and version), the reader may Query it; neither has any
action on the event table, and the event functions none on the aggregate table.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct
from kahula_core import spec

from .aggregate_event_store import AggregateEventStore
from .common import LogLevel, Naming, check, in_range, knob, log_retention, pin_feature_flags
from .core_function import HasCore, PersistenceCore, archive_stream, door_core
from .encryption import use_through
from .event_archive import EventArchive
from .event_bus import EventBus
from .event_table import EventTable
from .function_code import HANDLERS, RUNTIME, function_code, powertools_layer
from .nag import (
    CONTROL_TOWER_PLUGIN,
    LOGS_WITHOUT_PAYLOADS,
    acknowledge,
    control,
    nag_resource,
    skip_scan,
)
from .persister import PersisterProps

# Control Tower controls only this construct meets (the guard rules' names, as in nag.py).
_STAGE_XRAY = f"{CONTROL_TOWER_PLUGIN}::api_gw_xray_enabled_check"
_PUBLIC_LAMBDA = f"{CONTROL_TOWER_PLUGIN}::lambda_function_public_access_prohibited_check"


class Authorization(enum.StrEnum):
    IAM = "IAM"  # SigV4-signed requests; callers need execute-api:Invoke on the route
    COGNITO = "COGNITO"  # a Cognito user pool's JWT in the Authorization header


class EndpointKind(enum.StrEnum):
    REGIONAL = "REGIONAL"
    PRIVATE = "PRIVATE"  # reachable only through the listed interface VPC endpoints


@dataclass(frozen=True, kw_only=True)
class EventApiProps:
    """The HTTP API's tunables. Defaults: IAM authorization, regional, throttled, logged."""

    authorization: Authorization = knob(Authorization.IAM, "IAM (SigV4) or COGNITO (JWT)")
    cognito_user_pool_arn: str | None = knob(None, "user pool whose JWTs authorize (COGNITO)")
    endpoint: EndpointKind = knob(EndpointKind.REGIONAL, "REGIONAL or PRIVATE")
    vpc_endpoint_ids: tuple[str, ...] = knob((), "execute-api VPC endpoints allowed (PRIVATE)")
    stage_name: str = knob("v1", "API Gateway stage")
    throttle_rate_per_second: int = knob(100, "stage steady-state requests per second")
    throttle_burst: int = knob(200, "stage burst (requests)")
    stage_tracing: bool = knob(False, "X-Ray tracing on the stage ($5 per million traces)")
    web_acl_arn: str | None = knob(None, "AWS WAF web ACL to associate with the stage")
    cloud_watch_role: bool = knob(
        True, "create API Gateway's account-wide logging role (False: the account has one)"
    )
    memory_mb: int = knob(256, "memory of each function (arm64)")
    timeout_seconds: int = knob(10, "function timeout (API Gateway waits 29 s at most)")
    log_retention_days: int = knob(365, "function and access log retention")
    log_level: LogLevel = knob(LogLevel.INFO, "Powertools log level")
    powertools_version: str = knob(
        PersisterProps().powertools_version, "official Powertools layer version (= the persister's)"
    )

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not isinstance(self.authorization, Authorization):
            problems.append(f"authorization must be an Authorization, got {self.authorization!r}")
        if (self.authorization is Authorization.COGNITO) != bool(self.cognito_user_pool_arn):
            problems.append("cognito_user_pool_arn is required with COGNITO, and only then")
        if not isinstance(self.endpoint, EndpointKind):
            problems.append(f"endpoint must be an EndpointKind, got {self.endpoint!r}")
        if (self.endpoint is EndpointKind.PRIVATE) != bool(self.vpc_endpoint_ids):
            problems.append("vpc_endpoint_ids are required with a PRIVATE endpoint, and only then")
        in_range(
            problems, "throttle_rate_per_second", self.throttle_rate_per_second,
            low=1, high=10_000, why="API Gateway account default",
        )  # fmt: skip
        in_range(problems, "throttle_burst", self.throttle_burst, low=1, high=5_000, why="API GW")
        in_range(problems, "memory_mb", self.memory_mb, low=128, high=10240, why="Lambda limit")
        in_range(
            problems, "timeout_seconds", self.timeout_seconds, low=1, high=29,
            why="API Gateway integration timeout",
        )  # fmt: skip
        if not isinstance(self.log_level, LogLevel):
            problems.append(f"log_level must be a LogLevel, got {self.log_level!r}")
        try:
            log_retention(self.log_retention_days)
        except ValueError as exc:
            problems.append(str(exc))
        check(problems, "EventApiProps")


def _envelope_model_schema() -> apigw.JsonSchema:
    """What API Gateway validates before the writer runs (the writer checks it again)."""
    text = apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, min_length=1)
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4,
        title="Envelope",
        type=apigw.JsonSchemaType.OBJECT,
        required=list(spec.API_ENVELOPE_REQUIRED),
        additional_properties=False,
        properties={
            "source": text,
            "detail-type": text,
            "detail": apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT),
            "time": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING),
        },
    )


def _error_template(status: int, code: str, message: str) -> dict[str, str]:
    """A gateway response in the API's one error shape (``api.responses``)."""
    return {
        "application/json": (
            f'{{"error":{{"status":{status},"code":"{code}","message":{message},'
            '"request_id":"$context.requestId"}}'
        )
    }


# API Gateway's own refusals, in the same shape as the functions' (message: its own text).
_GATEWAY_RESPONSES = (
    (apigw.ResponseType.BAD_REQUEST_BODY, 400, "malformed_event",
     '"$context.error.validationErrorString"'),
    (apigw.ResponseType.BAD_REQUEST_PARAMETERS, 400, "malformed_event",
     '"$context.error.validationErrorString"'),
    (apigw.ResponseType.UNAUTHORIZED, 401, "unauthorized", "$context.error.messageString"),
    (apigw.ResponseType.ACCESS_DENIED, 403, "forbidden", "$context.error.messageString"),
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, 403, "forbidden",
     "$context.error.messageString"),
    (apigw.ResponseType.THROTTLED, 429, "throttled", "$context.error.messageString"),
    (apigw.ResponseType.REQUEST_TOO_LARGE, 413, "payload_too_large",
     "$context.error.messageString"),
    (apigw.ResponseType.INTEGRATION_TIMEOUT, 504, "unavailable", "$context.error.messageString"),
)  # fmt: skip


class EventApi(Construct):
    """API Gateway REST API in front of a writer and a reader function.

    ``EventApi(self, "Api", event_bus=bus, table=table, core=persister.core, archive=archive)``
    is a whole call; like the other front doors it needs only a persistence core
    (``persister.core``, or ``StandaloneCore(...).core`` to deploy no persister; ``persister=``
    is accepted instead of ``core=``). The writer stores with the core's contract, follow-up
    rules and source, conflicts queue and claim-check bucket, so an event stored over HTTP is
    stored exactly as one from the bus. ``archive`` (an ``EventArchive`` or a delivery stream)
    is required: the writer puts what it stores on its stream; ``archive=None`` is the
    explicit choice of no archive.
    Given this library's ``EventBus``, the follow-up source is reserved for the writer too.
    Given ``aggregate_store``, the API also serves its streams (``aggregate_writer``,
    ``aggregate_reader`` and their roles; None otherwise).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus | EventBus,
        table: dynamodb.ITable | EventTable,
        core: PersistenceCore | None = None,
        persister: HasCore | None = None,
        archive: EventArchive | firehose.IDeliveryStream | None,
        aggregate_store: AggregateEventStore | None = None,
        naming: Naming | None = None,
        props: EventApiProps | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        self.props = props = props or EventApiProps()
        self.core = core = door_core(
            "EventApi", core=core, persister=persister, table=table, event_bus=event_bus
        )
        bus, table, payload_objects = core.bus, core.table, core.payload_objects
        retention = log_retention(props.log_retention_days)
        powertools = powertools_layer(self, "Powertools", props.powertools_version)

        def function(
            cid: str, handler: str, service: str, description: str, env: Mapping[str, str]
        ) -> tuple[lambda_.Function, iam.Role, logs.LogGroup]:
            log_group = logs.LogGroup(
                self,
                f"{cid}Logs",
                retention=retention,
                encryption_key=encryption_key,
                removal_policy=RemovalPolicy.DESTROY,
            )
            role = iam.Role(
                self,
                f"{cid}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=description,
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="WriteOwnLogs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[log_group.log_group_arn],
                )
            )
            fn = lambda_.Function(
                self,
                cid,
                function_name=naming.of(f"api-{cid.lower()}") if naming else None,
                description=description,
                runtime=RUNTIME,
                architecture=lambda_.Architecture.ARM_64,
                handler=HANDLERS[handler],
                code=function_code(),
                layers=[powertools],
                memory_size=props.memory_mb,
                timeout=Duration.seconds(props.timeout_seconds),
                role=role,
                log_group=log_group,
                logging_format=lambda_.LoggingFormat.JSON,
                system_log_level_v2=lambda_.SystemLogLevel.WARN,
                application_log_level_v2=getattr(
                    lambda_.ApplicationLogLevel,
                    {"WARNING": "WARN"}.get(props.log_level.value, props.log_level.value),
                ),
                tracing=lambda_.Tracing.ACTIVE,
                environment={
                    **env,
                    spec.Env.POWERTOOLS_SERVICE_NAME: service,
                    spec.Env.POWERTOOLS_LOG_LEVEL: props.log_level.value,
                    spec.Env.POWERTOOLS_TRACE_DISABLED: "true",
                },
            )
            self._function_findings(fn, role, log_group, encryption_key)
            return fn, role, log_group

        writer_env: dict[str, str] = {
            **core.environment(),
            # The sources only the platform publishes under, which a POST may not claim.
            **core.door_environment(),
            # The writer's metrics are the platform's (EventsPersisted, ConflictingEvents, ...):
            # same namespace and service as the persister's, so every alarm covers HTTP too.
            spec.Env.POWERTOOLS_METRICS_NAMESPACE: core.metrics_namespace,
        }
        archive_to = archive_stream(archive)
        if archive_to is not None:
            writer_env[spec.ARCHIVE_STREAM_ENV] = archive_to.delivery_stream_name
        self.writer, self.writer_role, self.writer_log_group = function(
            "Writer",
            "api-writer",
            spec.PERSISTER_SERVICE_NAME,
            "Event API writer: PutItem, PutEvents, claim-check PutObject, SendMessage",
            writer_env,
        )
        self.reader, self.reader_role, self.reader_log_group = function(
            "Reader",
            "api-reader",
            spec.API_READER_SERVICE_NAME,
            "Event API reader: GetItem and claim-check GetObject only",
            {spec.Env.TABLE_NAME: table.table_name},
        )

        # Writer: what the persister may write, and the archive stream. Hand-written: no grant
        # is PutItem-only (Table.grant adds index ARNs).
        for sid, actions, resources in (
            ("PutNewItemsOnly", ["dynamodb:PutItem"], [table.table_arn]),
            ("StoreOversizePayloads", ["s3:PutObject"], [payload_objects]),
            ("QuarantineConflicts", ["sqs:SendMessage"], [core.conflicts_queue.queue_arn]),
        ):
            self.writer_role.add_to_policy(
                iam.PolicyStatement(sid=sid, actions=actions, resources=resources)
            )
        bus.grant_put_events_to(self.writer_role)
        if archive_to is not None:
            self.writer_role.add_to_policy(
                iam.PolicyStatement(
                    sid="ArchiveWhatItStores",
                    actions=["firehose:PutRecord"],
                    resources=[archive_to.delivery_stream_arn],
                )
            )
        if isinstance(event_bus, EventBus):
            event_bus.reserve_source(core.follow_up_source, self.writer_role)
        # Reader: one item by key, and its claim check. No Query, no Scan.
        self.reader_role.add_to_policy(
            iam.PolicyStatement(
                sid="GetItemsByKeyOnly", actions=["dynamodb:GetItem"], resources=[table.table_arn]
            )
        )
        self.reader_role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadOversizePayloads", actions=["s3:GetObject"], resources=[payload_objects]
            )
        )
        if encryption_key is not None:
            self.writer_role.add_to_policy(use_through(encryption_key, "sqs", "s3"))
            self.reader_role.add_to_policy(use_through(encryption_key, "s3"))
        for role, why in (
            (self.writer_role, "PutObject only, under the claim-check prefix; keys are content "
             "hashes made at run time, so they cannot be listed in the policy."),
            (self.reader_role, "GetObject only, under the claim-check prefix; each item names "
             "its own content-hashed key."),
        ):  # fmt: skip
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level scoping.",
            )
            acknowledge(
                role, f"AwsSolutions-IAM5[Resource::{nag_resource(self, payload_objects)}]", why
            )

        self.aggregate_writer: lambda_.Function | None = None
        self.aggregate_reader: lambda_.Function | None = None
        self.aggregate_writer_role: iam.Role | None = None
        self.aggregate_reader_role: iam.Role | None = None
        self.aggregate_log_groups: tuple[logs.LogGroup, ...] = ()
        if aggregate_store is not None:
            store = aggregate_store.props
            store_env = {
                spec.AGGREGATE_TABLE_ENV: aggregate_store.table.table_name,
                spec.AGGREGATE_SHARDS_ENV: str(store.date_bucket_shards),
                **(
                    {spec.AGGREGATE_METRICS_NAMESPACE_ENV: store.metrics_namespace}
                    if store.metrics_namespace
                    else {}
                ),
            }
            self.aggregate_writer, self.aggregate_writer_role, writer_logs = function(
                "AggregateWriter",
                "api-aggregate-writer",
                spec.API_AGGREGATES_SERVICE_NAME,
                "Aggregate API writer: transactional PutItem and ConditionCheckItem, Query",
                store_env,
            )
            self.aggregate_reader, self.aggregate_reader_role, reader_logs = function(
                "AggregateReader",
                "api-aggregate-reader",
                spec.API_AGGREGATES_SERVICE_NAME,
                "Aggregate API reader: Query on the aggregate table only",
                store_env,
            )
            self.aggregate_log_groups = (writer_logs, reader_logs)
            aggregates = aggregate_store.table.table_arn
            # Hand-written: Table.grant would add index ARNs; no grant is transaction-only.
            self.aggregate_writer_role.add_to_policy(
                iam.PolicyStatement(
                    sid="AppendInTransactionsOnly",
                    actions=["dynamodb:PutItem", "dynamodb:ConditionCheckItem"],
                    resources=[aggregates],
                    conditions={
                        "StringEquals": {"dynamodb:EnclosingOperation": "TransactWriteItems"}
                    },
                )
            )
            for role in (self.aggregate_writer_role, self.aggregate_reader_role):
                role.add_to_policy(
                    iam.PolicyStatement(
                        sid="ReadStreamsByAggregate",
                        actions=["dynamodb:Query"],
                        resources=[aggregates],
                    )
                )
                acknowledge(
                    role,
                    "AwsSolutions-IAM5[Resource::*]",
                    "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level scoping.",
                )

        self._build_api(naming, encryption_key, retention)

    # ------------------------------------------------------------------ API Gateway

    def _build_api(
        self, naming: Naming | None, key: kms.IKey | None, retention: logs.RetentionDays
    ) -> None:
        props = self.props
        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", retention=retention, encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )  # fmt: skip
        private = props.endpoint is EndpointKind.PRIVATE
        policy = None
        if private:
            policy = iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="OnlyThroughTheVpcEndpoints",
                        principals=[iam.AnyPrincipal()],
                        actions=["execute-api:Invoke"],
                        resources=["execute-api:/*"],
                    ),
                    iam.PolicyStatement(
                        sid="DenyOutsideTheVpcEndpoints",
                        effect=iam.Effect.DENY,
                        principals=[iam.AnyPrincipal()],
                        actions=["execute-api:Invoke"],
                        resources=["execute-api:/*"],
                        conditions={
                            "StringNotEquals": {"aws:SourceVpce": list(props.vpc_endpoint_ids)}
                        },
                    ),
                ]
            )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=naming.of("events-api") if naming else None,
            description="Store events exactly once over HTTPS; read them back by id",
            endpoint_configuration=apigw.EndpointConfiguration(
                types=[apigw.EndpointType.PRIVATE if private else apigw.EndpointType.REGIONAL],
                vpc_endpoints=[
                    ec2.InterfaceVpcEndpoint.from_interface_vpc_endpoint_attributes(
                        self, f"Vpce{i}", vpc_endpoint_id=vpce, port=443
                    )
                    for i, vpce in enumerate(props.vpc_endpoint_ids)
                ]
                or None,
            ),
            policy=policy,
            cloud_watch_role=props.cloud_watch_role,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=props.stage_name,
                throttling_rate_limit=props.throttle_rate_per_second,
                throttling_burst_limit=props.throttle_burst,
                tracing_enabled=props.stage_tracing,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # never log bodies: they are the events
                metrics_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        self.stage = self.api.deployment_stage
        for response_type, status, code, message in _GATEWAY_RESPONSES:
            headers = (
                {"Retry-After": f"'{spec.API_RETRY_AFTER_SECONDS}'"} if status == 429 else None
            )
            self.api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                status_code=str(status),
                templates=_error_template(status, code, message),
                response_headers=headers,
            )
        self.envelope_model = self.api.add_model(
            "Envelope", content_type="application/json", schema=_envelope_model_schema()
        )
        self.request_validator = self.api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        if props.authorization is Authorization.COGNITO:
            assert props.cognito_user_pool_arn is not None  # checked in props
            pool = cognito.UserPool.from_user_pool_arn(
                self, "UserPool", props.cognito_user_pool_arn
            )
            self.authorizer: apigw.IAuthorizer | None = apigw.CognitoUserPoolsAuthorizer(
                self, "Authorizer", cognito_user_pools=[pool]
            )
            auth: dict[str, Any] = {
                "authorization_type": apigw.AuthorizationType.COGNITO,
                "authorizer": self.authorizer,
            }
        else:
            self.authorizer = None
            auth = {"authorization_type": apigw.AuthorizationType.IAM}
        events_resource = self.api.root.add_resource("events")
        self.post_method = events_resource.add_method(
            "POST",
            apigw.LambdaIntegration(self.writer, allow_test_invoke=False),
            request_validator=self.request_validator,
            request_models={"application/json": self.envelope_model},
            operation_name="postEvent",
            **auth,
        )
        self.get_method = events_resource.add_resource("{id}").add_method(
            "GET",
            apigw.LambdaIntegration(self.reader, allow_test_invoke=False),
            request_validator=self.request_validator,
            request_parameters={"method.request.path.id": True},
            operation_name="getEvent",
            **auth,
        )
        self.aggregate_methods: tuple[apigw.Method, ...] = ()
        if self.aggregate_writer is not None and self.aggregate_reader is not None:
            stream = (
                self.api.root.add_resource("aggregates")
                .add_resource("{aggregate_id}")
                .add_resource("events")
            )
            parameters = {"method.request.path.aggregate_id": True}
            self.aggregate_methods = (
                stream.add_method(
                    "POST",
                    apigw.LambdaIntegration(self.aggregate_writer, allow_test_invoke=False),
                    request_validator=self.request_validator,
                    request_parameters=parameters,
                    operation_name="appendAggregateEvents",
                    **auth,
                ),
                stream.add_method(
                    "GET",
                    apigw.LambdaIntegration(self.aggregate_reader, allow_test_invoke=False),
                    request_validator=self.request_validator,
                    request_parameters=parameters,
                    operation_name="getAggregateEvents",
                    **auth,
                ),
            )
        methods = (self.post_method, self.get_method, *self.aggregate_methods)
        for method in methods:
            for child in method.node.children:
                if isinstance(child, lambda_.CfnPermission):
                    acknowledge(
                        child,
                        _PUBLIC_LAMBDA,
                        "apigateway.amazonaws.com may invoke the function only from this API's "
                        "method (SourceArn = its execute-api ARN, an Fn::Join the rule cannot "
                        "read).",
                    )
        if props.authorization is Authorization.IAM:
            for method in methods:
                acknowledge(
                    method,
                    "AwsSolutions-COG4",
                    "IAM (SigV4) authorization: callers are AWS principals granted "
                    "execute-api:Invoke; a Cognito user pool is the option "
                    "(Authorization.COGNITO).",
                )
        if props.web_acl_arn:
            self.web_acl_association: wafv2.CfnWebACLAssociation | None = (
                wafv2.CfnWebACLAssociation(
                    self, "WebAcl", resource_arn=self.stage.stage_arn, web_acl_arn=props.web_acl_arn
                )
            )
        else:
            self.web_acl_association = None
            reason = (
                "Every request is authorized (SigV4 or a JWT) and the stage is throttled; a web "
                "ACL ($5/month + $1/rule + $0.60/million requests) is an option: web_acl_arn."
            )
            acknowledge(self.stage, "AwsSolutions-APIG3", reason)
        if key is None:
            skip_scan(self.access_log_group, "checkov", "CKV_AWS_158", LOGS_WITHOUT_PAYLOADS)
            acknowledge(self.access_log_group, control("CT.CLOUDWATCH.PR.3"), LOGS_WITHOUT_PAYLOADS)
        skip_scan(
            self.stage,
            "checkov",
            "CKV_AWS_120",
            "No response cache: a cached 404 from before a write would break read-after-write, "
            "and clients already cache by ETag (immutable events).",
        )
        if not props.stage_tracing:
            skip_scan(
                self.stage,
                "checkov",
                "CKV_AWS_73",
                "The functions trace (Lambda's own X-Ray segments); stage tracing is an option "
                "(stage_tracing=True) at $5 per million traces.",
            )
            acknowledge(
                self.stage,
                _STAGE_XRAY,
                "The functions trace (Lambda's own X-Ray segments); stage tracing adds a trace "
                "per request at $5 per million: stage_tracing=True turns it on.",
            )
            acknowledge(
                self.stage,
                "Serverless-APIGWXrayEnabled",
                "The functions trace (Lambda's own X-Ray segments); stage tracing adds a trace "
                "per request at $5 per million: stage_tracing=True turns it on.",
            )
        if props.cloud_watch_role:
            role = self.api.node.try_find_child("CloudWatchRole")
            if role is not None:
                acknowledge(
                    role,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs]",
                    "API Gateway's account-wide logging role: AWS's managed policy is exactly the "
                    "log actions API Gateway needs to write access and execution logs.",
                )

    # ------------------------------------------------------------------ findings

    @staticmethod
    def _function_findings(
        fn: lambda_.Function, role: iam.Role, log_group: logs.LogGroup, key: kms.IKey | None
    ) -> None:
        if key is None:
            skip_scan(log_group, "checkov", "CKV_AWS_158", LOGS_WITHOUT_PAYLOADS)
            acknowledge(log_group, control("CT.CLOUDWATCH.PR.3"), LOGS_WITHOUT_PAYLOADS)
        outside_vpc = (
            "The function calls only AWS APIs over TLS; a VPC would add endpoint cost and "
            "cold-start time and protect nothing here."
        )
        acknowledge(fn, control("CT.LAMBDA.PR.3"), outside_vpc)
        skip_scan(fn, "checkov", "CKV_AWS_117", outside_vpc)
        for check_id, reason in {
            "CKV_AWS_116": "Invoked synchronously by API Gateway: the caller gets the error; a DLQ "
            "applies only to asynchronous invocations.",
            "CKV_AWS_115": "The stage's throttling bounds its concurrency; reserved concurrency "
            "would take from the account pool.",
            "CKV_AWS_173": "The environment holds resource names and contract paths, no secrets.",
        }.items():
            skip_scan(fn, "checkov", check_id, reason)
        skip_scan(
            fn,
            "cfn-lint",
            "W3005",
            "CDK orders the function after its role and the role's policy; the role part is "
            "redundant with Fn::GetAtt, the policy part is needed.",
        )
        acknowledge(
            fn,
            "Serverless-LambdaDLQ",
            "Invoked synchronously by API Gateway: the caller gets the error and retries; a DLQ "
            "applies only to asynchronous invocations.",
        )
        _ = role
