"""Imports only point down the layers (DESIGN.md, "Layers: imports only point down").

    scripts      train.py tournament.py experiment.py export.py play.py demo.py serve.py
                 (never import each other)
    evaluation/
    datasets/
    agents/
    envs/

Every ``import`` and ``from ... import`` in every module of the four packages and in the root scripts
is read with :mod:`ast`, wherever it sits: at the top, inside a function, under ``TYPE_CHECKING``.
A lower layer importing a higher one, a package importing a root script, or a root script
importing another one fails the test with ``file:line``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"envs": 0, "agents": 1, "datasets": 2, "evaluation": 3}  # lowest first
SCRIPTS = {"train", "tournament", "export", "experiment", "play", "demo", "serve"}
# Known violations being removed elsewhere: (importing file, imported top-level name) -> who removes it,
# e.g. ("agents/tracker.py", "evaluation"): "TODO lead: tracker". An entry that no longer matches an
# import fails test_allow_list_is_not_stale, so the list only ever shrinks. Empty now: the run tracker
# (agents/tracker.py) takes its evaluator from the layer above and experiment.py runs the other
# scripts as subprocesses.
ALLOWED: dict[tuple[str, str], str] = {}


def module_name(rel_path: Path) -> tuple[str, bool]:
    """Dotted module name of a file relative to the repository root, and whether it is a package."""
    parts = list(rel_path.with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every import in ``source``; relative imports made absolute."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
    return found


def upward_imports(source: str, rel_path: str | Path) -> list[tuple[str, str]]:
    """``(imported top-level name, "file:line: what is wrong")`` for each import in ``source`` (the
    file at ``rel_path``) that points up the layers or from one root script to another."""
    rel_path = Path(rel_path)
    module, is_package = module_name(rel_path)
    top = module.split(".")[0]
    in_layer = len(rel_path.parts) > 1 and top in LAYERS
    problems = []
    for line, imported in imports(source, module, is_package):
        target = imported.split(".")[0]
        where = f"{rel_path.as_posix()}:{line}"
        if in_layer and target in LAYERS and LAYERS[target] > LAYERS[top]:
            problems.append((target, f"{where}: {top}/ imports {imported} (a higher layer: {target}/)"))
        elif in_layer and target in SCRIPTS:
            problems.append((target, f"{where}: {top}/ imports the root script {target}.py"))
        elif not in_layer and target in SCRIPTS and target != top:
            problems.append((target, f"{where}: the root script {top}.py imports the root script "
                                     f"{target}.py"))
    return problems


def violations(source: str, rel_path: str | Path) -> list[str]:
    return [message for _, message in upward_imports(source, rel_path)]


def project_files() -> list[Path]:
    files = [p for package in LAYERS for p in sorted((ROOT / package).rglob("*.py"))]
    files += [ROOT / f"{name}.py" for name in sorted(SCRIPTS) if (ROOT / f"{name}.py").is_file()]
    return files


def all_violations() -> list[tuple[tuple[str, str], str]]:
    """Every violation in the project as ``((file, imported top-level name), message)``."""
    found = []
    for path in project_files():
        rel = path.relative_to(ROOT).as_posix()
        for target, message in upward_imports(path.read_text(encoding="utf-8"), rel):
            found.append(((rel, target), message))
    return found


def test_imports_point_down_the_layers():
    problems = [message for key, message in all_violations() if key not in ALLOWED]
    assert not problems, "imports that point up the layers:\n" + "\n".join(problems)


def test_allow_list_is_not_stale():
    used = {key for key, _ in all_violations()}
    stale = [f"{file} -> {name} ({why})" for (file, name), why in ALLOWED.items()
             if (ROOT / file).is_file() and (file, name) not in used]
    assert not stale, "ALLOWED entries that no longer match an import (remove them):\n" + "\n".join(stale)


def test_the_sb3_path_does_not_import_ray():
    """SB3 trains on envs.pool_env, not on the RLlib env: no Ray import (seconds, and a dependency)."""
    code = ("import sys, agents.rl.sb3_train, agents.gym_envs, envs.pool_env; "
            "sys.exit('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# ---- the checker itself can fail -------------------------------------------------------------------
@pytest.mark.parametrize("source, rel_path, expected", [
    ("from agents.registry import make_policy\n", "envs/fighting_env.py",
     ["envs/fighting_env.py:1: envs/ imports agents.registry (a higher layer: agents/)"]),
    ("import numpy\n\ndef f():\n    import evaluation.online\n", "datasets/generate.py",
     ["datasets/generate.py:4: datasets/ imports evaluation.online (a higher layer: evaluation/)"]),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from datasets import load\n",
     "agents/bc.py", ["agents/bc.py:3: agents/ imports datasets (a higher layer: datasets/)"]),
    ("from .. import online\n", "evaluation/sub/x.py", []),  # evaluation.online: same layer
    ("from ..evaluation import online\n", "agents/x.py",  # relative, still upward
     ["agents/x.py:1: agents/ imports evaluation (a higher layer: evaluation/)"]),
    ("import train\n", "tournament.py", ["tournament.py:1: the root script tournament.py imports the root "
                                         "script train.py"]),
    ("from train import TrainConfig\n", "evaluation/report.py",
     ["evaluation/report.py:1: evaluation/ imports the root script train.py"]),
    ("from envs.actions import Action\nfrom agents import make_policy\nimport evaluation.online\n",
     "play.py", []),  # scripts import any layer
    ("from envs.actions import Action\nimport numpy\n", "agents/scripted.py", []),  # downward
])
def test_checker_flags_upward_imports_and_only_those(source, rel_path, expected):
    assert violations(source, rel_path) == expected
