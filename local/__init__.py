"""Run the synthesized pipeline locally on moto: no AWS account, no Docker.

The dev template is the source of truth: ``topology`` reads it, ``provision`` creates what it
declares in a moto server, ``runtime`` routes events the way its rules say and runs the real
handler, and ``demo`` is the command line (``make demo``, ``make push``).
"""

import sys
from pathlib import Path

# The persistence core (lambdas/kahula_core) is imported top-level, as in the function's asset
# and in pytest's configuration; make this checkout's copy the one imported when run as
# `python -m local.demo` too (ahead of any other copy a .pth file may put on the path).
_LAMBDAS = str(Path(__file__).resolve().parents[1] / "lambdas")
if _LAMBDAS in sys.path:
    sys.path.remove(_LAMBDAS)
sys.path.insert(0, _LAMBDAS)
