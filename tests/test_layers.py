"""The import rules between the layers of vidpose (ARCHITECTURE.md), read from the source: every module's
``import`` statements (module level and inside functions) are walked with :mod:`ast`.

- ``engine/`` is the generic training engine: it imports nothing pose-specific (no data, models, codec,
  skeleton, evaluation, inference, tasks or CLI).
- ``models/`` knows tensors: it imports neither ``engine/`` nor ``data/``, ``evaluation/``, ``inference/``,
  ``tasks/`` or the CLI.
- Nothing but the CLI imports ``vidpose.cli``; only the CLI (and ``tasks/`` itself) imports ``vidpose.tasks``.
- The CLI imports from vidpose only the tasks, errors, config, fileio, the version and itself
  (:data:`CLI_MAY_IMPORT`, reasons in :func:`test_the_cli_imports_only_the_tasks_errors_config_and_itself`).
- Data flows one way: ``data/`` imports no models, evaluation, inference, tasks; ``evaluation/`` imports no
  models, inference or tasks; ``codec`` imports no data or models.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vidpose"

#: package (or module) -> the vidpose packages its modules must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "engine": (
        "data",
        "models",
        "codec",
        "skeleton",
        "evaluation",
        "inference",
        "tasks",
        "cli",
    ),
    "models": ("engine", "data", "evaluation", "inference", "tasks", "cli"),
    "data": ("models", "engine", "evaluation", "inference", "tasks", "cli"),
    "evaluation": ("models", "engine", "inference", "tasks", "cli"),
    "inference": ("tasks", "cli", "engine"),
    "tasks": ("cli",),
    "codec": ("data", "models", "engine", "evaluation", "inference", "tasks", "cli"),
    "state_dicts": ("engine", "models", "data", "tasks", "cli"),
    "precision": ("engine", "models", "data", "tasks", "cli"),
    "fileio": ("engine", "models", "data", "tasks", "cli"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def vidpose_imports(path: Path) -> set[str]:
    """The absolute ``vidpose.*`` module names ``path`` imports (relative imports resolved)."""
    module = _module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "vidpose")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            if name.split(".")[0] != "vidpose":
                continue
            found.add(name)
            found.update(f"{name}.{a.name}" for a in node.names)  # `from . import cli` imports vidpose.cli
    return found


def _modules(layer: str) -> list[Path]:
    target = SRC / layer
    return sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]


def _violations(layer: str) -> list[str]:
    bad = []
    for path in _modules(layer):
        for name in sorted(vidpose_imports(path)):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] in FORBIDDEN[layer] and parts[1] != layer:
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(layer):
    assert _modules(layer), f"no modules found for {layer}"
    assert _violations(layer) == []


def test_the_walker_sees_relative_and_function_level_imports(tmp_path):
    source = SRC / "engine" / "checkpoint.py"
    names = vidpose_imports(source)
    assert "vidpose.errors" in names and "vidpose.engine.distributed" in names
    assert "vidpose.state_dicts" in names


def test_only_the_cli_imports_the_cli_and_the_tasks():
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        layer = path.relative_to(SRC).parts[0].removesuffix(".py")
        for name in vidpose_imports(path):
            parts = name.split(".")
            if len(parts) < 2:
                continue
            if parts[1] == "cli" and layer != "cli" and path.name != "__main__.py":
                bad.append(f"{path.relative_to(SRC)} imports {name}")
            if parts[1] == "tasks" and layer not in ("cli", "tasks"):
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert bad == []


#: what a module of the CLI (``vidpose.cli``: the commands and their helpers) may import from vidpose
CLI_MAY_IMPORT: dict[str, str] = {
    "vidpose.tasks": "the application layer: every command calls one task for its work",
    "vidpose.errors": "the typed errors a command raises on a bad argument and turns into one line",
    "vidpose.config": "load_config: a command that takes a recipe loads it (with its overrides)",
    "vidpose.fileio": "atomic_write_text: a command writes what it printed to --out (a leaf, no vidpose "
    "imports)",
    "vidpose.__version__": "`vidpose version` prints the package's version",
    "vidpose.cli": "the CLI's own helpers (the app, checks of arguments, the bench group)",
}


def _cli_import_violations(path: Path) -> list[str]:
    allowed = tuple(CLI_MAY_IMPORT)
    return [
        f"{path.relative_to(SRC)} imports {name}"
        for name in sorted(vidpose_imports(path))
        if name != "vidpose" and not any(name == a or name.startswith(f"{a}.") for a in allowed)
    ]


def test_the_cli_imports_only_the_tasks_errors_config_and_itself():
    """Every module of ``vidpose.cli`` (module-level and function-level imports, read with :mod:`ast`)
    imports from vidpose only what :data:`CLI_MAY_IMPORT` names, so the CLI is a thin shell over
    ``vidpose.tasks``: a command parses its options, calls one task and prints or writes the result; data,
    models, engine, evaluation and inference are reached only through a task.

    The allowed set, and why nothing else: ``tasks`` (the work), ``errors`` (bad arguments are typed errors),
    ``config`` (``load_config`` of a recipe; the config is the user's input, not composition),
    ``fileio`` (the one atomic writer; writing the printed table to ``--out`` is the command's output, and
    the module imports nothing from vidpose), the package root for ``__version__`` only (the bare
    ``vidpose`` a ``from .. import __version__`` names, whose ``__init__`` imports nothing eagerly), and the
    CLI's own modules. Device checks go through ``tasks.devices``, not ``engine.distributed``.
    """
    paths = sorted((SRC / "cli").rglob("*.py"))
    assert len(paths) >= 10, paths  # the walker finds the command modules, not an empty folder
    assert [v for p in paths for v in _cli_import_violations(p)] == []


def test_every_allowance_of_the_cli_is_used():
    """The allowed set stays truthful: each entry is imported by some CLI module (a stale one is removed)."""
    used = {n for p in (SRC / "cli").rglob("*.py") for n in vidpose_imports(p)}
    unused = [a for a in CLI_MAY_IMPORT if not any(n == a or n.startswith(f"{a}.") for n in used)]
    assert unused == []


def test_the_cli_rule_catches_a_library_import_inside_a_function(tmp_path, monkeypatch):
    """A command importing a library module inside its function body is a violation (the rule reads every
    import in the AST, not only the module-level ones)."""
    cli = tmp_path / "vidpose" / "cli"
    cli.mkdir(parents=True)
    bad = cli / "bad_cmds.py"
    bad.write_text(
        "from . import app\n"
        "from ..tasks.synth import synth\n"
        "def cmd():\n"
        "    from ..data.check import check_dataset\n"
        "    import vidpose.models.profile\n"
        "    from .. import __version__\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path / "vidpose")
    assert _cli_import_violations(bad) == [
        "cli/bad_cmds.py imports vidpose.data.check",
        "cli/bad_cmds.py imports vidpose.data.check.check_dataset",
        "cli/bad_cmds.py imports vidpose.models.profile",
    ]
