"""Train the recurrent attention model (RAM, Mnih et al. 2014) against the glimpse vector env.

    python train/ram_agent.py                          # the MNIST 6-glimpse preset, best device (installed: ram-train)
    python train/ram_agent.py --preset mnist-2g --epochs 5 --name quick
    python train/ram_agent.py --resume                 # continue the latest interrupted run as it was started
    torchrun --nproc_per_node 2 train/ram_agent.py --preset mnist-6g   # DDP: gloo on CPU, nccl on GPUs

Everything a run writes goes to ``runs/<name>/``: ``events.*`` (TensorBoard), ``progress.csv``,
``latest.pt`` and ``best.pt`` (policies, ``RAMPolicy.load``-able; best by val error),
``latest_state.pt`` (optimizer, step, ... for ``--resume``), ``glimpses.png`` / ``episode.gif`` (val
images, refreshed at each validation) and at the end ``test_results.json``. Model selection uses the
``val`` split only; the test split is touched once, at the end, with the best checkpoint. While a process runs
it, the folder is locked (``.lock``): a second ``--resume`` of a live run is refused. The first line says where the
run writes and about how long it will take (timed on two training steps of this machine); Ctrl-C stops at the end of
the current step, saves, and prints the command that resumes.

Under ``torchrun`` every process trains its own shard with DistributedDataParallel: ``--batch-size``
images per process, so the effective batch is ``batch_size * nproc`` images (times ``num_samples``
paths, plus one with ``--mean-path``), at the same ``--learning-rate`` and the same steps per epoch
divided by ``nproc``. Every rank draws the same epoch permutation and takes its own slice of each
global batch, and seeds its env resets and location noise from its own stream; gradients are averaged
by DDP, the logged metrics over ranks. Only rank 0 writes logs, checkpoints and figures, and only rank 0 validates and
tests. ``--resume`` works the same way (every rank loads the checkpoint).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import math
import os
import random
import shlex
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import ram_env  # noqa: F401  (registers the env ids)
from agents.distill import load_teacher, soften, teacher_targets
from agents.image_teacher import ImageTeacher
from agents.loss import unknown_class_weight
from agents.policy import load_torch_file, resolve_checkpoint
from agents.ram import (
    NETWORK_FIELDS,
    POLICY_REWARDS,
    RAM,
    WIDENABLE,
    EpisodeObjective,
    RAMConfig,
    RAMPolicy,
    evaluate,
    load_widened,
    substream_seed,
)
from agents.rollout import check_terminal_reward
from ram_env.config import DATA_SOURCE_KWARGS, TRAINING_ONLY_KWARGS
from ram_train.artifacts import atomic_path, atomic_torch_save, hardware, save_glimpse_figures, write_json
from ram_train.cli import parse
from ram_train.distributed import exit_process, setup
from ram_train.evaluate import open_set_report
from ram_train.presets import DEFAULT_PRESET, PRESETS

try:
    import fcntl  # the run folder's lock (POSIX)
except ImportError:  # Windows: runs are not locked
    fcntl = None


@dataclass
class Args:
    preset: str = DEFAULT_PRESET
    """Row of the results table to start from (train/presets.py); flags given explicitly override it."""
    env_id: str = "GlimpseMNIST-v0"
    """Gymnasium id of the glimpse env."""
    env_kwargs: dict = field(default_factory=dict)
    """Keyword arguments of the env as a JSON object, e.g. '{"num_glimpses": 4}' (merged over the preset's)."""
    epochs: int = 30
    """Passes over the training split."""
    max_steps: int = 0
    """Stop after this many optimizer steps in total (0: run all epochs); the schedule still spans the epochs."""
    batch_size: int = 64
    """Images per optimizer step, B."""
    num_samples: int = 5
    """Monte Carlo location paths per image, M (the env runs B * M episodes per step, B * (M + 1) with --mean-path)."""
    learning_rate: float = 1e-3
    """Adam's learning rate at the start of the schedule."""
    lr_schedule: str = "cosine"
    """Learning-rate schedule over the run: "cosine" (to min_lr_fraction), "step" (x0.1 at 50 % and 75 %),
    or "constant"."""
    min_lr_fraction: float = 0.01
    """Final learning rate of the cosine schedule, as a fraction of learning_rate."""
    warmup_steps: int = 100
    """Steps of linear learning-rate warm-up at the start."""
    location_std: float = 0.1
    """Standard deviation of the Gaussian location policy ([-1, 1] spans the image)."""
    learn_std: bool = False
    """Learn the location std (one per axis, the same for every state) by REINFORCE, starting from --location-std
    (with --init-from a file that learned its std: from the file's); without it the std stays at --location-std."""
    tanh_mean: bool = True
    """Squash the policy's mean location into (-1, 1) with tanh; --no-tanh-mean: a linear mean, which the env clips
    to [-1, 1]."""
    core_type: str = "rnn"
    """Recurrent core: "rnn" (as in the paper), "lstm" or "gru"."""
    core_hidden: int = 256
    """Units of the recurrent core."""
    conv_glimpse: bool = False
    """Small convolutional network for the glimpse "what" branch instead of one linear layer."""
    conv_channels: int = 0
    """Channels of the conv "what" branch's first 3x3 convolution; the second has twice as many (0: 32, or with
    --init-from the file's). Wider than the --init-from file: the file starts the wider network, which computes what
    the file did until training moves the new units' zero outgoing weights."""
    glimpse_hidden: int = 0
    """Units of each of the glimpse network's "what" and "where" branches (0: 128, or with --init-from the file's).
    Wider than the --init-from file: as --conv-channels."""
    dropout: float = 0.0
    """Dropout on the glimpse features and the core output during training (0: none)."""
    reinforce_weight: float = 1.0
    """λ, the weight of the REINFORCE term in the hybrid loss."""
    reinforce_into_core: bool = False
    """Let REINFORCE's gradient into the core and the glimpse network as well, as the paper trains them (default: it
    trains the location head only, and cross-entropy the glimpse network, core and classifier)."""
    consistency_weight: float = 0.0
    """Weight of the path-consistency term: each of an image's M location paths is pulled towards their mean class
    distribution, so that a single path predicts what the MC ensemble does (0: off, the paper's loss; needs M >= 2)."""
    mean_path: bool = False
    """Also train the path that follows the policy's mean (the one deterministic evaluation takes), one more episode
    per image beside the M sampled paths: cross-entropy and the consistency term, no REINFORCE."""
    teacher: str = ""
    """Distil from this file (knowledge distillation; a path, or a shipped name: cifar10-4g-conv, teachers/cifar10):
    a policy file, whose class distribution of each training image is averaged over --teacher-samples location paths,
    or an image classifier that sees the whole image (train/image_teacher.py). Each image's distribution, seen without
    the training augmentation and softened by --teacher-temperature, is a soft target each path's classifier is also
    pulled towards (KL divergence), weighted by --distill-weight. The teacher must have learned this run's task (its
    env but for the number of glimpses and the augmentation; an image teacher's also but for the retina's initial
    location, glimpse size and scales); its network may differ. Computed at the start of a run
    and kept in output_dir/.teacher-targets/ (by the sha256 of the file and the training images, and
    --teacher-samples) for the next run with that teacher on that data, before the temperature."""
    distill_weight: float = 1.0
    """Weight of the distillation term with --teacher (ignored without it)."""
    teacher_samples: int = 10
    """Location paths per training image that a policy --teacher's class distribution is averaged over."""
    teacher_temperature: float = 1.0
    """Temperature T of the --teacher's targets: each distribution q becomes q^(1/T) renormalised (the softmax of its
    logits over T; T > 1 flattens a confident teacher's targets, as Hinton et al.'s distillation does; 1: as they
    are)."""
    policy_reward: str = "env"
    """The return REINFORCE and the baseline learn from: "env", the env's reward (1 for the right class, else 0; the
    paper's), or "probability", the classifier's probability of the label after the path (still ranks the paths
    when nearly all are classified right)."""
    unknown_weight: float = 1.0
    """Open-set tasks only (GlimpseOmniglotOpenSet-v0): weight of the "unknown" class in the cross-entropy, each known
    character's being 1; the cross-entropy is then the weighted mean over a batch's images. Below 1 it makes up for the
    unknown class's share of the training images (36 %, against 12 images a known character), which otherwise holds
    the classifier at "unknown" always; on the small set it taught the characters faster but named more unknown
    images as characters, for less reward (docs/results.md). 1: off, the plain cross-entropy; must be > 0."""
    select_by: str = "error"
    """What chooses best.pt at each validation: "error", the val error of the deterministic episodes, or "reward"
    (open-set tasks only), their mean terminal reward on val (+1 right, 0 wrong, -1 an unknown image named as a known
    character: the task's own score, which an error rate does not see the -1 of). Open-set runs log the val reward
    (charts/val_reward) either way."""
    random_locations: bool = False
    """The random-glimpse control: look at uniformly random locations (train and evaluation); no REINFORCE."""
    ema_decay: float = 0.0
    """Validate, select and save an exponential moving average of the weights, updated after every optimizer step with
    this decay (e.g. 0.999: about the last 1,000 steps, once the run is that long, for it starts at the first step's
    weights; 0: off, the weights as trained). The log's val_error is then the average's and val_error_raw the trained
    weights'; best.pt and latest.pt hold the average."""
    grad_clip: float = 0.0
    """Clip the gradient's global norm to this (0: no clipping)."""
    precision: str = "auto"
    """Arithmetic of the glimpse network and core in training steps: "auto" (bfloat16 on CUDA and on CPUs that compute
    it natively, AVX-512 BF16 or AMX; float32 elsewhere), "float32", or "bfloat16" (autocast). Measured on 2-core
    CPUs with bfloat16 units (docs/benchmarks.md): 1.1-1.7x the samples/s of float32, more for larger batches, and
    mnist-2g's test error unchanged (5.71 % both); on a CPU without them, e.g. AVX2 only, it is emulated and 15-20x
    slower (the run warns). Validation, checkpoints and the final evaluation are float32 either way."""
    device: str = "auto"
    """Torch device: "auto" (CUDA if available, else CPU), "cpu", "cuda", "cuda:1", ..."""
    threads: int = 1
    """CPU threads for torch (0: torch's default). One is the safe choice on a shared 2-core machine: with other jobs
    running, two threads gave 0.43x the samples/s of one; on an idle machine two give about 1.2x."""
    seed: int = 1
    """Seed of python, numpy and torch, the epoch permutations, the location noise and the env resets."""
    output_dir: str = "runs"
    """Folder that holds one sub-folder per run."""
    name: str = ""
    """Run name, the sub-folder of output_dir (default: <preset>__<seed>__<unix time>)."""
    init_from: str = ""
    """Start from the weights of this policy file (e.g. another run's best.pt) with a fresh optimizer and schedule:
    a second training stage. The file's network replaces the network flags (core type and width, conv glimpse net,
    tanh mean; only --conv-channels and --glimpse-hidden may widen it); how it trains (location std, λ,
    consistency, mean path, policy reward, dropout, ...) follows this run's flags; --random-locations must agree with
    the file. Its env must be this run's but for the number of glimpses and the training-only augmentation, which
    the weights do not depend on."""
    resume: bool = False
    """Continue the run `name` from its latest checkpoint (output_dir/name/latest_state.pt); without --name, the run
    in output_dir whose checkpoint is the newest."""
    checkpoint_every: int = 200
    """Optimizer steps between checkpoints (also written at each validation)."""
    val_every: int = 0
    """Optimizer steps between validations (0: once per epoch); always one at the end."""
    val_images: int = 0
    """Validation images to use (0: the whole val split, 5,000 for MNIST)."""
    val_samples: int = 10
    """Monte Carlo paths per image for the MC val error."""
    test_images: int = 0
    """Test images for the final evaluation (0: the whole test split, 10,000 for MNIST)."""
    test_samples: int = 10
    """Monte Carlo paths per image for the final MC test error."""
    log_every: int = 50
    """Optimizer steps between log rows (TensorBoard and CSV), averaged over the steps since the last."""
    figures: bool = True
    """Draw glimpses.png and episode.gif of val images at each validation."""
    progress_bar: bool = True
    """Show a tqdm progress bar."""
    debug_nan_step: int = 0
    """Testing aid: make the loss NaN at this step (0: never) to exercise the NaN stop."""


PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}
"""--precision -> RAM.compute_dtype during training steps ("auto" picks one of these: :func:`auto_precision`)."""

