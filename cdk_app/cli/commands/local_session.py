"""``kahula local up|down|status``: the local pipeline's session (being built)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    local = typer.Typer(help="the local pipeline's moto session (being built)")
    app.add_typer(local, name="local")
