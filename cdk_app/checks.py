"""The checks that travel with the library: one line in a user's app.

    from kahula.checks import apply_checks
    apply_checks(app)

runs cdk-nag's AwsSolutions and Serverless packs over every stack at synth and fails it on
any finding that is not acknowledged. The library's own acknowledgements sit on the
constructs that need them, each with its reason, so they come along wherever the constructs
are used (and they match imported resources too).
"""

from __future__ import annotations

from aws_cdk import Stage, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks


def apply_checks(app: Stage) -> None:
    """Register the cdk-nag packs on an App (or Stage): synth fails on unacknowledged findings."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
