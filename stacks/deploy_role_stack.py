"""One stack per AWS account: what GitHub Actions needs to deploy into it (see README)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk_app.constructs.github_deploy_role import GithubDeployRole


class DeployRoleStack(Stack):
    """The GitHub OIDC provider (or an existing one) and the deploy and diff roles."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository: str,
        environments: Sequence[str],
        prefix: str,
        existing_provider_arn: str | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"{prefix}: GitHub Actions deploy and diff roles for {repository}",
            tags={"project": prefix},
        )
        self.roles = GithubDeployRole(
            self,
            "Github",
            repository=repository,
            environments=environments,
            stack_names=[f"{prefix}-{name}" for name in environments],
            existing_provider_arn=existing_provider_arn,
        )
        CfnOutput(self, "DeployRoleArn", value=self.roles.deploy_role.role_arn)
        if self.roles.diff_role is not None:
            CfnOutput(self, "DiffRoleArn", value=self.roles.diff_role.role_arn)
