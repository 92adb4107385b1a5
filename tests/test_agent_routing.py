"""Which loss term trains which parameters: the make-or-break of RAM, proven with autograd.

Episodes come from :func:`agents.rollout.run_episodes` against a fake vector env, so the routing is
tested on the same tensors a training step would see.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from test_agent_fake_envs import FakeGlimpseVectorEnv

from agents.loss import distillation, path_consistency
from agents.ram import RAM, EpisodeObjective, RAMConfig, hybrid_loss, run_episodes

GROUPS = ("glimpse_net", "core", "location_policy", "baseline", "classifier")


def reached_groups(model: RAM, term: torch.Tensor) -> set[str]:
    """Names of the parameter groups in which ``term`` has a non-zero gradient."""
    groups = model.parameter_groups()
    params = [p for name in GROUPS for p in groups[name]]
    grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
    reached, i = set(), 0
    for name in GROUPS:
        for _ in groups[name]:
            if grads[i] is not None and bool(grads[i].abs().sum() > 0):
                reached.add(name)
            i += 1
    return reached


def make_losses(core_type: str = "rnn", **overrides) -> tuple[RAM, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    env = FakeGlimpseVectorEnv(num_envs=8)
    model = RAM(RAMConfig.from_env(env, core_type=core_type, core_hidden=32, glimpse_hidden=16,
                                   glimpse_features=32, **overrides))
    episodes = run_episodes(model, env, torch.arange(4), num_samples=2, seed=0)
    return model, hybrid_loss(model, episodes)


@pytest.mark.parametrize("core_type", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("learn_std", [False, True])
def test_default_routing(core_type: str, learn_std: bool) -> None:
    model, losses = make_losses(core_type, learn_std=learn_std)
    assert reached_groups(model, losses["cross_entropy"]) == {"glimpse_net", "core", "classifier"}
    assert reached_groups(model, losses["baseline_mse"]) == {"baseline"}
    assert reached_groups(model, losses["reinforce"]) == {"location_policy"}
    assert reached_groups(model, losses["loss"]) == set(GROUPS)
    if learn_std:  # the learned std is trained, by REINFORCE only
        std = model.location_policy.log_std
        assert torch.autograd.grad(losses["reinforce"], std, retain_graph=True)[0].abs().sum() > 0
        assert torch.autograd.grad(losses["cross_entropy"], std, allow_unused=True)[0] is None


@pytest.mark.parametrize("conv_glimpse", [False, True])
def test_reinforce_into_core_option(conv_glimpse: bool) -> None:
    model, losses = make_losses(reinforce_into_core=True, conv_glimpse=conv_glimpse)
    assert reached_groups(model, losses["reinforce"]) == {"location_policy", "core", "glimpse_net"}
    # The option changes only the REINFORCE term.
    assert reached_groups(model, losses["cross_entropy"]) == {"glimpse_net", "core", "classifier"}
    assert reached_groups(model, losses["baseline_mse"]) == {"baseline"}


def test_reinforce_weight_scales_only_reinforce() -> None:
    _, base = make_losses(reinforce_weight=1.0)
    _, heavy = make_losses(reinforce_weight=3.0)
    for name in ("cross_entropy", "baseline_mse", "reinforce"):
        torch.testing.assert_close(base[name], heavy[name])
    expected = heavy["cross_entropy"] + heavy["baseline_mse"] + 3.0 * heavy["reinforce"]
    torch.testing.assert_close(heavy["loss"], expected)


def test_reinforce_matches_hand_computation() -> None:
    """REINFORCE = -mean_n sum_t log N(l_t; mu(h_t), sigma) * (R - b_t), over the T-1 chosen locations."""
    env = FakeGlimpseVectorEnv(num_envs=8)
    model = RAM(RAMConfig.from_env(env, core_hidden=32, glimpse_hidden=16, glimpse_features=32))
    episodes = run_episodes(model, env, torch.arange(4), num_samples=2, seed=0)
    losses = hybrid_loss(model, episodes)
    h = episodes.features[:, :-1]
    mean, std = model.location_policy(h)
    log_prob = (-((episodes.locations - mean) ** 2) / (2 * std**2) - std.log()
                - 0.5 * torch.log(torch.tensor(2 * torch.pi))).sum(-1)
    advantage = episodes.reward[:, None] - model.baseline(h)
    torch.testing.assert_close(losses["reinforce"], -(log_prob * advantage).sum(1).mean())
    assert episodes.locations.shape == (8, env.num_glimpses - 1, 2)


def test_random_location_control_trains_no_location_policy_and_looks_uniformly():
    model, losses = make_losses(random_locations=True)
    assert float(losses["reinforce"]) == 0.0
    assert reached_groups(model, losses["loss"]) == {"glimpse_net", "core", "baseline", "classifier"}
    env = FakeGlimpseVectorEnv(num_envs=400)
    episodes = run_episodes(model, env, torch.arange(400) % 10, seed=0, deterministic=True)
    locations = episodes.locations.reshape(-1, 2)
    # Uniform on [-1, 1]^2 even in deterministic mode: mean ~0, std ~1/sqrt(3), both ends reached.
    assert locations.abs().max() <= 1.0 and locations.mean(0).abs().max() < 0.1
    assert (locations.std(0) - 3**-0.5).abs().max() < 0.05


def test_path_consistency_trains_what_cross_entropy_trains() -> None:
    model, losses = make_losses(core_type="lstm", consistency_weight=0.5)
    assert losses["consistency"] > 0  # two sampled paths per image disagree a little
    assert reached_groups(model, losses["consistency"]) == {"glimpse_net", "core", "classifier"}
    expected = (losses["cross_entropy"] + losses["baseline_mse"] + losses["reinforce"]
                + 0.5 * losses["consistency"])
    torch.testing.assert_close(losses["loss"], expected)
    _, off = make_losses(core_type="lstm")  # weight 0, the paper's loss: reported, not added
    torch.testing.assert_close(off["loss"], off["cross_entropy"] + off["baseline_mse"] + off["reinforce"])


def test_path_consistency_is_the_kl_to_the_detached_mean_of_each_images_paths() -> None:
    logits = torch.randn(3 * 4, 10, requires_grad=True)  # M = 3 paths of B = 4 images, rows m * B + b
    p = torch.softmax(logits, -1).view(3, 4, 10)
    mean = p.mean(0)
    manual = (mean * (mean.log() - p.log())).sum(-1).mean()
    torch.testing.assert_close(path_consistency(logits, 3), manual)
    assert path_consistency(logits, 1) == 0  # one path: nothing to agree with
    same = torch.randn(4, 10).repeat(3, 1)  # every path of an image says the same: no pull
    torch.testing.assert_close(path_consistency(same, 3), torch.zeros(()), atol=1e-6, rtol=0)
    # The target is detached: the gradient moves each path towards the mean, never the mean itself.
    (grad,) = torch.autograd.grad(path_consistency(logits, 3), logits)
    kl_grad = (torch.softmax(logits, -1).view(3, 4, 10) - mean.detach()) / 12  # d/dlogits of mean KL
    torch.testing.assert_close(grad, kl_grad.reshape(12, 10))


def test_distillation_trains_what_cross_entropy_trains_and_needs_the_targets() -> None:
    torch.manual_seed(0)
    env = FakeGlimpseVectorEnv(num_envs=8)
    model = RAM(RAMConfig.from_env(env, core_type="lstm", core_hidden=32, glimpse_hidden=16, glimpse_features=32,
                                   distill_weight=0.3))
    episodes = run_episodes(model, env, torch.arange(4), num_samples=2, seed=0)
    targets = torch.softmax(torch.randn(env.num_images, model.config.num_classes), -1)  # one row per image
    losses = hybrid_loss(model, episodes, targets)
    assert losses["distillation"] > 0
    assert reached_groups(model, losses["distillation"]) == {"glimpse_net", "core", "classifier"}
    expected = losses["cross_entropy"] + losses["baseline_mse"] + losses["reinforce"] + 0.3 * losses["distillation"]
    torch.testing.assert_close(losses["loss"], expected)
    # Each row is pulled towards its own image's target (rows m * B + b show image index[b]).
    logits = model.classifier(episodes.features[:, -1])
    torch.testing.assert_close(losses["distillation"], distillation(logits, targets[episodes.index]))
    with pytest.raises(ValueError, match="distill_weight = 0.3 needs soft_targets"):
        hybrid_loss(model, episodes)
    model.config = dataclasses.replace(model.config, distill_weight=0.0)  # weight 0: reported, not added
    off = hybrid_loss(model, episodes, targets)
    torch.testing.assert_close(off["distillation"], losses["distillation"])
    torch.testing.assert_close(off["loss"], off["cross_entropy"] + off["baseline_mse"] + off["reinforce"])


def test_distillation_is_the_kl_from_the_target_and_zero_at_it() -> None:
    logits = torch.randn(6, 10, requires_grad=True)
    targets = torch.softmax(torch.randn(6, 10), -1)
    p = torch.softmax(logits, -1)
    torch.testing.assert_close(distillation(logits, targets), (targets * (targets.log() - p.log())).sum(-1).mean())
    torch.testing.assert_close(distillation(logits, p.detach()), torch.zeros(()), atol=1e-6, rtol=0)
    (grad,) = torch.autograd.grad(distillation(logits, targets), logits)
    torch.testing.assert_close(grad, (p - targets).detach() / 6)  # d/dlogits of the mean KL: (p - q) / N
    with pytest.raises(ValueError, match="must match the logits"):
        distillation(logits, targets[:3])


def test_mean_path_follows_the_policy_mean_and_is_left_out_of_reinforce_and_the_baseline() -> None:
    """``mean_path``: one more path per image at the policy's mean (the deterministic evaluation's path). It is
    classified like the others (cross-entropy, consistency); REINFORCE and the baseline see only the sampled rows."""
    torch.manual_seed(0)
    env = FakeGlimpseVectorEnv(num_envs=12)  # B = 4 images x (1 mean + 2 sampled) paths
    model = RAM(RAMConfig.from_env(env, core_hidden=32, glimpse_hidden=16, glimpse_features=32, mean_path=True,
                                   consistency_weight=0.5))
    objective = EpisodeObjective(model)
    torch.manual_seed(1)
    losses = objective(env, torch.arange(4), num_samples=2, seed=0, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(1)
    episodes = run_episodes(model, env, torch.arange(4), num_samples=3, seed=0,
                            generator=torch.Generator().manual_seed(3), mean_paths=1)
    for name, value in hybrid_loss(model, episodes).items():
        torch.testing.assert_close(losses[name], value)
    mean, _ = model.location_policy(episodes.features[:, :-1])
    torch.testing.assert_close(episodes.locations[:4], mean[:4])  # rows 0..B-1: the mean, exactly
    assert (episodes.locations[4:] - mean[4:]).abs().min() > 0  # the rest: samples
    # The sampled rows alone give REINFORCE and the baseline term; all rows count in cross-entropy.
    sampled = dataclasses.replace(episodes, features=episodes.features[4:], locations=episodes.locations[4:],
                                  reward=episodes.reward[4:], label=episodes.label[4:], index=episodes.index[4:],
                                  num_samples=2, mean_paths=0)
    alone = hybrid_loss(model, sampled)
    for name in ("reinforce", "baseline_mse"):
        torch.testing.assert_close(losses[name], alone[name])
    logits = model.classifier(episodes.features[:, -1])
    torch.testing.assert_close(losses["cross_entropy"], F.cross_entropy(logits, episodes.label))
    torch.testing.assert_close(losses["consistency"], path_consistency(logits, 3))
    # The routing of the paper is kept.
    assert reached_groups(model, losses["cross_entropy"]) == {"glimpse_net", "core", "classifier"}
    assert reached_groups(model, losses["consistency"]) == {"glimpse_net", "core", "classifier"}
    assert reached_groups(model, losses["baseline_mse"]) == {"baseline"}
    assert reached_groups(model, losses["reinforce"]) == {"location_policy"}


def test_mean_path_is_refused_with_random_locations_and_checked_against_the_paths() -> None:
    with pytest.raises(ValueError, match="mean_path"):
        RAMConfig(mean_path=True, random_locations=True)
    env = FakeGlimpseVectorEnv(num_envs=8)
    model = RAM(RAMConfig.from_env(env, core_hidden=32, glimpse_hidden=16, glimpse_features=32))
    with pytest.raises(ValueError, match="mean_paths must be in"):
        run_episodes(model, env, torch.arange(4), num_samples=2, mean_paths=3)
    with pytest.raises(ValueError, match="at least one path per image is sampled"):
        run_episodes(model, env, torch.arange(4), num_samples=2, mean_paths=2)


@pytest.mark.parametrize("core_type", ["rnn", "lstm"])
def test_probability_reward_scores_each_path_by_the_classifier_and_keeps_the_routing(core_type: str) -> None:
    """``policy_reward="probability"``: R = p(label | path), detached; REINFORCE and the baseline learn from it,
    each term still reaches only its own parameters, and the logged accuracy is still the env's reward."""
    torch.manual_seed(0)
    env = FakeGlimpseVectorEnv(num_envs=8)
    model = RAM(RAMConfig.from_env(env, core_type=core_type, core_hidden=32, glimpse_hidden=16, glimpse_features=32,
                                   policy_reward="probability"))
    episodes = run_episodes(model, env, torch.arange(4), num_samples=2, seed=0)
    losses = hybrid_loss(model, episodes)
    h = episodes.features[:, :-1]
    p = F.softmax(model.classifier(episodes.features[:, -1]), -1)
    ret = p.gather(1, episodes.label[:, None]).squeeze(1).detach()
    assert ((ret > 0) & (ret < 1)).all() and not torch.equal(ret, episodes.reward)  # graded, not the env's 0/1
    baseline = model.baseline(h)
    torch.testing.assert_close(losses["baseline_mse"], (baseline - ret[:, None]).square().mean())
    log_prob = model.location_policy.log_prob(h, episodes.locations)
    torch.testing.assert_close(losses["reinforce"], -(log_prob * (ret[:, None] - baseline)).sum(1).mean())
    torch.testing.assert_close(losses["accuracy"], episodes.reward.mean())
    assert reached_groups(model, losses["cross_entropy"]) == {"glimpse_net", "core", "classifier"}
    assert reached_groups(model, losses["baseline_mse"]) == {"baseline"}
    assert reached_groups(model, losses["reinforce"]) == {"location_policy"}
    with pytest.raises(ValueError, match="policy_reward must be one of"):
        RAMConfig(policy_reward="accuracy")
