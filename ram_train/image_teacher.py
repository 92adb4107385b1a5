"""Train a whole-image classifier on a task's training images: a distillation teacher for RAM (``--teacher``).

    python train/image_teacher.py --preset cifar10-6g                 # runs/<name>/best.pt
    python train/ram_agent.py --preset cifar10-6g --teacher runs/<name>/best.pt --teacher-temperature 2

The network (:class:`agents.image_teacher.ImageClassifier`) sees every pixel; the student RAM policy learns from
its class distribution of each training image beside the label, and is evaluated on its glimpses alone. The
teacher trains on the ``train`` split the env serves (val and test are never trained on), with the task's own
training augmentation (the env's ``max_shift``, ``horizontal_flip`` and ``max_rotation``, the same function the
env applies), SGD with Nesterov momentum and the learning-rate schedule of ``train/ram_agent.py``.
``runs/<name>/`` gets ``progress.csv``, TensorBoard events, ``best.pt`` (best val error) and at the end
``test_results.json`` (the test split, touched once, with the best file). Tasks with a canvas (translated and
cluttered MNIST) are refused: their training episodes draw a new canvas each time, so an image has no one picture
to be taught on.
"""

from __future__ import annotations

import csv
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

import ram_env  # noqa: F401  (registers the env ids)
from agents.image_teacher import ImageClassifier, ImageTeacher
from agents.policy import resolve_device
from ram_env.canvas import augment_images
from ram_env.config import to_nchw
from ram_train.artifacts import hardware, write_json
from ram_train.cli import parse
from ram_train.evaluate import open_set_metrics
from ram_train.presets import PRESETS
from ram_train.ram_agent import PRECISIONS, auto_precision, learning_rate


@dataclass
class Args:
    preset: str = "cifar10-6g"
    """Row of the results table whose task (env id and kwargs, train/presets.py) the teacher learns; --env-id and
    --env-kwargs given explicitly override it."""
    env_id: str = "GlimpseCIFAR10-v0"
    """Gymnasium id of the glimpse env whose images the teacher learns."""
    env_kwargs: dict = field(default_factory=dict)
    """Keyword arguments of the env as a JSON object (merged over the preset's); the augmentation kwargs apply."""
    width: int = 32
    """Channels of the first convolution stage (the others have 2x and 4x)."""
    epochs: int = 30
    """Passes over the training split (30: the CIFAR-10 teacher of the README, 85.3 % test accuracy)."""
    max_steps: int = 0
    """Stop after this many optimizer steps in total (0: run all epochs); the schedule still spans the epochs."""
    batch_size: int = 128
    """Images per optimizer step."""
    learning_rate: float = 0.05
    """SGD's learning rate at the start of the schedule (after the warm-up)."""
    lr_schedule: str = "cosine"
    """Learning-rate schedule: "cosine" (to min_lr_fraction), "step" (x0.1 at 50 % and 75 %) or "constant"."""
    min_lr_fraction: float = 0.01
    """Final learning rate of the cosine schedule, as a fraction of learning_rate."""
    warmup_steps: int = 200
    """Steps of linear learning-rate warm-up at the start."""
    weight_decay: float = 5e-4
    """SGD weight decay (L2) on every weight."""
    precision: str = "auto"
    """Arithmetic of training steps: "auto" (bfloat16 where the CPU or GPU computes it natively, as ram_agent's),
    "float32" or "bfloat16" (autocast; fast only where the CPU or GPU has bfloat16 units). Validation and the test are
    float32."""
    device: str = "auto"
    """Torch device: "auto" (CUDA if available, else CPU), "cpu", "cuda", ..."""
    threads: int = 1
    """CPU threads for torch (0: torch's default)."""
    seed: int = 1
    """Seed of python, numpy and torch: the weights, the epoch permutations and the augmentation."""
    output_dir: str = "runs"
    """Folder that holds one sub-folder per run."""
    name: str = ""
    """Run name, the sub-folder of output_dir (default: <preset>-image-teacher__<seed>__<unix time>)."""
    val_images: int = 0
    """Validation images to use (0: the whole val split)."""
    test_images: int = 0
    """Test images for the final evaluation (0: the whole test split)."""


