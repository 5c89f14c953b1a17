#!/usr/bin/env python3
"""Build the CDK app: pick the environment(s), add their stacks, synthesize.

cdk synth                 # every environment
cdk synth -c env=prod     # one environment
cdk synth -c prefix=acme  # another resource-name prefix (default: kahula)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The runtime packages (kahula_core: the spec both sides share) live in lambdas/.
sys.path.insert(0, str(Path(__file__).resolve().parent / "lambdas"))

from aws_cdk import App

from cdk_app.config import (
    DEFAULT_PREFIX,
    ConfigError,
    select_environments,
    validate_prefix,
)
from stacks import build_app


def main() -> None:
    app = App()
    try:
        configs = select_environments(
            app.node.try_get_context("env"),
            default_account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            default_region=os.environ.get("CDK_DEFAULT_REGION"),
        )
        prefix = validate_prefix(app.node.try_get_context("prefix") or DEFAULT_PREFIX)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    build_app(app, configs, prefix=prefix)
    app.synth()


if __name__ == "__main__":
    main()
