"""The fighting game: rules, the batched engine, the Policy protocol and the match runner that
calls it, and the Gymnasium / vector / PettingZoo / RLlib adapters.

The adapters take Policy objects, never bot names: this package is the bottom layer and imports
nothing from ``agents``. Importing :mod:`agents` registers the Gymnasium ids with a factory that
resolves names (as ``import ale_py`` does for Atari)::

    import gymnasium, agents
    env = gymnasium.make("FightLab/Duel-v0", opponent="footsies")
    vec = gymnasium.make_vec("FightLab/Duel-v0", num_envs=1024, vectorization_mode="vector_entry_point")

The PettingZoo and RLlib adapters live in ``envs.pettingzoo_env`` and ``envs.rllib_env`` and are
imported only when used (RLlib is a heavy import).
"""

from envs.actions import ACTION_NAMES, NUM_ACTIONS, Action, InvalidActionError
from envs.engine import DuelEngine
from envs.observation import ENCODING_VERSION, OBS_DIM, observation_field_names
from envs.params import GameParams, MoveData
from envs.policy import Policy

ENV_ID = "FightLab/Duel-v0"  # registered by agents.gym_envs, on importing the agents package

__all__ = ["ACTION_NAMES", "ENCODING_VERSION", "ENV_ID", "NUM_ACTIONS", "OBS_DIM", "Action",
           "DuelEngine", "GameParams", "InvalidActionError", "MoveData", "Policy", "observation_field_names"]
