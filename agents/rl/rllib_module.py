"""An RLlib (new API stack) PPO ``RLModule`` whose policy is the BC :class:`PolicyNetwork`.

RLlib's default PPO module builds its own encoder and heads from a catalog, with layer names that
match nothing in a BC checkpoint, and ``TorchRLModule.set_state`` loads with ``strict=False``, so a
mismatched state dict would be ignored without a word. This module instead holds the very class BC
trains, as the submodule ``policy`` (state keys ``policy.layers.*``), next to a separate value head
(``value_head``, an MLP of the same hidden sizes whose output layer starts at zero, so the first
value estimates are 0 instead of noise). Loading the BC weights goes through ``set_state`` and is
then checked tensor by tensor: :class:`~agents.rl.sb3_init.BCInitError` if anything did not load.

The module reads the checkpoint itself in ``setup`` (``model_config["bc_checkpoint"]``), so every
copy RLlib builds (the Learner's, each EnvRunner's) starts from BC without a weight broadcast; the
path must therefore be readable wherever RLlib builds modules (always true on one machine).
A checkpoint made with ``rebalance=logit_adjust`` has its adjustment folded into the output bias,
so PPO starts from the policy the BC bot actually plays.

``ppo_config`` is the one place the PPO config is assembled: against a pool of bots, RLlib's
single-agent env runner samples through :class:`~envs.pool_vector_env.PoolVectorEnv` (all of a
runner's matches in one batched engine, ``gym_env_vectorize_mode="vector_entry_point"``); with live
self-play (``"self"`` in the pool, or no pool) through the native
:class:`~envs.rllib_env.FightingMultiAgentEnv`, every learner-side fighter mapped to one module
(several times slower per env step: one Python env per match). A GPU for the learner when torch
sees one.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from agents.networks import ACTIVATIONS, PolicyNetwork
from agents.rl.sb3_init import BCInitError

DEFAULT_MODULE_ID = "fighter"  # the learning module of the multi-agent env (self-play)
SINGLE_AGENT_MODULE_ID = "default_policy"  # RLlib's id of the one module of a single-agent env
ENV_MODES = ("auto", "vector", "multi_agent")


def learning_module_id(config: Any) -> str:
    """The id of the module PPO trains under ``config`` (an ``AlgorithmConfig``, or an algorithm):
    ``"fighter"`` on the multi-agent env, RLlib's ``"default_policy"`` on the vector env."""
    config = getattr(config, "config", config)
    return DEFAULT_MODULE_ID if config.is_multi_agent else SINGLE_AGENT_MODULE_ID


