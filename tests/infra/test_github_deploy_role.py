"""The GitHub deploy role: who may assume it, and that it may only assume the bootstrap roles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from cdk_app.constructs.github_deploy_role import GithubDeployRole
from local.synth import cdk_context
from stacks.deploy_role_stack import DeployRoleStack

ROOT = Path(__file__).resolve().parents[2]
REPO = "acme/kahula"
PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def synth(**kwargs: Any) -> dict[str, Any]:
    """The role stack's template, synthesized with both cdk-nag packs (a finding fails it)."""
    app = App(context=cdk_context())
    stack = DeployRoleStack(app, "kahula-github-deploy", repository=REPO, prefix="kahula", **kwargs)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    assembly = app.synth()
    return assembly.get_stack_by_name(stack.stack_name).template  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return synth(environments=["dev", "staging", "prod"])


def of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def role(template: dict[str, Any], prefix: str) -> tuple[str, dict[str, Any]]:
    roles = of_type(template, "AWS::IAM::Role").items()
    (found,) = [(k, v) for k, v in roles if k.startswith(f"Github{prefix}")]
    return found


def statements_of(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_it_creates_githubs_oidc_provider_for_sts(template):
    (provider,) = of_type(template, "AWS::IAM::OIDCProvider").values()
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]


def test_only_this_repositorys_environments_may_assume_the_deploy_role(template):
    _, deploy = role(template, "DeployRole")
    (provider_id,) = of_type(template, "AWS::IAM::OIDCProvider")
    assert deploy["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Effect": "Allow",
            "Principal": {"Federated": {"Ref": provider_id}},
            "Condition": {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": [
                        "repo:acme/kahula:environment:dev",
                        "repo:acme/kahula:environment:staging",
                        "repo:acme/kahula:environment:prod",
                    ],
                }
            },
        }
    ]


def test_the_deploy_role_may_assume_the_three_bootstrap_roles_and_nothing_else(template):
    deploy_id, deploy = role(template, "DeployRole")
    assert "ManagedPolicyArns" not in deploy["Properties"]
    assert "Policies" not in deploy["Properties"]

    def arn(kind: str) -> dict[str, Any]:
        return {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":iam::",
                    {"Ref": "AWS::AccountId"},
                    f":role/cdk-hnb659fds-{kind}-role-",
                    {"Ref": "AWS::AccountId"},
                    "-",
                    {"Ref": "AWS::Region"},
                ],
            ]
        }

    assert statements_of(template, deploy_id) == [
        {
            "Sid": "AssumeCdkBootstrapRoles",
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Effect": "Allow",
            "Resource": [arn("deploy"), arn("file-publishing"), arn("lookup")],
        }
    ]


def test_pull_requests_get_a_diff_role_that_only_reads_the_projects_stacks(template):
    diff_id, diff = role(template, "DiffRole")
    (trust,) = diff["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == [
        "repo:acme/kahula:pull_request"
    ]
    (statement,) = statements_of(template, diff_id)
    assert statement["Action"] == ["cloudformation:DescribeStacks", "cloudformation:GetTemplate"]
    stacks = [json.dumps(r) for r in statement["Resource"]]
    assert len(stacks) == 3
    assert all(":stack/kahula-" in s and s.endswith('/*"]]}') for s in stacks)


def test_an_existing_provider_is_used_not_created():
    template = synth(environments=["prod"], existing_provider_arn=PROVIDER_ARN)
    assert of_type(template, "AWS::IAM::OIDCProvider") == {}
    _, deploy = role(template, "DeployRole")
    (trust,) = deploy["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Federated": PROVIDER_ARN}
    assert trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == [
        "repo:acme/kahula:environment:prod"
    ]


def test_the_template_is_cfn_lint_clean(template):
    from cfnlint.api import lint_all

    assert [str(m) for m in lint_all(json.dumps(template))] == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"repository": "acme", "environments": ["dev"]}, "repository must be ORG/REPO"),
        ({"repository": "acme/k:*", "environments": ["dev"]}, "repository must be ORG/REPO"),
        ({"repository": REPO, "environments": []}, "environments must be"),
        ({"repository": REPO, "environments": ["dev:*"]}, "environments must be"),
    ],
)
def test_a_repository_or_environment_that_could_widen_the_trust_is_refused(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        GithubDeployRole(Stack(App(), "S"), "Roles", **kwargs)


def test_the_app_adds_the_role_stack_only_when_a_repository_is_given(tmp_path):
    def stacks(context: dict[str, Any]) -> list[str]:
        out = tmp_path / f"out{len(context)}"
        subprocess.run(
            [sys.executable, "app.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env={
                **os.environ,
                "CDK_CONTEXT_JSON": json.dumps({**cdk_context(), **context}),
                "CDK_OUTDIR": str(out),
            },
        )
        return sorted(p.name for p in out.glob("*.template.json"))

    assert stacks({"env": "dev"}) == ["kahula-dev.template.json"]
    assert stacks({"env": "dev", "github-repo": REPO}) == [
        "kahula-dev.template.json",
        "kahula-github-deploy.template.json",
    ]
