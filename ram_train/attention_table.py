"""How input-dependent each policy's glimpses are: one markdown row per checkpoint.

    python train/attention_table.py agents/pretrained/*.pt   # or names: mnist-6g cluttered60-8g
    python train/attention_table.py runs/NAME/best.pt --split val --images 2000

For every checkpoint, runs the deterministic policy on the split (default: all test images) in the env it
was trained for and prints, averaged over its chosen glimpses (see :mod:`agents.attention`): the mean
pairwise distance between the locations two images get, and the mutual information between the binned
location and the class, each beside the same number for uniformly random locations on the same images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from agents.attention import attention_report
from agents.policy import resolve_checkpoint
from agents.ram import RAMPolicy


def mean(rows: list[dict[str, float]], key: str) -> float:
    return sum(r[key] for r in rows) / max(len(rows), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+",
                        help="RAMPolicy files (runs/NAME/best.pt) or shipped policies' names (mnist-6g)")
    parser.add_argument("--split", default="test", help="split to run on (train, val, trainval, test)")
    parser.add_argument("--images", type=int, default=0, help="first images of the split (0: all)")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        paths = [resolve_checkpoint(c) for c in args.checkpoints]
    except FileNotFoundError as error:
        sys.exit(f"checkpoint: {error}")

    print(f"| checkpoint | env | error (deterministic, {args.split}) | mean pairwise distance, learned / random "
          "| MI(location; class) bits, learned / random | MI bias |")
    print("|---|---|---|---|---|---|")
    for path in paths:
        policy = RAMPolicy.load(path, device=args.device)
        report, _ = attention_report(policy, args.split, args.images or None)
        learned, uniform = report["learned"], report["uniform_random"]
        control = " (random-location control)" if policy.config.random_locations else ""
        print(f"| `{Path(path).stem}`{control} | {policy.env_id} T={policy.config.num_glimpses} "
              f"| {100 * report['error_deterministic']:.2f} % "
              f"| {mean(learned, 'mean_pairwise_distance'):.2f} / {mean(uniform, 'mean_pairwise_distance'):.2f} "
              f"| {mean(learned, 'mutual_information_bits'):.2f} / {mean(uniform, 'mutual_information_bits'):.2f} "
              f"| {learned[0]['mi_bias_bits']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
