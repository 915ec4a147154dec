"""Class rebalancing for behaviour cloning: the lecture's fixes for a 95%-``NO_ACTION`` label set.

A pro's log is mostly ``NO_ACTION``, so plain cross-entropy is minimised by a classifier that
rarely presses anything. The remedies fall in three families, all applied to the *training split
only* (validation and test keep the real distribution, or the offline metrics would lie):

* **re-weight the loss**: ``class_weight`` (inverse frequency, sklearn's "balanced"),
  ``effective_number`` (Cui et al. 2019, "Class-Balanced Loss Based on Effective Number of
  Samples": weight ``(1 - beta) / (1 - beta ** n_c)``, between no weighting at ``beta = 0`` and
  inverse frequency as ``beta -> 1``), ``focal`` (Lin et al. 2017, down-weights easy examples by
  ``(1 - p_t) ** gamma``, optionally times class weights);
* **re-sample the data** with imbalanced-learn: ``undersample`` (RandomUnderSampler of
  ``NO_ACTION`` down to a target share), ``oversample`` (RandomOverSampler of every command up to a
  target fraction of ``NO_ACTION``), ``smote`` (SMOTE-NC, see :func:`make_sampler`);
* **adjust the decision**: ``logit_adjust`` (Menon et al. 2021, "Long-tail learning via logit
  adjustment", post-hoc form): train with plain cross-entropy, then predict
  ``argmax(logits - tau * log prior)``, which turns the Bayes classifier for the skewed prior into
  one for a balanced prior. The offset travels with the checkpoint.

Random samplers draw a fresh resample every epoch (cheap: index sampling), so over the run the
model sees every ``NO_ACTION`` row, not one fixed subset; SMOTE-NC (k-NN per class) runs once.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import torch
import torch.nn.functional as F
from imblearn.over_sampling import SMOTENC, RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler

from envs.actions import NUM_ACTIONS, Action
from envs.observation import observation_field_table

NO_ACTION = int(Action.NO_ACTION)


class Rebalance(StrEnum):
    """``agent.rebalance=...``: how training counters the ``NO_ACTION`` majority (module docstring)."""

    none = "none"
    class_weight = "class_weight"
    effective_number = "effective_number"
    focal = "focal"
    undersample = "undersample"
    oversample = "oversample"
    smote = "smote"
    logit_adjust = "logit_adjust"


class FocalWeights(StrEnum):
    """Class weights multiplied into the focal loss (``agent.focal_weights``)."""

    none = "none"
    class_weight = "class_weight"
    effective_number = "effective_number"


SAMPLERS = (Rebalance.undersample, Rebalance.oversample, Rebalance.smote)


def class_counts(labels: np.ndarray, num_classes: int = NUM_ACTIONS) -> np.ndarray:
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)


def inverse_frequency_weights(counts: np.ndarray) -> np.ndarray:
    """``n / (k * n_c)`` per present class (sklearn's "balanced"); 0 for classes never seen."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def effective_number_weights(counts: np.ndarray, beta: float) -> np.ndarray:
    """Cui et al. 2019: ``(1 - beta) / (1 - beta ** n_c)``, scaled to sum to the number of present classes."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"effective_number_beta must be in [0, 1), got {beta}")
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = (1.0 - beta) / (1.0 - np.power(beta, counts[present]))
    return weights * present.sum() / weights.sum()


def log_priors(counts: np.ndarray) -> np.ndarray:
    """Log class frequencies of the training labels (unseen classes get the log of half a count)."""
    counts = np.maximum(np.asarray(counts, dtype=np.float64), 0.5)
    return np.log(counts / counts.sum())


def logit_adjustment(counts: np.ndarray, tau: float) -> np.ndarray:
    """What post-hoc logit adjustment subtracts from the logits at inference: ``tau * log prior``."""
    return tau * log_priors(counts)


def loss_class_weights(method: Rebalance, counts: np.ndarray, *, beta: float,
                       focal_weights: FocalWeights = FocalWeights.none) -> np.ndarray | None:
    """Per-class loss weights for ``method`` (``None``: unweighted cross-entropy)."""
    if method is Rebalance.class_weight:
        return inverse_frequency_weights(counts)
    if method is Rebalance.effective_number:
        return effective_number_weights(counts, beta)
    if method is Rebalance.focal and focal_weights is FocalWeights.class_weight:
        return inverse_frequency_weights(counts)
    if method is Rebalance.focal and focal_weights is FocalWeights.effective_number:
        return effective_number_weights(counts, beta)
    return None


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``-w_y (1 - p_y) ** gamma * log p_y``; ``gamma = 0`` and no weights is cross-entropy.

    Normalised like ``F.cross_entropy(weight=...)`` (divided by the summed weights of the batch),
    so losses of weighted and unweighted runs stay on one scale.
    """
    log_p = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    loss = -((1.0 - log_p.exp()).clamp_min(0.0) ** gamma) * log_p
    if weight is None:
        return loss.mean()
    w = weight[labels]
    return (w * loss).sum() / w.sum().clamp_min(1e-12)


def categorical_feature_mask() -> np.ndarray:
    """Observation fields that take only a few discrete values (flags and signs) for SMOTE-NC."""
    return np.array([row["unit"] in ("flag", "sign") for row in observation_field_table()])


def make_sampler(method: Rebalance, counts: np.ndarray, *, seed: int, no_action_share: float,
                 minority_ratio: float, k_neighbors: int
                 ) -> RandomUnderSampler | RandomOverSampler | SMOTENC:
    """The imbalanced-learn sampler for ``method``, with an explicit per-class target.

    * ``undersample``: ``NO_ACTION`` is cut so it makes up ``no_action_share`` of the resampled
      rows (0.5: as many ``NO_ACTION`` rows as all commands together); commands are all kept.
    * ``oversample`` / ``smote``: every command is raised to at least ``minority_ratio`` times the
      ``NO_ACTION`` count (1.0 is full balance; a smaller ratio keeps the epoch affordable: at 1.0
      an epoch is 12x the ``NO_ACTION`` rows).
    * ``smote`` is SMOTE-NC, not plain SMOTE, because 26 of the 42 observation fields are flags or
      signs (guarding, attack one-hots, phases, jump and walk direction). Plain SMOTE interpolates
      them into values like 0.37 "half guarding" that never occur in play; SMOTE-NC interpolates
      the continuous fields and gives each categorical field the majority value of the
      neighbours, so synthetic rows stay on the observation manifold. SMOTEN (all-categorical)
      would discard distances and HP, which are what the decisions depend on.
    """
    counts = np.asarray(counts)
    present = np.flatnonzero(counts)
    if method is Rebalance.undersample:
        if not 0.0 < no_action_share < 1.0:
            raise ValueError(f"undersample_no_action_share must be in (0, 1), got {no_action_share}")
        commands = int(counts.sum() - counts[NO_ACTION])
        keep = int(round(commands * no_action_share / (1.0 - no_action_share)))
        target = {NO_ACTION: max(1, min(int(counts[NO_ACTION]), keep))}
        return RandomUnderSampler(sampling_strategy=target, random_state=seed)
    if not 0.0 < minority_ratio <= 1.0:
        raise ValueError(f"oversample_ratio must be in (0, 1], got {minority_ratio}")
    goal = int(round(counts[NO_ACTION] * minority_ratio))
    target = {int(c): max(int(counts[c]), goal) for c in present if c != NO_ACTION}
    if method is Rebalance.oversample:
        return RandomOverSampler(sampling_strategy=target, random_state=seed)
    if method is Rebalance.smote:
        smallest = int(min(counts[c] for c in target))
        k = max(1, min(k_neighbors, smallest - 1))
        return SMOTENC(categorical_features=np.flatnonzero(categorical_feature_mask()).tolist(),
                       sampling_strategy=target,
                       k_neighbors=k, random_state=seed)
    raise ValueError(f"{method.value} is not a sampling method")


def resample(method: Rebalance, observations: np.ndarray, labels: np.ndarray, *, seed: int,
             no_action_share: float = 0.5, minority_ratio: float = 0.1, k_neighbors: int = 5
             ) -> tuple[np.ndarray, np.ndarray]:
    """The training rows after resampling (``method`` not a sampler: returned unchanged)."""
    if method not in SAMPLERS:
        return observations, labels
    sampler = make_sampler(method, class_counts(labels), seed=seed, no_action_share=no_action_share,
                           minority_ratio=minority_ratio, k_neighbors=k_neighbors)
    x, y = sampler.fit_resample(observations, labels)
    return np.ascontiguousarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)
