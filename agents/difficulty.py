"""Difficulty controls: make any bot easier at play time, without retraining it.

A game designer who finds a bot too strong should not have to retrain it. :class:`DifficultyPolicy`
wraps any :class:`~agents.policy.Policy` (scripted, trained checkpoint, exported bundle) and
handicaps it with three independent knobs, each off by default:

* ``reaction_delay`` (frames): the bot decides on what its opponent did that many frames ago:
  the opponent's fields and the distance come from an observation ``reaction_delay`` frames old,
  while its own fields and the clock are current (a player knows what they just pressed). This is
  the pros' perception model (``agents.pros.Skill.reaction_frames``). Delaying the bot's own state
  too was tried and rejected: the bot then re-presses commands it is already executing, and 6
  frames took footsies from 100% to 0% wins, a cliff rather than a knob. Each match (env row)
  keeps its own queue, refilled with the first observation when the match (re)starts, so for the
  first ``reaction_delay`` frames the bot sees the opponent where it stood at the bell.
* ``action_noise`` (probability): every command the bot *presses* (anything but ``NO_ACTION``) is,
  with this probability, replaced by a different command drawn uniformly from the other 11
  (``NO_ACTION`` included, i.e. a dropped input). Frames where the bot waits are left alone, so
  noise makes the bot sloppy, not a button masher (the pros' ``execution_error`` works the same way).
* ``apm_cap`` (actions per minute, at 60 frames per second): a token bucket per match refills
  ``apm_cap / 3600`` tokens per frame up to ``apm_burst`` (default: one second's worth, at least 1);
  each pressed command spends a token, and presses with no token left become ``NO_ACTION``. Over any
  window of ``T`` frames the bot presses at most ``apm_burst + apm_cap * T / 3600`` commands.

Order per frame: delayed observation -> bot decides -> noise -> APM cap (a noisy press spends a token
too). Everything is vectorised over the batch; the randomness comes from the seed given to
``reset`` (the wrapped bot gets that same seed, so with every knob off the wrapper is invisible).

From code::

    bot = with_difficulty(make_policy("footsies"), DifficultyConfig(reaction_delay=12))

From ``play.py``: ``difficulty.reaction_delay=12 difficulty.action_noise=0.1 difficulty.apm_cap=120``.

From any bot spec (``opponent=``, ``p1=``, tournament participants): the bot, ``@``, then
``knob:value`` pairs separated by commas, e.g. ``footsies@reaction_delay:12,action_noise:0.1``
or ``runs/bc/focal_seed0/best@apm_cap:120`` (:func:`split_difficulty_spec`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from agents.policy import Policy
from envs.actions import NUM_ACTIONS, Action
from envs.observation import ME, OPP, MatchField

FRAMES_PER_MINUTE = 60 * 60  # the game runs at 60 frames per second
MAX_REACTION_DELAY = 600  # 10 s: anything longer is a typo, not a difficulty
_NOISE_SALT = 0xD1FF  # the wrapper's own random stream, independent of the wrapped bot's


@dataclass
class DifficultyConfig:
    """The three knobs (see the module docstring); the defaults switch every one of them off."""

    reaction_delay: int = 0  # frames of reaction time added to the bot (0: off)
    action_noise: float = 0.0  # chance that a pressed command becomes a different one (0: off)
    apm_cap: float | None = None  # max pressed commands per minute (null: no cap)
    apm_burst: float | None = None  # token-bucket size (null: apm_cap / 60, at least 1)

    def validate(self) -> DifficultyConfig:
        """Return ``self`` if every knob is in range, else raise ``ValueError`` naming the knob."""
        delay = self.reaction_delay
        if isinstance(delay, bool) or not isinstance(delay, (int, np.integer)) \
                or not 0 <= delay <= MAX_REACTION_DELAY:
            raise ValueError(f"difficulty.reaction_delay must be an int number of frames in "
                             f"0..{MAX_REACTION_DELAY} (60 frames = 1 s), got {delay!r}")
        noise = self.action_noise
        if isinstance(noise, bool) or not isinstance(noise, (int, float, np.floating, np.integer)) \
                or not 0.0 <= float(noise) <= 1.0:
            raise ValueError(f"difficulty.action_noise must be a probability in [0, 1], got {noise!r}")
        for name in ("apm_cap", "apm_burst"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                    or not math.isfinite(value) or value <= 0:
                raise ValueError(f"difficulty.{name} must be a positive number or null (no cap), "
                                 f"got {value!r}")
        if self.apm_burst is not None and self.apm_cap is None:
            raise ValueError("difficulty.apm_burst needs difficulty.apm_cap (the bucket refills at "
                             "apm_cap per minute)")
        if self.apm_burst is not None and self.apm_burst < 1:
            raise ValueError(f"difficulty.apm_burst must be >= 1 (one press), got {self.apm_burst!r}")
        return self

    @property
    def is_off(self) -> bool:
        return self.reaction_delay == 0 and self.action_noise == 0 and self.apm_cap is None

    @property
    def burst(self) -> float:
        """Token-bucket size: ``apm_burst``, or one second's worth of presses (at least 1)."""
        if self.apm_cap is None:
            return math.inf
        if self.apm_burst is not None:
            return float(self.apm_burst)
        return max(1.0, float(self.apm_cap) / 60.0)

    def label(self) -> str:
        """A short description for names and tables, e.g. ``reaction_delay=12,apm_cap=120``."""
        parts = [f"{f.name}={getattr(self, f.name):g}" for f in fields(self)
                 if getattr(self, f.name) not in (None, 0, 0.0)]
        return ",".join(parts) if parts else "off"


