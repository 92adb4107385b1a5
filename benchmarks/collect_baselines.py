"""Gather the ``results.json`` of ``train/sb3_agent.py`` runs into the CSV beside ``docs/baselines.md``.

    python benchmarks/collect_baselines.py runs/*/results.json --out docs/baselines.csv

One row per run: what was trained (algorithm, env, reward mode, action form, memory), the seed, env steps,
wall-clock, hardware, best val accuracy and the test accuracy of the val-selected model on the whole test split,
and the command that reproduces it. The file is written to a temporary name, then renamed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

COLUMNS = ["algo", "env", "reward_mode", "logit_scale", "actions", "memory", "seed", "env_steps",
           "train_wall_clock_min", "best_val_accuracy", "test_accuracy", "test_mean_return", "test_images",
           "hardware", "command"]


def memory(args: dict) -> str:
    """The policy's memory: the LSTM of RecurrentPPO, a stack of past observations, or none."""
    if args["algo"] == "recurrent-ppo":
        return f"LSTM {args['net_arch'] or 128}"
    if args["frame_stack"] > 1:
        return f"frame stack {args['frame_stack']}"
    return "none"


def command(text: str) -> str:
    """The run's command with the interpreter's path shortened to ``python``."""
    head, _, rest = text.partition(" ")
    return f"python {rest}" if Path(head).name.startswith("python") else text


def row(results: dict) -> dict:
    args = results["args"]
    actions = args["actions"] + ("+step" if args["step_obs"] else "")
    return {
        "algo": results["algo"], "env": results["env"], "reward_mode": args.get("reward_mode", "terminal"),
        "logit_scale": args.get("logit_scale", ""), "actions": actions,
        "memory": memory(args) if results["algo"] != "random" else "none", "seed": args["seed"],
        "env_steps": results["env_steps"], "train_wall_clock_min": round(results["train_wall_clock_s"] / 60, 1),
        "best_val_accuracy": results["best_val_accuracy"], "test_accuracy": results.get("test_accuracy", ""),
        "test_mean_return": results.get("test_mean_return", ""), "test_images": results.get("test_images", ""),
        "hardware": results["hardware"], "command": command(results["command"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="results.json files of sb3_agent.py runs")
    parser.add_argument("--out", type=Path, default=Path("docs/baselines.csv"), help="the CSV to write")
    args = parser.parse_args()
    rows = sorted((row(json.loads(p.read_text())) for p in args.results),
                  key=lambda r: (r["env"], r["algo"], r["reward_mode"], r["actions"], r["seed"]))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    tmp.write_text(text.getvalue())
    tmp.replace(args.out)
    print(f"{len(rows)} runs -> {args.out}")


if __name__ == "__main__":
    main()
