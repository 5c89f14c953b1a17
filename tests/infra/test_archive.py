"""The S3 archive: Firehose settings, the bucket's protections, and the rule's safety net."""

from __future__ import annotations

from cdk_app.config import ENVIRONMENTS

from .conftest import only


def stream(synth, env):
    return only(synth.resources(env, "AWS::KinesisFirehose::DeliveryStream"))["Properties"]


def archive_bucket(synth, env):
    s3_config = stream(synth, env)["ExtendedS3DestinationConfiguration"]
    bucket_id = s3_config["BucketARN"]["Fn::GetAtt"][0]
    return bucket_id, synth.raw[env]["Resources"][bucket_id]


def test_buffering_compression_and_one_event_per_line(synth, env):
    props = stream(synth, env)
    s3_config = props["ExtendedS3DestinationConfiguration"]
    assert props["DeliveryStreamType"] == "DirectPut"
    assert props["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}
    assert s3_config["BufferingHints"] == {"SizeInMBs": 128, "IntervalInSeconds": 900}
    assert s3_config["CompressionFormat"] == "GZIP"
    assert s3_config["FileExtension"] == ".json.gz"
    assert s3_config["ProcessingConfiguration"] == {
        "Enabled": True,
        "Processors": [{"Type": "AppendDelimiterToRecord", "Parameters": []}],
    }


def test_hive_time_prefix_error_prefix_and_error_logging(synth, env):
    s3_config = stream(synth, env)["ExtendedS3DestinationConfiguration"]
    assert s3_config["Prefix"] == (
        "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/"
        "day=!{timestamp:dd}/hour=!{timestamp:HH}/"
    )
    assert s3_config["ErrorOutputPrefix"].startswith("errors/!{firehose:error-output-type}/")
    logging = s3_config["CloudWatchLoggingOptions"]
    assert logging["Enabled"] is True
    assert logging["LogGroupName"]["Ref"] in synth.raw[env]["Resources"]


def test_delivery_role_can_only_write_its_prefixes(synth, env):
    role_id = stream(synth, env)["ExtendedS3DestinationConfiguration"]["RoleARN"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in synth.resources(env, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in s["Action"]}
    assert actions == {
        "s3:GetBucketLocation",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:AbortMultipartUpload",
        "s3:GetObject",
        "s3:PutObject",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    (writes,) = [s for s in statements if "s3:PutObject" in s["Action"]]
    suffixes = sorted(r["Fn::Join"][1][-1] for r in writes["Resource"])
    assert suffixes == ["/errors/*", "/events/*"]


def test_bucket_is_encrypted_private_versioned_and_logged(synth, env):
    _, bucket = archive_bucket(synth, env)
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "archive-bucket/"


def test_lifecycle_tiers_the_archive_but_never_the_claim_checks(synth, env):
    config = ENVIRONMENTS[env]
    _, bucket = archive_bucket(synth, env)
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    for prefix in ("events", "errors"):
        rule = rules[f"tier-{prefix}"]
        assert rule["Prefix"] == f"{prefix}/"
        assert rule["Transitions"] == [
            {
                "StorageClass": "STANDARD_IA",
                "TransitionInDays": config.archive.infrequent_access_after_days,
            },
            {"StorageClass": "GLACIER", "TransitionInDays": config.archive.glacier_after_days},
        ]
        assert rule.get("ExpirationInDays") == config.archive.expire_after_days
    # No rule that transitions or expires current objects may reach oversize-payloads/.
    for rule in rules.values():
        if "Transitions" in rule or "ExpirationInDays" in rule:
            assert rule.get("Prefix") in ("events/", "errors/")


def test_archive_rule_retries_and_dead_letters(synth, env):
    stream_id = next(iter(synth.resources(env, "AWS::KinesisFirehose::DeliveryStream")))
    (rule,) = [
        r["Properties"]
        for r in synth.resources(env, "AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    ]
    # every event but replay wrappers (their originals are archived already)
    assert rule["EventPattern"] == {"source": [{"anything-but": ["kahula.replay"]}]}
    (target,) = rule["Targets"]
    assert (
        target["RetryPolicy"]["MaximumRetryAttempts"]
        == ENVIRONMENTS[env].archive.rule_retry_attempts
    )
    assert "RoleArn" in target
    dlq_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    # EventBridge may dead-letter into the queue, for this rule only.
    (policy,) = [
        p["Properties"]
        for p in synth.resources(env, "AWS::SQS::QueuePolicy").values()
        if {"Ref": dlq_id} in p["Properties"]["Queues"]
    ]
    allow = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    (statement,) = allow
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert "aws:SourceArn" in statement["Condition"]["ArnEquals"]