def difficulty_config(config: DifficultyConfig | Mapping[str, Any] | None) -> DifficultyConfig:
    """A validated :class:`DifficultyConfig` from a config object, a dict / DictConfig, or None (off)."""
    if config is None:
        return DifficultyConfig()
    if isinstance(config, DifficultyConfig):
        return config.validate()
    if not isinstance(config, Mapping):
        try:  # an OmegaConf DictConfig is not a Mapping subclass
            from omegaconf import DictConfig, OmegaConf

            if isinstance(config, DictConfig):
                config = OmegaConf.to_container(config, resolve=True)
        except ImportError:  # pragma: no cover - hydra-core is a dependency
            pass
    if not isinstance(config, Mapping):
        raise TypeError(f"difficulty must be a DifficultyConfig or a mapping, got {type(config).__name__}")
    valid = [f.name for f in fields(DifficultyConfig)]
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ValueError(f"unknown difficulty option(s) {unknown}; valid options: {valid}")
    return DifficultyConfig(**dict(config)).validate()


class DifficultyPolicy:
    """A :class:`~agents.policy.Policy` that plays ``policy`` with the handicaps of ``config``.

    The wrapped bot is ``self.policy``. The wrapper is stateful (queues, buckets), so it never
    declares itself ``deterministic`` to the tournament, whatever the bot it wraps declares.
    """

    def __init__(self, policy: Policy, config: DifficultyConfig | Mapping[str, Any] | None = None) -> None:
        if not isinstance(policy, Policy):
            raise TypeError(f"DifficultyPolicy wraps a Policy (act and reset), got {type(policy).__name__}")
        self.policy = policy
        self.config = difficulty_config(config)
        base = getattr(policy, "name", type(policy).__name__)
        self.name = base if self.config.is_off else f"{base}[{self.config.label()}]"
        # what a recorded log says about who played: the bot's style, a skill marked as handicapped
        style = getattr(policy, "style", base)
        self.style = style if isinstance(style, str) else base
        skill = getattr(policy, "skill", "scripted")
        skill = skill if isinstance(skill, str) else "scripted"
        self.skill = skill if self.config.is_off else f"{skill}+handicap"
        self._delay = int(self.config.reaction_delay)
        self._noise = float(self.config.action_noise)
        cap = self.config.apm_cap
        self._refill = math.inf if cap is None else float(cap) / FRAMES_PER_MINUTE  # tokens per frame
        self._burst = self.config.burst
        self._rng = np.random.default_rng([0, _NOISE_SALT])
        self._num_envs = 0
        self._history: np.ndarray | None = None  # (B, delay + 1, OBS_DIM) ring of observations
        self._head = 0
        self._fresh = np.zeros(0, dtype=bool)  # rows whose match just (re)started
        self._tokens = np.zeros(0, dtype=np.float64)

    # ---- Policy protocol -----------------------------------------------------------------------
    def reset(self, num_envs: int, seed: int | None = None, env_ids: np.ndarray | None = None) -> None:
        self.policy.reset(num_envs, seed=seed, env_ids=env_ids)
        if env_ids is None or self._num_envs != num_envs:
            self._rng = np.random.default_rng(None if seed is None else [int(seed), _NOISE_SALT])
            self._allocate(num_envs)
            return
        ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self._num_envs):
            raise IndexError(f"env_ids {ids.tolist()} out of range for {self._num_envs} envs")
        self._fresh[ids] = True
        self._tokens[ids] = self._burst

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        if obs.ndim != 2:
            raise ValueError(f"act expects a (batch, obs_dim) array, got shape {obs.shape}")
        if obs.shape[0] != self._num_envs:  # act without reset (or a new batch size): start afresh
            self._allocate(obs.shape[0])
        actions = np.array(self.policy.act(self._perceive(obs)), dtype=np.int64).reshape(-1)
        if actions.shape[0] != obs.shape[0]:
            raise ValueError(f"the wrapped bot {self.policy!r} returned {actions.shape[0]} actions for "
                             f"{obs.shape[0]} observations")
        if self._noise > 0:
            self._add_noise(actions)
        if self._refill != math.inf:
            self._cap_apm(actions)
        return actions

    # ---- the knobs -----------------------------------------------------------------------------
    def _allocate(self, num_envs: int) -> None:
        self._num_envs = num_envs
        self._history = None
        self._head = 0
        self._fresh = np.ones(num_envs, dtype=bool)
        self._tokens = np.full(num_envs, self._burst, dtype=np.float64)

    def _perceive(self, obs: np.ndarray) -> np.ndarray:
        """The opponent as it was ``reaction_delay`` frames ago, per row (a ring buffer over rows)."""
        if self._delay == 0:
            return obs
        if self._history is None or self._history.shape[2] != obs.shape[1]:
            self._history = np.repeat(obs[:, None, :], self._delay + 1, axis=1)
            self._fresh[:] = False
        if self._fresh.any():  # a (re)started match has no past: fill its queue with the present
            self._history[self._fresh] = obs[self._fresh][:, None, :]
            self._fresh[:] = False
        self._head = (self._head + 1) % (self._delay + 1)
        self._history[:, self._head] = obs
        view = self._history[:, (self._head + 1) % (self._delay + 1)].copy()
        view[:, ME:OPP] = obs[:, ME:OPP]  # its own state a player knows without delay
        view[:, MatchField.TIME_LEFT] = obs[:, MatchField.TIME_LEFT]
        return view

    def _add_noise(self, actions: np.ndarray) -> None:
        """Each press becomes one of the other 11 commands with probability ``action_noise``."""
        batch = actions.shape[0]
        # draw for every row every frame, so the stream does not depend on what the bot pressed
        fumble = (self._rng.random(batch) < self._noise) & (actions != Action.NO_ACTION)
        shift = self._rng.integers(1, NUM_ACTIONS, size=batch)
        actions[fumble] = (actions[fumble] + shift[fumble]) % NUM_ACTIONS

    def _cap_apm(self, actions: np.ndarray) -> None:
        """Token bucket per row: presses without a token left become NO_ACTION."""
        np.minimum(self._tokens + self._refill, self._burst, out=self._tokens)
        pressed = actions != Action.NO_ACTION
        allowed = pressed & (self._tokens >= 1.0)
        self._tokens[allowed] -= 1.0
        actions[pressed & ~allowed] = Action.NO_ACTION

    def __repr__(self) -> str:
        return f"DifficultyPolicy({getattr(self.policy, 'name', self.policy)!r}, {asdict(self.config)})"


