"""MkDocs hooks: the reference tables come from the code, so the docs cannot drift from it.

A page asks for a table with a marker on a line of its own, e.g. ``<!-- fightlab:observation -->``;
:func:`on_page_markdown` replaces it with the table built from the module that owns the facts
(``envs.observation``, ``envs.params``, ``envs.actions``, ``datasets.schema``) or, for the layout,
from each module's docstring (read with ``ast``, nothing is imported). :func:`on_files` publishes
``notebooks/figures/*.png`` as ``figures/`` so pages show the figures the benchmarks and the
notebook write, without a second copy in the repository.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
from collections.abc import Callable
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]

MARKER = re.compile(r"^<!-- fightlab:(?P<name>[a-z_]+)(?: (?P<arg>[\w.]+))? -->$", re.M)


def _table(header: list[str], rows: list[list[object]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def observation_table() -> str:
    from envs.observation import ENCODING_VERSION, observation_field_table

    rows = [[f["index"], f"`{f['name']}`", f["unit"], f"{f['low']:g}..{f['high']:g}", f["description"]]
            for f in observation_field_table()]
    return (f"Encoding version `{ENCODING_VERSION}`, {len(rows)} float32 fields, in input order "
            "(`envs.observation.observation_field_table()`):\n\n"
            + _table(["index", "field", "unit", "range", "meaning"], rows))


def commands_table() -> str:
    from envs.actions import ATTACKS, Action

    rows = [[a.value, f"`{a.name}`", "attack (frame data below)" if a in ATTACKS else ""] for a in Action]
    return _table(["id", "command", ""], rows)


def frame_data_table() -> str:
    from envs.params import GameParams

    rows = []
    for name, move in GameParams().moves.items():
        rows.append([f"`{name}`", move.startup, move.active, move.recovery, move.damage,
                     f"{move.reach:g}" if move.reach else "projectile", move.hitstun, move.blockstun,
                     "yes" if move.blockable else "no", "yes" if move.hits_crouching else "no",
                     f"{move.max_target_height:g}", move.cooldown or "", move.chip_damage or ""])
    return _table(["command", "startup", "active", "recovery", "damage", "reach (px)", "hit-stun",
                   "block-stun", "blockable", "hits crouching", "max target height (px)",
                   "cooldown", "chip"], rows)


def game_params_table() -> str:
    from envs.params import GameParams

    defaults = GameParams()
    rows = [[f"`{f.name}`", f"`{getattr(defaults, f.name)!r}`"] for f in dataclasses.fields(GameParams)
            if f.name != "moves"]
    return _table(["`GameParams` field", "default"], rows)


def _columns(columns) -> list[list[object]]:
    from datasets.schema import OBSERVATION_COLUMNS

    rows, first_observation = [], True
    for name, dtype, description in columns:
        if name in OBSERVATION_COLUMNS:
            if first_observation:
                rows.append([f"`{OBSERVATION_COLUMNS[0]}` ... `{OBSERVATION_COLUMNS[-1]}` "
                             f"({len(OBSERVATION_COLUMNS)} columns)", dtype,
                             "the egocentric observation this side saw, in encoding order"])
                first_observation = False
            continue
        rows.append([f"`{name}`", dtype, description])
    return rows


def log_frames_table() -> str:
    from datasets.schema import FRAME_COLUMNS, SCHEMA_VERSION

    return (f"Log schema version `{SCHEMA_VERSION}`, one row per side per frame "
            "(`datasets.schema.FRAME_COLUMNS`):\n\n" + _table(["column", "type", "meaning"],
                                                              _columns(FRAME_COLUMNS)))


def log_matches_table() -> str:
    from datasets.schema import MATCH_COLUMNS

    return _table(["column", "type", "meaning"], _columns(MATCH_COLUMNS))


def layout_table() -> str:
    """Every package's modules with the first line of their docstring."""
    rows = []
    for package in ("envs", "agents", "agents/rl", "datasets", "evaluation"):
        for path in sorted((ROOT / package).glob("*.py")):
            if path.name == "__init__.py":
                continue
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            rows.append([f"`{package}/{path.name}`", doc.strip().split("\n\n")[0].replace("\n", " ")])
    for path in sorted(ROOT.glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        rows.append([f"`{path.name}`", doc.strip().split("\n\n")[0].replace("\n", " ")])
    return _table(["module", "what it is (its docstring's first paragraph)"], rows)


def _escape(text: str) -> str:
    """Plain text for a table cell: ``<run>`` is not an HTML tag and ``|`` not a column."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        parts[i] = (parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                    .replace("_", "\\_").replace("*", "\\*"))
    return "`".join(parts).replace("|", "&#124;")


def _default(value: ast.expr | None) -> str:
    if value is None:
        return "required"
    if isinstance(value, ast.Call) and ast.unparse(value.func) == "field":
        for keyword in value.keywords:
            if keyword.arg == "default_factory":
                factory = ast.unparse(keyword.value)
                return factory.removeprefix("lambda: ") if factory.startswith("lambda") else f"{factory}()"
            if keyword.arg == "default":
                return ast.unparse(keyword.value)
    text = ast.unparse(value)
    return "required" if text == "MISSING" else text


def config_table(qualified_name: str) -> str:
    """The fields of a config dataclass: name, type, default and the comment beside it in the code."""
    module, _, class_name = qualified_name.rpartition(".")
    path = ROOT / (module.replace(".", "/") + ".py")
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    classes = [node for node in ast.walk(ast.parse(source))
               if isinstance(node, ast.ClassDef) and node.name == class_name]
    if not classes:
        raise ValueError(f"no class {class_name} in {path}")
    rows = []
    for node in classes[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        comment = lines[node.lineno - 1].partition("  # ")[2]
        following = node.end_lineno  # comment lines that continue it
        while comment and following < len(lines) and re.match(r"\s*# [a-z(]", lines[following]):
            comment += " " + lines[following].strip()[2:]  # a comment continued on the next line
            following += 1
        rows.append([f"`{node.target.id}`", _escape(ast.unparse(node.annotation)),
                     f"`{_default(node.value)}`", _escape(comment)])
    doc = ast.get_docstring(classes[0]) or ""
    bases = [ast.unparse(base) for base in classes[0].bases]
    inherited = f" Also every field of {', '.join(f'`{b}`' for b in bases)}." if bases else ""
    return (f"**`{qualified_name}`**" + (f": {doc.split(chr(10) + chr(10))[0]}" if doc else "")
            + inherited + "\n\n" + _table(["field", "type", "default", "meaning"], rows))


TABLES: dict[str, Callable[..., str]] = {
    "observation": observation_table, "commands": commands_table, "frame_data": frame_data_table,
    "game_params": game_params_table, "log_frames": log_frames_table,
    "log_matches": log_matches_table, "layout": layout_table, "config": config_table,
}


def on_config(config):
    # The project runs from its checkout (see the README); MkDocs restores sys.path after loading
    # this file, so the checkout goes on it here.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return config


def on_page_markdown(markdown: str, page, config, files) -> str:
    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in TABLES:
            raise ValueError(f"{page.file.src_path}: unknown table marker {name!r}; "
                             f"known: {', '.join(sorted(TABLES))}")
        return TABLES[name](match.group("arg")) if match.group("arg") else TABLES[name]()

    return MARKER.sub(replace, markdown)


def on_files(files, config):
    for png in sorted((ROOT / "notebooks" / "figures").glob("*.png")):
        files.append(File(f"figures/{png.name}", str(png.parent.parent), config["site_dir"],
                          config["use_directory_urls"]))
    return files
