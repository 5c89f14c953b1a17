"""The gate's decision on recorded templates: deployed kahula-prod against a new one."""

from __future__ import annotations

import copy

import pytest

from scripts.gate import (
    Allowance,
    GateError,
    Outcome,
    compare,
    decide,
    failed,
    first_deploy,
    merge,
    parse_allowances,
    summary_markdown,
    trailer_allowances,
)

STACK = "kahula-prod"
TABLE = "EventTable23755758"
NEW_KEY = [{"AttributeName": "event_key", "KeyType": "HASH"}]


def verdict(old, new, allowances=()):
    return decide(compare(STACK, old, new), allowances, subject=STACK, hint="how to allow")


def test_the_same_template_is_no_changes(deployed):
    result = verdict(deployed, copy.deepcopy(deployed))
    assert result.outcome is Outcome.NO_CHANGES
    assert result.headline == f"NO CHANGES: {STACK}"


def test_a_new_table_key_is_blocked_naming_stack_logical_id_and_property(deployed, edited):
    # GIVEN the deployed prod stack and a template that changes the table's partition key
    new = edited(TABLE, "KeySchema", NEW_KEY)
    # WHEN the gate decides
    result = verdict(deployed, new)
    # THEN it blocks, naming stack/logical-id, the type and the property that forces it
    assert result.outcome is Outcome.BLOCKED
    assert [c.key for c in result.blocked] == [f"{STACK}/{TABLE}"]
    assert (
        f"x {STACK}/{TABLE} AWS::DynamoDB::Table: KeySchema (may require replacement)"
        in result.render()
    )
    assert "how to allow" in result.render()


def test_a_new_type_for_the_tables_key_attribute_is_blocked(deployed, edited):
    # GIVEN a template whose key attribute keeps its name but changes its type (S -> B)
    definitions = copy.deepcopy(deployed["Resources"][TABLE]["Properties"]["AttributeDefinitions"])
    for definition in definitions:
        if definition["AttributeName"] == "unique_id":
            definition["AttributeType"] = "B"
    new = edited(TABLE, "AttributeDefinitions", definitions)
    # WHEN the gate decides
    result = verdict(deployed, new)
    # THEN the table is blocked as replaced
    assert result.outcome is Outcome.BLOCKED
    assert "AttributeDefinitions of a key attribute (requires replacement)" in result.render()


def test_a_new_index_attribute_is_not_a_replacement(deployed, edited):
    # GIVEN a template that only adds an attribute definition (for a new index)
    definitions = copy.deepcopy(deployed["Resources"][TABLE]["Properties"]["AttributeDefinitions"])
    new = edited(
        TABLE, "AttributeDefinitions", [*definitions, {"AttributeName": "x", "AttributeType": "S"}]
    )
    # THEN nothing is blocked
    assert verdict(deployed, new).outcome is not Outcome.BLOCKED


def test_an_allowance_naming_the_table_lets_it_through_and_says_so(deployed, edited):
    new = edited(TABLE, "KeySchema", NEW_KEY)
    allowance = Allowance(f"{STACK}/{TABLE}", "the workflow input")
    result = verdict(deployed, new, [allowance])
    assert result.outcome is Outcome.ALLOWED
    assert result.allowed == ((result.changes[0], allowance),)
    assert f"allowed for this run (the workflow input): {STACK}/{TABLE}" in result.render()


def test_an_allowance_for_another_resource_does_not_unblock_and_is_reported_unused(
    deployed, edited
):
    new = edited(TABLE, "KeySchema", NEW_KEY)
    other = Allowance(f"{STACK}/PersisterConflictsQueueA902F5FB", "a trailer")
    result = verdict(deployed, new, [other])
    assert result.outcome is Outcome.BLOCKED
    assert result.unused == (other,)


