"""Benchmarks and the cost model (`make bench`, `make cost`).

The persister's runtime code lives in lambdas/ (package ``persister``), as in its asset.
"""

import sys
from pathlib import Path

_LAMBDAS = str(Path(__file__).resolve().parents[1] / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