def resolve_args(argv: list[str] | None = None) -> Args:
    """Parse the command line, take the task from the preset where not given, check the values."""
    args, given = parse(Args, argv, description=__doc__)
    if args.preset not in PRESETS:
        raise SystemExit(f"--preset must be one of {sorted(PRESETS)}, got {args.preset!r}")
    preset = PRESETS[args.preset]
    if "env_id" not in given:
        args.env_id = preset["env_id"]
    args.env_kwargs = {**preset.get("env_kwargs", {}), **(args.env_kwargs if "env_kwargs" in given else {})}
    for name in ("width", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not (args.learning_rate > 0 and args.weight_decay >= 0):
        raise SystemExit(f"--learning-rate must be positive and --weight-decay non-negative, got "
                         f"{args.learning_rate} and {args.weight_decay}")
    if args.lr_schedule not in ("cosine", "step", "constant"):
        raise SystemExit(f"--lr-schedule must be cosine, step or constant, got {args.lr_schedule!r}")
    if args.precision not in ("auto", *PRECISIONS):
        raise SystemExit(f"--precision must be one of {sorted(('auto', *PRECISIONS))}, got {args.precision!r}")
    if not args.name:
        args.name = f"{args.preset}-image-teacher__{args.seed}__{int(time.time())}"
    return args


def split_images(args: Args, split: str, limit: int = 0) -> tuple[torch.Tensor, torch.Tensor, object]:
    """``(images (N, C, H, W) uint8, labels (N,), env config)`` of ``split``: the images the env serves, loaded by
    the env (one data loader), without a canvas."""
    env = gym.make_vec(args.env_id, num_envs=1, split=split, autoreset_mode="disabled", **args.env_kwargs)
    config = env.config
    env.close()
    if config.canvas is not None:
        raise SystemExit(f"{args.env_id} shows its images on a {config.canvas.canvas_size}x{config.canvas.canvas_size}"
                         " canvas drawn anew every training episode: an image teacher needs tasks without a canvas "
                         "(GlimpseMNIST-v0, GlimpseFashionMNIST-v0, GlimpseCIFAR10-v0, GlimpseOmniglot-v0)")
    n = limit or config.num_images
    return to_nchw(config.images[:n]), torch.tensor(np.asarray(config.labels[:n])), config


@torch.no_grad()
def error_rate(teacher: ImageTeacher, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` the teacher classifies wrong (eval mode, float32)."""
    predicted = teacher.class_probabilities(images).argmax(-1).cpu()
    return float((predicted != labels).float().mean())


def main(argv: list[str] | None = None) -> None:
    args = resolve_args(argv)
    device = resolve_device(args.device)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    run_dir = Path(args.output_dir) / args.name
    if (run_dir / "best.pt").exists():
        raise SystemExit(f"{run_dir} already holds a teacher; pick another --name")
    run_dir.mkdir(parents=True, exist_ok=True)

    images, labels, config = split_images(args, "train")
    val_images, val_labels, _ = split_images(args, "val", args.val_images)
    model = ImageClassifier(images.shape[1], config.num_classes, args.width).to(device)
    model = model.to(memory_format=torch.channels_last)
    teacher = ImageTeacher(model, args.env_id, args.env_kwargs)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.learning_rate, momentum=0.9, nesterov=True,
                                weight_decay=args.weight_decay)
    steps_per_epoch = images.shape[0] // args.batch_size
    schedule_steps = args.epochs * steps_per_epoch
    total_steps = min(schedule_steps, args.max_steps) if args.max_steps > 0 else schedule_steps
    precision = auto_precision(args.precision, device)
    dtype = PRECISIONS[precision]
    print(f"run {run_dir}: image teacher of {args.env_id} {args.env_kwargs}, {images.shape[0]} training images, "
          f"{total_steps} steps of {args.batch_size} in {precision} on {hardware(device)}")

    writer = SummaryWriter(str(run_dir))
    csv_file = open(run_dir / "progress.csv", "w", newline="")
    log = csv.writer(csv_file)
    log.writerow(["step", "epoch", "wall_time", "loss", "train_accuracy", "learning_rate", "val_error"])
    best_val, step, start = math.inf, 0, time.time()
    generator = torch.Generator().manual_seed(args.seed)
    while step < total_steps:
        order = torch.randperm(images.shape[0], generator=generator)
        losses, correct, seen = 0.0, 0, 0
        for i in range(steps_per_epoch):
            if step >= total_steps:
                break
            index = order[i * args.batch_size:(i + 1) * args.batch_size]
            keys = torch.randint(0, 2**32, index.shape, generator=generator, dtype=torch.int64)
            batch = augment_images(images[index], keys, index, config.max_shift, config.horizontal_flip,
                                   config.max_rotation).to(device, memory_format=torch.channels_last)
            target = labels[index].to(device)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(args, step, schedule_steps)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                logits = model(batch)
                loss = torch.nn.functional.cross_entropy(logits.float(), target)
            if not torch.isfinite(loss):
                raise SystemExit(f"the loss became {loss.item()} at step {step}; try a lower --learning-rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            losses += loss.item() * len(index)
            correct += int((logits.argmax(-1) == target).sum())
            seen += len(index)
        val_error = error_rate(teacher, val_images, val_labels)
        epoch = step / steps_per_epoch
        row = {"loss": losses / seen, "train_accuracy": correct / seen,
               "learning_rate": optimizer.param_groups[0]["lr"], "val_error": val_error}
        for key, value in row.items():
            writer.add_scalar(f"teacher/{key}", value, step)
        log.writerow([step, f"{epoch:.3f}", f"{time.time() - start:.1f}", *(f"{v:.6g}" for v in row.values())])
        csv_file.flush()
        if val_error < best_val:
            best_val = val_error
            teacher.save(run_dir / "best.pt")
        print(f"epoch {epoch:.2f}: loss {row['loss']:.4f}, train accuracy {row['train_accuracy']:.4f}, "
              f"val error {val_error:.4f} (best {best_val:.4f}), {time.time() - start:.0f} s", flush=True)
    csv_file.close()
    writer.close()

    best = ImageTeacher.load(run_dir / "best.pt", device=device)
    test_images, test_labels, test_config = split_images(args, "test", args.test_images)
    results = {"test_error": error_rate(best, test_images, test_labels), "best_val_error": best_val,
               "test_images": int(test_images.shape[0]), "wall_time_s": time.time() - start,
               "hardware": hardware(device), "args": asdict(args)}
    if test_config.open_set:  # Omniglot's open set: the figures ram-evaluate reports for a RAM policy
        predicted = best.class_probabilities(test_images).argmax(-1).cpu()
        unseen = torch.from_numpy(np.asarray(test_config.unseen[: test_images.shape[0]]))
        results["open_set"] = open_set_metrics(predicted, test_labels, unseen, test_config.unknown_class)
    write_json(results, run_dir / "test_results.json")
    print(f"test error {results['test_error']:.4f} on {results['test_images']} images (best val error {best_val:.4f})")


if __name__ == "__main__":
    main()
