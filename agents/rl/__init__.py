"""RL fine-tuning from behaviour cloning: the BC :class:`~agents.networks.PolicyNetwork` as the
starting policy of stable-baselines3 PPO (:mod:`agents.rl.sb3_init`) and of an RLlib PPO
``RLModule`` (:mod:`agents.rl.rllib_module`), and the fine-tuned weights back out as a checkpoint.

The submodules import stable-baselines3 and Ray only when used, so ``import agents.rl`` stays light.
"""
