"""The checks that travel with the library: one line in a user's app.

    from kahula.checks import apply_checks
    apply_checks(app)                      # cdk-nag AwsSolutions + Serverless
    apply_checks(app, control_tower=True)  # and AWS Control Tower's proactive controls

runs cdk-nag's AwsSolutions and Serverless packs over every stack at synth, and with
``control_tower`` the Control Tower proactive controls (cfn-guard rules bundled with
``cdklabs-cdk-validator-cfnguard``, binary included: no network, no Docker), and fails synth on
any finding that is not acknowledged. The library's own acknowledgements sit on the
constructs that need them, each with its reason, so they come along wherever the constructs
are used (and they match imported resources too).
"""

from __future__ import annotations

from typing import cast

from aws_cdk import IPolicyValidationPlugin, Stage, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks


def control_tower_validator() -> IPolicyValidationPlugin:
    """The Control Tower proactive controls as a CDK validation plugin (every bundled rule)."""
    # Imported here: loading the plugin's 12 MB jsii bundle costs seconds per synth.
    try:
        from cdklabs.cdk_validator_cfnguard import CfnGuardValidator  # noqa: PLC0415
    except ImportError as exc:
        raise RuntimeError(
            "control_tower=True needs cdklabs-cdk-validator-cfnguard: "
            'pip install "kahula-event-persistence[compliance]"'
        ) from exc

    # Built against CDK's beta validation interfaces, which the current ones still accept.
    return cast(IPolicyValidationPlugin, CfnGuardValidator(control_tower_rules_enabled=True))


def apply_checks(app: Stage, *, control_tower: bool = False) -> None:
    """Register the checks on an App (or Stage): synth fails on unacknowledged findings."""
    plugins: list[IPolicyValidationPlugin] = [AwsSolutionsChecks(app), ServerlessChecks(app)]
    if control_tower:
        plugins.append(control_tower_validator())
    Validations.of(app).add_plugins(*plugins)
