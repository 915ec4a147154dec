"""Log generation: pairings, seeds, the Hydra command line, atomicity, and the cached default dataset."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

import datasets.generate as gen
from agents.registry import UnknownBotError
from datasets.generate import GenerateConfig, default_dataset_path, ensure_default_dataset, generate
from datasets.load import load_dataset
from datasets.manifest import MANIFEST_NAME, DatasetError

ROOT = Path(__file__).resolve().parents[2]


def tiny(out, **changes):
    config = GenerateConfig(players=["footsies", "random"], matches_per_pairing=3, seed=0, out=str(out),
                            progress=False)
    return dataclasses.replace(config, **changes)


def test_every_pairing_plays_mirrors_included_on_both_sides(tmp_path):
    ds = load_dataset(generate(tiny(tmp_path / "d", players=["footsies", "random", "idle"])))
    matches = ds.matches
    pairs = matches.apply(lambda r: tuple(sorted((r["player_0_id"], r["player_1_id"]))), axis=1)
    assert pairs.value_counts().to_dict() == {p: 3 for p in [
        ("footsies", "footsies"), ("footsies", "random"), ("footsies", "idle"),
        ("random", "random"), ("idle", "random"), ("idle", "idle")]}
    assert list(matches["match_id"]) == list(range(18))
    for player in ("footsies", "random", "idle"):  # each player is seen from both sides
        assert set(ds.frames.loc[ds.frames["player_id"] == player, "side"]) == {0, 1}
    seeds = matches["seed"].unique()
    assert len(seeds) == 6 and list(seeds) == ds.manifest["generator"]["pairing_seeds"]


def test_same_seed_same_logs_other_seed_other_logs(tmp_path):
    a = load_dataset(generate(tiny(tmp_path / "a", seed=7)))
    b = load_dataset(generate(tiny(tmp_path / "b", seed=7, shard_rows=999)))
    c = load_dataset(generate(tiny(tmp_path / "c", seed=8)))
    pd.testing.assert_frame_equal(a.frames, b.frames)
    pd.testing.assert_frame_equal(a.matches, b.matches)
    assert a.manifest["frames_sha256"] == b.manifest["frames_sha256"]
    strip = ("created_at", "shards", "generator")
    assert {k: v for k, v in a.manifest.items() if k not in strip} == \
        {k: v for k, v in b.manifest.items() if k not in strip}
    assert c.manifest["frames_sha256"] != a.manifest["frames_sha256"]
    assert not c.matches["duration_frames"].equals(a.matches["duration_frames"])


def test_a_failure_midway_leaves_no_partial_dataset(tmp_path, monkeypatch):
    real = gen.play_matches
    calls = []

    def second_pairing_crashes(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("engine crashed")
        return real(*args, **kwargs)

    monkeypatch.setattr(gen, "play_matches", second_pairing_crashes)
    with pytest.raises(RuntimeError, match="engine crashed"):
        generate(tiny(tmp_path / "d", shard_rows=500))
    assert list(tmp_path.iterdir()) == []


def test_bad_config_fails_before_anything_is_written(tmp_path):
    with pytest.raises(UnknownBotError, match="unknown bot 'rushdwon'"):
        generate(tiny(tmp_path / "d", players=["rushdwon"]))
    with pytest.raises(ValueError, match="more than once"):
        generate(tiny(tmp_path / "d", players=["idle", "idle"]))
    with pytest.raises(ValueError, match="matches_per_pairing must be >= 1"):
        generate(tiny(tmp_path / "d", matches_per_pairing=0))
    assert list(tmp_path.iterdir()) == []


def test_the_yaml_holds_no_defaults_only_the_schema_does():
    yaml = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "generate.yaml"))
    assert yaml == {"defaults": ["generate_schema", "_self_"]}
    assert GenerateConfig().players == ["rushdown", "zoner", "turtle"]


def run_generate(*overrides, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "datasets.generate", *overrides], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_command_line_writes_a_dataset(tmp_path):
    out = run_generate("players=[footsies,idle]", "matches_per_pairing=2", "seed=3", "progress=false",
                       f"out={tmp_path / 'd'}", f"hydra.run.dir={tmp_path / 'hydra'}")
    assert out.returncode == 0, out.stderr
    ds = load_dataset(tmp_path / "d")
    assert ds.num_matches == 6 and ds.manifest["seed"] == 3
    assert ds.manifest["generator"]["players"] == ["footsies", "idle"]
    assert "| 0 | NO_ACTION |" in out.stdout and f"wrote {tmp_path / 'd'}" in out.stdout

    again = run_generate("players=[footsies,idle]", "matches_per_pairing=2", "seed=4", "progress=false",
                         f"out={tmp_path / 'd'}", f"hydra.run.dir={tmp_path / 'hydra'}")
    assert again.returncode != 0
    assert f"{tmp_path / 'd'} already exists" in again.stderr and "overwrite=true" in again.stderr
    assert load_dataset(tmp_path / "d").manifest["seed"] == 3


def test_command_line_resolves_relative_out_and_rejects_typos(tmp_path):
    out = run_generate("players=[idle]", "matches_per_pairing=1", "progress=false", "out=rel/d",
                       "hydra.run.dir=hydra", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "rel" / "d" / MANIFEST_NAME).is_file()
    typo = run_generate("matchez_per_pairing=1", f"hydra.run.dir={tmp_path / 'hydra'}")
    assert typo.returncode != 0 and "matchez_per_pairing" in typo.stderr


def test_default_dataset_is_generated_once_then_loaded(tmp_path, monkeypatch):
    assert default_dataset_path() == ROOT / "data" / "default"
    path = tmp_path / "default"
    first = ensure_default_dataset(path, config=tiny("ignored"))
    assert (path / MANIFEST_NAME).is_file()
    assert first.manifest["generator"]["players"] == ["footsies", "random"]

    def must_not_generate(config):
        raise AssertionError("regenerated an existing dataset")

    monkeypatch.setattr(gen, "generate", must_not_generate)
    second = ensure_default_dataset(path, config=tiny("ignored", seed=99))
    assert second.manifest == first.manifest
    pd.testing.assert_frame_equal(second.frames, first.frames)


def test_default_dataset_folder_that_is_not_a_dataset_is_never_regenerated_over(tmp_path, monkeypatch):
    path = tmp_path / "default"
    (path / "frames").mkdir(parents=True)  # e.g. an interrupted copy
    monkeypatch.setattr(gen, "generate", lambda config: pytest.fail("regenerated over a folder"))
    with pytest.raises(DatasetError) as err:
        ensure_default_dataset(path)
    assert f"rm -r {path}" in str(err.value) and "not a FightLab dataset" in str(err.value)
    assert sorted(p.name for p in path.iterdir()) == ["frames"]


def test_default_dataset_from_an_old_version_says_what_to_delete(tmp_path):
    path = tmp_path / "default"
    ensure_default_dataset(path, config=tiny("ignored", players=["idle"], matches_per_pairing=1))
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    manifest["observation_encoding_version"] = "0"
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match=f"delete it \\(rm -r {path}\\)"):
        ensure_default_dataset(path)
