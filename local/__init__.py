"""Run the synthesized pipeline locally on moto: no AWS account, no Docker.

The dev template is the source of truth: ``topology`` reads it, ``provision`` creates what it
declares in moto (in-process, or a server), ``runtime`` routes events the way its rules say
and runs the real handler, and ``demo`` is the command line (``make demo``, ``make push``).
"""
