"""RAMPolicy: save/load with weights_only, the SB3 ``predict`` contract, and SB3's ``evaluate_policy``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv
from test_agent_fake_envs import FakeGlimpseEnv, FakeGlimpseVectorEnv

from agents.ram import RAM, RAMConfig, RAMPolicy, run_episodes

ENV_KWARGS = {"split": "val", "num_glimpses": 3, "initial_location": [0.0, 0.0]}


def make_policy(core_type: str = "lstm", **overrides) -> RAMPolicy:
    torch.manual_seed(0)
    config = RAMConfig(glimpse_size=4, num_scales=2, num_classes=4, num_glimpses=3, core_type=core_type, **overrides)
    return RAMPolicy(RAM(config), "GlimpseMNIST-v0", ENV_KWARGS)


def observations(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"glimpse": rng.random((n, 32), dtype=np.float32),
            "location": rng.uniform(-1, 1, (n, 2)).astype(np.float32)}


def test_save_load_round_trip(tmp_path: Path) -> None:
    policy = make_policy(learn_std=True, conv_glimpse=True)
    path = tmp_path / "sub" / "ram.pt"
    policy.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["ram.pt"]  # no temp file left behind
    payload = torch.load(path, weights_only=True)  # plain types and tensors only
    assert payload["env_id"] == "GlimpseMNIST-v0" and payload["env_kwargs"] == ENV_KWARGS
    loaded = RAMPolicy.load(path, device="cpu")
    assert loaded.config == policy.config and loaded.env_id == policy.env_id
    assert loaded.env_kwargs == ENV_KWARGS and loaded.device == torch.device("cpu")
    obs, state = observations(3), None
    for _ in range(3):  # whole episodes, state carried
        expected, state_a = policy.predict(obs, state, deterministic=True)
        actual, state = loaded.predict(obs, state, deterministic=True)
        np.testing.assert_array_equal(actual, expected)
        np.testing.assert_array_equal(state, state_a)


def test_save_rejects_non_plain_env_kwargs(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="plain values"):
        RAMPolicy(make_policy().model, "GlimpseMNIST-v0", {"images": np.zeros((2, 28, 28), np.uint8)})
    assert RAMPolicy(make_policy().model, "X-v0", {"n": np.int64(3)}).env_kwargs == {"n": 3}
    bad = tmp_path / "bad.pt"
    torch.save({"format": "something else"}, bad)
    with pytest.raises(ValueError, match="not a RAM policy"):
        RAMPolicy.load(bad, device="cpu")


@pytest.mark.parametrize("core_type", ["rnn", "lstm", "gru"])
def test_predict_batched_unbatched_and_actions_in_space(core_type: str) -> None:
    policy = make_policy(core_type)
    obs = observations(4)
    actions, state = policy.predict(obs, deterministic=True)
    assert actions.shape == (4, 6) and actions.dtype == np.float32
    assert state.shape == (4, policy.model.state_size)
    assert np.all(np.abs(actions) <= 1.0)
    single, single_state = policy.predict({k: v[1] for k, v in obs.items()}, deterministic=True)
    assert single.shape == (6,) and single_state.shape == (policy.model.state_size,)
    np.testing.assert_allclose(single, actions[1], atol=1e-6)
    np.testing.assert_allclose(single_state, state[1], atol=1e-6)
    torch_obs = {k: torch.from_numpy(v) for k, v in obs.items()}
    np.testing.assert_allclose(policy.predict(torch_obs, deterministic=True)[0], actions, atol=1e-6)
    sampled, _ = policy.predict(obs, deterministic=False)
    assert not np.allclose(sampled[:, :2], actions[:, :2]) and np.all(np.abs(sampled) <= 1.0)
    np.testing.assert_allclose(sampled[:, 2:], actions[:, 2:], atol=1e-6)  # scores do not depend on the noise


def test_episode_start_resets_only_marked_rows() -> None:
    policy = make_policy()
    first, second = observations(2, seed=0), observations(2, seed=1)
    _, state = policy.predict(first, deterministic=True)
    fresh, fresh_state = policy.predict(second, deterministic=True)
    carried, carried_state = policy.predict(second, state, deterministic=True)
    mixed, mixed_state = policy.predict(second, state, episode_start=np.array([True, False]), deterministic=True)
    np.testing.assert_allclose(mixed[0], fresh[0], atol=1e-6)
    np.testing.assert_allclose(mixed[1], carried[1], atol=1e-6)
    np.testing.assert_allclose(mixed_state, np.stack([fresh_state[0], carried_state[1]]), atol=1e-6)
    assert not np.allclose(carried[0], fresh[0])


def test_predict_replays_the_training_rollout() -> None:
    """The SB3-style loop and run_episodes take the same path and reach the same class on the same image."""
    kwargs = {"num_images": 6, "initial_location": "center"}
    vec = FakeGlimpseVectorEnv(num_envs=6, **kwargs)
    policy = make_policy("gru", location_std=0.3)
    episodes = run_episodes(policy.model, vec, torch.arange(6), deterministic=True)
    env = FakeGlimpseEnv(**kwargs)
    for i in range(6):
        obs, _ = env.reset(seed=0, options={"index": i})
        state, episode_start, terminated = None, np.ones(1, bool), False
        while not terminated:
            action, state = policy.predict({k: v[None] for k, v in obs.items()}, state, episode_start, True)
            obs, reward, terminated, _, info = env.step(action[0])
            episode_start = np.zeros(1, bool)
        assert info["prediction"] == int(policy.model.classifier(episodes.features[i, -1]).argmax())
        assert reward == float(episodes.reward[i])


def test_sb3_evaluate_policy_runs_it() -> None:
    policy = make_policy()
    venv = DummyVecEnv([lambda: FakeGlimpseEnv(), lambda: FakeGlimpseEnv(seed=1)])
    rewards, lengths = evaluate_policy(policy, venv, n_eval_episodes=6, return_episode_rewards=True, warn=False)
    assert len(rewards) == 6 and set(lengths) == {3} and set(rewards) <= {0.0, 1.0}


def test_predict_runs_without_dropout_and_keeps_the_models_mode() -> None:
    """A policy around a model in training mode (the training loop's) still predicts as at inference."""
    policy = make_policy(dropout=0.5)
    obs = observations(8)
    policy.model.eval()
    expected, _ = policy.predict(obs, deterministic=True)
    policy.model.train()
    actions, _ = policy.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, expected)
    assert policy.model.training