SELECT_BY = ("error", "reward")
"""--select-by: the val figure best.pt is chosen by (the lowest error, or the highest mean reward)."""

RESUME_MAY_CHANGE = frozenset({"resume", "name", "output_dir", "device", "threads", "max_steps", "checkpoint_every",
                               "log_every", "figures", "progress_bar", "debug_nan_step"})
"""The fields ``--resume`` takes from the command line; every other one continues as the run was started."""

COUNT_BOUNDS = (
    ("epochs", 1, "passes over the training split"),
    ("max_steps", 0, "0: run all epochs"),
    ("batch_size", 1, "images per step"),
    ("core_hidden", 1, "units of the core"),
    ("warmup_steps", 0, "0: no warm-up"),
    ("threads", 0, "0: torch's default"),
    ("checkpoint_every", 1, "steps between checkpoints"),
    ("val_every", 0, "0: once per epoch"),
    ("val_images", 0, "0: the whole val split"),
    ("val_samples", 1, "paths per image"),
    ("test_images", 0, "0: the whole test split"),
    ("test_samples", 1, "paths per image"),
    ("log_every", 1, "steps between log rows"),
    ("debug_nan_step", 0, "0: never"),
)
"""Integer flags and their least value: below it a run would do something else than asked (a full run for a
negative --max-steps, a validation after every step for a negative --val-every) or fail late."""
NUMBER_BOUNDS: dict[str, tuple[str, Any]] = {
    "learning_rate": ("> 0", lambda v: v > 0),
    "min_lr_fraction": ("in [0, 1] (a fraction of --learning-rate)", lambda v: 0 <= v <= 1),
    "location_std": ("> 0 (a standard deviation)", lambda v: v > 0),
    "dropout": ("in [0, 1) (the probability of dropping a unit)", lambda v: 0 <= v < 1),
    "reinforce_weight": (">= 0", lambda v: v >= 0),
    "consistency_weight": (">= 0 (0: off)", lambda v: v >= 0),
    "grad_clip": (">= 0 (0: no clipping)", lambda v: v >= 0),
    "unknown_weight": ("> 0 (1: unweighted; 0 would never teach \"unknown\")", lambda v: v > 0),
}
"""Real-valued flags: what they must be (besides finite), in words and as a test."""

