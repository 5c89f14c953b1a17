"""``kahula seed``: (being built)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("seed")
    def command() -> int:
        """(being built)"""
        return 2
