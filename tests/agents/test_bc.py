"""Behaviour cloning: the policy wrapper, and the lecture's result as a learning test.

The learning test trains for real (the training loop of ``train.py``, in-process) on the session's
small pro-log dataset: naive BC scores high accuracy and never wins; class-weighted BC gives up
accuracy and wins. See the README for the same comparison on the full default dataset.
"""

import numpy as np
import pytest
import torch

from agents.bc import BCConfig, BCPolicy, resolve_device, torch_threads
from agents.networks import PolicyNetwork
from agents.rebalance import Rebalance
from envs.actions import NUM_ACTIONS
from envs.match_runner import play_matches
from envs.observation import OBS_DIM
from evaluation.protocol import DatasetSpec, EvalProtocol
from train import RunConfig, TrainConfig, train


def test_policy_acts_on_a_batch_with_int_ids():
    policy = BCPolicy(PolicyNetwork(OBS_DIM, NUM_ACTIONS, (8,)))
    actions = policy.act(np.zeros((7, OBS_DIM), dtype=np.float32))
    assert actions.shape == (7,) and actions.dtype == np.int64
    assert ((0 <= actions) & (actions < NUM_ACTIONS)).all()


def test_logit_adjustment_changes_the_decision():
    net = PolicyNetwork(OBS_DIM, NUM_ACTIONS, ())
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.layers[0].bias[0] = 1.0  # NO_ACTION wins by one logit
    obs = np.zeros((3, OBS_DIM), dtype=np.float32)
    assert (BCPolicy(net).act(obs) == 0).all()
    prior = np.zeros(NUM_ACTIONS, dtype=np.float32)
    prior[0] = 2.0  # a frequent NO_ACTION is penalised by its log prior
    assert (BCPolicy(net, logit_adjustment=prior).act(obs) != 0).all()
    with pytest.raises(ValueError):
        BCPolicy(net, logit_adjustment=np.zeros(3))


def test_device_auto_is_cpu_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_untrained_policy_plays_matches():
    with torch_threads(1):  # batch-3 forward passes: a 2nd thread on a busy core is much slower
        results = play_matches(BCPolicy(PolicyNetwork()), BCPolicy(PolicyNetwork()), 3, seed=0)
    assert results.num_matches == 3


@pytest.fixture(scope="module")
def lecture_runs(tiny_dataset, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("runs")
    runs = {}
    for rebalance in (Rebalance.none, Rebalance.class_weight):
        cfg = TrainConfig(agent=BCConfig(rebalance=rebalance, epochs=4, seed=0, device="cpu"),
                          experiment="lecture",
                          eval=EvalProtocol(dataset=DatasetSpec(path=str(tiny_dataset)), every_epochs=0,
                                            matches_per_opponent=4, final_matches_per_opponent=16),
                          train=RunConfig(logdir=str(logdir), progress=False))
        runs[rebalance.value] = train(cfg)
    return runs


def test_naive_bc_is_accurate_and_never_wins(lecture_runs):
    naive = lecture_runs["none"]
    assert naive["test"]["accuracy"] >= 0.9
    assert naive["test"]["mean_skill_recall"] < 0.1
    assert naive["online"]["win_rate"] <= 0.05
    assert naive["online"]["no_action_share"] > 0.99


def test_class_weighted_bc_is_less_accurate_and_wins(lecture_runs):
    naive, weighted = lecture_runs["none"], lecture_runs["class_weight"]
    assert weighted["test"]["accuracy"] < naive["test"]["accuracy"]
    assert weighted["test"]["balanced_accuracy"] > naive["test"]["balanced_accuracy"]
    assert weighted["online"]["win_rate"] >= 0.25
    assert weighted["online"]["win_rate"] >= 5 * naive["online"]["win_rate"]
    assert weighted["online"]["win_rate_ci_low"] > naive["online"]["win_rate_ci_high"]
