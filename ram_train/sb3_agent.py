"""Train a general-purpose agent (SB3 PPO or SAC, sb3-contrib RecurrentPPO) on a glimpse env, test the val-selected one.

    python train/sb3_agent.py                                   # RecurrentPPO, continuous action, cross-entropy reward
    python train/sb3_agent.py --algo ppo --actions discrete --step-obs --reward-mode terminal   # the earlier recipe
    python train/sb3_agent.py --help

What it does, top to bottom: build the training envs (``--vec native``: the batched torch env through
:func:`ram_env.sb3_vec_env.make_sb3_vec_env`; ``--vec dummy``: a ``DummyVecEnv`` of ``gym.make``),
optionally with the wrappers of :mod:`ram_env.wrappers` (discrete actions, a step counter); train with
``progress_bar=True``, measuring the deterministic policy's accuracy on the ``val`` split every
``--eval-every`` env steps (the best model on val is kept); then run the val-selected model deterministically on every
test image exactly once. Everything lands in ``runs/<env>__<exp>-<algo>__<seed>__<time>/``: TensorBoard
events and ``progress.csv``, ``best_model.zip`` (val-selected), ``final_model.zip``,
``evaluations.csv`` and ``results.json`` (command, env steps, wall-clock, hardware, val and test
accuracy). ``--algo random`` trains nothing and measures uniformly random actions.

Why the defaults (the trials behind them, each with its command: ``docs/baselines.md``):

- ``--reward-mode cross_entropy``: every step pays the negative cross-entropy of its class scores, so the
  scores get a graded signal each step instead of a 0/1 bandit payment at the end.
- ``--algo recurrent-ppo`` on the env's own continuous action: the LSTM is the memory of past glimpses. PPO with
  a stack of the episode's observations (``--frame-stack 6``) learned far slower (32 % against 68 % val
  accuracy at 200k steps) and SAC stayed near chance at 100k steps.
- ``--log-std-init -2`` (a std of 0.14) and ``ent_coef = 0`` for continuous actions: SB3's std of 1 drowns the
  scores in noise (the policy then only learns to guess uniformly, at chance), a std of 0.37 learned half as fast.
- ``num_envs = 512``, ``n_steps = 12`` (two whole episodes per sub-env), ``batch_size = 2048``,
  ``learning_rate = 1e-3``, 4 epochs, a 128-wide LSTM; ``gamma = 1`` (the horizon is fixed and short). The larger
  batch (against 128 envs and 512) learned faster per env step: 80 % val accuracy at 1M steps against 71-73 %.
  Neither ``--anneal-lr``, ``--gae-lambda 0``, a rate of 3e-4, 4x this batch nor ``--net-arch 256`` did better at 1M;
  ``--use-sde`` made the locations depend on the image but its learning fell after 50 %.
- ``--vec native``: the batched env steps all sub-envs as one tensor operation, an order of magnitude faster
  here than ``DummyVecEnv`` (``benchmarks/bench_sb3.py``).
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.utils import LinearSchedule, set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper, VecFrameStack, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

import ram_env  # noqa: F401  (registers the ids)
from ram_env.config import DATA_SOURCE_KWARGS
from ram_env.sb3_vec_env import SB3VecEnv, make_sb3_vec_env
from ram_env.wrappers import (
    DiscreteGlimpseActions,
    FlatDiscreteGlimpseActions,
    GlimpseStepObservation,
    VecDiscreteGlimpseActions,
    VecFlatDiscreteGlimpseActions,
    VecGlimpseStepObservation,
)
from ram_train.artifacts import hardware, write_json
from ram_train.cli import parse

ALGOS: dict[str, tuple[type[BaseAlgorithm], str]] = {
    "ppo": (PPO, "MultiInputPolicy"),
    "recurrent-ppo": (RecurrentPPO, "MultiInputLstmPolicy"),
    "sac": (SAC, "MultiInputPolicy"),
}
ALGO_DEFAULTS: dict[str, dict[str, int]] = {
    "ppo": {"n_epochs": 10, "net_arch": 256},
    "recurrent-ppo": {"n_epochs": 4, "net_arch": 128},
    "sac": {"net_arch": 256},
}


@dataclass
class Args:
    algo: str = "recurrent-ppo"
    """`ppo` (SB3 PPO, MultiInputPolicy), `recurrent-ppo` (sb3-contrib RecurrentPPO, MultiInputLstmPolicy), `sac`
    (SB3 SAC, MultiInputPolicy; continuous actions only) or `random` (no training: uniformly random actions)"""
    env: str = "GlimpseMNIST-v0"
    """any registered glimpse env id"""
    env_kwargs: dict | None = None
    """extra gym.make kwargs as a JSON object, e.g. '{"num_glimpses": 4}'"""
    reward_mode: str = "cross_entropy"
    """the env's `reward_mode`: `terminal` (0/1 on the last step) or `cross_entropy` (every step pays the negative
    cross-entropy of that step's class scores, normalised by log K)"""
    logit_scale: float = 5.0
    """the env's `logit_scale` for `--reward-mode cross_entropy`"""
    actions: str = "continuous"
    """`continuous` (the env's own Box [x, y, scores]), `discrete` (MultiDiscrete([grid, grid, n_classes])) or
    `flat` (one Discrete(grid*grid*n_classes)); see ram_env/wrappers.py"""
    grid: int = 5
    """cells per side of the location grid for `--actions discrete|flat`"""
    step_obs: bool = False
    """add obs["step"], the one-hot step counter, so the policy knows which step is the last"""
    frame_stack: int = 1
    """stack the last N observations (SB3 VecFrameStack); N = num_glimpses gives a memoryless policy every
    glimpse of the episode"""
    total_timesteps: int = 2_000_000
    """env steps to train for (one step of one sub-env)"""
    num_envs: int = 512
    """parallel training envs"""
    vec: str = "native"
    """`native` (the batched torch env as an SB3 VecEnv) or `dummy` (DummyVecEnv of gym.make)"""
    n_steps: int = 12
    """steps per sub-env per rollout (a multiple of the episode length keeps rollouts whole)"""
    batch_size: int = 2048
    """minibatch size of the PPO update (for RecurrentPPO: steps per minibatch, in whole sequences)"""
    n_epochs: int | None = None
    """passes over each rollout (None: 10 for ppo, 4 for recurrent-ppo)"""
    learning_rate: float = 1e-3
    """Adam learning rate"""
    anneal_lr: bool = False
    """decay the learning rate linearly from `--learning-rate` to 0 over `--total-timesteps` (as CleanRL's PPO)"""
    target_kl: float | None = None
    """PPO: stop a rollout's epochs early once the approximate KL to the rollout's policy exceeds 1.5x this"""
    gamma: float = 1.0
    """discount; 1.0 since episodes have a fixed short horizon and pay only at the end"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    ent_coef: float | None = None
    """entropy bonus (None: 0 for continuous actions, 0.01 for discrete ones, which keeps their heads exploring)"""
    clip_range: float = 0.2
    """PPO clip range"""
    net_arch: int | None = None
    """width of the two hidden layers of the policy and value MLPs and of the LSTM (None: 256 for ppo, 128 for
    recurrent-ppo)"""
    location_range: float = 1.0
    """continuous actions: the agent's range [-r, r] of (x, y), mapped onto the env's [-1, 1] by Gymnasium's
    `RescaleAction` (`--vec dummy`; `--vec native` applies the same map), class scores left as they are. r < 1 makes
    a Gaussian policy explore locations 1/r times wider than scores, which need little noise under the
    cross-entropy reward"""
    log_std_init: float = -2.0
    """initial log standard deviation of the Gaussian policy (continuous actions only; SB3's default 0 is a std of 1)"""
    use_sde: bool = False
    """continuous actions: SB3's generalized state-dependent exploration (gSDE), noise that is a function of the
    policy's features, redrawn every `--sde-sample-freq` steps, instead of independent noise each step"""
    sde_sample_freq: int = -1
    """with `--use-sde`: env steps between redraws of the exploration matrix (-1: once a rollout)"""
    buffer_size: int = 300_000
    """SAC: replay buffer size, in env steps"""
    gradient_steps: int = 1
    """SAC: gradient steps after each step of the vector env (which collects `num_envs` env steps)"""
    learning_starts: int = 10_000
    """SAC: env steps of random actions before learning starts"""
    eval_every: int = 100_000
    """env steps between evaluations on the val split"""
    eval_images: int = 5000
    """val images per evaluation (the first N of the 5,000; each exactly once, deterministic policy)"""
    test: bool = True
    """at the end, evaluate the val-selected model on every image of the test split"""
    seed: int = 0
    """seed of python, numpy, torch and the envs"""
    torch_threads: int = 1
    """torch CPU threads"""
    exp_name: str = "sb3"
    """experiment name, part of the run folder's name"""
    runs_dir: str = "runs"
    """where the run folder is created"""
    progress_bar: bool = True
    """show SB3's progress bar"""
    test_run: str | None = None
    """train nothing: test the `best_model.zip` of this earlier run folder (e.g. one stopped before its end) on the
    whole test split and write its `results.json`; give the flags the run was trained with (env, reward, actions)"""


# -- envs -------------------------------------------------------------------------------------------
class IndexedReset(VecEnvWrapper):
    """Make every ``reset`` of an :class:`SB3VecEnv` show images ``index`` of the split, one per sub-env.

    How an evaluation sees each image of a split exactly once (a plain ``reset`` draws them at random;
    SB3 forgets ``set_options`` after one reset). Set :attr:`index` (length ``num_envs``) before each
    ``reset``. Every reset is seeded with ``seed``, so repeated evaluations also share the random
    initial glimpse locations.
    """

    def __init__(self, venv: SB3VecEnv, index: np.ndarray, seed: int = 0) -> None:
        super().__init__(venv)
        self.index = index
        self.seed_value = seed

    def reset(self) -> VecEnvObs:
        self.venv.seed(self.seed_value)
        self.venv.set_options([{"index": int(i)} for i in self.index])
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        return self.venv.step_wait()


def env_kwargs(args: Args) -> dict[str, Any]:
    """The keyword arguments of every env the script builds: ``--env-kwargs`` plus the reward flags."""
    return {"reward_mode": args.reward_mode, "logit_scale": args.logit_scale, **(args.env_kwargs or {})}


def action_bounds(args: Args, n_actions: int) -> tuple[np.ndarray, np.ndarray]:
    """The agent's action box under ``--location-range r``: ``[-r, r]`` for (x, y), ``[-1, 1]`` for the scores."""
    high = np.ones(n_actions, dtype=np.float32)
    high[:2] = args.location_range
    return -high, high


class VecRescaleAction(VecEnvWrapper):
    """Gymnasium's ``RescaleAction`` for an SB3 ``VecEnv`` (the native env): the agent acts in ``[low, high]``, the
    env gets the affine image of that in its own box."""

    def __init__(self, venv: VecEnv, low: np.ndarray, high: np.ndarray) -> None:
        space = venv.action_space
        super().__init__(venv, action_space=gym.spaces.Box(low, high, dtype=np.float32))
        self._scale = (space.high - space.low) / (high - low)
        self._offset = space.low - low * self._scale

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.step_async((np.asarray(actions) * self._scale + self._offset).astype(np.float32))

    def reset(self) -> VecEnvObs:
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        return self.venv.step_wait()


def wrap_vec(venv: VecEnv, args: Args) -> VecEnv:
    """The wrappers of ``args`` around an SB3 VecEnv of the raw glimpse env."""
    if args.actions == "continuous" and args.location_range != 1.0:
        venv = VecRescaleAction(venv, *action_bounds(args, venv.action_space.shape[0]))
    if args.actions == "discrete":
        venv = VecDiscreteGlimpseActions(venv, args.grid)
    elif args.actions == "flat":
        venv = VecFlatDiscreteGlimpseActions(venv, args.grid)
    if args.step_obs:
        venv = VecGlimpseStepObservation(venv)
    if args.frame_stack > 1:
        venv = VecFrameStack(venv, args.frame_stack)
    return VecMonitor(venv)


def make_train_env(args: Args) -> VecEnv:
    kwargs = env_kwargs(args)
    if args.vec == "native":
        venv = make_sb3_vec_env(args.env, num_envs=args.num_envs, **kwargs)
        return wrap_vec(venv, args)

    def make_one() -> gym.Env:
        env = gym.make(args.env, **kwargs)
        if args.actions == "continuous" and args.location_range != 1.0:
            env = gym.wrappers.RescaleAction(env, *action_bounds(args, env.action_space.shape[0]))
        if args.actions == "discrete":
            env = DiscreteGlimpseActions(env, args.grid)
        elif args.actions == "flat":
            env = FlatDiscreteGlimpseActions(env, args.grid)
        if args.step_obs:
            env = GlimpseStepObservation(env)
        return env

    venv = DummyVecEnv([make_one] * args.num_envs)
    # Frame stacking and the monitor act on the vector env, as for native.
    venv = VecFrameStack(venv, args.frame_stack) if args.frame_stack > 1 else venv
    return VecMonitor(venv)


def make_sweep_env(args: Args, split: str, num_envs: int) -> tuple[VecEnv, IndexedReset]:
    """A native env stack over ``split`` whose resets show chosen images (see :class:`IndexedReset`)."""
    base = IndexedReset(make_sb3_vec_env(args.env, num_envs=num_envs, split=split, **env_kwargs(args)),
                        np.arange(num_envs))
    return wrap_vec(base, args), base


def make_model(args: Args, venv: VecEnv) -> BaseAlgorithm:
    """The SB3 algorithm of ``args`` with its hyperparameters, on ``venv``."""
    algo, policy = ALGOS[args.algo]
    defaults = ALGO_DEFAULTS[args.algo]
    width = defaults["net_arch"] if args.net_arch is None else args.net_arch
    policy_kwargs: dict[str, Any] = {"net_arch": [width, width]}
    if args.algo == "recurrent-ppo":
        policy_kwargs["lstm_hidden_size"] = width
    if args.actions == "continuous":
        policy_kwargs["log_std_init"] = args.log_std_init
    learning_rate = LinearSchedule(args.learning_rate, 0.0, 1.0) if args.anneal_lr else args.learning_rate
    common = {"learning_rate": learning_rate, "gamma": args.gamma, "batch_size": args.batch_size,
              "policy_kwargs": policy_kwargs, "seed": args.seed, "device": "cpu", "verbose": 0}
    if args.algo == "sac":
        return algo(policy, venv, buffer_size=args.buffer_size, learning_starts=args.learning_starts,
                    gradient_steps=args.gradient_steps, use_sde=args.use_sde, sde_sample_freq=args.sde_sample_freq,
                    **common)
    return algo(
        policy,
        venv,
        n_steps=args.n_steps,
        n_epochs=defaults["n_epochs"] if args.n_epochs is None else args.n_epochs,
        gae_lambda=args.gae_lambda,
        ent_coef=(0.0 if args.actions == "continuous" else 0.01) if args.ent_coef is None else args.ent_coef,
        clip_range=args.clip_range,
        target_kl=args.target_kl,
        use_sde=args.use_sde,
        sde_sample_freq=args.sde_sample_freq,
        **common,
    )


def sweep(model: Any, args: Args, split: str, num_images: int | None = None, chunk: int = 5000) -> tuple[float, float]:
    """(accuracy, mean episode return) of the deterministic policy over the first ``num_images`` (default all)
    images of ``split``, each exactly once."""
    n = len(gym.make(args.env, split=split, **env_kwargs(args)).unwrapped.config.labels)
    n = n if num_images is None else min(n, num_images)
    num_envs = min(n, chunk)
    venv, base = make_sweep_env(args, split, num_envs)
    correct, total_return = 0, 0.0
    for start in range(0, n, num_envs):
        index = np.arange(start, start + num_envs)
        count = min(num_envs, n - start)
        base.index = np.minimum(index, n - 1)  # the last chunk is padded; padded results are not counted
        obs = venv.reset()
        state, episode_start = None, np.ones(num_envs, dtype=bool)
        dones = np.zeros(num_envs, dtype=bool)
        returns = np.zeros(num_envs)
        while not dones.all():
            action, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=True)
            obs, rewards, dones, infos = venv.step(action)
            returns += rewards
            episode_start = dones
        assert [info["index"] for info in infos[:count]] == index[:count].tolist()
        correct += sum(info["is_success"] for info in infos[:count])
        total_return += float(returns[:count].sum())
    venv.close()
    return correct / n, total_return / n


