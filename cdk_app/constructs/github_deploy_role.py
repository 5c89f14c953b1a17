"""GithubDeployRole: the roles GitHub Actions assumes by OIDC to deploy, and to diff.

The deploy role is trusted only by this repository's GitHub *environments*
(``repo:ORG/REPO:environment:NAME``, audience ``sts.amazonaws.com``) and may do one thing:
assume the CDK bootstrap roles of its account (deploy, file publishing, lookup). Everything a
deployment changes goes through CloudFormation's execution role, which the bootstrap owns.

The optional diff role is for pull requests (``repo:ORG/REPO:pull_request``): it may read the
project's stacks (DescribeStacks, GetTemplate) and nothing else. It does not get the lookup
role, whose ReadOnlyAccess would let any branch read the archived events.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_iam as iam
from constructs import Construct

from .common import knob
from .nag import acknowledge

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "lookup")
_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")
_ENVIRONMENT = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True, kw_only=True)
class GithubDeployRoleProps:
    """Tunables of GithubDeployRole; the defaults fit a `cdk bootstrap` with no options."""

    bootstrap_qualifier: str = knob("hnb659fds", "the CDK bootstrap qualifier")
    regions: tuple[str, ...] = knob(
        (), "regions whose bootstrap roles the deploy role may assume (empty: the stack's)"
    )
    diff_role: bool = knob(True, "also create the read-only pull-request diff role")
    max_session_minutes: int = knob(60, "longest session either role hands out")


class GithubDeployRole(Construct):
    """The GitHub OIDC provider (or an existing one), a deploy role and a diff role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository: str,
        environments: Sequence[str],
        stack_names: Sequence[str] = (),
        existing_provider_arn: str | None = None,
        props: GithubDeployRoleProps | None = None,
    ) -> None:
        """``repository`` is ``ORG/REPO``; ``environments`` the GitHub environments allowed to
        deploy; ``stack_names`` the stacks the diff role may read (none: no diff role)."""
        super().__init__(scope, construct_id)
        props = props or GithubDeployRoleProps()
        if not _REPOSITORY.fullmatch(repository):
            raise ValueError(f"repository must be ORG/REPO, got {repository!r}")
        if not environments or not all(_ENVIRONMENT.fullmatch(e) for e in environments):
            raise ValueError(f"environments must be GitHub environment names, got {environments!r}")
        stack = Stack.of(self)

        if existing_provider_arn is None:
            self.provider: iam.IOidcProvider = iam.OidcProviderNative(
                self, "Provider", url=GITHUB_OIDC_URL, client_ids=[AUDIENCE]
            )
        else:
            self.provider = iam.OidcProviderNative.from_oidc_provider_arn(
                self, "Provider", existing_provider_arn
            )

        def trusted_by(*subjects: str) -> iam.IPrincipal:
            return iam.WebIdentityPrincipal(
                self.provider.oidc_provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": list(subjects),
                    }
                },
            )

        session = Duration.minutes(props.max_session_minutes)
        self.deploy_role = iam.Role(
            self,
            "DeployRole",
            assumed_by=trusted_by(*(f"repo:{repository}:environment:{e}" for e in environments)),
            description=f"GitHub Actions deploys of {repository} ({', '.join(environments)})",
            max_session_duration=session,
        )
        regions = props.regions or (stack.region,)
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRoles",
                actions=["sts:AssumeRole", "sts:TagSession"],
                resources=[
                    f"arn:{stack.partition}:iam::{stack.account}:role/"
                    f"cdk-{props.bootstrap_qualifier}-{kind}-role-{stack.account}-{region}"
                    for region in regions
                    for kind in BOOTSTRAP_ROLES
                ],
            )
        )

        self.diff_role: iam.Role | None = None
        if props.diff_role and stack_names:
            self.diff_role = iam.Role(
                self,
                "DiffRole",
                assumed_by=trusted_by(f"repo:{repository}:pull_request"),
                description=f"GitHub Actions pull-request diffs of {repository} (read-only)",
                max_session_duration=session,
            )
            self.diff_role.add_to_policy(
                iam.PolicyStatement(
                    sid="ReadDeployedTemplates",
                    actions=["cloudformation:DescribeStacks", "cloudformation:GetTemplate"],
                    resources=[
                        f"arn:{stack.partition}:cloudformation:{region}:{stack.account}:"
                        f"stack/{name}/*"
                        for region in regions
                        for name in stack_names
                    ],
                )
            )
            for region in regions:
                shown = "<AWS::Region>" if Token.is_unresolved(region) else region
                for name in stack_names:
                    acknowledge(
                        self.diff_role,
                        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:"
                        f"{shown}:<AWS::AccountId>:stack/{name}/*]",
                        "A stack's ARN ends in an id CloudFormation generates; the wildcard "
                        "covers that id only, the stack name is exact.",
                    )
