"""The ``vidpose`` command. Each sub-module registers one group of commands; each command parses its
arguments, loads the config, calls one function of the application layer (:mod:`vidpose.tasks`) and prints
or writes what it returns.

Failures a user can cause end in one line on stderr, ``error: <what failed>; <what to do>``, and exit code 2:
library errors (:class:`VidposeError`) and the operating system's (a file where a folder is needed, no
permission, disk full). Ctrl-C exits with 130 and one line. Anything else is a bug: one line naming the
exception and exit code 1. ``--debug`` (or ``VIDPOSE_DEBUG=1``) shows the full traceback instead."""

from __future__ import annotations

import errno
import os
import sys
import warnings

import typer

from ..errors import VidposeError, VidposeWarning

__all__ = ["app", "main"]

app = typer.Typer(
    name="vidpose",
    help="Video-based multi-person 2D human pose estimation (MLSME + SMML).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


_DEBUG = {"on": False}


def debug_enabled() -> bool:
    """``--debug`` was given or ``VIDPOSE_DEBUG`` is set to something other than 0 / empty."""
    return _DEBUG["on"] or os.environ.get("VIDPOSE_DEBUG", "0").strip().lower() not in (
        "",
        "0",
        "false",
        "no",
    )


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="show full tracebacks (also: VIDPOSE_DEBUG=1); FFmpeg's log too"
    ),
) -> None:
    """Video-based multi-person 2D human pose estimation (MLSME + SMML)."""
    if debug:
        _DEBUG["on"] = True
        os.environ["VIDPOSE_DEBUG"] = "1"  # read by the library (FFmpeg's log); restored by main()


def _os_error_line(e: OSError) -> str:
    """``<file>: <reason>; <what to do>`` for an operating-system error."""
    where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
    reason = e.strerror or str(e)
    hints = {
        errno.EEXIST: "a file is in the way; remove it or choose another output location",
        errno.ENOTDIR: "a path component is a file, not a folder; choose another location",
        errno.EISDIR: "a folder is where a file is expected; give a file name",
        errno.EACCES: "no permission; choose a location you can write to",
        errno.EPERM: "no permission; choose a location you can write to",
        errno.EROFS: "the file system is read-only; choose another location",
        errno.ENOSPC: "the disk is full; free space or choose another location",
        errno.ENOENT: "check the path (relative paths are relative to the current folder)",
    }
    hint = hints.get(e.errno or -1, "check the path and its permissions")
    return f"{where + ': ' if where else ''}{reason}; {hint}"


def _fail(message: str, code: int) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def _register() -> None:
    # Imported here, not at module level, so that `import vidpose.cli` stays cheap and side-effect free.
    from . import bench_cmds, data_cmds, demo_cmds, model_cmds, predict_cmds, synth_cmds, train_cmds  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    _register()
    args = list(sys.argv[1:] if argv is None else argv)
    saved_env = os.environ.get("VIDPOSE_DEBUG")
    _DEBUG.clear()
    _DEBUG["on"] = False
    if "--debug" in args:  # anywhere on the line, not only before the command
        args.remove("--debug")
        _DEBUG["on"] = True
        os.environ["VIDPOSE_DEBUG"] = "1"
    try:
        _run(args)
    finally:
        if saved_env is None:
            os.environ.pop("VIDPOSE_DEBUG", None)
        else:
            os.environ["VIDPOSE_DEBUG"] = saved_env


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """A :class:`VidposeWarning` is one ``warning:`` line; other warnings keep Python's format."""
    if issubclass(category, VidposeWarning):
        typer.secho(f"warning: {message}", fg="yellow", err=True)
    else:
        _PREVIOUS_SHOWWARNING["f"](message, category, filename, lineno, file, line)


_PREVIOUS_SHOWWARNING = {"f": warnings.showwarning}


def _run(args: list[str]) -> None:
    _PREVIOUS_SHOWWARNING["f"] = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        _run_app(args)
    finally:
        warnings.showwarning = _PREVIOUS_SHOWWARNING["f"]


def _run_app(args: list[str]) -> None:
    try:
        app(args=args)
    except SystemExit as e:
        # typer turns Ctrl-C into a silent exit 130; a command that reported it already sets the flag.
        if e.code == 130 and not _DEBUG.get("interrupt_reported"):
            _fail("interrupted (Ctrl-C); the command stopped before it finished", 130)
        raise
    except Exception as e:  # noqa: BLE001 - the one place that turns every failure into one line
        if debug_enabled():
            raise
        if isinstance(e, VidposeError):
            _fail(str(e), 2)
        if isinstance(e, OSError):
            _fail(_os_error_line(e), 2)
        first = str(e).splitlines()[0] if str(e) else ""
        _fail(
            f"internal error {type(e).__name__}: {first} "
            "(a bug; rerun with --debug for the traceback and report it)",
            1,
        )
