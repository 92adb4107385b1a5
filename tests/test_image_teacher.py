"""The whole-image teacher (``agents.image_teacher``, ``train/image_teacher.py``) on real MNIST, and what
``--teacher`` does with it: targets, temperature, and a run distilling from it."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agents.distill import load_teacher, soften, teacher_targets
from agents.image_teacher import ImageClassifier, ImageTeacher, is_image_teacher_file
from agents.ram import RAMPolicy
from conftest import import_script
from ram_env.config import to_nchw
from ram_env.data import load_split

ROOT = Path(__file__).resolve().parents[1]
TEACHER_SCRIPT = ROOT / "train" / "image_teacher.py"
RAM_SCRIPT = ROOT / "train" / "ram_agent.py"


def run_script(*args: object, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=os.environ.copy(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small teacher trained for 60 steps on real MNIST (a few seconds on one core)."""
    out = tmp_path_factory.mktemp("teachers")
    proc = run_script(TEACHER_SCRIPT, "--preset", "mnist-2g", "--width", "8", "--max-steps", "60", "--batch-size",
                      "64", "--warmup-steps", "10", "--val-images", "1000", "--test-images", "1000", "--threads", "1",
                      "--device", "cpu", "--output-dir", out, "--name", "mnist")
    assert proc.returncode == 0, proc.stderr
    return out / "mnist"


def test_the_script_trains_a_teacher_that_learns_mnist(trained: Path) -> None:
    results = json.loads((trained / "test_results.json").read_text())
    # 60 steps of 64 images: far from chance (90 % error), chosen on val and tested once on test.
    assert results["best_val_error"] < 0.3 and results["test_error"] < 0.3 and results["test_images"] == 1000
    with open(trained / "progress.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and float(rows[-1]["train_accuracy"]) > 0.5 and min(float(r["val_error"]) for r in rows) == \
        pytest.approx(results["best_val_error"])
    assert list(trained.glob("events.out.tfevents.*")) and not list(trained.glob(".*tmp*"))
    teacher = ImageTeacher.load(trained / "best.pt", device="cpu")
    assert teacher.env_id == "GlimpseMNIST-v0" and teacher.env_kwargs["num_glimpses"] == 2
    proc = run_script(TEACHER_SCRIPT, "--preset", "mnist-2g", "--output-dir", trained.parent, "--name", "mnist")
    assert proc.returncode != 0 and "already holds a teacher" in proc.stderr  # nothing overwritten


def test_the_script_refuses_canvas_tasks_and_bad_values(tmp_path: Path) -> None:
    proc = run_script(TEACHER_SCRIPT, "--preset", "translated-4g", "--max-steps", "1", "--output-dir", tmp_path)
    assert proc.returncode != 0 and "canvas" in proc.stderr and "GlimpseCIFAR10-v0" in proc.stderr
    for flags, message in ((["--width", "0"], "--width must be at least 1"),
                           (["--learning-rate", "-1"], "--learning-rate must be positive"),
                           (["--preset", "nope"], "--preset must be one of")):
        proc = run_script(TEACHER_SCRIPT, *flags, "--output-dir", tmp_path)
        assert proc.returncode != 0 and message in proc.stderr, (flags, proc.stderr)


def test_save_load_round_trip_and_file_kinds(tmp_path: Path) -> None:
    torch.manual_seed(0)
    teacher = ImageTeacher(ImageClassifier(3, 10, width=4), "GlimpseCIFAR10-v0", {"num_glimpses": 4})
    teacher.save(tmp_path / "t.pt")
    loaded = ImageTeacher.load(tmp_path / "t.pt", device="cpu")
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    torch.testing.assert_close(loaded.class_probabilities(images), teacher.class_probabilities(images))
    assert is_image_teacher_file(tmp_path / "t.pt") and isinstance(load_teacher(tmp_path / "t.pt", "cpu"), ImageTeacher)
    policy_file = ROOT / "agents" / "pretrained" / "mnist-2g.pt"
    assert not is_image_teacher_file(policy_file) and isinstance(load_teacher(policy_file, "cpu"), RAMPolicy)
    with pytest.raises(ValueError, match="not an image classifier file"):
        ImageTeacher.load(policy_file)
    with pytest.raises(ValueError, match="need in_channels"):
        ImageClassifier(3, 1)


def test_targets_are_the_softmax_of_each_training_image_in_index_order(trained: Path) -> None:
    teacher = ImageTeacher.load(trained / "best.pt", device="cpu")
    targets = teacher_targets(teacher, "train", num_images=400)
    images, labels = load_split("mnist", "train")
    assert targets.shape == (400, 10)
    torch.testing.assert_close(targets.sum(-1), torch.ones(400))
    torch.testing.assert_close(targets, teacher.class_probabilities(to_nchw(images[:400])))
    assert (targets.argmax(-1).numpy() == labels[:400]).mean() > 0.7  # row i is training image i


def test_soften_is_the_softmax_of_the_logits_over_the_temperature() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 3.0, 1.0]])
    q = torch.softmax(logits, -1)
    assert soften(q, 1.0) is q
    torch.testing.assert_close(soften(q, 2.0), torch.softmax(logits / 2, -1))
    assert (soften(q, 4.0).max(-1).values < q.max(-1).values).all()
    assert torch.equal(soften(q, 4.0).argmax(-1), q.argmax(-1))
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="temperature must be a positive number"):
            soften(q, bad)