def test_a_stack_wildcard_covers_that_stack_only(deployed, edited):
    new = edited(TABLE, "KeySchema", NEW_KEY)
    assert verdict(deployed, new, [Allowance(f"{STACK}/*", "x")]).outcome is Outcome.ALLOWED
    assert verdict(deployed, new, [Allowance("kahula-dev/*", "x")]).outcome is Outcome.BLOCKED


def test_removing_a_queue_is_blocked(deployed, edited):
    new = edited("PersisterConflictsQueueA902F5FB")
    new["Resources"].pop("PersisterConflictsQueuePolicy0223C9A6")
    result = verdict(deployed, new)
    assert result.outcome is Outcome.BLOCKED
    (blocked,) = result.blocked
    assert blocked.reason == "removed from the template"


def test_removing_a_retained_table_is_blocked_and_called_orphaned(deployed, edited):
    result = verdict(deployed, edited(TABLE))
    (blocked,) = result.blocked
    assert blocked.reason == (
        "removed from the template (DeletionPolicy Retain: orphaned, not deleted)"
    )


def test_renaming_a_bucket_is_blocked_as_a_replacement(deployed, edited):
    new = edited("EventArchiveBucket396CA8FA", "BucketName", "kahula-archive-renamed")
    (blocked,) = verdict(deployed, new).blocked
    assert blocked.reason == "BucketName (requires replacement)"


def test_a_changed_type_is_blocked(deployed):
    new = copy.deepcopy(deployed)
    new["Resources"][TABLE]["Type"] = "AWS::DynamoDB::GlobalTable"
    (blocked,) = verdict(deployed, new).blocked
    assert "type changes from AWS::DynamoDB::Table to AWS::DynamoDB::GlobalTable" in blocked.reason


def test_a_replaced_bus_also_replaces_the_archive_that_refers_to_it(deployed, edited):
    # GIVEN a new bus name (the bus is replaced); the archive's create-only SourceArn is its ARN
    new = edited("EventBusEEC924FB", "Name", "kahula-events-prod-2")
    # WHEN the gate decides THEN both are blocked, the archive because of the bus
    reasons = {c.logical_id: c.reason for c in verdict(deployed, new).blocked}
    assert reasons["EventBusEEC924FB"] == "Name (requires replacement)"
    assert reasons["EventBusArchive5B309695"] == "SourceArn refers to replaced EventBusEEC924FB"


def test_a_longer_log_retention_is_allowed_and_shown(deployed, edited):
    new = edited("PersisterLogs4824086B", "RetentionInDays", 400)
    result = verdict(deployed, new)
    assert result.outcome is Outcome.ALLOWED
    assert "no stateful resource is replaced or removed" in result.headline
    assert "RetentionInDays: 365 -> 400" in result.render()


def test_replacing_a_stateless_resource_is_allowed(deployed, edited):
    new = edited("PersisterFunction9BF00CE4", "FunctionName", "kahula-persister-prod-2")
    result = verdict(deployed, new)
    assert result.outcome is Outcome.ALLOWED
    assert result.changes[0].replaced_by == ("FunctionName (requires replacement)",)


