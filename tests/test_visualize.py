"""``train/visualize.py`` on a (untrained) policy for real MNIST: every figure and the diversity report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym

import ram_env  # noqa: F401
from agents.ram import RAM, RAMConfig, RAMPolicy
from conftest import import_script

ROOT = Path(__file__).resolve().parents[1]


def test_visualize_writes_every_figure(tmp_path: Path) -> None:
    env = gym.make("GlimpseMNIST-v0", num_glimpses=3)
    checkpoint = tmp_path / "policy.pt"
    RAMPolicy(RAM(RAMConfig.from_env(env, location_std=0.3)), "GlimpseMNIST-v0", {"num_glimpses": 3}).save(checkpoint)
    out = tmp_path / "figures"
    proc = subprocess.run([sys.executable, str(ROOT / "train" / "visualize.py"), "--checkpoint", str(checkpoint),
                           "--out", str(out), "--images", "2", "--metric-images", "200", "--split", "val"],
                          cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    for name in ("grid.png", "episode_0.gif", "episode_1.gif", "heatmaps.png", "diversity.json"):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "diversity.json").read_text())
    assert report["images"] == 200 and len(report["learned"]) == len(report["uniform_random"]) == 2
    assert 0.9 < report["uniform_random"][0]["mean_pairwise_distance"] < 1.2
    missing = subprocess.run([sys.executable, str(ROOT / "train" / "visualize.py"), "--checkpoint",
                              str(tmp_path / "nope.pt")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "no file" in missing.stderr


def test_attention_table_prints_one_row_per_checkpoint(tmp_path: Path) -> None:
    env = gym.make("GlimpseMNIST-v0", num_glimpses=3)
    control = tmp_path / "control.pt"
    RAMPolicy(RAM(RAMConfig.from_env(env, random_locations=True)), "GlimpseMNIST-v0", {"num_glimpses": 3}).save(control)
    shipped = ROOT / "agents" / "pretrained" / "mnist-6g.pt"
    proc = subprocess.run([sys.executable, str(ROOT / "train" / "attention_table.py"), str(shipped), str(control),
                           "--split", "val", "--images", "300"],
                          cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) == 2 and rows[0].startswith("| `mnist-6g` |") and "random-location control" in rows[1]
    # The trained policy's glimpses depend on the input less than random ones do, but not zero: distance
    # learned / random in column 4, both positive and the learned one smaller.
    learned, uniform = (float(x) for x in rows[0].split("|")[4].split("/"))
    assert 0.05 < learned < uniform < 1.2
    missing = subprocess.run([sys.executable, str(ROOT / "train" / "attention_table.py"), str(tmp_path / "nope.pt")],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "no file" in missing.stderr


def test_learning_curves_join_the_logs_of_successive_stages(tmp_path: Path) -> None:
    visualize = import_script("visualize")
    logs = []
    for stage, (steps, error) in enumerate((([50, 100], "0.02"), ([50, 100, 150], "0.01"))):
        logs.append(tmp_path / f"stage{stage}.csv")
        lines = "".join(f"{s},0.1,{error}\n" for s in steps)
        logs[-1].write_text("step,losses/cross_entropy,charts/val_error\n" + lines)
    rows, starts = visualize.read_stages(logs)
    assert [float(r["step"]) for r in rows] == [50, 100, 150, 200, 250] and starts == [100.0]
    assert [r["charts/val_error"] for r in rows] == ["0.02", "0.02", "0.01", "0.01", "0.01"]
    fig = visualize.curves_figure(rows, "two stages", starts)
    assert all(any(list(line.get_xdata()) == [100.0, 100.0] for line in ax.lines) for ax in fig.axes)  # stage line
    env = gym.make("GlimpseMNIST-v0", num_glimpses=2)
    checkpoint = tmp_path / "policy.pt"
    RAMPolicy(RAM(RAMConfig.from_env(env)), "GlimpseMNIST-v0", {"num_glimpses": 2}).save(checkpoint)
    proc = subprocess.run([sys.executable, str(ROOT / "train" / "visualize.py"), "--checkpoint", str(checkpoint),
                           "--csv", str(logs[0]), str(tmp_path / "gone.csv")], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "--csv: no file at" in proc.stderr and "gone.csv" in proc.stderr


def test_learning_curves_draw_the_trained_weights_beside_their_average(tmp_path: Path) -> None:
    """An --ema-decay run logs val_error (the average) and val_error_raw (the weights as trained): both are drawn."""
    visualize = import_script("visualize")
    log = tmp_path / "progress.csv"
    log.write_text("step,losses/cross_entropy,charts/val_error,charts/val_error_mc,charts/val_error_raw\n"
                   "50,0.1,0.01,0.008,0.012\n100,0.1,0.009,0.007,0.011\n")
    rows, _ = visualize.read_stages([log])
    val = visualize.curves_figure(rows, "ema").axes[2]
    labels = {line.get_label(): list(line.get_ydata()) for line in val.lines}
    assert labels == {"deterministic": [0.01, 0.009], "MC": [0.008, 0.007],
                      "deterministic, weights not averaged": [0.012, 0.011]}
    # A run without the average: two val lines.
    log.write_text("step,losses/cross_entropy,charts/val_error,charts/val_error_mc\n50,0.1,0.01,0.008\n")
    val = visualize.curves_figure(visualize.read_stages([log])[0], "plain").axes[2]
    assert [line.get_label() for line in val.lines] == ["deterministic", "MC"]
