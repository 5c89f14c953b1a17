"""The HTTP API: routes, authorization, stage, the two roles' exact permissions, no read path
but GetItem, and the options (Cognito, private endpoint, WAF) in a bare App."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template
from kahula_core import spec

from cdk_app.checks import apply_checks
from cdk_app.config import ENVIRONMENTS
from cdk_app.constructs import (
    Authorization,
    EndpointKind,
    EventApi,
    EventApiProps,
    EventArchive,
    EventBus,
    EventTable,
    Persister,
)

from .conftest import only

WRITER_ACTIONS = {
    "dynamodb:PutItem",
    "events:PutEvents",
    "s3:PutObject",
    "sqs:SendMessage",
    "firehose:PutRecord",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}
READER_ACTIONS = {
    "dynamodb:GetItem",
    "s3:GetObject",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _function(synth, handler):
    return next(
        (k, v)
        for k, v in synth.resources("dev", "AWS::Lambda::Function").items()
        if v["Properties"]["Handler"] == handler
    )


def _statements(synth, handler):
    _, function = _function(synth, handler)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = synth.raw["dev"]["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    return [
        statement
        for policy in synth.resources("dev", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statements):
    return {a for s in statements for a in _as_list(s["Action"])}


def _resource_of(statements, action):
    (statement,) = [s for s in statements if action in _as_list(s["Action"])]
    return statement["Resource"]


def _path(resources, resource_id):
    """The resource's full path, walked up to the API's root."""
    part = resources[resource_id["Ref"]]["Properties"]
    parent = part["ParentId"]
    above = _path(resources, parent) if "Ref" in parent else ""
    return f"{above}/{part['PathPart']}"


def test_the_api_is_deployed_in_dev_only(synth):
    # GIVEN the three environments WHEN synthesized THEN only dev has the HTTP API
    assert ENVIRONMENTS["dev"].api is not None
    assert len(synth.resources("dev", "AWS::ApiGateway::RestApi")) == 1
    for env in ("staging", "prod"):
        assert not synth.resources(env, "AWS::ApiGateway::RestApi")


def test_routes_are_events_and_aggregate_streams_with_iam_authorization(synth):
    methods = synth.resources("dev", "AWS::ApiGateway::Method")
    routes = {}
    for method in methods.values():
        p = method["Properties"]
        routes[(p["HttpMethod"], _path(synth.raw["dev"]["Resources"], p["ResourceId"]))] = p
    assert set(routes) == {
        ("POST", "/events"),
        ("GET", "/events/{id}"),
        ("POST", "/aggregates/{aggregate_id}/events"),
        ("GET", "/aggregates/{aggregate_id}/events"),
    }
    for p in routes.values():
        assert p["AuthorizationType"] == "AWS_IAM"
        assert p["Integration"]["Type"] == "AWS_PROXY"
        assert "RequestValidatorId" in p
    assert routes[("GET", "/events/{id}")]["RequestParameters"] == {"method.request.path.id": True}
    assert "application/json" in routes[("POST", "/events")]["RequestModels"]
    for method in ("POST", "GET"):
        assert routes[(method, "/aggregates/{aggregate_id}/events")]["RequestParameters"] == {
            "method.request.path.aggregate_id": True
        }


def test_request_body_model_requires_the_envelope_and_nothing_else(synth):
    model = only(synth.resources("dev", "AWS::ApiGateway::Model"))["Properties"]["Schema"]
    assert model["required"] == list(spec.API_ENVELOPE_REQUIRED)
    assert model["additionalProperties"] is False
    assert set(model["properties"]) == set(spec.API_ENVELOPE_REQUIRED + spec.API_ENVELOPE_OPTIONAL)


def test_stage_is_throttled_logged_in_json_without_bodies(synth):
    stage = only(synth.resources("dev", "AWS::ApiGateway::Stage"))["Properties"]
    props = ENVIRONMENTS["dev"].api
    assert props is not None
    (settings,) = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == props.throttle_rate_per_second
    assert settings["ThrottlingBurstLimit"] == props.throttle_burst
    assert settings["DataTraceEnabled"] is False
    assert settings["LoggingLevel"] == "ERROR"
    access = json.loads(stage["AccessLogSetting"]["Format"])
    assert access["requestId"] == "$context.requestId" and access["status"] == "$context.status"


def test_gateway_refusals_use_the_one_error_shape(synth):
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("dev", "AWS::ApiGateway::GatewayResponse").values()
    }
    assert {"BAD_REQUEST_BODY", "THROTTLED", "REQUEST_TOO_LARGE", "ACCESS_DENIED"} <= set(responses)
    for response in responses.values():
        template = response["ResponseTemplates"]["application/json"]
        assert '"request_id":"$context.requestId"' in template
        assert f'"status":{response["StatusCode"]}' in template
    assert responses["THROTTLED"]["ResponseParameters"] == {
        "gatewayresponse.header.Retry-After": "'1'"
    }


def test_writer_may_do_exactly_what_the_persister_writes_and_archive(synth):
    statements = _statements(synth, "api.writer.lambda_handler")
    assert _actions(statements) == WRITER_ACTIONS
    assert _resource_of(statements, "dynamodb:PutItem") == {
        "Fn::GetAtt": [next(iter(synth.resources("dev", "AWS::DynamoDB::Table"))), "Arn"]
    }
    assert json.dumps(_resource_of(statements, "s3:PutObject")).endswith(
        f'"/{spec.PAYLOADS_PREFIX}/*"]]}}'
    )
    stream = next(iter(synth.resources("dev", "AWS::KinesisFirehose::DeliveryStream")))
    assert _resource_of(statements, "firehose:PutRecord") == {"Fn::GetAtt": [stream, "Arn"]}


def test_reader_may_only_get_an_item_and_its_claim_check(synth):
    statements = _statements(synth, "api.reader.lambda_handler")
    assert _actions(statements) == READER_ACTIONS
    assert json.dumps(_resource_of(statements, "s3:GetObject")).endswith(
        f'"/{spec.PAYLOADS_PREFIX}/*"]]}}'
    )


def test_no_scan_anywhere_and_query_only_on_aggregate_streams(synth, env):
    # GIVEN every policy of the environment THEN no Scan, no wildcard, and Query only for the
    # aggregate API's two roles, on the aggregate table itself (no index)
    text = json.dumps(synth.raw[env])
    for action in ("dynamodb:Scan", "dynamodb:*"):
        assert action not in text
    aggregate_table = {"Fn::GetAtt": [_aggregate_table(synth, env), "Arn"]}
    for name, policy in synth.resources(env, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "dynamodb:Query" in _as_list(statement["Action"]):
                assert name.startswith(("EventApiAggregateWriterRole", "EventApiAggregateReader"))
                assert statement["Resource"] == aggregate_table


def _aggregate_table(synth, env):
    (table_id,) = [
        k
        for k, v in synth.resources(env, "AWS::DynamoDB::Table").items()
        if k.startswith("AggregateEventStoreTable")
    ]
    return table_id


def test_aggregate_writer_may_only_append_in_transactions_and_query_the_aggregate_table(synth):
    # GIVEN the aggregate writer's role THEN PutItem and ConditionCheckItem only inside a
    # TransactWriteItems, and Query, each on the aggregate table alone
    statements = _statements(synth, "api.aggregate_writer.lambda_handler")
    assert _actions(statements) == {
        "dynamodb:PutItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Query",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    table = {"Fn::GetAtt": [_aggregate_table(synth, "dev"), "Arn"]}
    (append,) = [s for s in statements if "dynamodb:PutItem" in _as_list(s["Action"])]
    assert set(append["Action"]) == {"dynamodb:PutItem", "dynamodb:ConditionCheckItem"}
    assert append["Resource"] == table
    assert append["Condition"] == {
        "StringEquals": {"dynamodb:EnclosingOperation": "TransactWriteItems"}
    }
    assert _resource_of(statements, "dynamodb:Query") == table


def test_aggregate_reader_may_only_query_the_aggregate_table(synth):
    statements = _statements(synth, "api.aggregate_reader.lambda_handler")
    assert _actions(statements) == {
        "dynamodb:Query",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    assert _resource_of(statements, "dynamodb:Query") == {
        "Fn::GetAtt": [_aggregate_table(synth, "dev"), "Arn"]
    }


def test_the_event_functions_gain_nothing_on_the_aggregate_table(synth):
    # GIVEN the API with the aggregate routes THEN the event writer and reader keep exactly
    # their own permissions, none naming the aggregate table
    table = _aggregate_table(synth, "dev")
    for handler, expected in (
        ("api.writer.lambda_handler", WRITER_ACTIONS),
        ("api.reader.lambda_handler", READER_ACTIONS),
    ):
        statements = _statements(synth, handler)
        assert _actions(statements) == expected
        assert table not in json.dumps(statements)


def test_the_aggregate_functions_read_the_stores_table_and_shards(synth):
    config = ENVIRONMENTS["dev"].aggregates
    assert config is not None
    for handler in ("api.aggregate_writer.lambda_handler", "api.aggregate_reader.lambda_handler"):
        variables = _function(synth, handler)[1]["Properties"]["Environment"]["Variables"]
        assert variables[spec.AGGREGATE_TABLE_ENV] == {"Ref": _aggregate_table(synth, "dev")}
        assert variables[spec.AGGREGATE_SHARDS_ENV] == str(config.date_bucket_shards)
        store = synth.stacks["dev"].aggregates
        assert store is not None  # the client's AppendConflicts, where the store's alarm reads
        assert variables[spec.AGGREGATE_METRICS_NAMESPACE_ENV] == store.props.metrics_namespace


def test_writer_shares_the_persisters_contract_and_archives(synth):
    _, writer = _function(synth, "api.writer.lambda_handler")
    _, persister = _function(synth, "persister.handler.lambda_handler")
    mine = writer["Properties"]["Environment"]["Variables"]
    theirs = persister["Properties"]["Environment"]["Variables"]
    # The replay source is the persister's alone: only the bus reserves it (EventReplay), so a
    # writer told it would trust whatever an HTTP client posts under it.
    shared = {k for k in theirs if not k.startswith("POWERTOOLS_") and k != spec.Env.REPLAY_SOURCE}
    assert {k: mine[k] for k in shared} == {k: theirs[k] for k in shared}
    assert spec.ARCHIVE_STREAM_ENV in mine
    assert spec.Env.REPLAY_SOURCE not in mine


def test_follow_up_source_is_reserved_for_the_writer_too(synth):
    bus = only(synth.resources("dev", "AWS::Events::EventBus"))["Properties"]
    (deny,) = [
        s
        for s in bus["Policy"]["Statement"]
        if s["Effect"] == "Deny"
        and s["Condition"].get("StringEquals") == {"events:source": "kahula.event-persister"}
    ]
    allowed = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    writer_role = _function(synth, "api.writer.lambda_handler")[1]["Properties"]["Role"]
    assert writer_role in allowed


def test_every_api_function_is_monitored_without_asynchronous_delivery_alarms(synth):
    names = {
        a["Properties"].get("AlarmName")
        for a in synth.resources("dev", "AWS::CloudWatch::Alarm").values()
    }
    functions = ("api-writer", "api-reader", "api-aggregate-writer", "api-aggregate-reader")
    for function in functions:
        assert {f"kahula-dev-{function}-errors", f"kahula-dev-{function}-throttles"} <= names
        # invoked synchronously by API Gateway: Lambda publishes no async-delivery metrics
        assert f"kahula-dev-{function}-async-events-dropped" not in names
        assert f"kahula-dev-{function}-destination-delivery-failures" not in names


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"authorization": Authorization.COGNITO}, "cognito_user_pool_arn is required"),
        ({"endpoint": EndpointKind.PRIVATE}, "vpc_endpoint_ids are required"),
        ({"timeout_seconds": 30}, "timeout_seconds must be an integer from 1 to 29"),
    ],
)
def test_props_refuse_incomplete_options(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        EventApiProps(**kwargs)


@pytest.fixture(scope="module")
def options_template() -> Template:
    """Cognito, a private endpoint and a web ACL, in a bare App with the checks on."""
    app = App()
    stack = Stack(app, "Options", env={"account": "111122223333", "region": "eu-west-1"})
    bus = EventBus(stack, "Bus")
    table = EventTable(stack, "Table")
    archive = EventArchive(stack, "Archive", event_bus=bus)
    persister = Persister(
        stack, "Persister", event_bus=bus, table=table, existing_payload_bucket=archive.bucket
    )
    EventApi(
        stack,
        "Api",
        event_bus=bus,
        table=table,
        persister=persister,
        archive=archive,
        props=EventApiProps(
            authorization=Authorization.COGNITO,
            cognito_user_pool_arn="arn:aws:cognito-idp:eu-west-1:111122223333:userpool/eu-west-1_abc",
            endpoint=EndpointKind.PRIVATE,
            vpc_endpoint_ids=("vpce-0123456789abcdef0",),
            web_acl_arn="arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/acl/1",
            stage_tracing=True,
        ),
    )
    apply_checks(app)  # fails the synth on any unacknowledged cdk-nag finding
    return Template.from_stack(stack)


def test_without_an_aggregate_store_the_api_serves_only_events(options_template):
    # GIVEN an EventApi given no aggregate_store THEN two functions and no aggregates route
    handlers = {
        f["Properties"]["Handler"]
        for f in options_template.find_resources("AWS::Lambda::Function").values()
    }
    assert {h for h in handlers if h.startswith("api.")} == {
        "api.writer.lambda_handler",
        "api.reader.lambda_handler",
    }
    parts = {
        r["Properties"]["PathPart"]
        for r in options_template.find_resources("AWS::ApiGateway::Resource").values()
    }
    assert "aggregates" not in parts


def test_cognito_option_authorizes_with_the_user_pool(options_template):
    options_template.resource_count_is("AWS::ApiGateway::Authorizer", 1)
    options_template.has_resource_properties(
        "AWS::ApiGateway::Method", {"AuthorizationType": "COGNITO_USER_POOLS"}
    )


def test_private_option_admits_only_the_vpc_endpoints(options_template):
    options_template.has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {
            "EndpointConfiguration": {
                "Types": ["PRIVATE"],
                "VpcEndpointIds": ["vpce-0123456789abcdef0"],
            },
            "Policy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {
                                    "StringNotEquals": {
                                        "aws:SourceVpce": ["vpce-0123456789abcdef0"]
                                    }
                                },
                            }
                        )
                    ]
                )
            },
        },
    )


def test_waf_option_associates_the_web_acl_with_the_stage(options_template):
    options_template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
    options_template.has_resource_properties("AWS::ApiGateway::Stage", {"TracingEnabled": True})
