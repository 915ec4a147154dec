"""stable-baselines3 PPO whose policy starts as a behaviour-cloned :class:`PolicyNetwork`.

RL from scratch in this game mostly learns to mash buttons; starting from the BC policy starts from
a bot that already wins most matches, and PPO only has to fix what imitation got wrong. SB3's
``MlpPolicy`` computes ``action_net(mlp_extractor.policy_net(obs))``, which is exactly the shape of
``PolicyNetwork.layers`` (Linear, activation, ..., Linear), so the BC weights map one to one:

====================================  ======================================================
``PolicyNetwork.layers``               SB3 ``ActorCriticPolicy``
====================================  ======================================================
``layers.{2i}`` (hidden Linear ``i``)  ``mlp_extractor.policy_net.{2i}`` (and ``value_net``)
``layers.{2i+1}`` (activation)         ``mlp_extractor.policy_net.{2i+1}`` (same activation)
``layers.{-1}`` (output Linear)        ``action_net``
====================================  ======================================================

The critic gets its own copy of the BC hidden layers (its features start as useful state
features, but it trains separately from the actor) and a zero output layer, so the first value
estimates are 0 rather than random numbers whose errors would dominate the first updates.
A checkpoint made with ``rebalance=logit_adjust`` stores a logit adjustment that the BC bot
subtracts before its argmax; it is folded into ``action_net``'s bias here, so PPO starts from the
policy the BC bot actually plays. After loading, the SB3 logits are checked against the BC logits:
a mapping mistake raises instead of silently training from random weights.

``sb3_to_policy_network`` maps the fine-tuned actor back, so ``save_checkpoint`` writes a bot that
``agents.load`` plays like any BC bot.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from agents.networks import ACTIVATIONS, PolicyNetwork

if TYPE_CHECKING:  # SB3 is imported lazily by the functions: it pulls in a lot
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.policies import ActorCriticPolicy


class BCInitError(RuntimeError):
    """The RL policy does not reproduce the BC network it was meant to start from."""


def bc_linear_layers(network: PolicyNetwork) -> tuple[list[nn.Linear], nn.Linear]:
    """The hidden ``Linear`` layers and the output ``Linear`` of a :class:`PolicyNetwork`, in order."""
    linears = [m for m in network.layers if isinstance(m, nn.Linear)]
    return linears[:-1], linears[-1]


def _bc_network(bc_checkpoint: str | Path) -> tuple[PolicyNetwork, np.ndarray | None]:
    from agents.checkpoint import load_network

    network, manifest = load_network(bc_checkpoint)
    adjustment = manifest.get("logit_adjustment")
    return network.eval(), None if adjustment is None else np.asarray(adjustment, np.float32)


def bc_logits(network: PolicyNetwork, obs: torch.Tensor,
              logit_adjustment: np.ndarray | None = None) -> torch.Tensor:
    """The logits the BC bot decides on (``BCPolicy.logits``): network output minus the adjustment."""
    with torch.no_grad():
        logits = network(obs)
    if logit_adjustment is not None:
        logits = logits - torch.as_tensor(logit_adjustment, device=logits.device)
    return logits


def sb3_action_logits(policy: ActorCriticPolicy, obs: torch.Tensor) -> torch.Tensor:
    """Raw action logits of an SB3 ``ActorCriticPolicy`` (its ``Categorical`` normalises them)."""
    with torch.no_grad():
        features = policy.extract_features(obs.to(policy.device), policy.pi_features_extractor)
        return policy.action_net(policy.mlp_extractor.forward_actor(features))


def _copy_linear(target: nn.Linear, source: nn.Linear, bias_shift: torch.Tensor | None = None) -> None:
    if target.weight.shape != source.weight.shape:
        raise BCInitError(f"layer shapes differ: RL {tuple(target.weight.shape)} vs BC "
                          f"{tuple(source.weight.shape)}")
    with torch.no_grad():
        target.weight.copy_(source.weight.to(target.weight.device))
        bias = source.bias.to(target.bias.device)
        target.bias.copy_(bias if bias_shift is None else bias - bias_shift.to(bias.device))


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def check_logits_match(policy: ActorCriticPolicy, network: PolicyNetwork,
                       logit_adjustment: np.ndarray | None = None, *, samples: int = 256,
                       seed: int = 0, atol: float = 1e-5) -> None:
    """Raise :class:`BCInitError` unless ``policy``'s logits equal the BC bot's on random observations.

    Observations are drawn from a standard normal (wider than the encoded ranges), so every unit
    of every layer is exercised, not only the ones real states happen to reach.
    """
    generator = torch.Generator().manual_seed(seed)
    obs = torch.randn(samples, network.obs_dim, generator=generator)
    expected = bc_logits(network, obs, logit_adjustment).cpu()
    got = sb3_action_logits(policy, obs).cpu()
    if not torch.allclose(got, expected, atol=atol, rtol=1e-5):
        worst = float((got - expected).abs().max())
        raise BCInitError(f"the SB3 policy's action logits differ from the BC network's by up to "
                          f"{worst:.3g}: the BC weights did not load into the SB3 policy")


def make_sb3_ppo(env: gym.Env | Any, bc_checkpoint: str | Path, *, value_hidden_from_bc: bool = True,
                 **ppo_kwargs: Any) -> PPO:
    """A stable-baselines3 ``PPO`` on ``env`` whose policy is the BC network of ``bc_checkpoint``.

    ``policy_kwargs`` in ``ppo_kwargs`` may add SB3 options (``ortho_init``, ``optimizer_kwargs``...)
    but not ``net_arch`` or ``activation_fn``: those come from the checkpoint, since the weights
    only fit the architecture they were trained in. ``value_hidden_from_bc=False`` leaves the
    critic's hidden layers at SB3's initialisation (its output layer is zeroed either way).
    Raises :class:`BCInitError` if the built policy's logits differ from the BC bot's.
    """
    from stable_baselines3 import PPO

    network, adjustment = _bc_network(bc_checkpoint)
    policy_kwargs = dict(ppo_kwargs.pop("policy_kwargs", None) or {})
    clashes = sorted({"net_arch", "activation_fn"} & set(policy_kwargs))
    if clashes:
        raise ValueError(f"policy_kwargs {clashes} come from the BC checkpoint {bc_checkpoint}; "
                         "leave them out")
    hidden = list(network.hidden_sizes)
    policy_kwargs.update(net_arch={"pi": hidden, "vf": hidden},
                         activation_fn=ACTIVATIONS[network.activation])
    model = PPO("MlpPolicy", env, policy_kwargs=policy_kwargs, **ppo_kwargs)
    load_bc_into_sb3(model.policy, network, adjustment, value_hidden_from_bc=value_hidden_from_bc)
    return model


def load_bc_into_sb3(policy: ActorCriticPolicy, network: PolicyNetwork,
                     logit_adjustment: np.ndarray | None = None, *,
                     value_hidden_from_bc: bool = True) -> None:
    """Copy ``network`` into the actor of ``policy`` (in place), zero the value output, check logits.

    Copies into the existing parameters, so an optimizer already built over them stays valid.
    """
    from stable_baselines3.common.torch_layers import FlattenExtractor

    if not isinstance(policy.pi_features_extractor, FlattenExtractor):
        raise BCInitError(f"expected SB3's FlattenExtractor (a Box observation), got "
                          f"{type(policy.pi_features_extractor).__name__}")
    if policy.features_dim != network.obs_dim:
        raise BCInitError(f"the env's observation has {policy.features_dim} fields, the BC network "
                          f"takes {network.obs_dim}")
    hidden, output = bc_linear_layers(network)
    actor, critic = _linears(policy.mlp_extractor.policy_net), _linears(policy.mlp_extractor.value_net)
    if len(actor) != len(hidden):
        raise BCInitError(f"the SB3 actor has {len(actor)} hidden layers, the BC network {len(hidden)}")
    for target, source in zip(actor, hidden, strict=True):
        _copy_linear(target, source)
    shift = None if logit_adjustment is None else torch.as_tensor(logit_adjustment, dtype=torch.float32)
    _copy_linear(policy.action_net, output, shift)
    if value_hidden_from_bc and len(critic) == len(hidden):
        for target, source in zip(critic, hidden, strict=True):
            _copy_linear(target, source)
    with torch.no_grad():
        policy.value_net.weight.zero_()
        policy.value_net.bias.zero_()
    check_logits_match(policy, network, logit_adjustment)


def sb3_to_policy_network(model: PPO | ActorCriticPolicy) -> PolicyNetwork:
    """The actor of an SB3 PPO (``MlpPolicy``, discrete actions) as a CPU :class:`PolicyNetwork`.

    The result is what ``save_checkpoint`` writes and ``agents.load`` plays; any logit adjustment
    is already in the output bias, so save it with ``logit_adjustment=None``.
    """
    policy = getattr(model, "policy", model)
    names = {cls: name for name, cls in ACTIVATIONS.items()}
    activation = names.get(policy.activation_fn)
    if activation is None:
        raise ValueError(f"the SB3 policy uses {policy.activation_fn.__name__}; PolicyNetwork supports "
                         f"{sorted(ACTIVATIONS)}")
    actor = _linears(policy.mlp_extractor.policy_net)
    obs_dim = actor[0].in_features if actor else policy.action_net.in_features
    network = PolicyNetwork(obs_dim=obs_dim, num_actions=policy.action_net.out_features,
                            hidden_sizes=[layer.out_features for layer in actor], activation=activation)
    hidden, output = bc_linear_layers(network)
    for target, source in zip(hidden, actor, strict=True):
        _copy_linear(target, source)
    _copy_linear(output, policy.action_net)
    network.eval()
    generator = torch.Generator().manual_seed(0)
    obs = torch.randn(64, obs_dim, generator=generator)
    with torch.no_grad():
        exported = network(obs)
    if not torch.allclose(exported, sb3_action_logits(policy, obs).cpu(), atol=1e-5):
        raise BCInitError("the exported PolicyNetwork does not reproduce the SB3 policy's logits")
    return network