def test_policy_changes_are_listed_for_review_but_tags_alone_are_not(deployed, edited):
    policy = "PersisterRoleDefaultPolicy0B1CA2CC"
    document = copy.deepcopy(deployed["Resources"][policy]["Properties"]["PolicyDocument"])
    document["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    result = verdict(deployed, edited(policy, "PolicyDocument", document))
    assert [c.logical_id for c in result.policy_changes] == [policy]
    tags_only = verdict(deployed, edited("PersisterRoleE319FA03", "Tags", []))
    assert tags_only.policy_changes == ()


def test_a_changed_deletion_policy_is_a_change_to_review(deployed):
    new = copy.deepcopy(deployed)
    new["Resources"][TABLE]["DeletionPolicy"] = "Delete"
    (change,) = verdict(deployed, new).changes
    assert "DeletionPolicy" in change.properties
    assert 'DeletionPolicy: "Retain" -> "Delete"' in change.details


def test_cdk_metadata_is_not_a_change(deployed):
    new = copy.deepcopy(deployed)
    new["Resources"]["CDKMetadata"]["Properties"] = {"Analytics": "v2:other"}
    assert verdict(deployed, new).outcome is Outcome.NO_CHANGES


def test_a_template_without_resources_is_a_gate_error(deployed):
    with pytest.raises(GateError, match="kahula-prod \\(old\\) has no Resources section"):
        compare(STACK, {"Outputs": {}}, deployed)


def test_first_deploy_lists_what_will_be_created(deployed):
    result = first_deploy(STACK, deployed, "eu-west-1")
    assert result.outcome is Outcome.FIRST_DEPLOY
    assert result.headline.startswith("FIRST DEPLOY: kahula-prod does not exist in eu-west-1;")
    assert all(c.op == "+" for c in result.changes)


def test_each_outcome_has_its_own_label_and_exit_code():
    assert {o.label: o.exit_code for o in Outcome} == {
        "no-changes": 0,
        "first-deploy": 0,
        "allowed": 0,
        "blocked": 1,
        "diff-failed": 2,
    }


def test_a_failed_diff_says_nothing_was_compared():
    result = failed("synth of . failed: boom")
    assert result.outcome is Outcome.DIFF_FAILED
    assert result.render() == (
        "DIFF FAILED: synth of . failed: boom\nNothing was compared, so nothing may be deployed."
    )


def test_merging_stacks_blocks_when_one_blocks(deployed, edited):
    blocked = verdict(deployed, edited(TABLE, "KeySchema", NEW_KEY))
    fine = verdict(deployed, copy.deepcopy(deployed))
    assert merge([fine, blocked], subject="all").outcome is Outcome.BLOCKED
    assert merge([fine, failed("x")], subject="all").outcome is Outcome.DIFF_FAILED


@pytest.mark.parametrize(
    "text", ["kahula-prod", "kahula-prod/", "/EventTable", "kahula-prod/Event-Table", "a/b/c"]
)
def test_an_allowance_that_is_not_stack_slash_logical_id_is_rejected(text):
    with pytest.raises(GateError, match="is not STACK/LOGICAL_ID"):
        parse_allowances(text, "the workflow input")


def test_allowances_are_comma_or_space_separated():
    targets = [a.target for a in parse_allowances("kahula-dev/A1, kahula-prod/* kahula-x/B", "s")]
    assert targets == ["kahula-dev/A1", "kahula-prod/*", "kahula-x/B"]


def test_allow_replacement_trailers_come_from_the_last_paragraph_only():
    message = (
        "Move the table to a new key\n\n"
        "Allow-Replacement: kahula-dev/NotATrailer1\n"
        "(that line is body text)\n\n"
        "Allow-Replacement: kahula-prod/EventTable23755758\n"
        "allow-replacement: kahula-staging/EventTable23755758\n"
        "Signed-off-by: someone <a@b.c>\n"
    )
    found = trailer_allowances(message, "commit abc")
    assert [a.target for a in found] == [
        "kahula-prod/EventTable23755758",
        "kahula-staging/EventTable23755758",
    ]
    assert trailer_allowances("Allow-Replacement: kahula-dev/X1", "subject only") == []


def test_the_job_summary_names_each_allowance_and_where_it_came_from(deployed, edited):
    allowance = Allowance(f"{STACK}/{TABLE}", "the Allow-Replacement trailer of abc123")
    result = verdict(deployed, edited(TABLE, "KeySchema", NEW_KEY), [allowance])
    text = summary_markdown(result, "Deploy gate: kahula-prod")
    assert (
        "- Allowed for this run only, by the Allow-Replacement trailer of abc123: "
        f"`{STACK}/{TABLE}` (KeySchema (may require replacement))"
    ) in text
