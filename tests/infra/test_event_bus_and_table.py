"""The event bus (name, policy, replay archive) and the events table."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk.assertions import Match

from cdk_app.config import ENVIRONMENTS

from .conftest import only, synthesize


def test_bus_is_named_per_environment(synth, env):
    synth.templates[env].has_resource_properties(
        "AWS::Events::EventBus", {"Name": f"kahula-events-{env}"}
    )


def events_table(synth, env):
    return {
        k: v
        for k, v in synth.resources(env, "AWS::DynamoDB::Table").items()
        if k.startswith("EventTable")
    }


def _denied_sources(synth, env):
    """source (or ``prefix*``) -> the principals the bus's Deny statements leave allowed to
    publish it (none: nobody may)."""
    policy = only(synth.resources(env, "AWS::Events::EventBus"))["Properties"]["Policy"]
    denied = {}
    for deny in policy["Statement"]:
        assert deny["Effect"] == "Deny"
        assert deny["Principal"] == {"AWS": "*"}
        assert deny["Action"] == "events:PutEvents"
        if "StringLike" in deny["Condition"]:
            assert set(deny["Condition"]) <= {"StringLike", "ArnNotEquals"}
            (source,) = deny["Condition"]["StringLike"].values()
        else:
            assert set(deny["Condition"]) == {"StringEquals", "ArnNotEquals"}
            (source,) = deny["Condition"]["StringEquals"].values()
        allowed = deny["Condition"].get("ArnNotEquals", {}).get("aws:PrincipalArn", [])
        denied[source] = {a["Fn::GetAtt"][0] for a in allowed}
    return denied


def _roles(synth, env, *prefixes):
    return {k for k in synth.resources(env, "AWS::IAM::Role") if k.startswith(prefixes)}


def test_only_the_persister_may_publish_under_the_platforms_source(synth, env):
    # GIVEN the bus's resource policy (no producers listed: only the Deny statements are there)
    assert synth.resources(env, "AWS::Events::EventBusPolicy") == {}
    # THEN every principal of any account but the persister's role (and, where the Kinesis
    # and FIFO front doors are deployed, their consumers', which emit follow-ups too) is
    # refused it
    assert _denied_sources(synth, env)["kahula.event-persister"] == _roles(
        synth,
        env,
        "PersisterRole",
        "StreamIngestRole",
        "QueueIngestRole",
        "EventApiWriter",
        "EventApiWriter",
    )


def test_only_the_outbox_pipe_may_publish_under_the_aggregate_stores_source(synth, env):
    # GIVEN the environment's aggregate event store
    # THEN every principal but the outbox pipe's role is refused the store's source
    assert _denied_sources(synth, env)["kahula.aggregate-store"] == _roles(
        synth, env, "AggregateEventStorePipeRole"
    )


def test_no_principal_may_publish_under_the_fifo_doors_tenant_sources(synth, env):
    # GIVEN an environment with the FIFO door, which stamps tenant.<id> on what it stores
    denied = _denied_sources(synth, env)
    if ENVIRONMENTS[env].queue is None:
        assert "tenant.*" not in denied
        return
    # THEN the bus refuses tenant.* to every principal (the door never publishes it there)
    assert denied["tenant.*"] == set()


def test_replay_archive_keeps_every_event_for_the_environment_retention(synth, env):
    archive = only(synth.resources(env, "AWS::Events::Archive"))["Properties"]
    assert archive["RetentionDays"] == ENVIRONMENTS[env].bus.archive_retention_days
    # every event but replay wrappers (their originals are archived already)
    assert archive["EventPattern"] == {"source": [{"anything-but": ["kahula.replay"]}]}


@pytest.fixture(scope="module")
def with_producers(tmp_path_factory):
    staging = ENVIRONMENTS["staging"]
    config = dataclasses.replace(
        staging,
        bus=dataclasses.replace(
            staging.bus,
            producer_account_ids=("111111111111", "222222222222"),
            producer_organization_id="o-abcdefghij",
        ),
    )
    return synthesize(tmp_path_factory.mktemp("producers"), [config])


def test_listed_producers_may_put_events_and_nothing_else(with_producers):
    policy = only(with_producers.resources("staging", "AWS::Events::EventBus"))["Properties"][
        "Policy"
    ]
    statements = {s["Sid"]: s for s in policy["Statement"] if s["Effect"] == "Allow"}
    assert set(statements) == {
        "ProducerAccount111111111111",
        "ProducerAccount222222222222",
        "ProducerOrganization",
    }
    not_the_platform = {
        "StringNotEquals": {
            "events:source": ["kahula.aggregate-store", "kahula.event-persister", "kahula.replay"]
        }
    }
    for statement in statements.values():
        assert statement["Action"] == "events:PutEvents"
    assert statements["ProducerAccount111111111111"]["Condition"] == not_the_platform
    assert statements["ProducerOrganization"]["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"},
        **not_the_platform,
    }


def test_table_key_billing_recovery_and_encryption(synth, env):
    synth.templates[env].has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": f"kahula-events-{env}",
            "KeySchema": [{"AttributeName": "unique_id", "KeyType": "HASH"}],
            "AttributeDefinitions": Match.array_with(
                [{"AttributeName": "unique_id", "AttributeType": "S"}]
            ),
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


@pytest.mark.parametrize(
    ("env", "protected", "policy"),
    [("dev", False, "Delete"), ("staging", True, "Retain"), ("prod", True, "Retain")],
)
def test_stateful_resources_are_retained_and_protected_outside_dev(synth, env, protected, policy):
    table = only(events_table(synth, env))
    assert table["DeletionPolicy"] == policy
    assert table["UpdateReplacePolicy"] == policy
    assert table["Properties"].get("DeletionProtectionEnabled", False) is protected
    buckets = synth.resources(env, "AWS::S3::Bucket")
    assert {b["DeletionPolicy"] for b in buckets.values()} == {policy}
    assert synth.stacks[env].termination_protection is protected


def test_indexes_follow_the_environment_switches(synth, env):
    table = only(events_table(synth, env))["Properties"]
    indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    expected = set()
    if ENVIRONMENTS[env].table.saga_index:
        expected.add("by-saga")
    if ENVIRONMENTS[env].table.event_name_index:
        expected.add("by-event-name")
    assert set(indexes) == expected
    if "by-saga" in indexes:
        assert indexes["by-saga"]["KeySchema"] == [
            {"AttributeName": "saga_id", "KeyType": "HASH"},
            {"AttributeName": "timestamp", "KeyType": "RANGE"},
        ]
        assert indexes["by-saga"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_outputs_name_what_users_need(synth, env):
    outputs = synth.raw[env]["Outputs"]
    assert {
        "EventBusName",
        "EventBusArn",
        "EventTableName",
        "ArchiveBucketName",
        "ValidatableEventQueueUrl",
        "IndexableEventQueueUrl",
    } <= set(outputs)


def test_stack_tags_name_project_and_environment(synth, env):
    # Stack-level tags: CloudFormation propagates them to every taggable resource at deploy.
    assert synth.stacks[env].tags.tag_values() == {"project": "kahula", "environment": env}


def test_every_front_door_writing_to_the_store_refuses_exactly_the_buss_reserved_sources(
    synth, env
):
    # GIVEN the sources the bus's policy reserves (only the platform's roles may publish them)
    reserved = set(_denied_sources(synth, env))
    assert {"kahula.event-persister", "kahula.replay"} <= reserved
    # WHEN the functions that write straight into the store, never crossing that policy, are
    # read from the template (the Kinesis door and the API's writer)
    doors = {
        name: function["Properties"]["Environment"]["Variables"]
        for name, function in synth.resources(env, "AWS::Lambda::Function").items()
        if name.startswith(("StreamIngestFunction", "EventApiWriter"))
    }
    # THEN each is told exactly those sources to refuse; the persister (which stores what the
    # bus delivered, the platform's own events included) and the FIFO door (whose producers
    # do not choose a source) are told none
    for variables in doors.values():
        assert set(variables["RESERVED_SOURCES"].split(",")) == reserved
    others = {
        name: function["Properties"]["Environment"]["Variables"]
        for name, function in synth.resources(env, "AWS::Lambda::Function").items()
        if name not in doors
    }
    assert not [name for name, variables in others.items() if "RESERVED_SOURCES" in variables]
    if ENVIRONMENTS[env].api or ENVIRONMENTS[env].stream:
        assert doors