def bc_policy_state(bc_checkpoint: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The BC network's architecture (``PolicyNetwork.config()``) and its state dict as the policy
    plays it: the manifest's logit adjustment, if any, subtracted from the output bias."""
    from agents.checkpoint import load_network

    network, manifest = load_network(bc_checkpoint)
    state = {k: v.detach().clone() for k, v in network.state_dict().items()}
    adjustment = manifest.get("logit_adjustment")
    if adjustment is not None:
        output_bias = [k for k in state if k.endswith(".bias")][-1]
        state[output_bias] = state[output_bias] - torch.as_tensor(np.asarray(adjustment, np.float32))
    return network.config(), state


class BCPolicyRLModule(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """PPO module: ``policy`` (a :class:`PolicyNetwork`, logits) and ``value_head`` (an MLP, values).

    ``model_config``: ``hidden_sizes`` and ``activation`` (the policy's; the value head uses the
    same unless ``value_hidden_sizes`` is given), and optionally ``bc_checkpoint`` to start from.
    The value head is separate from the policy (no shared encoder) so value-loss gradients cannot
    wash out the BC features in the first updates. An ``inference_only`` copy (what RLlib's
    single-agent EnvRunners build) has no value head: sampling needs only the policy.
    """

    @override(TorchRLModule)
    def setup(self) -> None:
        config = dict(self.model_config or {})
        hidden = [int(h) for h in config.get("hidden_sizes", (256, 256))]
        activation = str(config.get("activation", "relu"))
        self.policy = PolicyNetwork(obs_dim=int(np.prod(self.observation_space.shape)),
                                    num_actions=int(self.action_space.n), hidden_sizes=hidden,
                                    activation=activation)
        if not self.inference_only:
            layers: list[nn.Module] = []
            width = self.policy.obs_dim
            for size in config.get("value_hidden_sizes", hidden):
                layers += [nn.Linear(width, int(size)), ACTIVATIONS[activation]()]
                width = int(size)
            output = nn.Linear(width, 1)
            nn.init.zeros_(output.weight)
            nn.init.zeros_(output.bias)
            self.value_head = nn.Sequential(*layers, output)
        if config.get("bc_checkpoint"):
            load_bc_into_module(self, config["bc_checkpoint"])

    @override(RLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Action logits; RLlib picks the Categorical distribution from the Discrete action space."""
        return {Columns.ACTION_DIST_INPUTS: self.policy(batch[Columns.OBS])}

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        """Value estimates ``(B,)`` (or ``(B, T)``); ``embeddings`` is unused: nothing is shared."""
        return self.value_head(batch[Columns.OBS]).squeeze(-1)

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> list[str]:
        return ["value_head"]


def load_bc_into_module(module: BCPolicyRLModule, bc_checkpoint: str | Path) -> None:
    """Load the BC weights into ``module.policy`` through RLlib's ``set_state``, then verify them.

    ``set_state`` is non-strict (unknown keys are dropped silently), hence the check afterwards.
    """
    config, state = bc_policy_state(bc_checkpoint)
    if config != module.policy.config():
        raise BCInitError(f"the BC checkpoint {bc_checkpoint} has architecture {config}, the RLModule's "
                          f"policy {module.policy.config()}: pass the checkpoint's hidden_sizes and "
                          "activation in model_config (bc_module_spec does)")
    module.set_state({f"policy.{k}": v for k, v in state.items()})
    check_policy_weights(module, state, what=f"the BC checkpoint {bc_checkpoint}")


def check_policy_weights(module: BCPolicyRLModule, expected: dict[str, torch.Tensor], *,
                         what: str = "the BC weights") -> None:
    """Raise :class:`BCInitError` unless ``module.policy``'s tensors equal ``expected`` exactly."""
    got = module.policy.state_dict()
    wrong = sorted(k for k in set(got) | set(expected)
                   if k not in got or k not in expected
                   or not torch.equal(got[k].detach().cpu(), expected[k].detach().cpu()))
    if wrong:
        raise BCInitError(f"the RLModule's policy does not hold {what}: {wrong} differ or are missing "
                          "(RLlib's set_state ignores keys it does not know)")


def bc_module_spec(bc_checkpoint: str | Path, **model_config: Any) -> RLModuleSpec:
    """An ``RLModuleSpec`` for :class:`BCPolicyRLModule` starting from ``bc_checkpoint``.

    The architecture is read from the checkpoint's manifest, so the module fits the weights;
    ``model_config`` may add ``value_hidden_sizes``. The path is made absolute because RLlib may
    build modules in worker processes with another working directory.
    """
    from agents.checkpoint import checkpoint_dir, read_manifest

    folder = checkpoint_dir(bc_checkpoint).resolve()
    architecture = read_manifest(folder)["architecture"]["config"]
    return RLModuleSpec(module_class=BCPolicyRLModule,
                        model_config={"hidden_sizes": list(architecture["hidden_sizes"]),
                                      "activation": architecture["activation"],
                                      "bc_checkpoint": str(folder), **model_config})


def module_to_policy_network(module: BCPolicyRLModule) -> PolicyNetwork:
    """A CPU copy of the module's policy, ready for ``save_checkpoint`` (adjustment already in the
    bias, so save with ``logit_adjustment=None``) and ``agents.load``."""
    return copy.deepcopy(module.policy).to("cpu").eval()


def policy_network_from_algo(algo: Any, module_id: str | None = None) -> PolicyNetwork:
    """The trained policy of ``module_id`` (default: :func:`learning_module_id`) as a CPU
    :class:`PolicyNetwork`, read from the Learner.

    The Learner holds the weights PPO just updated (EnvRunners get a copy after each iteration);
    ``learner_group.get_state`` is RLlib's public way to them and works with remote Learners too.
    """
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE

    module_id = learning_module_id(algo) if module_id is None else module_id
    component = f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}/{module_id}"
    state = algo.learner_group.get_state(components=component)
    module_state = state[COMPONENT_LEARNER][COMPONENT_RL_MODULE][module_id]
    network = PolicyNetwork(**algo.get_module(module_id).policy.config())
    prefix = "policy."
    network.load_state_dict({k[len(prefix):]: torch.as_tensor(v) for k, v in module_state.items()
                             if k.startswith(prefix)})  # strict: every policy tensor must be there
    return network.eval()


def scratch_module_spec(hidden_sizes: Any = (256, 256), activation: str = "relu") -> RLModuleSpec:
    """The same module with freshly initialised weights: PPO from scratch, for the comparison."""
    return RLModuleSpec(module_class=BCPolicyRLModule,
                        model_config={"hidden_sizes": [int(h) for h in hidden_sizes],
                                      "activation": activation})


def ppo_config(bc_checkpoint: str | Path | None, *, module_id: str = DEFAULT_MODULE_ID,
               env_config: dict[str, Any] | None = None, env_mode: str = "auto", num_env_runners: int = 0,
               num_envs_per_env_runner: int = 1, num_learners: int = 0, device: str = "auto",
               hidden_sizes: Any = (256, 256), activation: str = "relu", seed: int | None = None,
               **training: Any) -> Any:
    """The one place a ``PPOConfig`` for this project is assembled (``train.py agent=ppo``, tests, bench).

    ``env_config`` holds game options and the opponent pool: bot and pool names (``opponents``,
    ``league_dir``, ``league_share``, ``league_size``, ``pfsp_power``, resolved here by
    :func:`agents.gym_envs.resolve_env_config`) or ``"opponent_pool"``, a sampler factory
    (:func:`agents.gym_envs.pool_env_config`). ``env_mode`` picks the env:

    * ``"vector"``: ``FightLab/PoolDuel-v0``, :class:`~envs.pool_vector_env.PoolVectorEnv` built by
      ``gym.make_vec`` in RLlib's single-agent env runner: its ``num_envs_per_env_runner`` matches
      (hundreds to thousands) are one batched engine, each opponent bot acts once per frame for
      all its matches. The module is RLlib's single-agent ``"default_policy"``.
    * ``"multi_agent"``: :class:`~envs.rllib_env.FightingMultiAgentEnv`, one Python env per match,
      every fighter the learner controls mapped to ``module_id``; with ``"self"`` drawn or no pool
      the learner plays both sides (live self-play), which only this env can do.
    * ``"auto"`` (default): ``"multi_agent"`` when the config has no pool or names ``"self"``
      (:func:`agents.gym_envs.uses_self_play`), ``"vector"`` otherwise.

    The module starts from ``bc_checkpoint`` or, with None, from scratch with
    ``hidden_sizes``/``activation``. ``training`` goes to ``PPOConfig.training`` (``lr``,
    ``train_batch_size_per_learner``, ``minibatch_size``, ``num_epochs``...).

    Hardware: ``num_env_runners=0`` samples in the driver process (no worker has to import the
    project); remote EnvRunners on a local Ray instance started from the repository root find the
    project on their path too. ``device="auto"`` gives each learner a GPU when torch sees one
    (``num_gpus_per_learner=1``; with ``num_learners=0`` the driver's learner uses it), ``"cpu"``
    never, ``"cuda"`` always. ``seed`` seeds sampling and module init (``.debugging(seed=...)``).
    """
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

    from agents.gym_envs import resolve_env_config, uses_self_play
    from envs.pool_vector_env import POOL_ENV_ID
    from envs.rllib_env import FightingMultiAgentEnv

    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if env_mode not in ENV_MODES:
        raise ValueError(f"env_mode must be one of {ENV_MODES}, got {env_mode!r}")
    if env_mode == "auto":
        env_mode = "multi_agent" if uses_self_play(env_config) else "vector"
    gpus = 1 if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else 0
    spec = bc_module_spec(bc_checkpoint) if bc_checkpoint is not None \
        else scratch_module_spec(hidden_sizes, activation)
    config = (PPOConfig().learners(num_learners=num_learners, num_gpus_per_learner=gpus)
              # commands are Discrete: nothing to unsquash or clip (RLlib would deep-copy every action)
              .environment(normalize_actions=False, clip_actions=False))
    if env_mode == "vector":
        config = (config.environment(POOL_ENV_ID, env_config=resolve_env_config(env_config))
                  .rl_module(rl_module_spec=spec)
                  .env_runners(num_env_runners=num_env_runners,
                               num_envs_per_env_runner=num_envs_per_env_runner,
                               gym_env_vectorize_mode="vector_entry_point"))
    else:
        config = (config.environment(FightingMultiAgentEnv, env_config=resolve_env_config(env_config))
                  .multi_agent(policies={module_id},
                               policy_mapping_fn=lambda agent_id, episode, **kwargs: module_id)
                  .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={module_id: spec}))
                  .env_runners(num_env_runners=num_env_runners,
                               num_envs_per_env_runner=num_envs_per_env_runner))
    # no system-usage sampling: it is not reported, and without gputil it warns on every run
    config = config.debugging(log_sys_usage=False)
    if seed is not None:
        config = config.debugging(seed=seed)
    if training:
        config = config.training(**training)
    return config
