"""The hybrid loss of RAM, and the routing of each of its terms to the parameters it may train.

The three terms of the paper and an optional fourth, with ``R`` the episode's return (the same for every step:
no discounting; by default the env's reward, with ``config.policy_reward = "probability"`` the classifier's
detached probability of the label) and ``b_t`` the baseline after glimpse ``t``:

- cross-entropy of the classifier's logits after the last glimpse against the env's label. It
  trains ``classifier``, ``core`` and ``glimpse_net`` (never the location policy: the locations the
  glimpse net saw are samples, not functions of the parameters). With ``class_weight`` ``w`` (one weight per class;
  the open set's down-weighted "unknown", ``train/ram_agent.py --unknown-weight``) it is the weighted mean
  ``sum_n w_{y_n} CE_n / sum_n w_{y_n}`` (``F.cross_entropy``'s ``weight``); the other terms are not weighted.
- baseline MSE, ``mean_t (b_t - R)^2``. ``b_t`` reads a detached core state, so it trains
  ``baseline`` only: the critic never shapes the representation.
- REINFORCE, ``-mean_n sum_t log pi(l_t | h_t) * (R - b_t)``, the advantage detached, weighted by
  ``λ = config.reinforce_weight``. By default ``pi`` reads a detached core state, so the term trains
  ``location_policy`` only; with ``config.reinforce_into_core`` it also reaches ``core`` and
  ``glimpse_net``. Getting this routing wrong is the known way to break RAM;
  ``tests/test_agent_routing.py`` proves it with autograd. With ``config.random_locations`` (the
  random-glimpse control) the locations are not the policy's and the term is zero.
- path consistency (optional, ``config.consistency_weight``; 0 in the paper's loss): with ``M >= 2``
  location paths per image, ``mean_paths KL(p̄ || p_m)`` where ``p_m`` is path ``m``'s class
  distribution and ``p̄`` the mean over the image's paths, detached: the Monte Carlo ensemble teaches
  each single path. Like cross-entropy it trains ``classifier``, ``core`` and ``glimpse_net``.

- distillation (optional, ``config.distill_weight``): with a teacher's class distribution ``q`` for each image
  (``soft_targets``, see :mod:`agents.distill`), ``mean_paths KL(q || p_m)``: the label's one-hot target is
  joined by a soft one that says which wrong classes are near. It trains what cross-entropy trains.

With ``config.mean_path`` one more path per image follows the policy's mean (the deterministic path of
evaluation): it counts in the cross-entropy and the consistency term, not in REINFORCE or the baseline.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from agents.networks import RAM
from agents.rollout import EpisodeBatch, run_episodes

__all__ = ["EpisodeObjective", "distillation", "hybrid_loss", "path_consistency", "unknown_class_weight"]


def hybrid_loss(
    model: RAM,
    episodes: EpisodeBatch,
    soft_targets: torch.Tensor | None = None,
    class_weight: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """``loss = cross_entropy + baseline_mse + λ * reinforce (+ w * consistency + w_d * distillation)`` for a batch
    of episodes.

    ``soft_targets`` ``(num_images, C)``: a teacher's class distribution for each image of the env's split (row
    ``episodes.index``); needed when ``config.distill_weight > 0``. Returns scalar tensors: ``"loss"`` (to
    backpropagate), the unweighted terms ``"cross_entropy"``, ``"baseline_mse"``, ``"reinforce"``,
    ``"consistency"`` and ``"distillation"`` (computed whether or not they are weighted in; the last 0 without
    targets), and for logging (detached) ``"accuracy"`` (mean reward of the sampled paths) and ``"advantage_std"``.
    ``class_weight`` ``(C,)``: each class's weight in the cross-entropy, a weighted mean over the episodes (None: the
    plain mean, bit for bit the unweighted loss).
    """
    config = model.config
    features = episodes.features  # (N, T, H)
    # REINFORCE and the baseline learn from the sampled paths: the mean paths (first rows) have no sample to score.
    sampled = slice(episodes.mean_paths * (features.shape[0] // episodes.num_samples), None)
    decision_states = features[sampled, :-1]  # the states each location l_1 ... l_{T-1} was chosen from

    logits = model.classifier(features[:, -1])
    label = episodes.label.to(logits.device)
    if class_weight is None:
        cross_entropy = F.cross_entropy(logits, label)
    else:
        if class_weight.shape != logits.shape[-1:]:
            raise ValueError(f"class_weight {tuple(class_weight.shape)} must hold one weight per class "
                             f"({logits.shape[-1]})")
        cross_entropy = F.cross_entropy(logits, label, weight=class_weight.to(logits.device, logits.dtype))
    if config.policy_reward == "probability":  # detached: the return scores a path, it trains no classifier
        reward = F.softmax(logits.detach(), dim=-1).gather(1, label[:, None]).squeeze(1).to(features.dtype)
    else:
        reward = episodes.reward.to(features.dtype)

    baseline = model.baseline(decision_states.detach())  # (N, T-1)
    # A sum over max(count, 1) rather than F.mse_loss, which is NaN when T = 1 leaves no decisions.
    baseline_mse = (baseline - reward[sampled, None]).square().sum() / max(baseline.numel(), 1)

    advantage = (reward[sampled, None] - baseline).detach()
    if config.random_locations:  # the locations were not the policy's: nothing for REINFORCE to learn
        reinforce = baseline.new_zeros(())
    else:
        policy_input = decision_states if config.reinforce_into_core else decision_states.detach()
        log_prob = model.location_policy.log_prob(policy_input, episodes.locations[sampled])  # (N, T-1)
        reinforce = -(log_prob * advantage).sum(dim=1).mean()

    consistency = path_consistency(logits, episodes.num_samples)
    if soft_targets is not None:
        distill = distillation(logits, soft_targets[episodes.index.to(soft_targets.device)].to(logits.device))
    elif config.distill_weight > 0:
        raise ValueError(f"distill_weight = {config.distill_weight} needs soft_targets, the teacher's class "
                         "distribution of each image (agents.distill.teacher_targets)")
    else:
        distill = logits.new_zeros(())
    loss = cross_entropy + baseline_mse + config.reinforce_weight * reinforce
    if config.consistency_weight > 0:
        loss = loss + config.consistency_weight * consistency
    if config.distill_weight > 0:
        loss = loss + config.distill_weight * distill
    return {
        "loss": loss,
        "cross_entropy": cross_entropy,
        "baseline_mse": baseline_mse,
        "reinforce": reinforce,
        "consistency": consistency,
        "distillation": distill,
        # of the sampled paths (comparable with or without a mean path), from the env's reward whatever R is
        "accuracy": episodes.reward[sampled].to(features.dtype).mean().detach(),
        "advantage_std": advantage.std() if advantage.numel() > 1 else advantage.new_zeros(()),
    }


def unknown_class_weight(num_classes: int, unknown_class: int | None, weight: float) -> torch.Tensor:
    """The cross-entropy's class weights of an open-set task: ``weight`` for the "unknown" class (``unknown_class``),
    1 for every known one, as ``(num_classes,)`` float32. ValueError where ``weight`` is not a finite positive number
    (0 would never teach "unknown", and make a batch of unknown images 0/0) or the task has no unknown class (a
    closed set: nothing for the weight to weigh)."""
    if not (math.isfinite(weight) and weight > 0):
        raise ValueError(f"the unknown class's weight must be a finite number > 0 (1: unweighted), got {weight}")
    if unknown_class is None:
        raise ValueError("an unknown-class weight needs an open-set task (GlimpseOmniglotOpenSet-v0); this task has "
                         "no unknown class")
    if not 0 <= unknown_class < num_classes:
        raise ValueError(f"unknown_class {unknown_class} is not one of the {num_classes} classes")
    class_weight = torch.ones(num_classes)
    class_weight[unknown_class] = weight
    return class_weight


def path_consistency(logits: torch.Tensor, num_samples: int) -> torch.Tensor:
    """``mean KL(p̄ || p_m)`` over the ``M = num_samples`` paths of each image (rows ``m * B + b``), ``p̄``
    the detached mean of their softmax; 0 when ``M = 1``. ``logits`` ``(M * B, C)``."""
    if num_samples < 2:
        return logits.new_zeros(())
    log_p = F.log_softmax(logits, dim=-1).view(num_samples, -1, logits.shape[-1])  # (M, B, C)
    mean = log_p.exp().mean(0).detach()  # (B, C)
    kl = (mean * (mean.clamp_min(1e-12).log() - log_p)).sum(-1)  # (M, B)
    return kl.mean()


def distillation(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``mean_rows KL(q || p)``, ``q`` the target distribution of each row (``targets`` ``(N, C)``, rows summing to
    1, no gradient) and ``p`` the softmax of its ``logits`` ``(N, C)``; 0 where ``p = q``."""
    if targets.shape != logits.shape:
        raise ValueError(f"targets {tuple(targets.shape)} must match the logits {tuple(logits.shape)}")
    targets = targets.detach().to(logits.dtype)
    return (targets * (targets.clamp_min(1e-12).log() - F.log_softmax(logits, dim=-1))).sum(-1).mean()


