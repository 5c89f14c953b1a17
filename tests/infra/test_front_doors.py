"""What every front door shares with the persister, and the doors' strict switches.

One builder (``core_function``) gives the persister and each door its function, role, log
group and *what the persister may write*; these tests read the templates to prove the doors
cannot drift from it. The strict switches (a VPC, the customer managed key) are synthesized in
a bare App with every check on, AWS Control Tower's included: synth raises on any finding the
constructs do not acknowledge themselves.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

import pytest
from aws_cdk import Acknowledgment, App, Environment, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from cdk_app.checks import apply_checks
from cdk_app.constructs import (
    EncryptionKey,
    EventArchive,
    EventBus,
    EventTable,
    FunctionNetwork,
    LogLevel,
    Persister,
    PersisterProps,
    PlatformLogLevel,
    QueueIngest,
    QueueIngestProps,
    StreamIngest,
    StreamIngestProps,
)
from local.synth import use_project_node

from .test_persister import as_list, persister_function, role_statements

ENV = Environment(account="123456789012", region="eu-west-1")
CORE_SIDS = ("PutNewItemsOnly", "StoreOversizePayloads", "QuarantineConflicts")


def function_named(synth: Any, name: str) -> dict[str, Any]:
    (function,) = [
        f
        for f in synth.resources("dev", "AWS::Lambda::Function").values()
        if f["Properties"].get("FunctionName") == name
    ]
    return function


def core_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statements of what the persister may write (PutEvents has no Sid: an L2 grant)."""
    return [
        s
        for s in statements
        if s.get("Sid") in CORE_SIDS or "events:PutEvents" in as_list(s["Action"])
    ]


def statements_of(synth: Any, function: dict[str, Any]) -> list[dict[str, Any]]:
    return role_statements(synth, "dev", function["Properties"]["Role"]["Fn::GetAtt"][0])


# ---------------------------------------------------------------- the app's dev stack


WRITING_DOORS = ["kahula-stream-consumer-dev", "kahula-queue-consumer-dev", "kahula-api-writer-dev"]


@pytest.mark.parametrize("door", WRITING_DOORS)
def test_a_door_may_write_exactly_what_the_persister_may_write(synth, door):
    # GIVEN dev, where the persister and both doors are deployed
    persister = core_statements(statements_of(synth, persister_function(synth, "dev")))
    # WHEN the door's role is read
    theirs = core_statements(statements_of(synth, function_named(synth, door)))
    # THEN the persister's write statements are the door's, to the letter
    assert len(persister) == 4
    assert theirs == persister


@pytest.mark.parametrize("door", WRITING_DOORS)
def test_a_door_stores_with_the_persisters_environment(synth, door):
    persister = persister_function(synth, "dev")["Properties"]["Environment"]["Variables"]
    theirs = function_named(synth, door)["Properties"]["Environment"]["Variables"]
    # the contract, follow-ups, table, bus, queues, bucket, metrics service and namespace;
    # not the replay source: only the bus persister unwraps replays (a door told it would let
    # its producers forge one)
    shared = {
        k: v
        for k, v in persister.items()
        if k not in ("POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_LOG_LEVEL", "REPLAY_SOURCE")
    }
    assert {k: theirs.get(k) for k in shared} == shared
    assert "REPLAY_SOURCE" in persister and "REPLAY_SOURCE" not in theirs


@pytest.mark.parametrize("door", ["kahula-stream-consumer-dev", "kahula-queue-consumer-dev"])
def test_a_door_runs_the_persisters_runtime_layer_and_logging_format(synth, door):
    persister = persister_function(synth, "dev")["Properties"]
    theirs = function_named(synth, door)["Properties"]
    for key in ("Runtime", "Architectures", "Layers"):
        assert theirs[key] == persister[key], key
    assert theirs["LoggingConfig"]["LogFormat"] == "JSON"
    assert theirs["LoggingConfig"]["SystemLogLevel"] == "INFO"  # dev's choice, as the others


# ---------------------------------------------------------------- strict: VPC + key


