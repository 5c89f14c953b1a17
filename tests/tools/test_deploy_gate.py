"""The deploy gate against what is deployed: GetTemplate on moto, recorded templates."""

from __future__ import annotations

import datetime
import json
import subprocess

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from scripts import deploy_gate
from scripts.deploy_gate import (
    cloudformation_reader,
    commit_allowances,
    deployed_template,
    gate,
    lookup_role_arn,
)
from scripts.gate import Allowance, GateError, Outcome
from tests.tools.conftest import recorded

STACK = "kahula-prod"
REGION = "eu-west-1"
TABLE = "EventTable23755758"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("cloudformation", region_name=REGION)


@pytest.fixture
def live(aws):
    """kahula-prod deployed (its table and conflicts queue, as recorded)."""
    template = recorded("kahula-prod.minimal")
    aws.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    return aws, template


def with_new_key(template):
    new = json.loads(json.dumps(template))
    new["Resources"][TABLE]["Properties"]["KeySchema"] = [
        {"AttributeName": "event_key", "KeyType": "HASH"}
    ]
    return new


def test_no_stack_is_a_first_deploy(aws):
    result = gate(aws, STACK, recorded("kahula-prod.minimal"), [], where=REGION)
    assert result.outcome is Outcome.FIRST_DEPLOY
    assert result.headline == (
        "FIRST DEPLOY: kahula-prod does not exist in eu-west-1; 2 resources will be created"
    )


def test_the_deployed_template_unchanged_is_no_changes(live):
    client, template = live
    result = gate(client, STACK, template, [], where=REGION)
    assert result.outcome is Outcome.NO_CHANGES
    assert result.headline == "NO CHANGES: kahula-prod against the deployed stack in eu-west-1"


def test_a_new_table_key_against_the_deployed_stack_is_blocked_and_says_how_to_allow(live):
    client, template = live
    result = gate(client, STACK, with_new_key(template), [], where=REGION)
    assert result.outcome is Outcome.BLOCKED
    assert result.blocked[0].key == f"{STACK}/{TABLE}"
    assert "allow_replacement=kahula-prod/EventTable23755758" in result.hint
    assert "'Allow-Replacement: kahula-prod/EventTable23755758'" in result.hint


def test_an_allowance_lets_the_deployed_table_be_replaced(live):
    client, template = live
    allowance = Allowance(f"{STACK}/{TABLE}", "the workflow input")
    result = gate(client, STACK, with_new_key(template), [allowance], where=REGION)
    assert result.outcome is Outcome.ALLOWED


def stubbed_describe(status):
    client = boto3.client(
        "cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": STACK,
                    "StackStatus": status,
                    "CreationTime": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
                }
            ]
        },
    )
    stubber.activate()
    return client


def test_a_stack_whose_creation_rolled_back_is_a_first_deploy():
    # GIVEN a stack left in ROLLBACK_COMPLETE by a failed first deploy (no resources in it)
    client = stubbed_describe("ROLLBACK_COMPLETE")
    # THEN there is nothing deployed to compare with
    assert deployed_template(client, STACK) is None


def test_a_denied_read_is_a_gate_error_naming_the_stack():
    client = boto3.client(
        "cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_stacks", "AccessDenied", "not authorized")
        with pytest.raises(GateError, match="cannot read stack kahula-prod: AccessDenied"):
            deployed_template(client, STACK)


def test_the_lookup_role_is_the_bootstrap_one_of_the_callers_account(aws):
    sts = boto3.client("sts", region_name=REGION)
    assert lookup_role_arn(sts, REGION) == (
        "arn:aws:iam::123456789012:role/cdk-hnb659fds-lookup-role-123456789012-eu-west-1"
    )


def test_reading_through_the_lookup_role_reaches_the_deployed_stack(live):
    _, template = live
    reader = cloudformation_reader(boto3.Session(), REGION, via_lookup_role=True)
    assert gate(reader, STACK, template, [], where=REGION).outcome is Outcome.NO_CHANGES


def test_allowances_come_from_the_deployed_commits_trailer(tmp_path):
    # GIVEN a commit whose message ends with an Allow-Replacement trailer
    def git(*args):
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    git(
        "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "--allow-empty",
        "-m", "Re-key the table\n\nAllow-Replacement: kahula-prod/EventTable23755758",
    )  # fmt: skip
    sha = git("rev-parse", "HEAD")
    # WHEN the gate reads it THEN the allowance names its source commit
    (allowance,) = commit_allowances(sha, tmp_path)
    assert allowance.target == "kahula-prod/EventTable23755758"
    assert allowance.source == f"the Allow-Replacement trailer of {sha[:12]}"


def test_an_unknown_commit_is_a_gate_error(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(GateError, match="cannot read commit 'deadbeef'"):
        commit_allowances("deadbeef", tmp_path)


def test_a_synth_failure_is_diff_failed_with_exit_2_in_the_summary(tmp_path, monkeypatch, capsys):
    # GIVEN GitHub's output files and a lasting ALLOW_REPLACEMENT variable
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("ALLOW_REPLACEMENT", "kahula-qa/*")
    # WHEN the gate runs for an environment that does not synthesize
    code = deploy_gate.main(["--env", "qa", "--output", str(tmp_path / "out")])
    # THEN it is "diff failed", exit 2, and the variable is reported as ignored
    assert code == 2
    assert capsys.readouterr().out.startswith("DIFF FAILED: synth of")
    assert output.read_text() == "outcome=diff-failed\n"
    text = summary.read_text()
    assert "unknown environment 'qa'" in text
    assert "`ALLOW_REPLACEMENT` is set in the environment and was **ignored**" in text


def test_the_first_deploy_of_dev_end_to_end(aws, tmp_path, monkeypatch, capsys):
    # GIVEN credentials for an account where kahula-dev does not exist yet (moto)
    output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    # WHEN the gate synthesizes dev and reads the live stack
    code = deploy_gate.main(["--env", "dev", "--output", str(tmp_path / "out"), "--region", REGION])
    # THEN it is a first deploy, exit 0, and the gated assembly is there to deploy
    assert code == 0, capsys.readouterr().out
    assert output.read_text() == "outcome=first-deploy\n"
    assert capsys.readouterr().out.startswith("FIRST DEPLOY: kahula-dev does not exist in")
    assert (tmp_path / "out" / "kahula-dev.template.json").is_file()