LOSS_TERMS = ("loss", "cross_entropy", "baseline_mse", "reinforce", "consistency", "distillation")
"""The terms of :func:`agents.loss.hybrid_loss` logged as ``losses/<term>``."""
# The log's columns, in order; val columns are empty on rows without a validation.
CSV_FIELDS = ["step", "epoch", "wall_time", *(f"losses/{term}" for term in LOSS_TERMS), "charts/train_accuracy",
              "charts/advantage_std", "charts/learning_rate", "charts/samples_per_s", "charts/val_error",
              "charts/val_error_mc", "charts/val_error_raw", "charts/val_reward"]


def resolve_args(argv: list[str] | None = None) -> Args:
    """Parse the command line, fill in what was not given from the preset, check the values."""
    args, given = parse(Args, argv, description=__doc__, preset=(DEFAULT_PRESET, PRESETS[DEFAULT_PRESET]))
    if args.preset not in PRESETS:
        raise SystemExit(f"--preset must be one of {sorted(PRESETS)}, got {args.preset!r}")
    for key, value in PRESETS[args.preset].items():
        if key == "env_kwargs":
            args.env_kwargs = {**value, **(args.env_kwargs if "env_kwargs" in given else {})}
        elif key not in given:
            setattr(args, key, value)
    if args.random_locations:  # the control of a preset that trains its policy into the core: no policy to train
        for flag in ("learn_std", "reinforce_into_core"):
            if flag not in given:
                setattr(args, flag, False)
    if args.resume:
        if not args.name:
            args.name = latest_run(Path(args.output_dir))
        restore_run_args(args, given)
    if args.num_samples < 1:
        raise SystemExit(f"--num-samples must be at least 1 (REINFORCE learns from the sampled paths), "
                         f"got {args.num_samples}")
    for name, minimum, meaning in COUNT_BOUNDS:
        if getattr(args, name) < minimum:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least {minimum} ({meaning}), "
                             f"got {getattr(args, name)}")
    for name, (bound, holds) in NUMBER_BOUNDS.items():
        if not (math.isfinite(getattr(args, name)) and holds(getattr(args, name))):
            raise SystemExit(f"--{name.replace('_', '-')} must be a finite number {bound}, got {getattr(args, name)}")
    for name in WIDENABLE:
        if getattr(args, name) < 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be a positive width, or 0 for the default (or the "
                             f"--init-from file's), got {getattr(args, name)}")
    if args.lr_schedule not in ("cosine", "step", "constant"):
        raise SystemExit(f"--lr-schedule must be cosine, step or constant, got {args.lr_schedule!r}")
    if args.consistency_weight > 0 and args.num_samples + args.mean_path < 2:
        raise SystemExit(f"--consistency-weight {args.consistency_weight} needs two paths per image to agree with "
                         f"each other (--num-samples >= 2, or --mean-path), got --num-samples {args.num_samples}")
    if not (math.isfinite(args.distill_weight) and args.distill_weight >= 0):
        raise SystemExit(f"--distill-weight must be a non-negative number, got {args.distill_weight}")
    if args.teacher_samples < 1:
        raise SystemExit(f"--teacher-samples must be at least 1, got {args.teacher_samples}")
    if not (math.isfinite(args.teacher_temperature) and args.teacher_temperature > 0):
        raise SystemExit(f"--teacher-temperature must be a positive number (1: the targets as they are), got "
                         f"{args.teacher_temperature}")
    if args.mean_path and args.random_locations:
        raise SystemExit("--mean-path follows the policy's mean; --random-locations has no policy to follow")
    for flag in ("learn_std", "reinforce_into_core"):
        if getattr(args, flag) and args.random_locations:
            raise SystemExit(f"--{flag.replace('_', '-')} trains the location policy; --random-locations has no "
                             "policy and no REINFORCE")
    if not 0 <= args.ema_decay < 1:
        raise SystemExit(f"--ema-decay must be in [0, 1) (0: no averaging; 0.999 averages about the last 1,000 "
                         f"steps), got {args.ema_decay}")
    if args.policy_reward not in POLICY_REWARDS:
        raise SystemExit(f"--policy-reward must be one of {list(POLICY_REWARDS)}, got {args.policy_reward!r}")
    if args.select_by not in SELECT_BY:
        raise SystemExit(f"--select-by must be one of {list(SELECT_BY)}, got {args.select_by!r}")
    try:
        check_terminal_reward(args.env_kwargs.get("reward_mode", "terminal"))
    except ValueError as error:
        raise SystemExit(f"--env-kwargs: {error}") from None
    if args.precision not in ("auto", *PRECISIONS):
        raise SystemExit(f"--precision must be one of {sorted(('auto', *PRECISIONS))}, got {args.precision!r}")
    if not args.name:
        args.name = f"{args.preset}__{args.seed}__{int(time.time())}"
    return args


