"""`kahula`: the operator's command line (installed with the library as ``kahula.cli``).

Every command works the same against a deployed environment (names read from the stack's
CloudFormation outputs) and against the local pipeline on moto (``--local``, a checkout only).
Nothing here imports aws_cdk: an operator's machine needs boto3, Typer and rich, not the CDK.
Imports inside this package are relative, so it runs as ``kahula.cli`` (installed) and as
``cdk_app.cli`` (a checkout: ``python -m cdk_app.cli``).
"""
