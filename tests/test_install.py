"""The package as a user gets it: a wheel built from a copy of the clone, installed into a fresh venv, used from
another folder. The venv sees this interpreter's packages (torch, gymnasium, ... are not downloaded again) but
not the clone: ``ram_env``, ``agents`` and ``ram_train`` must come from the wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, require_dataset

_IGNORE = shutil.ignore_patterns(".git", "runs", "figures", "build", "dist", "*.egg-info", "__pycache__",
                                 ".pytest_cache", ".ruff_cache", ".data", ".cache", ".venv", "tests")


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_wheel_installs_and_trains_from_another_folder(tmp_path: Path) -> None:
    require_dataset("mnist")
    source = tmp_path / "clone"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_IGNORE)
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w",
          str(tmp_path / "wheels"), str(source)], tmp_path)
    wheel = next((tmp_path / "wheels").glob("ram_env-*.whl"))
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp_path / "venv")], tmp_path)
    bin_dir = tmp_path / "venv" / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
         tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    where = _run([str(bin_dir / "python"), "-c", "import agents, ram_env, ram_train, ram_train.sb3_agent; "
                  "print(ram_env.__file__, agents.__file__, ram_train.__file__)"], elsewhere).stdout
    assert all(str(tmp_path / "venv") in path for path in where.split()), where

    report = json.loads(_run([str(bin_dir / "ram-evaluate"), "--checkpoint", "mnist-6g", "--images", "20",
                              "--samples", "1"], elsewhere).stdout)
    assert report["env_id"] == "GlimpseMNIST-v0" and report["images"] == 20 and report["error_deterministic"] < 0.3
    _run([str(bin_dir / "python"), "-m", "ram_train.evaluate", "--help"], elsewhere)
    for script in ("ram-visualize", "ram-sb3", "ram-image-teacher", "ram-attention-table"):
        _run([str(bin_dir / script), "--help"], elsewhere)

    _run([str(bin_dir / "ram-train"), "--preset", "mnist-2g", "--max-steps", "2", "--batch-size", "8",
          "--num-samples", "1", "--val-images", "20", "--val-samples", "1", "--test-images", "20",
          "--test-samples", "1", "--no-figures", "--no-progress-bar", "--name", "wheel"], elsewhere)
    results = json.loads((elsewhere / "runs" / "wheel" / "test_results.json").read_text())
    assert results["steps"] == 2


def test_import_ram_env_needs_only_the_core_dependencies() -> None:
    """``import ram_env`` (and the wrappers, the agent, an env) loads none of the extras: SB3 loads on first use."""
    extras = {"stable_baselines3", "sb3_contrib", "matplotlib", "tensorboard", "rich"}
    code = ("import sys, gymnasium as gym, ram_env, ram_env.wrappers, agents.ram; "
            "gym.make('GlimpseMNIST-v0', images=__import__('numpy').zeros((4, 28, 28), 'uint8'), labels=[0, 1, 2, 3]); "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(extras)!r})))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout
