"""AWS Control Tower proactive controls: what the templates do about each, and that the check bites.

The real app's three environments are checked by the session synth (prod defaults) and by
``make scan``; here the stricter switches (customer managed key, VPC) are synthesized in a bare
App with the library's one-line checks, Control Tower included, so the acknowledgements that
travel with the constructs are proven to be enough on their own.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Acknowledgment, App, Environment, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3

from cdk_app.checks import apply_checks
from cdk_app.constructs import (
    ArchiveCatalog,
    EncryptionKey,
    EventArchive,
    EventArchiveProps,
    EventBus,
    EventTable,
    FollowUpRouting,
    FunctionNetwork,
    ObjectLockMode,
    Persister,
)
from cdk_app.constructs.nag import CONTROL_TOWER_RULES
from local.synth import use_project_node

from .conftest import only

ENV = Environment(account="123456789012", region="eu-west-1")


def _of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def _is_access_log_bucket(logical_id: str) -> bool:
    return "AccessLogBucket" in logical_id


@pytest.fixture(scope="module")
def strict(tmp_path_factory) -> dict[str, Any]:
    """The whole pipeline with one customer managed key and the function in a VPC."""
    use_project_node()
    outdir = tmp_path_factory.mktemp("strict")
    app = App(outdir=str(outdir))
    stack = Stack(app, "Strict", env=ENV)
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )
    # The user's VPC (its flow logs are the user's decision, not the library's).
    Validations.of(vpc).acknowledge(
        Acknowledgment(id="AwsSolutions-VPC7", reason="a test VPC that carries no traffic")
    )
    key = EncryptionKey(stack, "Key").key
    bus = EventBus(stack, "Bus")
    archive = EventArchive(stack, "Archive", event_bus=bus, encryption_key=key)
    persister = Persister(
        stack,
        "Persister",
        event_bus=bus,
        table=EventTable(stack, "Table"),
        encryption_key=key,
        network=FunctionNetwork(vpc=vpc, add_endpoints=True),
    )
    FollowUpRouting(stack, "FollowUps", event_bus=bus, persister=persister, encryption_key=key)
    # SQL over the archive: its workgroup encrypts results with the key (CT.ATHENA.PR.2).
    ArchiveCatalog(stack, "Catalog", archive=archive, encryption_key=key)
    apply_checks(app, control_tower=True)
    assembly = app.synth()  # raises on any unacknowledged finding, Control Tower's included
    return {
        "template": assembly.get_stack_by_name("Strict").template,
        "report": json.loads((outdir / "validation-report.json").read_text()),
    }


def test_prod_archive_bucket_is_object_locked_in_governance_mode_for_a_year(synth):
    # GIVEN prod's defaults WHEN synthesized THEN the archive bucket has Object Lock with a
    # default retention, versioning (which Object Lock requires) and its lifecycle rules
    bucket = synth.raw["prod"]["Resources"][
        synth.stacks["prod"].get_logical_id(synth.stacks["prod"].archive.bucket.node.default_child)
    ]["Properties"]
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 365}},
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rule_ids = {r["Id"] for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert {"tier-events", "tier-errors", "expire-replaced-claim-checks"} <= rule_ids


def test_firehose_still_writes_to_the_locked_archive_bucket(synth):
    # GIVEN prod WHEN synthesized THEN the stream delivers to the locked bucket, unchanged
    stack = synth.stacks["prod"]
    stream = only(synth.resources("prod", "AWS::KinesisFirehose::DeliveryStream"))
    destination = stream["Properties"]["ExtendedS3DestinationConfiguration"]
    bucket_id = stack.get_logical_id(stack.archive.bucket.node.default_child)
    assert destination["BucketARN"] == {"Fn::GetAtt": [bucket_id, "Arn"]}
    assert destination["Prefix"].startswith("events/")


def test_dev_archive_is_not_locked_so_it_goes_with_its_stack(synth):
    buckets = synth.resources("dev", "AWS::S3::Bucket")
    assert all("ObjectLockEnabled" not in b["Properties"] for b in buckets.values())


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_every_bucket_sends_its_events_to_eventbridge_without_a_custom_resource(synth, env_name):
    buckets = synth.resources(env_name, "AWS::S3::Bucket")
    for logical_id, bucket in buckets.items():
        assert bucket["Properties"]["NotificationConfiguration"] == {
            "EventBridgeConfiguration": {"EventBridgeEnabled": True}
        }, logical_id
    assert not synth.resources(env_name, "Custom::S3BucketNotifications")


def test_prod_keeps_every_log_group_at_least_a_year(synth):
    groups = synth.resources("prod", "AWS::Logs::LogGroup")
    assert groups
    assert {k: g["Properties"]["RetentionInDays"] >= 365 for k, g in groups.items()} == {
        k: True for k in groups
    }


def test_object_lock_longer_than_the_archive_expiry_is_refused():
    with pytest.raises(ValueError, match="object_lock_days must not exceed expire_after_days"):
        EventArchiveProps(
            object_lock_mode=ObjectLockMode.COMPLIANCE, object_lock_days=400, expire_after_days=365
        )


def test_with_a_key_every_bucket_queue_and_log_group_uses_it(strict):
    template = strict["template"]
    (key_id,) = _of_type(template, "AWS::KMS::Key")
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    for logical_id, bucket in _of_type(template, "AWS::S3::Bucket").items():
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        if _is_access_log_bucket(logical_id):  # S3 logs only to SSE-S3 buckets
            assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
            continue
        assert rule == {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
        }, logical_id
    queues = _of_type(template, "AWS::SQS::Queue")
    assert len(queues) == 9  # archive 1, persister 3, follow-ups 1 + 2 queues with 2 DLQs
    for logical_id, queue in queues.items():
        assert queue["Properties"]["KmsMasterKeyId"] == key_arn, logical_id
        assert queue["Properties"]["KmsDataKeyReusePeriodSeconds"] == 300
    groups = _of_type(template, "AWS::Logs::LogGroup")
    assert len(groups) == 2
    for logical_id, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == key_arn, logical_id


def _key_statements(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    key = only(_of_type(template, "AWS::KMS::Key"))
    return {s.get("Sid", ""): s for s in key["Properties"]["KeyPolicy"]["Statement"]}


def test_key_policy_denies_grants_except_for_aws_resources(strict):
    deny = _key_statements(strict["template"])["GrantsOnlyForAwsServices"]
    assert deny == {
        "Sid": "GrantsOnlyForAwsServices",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {
            "BoolIfExists": {
                "kms:GrantIsForAWSResource": "false",
                "aws:PrincipalIsAWSService": "false",
            }
        },
    }


def test_key_policy_lets_logs_use_it_only_for_this_accounts_log_groups(strict):
    logs = _key_statements(strict["template"])["CloudWatchLogsEncryptsThisAccountsLogGroups"]
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": {
                "Fn::Join": [
                    "",
                    ["arn:", {"Ref": "AWS::Partition"}, ":logs:eu-west-1:123456789012:log-group:*"],
                ]
            }
        }
    }


def test_key_policy_lets_eventbridge_use_it_only_through_sqs_for_its_own_rules(strict):
    events = _key_statements(strict["template"])["EventBridgeDeliversToEncryptedQueues"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(events["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert events["Condition"]["StringEquals"] == {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}
    assert events["Condition"]["ArnLike"] == {
        "aws:SourceArn": {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, ":events:eu-west-1:123456789012:rule/*"],
            ]
        }
    }


def _role_statements(template: dict[str, Any], role_fragment: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _of_type(template, "AWS::IAM::Policy").values()
        if any(role_fragment in r["Ref"] for r in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


@pytest.mark.parametrize(
    ("role", "services"),
    [
        ("PersisterRole", ["s3.eu-west-1.amazonaws.com", "sqs.eu-west-1.amazonaws.com"]),
        ("ArchiveDeliveryRole", ["s3.eu-west-1.amazonaws.com"]),
    ],
)
def test_writers_may_use_the_key_only_through_the_services_they_write_to(strict, role, services):
    (kms,) = [
        s
        for s in _role_statements(strict["template"], role)
        if s.get("Sid") == "EncryptWithThePipelineKey"
    ]
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    got = kms["Condition"]["StringEquals"]["kms:ViaService"]
    assert (sorted(got) if isinstance(got, list) else got) == services


def test_the_vpc_option_puts_the_function_in_the_given_subnets_with_endpoints(strict):
    template = strict["template"]
    function = only(_of_type(template, "AWS::Lambda::Function"))
    config = function["Properties"]["VpcConfig"]
    assert len(config["SubnetIds"]) == 2
    assert len(config["SecurityGroupIds"]) == 1
    endpoints = _of_type(template, "AWS::EC2::VPCEndpoint").values()
    by_kind: dict[str, set[str]] = {"Gateway": set(), "Interface": set()}
    for endpoint in endpoints:
        props = endpoint["Properties"]
        name = json.dumps(props["ServiceName"]).rsplit(".", 1)[-1].strip('"]} ')
        by_kind[props.get("VpcEndpointType", "Gateway")].add(name)
        if props.get("VpcEndpointType") == "Interface":
            assert props["PrivateDnsEnabled"] is True
    assert by_kind == {
        "Gateway": {"dynamodb", "s3"},
        "Interface": {"sqs", "events", "logs", "xray"},
    }
    assert not _of_type(template, "AWS::EC2::NatGateway")


def test_the_strict_pipeline_passes_every_control_with_only_the_travelling_acknowledgements(strict):
    (report,) = [
        p for p in strict["report"]["pluginReports"] if p["pluginName"] == "cdk-validator-cfnguard"
    ]
    assert report["violations"] == []
    suppressed = {v["ruleName"] for v in report["suppressedViolations"]}
    # Only the decisions that stay decisions when every switch is on.
    assert suppressed == {
        "sqs_dlq_check",
        "s3_bucket_logging_enabled_check",
        "s3_bucket_object_lock_enabled_check",
        "s3_bucket_default_encryption_kms_check",
    }


def test_an_unacknowledged_control_fails_synth(tmp_path):
    # GIVEN a bare app with the checks, and a bucket that is only S3's defaults
    use_project_node()
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Sloppy", env=ENV)
    s3.Bucket(stack, "Plain", enforce_ssl=True, server_access_logs_prefix="self/")
    apply_checks(app, control_tower=True)
    # WHEN synthesized THEN it fails and names the Control Tower controls
    with pytest.raises(RuntimeError, match="ValidationFailed") as caught:
        app.synth()
    for rule in ("s3_bucket_object_lock_enabled_check", "s3_event_notifications_enabled_check"):
        assert rule in str(caught.value)


def _bundled_rules() -> dict[str, str]:
    """control id -> rule name, read from the guard files the validator ships."""
    import cdklabs.cdk_validator_cfnguard as plugin

    (bundle,) = (Path(plugin.__file__).parent / "_jsii").glob("*.jsii.tgz")
    rules: dict[str, str] = {}
    with tarfile.open(bundle) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.name.startswith("package/rules/control-tower/cfn-guard/") and name.endswith(
                ".guard"
            ):
                text = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
                control = name.removeprefix("ct-").removesuffix(".guard").upper().replace("-", ".")
                for line in text.splitlines():
                    if line.startswith("rule ") and " when " in line:
                        rules[f"CT.{control}"] = line.split()[1]
                        break
    return rules


def test_the_control_names_we_acknowledge_are_the_validators_own():
    bundled = _bundled_rules()
    assert {c: bundled.get(c) for c in CONTROL_TOWER_RULES} == CONTROL_TOWER_RULES
