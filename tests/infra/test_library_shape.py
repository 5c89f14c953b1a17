"""The constructs as a platform team uses them: alone, in a bare App, with their own resources.

Every stack here is synthesized in an App without this repository's cdk.json (no feature
flags, no context) and with the library's checks applied in one line; a cdk-nag finding that
the constructs do not acknowledge fails the synthesis.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from kahula_core.spec import DEFAULT_FOLLOW_UP_RULES, FollowUpRule

from cdk_app.checks import apply_checks
from cdk_app.config import select_environments
from cdk_app.constructs import (
    EventArchive,
    EventBus,
    EventBusProps,
    EventTable,
    FollowUpRouting,
    Persister,
    PersisterProps,
    SecureQueue,
)
from local.synth import cdk_context, use_project_node
from stacks import build_app

ENV = Environment(account="123456789012", region="eu-west-1")
EXTRA_RULE = FollowUpRule("ArchivedEvent", "ArchivableEvent")


def _templates(app: App) -> dict[str, dict[str, Any]]:
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    return {s.stack_name: s.template for s in assembly.stacks}


@pytest.fixture(scope="module")
def reuse(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Three reuse cases and the minimal call, in one bare App with the checks applied."""
    use_project_node()
    app = App(outdir=str(tmp_path_factory.mktemp("bare")))

    minimal = Stack(app, "Minimal", env=ENV)
    Persister(
        minimal,
        "Persister",
        event_bus=EventBus(minimal, "Bus"),
        table=EventTable(minimal, "Table"),
    )

    existing_bus = Stack(app, "ExistingBus", env=ENV)
    theirs = events.EventBus.from_event_bus_name(existing_bus, "Theirs", "acme-bus")
    bus = EventBus(existing_bus, "Bus", existing_bus=theirs)
    Persister(existing_bus, "Persister", event_bus=bus, table=EventTable(existing_bus, "Table"))

    archived = Stack(app, "ExistingBusArchived", env=ENV)
    EventBus(
        archived,
        "Bus",
        existing_bus=events.EventBus.from_event_bus_name(archived, "Theirs", "acme-bus"),
        props=EventBusProps(archive_existing_bus=True),
    )

    existing_table = Stack(app, "ExistingTable", env=ENV)
    table = dynamodb.Table.from_table_name(existing_table, "Theirs", "acme-events")
    bucket = s3.Bucket.from_bucket_name(existing_table, "TheirBucket", "acme-payloads")
    Persister(
        existing_table,
        "Persister",
        event_bus=EventBus(existing_table, "Bus"),
        table=table,
        existing_payload_bucket=bucket,
    )

    extra = Stack(app, "ExtraFollowUp", env=ENV)
    extra_bus = EventBus(extra, "Bus")
    persister = Persister(
        extra,
        "Persister",
        event_bus=extra_bus,
        table=EventTable(extra, "Table"),
        props=PersisterProps(follow_up_rules=(*DEFAULT_FOLLOW_UP_RULES, EXTRA_RULE)),
    )
    routing = FollowUpRouting(extra, "FollowUps", event_bus=extra_bus, persister=persister)
    auditor = SecureQueue(
        extra, "Auditor", queue_name=None, retention=Duration.days(4), max_receive_count=3
    )
    routing.add_target(
        "ArchivableEvent",
        targets.SqsQueue(auditor.queue, dead_letter_queue=routing.dead_letter_queue),
    )
    EventArchive(extra, "Archive", event_bus=extra_bus)

    apply_checks(app)
    return _templates(app)


def test_an_archive_in_a_region_agnostic_stack_synthesizes_without_a_warning(tmp_path):
    # GIVEN an archive in a stack with no region (the Firehose L2 then adds its address
    # mapping, which an S3 destination never reads)
    use_project_node()
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Agnostic")
    EventArchive(stack, "Archive", event_bus=EventBus(stack, "Bus"))
    apply_checks(app)
    # WHEN it is synthesized THEN the CDK's own template validation reports nothing
    template = app.synth().get_stack_by_name("Agnostic").template
    assert "awscdkawskinesisfirehoseCidrBlocks" in template["Mappings"]
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert [v for p in report["pluginReports"] for v in p["violations"]] == []
    (validate,) = [
        p for p in report["pluginReports"] if p["pluginName"] == "CloudFormation Validate"
    ]
    assert [s["ruleName"] for s in validate["suppressedViolations"]] == ["W7001"]


def _of_type(template: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == type_]


def _function_env(template: dict[str, Any]) -> dict[str, Any]:
    (function,) = _of_type(template, "AWS::Lambda::Function")
    return function["Properties"]["Environment"]["Variables"]


