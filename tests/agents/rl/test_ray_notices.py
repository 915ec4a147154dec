"""Ray's and RLlib's routine notices are dropped once; every other warning still shows."""

import logging

from agents.rl.ray_runtime import QUIET_RAY_NOTICES, quiet_ray_notices


def test_the_listed_notices_are_dropped_and_other_warnings_kept(caplog):
    quiet_ray_notices()
    quiet_ray_notices()  # idempotent: one filter per logger
    caplog.set_level(logging.WARNING)
    token = logging.getLogger("ray._private.authentication.authentication_token_setup")
    token.warning("Token authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled")
    logging.getLogger("ray.rllib.algorithms.algorithm_config").warning(
        "You are running PPO on the new API stack! This is the new default behavior")
    logging.getLogger("ray._common.deprecation").warning(
        "DeprecationWarning: `RLModule(config=[RLModuleConfig object])` has been deprecated.")
    logging.getLogger("ray.tune.utils.util").warning("Install gputil for GPU system monitoring.")
    logging.getLogger("ray._common.deprecation").warning("DeprecationWarning: `something_else` is going away")
    token.warning("Token authentication is disabled for this Ray cluster. Anyone with network access...")
    shown = [r.getMessage() for r in caplog.records]
    assert shown == ["DeprecationWarning: `something_else` is going away",
                     "Token authentication is disabled for this Ray cluster. Anyone with network access..."]
    assert all(len(logging.getLogger(name).filters) == 1 for name in QUIET_RAY_NOTICES)