class EpisodeObjective(torch.nn.Module):
    """One training step's forward pass as a module: run a batch of episodes, return the hybrid loss terms.

    Wrapping the episodes and the loss in ``forward`` is what lets ``DistributedDataParallel`` see the
    whole computation (it synchronises gradients for what runs inside its ``forward``); in one process
    it is just ``hybrid_loss(model, run_episodes(model, ...))``. ``num_samples`` is the sampled paths per
    image; with ``config.mean_path`` the mean path comes on top, so ``envs`` needs
    ``len(index) * (num_samples + 1)`` envs. ``soft_targets``: the teacher's class distribution of each image
    of the env's split, for ``config.distill_weight``, on the model's device (a plain attribute, not a buffer: DDP
    would broadcast a buffer every step, and every rank computes the same targets). ``class_weight``: each class's
    weight in the cross-entropy (:func:`hybrid_loss`; None: unweighted), a plain attribute likewise.
    """

    def __init__(
        self, model: RAM, soft_targets: torch.Tensor | None = None, class_weight: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        self.model = model
        self.soft_targets = soft_targets
        self.class_weight = class_weight

    def forward(
        self,
        envs: object,
        index: torch.Tensor,
        num_samples: int,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        mean_paths = int(self.model.config.mean_path)
        episodes = run_episodes(self.model, envs, index, num_samples + mean_paths, seed=seed, generator=generator,
                                mean_paths=mean_paths)
        return hybrid_loss(self.model, episodes, self.soft_targets, self.class_weight)
