"""Why an open-set policy's answers stay near "unknown": what its classifier knows beside what its argmax says.

For a ``GlimpseOmniglotOpenSet-v0`` policy, on one split's deterministic episodes (those of ``ram-evaluate``'s
``open_set`` report, seeded alike), prints as JSON:

- ``known_only_top1``: on images of known characters, how often the best-scored *known* class is the right one (the
  "unknown" logit left out): how well the characters are recognised, whatever the answer;
- ``false_known_seen`` / ``false_known_unseen``: of the unknown images of the alphabets labelled unknown in training,
  and of those never seen in training, the fraction the argmax names a known character (each such answer earns -1);
- ``thresholds``: for each ``t``, the answer "known character k" only where ``p(k) > t * p(unknown)`` (else
  "unknown"): mean reward, accuracy, known accuracy and false-known rate. ``t = 1`` is the argmax; ``t = 2`` is the
  rule that maximises the expected reward (+1 / 0 / -1) of a calibrated classifier.

    python benchmarks/open_set_probe.py --checkpoint runs/NAME/best.pt --split val --thresholds 1,2,5,20
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the clone's root, installed or not
import ram_env  # noqa: E402, F401  (registers the ids)
from agents.ram import RAMPolicy  # noqa: E402
from ram_env.rewards import terminal_reward  # noqa: E402
from ram_train.evaluate import deterministic_logits  # noqa: E402


@torch.no_grad()
def probe(policy: RAMPolicy, split: str, thresholds: list[float], seed: int = 0) -> dict[str, object]:
    """The figures above for ``policy`` on all of ``split``."""
    total = int(gym.make_vec(policy.env_id, num_envs=1, **{**policy.env_kwargs, "split": split}).num_images)
    logits, config = deterministic_logits(policy, split, total, seed)  # ram-evaluate's open-set episodes
    if not config.open_set:
        raise SystemExit(f"{policy.env_id} with {policy.env_kwargs} is not an open-set task")
    unknown = int(config.unknown_class)
    labels = torch.from_numpy(np.asarray(config.labels[:total])).long()
    unseen = torch.from_numpy(np.asarray(config.unseen[:total])).bool()
    known = labels != unknown
    probability = logits.softmax(-1)
    best_known, character = probability[:, :unknown].max(-1)
    named = logits.argmax(-1) != unknown
    rows = []
    for t in thresholds:
        answer = torch.where(best_known > t * probability[:, unknown], character, torch.full_like(character, unknown))
        rows.append({"t": t, "mean_reward": float(terminal_reward(answer, labels, unknown).mean()),
                     "accuracy": float((answer == labels).float().mean()),
                     "known_accuracy": float((answer[known] == labels[known]).float().mean()),
                     "false_known": float((answer[~known] != unknown).float().mean())})
    return {"split": split, "images": total,
            "known_only_top1": float((logits[known, :unknown].argmax(-1) == labels[known]).float().mean()),
            "false_known_seen": float(named[~known & ~unseen].float().mean()),
            "false_known_unseen": float(named[unseen].float().mean()), "thresholds": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="omniglot-openset-6g", help="policy file or shipped name")
    parser.add_argument("--split", default="val", help="val (the default), test, train")
    parser.add_argument("--thresholds", default="1,2,5,20", help="comma-separated t of p(k) > t * p(unknown)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    policy = RAMPolicy.load(args.checkpoint, device="cpu")
    print(json.dumps(probe(policy, args.split, [float(t) for t in args.thresholds.split(",")]), indent=2))


if __name__ == "__main__":
    main()
