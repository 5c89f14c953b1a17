#!/usr/bin/env python3
"""Build the CDK app: pick the environment(s), add their stacks, synthesize.

cdk synth                 # every environment
cdk synth -c env=prod     # one environment
cdk synth -c prefix=acme  # another resource-name prefix (default: kahula)
cdk deploy -c github-repo=ORG/REPO -c github-environments=dev kahula-github-deploy
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The runtime packages (kahula_core: the spec both sides share) live in lambdas/.
sys.path.insert(0, str(Path(__file__).resolve().parent / "lambdas"))

from aws_cdk import App

try:  # importing the configuration builds every props object, and each checks its values
    from cdk_app.config import (
        DEFAULT_PREFIX,
        ConfigError,
        pin_accounts,
        select_environments,
        validate_prefix,
    )
    from stacks import build_app
    from stacks.deploy_role_stack import DeployRoleStack
except ValueError as exc:  # a props class refused a value: its message names field and limits
    sys.exit(f"error: {exc}")


def main() -> None:
    app = App()
    try:
        # Accounts are pinned only when the CLI found credentials (cdk_app/config.py).
        configs = pin_accounts(
            select_environments(app.node.try_get_context("env")),
            app.node.try_get_context("accounts") or {},
            caller_account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            caller_region=os.environ.get("CDK_DEFAULT_REGION"),
        )
        prefix = validate_prefix(app.node.try_get_context("prefix") or DEFAULT_PREFIX)
    except (ConfigError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    try:
        build_app(app, configs, prefix=prefix)
    except ValueError as exc:  # a construct refused its arguments (props, names, exclusives)
        sys.exit(f"error: {exc}")
    # The GitHub deploy role, one per account, only when asked for (README, "First deploy").
    repository = app.node.try_get_context("github-repo")
    if repository:
        environments = app.node.try_get_context("github-environments") or ",".join(
            c.name for c in select_environments(None)
        )
        try:
            DeployRoleStack(
                app,
                f"{prefix}-github-deploy",
                repository=repository,
                environments=[e.strip() for e in environments.split(",") if e.strip()],
                prefix=prefix,
                existing_provider_arn=app.node.try_get_context("github-oidc-provider-arn"),
            )
        except ValueError as exc:
            sys.exit(f"error: {exc}")
    app.synth()


if __name__ == "__main__":
    main()