def describe_best(args: Args, best_val: float) -> str:
    """The best val figure in words: the error, or with ``--select-by reward`` the mean reward (``best_val`` holds
    1 - it, so that lower is better either way)."""
    return f"reward {1 - best_val:.4f}" if args.select_by == "reward" else f"error {100 * best_val:.2f} %"


def latest_run(output_dir: Path) -> str:
    """``--resume`` without ``--name``: the run in ``output_dir`` whose ``latest_state.pt`` is the newest."""
    states = sorted(output_dir.glob("*/latest_state.pt"), key=lambda p: p.stat().st_mtime)
    if not states:
        raise SystemExit(f"--resume: no run to continue in {output_dir}/ (none has a latest_state.pt); pass --name "
                         "and --output-dir of the run")
    print(f"--resume: continuing {states[-1].parent}, the latest run in {output_dir}/")
    return states[-1].parent.name


def auto_precision(precision: str, device: torch.device) -> str:
    """``--precision auto``: "bfloat16" on CUDA devices that support it and on CPUs with native bfloat16
    (:func:`cpu_has_bfloat16`), "float32" elsewhere; any other value as it is."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    return "bfloat16" if device.type == "cpu" and cpu_has_bfloat16(default=False) else "float32"


def resume_command(args: Args) -> str:
    """The command that continues this run, as this process was started (script, console script or ``-m``)."""
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if Path(sys.argv[0]).name == "ram-train":
        start = ["ram-train"]
    elif main_spec is not None and main_spec.name == "ram_train.ram_agent":
        start = ["python", "-m", "ram_train.ram_agent"]
    else:
        start = ["python", sys.argv[0]]
    where = [] if args.output_dir == "runs" else ["--output-dir", args.output_dir]
    return shlex.join([*start, *where, "--name", args.name, "--resume"])


def duration(seconds: float) -> str:
    """``seconds`` in words a person plans by: "40 s", "12 min", "2.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class StopRequest:
    """Ctrl-C (SIGINT) during the loop asks the run to stop at the end of the current step, where the checkpoint is
    consistent; a second Ctrl-C interrupts at once. Only the main thread can install it (elsewhere it does nothing)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this step (Ctrl-C again: at once, without saving)", file=sys.stderr)

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def expected_seconds(args: Args, objective: Any, envs: Any, device: torch.device, precision: str, steps: int,
                     val_images: int, validations: int) -> float | None:
    """About how long ``steps`` training steps and ``validations`` validations will take here, from the fastest of
    three timed training steps (after two untimed: the first steps are slow); the model, its gradients and every
    random stream are left as they were. None for a run of under 50 steps (the probe would be a large part of it)."""
    if steps < 50:
        return None
    saved = {k: v.clone() for k, v in objective.model.state_dict().items()}
    index = torch.arange(args.batch_size, device=device)
    times = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        objective.model.compute_dtype = PRECISIONS[precision]
        try:
            for i in range(5):
                start = time.time()
                losses = objective(envs, index, args.num_samples, seed=i,
                                   generator=torch.Generator(device=device).manual_seed(i))
                losses["loss"].backward()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times.append(time.time() - start)
        finally:
            objective.model.compute_dtype = None
            objective.model.zero_grad(set_to_none=True)
            objective.model.load_state_dict(saved)
    step_s = min(times[2:])
    episodes_per_step = args.batch_size * (args.num_samples + args.mean_path)
    # A validation: val_images x (M sampled + 1 deterministic) episodes forward only, about a third of a training
    # episode's forward and backward each; the final test likewise.
    test_images = args.test_images or 2 * val_images  # (the whole test split: twice val's 5,000 for MNIST)
    eval_episodes = validations * val_images * (args.val_samples + 1) + test_images * (args.test_samples + 1)
    return steps * step_s + eval_episodes * step_s / episodes_per_step / 3


def restore_run_args(args: Args, given: set[str]) -> None:
    """``--resume``: take the interrupted run's settings from its checkpoint (all but :data:`RESUME_MAY_CHANGE`), so
    ``--name X --resume`` continues it as it was started; a flag given now that disagrees with the run is refused."""
    state_path = Path(args.output_dir) / args.name / "latest_state.pt"
    if not state_path.exists():
        return  # main() says there is nothing to resume
    fields = {f.name for f in dataclasses.fields(Args)} - RESUME_MAY_CHANGE
    # A field the checkpoint lacks is newer than the run, which ran with that field's default (no --ema-decay, ...).
    defaults = Args()
    saved = {**{f: getattr(defaults, f) for f in fields}, **read_state(state_path)["args"]}
    differ = sorted(f for f in fields & given if saved[f] != getattr(args, f))
    if differ:
        was = ", ".join(f"--{f.replace('_', '-')} {saved[f]!r}" for f in differ)
        raise SystemExit(f"--resume continues {state_path.parent} as it was started ({was}); drop those flags, or "
                         f"start a new run (--init-from {state_path.parent}/best.pt) to change them")
    for name in fields:
        setattr(args, name, saved[name])


def read_state(state_path: Path) -> dict[str, Any]:
    """A run's ``latest_state.pt`` (``weights_only=True``), or SystemExit saying why it cannot be read."""
    try:
        saved = load_torch_file(state_path, "a training-state (latest_state.pt)")
    except ValueError as error:
        raise SystemExit(f"--resume: {error}. The policies beside it (latest.pt, best.pt) can start a new run with "
                         "--init-from") from None
    if not isinstance(saved, dict) or not {"args", "step", "model", "optimizer"} <= set(saved):
        raise SystemExit(f"--resume: {state_path} is not a training state written by this script")
    return saved


