"""The persistence core every front door shares: contract, store, follow-ups, and the spec
the infrastructure agrees with. Imports nothing from aws_cdk."""
