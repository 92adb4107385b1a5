"""What the main job tells its user: the precision it picks, the first line, Ctrl-C's one line and ``--resume``
without ``--name``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import ROOT, import_script

ram_agent = import_script("ram_agent")
SCRIPT = ROOT / "train" / "ram_agent.py"
# Many fast steps (none validates before the end), so that Ctrl-C lands mid-run.
LONG = ["--preset", "mnist-2g", "--max-steps", "100000", "--batch-size", "8", "--num-samples", "1", "--val-every",
        "100000", "--val-images", "20", "--val-samples", "1", "--test-images", "20", "--test-samples", "1",
        "--checkpoint-every", "100000", "--threads", "1", "--device", "cpu", "--no-figures"]


def test_auto_precision_is_bfloat16_only_where_it_is_native() -> None:
    cpu = torch.device("cpu")
    native = ram_agent.cpu_has_bfloat16(default=False)
    assert ram_agent.auto_precision("auto", cpu) == ("bfloat16" if native else "float32")
    assert ram_agent.auto_precision("float32", cpu) == "float32"
    assert ram_agent.auto_precision("bfloat16", cpu) == "bfloat16"


def test_resume_without_name_takes_the_latest_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no run to continue"):
        ram_agent.latest_run(tmp_path)
    for name, age in (("old", 100), ("new", 0), ("newest-but-empty", -100)):
        (tmp_path / name).mkdir()
        if name != "newest-but-empty":
            state = tmp_path / name / "latest_state.pt"
            state.write_bytes(b"x")
            os.utime(state, (time.time() - age, time.time() - age))
    assert ram_agent.latest_run(tmp_path) == "new"


def test_ctrl_c_saves_and_prints_the_resume_command(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *LONG, "--output-dir", str(tmp_path), "--name", "run"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert first.startswith(f"run {tmp_path}/run/:") and ("float32" in first or "bfloat16" in first), first
    assert "about " in first  # the expected duration
    time.sleep(3)  # into the loop
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    last = err.strip().splitlines()[-1]
    command = f"python {SCRIPT} --output-dir {tmp_path} --name run --resume"
    assert last.startswith("stopped at step ") and last.endswith(f"saved {tmp_path}/run/latest_state.pt. Resume "
                                                                 f"with: {command}"), err
    step = int(last.split()[3])
    assert torch.load(tmp_path / "run" / "latest_state.pt", weights_only=True)["step"] == step

    # --resume without --name continues it; --max-steps (which a resume may change) ends it two steps later.
    done = subprocess.run([sys.executable, str(SCRIPT), "--output-dir", str(tmp_path), "--resume", "--max-steps",
                           str(step + 2), "--no-progress-bar"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"continuing {tmp_path}/run" in done.stdout
    assert torch.load(tmp_path / "run" / "latest_state.pt", weights_only=True)["step"] == step + 2
