"""The YAML files under conf/ hold only what differs from the dataclass schemas, and name no bot pool."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]


def schemas() -> dict[str, object]:
    import demo
    import experiment
    import export
    import play
    import serve
    import tournament
    import train
    from agents.bc import BCConfig
    from agents.distill import DistillConfig
    from agents.rl.config import RLlibPPOConfig, SB3PPOConfig
    from datasets.generate import GenerateConfig
    from evaluation.alignment import AlignmentConfig
    from evaluation.peers import PeersConfig
    from evaluation.protocol import EvalProtocol
    from evaluation.zoo import ZooConfig

    return {"train.yaml": train.TrainConfig, "agent/bc.yaml": BCConfig, "agent/ppo.yaml": RLlibPPOConfig,
            "agent/sb3_ppo.yaml": SB3PPOConfig, "agent/distill.yaml": DistillConfig,
            "eval/default.yaml": EvalProtocol,
            "eval/perfect_pros.yaml": EvalProtocol, "tournament.yaml": tournament.TournamentConfig,
            "export.yaml": export.ExportConfig, "experiment.yaml": experiment.ExperimentConfig,
            "scale/full.yaml": experiment.ScaleConfig, "scale/small.yaml": experiment.ScaleConfig,
            "generate.yaml": GenerateConfig, "play.yaml": play.PlayConfig, "demo.yaml": demo.DemoConfig,
            "alignment.yaml": AlignmentConfig, "zoo/default.yaml": ZooConfig, "zoo/small.yaml": ZooConfig,
            "serve.yaml": serve.ServeConfig, "peers.yaml": PeersConfig}


def restated(values: dict, defaults: dict, prefix: str = "") -> list[str]:
    """Keys whose YAML value equals the schema default (interpolations such as ${seed} differ)."""
    out = []
    for key, value in values.items():
        if key not in defaults:
            continue  # a group (agent, eval) or a free-form dict entry: not a schema default
        if isinstance(value, dict) and isinstance(defaults[key], dict) and value:
            out += restated(value, defaults[key], f"{prefix}{key}.")
        elif value == defaults[key]:
            out.append(f"{prefix}{key}")
    return out


def test_every_yaml_file_has_a_schema():
    found = {p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    assert found == set(schemas())


@pytest.mark.parametrize("name", sorted(schemas()))
def test_yaml_holds_only_what_differs_from_the_schema(name):
    yaml = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / name), resolve=False)
    yaml.pop("defaults", None)
    yaml.pop("hydra", None)
    defaults = OmegaConf.to_container(OmegaConf.structured(schemas()[name]), enum_to_str=True)
    assert restated(yaml, defaults) == [], f"conf/{name} restates schema defaults"


def test_restated_finds_a_restated_default():
    assert restated({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 0, "d": 3}}) == ["a", "b.d"]


def test_the_pool_names_live_in_python_only():
    from agents.registry import CLUB_PROS, PERFECT_PROS

    text = "\n".join(p.read_text() for p in (ROOT / "conf").rglob("*.yaml"))
    for bot in (*CLUB_PROS, *PERFECT_PROS):
        assert bot not in text
