"""Show what a trained RAM agent's attention learned.

    python train/visualize.py --checkpoint mnist-6g --out figures/mnist-6g   # installed: ram-visualize

writes into ``--out``:

- ``grid.png``: test images with the deterministic glimpse path and each glimpse's squares;
- ``episode_<i>.gif``: one animated episode per shown image (matplotlib's Pillow writer);
- ``heatmaps.png``: for every class (rows) and step (columns), where the agent looks;
- ``diversity.json``: per step, the mean pairwise distance of the chosen locations across images
  and the location-class mutual information (see :mod:`agents.attention`), beside the same numbers
  for uniformly random locations;
- ``learning_curves.png``: losses, train accuracy and val error from the run's ``progress.csv``
  (found next to the checkpoint, or given with ``--csv``), when there is one. A file trained in stages
  (a run, then ``--init-from`` its best.pt) takes each stage's log, in order: ``--csv A.csv B.csv`` draws
  them end to end, a dashed line where each later stage starts.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

import ram_env  # noqa: E402, F401  (registers the env ids)
from agents.attention import attention_report, location_heatmaps  # noqa: E402
from agents.policy import resolve_checkpoint  # noqa: E402
from agents.ram import RAMPolicy  # noqa: E402
from ram_train.artifacts import atomic_path, episode_frames, save_episode_gif, save_glimpse_figures, write_json  # noqa: E402


def save_figure(fig: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=90)
    plt.close(fig)


def heatmap_figure(maps: torch.Tensor, title: str) -> plt.Figure:
    classes, steps = maps.shape[:2]
    fig, axes = plt.subplots(classes, steps, figsize=(1.3 * steps + 0.6, 1.3 * classes + 0.6), squeeze=False)
    for c in range(classes):
        for t in range(steps):
            ax = axes[c, t]
            ax.imshow(maps[c, t].numpy(), cmap="magma", extent=(-1, 1, 1, -1), vmin=0)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_title(f"glimpse {t + 2}", fontsize=8)
            if t == 0:
                ax.set_ylabel(f"class {c}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def read_stages(paths: list[Path]) -> tuple[list[dict[str, str]], list[float]]:
    """The rows of successive stages' progress.csv files as one log, each stage's steps shifted to follow the last
    step of the one before; also the (shifted) step where each stage after the first starts."""
    rows: list[dict[str, str]] = []
    starts: list[float] = []
    offset = 0.0
    for i, path in enumerate(paths):
        with open(path, newline="") as f:
            stage = list(csv.DictReader(f))
        if i:
            starts.append(offset)
        rows += [{**r, "step": str(float(r["step"]) + offset)} for r in stage]
        offset = float(rows[-1]["step"]) if rows else offset
    return rows, starts


def curves_figure(rows: list[dict[str, str]], title: str, stage_starts: Sequence[float] = ()) -> plt.Figure:
    def series(key: str) -> tuple[list[float], list[float]]:
        pts = [(float(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for key in ("losses/cross_entropy", "losses/baseline_mse", "losses/reinforce", "losses/consistency",
                "losses/distillation"):
        steps, values = series(key)
        if any(values):  # a run without the term logs zeros (or, before it existed, nothing)
            axes[0].plot(steps, values, label=key.split("/")[1])
    axes[0].set_title("losses")
    axes[0].legend(fontsize=7)
    axes[1].plot(*series("charts/train_accuracy"))
    axes[1].set_title("train accuracy (sampled paths)")
    for key, label in (("charts/val_error", "deterministic"), ("charts/val_error_mc", "MC"),
                       ("charts/val_error_raw", "deterministic, weights not averaged")):  # the last: --ema-decay runs
        steps, values = series(key)
        if values:
            axes[2].plot(steps, values, marker=".", label=label)
    axes[2].set_yscale("log")
    axes[2].set_title("val error")
    axes[2].legend(fontsize=7)
    for ax in axes:
        for start in stage_starts:
            ax.axvline(start, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel("optimizer step" + (" (dashed: a new stage)" if stage_starts else ""))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x else "0"))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True,
                        help="a RAMPolicy file (runs/NAME/best.pt) or a shipped policy's name (mnist-6g)")
    parser.add_argument("--out", default=None, help="output folder (default: figures/<checkpoint name>)")
    parser.add_argument("--split", default="test", help="split to show (train, val, trainval, test)")
    parser.add_argument("--images", type=int, default=8, help="images in the grid and GIFs")
    parser.add_argument("--metric-images", type=int, default=0, help="images for heatmaps and diversity (0: all)")
    parser.add_argument("--csv", nargs="+", default=None,
                        help="the run's progress.csv (default: next to the checkpoint); for a file trained in stages, "
                             "each stage's, in order")
    parser.add_argument("--device", default="cpu", help="torch device")
    args = parser.parse_args()

    try:
        checkpoint = resolve_checkpoint(args.checkpoint)
    except FileNotFoundError as error:
        sys.exit(f"--checkpoint: {error}")
    logs = [Path(p) for p in args.csv] if args.csv else [checkpoint.parent / "progress.csv"]
    missing = [str(p) for p in logs if not p.is_file()]
    if args.csv and missing:
        sys.exit(f"--csv: no file at {', '.join(missing)}")
    out = Path(args.out or Path("figures") / checkpoint.stem)
    out.mkdir(parents=True, exist_ok=True)
    policy = RAMPolicy.load(checkpoint, device=args.device)
    name = f"{policy.env_id} {policy.env_kwargs or ''} ({checkpoint.name})"

    # Paths and episodes of the first images.
    save_glimpse_figures(policy, out / "grid.png", None, split=args.split, num_images=args.images)
    for i in range(min(args.images, 4)):
        frames, info = episode_frames(policy, i, args.split)
        save_episode_gif(frames, info, out / f"episode_{i}.gif")

    # Where the policy looks, per class and step, and how input-dependent that is.
    report, seen = attention_report(policy, args.split, args.metric_images or None)
    report = {"checkpoint": str(checkpoint), **report}
    classes = policy.config.num_classes
    maps = location_heatmaps(seen["locations"], seen["label"], classes)
    save_figure(heatmap_figure(maps, f"{name}: where the agent looks, by class and step"), out / "heatmaps.png")
    write_json(report, out / "diversity.json")

    # Learning curves, when the run's log is at hand.
    if not missing:
        rows, starts = read_stages(logs)
        save_figure(curves_figure(rows, f"{name}: training", starts), out / "learning_curves.png")
    print(json.dumps({k: report[k] for k in ("images", "error_deterministic")}), f"-> {out}")
    for a, b in zip(report["learned"], report["uniform_random"]):
        print(f"step {a['step']}: pairwise distance {a['mean_pairwise_distance']:.3f} (random "
              f"{b['mean_pairwise_distance']:.3f}), MI {a['mutual_information_bits']:.3f} bits (random "
              f"{b['mutual_information_bits']:.3f}, bias ~{a['mi_bias_bits']:.3f})")


if __name__ == "__main__":
    main()
