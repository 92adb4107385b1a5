"""The RAM network's shapes, its episodes against a (fake) vector env, the loss and the evaluation."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from test_agent_fake_envs import FakeGlimpseVectorEnv

from agents.ram import CORE_TYPES, RAM, RAMConfig, evaluate, hybrid_loss, load_widened, run_episodes


def small_config(**overrides) -> RAMConfig:
    fields = dict(glimpse_size=4, num_scales=2, channels=1, num_classes=4, num_glimpses=3)
    return RAMConfig(**{**fields, **overrides})


@pytest.mark.parametrize("core_type", CORE_TYPES)
@pytest.mark.parametrize("conv_glimpse", [False, True])
def test_step_and_head_shapes(core_type: str, conv_glimpse: bool) -> None:
    config = small_config(core_type=core_type, conv_glimpse=conv_glimpse, glimpse_size=5, channels=3)
    model = RAM(config)
    n = 5
    state = model.initial_state(n)
    assert state.shape == (n, 512 if core_type == "lstm" else 256) and not state.any()
    glimpse = torch.rand(n, config.glimpse_length)
    state2, features = model.step(glimpse, torch.rand(n, 2) * 2 - 1, state)
    assert state2.shape == state.shape and features.shape == (n, config.core_hidden)
    mean, std = model.location_policy(features)
    assert mean.shape == std.shape == (n, 2)
    assert bool((mean.abs() < 1).all()) and torch.allclose(std, torch.full_like(std, 0.1))
    assert model.baseline(features).shape == (n,)
    assert model.classifier(features).shape == (n, config.num_classes)


def test_config_checks_and_reads_the_env() -> None:
    with pytest.raises(ValueError, match="core_type"):
        RAMConfig(core_type="transformer")
    with pytest.raises(ValueError, match="location_std"):
        RAMConfig(location_std=0.0)
    env = FakeGlimpseVectorEnv(num_envs=2)
    config = RAMConfig.from_env(env, core_type="gru")
    assert (config.glimpse_length, config.num_classes, config.num_glimpses, config.core_type) == (32, 4, 3, "gru")
    assert config.location_std == 0.1 and not config.learn_std and not config.reinforce_into_core


@pytest.mark.parametrize("core_type", CORE_TYPES)
def test_bfloat16_compute_keeps_float32_outputs_close_to_float32(core_type: str) -> None:
    torch.manual_seed(0)
    model = RAM(small_config(core_type=core_type, conv_glimpse=core_type == "gru"))
    glimpse, location = torch.rand(16, model.config.glimpse_length), torch.rand(16, 2) * 2 - 1
    state = model.initial_state(16)
    outputs = {}
    for dtype in (None, torch.bfloat16):
        model.compute_dtype = dtype
        s = state
        for _ in range(3):
            s, h = model.step(glimpse, location, s)
        assert s.dtype == h.dtype == torch.float32
        outputs[dtype] = h
        h.sum().backward()  # gradients reach the float32 parameters through the autocast region
        grad = model.glimpse_net.what_out.weight.grad
        assert grad is not None and grad.dtype == torch.float32 and grad.abs().sum() > 0
        model.zero_grad()
    assert not torch.equal(outputs[None], outputs[torch.bfloat16])  # bfloat16 really ran
    torch.testing.assert_close(outputs[torch.bfloat16], outputs[None], atol=0.05, rtol=0.05)
    with pytest.raises(ValueError, match="compute_dtype must be None or torch.bfloat16"):
        model.compute_dtype = torch.float16
    double = RAM(small_config(core_type=core_type)).double()  # no autocast: the parameters' dtype throughout
    _, h = double.step(glimpse.double(), location.double(), double.initial_state(16).double())
    assert h.dtype == torch.float64 and double.classifier(h).dtype == torch.float64


def test_evaluate_runs_in_the_parameters_precision_and_restores_the_training_setting() -> None:
    torch.manual_seed(0)
    model = RAM(RAMConfig.from_env(FakeGlimpseVectorEnv(num_envs=8), core_hidden=32))
    plain = evaluate(model, FakeGlimpseVectorEnv(num_envs=8), num_samples=2)
    model.compute_dtype = torch.bfloat16
    assert evaluate(model, FakeGlimpseVectorEnv(num_envs=8), num_samples=2) == plain
    assert model.compute_dtype is torch.bfloat16


def test_dropout_acts_in_training_only() -> None:
    with pytest.raises(ValueError, match="dropout"):
        RAMConfig(dropout=1.0)
    torch.manual_seed(0)
    model = RAM(small_config(dropout=0.5))
    glimpse, location = torch.rand(64, model.config.glimpse_length), torch.rand(64, 2) * 2 - 1
    state = model.initial_state(64)
    model.eval()
    _, a = model.step(glimpse, location, state)
    _, b = model.step(glimpse, location, state)
    torch.testing.assert_close(a, b)  # evaluation: no dropout, the same output twice
    model.train()
    _, c = model.step(glimpse, location, state)
    assert not torch.allclose(a, c) and (c == 0).float().mean() > (a == 0).float().mean() + 0.2


def test_untanhed_mean_is_linear() -> None:
    model = RAM(small_config(tanh_mean=False))
    features = torch.randn(3, 256) * 100
    torch.testing.assert_close(model.location_policy(features)[0], model.location_policy.mean(features))


def test_episodes_go_through_the_env() -> None:
    torch.manual_seed(0)
    env = FakeGlimpseVectorEnv(num_envs=6, num_glimpses=4)
    model = RAM(RAMConfig.from_env(env, location_std=0.5))
    index = torch.tensor([7, 2, 4])
    episodes = run_episodes(model, env, index, num_samples=2, seed=3)
    assert episodes.features.shape == (6, 4, 256) and episodes.locations.shape == (6, 3, 2)
    torch.testing.assert_close(episodes.index, index.repeat(2))  # tiled: row m * B + b is image b
    torch.testing.assert_close(episodes.label, env.labels[index.repeat(2)])
    assert len(env.actions) == 4  # T steps: T - 1 moves, then the classification
    for t in range(3):  # the env saw each sampled location, clipped into the box
        torch.testing.assert_close(env.actions[t][:, :2], episodes.locations[:, t].clamp(-1, 1))
    logits = model.classifier(episodes.features[:, -1])
    torch.testing.assert_close(episodes.reward, (logits.argmax(1) == episodes.label).float())
    with pytest.raises(ValueError, match="num_envs"):
        run_episodes(model, env, index, num_samples=1)


@pytest.mark.parametrize("conv_glimpse", [False, True])
def test_a_file_starts_a_wider_network_that_computes_what_it_did(conv_glimpse: bool) -> None:
    torch.manual_seed(0)
    env = FakeGlimpseVectorEnv(num_envs=4, num_glimpses=4)
    narrow = RAM(RAMConfig.from_env(env, core_type="lstm", conv_glimpse=conv_glimpse, conv_channels=8,
                                    glimpse_hidden=16))
    wide = RAM(dataclasses.replace(narrow.config, conv_channels=16 if conv_glimpse else 8, glimpse_hidden=40))
    load_widened(wide, narrow)
    index = torch.tensor([5, 1, 6, 2])
    before, after = (run_episodes(model, env, index, deterministic=True) for model in (narrow, wide))
    torch.testing.assert_close(after.locations, before.locations)
    torch.testing.assert_close(after.features, before.features)  # every step, so every head agrees too
    # The new units start silent but not stuck: the loss reaches the zero weights that will bring them in.
    hybrid_loss(wide, run_episodes(wide, env, index))["loss"].backward()
    new_columns = wide.glimpse_net.what_out.weight.grad[:, 16:]
    assert not wide.glimpse_net.what_out.weight[:, 16:].any() and new_columns.abs().sum() > 0
    if conv_glimpse:
        assert wide.glimpse_net.what[3].weight.grad[:, 8:].abs().sum() > 0  # the second conv, from new channels
    with pytest.raises(ValueError, match="glimpse_hidden 8 is narrower than the file's 16"):
        load_widened(RAM(dataclasses.replace(narrow.config, glimpse_hidden=8)), narrow)
    with pytest.raises(ValueError, match="differ in core_hidden"):
        load_widened(RAM(dataclasses.replace(narrow.config, core_hidden=300)), narrow)


def test_deterministic_paths_agree_across_samples() -> None:
    env = FakeGlimpseVectorEnv(num_envs=4, initial_location="center")
    model = RAM(RAMConfig.from_env(env))
    episodes = run_episodes(model, env, torch.tensor([1, 3]), num_samples=2, deterministic=True)
    first, second = episodes.features.view(2, 2, 3, -1)
    torch.testing.assert_close(first, second)


@pytest.mark.parametrize("core_type", CORE_TYPES)
@pytest.mark.parametrize("tanh_mean", [False, True])
def test_loss_is_finite_and_backpropagates(core_type: str, tanh_mean: bool) -> None:
    env = FakeGlimpseVectorEnv(num_envs=4)
    model = RAM(RAMConfig.from_env(env, core_type=core_type, tanh_mean=tanh_mean, learn_std=True))
    losses = hybrid_loss(model, run_episodes(model, env, torch.arange(2), num_samples=2))
    assert all(bool(torch.isfinite(v)) for v in losses.values())
    losses["loss"].backward()
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in model.parameters())


def test_one_glimpse_episodes_have_no_location_terms() -> None:
    env = FakeGlimpseVectorEnv(num_envs=2, num_glimpses=1)
    model = RAM(RAMConfig.from_env(env))
    losses = hybrid_loss(model, run_episodes(model, env, torch.arange(2)))
    assert losses["reinforce"].item() == 0.0 and losses["baseline_mse"].item() == 0.0
    assert bool(torch.isfinite(losses["loss"]))


@pytest.mark.parametrize("num_images,num_samples", [(None, 2), (7, 2), (None, 1)])
def test_evaluate_counts_errors_over_the_split(num_images: int | None, num_samples: int) -> None:
    """A model rigged to always answer class 2: both error rates are the share of labels that are not 2, and the mean
    (terminal) reward of the deterministic episodes is 1 - that."""
    env = FakeGlimpseVectorEnv(num_envs=4, num_images=10)
    model = RAM(RAMConfig.from_env(env))
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 0.0, 5.0, 0.0]))
    result = evaluate(model, env, num_samples=num_samples, num_images=num_images)
    total = 10 if num_images is None else num_images
    expected = float((env.labels[:total] != 2).float().mean())
    assert result == pytest.approx({"error_deterministic": expected, "error_mc": expected,
                                    "mean_reward": 1 - expected, "num_images": total})
    assert model.training  # restored
    with pytest.raises(ValueError, match="multiple"):
        evaluate(model, env, num_samples=3)
    deterministic_only = evaluate(model, env, num_images=num_images, monte_carlo=False)
    assert deterministic_only == pytest.approx({"error_deterministic": expected, "mean_reward": 1 - expected,
                                                "num_images": total})


def test_evaluate_draws_its_mc_paths_from_its_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The MC paths come from generators seeded by ``seed``, never the global RNG (figures must repeat)."""
    import agents.rollout as rollout

    seen = []
    real = rollout.run_episodes

    def spy(*args, **kwargs):
        seen.append((kwargs.get("deterministic"), kwargs.get("generator")))
        return real(*args, **kwargs)

    monkeypatch.setattr(rollout, "run_episodes", spy)
    env = FakeGlimpseVectorEnv(num_envs=4, num_images=10)
    rollout.evaluate(RAM(RAMConfig.from_env(env)), env, num_samples=2, seed=7)
    sampled = [g for deterministic, g in seen if not deterministic]
    assert sampled and all(g is not None for g in sampled)
    assert [g.initial_seed() for g in sampled] == [7 + 2 * k for k in range(len(sampled))]


