"""The import rules between the layers of vidpose (ARCHITECTURE.md), read from the source: every module's
``import`` statements (module level and inside functions) are walked with :mod:`ast`.

- ``engine/`` is the generic training engine: it imports nothing pose-specific (no data, models, codec,
  skeleton, evaluation, inference, tasks or CLI).
- ``models/`` knows tensors: it imports neither ``engine/`` nor ``data/``, ``evaluation/``, ``inference/``,
  ``tasks/`` or the CLI.
- Nothing but the CLI imports ``vidpose.cli``; only the CLI (and ``tasks/`` itself) imports ``vidpose.tasks``.
- Data flows one way: ``data/`` imports no models, evaluation, inference, tasks; ``evaluation/`` imports no
  models, inference or tasks; ``codec`` imports no data or models.
"""

from __future__ import annotations

import ast
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


#: the command modules that call the application layer only (``vidpose.tasks``), besides config and errors
TASK_COMMANDS = ("train_cmds", "predict_cmds", "demo_cmds")
CLI_MAY_IMPORT = ("tasks", "config", "errors", "cli")


@pytest.mark.parametrize("command", TASK_COMMANDS)
def test_commands_call_only_the_tasks(command):
    path = SRC / "cli" / f"{command}.py"
    bad = [n for n in sorted(vidpose_imports(path)) if len(n.split(".")) > 1]
    bad = [n for n in bad if n.split(".")[1] not in CLI_MAY_IMPORT]
    assert bad == []
