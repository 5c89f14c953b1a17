"""Kahula: an event-persistence construct library for AWS CDK (Python).

Import the constructs from ``cdk_app.constructs`` and the typed configuration from
``cdk_app.config``; ``stacks.EventPersistenceStack`` composes them for one environment.
"""

__version__ = "0.1.0"