def learning_rate(args: Args, step: int, total_steps: int) -> float:
    """The schedule as a pure function of the step, so a resumed run needs no scheduler state."""
    warmup = min(1.0, (step + 1) / args.warmup_steps) if args.warmup_steps > 0 else 1.0
    progress = min(1.0, step / max(total_steps, 1))
    if args.lr_schedule == "cosine":
        low = args.min_lr_fraction
        factor = low + (1 - low) * 0.5 * (1 + math.cos(math.pi * progress))
    elif args.lr_schedule == "step":
        factor = 0.1 ** ((progress >= 0.5) + (progress >= 0.75))
    else:
        factor = 1.0
    return args.learning_rate * warmup * factor


def eval_envs(args: Args, split: str, images: int, samples: int, device: torch.device) -> Any:
    """A vector env over ``split`` sized for :func:`agents.rollout.evaluate` (a multiple of ``samples``)."""
    per_batch = max(1, min(100, images))  # images per MC batch
    return gym.make_vec(args.env_id, num_envs=per_batch * samples, split=split, device=device,
                        autoreset_mode="disabled", **args.env_kwargs)


def load_same_task(args: Args, flag: str, path: str, device: torch.device) -> Any:
    """The file of ``flag`` (--init-from: a policy; --teacher: a policy or an image teacher), refused unless it was
    trained on this run's task: the same env id and kwargs but for the number of glimpses and the training-only
    augmentation (and, for an image teacher, the retina's kwargs: it never glimpses)."""
    try:
        policy = load_teacher(path, device) if flag == "--teacher" else RAMPolicy.load(path, device=device)
    except ValueError as error:  # another kind of file
        raise SystemExit(f"{flag}: {error}") from None
    transferable = TRAINING_ONLY_KWARGS | {"num_glimpses"}  # the weights fit any number of glimpses
    if isinstance(policy, ImageTeacher):  # it sees whole images: how the retina looks at them is not its task
        transferable |= {"initial_location", "glimpse_size", "num_scales"}
    ignored = transferable | DATA_SOURCE_KWARGS  # and where this machine reads the data, which a file never says
    same = [{k: v for k, v in kwargs.items() if k not in ignored}
            for kwargs in (policy.env_kwargs, args.env_kwargs)]
    if policy.env_id != args.env_id or same[0] != same[1]:
        raise SystemExit(f"{flag} {path} was trained on {policy.env_id} {policy.env_kwargs}, not {args.env_id} "
                         f"{args.env_kwargs} (only {sorted(transferable)}, which the weights do not depend on, may "
                         "differ)")
    return policy