@pytest.mark.parametrize("random_locations", [True, False])
def test_location_noise_is_independent_of_the_envs_random_first_glimpse(random_locations: bool) -> None:
    """The training loop seeds the env's reset and the location noise with the same number per step; the env's
    random first locations must not fix the noise (they once did: the control's second glimpse looked exactly
    where its first had, and the policy's first noise was correlated with the location it had just seen)."""
    import gymnasium as gym

    import ram_env  # noqa: F401

    envs = gym.make_vec("GlimpseMNIST-v0", num_envs=512, split="train", autoreset_mode="disabled", num_glimpses=2)
    model = RAM(RAMConfig.from_env(envs, random_locations=random_locations, location_std=1.0))
    first: list[torch.Tensor] = []
    reset = envs.reset

    def spy(**kwargs):
        obs, info = reset(**kwargs)
        first.append(obs["location"].clone())
        return obs, info

    envs.reset = spy
    stream = 12345
    noise = torch.Generator().manual_seed(stream)  # as the training loop seeds both
    episodes = run_episodes(model, envs, torch.arange(512), seed=stream, generator=noise)
    start, chosen = first[0], episodes.locations[:, 0]
    assert start.abs().max() > 0.5  # random first glimpses on the train split
    if random_locations:
        assert not torch.allclose(chosen, start)
    noise = chosen if random_locations else chosen - model.location_policy(episodes.features[:, 0])[0].detach()
    for axis in range(2):  # 512 independent pairs: |r| < 0.15 with probability > 0.999
        r = torch.corrcoef(torch.stack([start[:, axis], noise[:, axis]]))[0, 1]
        assert abs(float(r)) < 0.15, f"axis {axis}: the noise is correlated with the first location (r = {r:.2f})"
