"""The replay path's infrastructure (EventReplay), read from the synthesized templates."""

from __future__ import annotations

import json

from kahula_core import spec
from moto.events.models import EventPattern

from ..conftest import load_event
from .conftest import only

SOURCE = spec.replay_source("kahula")


def _replay_role(synth, env):
    roles = {k: v for k, v in synth.resources(env, "AWS::IAM::Role").items() if "EventReplay" in k}
    return only(roles), next(iter(roles))


def _statements(synth, env, role_id):
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synth.resources(env, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    return {s["Sid"]: s for s in policy}


def test_replay_role_is_assumable_from_the_account_only(synth, env):
    # GIVEN the replay role
    role, _ = _replay_role(synth, env)
    # THEN only principals of the stack's own account may assume it, and it is named per env
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {
        "AWS": {"Fn::Join": ["", ["arn:aws:iam::", {"Ref": "AWS::AccountId"}, ":root"]]}
    }
    assert role["Properties"]["RoleName"] == f"kahula-replay-{env}"


def test_replay_role_may_only_put_wrapped_events_and_read_the_archives_events(synth, env):
    # GIVEN the replay role's policy
    _, role_id = _replay_role(synth, env)
    statements = _statements(synth, env, role_id)
    bus_id = next(iter(synth.resources(env, "AWS::Events::EventBus")))
    (bucket_id,) = [
        k for k in synth.resources(env, "AWS::S3::Bucket") if k.startswith("EventArchiveBucket")
    ]
    bucket = {"Fn::GetAtt": [bucket_id, "Arn"]}
    # THEN PutEvents on this bus only with the replay source and detail-type
    assert statements.pop("PublishOnlyReplayedEvents") == {
        "Action": "events:PutEvents",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [bus_id, "Arn"]},
        "Condition": {
            "StringEquals": {
                "events:source": [SOURCE],
                "events:detail-type": [spec.REPLAY_DETAIL_TYPE],
            }
        },
        "Sid": "PublishOnlyReplayedEvents",
    }
    # AND list and read only under the archive's events/ prefix (no errors/, no claim checks)
    assert statements.pop("ListArchivedEvents")["Condition"] == {
        "StringLike": {"s3:prefix": ["events/*"]}
    }
    read = statements.pop("ReadArchivedEvents")
    assert read["Action"] == "s3:GetObject"
    assert read["Resource"] == {"Fn::Join": ["", [bucket, "/events/*"]]}
    # AND, where the archive is encrypted with the pipeline's key, decrypt through S3 only
    decrypt = statements.pop("DecryptArchivedEvents", None)
    if decrypt is not None:
        assert decrypt["Action"] == "kms:Decrypt"
        (via,) = decrypt["Condition"]["StringEquals"]["kms:ViaService"]
        assert via.startswith("s3.")
    # AND nothing else
    assert statements == {}


def test_only_the_replay_role_may_publish_under_the_replay_source(synth, env):
    # GIVEN the bus's policy
    bus = only(synth.resources(env, "AWS::Events::EventBus"))["Properties"]
    _, role_id = _replay_role(synth, env)
    (deny,) = [
        s
        for s in bus["Policy"]["Statement"]
        if s["Effect"] == "Deny"
        and s["Condition"].get("StringEquals", {}).get("events:source") == SOURCE
    ]
    # THEN every principal of any account but the replay role is refused that source
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [
        {"Fn::GetAtt": [role_id, "Arn"]}
    ]


def test_persister_is_told_the_replay_source(synth, env):
    # GIVEN the persister function
    (function,) = [
        f
        for k, f in synth.resources(env, "AWS::Lambda::Function").items()
        if k.startswith("PersisterFunction")
    ]
    # THEN it unwraps replayed events of that source
    assert function["Properties"]["Environment"]["Variables"][spec.Env.REPLAY_SOURCE] == SOURCE


def test_wrappers_reach_only_the_persister(synth, env):
    # GIVEN a replayed event as the bus delivers it, and every rule and archive pattern
    wrapper = {**load_event("order_updated"), "source": SOURCE, "detail-type": "Replayed"}
    rules = synth.resources(env, "AWS::Events::Rule")
    matched = {
        k
        for k, r in rules.items()
        if EventPattern.load(json.dumps(r["Properties"]["EventPattern"])).matches_event(wrapper)
    }
    archive = only(synth.resources(env, "AWS::Events::Archive"))["Properties"]["EventPattern"]
    # THEN only the persister's rule matches it: not the S3 archive, not a follow-up rule,
    # and the bus's archive keeps it out too
    assert {k.split("Rule")[0] for k in matched} == {"Persister"}
    assert not EventPattern.load(json.dumps(archive)).matches_event(wrapper)


def test_outputs_name_the_replay_role_and_the_bus_archive(synth, env):
    # GIVEN the stack's outputs
    outputs = synth.raw[env]["Outputs"]
    _, role_id = _replay_role(synth, env)
    archive_id = next(iter(synth.resources(env, "AWS::Events::Archive")))
    # THEN the CLI finds the role to assume and the bus archive to replay from
    assert outputs["ReplayRoleArn"]["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert outputs["EventBusArchiveName"]["Value"] == {"Ref": archive_id}