def rng_state() -> dict[str, Any]:
    """Every global RNG's state as tensors and plain lists (what ``torch.load(weights_only=True)`` reads)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "python": [py_version, list(py_state), py_gauss]}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved, loaded onto the CPU (the generators take their states as CPU byte
    tensors). A run resumed on fewer GPUs than it saved restores the ones there are; one resumed on CPU leaves
    CUDA's alone."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        for index, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    py_version, py_state, py_gauss = state["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))


def cpu_has_bfloat16(default: bool = True) -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX); ``default`` where torch cannot tell."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return default


def lock_run_dir(run_dir: Path, held: contextlib.ExitStack) -> str | None:
    """Take ``run_dir/.lock`` (an exclusive ``flock``) until ``held`` closes, so that a second process (a ``--resume``
    of a live run, a run of the same name) cannot write into the run at the same time. Returns why not, or None.
    The kernel drops the lock when the process ends however it ends, so a killed run never leaves its folder locked.
    Where ``fcntl`` is missing (Windows), nothing is locked."""
    if fcntl is None:
        return None
    handle = held.enter_context(open(run_dir / ".lock", "a+"))
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        return (f"{run_dir} is in use by a live run ({owner}): wait for it to end, or stop it, before --resume; "
                "two processes writing one run would lose each other's logs and checkpoints")
    held.callback(fcntl.flock, handle, fcntl.LOCK_UN)
    handle.truncate(0)
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    handle.flush()
    return None


def teacher_soft_targets(args: Args, envs: Any, num_train: int, device: torch.device, main_rank: bool) -> torch.Tensor:
    """``--teacher``: its class distribution of every training image, softened by ``--teacher-temperature``, cached
    under ``output_dir/.teacher-targets`` by the file's and the images' content. Every rank computes the same
    targets (seeded), so no broadcast is needed."""
    teacher = load_same_task(args, "--teacher", args.teacher, device)
    # Kept by the file's and the training images' content and the path count: the runs of one teacher on one
    # dataset compute its targets once (the JPEG copy of CIFAR-10 and the official files give different ones).
    key = hashlib.sha256(resolve_checkpoint(args.teacher).read_bytes())
    key.update(np.ascontiguousarray(envs.config.images).data)
    image_teacher = isinstance(teacher, ImageTeacher)  # sees the whole image: one distribution, no paths
    kind = "image" if image_teacher else f"{args.teacher_samples}-paths"
    cache = Path(args.output_dir) / ".teacher-targets" / f"{key.hexdigest()[:16]}-{kind}.pt"
    soft_targets = None
    if cache.exists():
        try:
            soft_targets = load_torch_file(cache, "a teacher-targets cache", device)
            if not (isinstance(soft_targets, torch.Tensor) and soft_targets.dim() == 2):
                raise ValueError(f"{cache} does not hold one class distribution per training image")
        except ValueError as error:  # a damaged cache is computed again (and replaced)
            print(f"warning: {error}; computing the targets again", file=sys.stderr)
            soft_targets = None
    cached = soft_targets is not None
    if not cached:
        data_source = {k: v for k, v in args.env_kwargs.items() if k in DATA_SOURCE_KWARGS}  # this run's data
        soft_targets = teacher_targets(teacher, "train", args.teacher_samples, **data_source)
    if soft_targets.shape[0] != num_train:
        raise SystemExit(f"--teacher {args.teacher}: {soft_targets.shape[0]} training images"
                         f"{f' in {cache}' if cached else ''}, this run has {num_train}")
    if main_rank:
        if not cached:
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_torch_save(soft_targets.cpu(), cache)
    soft_targets = soften(soft_targets, args.teacher_temperature)
    if main_rank:
        seen = "the whole image" if image_teacher else f"{args.teacher_samples} paths each"
        print(f"teacher {args.teacher}: class distributions of {num_train} training images ({seen}, temperature "
              f"{args.teacher_temperature:g}; mean top probability {soft_targets.max(-1).values.mean():.3f}"
              f"{'; read from ' + str(cache) if cached else ''})")
    return soft_targets


def main(argv: list[str] | None = None) -> None:
    """Train as the command line (``argv``, default ``sys.argv[1:]``) says; see the module docstring.

    Under ``torchrun`` the process ends here, by :func:`~ram_train.distributed.exit_process` (gloo's threads).
    """
    try:
        with contextlib.ExitStack() as held:  # the run folder's lock, released however the run ends
            train(resolve_args(argv), argv, held)
    except SystemExit as stop:  # a refusal, Ctrl-C or a non-finite loss: its message and exit status
        exit_process(stop.code)
        raise
    exit_process(0)


def train(args: Args, argv: list[str] | None, held: contextlib.ExitStack) -> None:
    """The run: ``args`` resolved, ``argv`` as given (for the summary), ``held`` keeps the folder's lock."""
    # ---- processes (torchrun), seeding and device --------------------------------------------------
    ranks, device = setup(args.device)
    precision = auto_precision(args.precision, device)  # args keeps "auto": a resumed run decides on its own machine
    args.name = ranks.broadcast(args.name)  # the default name holds the time: rank 0's is everyone's
    main_rank = ranks.is_main
    run_dir = Path(args.output_dir) / args.name
    state_path = run_dir / "latest_state.pt"
    if args.resume and not state_path.exists():
        raise SystemExit(f"--resume: no checkpoint at {state_path}")
    if not args.resume and state_path.exists():
        raise SystemExit(f"{run_dir} already holds a run; pass --resume to continue it or pick another --name")
    ranks.barrier()  # every rank has looked before rank 0 creates the folder
    refusal = None
    if main_rank:
        run_dir.mkdir(parents=True, exist_ok=True)
        refusal = lock_run_dir(run_dir, held)
    refusal = ranks.broadcast(refusal)  # every rank stops, not only rank 0
    if refusal is not None:
        raise SystemExit(refusal)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    # ---- envs: training episodes B * (M + mean path) at a time, val for model selection ------------
    paths = args.num_samples + args.mean_path  # episodes per image and step
    envs = gym.make_vec(args.env_id, num_envs=args.batch_size * paths, split="train", device=device,
                        autoreset_mode="disabled", **args.env_kwargs)
    num_train = int(envs.num_images)
    open_set = envs.config.open_set  # Omniglot's open set: the last class is "unknown", the reward -1 for naming it
    for flag, value, default in (("unknown_weight", args.unknown_weight, 1.0), ("select_by", args.select_by, "error")):
        if value != default and not open_set:
            raise SystemExit(f"--{flag.replace('_', '-')} {value} is for open-set tasks (GlimpseOmniglotOpenSet-v0, "
                             f"whose last class is \"unknown\"); {args.env_id} has no unknown class")
    global_batch = args.batch_size * ranks.world_size  # images per optimizer step over all ranks
    steps_per_epoch = num_train // global_batch
    if steps_per_epoch < 1:
        raise SystemExit(f"--batch-size {args.batch_size} x {ranks.world_size} processes is more than the "
                         f"{num_train} training images: an epoch would have no step")
    schedule_steps = args.epochs * steps_per_epoch  # the learning-rate schedule spans the epochs ...
    total_steps = min(schedule_steps, args.max_steps) if args.max_steps > 0 else schedule_steps  # ... --max-steps
    # only stops early, so a run cut by it and resumed with a larger one follows the same schedule.
    val_images = args.val_images or gym.make_vec(args.env_id, num_envs=1, split="val", autoreset_mode="disabled",
                                                 **args.env_kwargs).num_images
    val_envs = eval_envs(args, "val", val_images, args.val_samples, device)
    val_every = args.val_every or steps_per_epoch

    # ---- the agent --------------------------------------------------------------------------------
    widths = {name: getattr(args, name) for name in WIDENABLE if getattr(args, name)}  # 0: the default or the file's
    config = RAMConfig.from_env(envs, location_std=args.location_std, learn_std=args.learn_std,
                                tanh_mean=args.tanh_mean, core_type=args.core_type, core_hidden=args.core_hidden,
                                conv_glimpse=args.conv_glimpse, **widths, reinforce_weight=args.reinforce_weight,
                                reinforce_into_core=args.reinforce_into_core, random_locations=args.random_locations,
                                dropout=args.dropout, consistency_weight=args.consistency_weight,
                                mean_path=args.mean_path, policy_reward=args.policy_reward,
                                distill_weight=args.distill_weight if args.teacher else 0.0)
    if args.init_from:
        start = load_same_task(args, "--init-from", args.init_from, device)
        if start.config.random_locations != args.random_locations:
            kind = "a random-locations control" if start.config.random_locations else "a policy, not a control"
            raise SystemExit(f"--init-from {args.init_from} is {kind}: --random-locations must agree with the file "
                             "(a control starts only from a control, a policy only from a policy)")
        # The file keeps its network (NETWORK_FIELDS: shape and what the weights mean); how it trains is this run's.
        config = dataclasses.replace(config, **{name: getattr(start.config, name) for name in NETWORK_FIELDS
                                                if name not in widths})  # the widths given may grow the file's
    model = RAM(config).to(device)
    if args.init_from:
        try:
            load_widened(model, start.model)
        except ValueError as error:
            raise SystemExit(f"--init-from {args.init_from}: {error}") from None
        # The std is this run's --location-std, but where this run goes on learning a std the file learned.
        if not (config.learn_std and start.config.learn_std):
            with torch.no_grad():  # a learned std is a parameter
                model.location_policy.log_std.fill_(math.log(config.location_std))
    # With --ema-decay the policy that is validated, kept and tested is the weights' moving average.
    averaged = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema_decay), use_buffers=True)
                if args.ema_decay > 0 else None)
    policy = RAMPolicy(model if averaged is None else averaged.module, args.env_id, args.env_kwargs)
    # Episodes + hybrid loss; DDP under torchrun. The control and one-glimpse episodes leave location heads unused.
    soft_targets = teacher_soft_targets(args, envs, num_train, device, main_rank) if args.teacher else None
    class_weight = None  # --unknown-weight 1: the plain cross-entropy, bit for bit
    if args.unknown_weight != 1:
        class_weight = unknown_class_weight(config.num_classes, envs.config.unknown_class, args.unknown_weight)
    episode_objective = EpisodeObjective(model, soft_targets, None if class_weight is None else class_weight.to(device))
    objective = ranks.wrap(episode_objective,
                           find_unused_parameters=config.random_locations or config.num_glimpses == 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)

    # ---- resume -----------------------------------------------------------------------------------
    step, best_val, best_step, elapsed_before = 0, math.inf, -1, 0.0
    if args.resume:
        # On the CPU: load_state_dict moves the weights and the optimizer's moments to the model's device, and the
        # RNG states must stay CPU tensors (loaded onto a GPU, torch.set_rng_state refuses them).
        saved = read_state(state_path)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if averaged is not None:
            averaged.load_state_dict(saved["averaged"])
        step, best_val, best_step = saved["step"], saved["best_val"], saved["best_step"]
        elapsed_before = saved["elapsed"]
        set_rng_state(saved["rng"])
        if main_rank:
            print(f"resumed {run_dir} at step {step} (best val {describe_best(args, best_val)} at step {best_step})")

    # ---- logging: TensorBoard, CSV (rank 0 only) --------------------------------------------------
    if main_rank:
        writer = SummaryWriter(str(run_dir), purge_step=step if args.resume else None)
        writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(
            f"|{k}|{v}|" for k, v in {**dataclasses.asdict(args), **dataclasses.asdict(config),
                                       "world_size": ranks.world_size}.items()))
        csv_path = run_dir / "progress.csv"
        rows = []
        if args.resume and csv_path.exists():  # drop the rows written after the checkpoint we resume from
            with open(csv_path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:  # a death here keeps the old log
            kept = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            kept.writeheader()
            kept.writerows(rows)
        csv_file = open(csv_path, "a", newline="")
        csv_writer = csv.DictWriter(csv_file, fieldnames=CSV_FIELDS)

    def log(row: dict[str, float]) -> None:
        for key, value in row.items():
            if "/" in key:
                writer.add_scalar(key, value, step)
        csv_writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        csv_file.flush()

    def save_checkpoint() -> None:
        policy.save(run_dir / "latest.pt")
        atomic_torch_save({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "best_val": best_val, "best_step": best_step, "elapsed": elapsed(),
                           "rng": rng_state(), "args": dataclasses.asdict(args),
                           **({} if averaged is None else {"averaged": averaged.state_dict()})}, state_path)

    def validate() -> dict[str, float]:
        nonlocal best_val, best_step
        torch.manual_seed(0)  # whatever here draws from the global RNG repeats (training reseeds it every step)
        result = evaluate(policy.model, val_envs, num_samples=args.val_samples, num_images=val_images, seed=0)
        if averaged is not None:  # the trained weights beside their average (deterministic)
            result["error_raw"] = evaluate(model, val_envs, num_images=val_images, seed=0,
                                           monte_carlo=False)["error_deterministic"]
        if open_set:  # the task's score: the mean terminal reward of the same deterministic episodes
            result["reward"] = result["mean_reward"]
        # Lower is better: the error, or 1 - the mean reward (which is the error where no answer scores -1).
        criterion = 1 - result["reward"] if args.select_by == "reward" else result["error_deterministic"]
        if criterion < best_val:
            best_val, best_step = criterion, step
            policy.save(run_dir / "best.pt")
        if args.figures:
            save_glimpse_figures(policy, run_dir / "glimpses.png", run_dir / "episode.gif", split="val")
        return result

    start_time = time.time()

    def elapsed() -> float:
        return elapsed_before + time.time() - start_time

    # ---- the loop ---------------------------------------------------------------------------------
    if main_rank:
        if precision == "bfloat16" and device.type == "cpu" and not cpu_has_bfloat16():
            print(f"warning: --precision bfloat16 on a CPU without bfloat16 instructions "
                  f"({torch.backends.cpu.get_cpu_capability()}, no AVX-512 BF16 or AMX) is emulated: 15-20x slower "
                  "than float32 on a 2-core AVX2 EPYC; --precision float32 is the one to use on this CPU",
                  file=sys.stderr)
        processes = f" x {ranks.world_size} processes" if ranks.enabled else ""
        expected = expected_seconds(args, episode_objective, envs, device, precision, total_steps - step, val_images,
                                    (total_steps - step) // val_every + 1)
        print(f"run {run_dir}/: {args.env_id} {args.env_kwargs}, {total_steps - step} steps of {args.batch_size} "
              f"images{processes} x {paths} paths in {precision} on {hardware(device)}"
              f"{f', about {duration(expected)}' if expected else ''}", flush=True)
    bar = tqdm(total=total_steps, initial=step, disable=not (args.progress_bar and main_rank), unit="step",
               dynamic_ncols=True)
    measured = "weight average" if averaged is not None else "trained weights"
    stop = StopRequest()
    window: dict[str, float] = {}
    window_steps, window_time = 0, 0.0  # window_time: seconds in episodes and updates (not validation, saving)
    location_noise = torch.Generator(device=device)
    model.train()
    while step < total_steps:
        if not ranks.all_true(not stop.requested):  # Ctrl-C: stop between steps, every rank together
            bar.close()
            if main_rank:
                save_checkpoint()
                writer.close()
                csv_file.close()
            raise SystemExit(f"stopped at step {step} of {total_steps}; saved {state_path}. Resume with: "
                             f"{resume_command(args)}")
        step_start = time.time()
        epoch, offset = divmod(step, steps_per_epoch)
        permutation = torch.randperm(num_train, generator=torch.Generator().manual_seed(args.seed * 100_003 + epoch))
        index = ranks.shard(permutation[offset * global_batch:(offset + 1) * global_batch]).to(device)

        # -- episodes and the hybrid loss (every random draw is a function of seed and step) --
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args, step, schedule_steps)
        stream = ranks.seed(args.seed * 1_000_003 + step)  # this rank's own env, noise and dropout streams
        location_noise.manual_seed(stream)  # (run_episodes seeds the env's reset from a substream of it)
        torch.manual_seed(substream_seed(stream, "dropout"))  # the global RNG draws only the dropout masks here
        model.compute_dtype = PRECISIONS[precision]
        try:
            losses = objective(envs, index, args.num_samples, seed=stream, generator=location_noise)
        finally:
            model.compute_dtype = None  # validation, checkpoints and the test figures run in float32
        if args.debug_nan_step and step + 1 == args.debug_nan_step:
            losses["loss"] = losses["loss"] * math.nan
        if not ranks.all_true(bool(torch.isfinite(losses["loss"]))):  # every rank stops together
            terms = ", ".join(f"{k}={v.item():.4g}" for k, v in losses.items())
            bar.close()
            if main_rank:
                writer.close()
                csv_file.close()
            raise SystemExit(f"error: the loss is not finite at step {step + 1} (epoch {epoch + 1}): {terms}. "
                             f"Training stopped; the last good checkpoint is {state_path} (step "
                             f"{read_state(state_path)['step'] if state_path.exists() else 0}). "
                             "Lower --learning-rate or set --grad-clip.")

        # -- the update --
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        if averaged is not None:
            averaged.update_parameters(model)
        step += 1
        window_time += time.time() - step_start
        bar.update(1)

        # -- logging --
        for key in (*LOSS_TERMS, "accuracy", "advantage_std"):
            window[key] = window.get(key, 0.0) + losses[key].item()
        window_steps += 1
        last = step == total_steps
        if (step % args.log_every == 0 or last or step % val_every == 0):
            mean = ranks.mean({k: v / window_steps for k, v in window.items()})
            row: dict[str, Any] = {
                "step": step, "epoch": step / steps_per_epoch, "wall_time": round(elapsed(), 2),
                **{f"losses/{term}": mean[term] for term in LOSS_TERMS},
                "charts/train_accuracy": mean["accuracy"], "charts/advantage_std": mean["advantage_std"],
                "charts/learning_rate": optimizer.param_groups[0]["lr"],
                "charts/samples_per_s": window_steps * global_batch * paths / window_time,
            }
            if (step % val_every == 0 or last) and main_rank:
                result = validate()
                row["charts/val_error"] = result["error_deterministic"]
                row["charts/val_error_mc"] = result["error_mc"]
                if "error_raw" in result:
                    row["charts/val_error_raw"] = result["error_raw"]
                reward = ""
                if "reward" in result:
                    row["charts/val_reward"] = result["reward"]
                    reward = f", reward {result['reward']:.3f}"
                bar.set_postfix_str(f"val error {100 * result['error_deterministic']:.2f} %{reward} ({measured}), "
                                    f"best {describe_best(args, best_val)}")
            if main_rank:
                log(row)
            window, window_steps, window_time = {}, 0, 0.0
        if step % args.checkpoint_every == 0 or step % val_every == 0 or last:
            ranks.check_in_sync(model)  # DDP keeps the replicas equal; say so loudly if they ever are not
            if main_rank:
                save_checkpoint()
            ranks.barrier()
    bar.close()
    stop.restore()
    if not main_rank:  # rank 0 alone tests the best policy and writes the summary
        return
    writer.flush()

    # ---- the test split, once, with the best-by-val policy ----------------------------------------
    best = RAMPolicy.load(run_dir / "best.pt", device=device)
    test_images = args.test_images or gym.make_vec(args.env_id, num_envs=1, split="test", autoreset_mode="disabled",
                                                   **args.env_kwargs).num_images  # the run's data, not the file's
    test_envs = eval_envs(args, "test", test_images, args.test_samples, device)
    torch.manual_seed(0)  # as train/evaluate.py does, so it reproduces the MC figure too
    result = evaluate(best.model, test_envs, num_samples=args.test_samples, num_images=test_images, seed=0)
    summary = {
        "run": str(run_dir),
        "preset": args.preset,
        "env_id": args.env_id,
        "env_kwargs": args.env_kwargs,
        "test_error_deterministic": result["error_deterministic"],
        "test_error_mc": result["error_mc"],
        "test_samples": args.test_samples,
        "test_images": int(result["num_images"]),
        "select_by": args.select_by,
        **({"best_val_reward": 1 - best_val} if args.select_by == "reward" else {"best_val_error": best_val}),
        "best_step": best_step,
        "steps": step,
        "command": shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(argv),
        "wall_clock_s": round(elapsed(), 1),
        "hardware": hardware(device),
        "processes": ranks.world_size,
        "torch": torch.__version__,
    }
    if test_envs.config.open_set:  # Omniglot's open set: ram-evaluate's figures of the same deterministic episodes
        summary["test_open_set"] = open_set_report(best, "test", test_images, seed=0)
    write_json(summary, run_dir / "test_results.json")
    writer.add_scalar("charts/test_error", result["error_deterministic"], step)
    writer.add_scalar("charts/test_error_mc", result["error_mc"], step)
    writer.close()
    csv_file.close()
    print(f"test error {100 * result['error_deterministic']:.2f} % deterministic, "
          f"{100 * result['error_mc']:.2f} % MC ({args.test_samples} paths) on {summary['test_images']} images; "
          f"best val {describe_best(args, best_val)} at step {best_step}; {summary['wall_clock_s']:.0f} s")
    print(f"wrote {run_dir / 'test_results.json'}")


if __name__ == "__main__":
    main()
