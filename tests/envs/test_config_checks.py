"""Command-line overrides are checked on the real conf/ before Hydra runs, with errors that help."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from envs.config_checks import OverrideError, check_overrides, split_arguments

ROOT = Path(__file__).resolve().parents[2]
# config name -> module that registers its schemas in Hydra's ConfigStore (what the script does on import)
SCRIPTS = {"train": "train", "tournament": "tournament", "export": "export", "play": "play",
           "experiment": "experiment", "demo": "demo", "generate": "datasets.generate"}


def check(config: str, *overrides: str) -> None:
    importlib.import_module(SCRIPTS[config])
    check_overrides(config, list(overrides), program=f"{config}.py")


def refused(config: str, *overrides: str) -> str:
    with pytest.raises(OverrideError) as caught:
        check(config, *overrides)
    return str(caught.value)


def test_a_typod_key_names_the_suggestion_and_the_valid_keys():
    message = refused("train", "agent.epoch=3")
    assert message.startswith("train.py: unknown key 'agent.epoch'; did you mean 'agent.epochs'?")
    assert "Valid keys of agent (BCConfig): activation, batch_size," in message and "\n" not in message


def test_a_key_at_the_wrong_level_is_found_elsewhere():
    message = refused("train", "epochs=3")
    assert "did you mean 'agent.epochs'?" in message and "(TrainConfig)" in message


def test_plus_on_a_dataclass_section_is_refused_because_it_would_be_ignored():
    message = refused("train", "+agent.epoch=3")
    assert "'+agent.epoch=3' adds 'epoch' to agent (BCConfig)" in message
    assert "silently ignore" in message and "did you mean 'agent.epochs'?" in message
    assert "difficulty (DifficultyConfig)" in refused("play", "+difficulty.reaction=3")


def test_plus_under_a_dict_field_is_accepted():
    check("tournament", "+tournament.groups.pros=[rushdown]")
    check("play", "+game.walk_forward_speed=4")
    # without '+' a new dict entry is refused with the '+' spelling to use
    message = refused("tournament", "tournament.groups.pros=[rushdown]")
    assert "add an entry with '+tournament.groups.pros=[rushdown]'" in message


def test_correct_overrides_pass_and_each_group_choice_has_its_own_keys():
    check("train", "agent.epochs=3", "seed=2", "agent.hidden_sizes=[32]")
    check("train", "agent=ppo", "agent.num_epochs=2")
    assert "did you mean 'agent.num_epochs'?" in refused("train", "agent=ppo", "agent.epochs=3")
    assert "(RLlibPPOConfig)" in refused("train", "agent=bc,ppo", "agent.epochs=1,2")  # a sweep: every choice


def test_unknown_group_choice_and_bad_values_are_one_paragraph():
    assert refused("train", "agent=bcc").startswith("train.py: unknown agent 'bcc'; did you mean 'agent=bc'?")
    message = refused("train", "agent.rebalance=smot")
    assert "Invalid value 'smot', expected one of [none, class_weight" in message and "\n" not in message
    assert "could not be converted to Integer" in refused("generate", "matches_per_pairing=abc")
    assert "cannot read the override 'seed=[1'" in refused("train", "seed=[1")


@pytest.mark.parametrize("config", sorted(SCRIPTS))
def test_every_entry_scripts_config_composes_and_rejects_a_typo(config):
    check(config)
    assert "unknown key 'no_such_key'" in refused(config, "no_such_key=1")


def test_hydra_flags_and_hydra_overrides_are_left_to_hydra():
    args = split_arguments(["-m", "agent.lr=1e-3,1e-4", "--cfg", "job", "hydra.run.dir=x",
                            "+hydra.job.env_set.A=1", "--config-name=train", "seed=1"])
    assert args.overrides == ["agent.lr=1e-3,1e-4", "seed=1"] and args.config_name == "train"
    assert not args.skip
    assert split_arguments(["--help", "agent.epoch=3"]).skip
    assert split_arguments(["-c", "job", "-p", "agent", "~seed"]).overrides == ["~seed"]


def test_train_script_exits_with_the_suggestion_and_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "train.py"), "agent.epoch=3"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "train.py: unknown key 'agent.epoch'; did you mean 'agent.epochs'?" in out.stderr
    assert "Traceback" not in out.stderr and not list(tmp_path.iterdir())  # nothing run, nothing written
