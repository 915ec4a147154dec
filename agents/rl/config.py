"""Config schemas of the RL agents (``conf/agent/ppo.yaml``, ``conf/agent/sb3_ppo.yaml``).

Dataclasses in Hydra's ConfigStore, as for BC (:class:`agents.bc.BCConfig`), so a typo'd override
fails with the list of valid keys. Both agents share the fields of :class:`FineTuneConfig`: where
to start (``init_from``: a BC checkpoint, or null for PPO from scratch with the same network), who
to fight (the opponent pool and the league of snapshots), how often to evaluate, and the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.registry import PERFECT_PROS, REFERENCE_POOL

# Fine-tuning fights the reference pool and the perfect-skill pros: the reference pool alone is
# nearly solved by a rebalanced BC bot, so the hard opponents are where there is something to learn.
DEFAULT_TRAINING_POOL: tuple[str, ...] = (*REFERENCE_POOL, *PERFECT_PROS)


@dataclass
class FineTuneConfig:
    name: str = "ppo"
    init_from: str | None = None  # a BC checkpoint (run folder, best/, manifest.json); null: from scratch
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])  # from scratch only
    activation: str = "relu"  # from scratch only; a BC start takes the checkpoint's architecture
    seed: int = 0
    device: str = "auto"  # auto: the learner on CUDA when torch sees a GPU, else the CPU
    lr: float = 1e-4  # low: the BC start is a good policy (3e-4 already unlearned it in a probe)
    gamma: float = 0.997  # a match is up to 3600 frames; rewards are damage now and the result later
    gae_lambda: float = 0.95
    clip_param: float = 0.1
    entropy_coeff: float = 0.0  # BC's softmax is spread enough; a bonus would push it to mash
    vf_loss_coeff: float = 0.5
    num_epochs: int = 4  # passes over each batch of experience
    minibatch_size: int = 1024
    opponents: list[str] = field(default_factory=lambda: list(DEFAULT_TRAINING_POOL))  # "self": self-play
    league_share: float = 0.2  # share of episodes against frozen snapshots of the learner (once any exist)
    league_size: int = 5  # the newest snapshots that stay in the league
    pfsp_power: float = 1.0  # opponents weighted by (1 - learner's win rate) ** power; 0: uniform
    snapshot_every: int = 5  # iterations (RLlib) / rollouts (SB3) between snapshots; 0: no league
    eval_every: int = 5  # iterations / rollouts between evaluations (offline + online, as BC's epochs)


@dataclass
class RLlibPPOConfig(FineTuneConfig):
    """``agent=ppo``: RLlib PPO (new API stack), BC weights in the RLModule, sampling through the
    batched pool vector env (the multi-agent env when ``"self"`` is among the opponents)."""

    name: str = "ppo"
    iterations: int = 40  # algo.train() calls
    train_batch_size: int = 8192  # env steps per iteration (per learner)
    num_env_runners: int = 0  # 0: sample in the driver; >0: remote EnvRunner actors
    # matches per env runner, stepped as one batch: 8192 / 256 = 32 frames per match and iteration
    # (the multi-agent self-play env steps them one by one: use a few there)
    num_envs_per_env_runner: int = 256
    num_learners: int = 0  # 0: the learner in the driver; >0: remote Learner actors (one GPU each)
    rllib_checkpoint_every: int = 10  # iterations between RLlib checkpoints (for train.resume)


@dataclass
class SB3PPOConfig(FineTuneConfig):
    """``agent=sb3_ppo``: stable-baselines3 PPO on the batched pool vector env (a bot pool; no ``"self"``)."""

    name: str = "sb3_ppo"
    total_timesteps: int = 200_000
    n_steps: int = 32  # per match per rollout: 256 x 32 = 8192 env steps, as agent=ppo's batch
    num_envs: int = 256  # matches stepped as one batch (one engine, one VecEnv)
    opponents: list[str] = field(default_factory=lambda: list(DEFAULT_TRAINING_POOL))