def sweep_accuracy(
    model: Any, args: Args, split: str, num_images: int | None = None, chunk: int = 5000
) -> float:
    """Accuracy of the deterministic policy over the first ``num_images`` (default all) images of ``split``, each
    exactly once."""
    return sweep(model, args, split, num_images, chunk)[0]


class RandomPolicy:
    """Uniformly random actions of the (wrapped) env's action space, with SB3's ``predict``: the floor of a table."""

    def __init__(self, venv: VecEnv, seed: int) -> None:
        self.space = venv.action_space
        self.space.seed(seed)
        self.num_timesteps = 0

    def predict(self, obs: dict[str, np.ndarray], state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        return np.stack([self.space.sample() for _ in range(len(obs["location"]))]), state


class ValAccuracy(BaseCallback):
    """Every ``every`` env steps, measure :func:`sweep_accuracy` on the first ``images`` val images and keep the
    best model as ``best_model.zip`` (written to a temporary name, then renamed); ``history`` holds
    ``(env steps, accuracy)``. Selection by accuracy, whatever the reward mode (under ``cross_entropy`` the
    mean return is not the accuracy)."""

    def __init__(self, args: Args, run_dir: Path, every: int, images: int) -> None:
        super().__init__()
        self.args, self.run_dir, self.every, self.images = args, run_dir, every, images
        self.history: list[tuple[int, float]] = []
        self.best = -1.0
        self._next = every

    def _evaluate(self) -> None:
        accuracy = sweep_accuracy(self.model, self.args, "val", self.images)
        self.history.append((int(self.num_timesteps), accuracy))
        self.logger.record("eval/val_accuracy", accuracy)
        if accuracy > self.best:
            self.best = accuracy
            self.model.save(self.run_dir / "best_model.tmp.zip")
            (self.run_dir / "best_model.tmp.zip").replace(self.run_dir / "best_model.zip")
        tmp = self.run_dir / "evaluations.csv.tmp"
        tmp.write_text("env_steps,val_accuracy\n" + "".join(f"{n},{a:.4f}\n" for n, a in self.history))
        tmp.replace(self.run_dir / "evaluations.csv")
        print(f"{self.num_timesteps} env steps: val accuracy {accuracy:.4f} (best {self.best:.4f})", flush=True)

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.every
            self._evaluate()
        return True

    def _on_training_end(self) -> None:
        if not self.history or self.history[-1][0] != self.num_timesteps:
            self._evaluate()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, _ = parse(Args, argv, description=__doc__)
    if args.algo not in (*ALGOS, "random"):
        raise SystemExit(f"--algo must be one of {sorted(ALGOS) + ['random']}, got {args.algo!r}")
    if args.actions not in ("continuous", "discrete", "flat") or args.vec not in ("native", "dummy"):
        raise SystemExit("--actions must be continuous|discrete|flat and --vec native|dummy")
    if not 0 < args.location_range <= 1:
        raise SystemExit(f"--location-range must be in (0, 1], got {args.location_range}")
    if args.algo == "sac" and args.actions != "continuous":
        raise SystemExit("--algo sac needs --actions continuous (SAC acts in a Box)")
    if args.use_sde and args.actions != "continuous":
        raise SystemExit("--use-sde needs --actions continuous (gSDE explores a Box)")
    if args.sde_sample_freq == 0 or args.sde_sample_freq < -1:
        raise SystemExit(f"--sde-sample-freq must be -1 (once a rollout) or a positive number of steps, got "
                         f"{args.sde_sample_freq}")
    kl = args.target_kl
    if kl is not None and (args.algo not in ("ppo", "recurrent-ppo") or not 0 < kl < float("inf")):
        raise SystemExit(f"--target-kl must be a finite positive number, with --algo ppo|recurrent-ppo; got {kl} with "
                         f"--algo {args.algo}")
    command = shlex.join([sys.executable, *sys.argv] if argv is None else ["train/sb3_agent.py", *argv])
    if args.test_run is not None:
        return test_run(args, Path(args.test_run), command)

    # -- seeding, run folder, logger ----------------------------------------------------------------
    torch.set_num_threads(args.torch_threads)
    set_random_seed(args.seed)
    run_dir = Path(args.runs_dir) / f"{args.env}__{args.exp_name}-{args.algo}__{args.seed}__{int(time.time())}"
    run_dir.mkdir(parents=True, exist_ok=True)
    logger = configure(str(run_dir), ["csv", "tensorboard"])
    write_json({**asdict(args), "command": command}, run_dir / "args.json")  # what --test-run reads back
    table = "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in asdict(args).items())
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(run_dir)) as writer:
        writer.add_text("hyperparameters", table)
        writer.add_text("command", command)

    # -- envs -----------------------------------------------------------------------------------------
    train_env = make_train_env(args)
    train_env.seed(args.seed)

    # -- the agent --------------------------------------------------------------------------------------
    val_callback = ValAccuracy(args, run_dir, args.eval_every, args.eval_images)
    start = time.time()
    if args.algo == "random":  # no training: the floor
        model: Any = RandomPolicy(train_env, args.seed)
        best = model
        val_callback.history.append((0, sweep_accuracy(model, args, "val", args.eval_images)))
        val_callback.best = val_callback.history[0][1]
    else:
        model = make_model(args, train_env)
        model.set_logger(logger)
        # -- train --------------------------------------------------------------------------------------
        try:
            model.learn(total_timesteps=args.total_timesteps, callback=val_callback, progress_bar=args.progress_bar)
        except KeyboardInterrupt:  # Ctrl-C: keep what was learned, test the val-selected model
            print(f"\nstopped at {model.num_timesteps} env steps; testing the val-selected model", flush=True)
        model.save(run_dir / "final_model")
        best_path = run_dir / "best_model.zip"
        best = ALGOS[args.algo][0].load(best_path, device="cpu") if best_path.exists() else model
    train_seconds = time.time() - start

    # -- test the val-selected model on the whole test split ---------------------------------------------
    results: dict[str, Any] = {
        "command": command,
        "algo": args.algo,
        "env": args.env,
        "env_steps": int(model.num_timesteps),
        "stopped_early": args.algo != "random" and model.num_timesteps < args.total_timesteps,  # Ctrl-C
        "train_wall_clock_s": round(train_seconds, 1),
        "hardware": f"{hardware('cpu')}, torch {torch.__version__}",
        "val_images": args.eval_images,
        "best_val_accuracy": val_callback.best,
        "final_val_accuracy": val_callback.history[-1][1],
        "val_history": val_callback.history,
        "args": asdict(args),
    }
    if args.test:
        results.update(test(best, args))
    write_results(run_dir, results)
    train_env.close()
    return results


