"""What the env costs a RAM training step: samples/s through the env beside the same model on stored glimpses.

    python benchmarks/bench_training.py                        # MNIST 6 glimpses, B=64 x M=5, CPU
    python benchmarks/bench_training.py --device cuda --batch-size 256
    python benchmarks/bench_training.py --run runs/NAME        # also: wall-clock to a val error target
    python benchmarks/bench_training.py --precision bfloat16 --core-type lstm --batch-size 128 --num-samples 4

Both timings are taken in the same process on the same batch shape:

- **env**: the training step of ``train/ram_agent.py``: ``run_episodes`` against the native vector env
  (reset, ``T`` glimpse steps, the retina on every step), ``hybrid_loss``, backward, Adam.
- **model only**: the same model, loss, backward and Adam on glimpses and locations extracted
  beforehand from one env rollout (the per-step location head evaluated as in the rollout), so the
  only thing missing is the env.

The ratio env / model-only is the share of the model-only speed that training keeps (1.0: the env is
free). With ``--precision bfloat16`` both run the glimpse network and core under bfloat16 autocast (as
``train/ram_agent.py --precision bfloat16``), and the float32 training step through the env is timed too, as
the baseline of the speed-up. A sample is one episode (one image seen along one location path). With
``--run``, it also prints the wall-clock at which that run's val error (``--metric``: deterministic, or mc) first
reached ``--target``.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import gymnasium as gym
import torch

import ram_env  # noqa: F401  (registers the env ids)
from agents.ram import RAM, EpisodeBatch, RAMConfig, hybrid_loss, run_episodes


def model_only_episodes(model: RAM, glimpses: torch.Tensor, where: torch.Tensor, stored: EpisodeBatch) -> EpisodeBatch:
    """``run_episodes`` without the env: the model reads glimpses ``(T, N, G)`` seen at ``where`` ``(T, N, 2)``."""
    state = model.initial_state(glimpses.shape[1], glimpses.device)
    features = []
    for t in range(glimpses.shape[0]):
        state, h = model.step(glimpses[t], where[t], state)
        features.append(h)
        with torch.no_grad():  # the rollout's location head (and its sample) on every step but the last
            if t < glimpses.shape[0] - 1:
                mean, std = model.location_policy(h)
                _ = mean + std * torch.randn_like(mean)
            else:
                _ = model.classifier(h)
    return EpisodeBatch(torch.stack(features, 1), stored.locations, stored.reward, stored.label, stored.index,
                        stored.num_samples)


def record_glimpses(model: RAM, envs, index: torch.Tensor, num_samples: int) -> tuple[torch.Tensor, torch.Tensor,
                                                                                        EpisodeBatch]:
    """One env rollout whose observations are kept: glimpses ``(T, N, G)``, locations ``(T, N, 2)``."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    step, reset = envs.step, envs.reset

    def keep(result):
        seen.append((result[0]["glimpse"].clone(), result[0]["location"].clone()))
        return result

    envs.reset = lambda *a, **k: keep(reset(*a, **k))
    envs.step = lambda *a, **k: keep(step(*a, **k))
    try:
        with torch.no_grad():
            stored = run_episodes(model, envs, index, num_samples)
    finally:
        envs.reset, envs.step = reset, step
    seen = seen[:-1]  # the observation after the last step is not read by the model
    return torch.stack([g for g, _ in seen]), torch.stack([w for _, w in seen]), stored


