"""``python -m cdk_app.cli`` in a checkout (installed: the ``kahula`` console script)."""

from __future__ import annotations

from .main import main

main()
