"""The ``vidpose`` command. Each sub-module registers one group of commands; each command parses its
arguments, loads the config and calls one library function. Library errors (:class:`VidposeError`) are
printed without a traceback and exit with code 2."""

from __future__ import annotations

import sys

import typer

from ..errors import VidposeError

__all__ = ["app", "main"]

app = typer.Typer(
    name="vidpose",
    help="Video-based multi-person 2D human pose estimation (MLSME + SMML).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Video-based multi-person 2D human pose estimation (MLSME + SMML)."""


def _register() -> None:
    # Imported here, not at module level, so that `import vidpose.cli` stays cheap and side-effect free.
    from . import data_cmds, demo_cmds, model_cmds, predict_cmds, synth_cmds, train_cmds  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    _register()
    try:
        app(args=argv)
    except VidposeError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        sys.exit(2)