def time_to_target(run: Path, target: float, metric: str = "deterministic") -> str:
    """When ``run``'s val error (``metric``: "deterministic", the mean path, or "mc", the Monte Carlo average) first
    reached ``target``, from its progress.csv."""
    columns = {"deterministic": "charts/val_error", "mc": "charts/val_error_mc"}
    if metric not in columns:
        raise ValueError(f"metric must be one of {sorted(columns)}, got {metric!r}")
    column = columns[metric]
    with open(run / "progress.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row.get(column) and float(row[column]) <= target:
                return (f"{run}: {metric} val error {100 * float(row[column]):.2f} % <= {100 * target:.2f} % "
                        f"at step {row['step']}, {float(row['wall_time']) / 60:.1f} min of wall-clock")
    return f"{run}: {metric} val error never reached {100 * target:.2f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", default="GlimpseMNIST-v0", help="glimpse env id")
    parser.add_argument("--num-glimpses", type=int, default=6, help="glimpses per episode, T")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step, B")
    parser.add_argument("--num-samples", type=int, default=5, help="location paths per image, M")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternating measurements of each; the best counts")
    parser.add_argument("--core-type", default="rnn", choices=["rnn", "lstm", "gru"], help="recurrent core")
    parser.add_argument("--conv-glimpse", action="store_true", help="convolutional glimpse network")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                        help="arithmetic of the glimpse network and core (autocast)")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    parser.add_argument("--run", type=Path, default=None, help="a run folder: report its wall-clock to --target")
    parser.add_argument("--target", type=float, default=0.0067, help="val error target for --run")
    parser.add_argument("--metric", default="deterministic", choices=["deterministic", "mc"],
                        help="which val error of --run to hold to --target")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    n = args.batch_size * args.num_samples
    envs = gym.make_vec(args.env_id, num_envs=n, split="train", device=device, autoreset_mode="disabled",
                        num_glimpses=args.num_glimpses)
    model = RAM(RAMConfig.from_env(envs, core_type=args.core_type, conv_glimpse=args.conv_glimpse)).to(device)
    dtype = torch.bfloat16 if args.precision == "bfloat16" else None
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    permutation = torch.randperm(int(envs.num_images)).to(device)
    glimpses, where, stored = record_glimpses(model, envs, permutation[: args.batch_size], args.num_samples)

    def update(episodes: EpisodeBatch) -> None:
        losses = hybrid_loss(model, episodes)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()

    def env_steps(i: int) -> None:
        update(run_episodes(model, envs, permutation[(i * args.batch_size) % 50_000:][: args.batch_size],
                            args.num_samples))

    def model_steps(_: int) -> None:
        update(model_only_episodes(model, glimpses, where, stored))

    def rate(fn) -> float:
        for i in range(5):  # warm-up
            fn(i)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(args.steps):
            fn(i)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return args.steps * n / (time.perf_counter() - start)

    def at_precision(fn, precision: torch.dtype | None):
        def timed(i: int) -> None:
            model.compute_dtype = precision
            fn(i)
        return timed

    env_rate, model_rate, float32_rate = 0.0, 0.0, 0.0
    for _ in range(args.repeats):
        env_rate = max(env_rate, rate(at_precision(env_steps, dtype)))
        model_rate = max(model_rate, rate(at_precision(model_steps, dtype)))
        if dtype is not None:
            float32_rate = max(float32_rate, rate(at_precision(env_steps, None)))
    glimpse_net = "conv glimpse net" if args.conv_glimpse else "linear glimpse net"
    print(f"{args.env_id} T={args.num_glimpses}, B={args.batch_size} x M={args.num_samples} = {n} episodes per step, "
          f"{args.core_type} core, {glimpse_net}, {args.precision}, {device} ({torch.get_num_threads()} threads), "
          f"torch {torch.__version__}")
    print(f"  training through the env      {env_rate:10.0f} samples/s")
    print(f"  model only (stored glimpses)  {model_rate:10.0f} samples/s")
    print(f"  ratio env / model only        {env_rate / model_rate:10.2f}")
    if dtype is not None:
        print(f"  float32 through the env       {float32_rate:10.0f} samples/s")
        print(f"  ratio {args.precision} / float32       {env_rate / float32_rate:10.2f}")
    if args.run is not None:
        print(time_to_target(args.run, args.target, args.metric))


if __name__ == "__main__":
    main()
