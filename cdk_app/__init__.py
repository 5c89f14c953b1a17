"""Kahula: an event-persistence construct library for AWS CDK (Python).

Installed as ``kahula``: the constructs in ``kahula.constructs``, the typed configuration in
``kahula.config``, the checks in ``kahula.checks``. The runtime core the functions run (and
that services may import, without CDK) is ``kahula_core``.
"""

__version__ = "0.2.0"