def test_persister_with_only_a_bus_and_a_table_is_complete(reuse):
    # GIVEN Persister(self, "P", event_bus=bus, table=table) and nothing else
    template = reuse["Minimal"]
    # THEN it made its own claim-check bucket (with access logs), queues, role and log group
    assert len(_of_type(template, "AWS::S3::Bucket")) == 2
    assert len(_of_type(template, "AWS::SQS::Queue")) == 3
    assert len(_of_type(template, "AWS::Lambda::Function")) == 1
    # AND no physical names were imposed, so two copies can share an account
    (function,) = _of_type(template, "AWS::Lambda::Function")
    assert "FunctionName" not in function["Properties"]
    # AND the bus reserves the follow-up source for the persister alone
    (bus,) = _of_type(template, "AWS::Events::EventBus")
    (deny,) = bus["Properties"]["Policy"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"]["StringEquals"] == {"events:source": "kahula.event-persister"}


def test_an_existing_bus_gets_the_reserved_source_deny_and_no_replay_archive(reuse):
    # GIVEN a persister on EventBus(existing_bus=...) with default props
    template = reuse["ExistingBus"]
    # THEN the bus is not created, the impersonation guard is added to it as a policy
    assert _of_type(template, "AWS::Events::EventBus") == []
    (policy,) = _of_type(template, "AWS::Events::EventBusPolicy")
    assert policy["Properties"]["EventBusName"] == "acme-bus"
    assert policy["Properties"]["Statement"]["Effect"] == "Deny"
    # AND no replay archive of its traffic is created on somebody else's bus
    assert _of_type(template, "AWS::Events::Archive") == []
    (rule,) = _of_type(template, "AWS::Events::Rule")
    assert rule["Properties"]["EventBusName"] == "acme-bus"


def test_an_existing_bus_gets_a_replay_archive_only_when_asked(reuse):
    # GIVEN EventBusProps(archive_existing_bus=True) on an existing bus
    (archive,) = _of_type(reuse["ExistingBusArchived"], "AWS::Events::Archive")
    # THEN the archive reads that bus, and names no key (absent: the AWS owned key, not "")
    assert "acme-bus" in json.dumps(archive["Properties"]["SourceArn"])
    assert "KmsKeyIdentifier" not in archive["Properties"]


def test_a_created_bus_archive_names_no_empty_key(reuse):
    (archive,) = _of_type(reuse["Minimal"], "AWS::Events::Archive")
    assert "KmsKeyIdentifier" not in archive["Properties"]


def test_an_existing_table_and_bucket_are_written_to_and_acknowledged(reuse):
    # GIVEN imported table and bucket (the cdk-nag acknowledgement must match the imported ARN,
    # or this synthesis would have failed)
    template = reuse["ExistingTable"]
    assert _of_type(template, "AWS::DynamoDB::Table") == []
    assert _of_type(template, "AWS::S3::Bucket") == []
    statements = [
        s
        for p in _of_type(template, "AWS::IAM::Policy")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    put_item = next(s for s in statements if s["Action"] == "dynamodb:PutItem")
    assert "table/acme-events" in json.dumps(put_item["Resource"])
    put_object = next(s for s in statements if s["Action"] == "s3:PutObject")
    assert json.dumps(put_object["Resource"]).endswith('acme-payloads/oversize-payloads/*"]]}')
    assert _function_env(template)["PAYLOAD_BUCKET"] == "acme-payloads"


def test_a_follow_up_type_added_by_props_is_both_emitted_and_routed(reuse):
    template = reuse["ExtraFollowUp"]
    rules = json.loads(_function_env(template)["FOLLOW_UP_RULES"])
    assert ["ArchivedEvent", "ArchivableEvent"] in rules
    routed = [
        r["Properties"]
        for r in _of_type(template, "AWS::Events::Rule")
        if r["Properties"]["EventPattern"].get("detail-type") == ["ArchivableEvent"]
    ]
    (rule,) = routed
    assert rule["EventPattern"]["source"] == ["kahula.event-persister"]
    assert len(rule["Targets"]) == 2  # its own queue, and the user's added target


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda s: EventBus(
                s,
                "B",
                existing_bus=events.EventBus.from_event_bus_name(s, "X", "x"),
                bus_props={"description": "d"},
            ),
            "EventBus: pass either existing_bus or bus_props, not both",
        ),
        (
            lambda s: EventArchive(
                s,
                "A",
                event_bus=EventBus(s, "B"),
                existing_bucket=s3.Bucket.from_bucket_name(s, "X", "their-bucket"),
                bucket_props={"bucket_name": "other-bucket"},
            ),
            "EventArchive: pass either existing_bucket or bucket_props, not both",
        ),
        (
            lambda s: Persister(
                s,
                "P",
                event_bus=EventBus(s, "B"),
                table=EventTable(s, "T"),
                existing_payload_bucket=s3.Bucket.from_bucket_name(s, "X", "their-bucket"),
                payload_bucket_props={"bucket_name": "other-bucket"},
            ),
            "Persister: pass either existing_payload_bucket or payload_bucket_props, not both",
        ),
        (
            lambda s: EventTable(s, "T", table_props={"partition_key": None}),
            "partition_key cannot be overridden",
        ),
    ],
)
def test_existing_and_props_together_are_refused(build, message):
    stack = Stack(App(), "S")
    with pytest.raises(ValueError, match=message):
        build(stack)