def _vpc(stack: Stack) -> ec2.Vpc:
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )
    Validations.of(vpc).acknowledge(
        Acknowledgment(id="AwsSolutions-VPC7", reason="a test VPC that carries no traffic")
    )
    return vpc


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Persister and both doors in one VPC, all with the customer managed key; Control Tower on.

    The stream door adds the endpoints (the union of what the three call); the FIFO door runs
    with a security group of the user's.
    """
    use_project_node()
    outdir = tmp_path_factory.mktemp("doors")
    app = App(outdir=str(outdir))
    stack = Stack(app, "Doors", env=ENV)
    vpc = _vpc(stack)
    group = ec2.SecurityGroup(stack, "ConsumerGroup", vpc=vpc, description="the FIFO consumer")
    key = EncryptionKey(stack, "Key").key
    bus, table = EventBus(stack, "Bus"), EventTable(stack, "Table")
    archive = EventArchive(stack, "Archive", event_bus=bus, encryption_key=key)
    persister = Persister(
        stack,
        "Persister",
        event_bus=bus,
        table=table,
        existing_payload_bucket=archive.bucket,
        encryption_key=key,
        network=FunctionNetwork(vpc=vpc),
    )
    stream = StreamIngest(
        stack,
        "Stream",
        event_bus=bus,
        table=table,
        persister=persister,
        archive=archive,
        encryption_key=key,
        network=FunctionNetwork(vpc=vpc, add_endpoints=True),
    )
    queue = QueueIngest(
        stack,
        "Queue",
        persister=persister,
        table=table,
        event_bus=bus,
        archive=archive,
        encryption_key=key,
        network=FunctionNetwork(vpc=vpc, security_groups=[group]),
    )
    # The stream's alarms notify a topic, as the stack's Monitoring wires them.
    stream.add_alarm_actions(sns.Topic(stack, "Alarms", master_key=key, enforce_ssl=True))
    apply_checks(app, control_tower=True)
    template = app.synth().get_stack_by_name("Doors").template
    return {
        "template": template,
        "report": json.loads((outdir / "validation-report.json").read_text()),
        "stack": stack,
        "stream": stream,
        "queue": queue,
        "key": key,
    }


def test_every_check_passes_with_the_doors_in_a_vpc_and_the_key(strict):
    # cdk-nag's packs and Control Tower's controls: nothing unacknowledged
    for report in strict["report"]["pluginReports"]:
        assert report["violations"] == [], report["pluginName"]


def _resource(strict: dict[str, Any], construct: Any) -> dict[str, Any]:
    lid = strict["stack"].get_logical_id(construct.node.default_child)
    return strict["template"]["Resources"][lid]


def _ref(strict: dict[str, Any], construct: Any) -> str:
    return strict["stack"].get_logical_id(construct.node.default_child)


def _statements(strict: dict[str, Any], role: Any) -> list[dict[str, Any]]:
    role_id = _ref(strict, role)
    return [
        s
        for r in strict["template"]["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]


def _key_arn(strict: dict[str, Any]) -> dict[str, Any]:
    return {"Fn::GetAtt": [_ref(strict, strict["key"]), "Arn"]}


@pytest.mark.parametrize("door", ["stream", "queue"])
def test_a_door_in_a_vpc_runs_in_its_private_subnets_with_the_eni_policy(strict, door):
    # GIVEN a door given network=FunctionNetwork(vpc=...) WHEN synthesized
    construct = strict[door]
    function = _resource(strict, construct.function)["Properties"]
    # THEN the function is in the VPC's isolated subnets, with a security group
    subnets = function["VpcConfig"]["SubnetIds"]
    assert len(subnets) == 2
    assert all(s["Ref"].startswith("VpcprivateSubnet") for s in subnets)
    assert len(function["VpcConfig"]["SecurityGroupIds"]) == 1
    # AND its role has the ENI permissions Lambda needs, through AWS's managed policy only
    role = _resource(strict, construct.role)["Properties"]
    (managed,) = role["ManagedPolicyArns"]
    assert "service-role/AWSLambdaVPCAccessExecutionRole" in json.dumps(managed)


def test_a_door_uses_the_security_groups_it_is_given(strict):
    function = _resource(strict, strict["queue"].function)["Properties"]
    group = strict["stack"].get_logical_id(
        strict["stack"].node.find_child("ConsumerGroup").node.default_child
    )
    assert function["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [group, "GroupId"]}]


def test_a_door_adding_endpoints_adds_every_api_it_calls_archive_included(strict):
    # GIVEN the stream door with add_endpoints (it archives through Firehose)
    endpoints = strict["stream"].endpoints
    # THEN gateways for DynamoDB and S3, interfaces for SQS, EventBridge, Logs, X-Ray, Firehose
    assert set(endpoints.gateways) == {"dynamodb", "s3"}
    assert set(endpoints.interfaces) == {"sqs", "events", "logs", "xray", "kinesis-firehose"}
    services = [
        json.dumps(r["Properties"]["ServiceName"])
        for r in strict["template"]["Resources"].values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
    ]
    assert len(services) == 7
    assert sum("firehose" in s for s in services) == 1
    # AND a door not asked to add them adds none
    assert strict["queue"].endpoints is None


def test_without_network_a_door_is_outside_any_vpc(synth):
    for name in ("kahula-stream-consumer-dev", "kahula-queue-consumer-dev"):
        assert "VpcConfig" not in function_named(synth, name)["Properties"], name


def test_with_the_key_the_fifo_queue_and_its_dlq_are_encrypted_with_it(strict):
    queue = strict["queue"]
    for each in (queue.queue, queue.dead_letter_queue):
        props = _resource(strict, each)["Properties"]
        assert props["FifoQueue"] is True
        assert props["KmsMasterKeyId"] == _key_arn(strict)
        assert props["KmsDataKeyReusePeriodSeconds"] == 300
        assert "SqsManagedSseEnabled" not in props


def test_with_the_key_the_ledger_and_idempotency_tables_are_encrypted_with_it(strict):
    for each in (strict["queue"].ledger_table, strict["queue"].idempotency_table):
        resource = _resource(strict, each)
        assert resource["Properties"]["SSESpecification"] == {
            "KMSMasterKeyId": _key_arn(strict),
            "SSEEnabled": True,
            "SSEType": "KMS",
        }
        # no scanner skip claims an AWS managed key any more
        assert "checkov" not in resource.get("Metadata", {})


def test_with_the_key_the_consumer_log_group_is_encrypted_with_it(strict):
    log_group = _resource(strict, strict["queue"].log_group)["Properties"]
    assert log_group["KmsKeyId"] == _key_arn(strict)


@pytest.mark.parametrize(
    ("door", "services"),
    [("queue", ("dynamodb", "s3", "sqs")), ("stream", ("kinesis", "s3", "sqs"))],
)
def test_a_consumer_uses_the_key_only_through_the_services_it_writes_or_reads(
    strict, door, services
):
    # GIVEN a door with the key WHEN its role is read
    kms = [
        s
        for s in _statements(strict, strict[door].role)
        if any(a.startswith("kms:") for a in as_list(s["Action"]))
    ]
    # THEN one statement: data keys and decrypt, on the key, only through those services
    # (the FIFO door: its queue, DLQ, ledger tables; the stream door: its stream)
    (statement,) = kms
    assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Resource"] == _key_arn(strict)
    through = statement["Condition"]["StringEquals"]["kms:ViaService"]
    assert sorted(json.dumps(v) for v in through) == sorted(
        json.dumps(f"{service}.eu-west-1.amazonaws.com") for service in services
    )


def test_the_fifo_consumer_reads_only_its_queue(strict):
    queue_arn = {"Fn::GetAtt": [_ref(strict, strict["queue"].queue), "Arn"]}
    receive = [
        s
        for s in _statements(strict, strict["queue"].role)
        if "sqs:ReceiveMessage" in as_list(s["Action"])
    ]
    assert [s["Resource"] for s in receive] == [queue_arn]
    mapping = _resource(strict, strict["queue"].event_source_mapping)["Properties"]
    assert mapping["EventSourceArn"] == queue_arn
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


# ---------------------------------------------------------------- in a bare App


def bare_fifo_door(props: QueueIngestProps | None = None) -> tuple[Stack, Persister, QueueIngest]:
    """The FIFO door with only what it needs, in a bare App (no stack wiring)."""
    stack = Stack(App(), "S")
    bus, table = EventBus(stack, "Bus"), EventTable(stack, "Table")
    archive = EventArchive(stack, "Archive", event_bus=bus)
    persister = Persister(stack, "P", event_bus=bus, table=table)
    door = QueueIngest(
        stack,
        "Q",
        persister=persister,
        table=table,
        event_bus=bus,
        archive=archive,
        props=props,
    )
    return stack, persister, door


def test_the_fifo_door_reserves_the_follow_up_source_for_its_role_itself():
    # GIVEN the FIFO door on this library's EventBus, in a bare App (no stack wiring)
    stack, persister, door = bare_fifo_door()
    # WHEN synthesized
    (bus_resource,) = Template.from_stack(stack).find_resources("AWS::Events::EventBus").values()
    deny, tenants = (
        s for s in bus_resource["Properties"]["Policy"]["Statement"] if s["Effect"] == "Deny"
    )
    # THEN its role may publish follow-ups under the persister's source, as the persister may
    assert deny["Condition"]["StringEquals"] == {"events:source": "kahula.event-persister"}
    allowed = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    for role in (persister.role, door.role):
        assert {"Fn::GetAtt": [stack.get_logical_id(role.node.default_child), "Arn"]} in allowed
    # AND no principal, its own role included, may put the tenants' sources on the bus
    assert tenants["Condition"] == {"StringLike": {"events:source": "tenant.*"}}


# ---------------------------------------------------------------- props: clear errors


def _ranged(cls: type) -> list[tuple[type, str, int, int, str]]:
    return [(cls, f.name, *f.metadata["within"]) for f in fields(cls) if "within" in f.metadata]


RANGED = [
    *_ranged(PersisterProps),
    *_ranged(StreamIngestProps),
    *_ranged(QueueIngestProps),
]


def test_every_lambda_sizing_knob_of_every_door_declares_its_range():
    names = {(cls.__name__, name) for cls, name, *_ in RANGED}
    for cls in (PersisterProps, StreamIngestProps, QueueIngestProps):
        for knob in ("memory_mb", "timeout_seconds"):
            assert (cls.__name__, knob) in names, (cls.__name__, knob)


def _valid_around(cls: type, name: str, value: Any) -> dict[str, Any] | None:
    """``name=value``, with the knob another check ties it to kept valid (None: no such)."""
    given: dict[str, Any] = {name: value}
    if not isinstance(value, int):
        return given
    if cls is QueueIngestProps and name == "timeout_seconds":
        given["visibility_timeout_seconds"] = max(6 * value, 0)
    if cls is QueueIngestProps and name == "visibility_timeout_seconds" and value >= 0:
        if value < 6:
            return None  # no timeout of 1 s or more fits 6 times into it
        given["timeout_seconds"] = min(value // 6, 900)
    if cls is StreamIngestProps and name == "retention_hours":
        given["max_record_age_seconds"] = 60
    if cls is StreamIngestProps and name == "max_record_age_seconds" and value > 0:
        given["retention_hours"] = min(max(24, -(-value // 3600)), 8760)
    return given


@pytest.mark.parametrize(
    ("cls", "name", "low", "high", "why"),
    RANGED,
    ids=[f"{c.__name__}.{n}" for c, n, *_ in RANGED],
)
def test_a_value_outside_a_knobs_range_is_refused_naming_the_field_and_its_limits(
    cls, name, low, high, why
):
    expected = f"{name} must be an integer from {low} to {high} ({why})"
    for value in (low - 1, high + 1, str(low)):
        # GIVEN a value just outside the range (or of the wrong type) WHEN props are built
        given = _valid_around(cls, name, value)
        assert given is not None
        with pytest.raises(ValueError) as caught:
            cls(**given)
        # THEN the error names the props class, the field, its limits and the value
        message = str(caught.value)
        assert message.startswith(f"{cls.__name__}: "), message
        assert f"{expected}, got {value!r}" in message, message


@pytest.mark.parametrize(
    ("cls", "name", "low", "high", "why"),
    RANGED,
    ids=[f"{c.__name__}.{n}" for c, n, *_ in RANGED],
)
def test_both_ends_of_a_knobs_range_are_accepted(cls, name, low, high, why):
    for value in (low, high):
        given = _valid_around(cls, name, value)
        if given is not None:
            assert getattr(cls(**given), name) == value


@pytest.mark.parametrize("cls", [PersisterProps, StreamIngestProps, QueueIngestProps])
@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("log_level", "INFO", "log_level must be a LogLevel, got 'INFO'"),
        ("platform_log_level", "WARN", "platform_log_level must be a PlatformLogLevel"),
        ("log_retention_days", 10, "log retention must be one of"),
    ],
)
def test_enums_and_log_retention_are_refused_with_the_field_and_allowed_values(
    cls, name, value, expected
):
    with pytest.raises(ValueError, match=re.escape(expected)):
        cls(**{name: value})


@pytest.mark.parametrize("cls", [PersisterProps, StreamIngestProps, QueueIngestProps])
def test_every_problem_of_a_props_object_is_named_at_once(cls):
    with pytest.raises(ValueError) as caught:
        cls(memory_mb=64, log_level="LOUD")
    message = str(caught.value)
    assert "memory_mb must be an integer from 128 to 10240" in message
    assert "log_level must be a LogLevel" in message


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: QueueIngestProps(source_prefix=""), "source_prefix must be 1 to 64 characters"),
        (lambda: QueueIngestProps(default_route=""), "default_route must be a non-empty string"),
        (lambda: StreamIngestProps(bare_type_field=" "), "bare_type_field must be a non-empty"),
        (
            lambda: StreamIngestProps(retention_hours=24, max_record_age_seconds=90_000),
            "max_record_age_seconds (90000) must not exceed the stream retention (24 h)",
        ),
        (
            lambda: QueueIngestProps(timeout_seconds=60),
            "visibility_timeout_seconds (180) must be at least 6 x timeout_seconds (60) = 360",
        ),
    ],
)
def test_cross_field_and_text_checks_name_the_field_and_the_rule(make, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        make()


def test_the_fifo_doors_platform_log_level_reaches_its_function():
    # GIVEN the FIFO door with its application log level only
    stack, _, door = bare_fifo_door(QueueIngestProps(log_level=LogLevel.WARNING))
    # WHEN synthesized
    function = Template.from_stack(stack).find_resources("AWS::Lambda::Function")[
        stack.get_logical_id(door.function.node.default_child)
    ]
    logging = function["Properties"]["LoggingConfig"]
    # THEN by default the platform's START/END/REPORT lines are dropped (WARN), as elsewhere
    assert logging["SystemLogLevel"] == PlatformLogLevel.WARN.value
    assert logging["ApplicationLogLevel"] == "WARN"


# ---------------------------------------------------------------- a door without a persister


def test_the_kinesis_door_alone_on_an_existing_bus_and_table_deploys_no_persister(
    tmp_path,
):
    # GIVEN a bare App: an imported bus and table, a standalone core, only the Kinesis door
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_events as events

    from cdk_app.constructs import StandaloneCore

    use_project_node()
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "DoorOnly", env=ENV)
    bus = events.EventBus.from_event_bus_name(stack, "Bus", "acme-bus")
    table = dynamodb.Table.from_table_name(stack, "Table", "acme-events")
    core = StandaloneCore(stack, "Core", event_bus=bus, table=table)
    door = StreamIngest(stack, "Stream", event_bus=bus, table=table, core=core.core, archive=None)
    # WHEN it synthesizes with every check on (synth raises on an unacknowledged finding)
    apply_checks(app)
    template = app.synth().get_stack_by_name("DoorOnly").template
    # THEN nothing listens on the bus, and the one function is the door's consumer
    resources = template["Resources"].values()
    assert [r for r in resources if r["Type"] == "AWS::Events::Rule"] == []
    functions = [r for r in resources if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 1
    assert functions[0]["Properties"]["Handler"] == door.function.node.default_child.handler
    # AND it stores with the core's conflicts queue and bucket, and archives nothing
    environment = functions[0]["Properties"]["Environment"]["Variables"]
    assert "ARCHIVE_STREAM_NAME" not in json.dumps(environment)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        assert plugin["violations"] == [], plugin["pluginName"]


def test_the_http_api_alone_on_an_existing_bus_and_table_deploys_no_persister(tmp_path):
    # GIVEN a bare App: an imported bus and table, a standalone core, only the HTTP API
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_events as events

    from cdk_app.constructs import EventApi, StandaloneCore

    use_project_node()
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "ApiOnly", env=ENV)
    bus = events.EventBus.from_event_bus_name(stack, "Bus", "acme-bus")
    table = dynamodb.Table.from_table_name(stack, "Table", "acme-events")
    core = StandaloneCore(stack, "Core", event_bus=bus, table=table)
    api = EventApi(stack, "Api", event_bus=bus, table=table, core=core.core, archive=None)
    # WHEN it synthesizes with every check on (synth raises on an unacknowledged finding)
    apply_checks(app)
    template = app.synth().get_stack_by_name("ApiOnly").template
    # THEN nothing listens on the bus; the functions are the API's writer and reader
    resources = template["Resources"]
    assert [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"] == []
    functions = {k for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    writer = stack.get_logical_id(api.writer.node.default_child)
    reader = stack.get_logical_id(api.reader.node.default_child)
    assert functions == {writer, reader}
    # AND the writer stores with the core: its table, bus, conflicts queue and bucket
    environment = resources[writer]["Properties"]["Environment"]["Variables"]
    assert environment["TABLE_NAME"] == "acme-events"
    assert environment["EVENT_BUS_NAME"] == "acme-bus"
    assert "ARCHIVE_STREAM_NAME" not in environment
    report = json.loads((tmp_path / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        assert plugin["violations"] == [], plugin["pluginName"]


def test_leaving_the_archive_out_of_the_http_api_is_refused():
    stack = Stack(App(), "S")
    bus, table = EventBus(stack, "Bus"), EventTable(stack, "Table")
    persister = Persister(stack, "P", event_bus=bus, table=table)
    from cdk_app.constructs import EventApi

    with pytest.raises(TypeError, match="archive"):
        EventApi(stack, "Api", event_bus=bus, table=table, core=persister.core)  # type: ignore[call-arg]


def test_leaving_the_archive_out_of_the_kinesis_door_is_refused():
    # GIVEN a door call that says nothing about archiving
    stack = Stack(App(), "S")
    bus, table = EventBus(stack, "Bus"), EventTable(stack, "Table")
    persister = Persister(stack, "P", event_bus=bus, table=table)
    # WHEN/THEN: archive= is required; "no archive" is archive=None, said out loud
    with pytest.raises(TypeError, match="archive"):
        StreamIngest(stack, "Door", event_bus=bus, table=table, core=persister.core)  # type: ignore[call-arg]


def test_a_door_takes_a_core_or_a_persister_not_both():
    stack = Stack(App(), "S")
    bus, table = EventBus(stack, "Bus"), EventTable(stack, "Table")
    persister = Persister(stack, "P", event_bus=bus, table=table)
    with pytest.raises(ValueError, match="exactly one of core="):
        StreamIngest(
            stack,
            "Door",
            event_bus=bus,
            table=table,
            core=persister.core,
            persister=persister,
            archive=None,
        )
