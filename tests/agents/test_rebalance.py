"""Rebalancing methods: loss weights, focal loss, imbalanced-learn samplers, logit adjustment."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agents.rebalance import (
    FocalWeights,
    Rebalance,
    categorical_feature_mask,
    class_counts,
    effective_number_weights,
    focal_loss,
    inverse_frequency_weights,
    logit_adjustment,
    loss_class_weights,
    resample,
)
from envs.actions import NUM_ACTIONS
from envs.observation import OBS_DIM

COUNTS = np.array([9000, 500, 300, 0, 0, 0, 100, 50, 30, 10, 6, 4])


def imbalanced_rows(seed=0):
    """Rows shaped like observations (flags in {0, 1}) with COUNTS labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(NUM_ACTIONS), COUNTS)
    x = rng.random((len(labels), OBS_DIM)).astype(np.float32)
    mask = categorical_feature_mask()
    x[:, mask] = rng.integers(0, 2, size=(len(labels), int(mask.sum())))
    x[:, 1] += labels * 0.1  # a class signal SMOTE's neighbours can follow
    return x, labels


def test_inverse_frequency_is_sklearns_balanced_weight():
    w = inverse_frequency_weights(COUNTS)
    present = COUNTS > 0
    np.testing.assert_allclose(w[present] * COUNTS[present], COUNTS.sum() / present.sum())
    assert (w[~present] == 0).all()


def test_effective_number_lies_between_no_weighting_and_inverse_frequency():
    flat = effective_number_weights(COUNTS, 0.0)
    present = COUNTS > 0
    np.testing.assert_allclose(flat[present], 1.0)
    near_inverse = effective_number_weights(COUNTS, 0.999999)
    inverse = inverse_frequency_weights(COUNTS)
    np.testing.assert_allclose(near_inverse[present] / near_inverse[0], inverse[present] / inverse[0],
                               rtol=0.01)
    mid = effective_number_weights(COUNTS, 0.999)
    assert 1.0 < mid[11] / mid[0] < inverse[11] / inverse[0]
    with pytest.raises(ValueError):
        effective_number_weights(COUNTS, 1.0)


def test_loss_weights_per_method():
    assert loss_class_weights(Rebalance.none, COUNTS, beta=0.99) is None
    assert loss_class_weights(Rebalance.focal, COUNTS, beta=0.99) is None
    np.testing.assert_allclose(loss_class_weights(Rebalance.focal, COUNTS, beta=0.99,
                                                  focal_weights=FocalWeights.class_weight),
                               inverse_frequency_weights(COUNTS))
    assert loss_class_weights(Rebalance.undersample, COUNTS, beta=0.99) is None


def test_focal_loss_with_gamma_zero_is_cross_entropy_and_downweights_easy_rows():
    torch.manual_seed(0)
    logits, labels = torch.randn(64, NUM_ACTIONS), torch.randint(0, NUM_ACTIONS, (64,))
    weight = torch.rand(NUM_ACTIONS) + 0.1
    torch.testing.assert_close(focal_loss(logits, labels, 0.0), F.cross_entropy(logits, labels))
    torch.testing.assert_close(focal_loss(logits, labels, 0.0, weight),
                               F.cross_entropy(logits, labels, weight=weight))
    easy = torch.full((1, NUM_ACTIONS), -5.0)
    easy[0, 0] = 5.0
    target = torch.zeros(1, dtype=torch.long)
    assert focal_loss(easy, target, 2.0) < 1e-3 * F.cross_entropy(easy, target)


def test_undersample_cuts_no_action_to_its_target_share_and_keeps_every_command():
    x, y = imbalanced_rows()
    xr, yr = resample(Rebalance.undersample, x, y, seed=0, no_action_share=0.5)
    counts = class_counts(yr)
    assert counts[0] == COUNTS[1:].sum()
    np.testing.assert_array_equal(counts[1:], COUNTS[1:])
    assert xr.dtype == np.float32 and len(xr) == len(yr)


def test_random_samplers_are_deterministic_by_seed_and_differ_across_seeds():
    x, y = imbalanced_rows()
    a = resample(Rebalance.undersample, x, y, seed=1)[0]
    b = resample(Rebalance.undersample, x, y, seed=1)[0]
    c = resample(Rebalance.undersample, x, y, seed=2)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_oversample_raises_each_command_to_the_ratio():
    x, y = imbalanced_rows()
    _, yr = resample(Rebalance.oversample, x, y, seed=0, minority_ratio=0.2)
    counts = class_counts(yr)
    assert counts[0] == COUNTS[0]
    present = COUNTS > 0
    present[0] = False
    assert (counts[present] == 1800).all() and (counts[~present & (COUNTS == 0)] == 0).all()


def test_smote_nc_keeps_flags_binary_and_interpolates_continuous_fields():
    x, y = imbalanced_rows()
    xr, yr = resample(Rebalance.smote, x, y, seed=0, minority_ratio=0.1, k_neighbors=5)
    mask = categorical_feature_mask()
    synthetic = xr[len(x):]
    assert len(synthetic) > 0 and (class_counts(yr)[1:][COUNTS[1:] > 0] >= 900).all()
    assert set(np.unique(synthetic[:, mask])) <= {0.0, 1.0}
    assert not np.isin(synthetic[:, ~mask], x[:, ~mask]).all()  # new continuous values, not copies


def test_categorical_mask_marks_flags_and_signs():
    mask = categorical_feature_mask()
    assert mask.sum() == 26 and not mask[0] and not mask[1]


def test_logit_adjustment_is_tau_times_log_prior():
    adj = logit_adjustment(COUNTS, 1.5)
    assert adj.shape == (NUM_ACTIONS,)
    np.testing.assert_allclose(adj[0] - adj[1], 1.5 * np.log(COUNTS[0] / COUNTS[1]))
    assert np.isfinite(adj).all()  # unseen commands get a finite (very negative) prior