def _policies(template: dict[str, Any]) -> dict[str, Any]:
    """Every IAM policy and resource policy of a template, by logical id."""
    policy_keys = {"PolicyDocument", "KeyPolicy", "Policy", "AssumeRolePolicyDocument"}
    out = {}
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        found = {k: v for k, v in props.items() if k in policy_keys}
        if found:
            out[logical_id] = found
    return out


def _meaning(value: Any) -> Any:
    """A policy as IAM reads it: the order of actions and resources is not meaningful, and
    the partition pseudo parameter is what CDK writes as a literal under
    ``@aws-cdk/core:enablePartitionLiterals``; ``@aws-cdk/aws-iam:minimizePolicies`` only
    sorts. Nothing else is normalised."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] == "AWS::Partition":
            return "aws"
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            parts = [_meaning(p) for p in parts]
            if all(isinstance(p, str) for p in parts):
                return separator.join(parts)
            return {"Fn::Join": [separator, parts]}
        out = {k: _meaning(v) for k, v in value.items()}
        for key in ("Action", "Resource", "NotAction", "NotResource"):
            if isinstance(out.get(key), list):
                out[key] = sorted(out[key], key=lambda v: json.dumps(v, sort_keys=True))
        return out
    if isinstance(value, list):
        return [_meaning(v) for v in value]
    return value


def test_iam_and_resource_policies_do_not_depend_on_the_projects_feature_flags(tmp_path):
    # GIVEN prod synthesized with this repository's cdk.json, and again in a bare App
    use_project_node()
    (config,) = select_environments("prod", default_region="us-east-1")
    config = dataclasses.replace(config, account="123456789012")
    with_flags = App(context=cdk_context(), outdir=str(tmp_path / "flags"))
    bare = App(outdir=str(tmp_path / "bare"))
    build_app(with_flags, [config], prefix="kahula")
    build_app(bare, [config], prefix="kahula")
    (a,) = with_flags.synth().stacks
    (b,) = bare.synth().stacks
    # THEN every policy grants and denies the same
    assert _meaning(_policies(a.template)) == _meaning(_policies(b.template))
    # AND so is every resource but the asset metadata CDK writes only when the CLI asks
    Template.from_json(b.template).resource_count_is(
        "AWS::IAM::Role", len(_of_type(a.template, "AWS::IAM::Role"))
    )


def test_a_reserved_source_prefix_is_denied_to_every_producer(tmp_path):
    # GIVEN a bus open to a producer account, with a source and a source prefix reserved
    use_project_node()
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Prefixed", env=ENV)
    bus = EventBus(stack, "Bus", props=EventBusProps(producer_account_ids=("111111111111",)))
    bus.reserve_source_prefix("tenant.")
    template = Template.from_stack(stack).to_json()
    (resource,) = _of_type(template, "AWS::Events::EventBus")
    statements = {s["Sid"]: s for s in resource["Properties"]["Policy"]["Statement"]}
    # THEN the producer's Allow excludes the prefix, and a Deny with no exception refuses it
    # to every principal (the door that stamps it never publishes on the bus)
    assert statements["ProducerAccount111111111111"]["Condition"] == {
        "StringNotLike": {"events:source": ["tenant.*"]}
    }
    deny = statements["NoProducerPublishesUnderPrefix0"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Condition"] == {"StringLike": {"events:source": "tenant.*"}}


@pytest.mark.parametrize("bad", ["", "tenant*", "ten,ant.", " tenant.", "t?."])
def test_a_reserved_source_or_prefix_that_iam_would_read_as_a_wildcard_is_refused(bad):
    stack = Stack(App(), "Refused")
    bus = EventBus(stack, "Bus")
    with pytest.raises(ValueError, match="reserved source prefix must be"):
        bus.reserve_source_prefix(bad)
