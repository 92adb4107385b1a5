"""CleanRL-style PPO (continuous actions, a Gaussian policy) on a glimpse env through Gymnasium's own vector stack.

    python benchmarks/cleanrl_ppo.py                                # GlimpseMNIST-v0, cross-entropy reward, 200k steps
    python benchmarks/cleanrl_ppo.py --total-timesteps 5000         # the client check: start to finish in seconds
    python benchmarks/cleanrl_ppo.py --help

A client check, not a baseline: the loop of CleanRL's ``ppo_continuous_action.py`` run on our envs the way a
Gymnasium 1.x user builds them, ``gym.make_vec(id, num_envs, vectorization_mode="sync", wrappers=[...])`` (a
``SyncVectorEnv`` of ``gym.make``) under ``FlattenObservation``, ``NormalizeObservation`` and
``RecordEpisodeStatistics`` from ``gymnasium.wrappers.vector``. Whenever episodes end, their ``episodic_return`` and
accuracy (the final info's ``is_success``) go to TensorBoard (``charts/...``); every iteration prints their means.
At the end the mean action is evaluated on the ``val`` split.

**Memory.** The policy is a memoryless MLP. What can let it classify is ``FrameStackObservation(env, num_glimpses,
padding_type="zero")`` applied per sub-env through ``gym.make_vec``'s ``wrappers=``: the observation holds every
glimpse and location of the episode so far, and the zero padding tells the step (on by default; ``--no-frame-stack``
shows only the latest glimpse). With CleanRL's initial std of 1 it is not enough in 200k steps: that run (2 shared CPU
cores, ~670 steps/s) moved the episodic return from -14 to -6.4, the cost of a uniform guess (-6), and stayed at chance
(val accuracy of the mean action 10.4 %). SB3's PPO did the same with that std, and learned with a std of 0.14
(``docs/baselines.md``), so ``--log-std-init`` defaults to -2 here; this script has not been re-run for 200k steps with
it. ``train/sb3_agent.py`` has the measured recipes.

**Autoreset.** Gymnasium's vector envs (and its vector observation wrappers, which require it) reset a finished
sub-env on the *next* step, which ignores the action and pays 0. The loop stores those steps, cuts the advantages at
every episode end, and drops the reset steps from the batch before the update.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.wrappers import FrameStackObservation
from gymnasium.wrappers.vector import FlattenObservation, NormalizeObservation, RecordEpisodeStatistics
from torch import nn
from torch.distributions import Normal

import ram_env  # noqa: F401  (registers the env ids)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from cli import parse  # noqa: E402


@dataclass
class Args:
    exp_name: str = "cleanrl_ppo"
    """The experiment's name, part of the run folder's name."""
    seed: int = 1
    """Seed of python, numpy, torch and the envs."""
    env_id: str = "GlimpseMNIST-v0"
    """The glimpse env id."""
    env_kwargs: dict = field(default_factory=lambda: {"reward_mode": "cross_entropy"})
    """Keyword arguments of ``gym.make`` (JSON); the dense cross-entropy reward by default."""
    frame_stack: bool = True
    """Stack the episode's observations per sub-env (``FrameStackObservation``), the policy's only memory."""
    total_timesteps: int = 200_000
    """Env steps in all, reset steps included."""
    learning_rate: float = 3e-4
    """Adam's learning rate, annealed linearly to 0 if ``anneal_lr``."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0."""
    num_envs: int = 16
    """Sub-envs of the ``SyncVectorEnv``."""
    num_steps: int = 42
    """Steps per sub-env per rollout: 42 = six 6-step episodes and their reset steps."""
    gamma: float = 1.0
    """Discount; the horizon is fixed and short."""
    gae_lambda: float = 0.95
    """GAE's lambda."""
    num_minibatches: int = 4
    """Minibatches per update epoch."""
    update_epochs: int = 4
    """Passes over each rollout."""
    clip_coef: float = 0.2
    """PPO's clip of the probability ratio (and of the value change)."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradient norm clip."""
    hidden: int = 256
    """Width of the two hidden layers of the actor and of the critic."""
    log_std_init: float = -2.0
    """Initial log std of the Gaussian policy. CleanRL's 0 (a std of 1) drowns the class scores in noise: under the
    cross-entropy reward the policy then only learns to guess uniformly."""
    eval_episodes: int = 1000
    """Episodes of the mean action on the ``val`` split at the end (0: none)."""
    output_dir: str | None = "runs"
    """Where the run folder (TensorBoard events, the model) goes; None: no files."""
    threads: int = 1
    """Torch CPU threads."""


