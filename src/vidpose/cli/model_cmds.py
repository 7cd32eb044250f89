"""Model commands: convert, bench."""

from __future__ import annotations

import typer

from . import app


@app.command("version")
def version() -> None:
    """Print the vidpose version."""
    from .. import __version__

    typer.echo(__version__)