def with_difficulty(policy: Policy, config: DifficultyConfig | Mapping[str, Any] | None) -> Policy:
    """``policy`` handicapped by ``config``; ``policy`` itself when every knob is off (nothing to wrap).

    Works on anything :func:`agents.registry.make_policy` returns::

        bot = with_difficulty(make_policy("runs/bc/focal_seed0/best"), {"reaction_delay": 10})
    """
    config = difficulty_config(config)
    return policy if config.is_off else DifficultyPolicy(policy, config)


def split_difficulty_spec(spec: str) -> tuple[str, DifficultyConfig | None]:
    """``"footsies@reaction_delay:12,action_noise:0.1"`` -> ``("footsies", DifficultyConfig(...))``.

    A spec with no ``@knob:value`` suffix comes back as ``(spec, None)``. The suffix is the text after
    the last ``@`` when it starts with a knob name; a bad knob or value raises ``ValueError`` naming it.
    """
    base, at, suffix = spec.rpartition("@")
    knobs = [f.name for f in fields(DifficultyConfig)]
    if not at or not any(suffix.startswith(f"{knob}:") for knob in knobs):
        return spec, None
    values: dict[str, Any] = {}
    for pair in suffix.split(","):
        knob, colon, text = pair.partition(":")
        if not colon or knob not in knobs:
            raise ValueError(f"bot spec {spec!r}: {pair!r} is not knob:value with a knob among {knobs}")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"bot spec {spec!r}: {knob} needs a number, got {text!r}") from None
        values[knob] = int(number) if knob == "reaction_delay" and number.is_integer() else number
    return base, difficulty_config(values)


__all__ = ["DifficultyConfig", "DifficultyPolicy", "FRAMES_PER_MINUTE", "difficulty_config",
           "split_difficulty_spec", "with_difficulty"]