def make_envs(args: Args, split: str = "train") -> gym.vector.VectorEnv:
    """The vector env of the loop: ``SyncVectorEnv`` of ``gym.make`` (stacked per sub-env), flattened, normalized."""
    stack = [lambda env: FrameStackObservation(env, env.unwrapped.config.num_glimpses, padding_type="zero")]
    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, vectorization_mode="sync",
                        wrappers=stack if args.frame_stack else None, **{**args.env_kwargs, "split": split})
    return RecordEpisodeStatistics(NormalizeObservation(FlattenObservation(envs)))


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    """CleanRL's continuous-action agent: MLP critic, MLP Gaussian mean, a state-independent log std."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, log_std_init: float = -2.0) -> None:
        super().__init__()
        self.critic = nn.Sequential(layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
                                    layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
                                    layer_init(nn.Linear(hidden, 1), 1.0))
        self.actor_mean = nn.Sequential(layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
                                        layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
                                        layer_init(nn.Linear(hidden, act_dim), 0.01))
        self.actor_logstd = nn.Parameter(torch.full((1, act_dim), log_std_init))

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x).squeeze(-1)

    def get_action_and_value(self, x: torch.Tensor, action: torch.Tensor | None = None
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        mean = self.actor_mean(x)
        probs = Normal(mean, self.actor_logstd.expand_as(mean).exp())
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.get_value(x)


def evaluate(agent: Agent, args: Args, obs_rms: Any) -> float:
    """Accuracy of the mean action on ``eval_episodes`` episodes of the ``val`` split, observation statistics frozen."""
    envs = make_envs(args, split="val")
    normalize = envs.env
    normalize.obs_rms, normalize.update_running_mean = obs_rms, False
    obs, _ = envs.reset(seed=args.seed)
    successes: list[bool] = []
    while len(successes) < args.eval_episodes:
        with torch.no_grad():
            action = agent.actor_mean(torch.as_tensor(obs, dtype=torch.float32))
        obs, _, terminated, truncated, info = envs.step(action.numpy())
        if "_is_success" in info:
            successes += [bool(s) for s in info["is_success"][info["_is_success"]]]
    envs.close()
    return float(np.mean(successes[: args.eval_episodes]))


def train(args: Args) -> dict[str, Any]:
    """Run the loop; returns every finished episode's return, length and success, the steps taken and the speed."""
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    writer = None
    if args.output_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        run_dir = Path(args.output_dir) / f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
        writer = SummaryWriter(str(run_dir))
        table = "\n".join(f"|{key}|{value}|" for key, value in asdict(args).items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    # -- env and agent -------------------------------------------------------------------------------
    envs = make_envs(args)
    assert isinstance(envs.single_action_space, gym.spaces.Box), "continuous actions only"
    obs_dim, act_dim = envs.single_observation_space.shape[0], envs.single_action_space.shape[0]
    agent = Agent(obs_dim, act_dim, args.hidden, args.log_std_init)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    # -- rollout storage -----------------------------------------------------------------------------
    shape = (args.num_steps, args.num_envs)
    obs = torch.zeros(shape + (obs_dim,))
    actions = torch.zeros(shape + (act_dim,))
    logprobs, rewards, values = torch.zeros(shape), torch.zeros(shape), torch.zeros(shape)
    ends = torch.zeros(shape)  # the step ended its episode
    valid = torch.zeros(shape, dtype=torch.bool)  # False: a reset step (action ignored, reward 0)

    # -- the loop ------------------------------------------------------------------------------------
    global_step, start = 0, time.time()
    returns: list[float] = []
    lengths: list[int] = []
    successes: list[bool] = []
    next_obs = torch.as_tensor(envs.reset(seed=args.seed)[0], dtype=torch.float32)
    envs.action_space.seed(args.seed)
    resetting = torch.zeros(args.num_envs, dtype=torch.bool)
    num_iterations = max(1, args.total_timesteps // (args.num_envs * args.num_steps))
    for iteration in range(1, num_iterations + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = (1.0 - (iteration - 1.0) / num_iterations) * args.learning_rate
        first_episode = len(returns)
        for step in range(args.num_steps):
            global_step += args.num_envs
            obs[step], valid[step] = next_obs, ~resetting
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
            actions[step], logprobs[step], values[step] = action, logprob, value
            next_obs, reward, terminated, truncated, info = envs.step(action.numpy())
            next_obs = torch.as_tensor(next_obs, dtype=torch.float32)
            done = np.logical_or(terminated, truncated)
            rewards[step], ends[step], resetting = torch.as_tensor(reward), torch.as_tensor(done), torch.as_tensor(done)
            if "_episode" in info:
                finished = info["_episode"]
                returns += info["episode"]["r"][finished].tolist()
                lengths += info["episode"]["l"][finished].tolist()
                successes += [bool(s) for s in info["is_success"][finished]]
                if writer is not None:
                    count = int(finished.sum())
                    writer.add_scalar("charts/episodic_return", float(np.mean(returns[-count:])), global_step)
                    writer.add_scalar("charts/accuracy", float(np.mean(successes[-count:])), global_step)

        # -- advantages (GAE), cut at every episode end so nothing leaks through a reset step -------
        with torch.no_grad():
            next_value = agent.get_value(next_obs)
            advantages, last_gae = torch.zeros(shape), torch.zeros(args.num_envs)
            for t in reversed(range(args.num_steps)):
                following = next_value if t == args.num_steps - 1 else values[t + 1]
                not_end = 1.0 - ends[t]
                delta = rewards[t] + args.gamma * following * not_end - values[t]
                last_gae = delta + args.gamma * args.gae_lambda * not_end * last_gae
                advantages[t] = last_gae
            returns_to_go = advantages + values

        # -- the update, on the valid steps only ---------------------------------------------------
        keep = valid.reshape(-1)
        b_obs, b_actions = obs.reshape(-1, obs_dim)[keep], actions.reshape(-1, act_dim)[keep]
        b_logprobs, b_advantages = logprobs.reshape(-1)[keep], advantages.reshape(-1)[keep]
        b_returns, b_values = returns_to_go.reshape(-1)[keep], values.reshape(-1)[keep]
        batch_size = len(b_obs)
        minibatch_size = max(1, batch_size // args.num_minibatches)
        for _ in range(args.update_epochs):
            order = torch.randperm(batch_size)
            for begin in range(0, batch_size, minibatch_size):
                mb = order[begin:begin + minibatch_size]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb], b_actions[mb])
                ratio = (newlogprob - b_logprobs[mb]).exp()
                mb_adv = b_advantages[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                clipped_ratio = ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)
                pg_loss = torch.max(-mb_adv * ratio, -mb_adv * clipped_ratio).mean()
                v_clipped = b_values[mb] + (newvalue - b_values[mb]).clamp(-args.clip_coef, args.clip_coef)
                v_loss = 0.5 * torch.max((newvalue - b_returns[mb]) ** 2, (v_clipped - b_returns[mb]) ** 2).mean()
                loss = pg_loss - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

        # -- logging -------------------------------------------------------------------------------
        sps = global_step / (time.time() - start)
        new = slice(first_episode, None)
        print(f"global_step={global_step} episodes={len(returns)} episodic_return={np.mean(returns[new]):.3f} "
              f"accuracy={np.mean(successes[new]):.3f} SPS={sps:.0f}", flush=True)
        if writer is not None:
            writer.add_scalar("losses/value_loss", v_loss.item(), global_step)
            writer.add_scalar("losses/policy_loss", pg_loss.item(), global_step)
            writer.add_scalar("charts/SPS", sps, global_step)

    result: dict[str, Any] = {"returns": returns, "lengths": lengths, "successes": successes,
                              "global_step": global_step, "sps": global_step / (time.time() - start)}
    if args.eval_episodes > 0:
        result["val_accuracy"] = evaluate(agent, args, envs.env.obs_rms)
        print(f"val accuracy of the mean action over {args.eval_episodes} episodes: {result['val_accuracy']:.3f}")
    if writer is not None:
        model = {"agent": agent.state_dict(), "obs_rms": envs.env.obs_rms}
        torch.save(model, run_dir / f"{args.exp_name}.cleanrl_model")
        writer.close()
    envs.close()
    return result


if __name__ == "__main__":
    train(parse(Args, description=__doc__.split("\n")[0])[0])
