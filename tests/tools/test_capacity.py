"""`make capacity`: the rate at which each quota binds, read from a template, and which first."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bench.capacity import (
    DYNAMODB_TABLE_WRITE_UNITS,
    FIREHOSE_REQUESTS_PER_SECOND,
    INVOCATIONS_PER_SECOND,
    PUT_EVENTS_PER_SECOND,
    QUOTAS,
    CapacityError,
    Traffic,
    binding,
    front_doors,
    lambda_ms_per_event,
    main,
    read_deployment,
    rows,
)

SNAPSHOTS = Path(__file__).parents[1] / "infra" / "__snapshots__" / "test_snapshots"
EVERY_EVENT = {"source": [{"prefix": ""}]}


def template(
    *, reserved: int | None = None, saga_index: bool = False, max_writes: int | None = None
) -> dict[str, Any]:
    """The smallest template the model reads: the persister, its table, the bus rules."""
    fn: dict[str, Any] = {
        "Handler": "persister.handler.lambda_handler",
        "MemorySize": 256,
        "Architectures": ["arm64"],
    }
    if reserved is not None:
        fn["ReservedConcurrentExecutions"] = reserved
    table: dict[str, Any] = {"BillingMode": "PAY_PER_REQUEST"}
    if saga_index:
        table["GlobalSecondaryIndexes"] = [{"IndexName": "by-saga"}]
    if max_writes is not None:
        table["OnDemandThroughput"] = {"MaxWriteRequestUnits": max_writes}
    return {
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": fn},
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": table},
            "Stream": {
                "Type": "AWS::KinesisFirehose::DeliveryStream",
                "Properties": {"DeliveryStreamType": "DirectPut"},
            },
            "PersisterRule": {
                "Type": "AWS::Events::Rule",
                "Properties": {"EventPattern": EVERY_EVENT, "Targets": [{"Arn": {"Ref": "Fn"}}]},
            },
            "ArchiveRule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": EVERY_EVENT,
                    "Targets": [{"Arn": {"Fn::GetAtt": ["Stream", "Arn"]}}],
                },
            },
            "FollowUpRule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {"detail-type": ["ValidatableEvent"]},
                    "Targets": [{"Arn": "queue"}],
                },
            },
        }
    }


def by_quota(result, name: str):
    (row,) = [r for r in result if r.quota.startswith(name)]
    return row


def test_reads_the_targets_every_event_and_every_follow_up_reach_from_the_dev_template():
    # GIVEN the dev template as synthesized (the reviewed snapshot)
    dev = json.loads((SNAPSHOTS / "test_template_snapshot[dev].json").read_text())
    # WHEN the model reads it
    deployment = read_deployment(dev)
    # THEN every event reaches the persister and the archive, a follow-up its own queue too
    assert (deployment.every_event_targets, deployment.follow_up_targets) == (2, 1)
    assert deployment.archive_stream
    assert deployment.reserved_concurrency is None


def test_doubling_write_units_per_event_halves_the_dynamodb_bound_rate():
    # GIVEN a 1-write-unit item and a 2-write-unit item
    deployment = read_deployment(template())
    small = rows(deployment, "us-east-1", Traffic(item_bytes=1024))
    large = rows(deployment, "us-east-1", Traffic(item_bytes=1025))
    # WHEN the table quota binds
    name = DYNAMODB_TABLE_WRITE_UNITS.name
    # THEN it binds at half the rate
    assert by_quota(large, name).binds_at == pytest.approx(by_quota(small, name).binds_at / 2)


def test_the_saga_index_adds_a_write_unit_per_event_with_a_saga():
    # GIVEN the same table with and without the keys-only saga index
    plain = rows(read_deployment(template()), "us-east-1", Traffic(item_bytes=500))
    indexed = rows(read_deployment(template(saga_index=True)), "us-east-1", Traffic(item_bytes=500))
    name = DYNAMODB_TABLE_WRITE_UNITS.name
    # THEN each event costs one more unit, so the table binds at half the rate
    assert by_quota(indexed, name).per_event == by_quota(plain, name).per_event + 1
    assert by_quota(indexed, name).binds_at == pytest.approx(20_000)
    # AND a hot saga's index partition becomes a quota of its own
    assert by_quota(indexed, "DynamoDB write units/s per partition: hottest saga")


def test_a_reserved_concurrency_in_the_template_becomes_the_binding_limit():
    # GIVEN a persister with 5 reserved concurrent executions
    result = rows(read_deployment(template(reserved=5)), "us-east-1", Traffic())
    # WHEN the binding quota is chosen
    first, first_verified = binding(result), binding(result, verified_only=True)
    # THEN it derives from the reserved concurrency, and the action is to raise it
    assert first.quota.endswith("(reserved)")
    assert "PersisterProps.reserved_concurrency" in first.action
    assert first_verified.quota == "Lambda concurrent executions (L-B99A9384) (reserved)"
    assert first_verified.limit == 5


def test_a_table_write_maximum_lowers_the_table_limit():
    result = rows(read_deployment(template(max_writes=100)), "us-east-1", Traffic(item_bytes=500))
    row = by_quota(result, DYNAMODB_TABLE_WRITE_UNITS.name)
    assert (row.limit, row.binds_at) == (100, 100)
    assert binding(result) is row


def test_the_binding_quota_is_the_minimum_of_the_sustained_rates():
    # GIVEN every quota of the template
    result = rows(read_deployment(template(saga_index=True)), "us-east-1", Traffic())
    sustained = [r.binds_at for r in result if r.kind == "sustained" and r.binds_at]
    # THEN the binding one binds at the lowest of them
    assert binding(result).binds_at == min(sustained)


def test_ramp_limits_never_count_as_the_binding_quota():
    # GIVEN a 10 KB item: the new table's 4,000 units bind at 400 events/s while it warms up
    result = rows(read_deployment(template()), "us-east-1", Traffic(item_bytes=10 * 1024))
    ramp = by_quota(result, "DynamoDB new on-demand table")
    assert ramp.kind == "ramp"
    assert ramp.binds_at == pytest.approx(400)
    # THEN the binding quota is a sustained one, above the ramp's rate
    assert binding(result).kind == "sustained"
    assert binding(result).binds_at > ramp.binds_at


def test_follow_ups_add_put_events_calls_and_invocations():
    deployment = read_deployment(template())
    none = rows(deployment, "us-east-1", Traffic())
    half = rows(deployment, "us-east-1", Traffic(follow_up_share=0.5))
    # each follow-up is one more PutEvents call, and an event reaching 2 + 1 targets
    assert by_quota(half, PUT_EVENTS_PER_SECOND.name).per_event == 1.5
    assert by_quota(none, INVOCATIONS_PER_SECOND.name).per_event == 2
    assert by_quota(half, INVOCATIONS_PER_SECOND.name).per_event == 1.5 * 2 + 0.5 * 1


def test_batching_producers_raise_the_put_events_bound_rate():
    deployment = read_deployment(template())
    one = by_quota(rows(deployment, "us-east-1", Traffic()), PUT_EVENTS_PER_SECOND.name)
    ten = by_quota(
        rows(deployment, "us-east-1", Traffic(entries_per_put=10)), PUT_EVENTS_PER_SECOND.name
    )
    assert ten.binds_at == pytest.approx(10 * one.binds_at)


def test_a_smaller_region_binds_lower_and_an_unlisted_region_takes_the_other_regions_figure():
    deployment = read_deployment(template())
    virginia = by_quota(rows(deployment, "us-east-1", Traffic()), PUT_EVENTS_PER_SECOND.name)
    ohio = by_quota(rows(deployment, "us-east-2", Traffic()), PUT_EVENTS_PER_SECOND.name)
    elsewhere = by_quota(rows(deployment, "mx-central-1", Traffic()), PUT_EVENTS_PER_SECOND.name)
    assert (virginia.limit, ohio.limit, elsewhere.limit) == (10_000, 2_400, 400)


def test_the_firehose_request_rate_rests_on_an_assumption_and_says_so():
    result = rows(read_deployment(template()), "us-east-1", Traffic())
    assert not by_quota(result, FIREHOSE_REQUESTS_PER_SECOND.name).verified
    assert binding(result, verified_only=True).verified


def test_an_every_event_rule_with_a_literal_arn_counts_as_a_target():
    # GIVEN a third every-event rule whose target is a literal ARN (an existing queue)
    more = template()
    more["Resources"]["AuditRule"] = {
        "Type": "AWS::Events::Rule",
        "Properties": {"EventPattern": EVERY_EVENT, "Targets": [{"Arn": "arn:aws:sqs:q"}]},
    }
    # THEN every event costs three invocations
    assert read_deployment(more).every_event_targets == 3


def test_without_an_archive_rule_no_firehose_quota_applies():
    bare = template()
    del bare["Resources"]["ArchiveRule"]
    result = rows(read_deployment(bare), "us-east-1", Traffic())
    assert not [r for r in result if r.quota.startswith("Firehose")]


def test_fifo_batching_admits_ten_times_the_events():
    doors = {d.door: d for d in front_doors("us-east-1", 1024)}
    assert doors["SQS FIFO, batches of 10"].events_per_second == 10 * 300
    assert doors["SQS standard queue"].events_per_second is None  # no published ceiling
    assert doors["Kinesis, provisioned, 1 shard(s)"].events_per_second == 1_000


def test_every_quota_names_its_aws_page_and_the_date_it_was_checked():
    for quota in QUOTAS:
        assert quota.source.url.startswith("https://docs.aws.amazon.com/"), quota.name
        assert quota.source.checked == "2026-11-22", quota.name


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"follow_up_share": 1.5}, "follow_up_share must be between 0 and 1"),
        ({"entries_per_put": 11}, "entries_per_put must be 1-10"),
        ({"target": 0}, "target must be above 0"),
    ],
)
def test_bad_traffic_is_rejected_with_its_reason(changes, reason):
    with pytest.raises(CapacityError, match=reason):
        Traffic(**changes)


def test_a_template_without_the_persister_is_rejected_with_its_reason():
    broken = copy.deepcopy(template())
    del broken["Resources"]["Fn"]
    with pytest.raises(CapacityError, match="exactly one persister function"):
        read_deployment(broken)


def test_json_names_the_binding_quota_per_environment(tmp_path, capsys):
    # GIVEN a cdk.out with a template whose reserved concurrency is tiny
    (tmp_path / "kahula-dev.template.json").write_text(json.dumps(template(reserved=5)))
    # WHEN make capacity runs with --json
    code = main(["--cdk-out", str(tmp_path), "--item-bytes", "841", "--json"])
    # THEN it names the reserved concurrency as binding first, with the rate and the action
    assert code == 0
    dev = json.loads(capsys.readouterr().out)["environments"]["dev"]
    assert dev["binding"].endswith("(reserved)")
    assert dev["binding_events_per_second"] == pytest.approx(10 * 5)  # 10 requests/s each
    assert dev["binding_verified_events_per_second"] == pytest.approx(
        5 / (lambda_ms_per_event(read_deployment(template()), Traffic()) / 1000)
    )
    assert "PersisterProps.reserved_concurrency" in dev["action"]


def test_a_missing_cdk_out_is_a_clear_error(tmp_path, capsys):
    assert main(["--cdk-out", str(tmp_path), "--item-bytes", "841"]) == 2
    assert "run `make synth` first" in capsys.readouterr().err
