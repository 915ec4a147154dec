"""The docs site: it builds with ``mkdocs build --strict`` (a broken link, a missing page or a stale
reference fails), every page is in the navigation, the reference tables are generated from the code,
and the README stays a short front page that points into the docs."""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import hooks  # noqa: E402  (docs/hooks.py: the generated tables)


def nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [page for value in node.values() for page in nav_pages(value)]
    return [page for item in node for page in nav_pages(item)]


def mkdocs_config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_the_site_builds_strict(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                             str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    config = (tmp_path / "site" / "reference" / "config" / "index.html").read_text(encoding="utf-8")
    assert "keep_epoch_checkpoints" in config and "fightlab:config" not in config
    game = (tmp_path / "site" / "reference" / "game" / "index.html").read_text(encoding="utf-8")
    assert "opp_projectile_distance" in game and "HEAVY_ATTACK" in game
    assert (tmp_path / "site" / "figures" / "accuracy_vs_win_rate.png").is_file()
    results = (tmp_path / "site" / "results" / "index.html").read_text(encoding="utf-8")
    assert "--8&lt;--" not in results and "logit_adjust" in results  # the included tables are there


def test_every_page_is_in_the_navigation():
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert pages == set(nav_pages(mkdocs_config()["nav"]))


def test_the_readme_is_a_short_front_page_into_the_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 200
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link
    assert "pip install -c constraints.txt -e . && .venv/bin/python train.py agent=bc" in readme
    assert '-e ".[dev]" && .venv/bin/python -m pytest' in readme


@pytest.mark.parametrize("qualified_name", sorted(set(re.findall(
    r"<!-- fightlab:config ([\w.]+) -->", (ROOT / "docs" / "reference" / "config.md").read_text()))))
def test_the_config_reference_lists_exactly_the_schema_fields(qualified_name):
    module, _, name = qualified_name.rpartition(".")
    schema = getattr(importlib.import_module(module), name)
    table = hooks.config_table(qualified_name)
    listed = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
    own = list(vars(schema).get("__annotations__", {}))  # declared in the class body, in order
    assert listed == own
    assert set(own) <= {f.name for f in dataclasses.fields(schema)}
    for base in schema.__bases__:
        if dataclasses.is_dataclass(base):
            assert f"Also every field of `{base.__name__}`" in table


def test_the_observation_and_frame_data_tables_come_from_the_code():
    from envs.observation import observation_field_names
    from envs.params import GameParams

    observation = hooks.observation_table()
    assert all(f"`{name}`" in observation for name in observation_field_names())
    frame_data = hooks.frame_data_table()
    heavy = GameParams().moves["HEAVY_ATTACK"]
    assert f"| `HEAVY_ATTACK` | {heavy.startup} | {heavy.active} | {heavy.recovery} | {heavy.damage} |" \
        in frame_data


def test_an_unknown_table_marker_fails_the_build():
    class Page:
        class file:
            src_path = "x.md"

    with pytest.raises(ValueError, match="unknown table marker 'observations'"):
        hooks.on_page_markdown("<!-- fightlab:observations -->", Page, None, None)


def test_every_docs_file_is_tracked_by_git():
    """A docs page the .gitignore hides builds here and breaks the site in a clean clone."""
    result = subprocess.run(["git", "check-ignore", "--no-index", *map(str, (ROOT / "docs").rglob("*"))],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.stdout == "", f"ignored by .gitignore: {result.stdout}"
