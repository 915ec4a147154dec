"""The fighting game: rules, the batched engine, and its Gymnasium / PettingZoo / RLlib adapters.

Importing this package registers the Gymnasium ids (as ``import ale_py`` does for Atari)::

    import gymnasium, envs
    env = gymnasium.make("FightLab/Duel-v0", opponent="footsies")
    vec = gymnasium.make_vec("FightLab/Duel-v0", num_envs=1024, vectorization_mode="vector_entry_point")

The PettingZoo and RLlib adapters live in ``envs.pettingzoo_env`` and ``envs.rllib_env`` and are
imported only when used (RLlib is a heavy import).
"""

import gymnasium

from envs.actions import ACTION_NAMES, NUM_ACTIONS, Action, InvalidActionError
from envs.engine import DuelEngine
from envs.observation import ENCODING_VERSION, OBS_DIM, observation_field_names
from envs.params import GameParams, MoveData

ENV_ID = "FightLab/Duel-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(
        id=ENV_ID,
        entry_point="envs.fighting_env:FightingEnv",
        vector_entry_point="envs.vector_env:FightingVectorEnv",
    )

__all__ = ["ACTION_NAMES", "ENCODING_VERSION", "ENV_ID", "NUM_ACTIONS", "OBS_DIM", "Action",
           "DuelEngine", "GameParams", "InvalidActionError", "MoveData", "observation_field_names"]