def test_a_run_distils_from_an_image_teacher(trained: Path, tmp_path: Path) -> None:
    tiny = ["--max-steps", "4", "--batch-size", "8", "--num-samples", "2", "--val-images", "100", "--val-samples",
            "2", "--test-images", "100", "--test-samples", "2", "--threads", "1", "--device", "cpu", "--no-figures",
            "--no-progress-bar", "--output-dir", tmp_path]
    # The teacher learned mnist-2g's env (2 glimpses from the centre); it teaches mnist-4g's (4 from random places):
    # it sees whole images, so only the images must be the same.
    proc = run_script(RAM_SCRIPT, "--preset", "mnist-4g", *tiny, "--name", "student", "--teacher",
                      trained / "best.pt", "--teacher-temperature", "2")
    assert proc.returncode == 0, proc.stderr
    assert "the whole image, temperature 2" in proc.stdout
    assert len(list((tmp_path / ".teacher-targets").glob("*-image.pt"))) == 1
    with open(tmp_path / "student" / "progress.csv", newline="") as f:
        assert all(float(r["losses/distillation"]) > 0 for r in csv.DictReader(f))
    proc = run_script(RAM_SCRIPT, "--preset", "translated-4g", *tiny, "--name", "other", "--teacher",
                      trained / "best.pt")
    assert proc.returncode != 0 and "was trained on GlimpseMNIST-v0" in proc.stderr
    proc = run_script(RAM_SCRIPT, "--preset", "mnist-2g", *tiny, "--name", "bad", "--teacher", trained / "best.pt",
                      "--teacher-temperature", "0")
    assert proc.returncode != 0 and "--teacher-temperature must be a positive number" in proc.stderr
    proc = run_script(RAM_SCRIPT, "--preset", "mnist-2g", *tiny, "--name", "init", "--init-from", trained / "best.pt")
    assert proc.returncode != 0 and "--init-from: " in proc.stderr and "not a RAM policy file" in proc.stderr
    assert "Traceback" not in proc.stderr


# shipped teacher (named by its dataset) -> (env id, bound on its error over the first 1,000 test images; about 1.5x
# the file's)
SHIPPED_TEACHERS = {"mnist": ("GlimpseMNIST-v0", 0.01), "fashion-mnist": ("GlimpseFashionMNIST-v0", 0.1),
                    "cifar10": ("GlimpseCIFAR10-v0", 0.23)}


def test_shipped_teachers_classify_their_tasks_test_images() -> None:
    folder = ROOT / "agents" / "pretrained" / "teachers"
    assert {p.stem for p in folder.glob("*.pt")} == set(SHIPPED_TEACHERS)
    error_rate = import_script("image_teacher").error_rate
    for dataset, (env_id, bound) in SHIPPED_TEACHERS.items():
        teacher = ImageTeacher.load(folder / f"{dataset}.pt", device="cpu")
        assert teacher.env_id == env_id
        images, labels = load_split(dataset, "test")
        assert error_rate(teacher, to_nchw(images[:1000]), torch.tensor(labels[:1000])) <= bound, dataset
