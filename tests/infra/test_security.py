"""Secure by default: TLS-only, encrypted, private; cdk-nag clean, acknowledgements reasoned."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Validations
from aws_cdk import aws_sqs as sqs

from cdk_app.config import ENVIRONMENTS, select_environments
from cdk_app.constructs.nag import CONTROL_TOWER_PLUGIN, CONTROL_TOWER_RULES, control
from local.synth import cdk_context
from stacks import build_app


def _denies_insecure_transport(policy_document):
    return any(
        s["Effect"] == "Deny"
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        and s["Principal"] == {"AWS": "*"}
        for s in policy_document["Statement"]
    )


def test_every_queue_is_encrypted_and_tls_only(synth, env):
    queues = synth.resources(env, "AWS::SQS::Queue")
    # nine of the pipeline, the aggregate store's outbox DLQ, and in dev the Kinesis front
    # door's quarantine and on-failure queues and the FIFO door's queue and DLQ
    assert len(queues) == 10 + (2 if ENVIRONMENTS[env].stream is not None else 0) + (
        2 if ENVIRONMENTS[env].queue is not None else 0
    )
    policies = synth.resources(env, "AWS::SQS::QueuePolicy").values()
    for queue_id, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        governing = [p for p in policies if {"Ref": queue_id} in p["Properties"]["Queues"]]
        assert any(_denies_insecure_transport(p["Properties"]["PolicyDocument"]) for p in governing)


def test_every_queue_takes_a_whole_event_with_its_reason(synth, env):
    # GIVEN the quarantine code sizes a message against SQS's 1 MiB (a 1 MB event + its reason)
    # THEN every queue says so, rather than trusting an account's default message size
    for queue_id, queue in synth.resources(env, "AWS::SQS::Queue").items():
        assert queue["Properties"].get("MaximumMessageSize") == 1024 * 1024, queue_id


def test_every_bucket_is_private_encrypted_and_tls_only(synth, env):
    buckets = synth.resources(env, "AWS::S3::Bucket")
    policies = synth.resources(env, "AWS::S3::BucketPolicy").values()
    # The archive and its access logs, and the catalog's query results where it is deployed.
    assert len(buckets) == 2 + (1 if ENVIRONMENTS[env].catalog is not None else 0)
    for bucket_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
        assert "BucketEncryption" in props
        (policy,) = [p for p in policies if p["Properties"]["Bucket"] == {"Ref": bucket_id}]
        assert _denies_insecure_transport(policy["Properties"]["PolicyDocument"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                assert statement["Principal"] != "*"
                assert statement["Principal"] != {"AWS": "*"}


def test_no_resource_policy_allows_anyone(synth, env):
    for resource in synth.raw[env]["Resources"].values():
        for key in ("PolicyDocument", "Policy"):
            document = resource["Properties"].get(key) if "Properties" in resource else None
            if not isinstance(document, dict) or "Statement" not in document:
                continue
            for statement in document["Statement"]:
                if statement["Effect"] == "Allow":
                    assert statement.get("Principal") not in ("*", {"AWS": "*"})


def test_cdk_nag_reports_no_unacknowledged_finding(synth):
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    failures = [
        (plugin["pluginName"], v["ruleName"])
        for plugin in report["pluginReports"]
        for v in plugin.get("violations", [])  # warnings too: a synth prints them
    ]
    assert failures == []


def test_cdk_nag_fails_synth_on_an_insecure_resource(tmp_path):
    # GIVEN the real app plus one queue that is neither encrypted in transit nor dead-lettered
    app = App(context=cdk_context(), outdir=str(tmp_path))
    (stack,) = build_app(app, select_environments("dev", default_region="us-east-1"), prefix="k")
    sqs.Queue(stack, "Sloppy", encryption=sqs.QueueEncryption.UNENCRYPTED)
    # WHEN it is synthesized THEN synth fails and names the rules
    with pytest.raises(RuntimeError, match="ValidationFailed") as caught:
        app.synth()
    assert "AwsSolutions-SQS4" in str(caught.value)


# Where the HTTP API is deployed (README, *HTTP API*): no WAF by default, IAM not Cognito, no
# stage tracing by default, API Gateway's account-wide logging role.
API_ACKNOWLEDGEMENTS = {
    "AwsSolutions-APIG3",
    "AwsSolutions-COG4",
    "Serverless-APIGWXrayEnabled",
    "AwsSolutions-IAM4",
}


def test_every_acknowledgement_gives_a_reason(synth, env):
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    acknowledged: dict[str, str] = {}
    for construct in synth.stacks[env].node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                acknowledged.update(entry.data)
    assert acknowledged, "expected acknowledgements (DLQs, X-Ray, access-log bucket)"
    for rule, reason in acknowledged.items():
        assert len(reason) >= 40, (rule, reason)
    rules = {rule.removeprefix("Annotation::").split("[")[0] for rule in acknowledged}
    nag = {r for r in rules if not r.startswith(f"{CONTROL_TOWER_PLUGIN}::")}
    aggregates = ENVIRONMENTS[env].aggregates
    backups = {"AwsSolutions-IAM4"} if aggregates is not None and aggregates.backups else set()
    # Lambda's own trace sampling is opt-in (cost): acknowledged where it is off (not dev).
    untraced = {"Serverless-LambdaTracing"} if env != "dev" else set()
    assert nag == {
        "AwsSolutions-SQS3",
        "Serverless-SQSRedrivePolicy",
        "AwsSolutions-IAM5",
        "AwsSolutions-S1",
        "Serverless-LambdaDLQ",
        *backups,  # the AWS Backup selection role's AWS managed service-role policy
        *untraced,
        # The FIFO door (dev): SQS event source mappings have no on-failure destination.
        *(["Serverless-LambdaEventSourceMappingDestination"] if env == "dev" else []),
    } | (API_ACKNOWLEDGEMENTS if ENVIRONMENTS[env].api else set())
    controls = {c for c in CONTROL_TOWER_RULES if control(c) in rules}
    # Reviewed in the README's compliance table; retention is acknowledged outside prod only.
    expected = {
        "CT.CLOUDWATCH.PR.3",
        "CT.LAMBDA.PR.3",
        "CT.S3.PR.2",
        "CT.S3.PR.9",
        "CT.S3.PR.10",
        "CT.SQS.PR.1",
        # The archive catalog's workgroup: SSE-S3 results unless the pipeline key is on.
        *(["CT.ATHENA.PR.2"] if ENVIRONMENTS[env].catalog is not None else []),
    }
    assert controls == (expected if env == "prod" else expected | {"CT.CLOUDWATCH.PR.2"})


def test_every_scanner_skip_in_the_templates_gives_its_reason(synth, env):
    skipped = 0
    for logical_id, resource in synth.raw[env]["Resources"].items():
        metadata = resource.get("Metadata", {})
        for skip in metadata.get("checkov", {}).get("skip", []):
            assert len(skip["comment"]) >= 40, (logical_id, skip)
            skipped += 1
        lint = metadata.get("cfn-lint", {})
        for check in lint.get("config", {}).get("ignore_checks", []):
            assert len(lint["reasons"][check]) >= 40, (logical_id, check)
            skipped += 1
    assert skipped > 0


def test_checkov_skips_are_only_the_reviewed_checks(synth, env):
    aggregates = ENVIRONMENTS[env].aggregates
    backups = {"CKV_AWS_166"} if aggregates is not None and aggregates.backups else set()
    checks = {
        skip["id"]
        for resource in synth.raw[env]["Resources"].values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    assert checks == {
        "CKV_AWS_27",  # SQS: SSE-SQS rather than a customer managed key
        "CKV_AWS_119",  # DynamoDB: AWS managed key
        "CKV_AWS_18",  # the access-log bucket is not logged to itself
        "CKV_AWS_158",  # log groups: default encryption, no payloads in logs
        "CKV_AWS_115",  # no reserved concurrency by default
        "CKV_AWS_116",  # on-failure destination instead of a DLQ
        "CKV_AWS_117",  # no VPC
        "CKV_AWS_173",  # no secrets in the environment
        *backups,  # the aggregate store's backup vault: AWS managed key
    } | (
        # the HTTP API's stage: no response cache (it would serve a 404 from before a write),
        # stage X-Ray optional (the functions trace)
        {"CKV_AWS_120", "CKV_AWS_73"} if ENVIRONMENTS[env].api else set()
    )
