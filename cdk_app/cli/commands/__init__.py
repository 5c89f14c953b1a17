"""One module per ``kahula`` command; each exposes ``register(app: typer.Typer) -> None``."""