def test(model: Any, args: Args) -> dict[str, Any]:
    """Test accuracy and mean return of ``model`` (deterministic) on every test image exactly once."""
    start = time.time()
    accuracy, mean_return = sweep(model, args, "test")
    images = len(gym.make(args.env, split="test").unwrapped.config.labels)
    print(f"test accuracy (val-selected model, {images} images): {accuracy:.4f}")
    return {"test_accuracy": accuracy, "test_mean_return": mean_return, "test_images": images,
            "test_wall_clock_s": round(time.time() - start, 1)}


def write_results(run_dir: Path, results: dict[str, Any]) -> None:
    write_json(results, run_dir / "results.json")
    print(f"results: {run_dir / 'results.json'}")


def test_run(args: Args, run_dir: Path, command: str) -> dict[str, Any]:
    """``--test-run``: test the ``best_model.zip`` of an earlier run folder and write its ``results.json``, with the
    val history of its ``evaluations.csv`` and the env steps and wall-clock of the last line of its ``progress.csv``."""
    paths = [run_dir / name for name in ("best_model.zip", "evaluations.csv", "progress.csv")]
    if missing := [str(path) for path in paths if not path.is_file()]:
        raise SystemExit(f"--test-run {run_dir}: not a run folder of this script, missing {missing}")
    saved = json.loads((run_dir / "args.json").read_text()) if (run_dir / "args.json").is_file() else {}
    # The run's own flags, if saved, as data: never where this machine reads data or whether it downloads (those
    # come from this command), nor where anything is written.
    fields = {f for f in asdict(args) if f not in ("test_run", "torch_threads", "runs_dir")}
    train_command = str(saved.get("command", command))  # the training command where the run saved it
    saved = {k: v for k, v in saved.items() if k in fields}
    if isinstance(saved.get("env_kwargs"), dict):
        saved["env_kwargs"] = {k: v for k, v in saved["env_kwargs"].items() if k not in DATA_SOURCE_KWARGS}
        saved["env_kwargs"].update({k: v for k, v in (args.env_kwargs or {}).items() if k in DATA_SOURCE_KWARGS})
    args = Args(**{**asdict(args), **saved})
    if args.algo not in ALGOS:
        raise SystemExit(f"--test-run needs the --algo the run was trained with, one of {sorted(ALGOS)}")
    torch.set_num_threads(args.torch_threads)
    history = np.loadtxt(paths[1], delimiter=",", skiprows=1, ndmin=2)
    header, *rows = [line for line in paths[2].read_text().splitlines() if line]
    progress = dict(zip(header.split(","), rows[-1].split(",")))  # the last line SB3 logged
    results: dict[str, Any] = {
        "command": train_command,
        "test_command": command,
        "algo": args.algo,
        "env": args.env,
        "env_steps": int(float(progress["time/total_timesteps"])),
        "train_wall_clock_s": float(progress["time/time_elapsed"]),
        "stopped_early": int(float(progress["time/total_timesteps"])) < args.total_timesteps,
        "hardware": f"{hardware('cpu')}, torch {torch.__version__}",
        "val_images": args.eval_images,
        "best_val_accuracy": float(history[:, 1].max()),
        "final_val_accuracy": float(history[-1, 1]),
        "val_history": [(int(n), float(a)) for n, a in history],
        "args": asdict(args),
    }
    results.update(test(ALGOS[args.algo][0].load(paths[0], device="cpu"), args))
    write_results(run_dir, results)
    return results


if __name__ == "__main__":
    main()
