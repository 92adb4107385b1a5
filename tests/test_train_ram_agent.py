"""The training script as a user runs it: a subprocess on real MNIST with a tiny budget.

Checks the artefacts of a run, ``--help``, the NaN stop, seeded repeatability, resuming after a
``kill -9`` and that ``train/evaluate.py`` reproduces the run's test figures.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from agents.ram import NETWORK_FIELDS, RAM, RAMConfig, RAMPolicy
from conftest import import_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "train" / "ram_agent.py"
EVALUATE = ROOT / "train" / "evaluate.py"

# Six steps of 8 images x 2 paths, two validations on 100 val images, a test on 200 images.
TINY = ["--max-steps", "6", "--batch-size", "8", "--num-samples", "2", "--val-every", "3", "--val-images", "100",
        "--val-samples", "2", "--test-images", "200", "--test-samples", "2", "--checkpoint-every", "2",
        "--log-every", "1", "--threads", "1", "--device", "cpu", "--seed", "3"]


def run_script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=os.environ.copy(), capture_output=True,
                          text=True, timeout=timeout)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    proc = run_script(SCRIPT, *TINY, "--output-dir", out, "--name", "tiny")
    assert proc.returncode == 0, proc.stderr
    return out / "tiny"


def test_run_writes_every_artefact(tiny_run: Path) -> None:
    for name in ("progress.csv", "latest.pt", "best.pt", "latest_state.pt", "glimpses.png", "episode.gif",
                 "test_results.json"):
        assert (tiny_run / name).stat().st_size > 0, name
    assert list(tiny_run.glob("events.out.tfevents.*")), "no TensorBoard log"
    assert not list(tiny_run.glob(".*tmp*")), "a temporary file was left behind"
    assert (tiny_run / "glimpses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tiny_run / "episode.gif").read_bytes()[:6] == b"GIF89a"

    rows = read_csv(tiny_run / "progress.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    for column in ("losses/cross_entropy", "losses/baseline_mse", "losses/reinforce", "charts/train_accuracy",
                   "charts/learning_rate", "charts/samples_per_s"):
        assert all(r[column] != "" for r in rows), column
    assert [r["charts/val_error"] != "" for r in rows] == [False, False, True, False, False, True]

    policy = RAMPolicy.load(tiny_run / "best.pt", device="cpu")
    assert policy.env_id == "GlimpseMNIST-v0" and policy.config.num_glimpses == 6
    state = torch.load(tiny_run / "latest_state.pt", weights_only=True)
    assert state["step"] == 6

    results = json.loads((tiny_run / "test_results.json").read_text())
    assert results["test_images"] == 200 and results["steps"] == 6
    assert 0 <= results["test_error_deterministic"] <= 1 and 0 <= results["test_error_mc"] <= 1
    for key in ("command", "wall_clock_s", "hardware", "torch", "best_val_error"):
        assert key in results


def test_help_lists_every_field_with_its_docstring() -> None:
    proc = run_script(SCRIPT, "--help")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    module, cli = import_script("ram_agent"), import_script("cli")
    docs = cli.field_docs(module.Args)
    for field in dataclasses.fields(module.Args):
        assert "--" + field.name.replace("_", "-") in text, field.name
        assert " ".join(docs[field.name].split()[:6]) in text, field.name
    epochs = module.PRESETS[module.DEFAULT_PRESET]["epochs"]  # what a run without --preset gets, not the field's
    assert f"(default: {module.Args.epochs}; the default preset {module.DEFAULT_PRESET} sets {epochs})" in text


def test_presets_fill_only_what_is_not_given() -> None:
    module = import_script("ram_agent")
    args = module.resolve_args(["--preset", "mnist-2g", "--learning-rate", "0.5", "--env-kwargs", '{"num_scales": 2}'])
    assert args.env_kwargs == {"initial_location": "center", "num_glimpses": 2, "num_scales": 2}
    assert args.learning_rate == 0.5 and args.epochs == module.PRESETS["mnist-2g"]["epochs"]


def test_a_presets_control_drops_the_policy_flags_it_set_but_not_the_given_ones() -> None:
    """mnist-6g trains REINFORCE into the core; its control (--random-locations) has no policy to train."""
    module = import_script("ram_agent")
    assert module.PRESETS["mnist-6g"]["reinforce_into_core"]
    args = module.resolve_args(["--preset", "mnist-6g", "--random-locations"])
    assert args.random_locations and not args.reinforce_into_core and not args.learn_std
    assert module.resolve_args(["--preset", "mnist-6g"]).reinforce_into_core
    with pytest.raises(SystemExit, match="--reinforce-into-core trains the location policy"):
        module.resolve_args(["--preset", "mnist-6g", "--random-locations", "--reinforce-into-core"])


@pytest.mark.parametrize("preset", sorted(import_script("presets").PRESETS))
def test_every_preset_builds_its_env_and_agent(preset: str) -> None:
    """Each row's env, kwargs and model flags make a working env and a RAM that fits its spaces."""
    import gymnasium as gym

    from agents.ram import RAM, RAMConfig

    module = import_script("ram_agent")
    args = module.resolve_args(["--preset", preset])
    envs = gym.make_vec(args.env_id, num_envs=2, split="val", autoreset_mode="disabled", **args.env_kwargs)
    config = RAMConfig.from_env(envs, core_type=args.core_type, conv_glimpse=args.conv_glimpse,
                                location_std=args.location_std)
    obs, _ = envs.reset(seed=0)
    model = RAM(config)
    state, features = model.step(obs["glimpse"], obs["location"], model.initial_state(2))
    assert features.shape == (2, config.core_hidden) and torch.isfinite(features).all()


def test_nan_loss_stops_with_a_clear_message(tmp_path: Path) -> None:
    proc = run_script(SCRIPT, *TINY, "--debug-nan-step", "3", "--output-dir", tmp_path, "--name", "nan")
    assert proc.returncode != 0
    assert "not finite at step 3" in proc.stderr and "cross_entropy=" in proc.stderr, proc.stderr
    assert not (tmp_path / "nan" / "test_results.json").exists()


def test_bfloat16_training_runs_in_bfloat16_and_validates_in_float32(tiny_run: Path, tmp_path: Path) -> None:
    proc = run_script(SCRIPT, *TINY, "--precision", "bfloat16", "--no-figures", "--output-dir", tmp_path,
                      "--name", "bf16")
    assert proc.returncode == 0, proc.stderr
    # Where the CPU has no bfloat16 instructions the run says it is emulated (and slow), and only there.
    assert ("is emulated" in proc.stderr) == (not import_script("ram_agent").cpu_has_bfloat16()), proc.stderr
    bf16, fp32 = read_csv(tmp_path / "bf16" / "progress.csv"), read_csv(tiny_run / "progress.csv")
    first = [float(rows[0]["losses/cross_entropy"]) for rows in (bf16, fp32)]
    assert first[0] != first[1] and abs(first[0] - first[1]) < 0.05 * first[1]  # same seed, bfloat16 arithmetic
    # The logged val error is the float32 figure of the saved file (validation does not run in bfloat16).
    import gymnasium as gym

    from agents.ram import evaluate

    policy = RAMPolicy.load(tmp_path / "bf16" / "best.pt", device="cpu")
    assert next(policy.model.parameters()).dtype == torch.float32
    envs = gym.make_vec(policy.env_id, num_envs=200, split="val", autoreset_mode="disabled", **policy.env_kwargs)
    result = evaluate(policy.model, envs, num_samples=2, num_images=100, seed=0)
    assert result["error_deterministic"] == min(float(r["charts/val_error"]) for r in bf16 if r["charts/val_error"])
    proc = run_script(SCRIPT, *TINY, "--precision", "float16", "--output-dir", tmp_path, "--name", "f16")
    assert proc.returncode != 0 and "--precision must be one of ['auto', 'bfloat16', 'float32']" in proc.stderr


def test_consistency_term_is_logged_saved_and_needs_two_paths(tmp_path: Path) -> None:
    proc = run_script(SCRIPT, *TINY, "--consistency-weight", "1.0", "--no-figures", "--output-dir", tmp_path,
                      "--name", "cons")
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(tmp_path / "cons" / "progress.csv")
    assert len(rows) == 6 and all(float(r["losses/consistency"]) > 0 for r in rows)
    assert RAMPolicy.load(tmp_path / "cons" / "best.pt").config.consistency_weight == 1.0
    proc = run_script(SCRIPT, *TINY, "--consistency-weight", "1.0", "--num-samples", "1", "--output-dir", tmp_path,
                      "--name", "one-path")
    assert proc.returncode != 0 and "needs two paths per image" in proc.stderr, proc.stderr


def test_mean_path_adds_one_episode_per_image_and_is_saved(tmp_path: Path) -> None:
    # One sampled path and the mean path: two paths per image, enough for the consistency term.
    proc = run_script(SCRIPT, *TINY, "--num-samples", "1", "--mean-path", "--consistency-weight", "1.0",
                      "--no-figures", "--output-dir", tmp_path, "--name", "mean")
    assert proc.returncode == 0, proc.stderr
    assert "8 images x 2 paths" in proc.stdout
    rows = read_csv(tmp_path / "mean" / "progress.csv")
    assert len(rows) == 6 and all(float(r["losses/consistency"]) > 0 for r in rows)
    assert RAMPolicy.load(tmp_path / "mean" / "best.pt").config.mean_path
    # --resume continues the run as it was started (one sampled path and the mean path), from its name alone ...
    proc = run_script(SCRIPT, "--max-steps", "8", "--log-every", "1", "--threads", "1", "--device", "cpu",
                      "--no-progress-bar", "--output-dir", tmp_path, "--name", "mean", "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "resumed" in proc.stdout and "8 images x 2 paths" in proc.stdout
    assert [int(r["step"]) for r in read_csv(tmp_path / "mean" / "progress.csv")] == list(range(1, 9))
    # ... and refuses a flag that would change it.
    proc = run_script(SCRIPT, "--num-samples", "3", "--output-dir", tmp_path, "--name", "mean", "--resume")
    assert proc.returncode != 0 and "as it was started (--num-samples 1)" in proc.stderr, proc.stderr
    proc = run_script(SCRIPT, *TINY, "--mean-path", "--random-locations", "--output-dir", tmp_path, "--name", "x")
    assert proc.returncode != 0 and "--random-locations has no policy to follow" in proc.stderr, proc.stderr
    proc = run_script(SCRIPT, *TINY, "--mean-path", "--num-samples", "0", "--output-dir", tmp_path, "--name", "x")
    assert proc.returncode != 0 and "--num-samples must be at least 1" in proc.stderr, proc.stderr


def test_policy_flags_reach_the_model_and_are_saved(tmp_path: Path) -> None:
    """--learn-std, --no-tanh-mean and --reinforce-into-core set the agent's options of the same names."""
    proc = run_script(SCRIPT, *TINY, "--learn-std", "--location-std", "0.2", "--no-tanh-mean", "--reinforce-into-core",
                      "--no-figures", "--output-dir", tmp_path, "--name", "policy-flags")
    assert proc.returncode == 0, proc.stderr
    policy = RAMPolicy.load(tmp_path / "policy-flags" / "latest.pt")
    config = policy.config
    assert config.learn_std and not config.tanh_mean and config.reinforce_into_core and config.location_std == 0.2
    log_std = policy.model.location_policy.log_std
    assert isinstance(log_std, torch.nn.Parameter)  # learned: REINFORCE moved it from its start
    assert not torch.allclose(log_std.detach(), torch.full((2,), math.log(0.2)), rtol=0, atol=1e-6), log_std
    # A fixed-std file starts a run that learns its std from --location-std ...
    proc = run_script(SCRIPT, *TINY, "--max-steps", "1", "--init-from", tmp_path / "policy-flags" / "latest.pt",
                      "--no-figures", "--output-dir", tmp_path, "--name", "fixed")
    assert proc.returncode == 0, proc.stderr
    proc = run_script(SCRIPT, *TINY, "--init-from", tmp_path / "fixed" / "latest.pt", "--learn-std", "--location-std",
                      "0.3", "--no-figures", "--output-dir", tmp_path, "--name", "learn-from-fixed")
    assert proc.returncode == 0, proc.stderr
    learned = RAMPolicy.load(tmp_path / "learn-from-fixed" / "latest.pt").model.location_policy.log_std.detach()
    torch.testing.assert_close(learned, torch.full((2,), math.log(0.3)), rtol=0, atol=1e-3)
    # ... and a file that learned its std goes on learning it with --learn-std, and takes --location-std without.
    for learn in (True, False):
        name = f"stage-learn-{learn}"
        proc = run_script(SCRIPT, *TINY, "--init-from", tmp_path / "policy-flags" / "latest.pt", "--no-figures",
                          *(["--learn-std"] if learn else []), "--output-dir", tmp_path, "--name", name)
        assert proc.returncode == 0, proc.stderr
        stage = RAMPolicy.load(tmp_path / name / "latest.pt")
        assert stage.config.learn_std == learn and stage.config.location_std == 0.1 and not stage.config.tanh_mean
        start = log_std.detach() if learn else torch.full((2,), math.log(0.1))
        torch.testing.assert_close(stage.model.location_policy.log_std.detach(), start, rtol=0,
                                   atol=1e-3 if learn else 0)
    for flag in ("--learn-std", "--reinforce-into-core"):
        proc = run_script(SCRIPT, *TINY, flag, "--random-locations", "--output-dir", tmp_path, "--name", "x")
        assert proc.returncode != 0 and "--random-locations has no policy and no REINFORCE" in proc.stderr, proc.stderr


def test_init_from_may_change_the_shift_and_glimpse_count_but_not_the_task(tiny_run: Path, tmp_path: Path) -> None:
    start = tiny_run / "best.pt"
    proc = run_script(SCRIPT, *TINY, "--init-from", start, "--env-kwargs", '{"max_shift": 2}', "--no-figures",
                      "--output-dir", tmp_path, "--name", "shifted")
    assert proc.returncode == 0, proc.stderr
    policy = RAMPolicy.load(tmp_path / "shifted" / "best.pt")
    assert policy.env_kwargs == {**RAMPolicy.load(start).env_kwargs, "max_shift": 2}
    # Another number of glimpses is the same network on a longer or shorter episode: allowed ...
    proc = run_script(SCRIPT, *TINY, "--init-from", start, "--env-kwargs", '{"num_glimpses": 3}', "--no-figures",
                      "--output-dir", tmp_path, "--name", "three")
    assert proc.returncode == 0, proc.stderr
    assert RAMPolicy.load(tmp_path / "three" / "best.pt").env_kwargs["num_glimpses"] == 3
    # ... another glimpse size or canvas is another task, refused.
    proc = run_script(SCRIPT, *TINY, "--init-from", start, "--env-kwargs", '{"glimpse_size": 6}', "--no-figures",
                      "--output-dir", tmp_path, "--name", "other-task")
    assert proc.returncode != 0 and "was trained on GlimpseMNIST-v0" in proc.stderr, proc.stderr
    transferable = "['horizontal_flip', 'max_rotation', 'max_shift', 'num_glimpses']"
    assert f"{transferable}, which the weights do not depend on" in proc.stderr


def test_init_from_takes_this_runs_dropout_and_may_widen_the_glimpse_network(tiny_run: Path, tmp_path: Path) -> None:
    start = tiny_run / "best.pt"
    assert RAMPolicy.load(start).config.dropout == 0.0 and RAMPolicy.load(start).config.conv_glimpse
    proc = run_script(SCRIPT, *TINY, "--init-from", start, "--dropout", "0.1", "--conv-channels", "40",
                      "--glimpse-hidden", "144", "--no-figures", "--output-dir", tmp_path, "--name", "wide")
    assert proc.returncode == 0, proc.stderr
    config = RAMPolicy.load(tmp_path / "wide" / "best.pt").config
    assert (config.dropout, config.conv_channels, config.glimpse_hidden) == (0.1, 40, 144)
    proc = run_script(SCRIPT, *TINY, "--init-from", start, "--glimpse-hidden", "64", "--no-figures",
                      "--output-dir", tmp_path, "--name", "narrow")
    assert proc.returncode != 0, proc.stderr
    assert "glimpse_hidden 64 is narrower than the file's 128: a file starts a network as wide or wider" in proc.stderr


def test_init_from_keeps_the_files_network_and_takes_the_rest_from_this_run(tiny_run: Path, tmp_path: Path) -> None:
    """A file trained with other settings than this run's (every field outside NETWORK_FIELDS differs) starts a run
    whose config is this run's but for the file's network, which wins over the run's network flags. A new RAMConfig
    field fails here until it is given a side."""
    tiny = RAMPolicy.load(tiny_run / "best.pt")
    other = {"num_glimpses": 3, "location_std": 0.25, "learn_std": True, "reinforce_into_core": False,
             "reinforce_weight": 0.5, "policy_reward": "env", "consistency_weight": 0.7, "mean_path": True,
             "dropout": 0.2, "distill_weight": 0.4}
    assert set(other) == {f.name for f in dataclasses.fields(RAMConfig)} - set(NETWORK_FIELDS)
    assert all(getattr(tiny.config, name) != value for name, value in other.items())
    model = RAM(dataclasses.replace(tiny.config, tanh_mean=False, **other))  # tanh_mean: the file's, not a default
    model.load_state_dict(tiny.model.state_dict())
    RAMPolicy(model, tiny.env_id, {**tiny.env_kwargs, "num_glimpses": 3}).save(tmp_path / "other.pt")
    proc = run_script(SCRIPT, *TINY, "--init-from", tmp_path / "other.pt", "--core-type", "rnn", "--core-hidden", "64",
                      "--no-figures", "--output-dir", tmp_path, "--name", "started")
    assert proc.returncode == 0, proc.stderr
    started = RAMPolicy.load(tmp_path / "started" / "best.pt").config
    assert started == dataclasses.replace(tiny.config, tanh_mean=False)  # the run's settings, the file's network
    proc = run_script(SCRIPT, *TINY, "--init-from", tmp_path / "other.pt", "--random-locations", "--no-figures",
                      "--output-dir", tmp_path, "--name", "control")
    assert proc.returncode != 0, proc.stderr
    assert "is a policy, not a control: --random-locations must agree with the file" in proc.stderr


def test_seeded_runs_repeat(tiny_run: Path, tmp_path: Path) -> None:
    proc = run_script(SCRIPT, *TINY, "--output-dir", tmp_path, "--name", "again")
    assert proc.returncode == 0, proc.stderr
    columns = ["losses/loss", "losses/cross_entropy", "losses/baseline_mse", "losses/reinforce", "charts/val_error"]
    first = [[r[c] for c in columns] for r in read_csv(tiny_run / "progress.csv")]
    second = [[r[c] for c in columns] for r in read_csv(tmp_path / "again" / "progress.csv")]
    assert first == second
    a, b = (json.loads((d / "test_results.json").read_text()) for d in (tiny_run, tmp_path / "again"))
    assert a["test_error_deterministic"] == b["test_error_deterministic"] and a["test_error_mc"] == b["test_error_mc"]


def test_validation_does_not_change_the_training_draws(tmp_path: Path) -> None:
    """Dropout masks, location noise and episodes are functions of the seed and the step: validating every
    step or only at the end trains the same weights (validation once reseeded the global RNG, so the
    dropout masks after it repeated every validation period, whatever the seed)."""
    losses = []
    for val_every in ("1", "6"):
        name = f"val{val_every}"
        proc = run_script(SCRIPT, *TINY, "--dropout", "0.3", "--val-every", val_every, "--no-figures",
                          "--output-dir", tmp_path, "--name", name)
        assert proc.returncode == 0, proc.stderr
        losses.append([r["losses/loss"] for r in read_csv(tmp_path / name / "progress.csv")])
    assert losses[0] == losses[1]


def test_resume_after_kill_loses_at_most_one_checkpoint_interval(tmp_path: Path) -> None:
    interval = 20
    args = [*TINY, "--max-steps", "400", "--checkpoint-every", str(interval), "--val-every", "200", "--no-figures",
            "--output-dir", tmp_path, "--name", "killed"]
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT, env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not (run_dir / "latest_state.pt").exists():  # the first checkpoint, step 20
            assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
            time.sleep(0.05)
        time.sleep(0.3)
        assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    checkpoint_step = torch.load(run_dir / "latest_state.pt", weights_only=True)["step"]
    logged_step = int(read_csv(run_dir / "progress.csv")[-1]["step"])
    assert checkpoint_step % interval == 0 and 0 <= logged_step - checkpoint_step <= interval

    resumed = run_script(SCRIPT, *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed {run_dir} at step {checkpoint_step}" in resumed.stdout
    steps = [int(r["step"]) for r in read_csv(run_dir / "progress.csv")]
    assert steps == list(range(1, 401)), "the log must hold each step once after a resume"
    assert json.loads((run_dir / "test_results.json").read_text())["steps"] == 400


def test_resume_refuses_a_missing_run_and_a_fresh_run_refuses_an_existing_one(tiny_run: Path) -> None:
    module = import_script("ram_agent")
    with pytest.raises(SystemExit, match="no checkpoint"):
        module.main(["--output-dir", str(tiny_run.parent), "--name", "nowhere", "--resume"])
    with pytest.raises(SystemExit, match="--resume"):
        module.main(["--output-dir", str(tiny_run.parent), "--name", "tiny"])


def test_resume_of_a_run_older_than_a_flag_takes_the_flags_default(tiny_run: Path, tmp_path: Path) -> None:
    """A checkpoint written before --ema-decay and --policy-reward existed ran without them: --resume keeps it so,
    and refuses them as flags that disagree with the run (rather than crash, or change the objective mid-run)."""
    module = import_script("ram_agent")
    state = torch.load(tiny_run / "latest_state.pt", weights_only=True)
    for name in ("ema_decay", "policy_reward"):
        del state["args"][name]
    (tmp_path / "old").mkdir()
    torch.save(state, tmp_path / "old" / "latest_state.pt")
    resume = ["--output-dir", str(tmp_path), "--name", "old", "--resume"]
    args = module.resolve_args(resume)
    assert (args.ema_decay, args.policy_reward, args.batch_size) == (0.0, "env", 8)
    with pytest.raises(SystemExit, match="--ema-decay 0.0"):
        module.resolve_args([*resume, "--ema-decay", "0.999"])
    with pytest.raises(SystemExit, match="--policy-reward 'env'"):
        module.resolve_args([*resume, "--policy-reward", "probability"])
    with pytest.raises(SystemExit, match="--policy-reward must be one of"):
        module.resolve_args(["--policy-reward", "accuracy"])


def test_evaluate_reproduces_the_runs_test_figures(tiny_run: Path) -> None:
    results = json.loads((tiny_run / "test_results.json").read_text())
    proc = run_script(EVALUATE, "--checkpoint", tiny_run / "best.pt", "--images", "200", "--samples", "2",
                      "--device", "cpu", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["images"] == 200 and report["split"] == "test"
    assert report["error_deterministic"] == results["test_error_deterministic"]
    assert report["error_mc"] == results["test_error_mc"]


def test_bench_training_reads_the_time_to_a_val_target_from_a_runs_log(tiny_run: Path) -> None:
    bench = import_script("bench_training", "benchmarks")
    rows = [r for r in read_csv(tiny_run / "progress.csv") if r["charts/val_error"]]
    first = rows[0]  # every error is <= 1: the first validation reaches it
    assert f"at step {first['step']}," in bench.time_to_target(tiny_run, 1.0)
    mc = float(first["charts/val_error_mc"])
    assert f"mc val error {100 * mc:.2f} %" in bench.time_to_target(tiny_run, 1.0, "mc")
    assert "mc val error never reached -100.00 %" in bench.time_to_target(tiny_run, -1.0, "mc")
    lowest = min(float(r["charts/val_error"]) for r in rows)  # the first row at or under the lowest error
    step = next(r["step"] for r in rows if float(r["charts/val_error"]) <= lowest)
    assert f"at step {step}," in bench.time_to_target(tiny_run, lowest)
    with pytest.raises(ValueError, match="metric must be one of"):
        bench.time_to_target(tiny_run, 1.0, "median")


def test_ema_weights_are_validated_saved_and_resumed(tmp_path: Path) -> None:
    ema = [*TINY, "--ema-decay", "0.5", "--no-figures", "--output-dir", tmp_path]
    proc = run_script(SCRIPT, *ema, "--name", "ema")
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(tmp_path / "ema" / "progress.csv")
    assert [r["charts/val_error_raw"] != "" for r in rows] == [False, False, True, False, False, True]
    state = torch.load(tmp_path / "ema" / "latest_state.pt", weights_only=True)
    assert int(state["averaged"]["n_averaged"]) == 6  # one update per optimizer step
    # latest.pt holds the average, not the trained weights.
    saved = RAMPolicy.load(tmp_path / "ema" / "latest.pt", device="cpu").model.state_dict()
    averaged = {k.removeprefix("module."): v for k, v in state["averaged"].items() if k != "n_averaged"}
    assert saved.keys() == averaged.keys() == state["model"].keys()
    assert all(torch.equal(saved[k], averaged[k]) for k in saved)
    name = "glimpse.what.weight" if "glimpse.what.weight" in saved else next(k for k in saved if k.endswith("weight"))
    assert not torch.equal(saved[name], state["model"][name])
    # An interrupted run resumes its average: 3 steps, then --resume to 6, ends where the 6-step run did.
    proc = run_script(SCRIPT, *ema, "--name", "cut", "--max-steps", "3")
    assert proc.returncode == 0, proc.stderr
    proc = run_script(SCRIPT, "--max-steps", "6", "--threads", "1", "--device", "cpu", "--no-progress-bar",
                      "--output-dir", tmp_path, "--name", "cut", "--resume")
    assert proc.returncode == 0, proc.stderr
    resumed = RAMPolicy.load(tmp_path / "cut" / "latest.pt", device="cpu").model.state_dict()
    assert all(torch.equal(resumed[k], saved[k]) for k in saved)
    proc = run_script(SCRIPT, *TINY, "--ema-decay", "1.0", "--output-dir", tmp_path, "--name", "x")
    assert proc.returncode != 0 and "--ema-decay must be in [0, 1)" in proc.stderr, proc.stderr


def test_teacher_adds_a_distillation_term_and_must_play_the_same_task(tiny_run: Path, tmp_path: Path) -> None:
    """--teacher: the shipped mnist-6g file (another network: an LSTM, a conv glimpse net) teaches a run of the
    default preset with 3 glimpses (another count: allowed); the term is logged and weighted in, and a teacher of
    another task is refused."""
    teacher = ROOT / "agents" / "pretrained" / "mnist-6g.pt"
    proc = run_script(SCRIPT, *TINY, "--teacher", teacher, "--teacher-samples", "2", "--distill-weight", "0.5",
                      "--env-kwargs", '{"num_glimpses": 3}', "--core-type", "rnn", "--no-figures",
                      "--output-dir", tmp_path, "--name", "taught", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "class distributions of 55000 training images (2 paths each" in proc.stdout
    rows = read_csv(tmp_path / "taught" / "progress.csv")
    assert all(float(r["losses/distillation"]) > 0 for r in rows)
    assert RAMPolicy.load(tmp_path / "taught" / "best.pt").config.distill_weight == 0.5
    assert all(float(r["losses/distillation"]) == 0 for r in read_csv(tiny_run / "progress.csv"))  # no teacher
    # The next run with that teacher reads its targets back, and trains the same.
    assert len(list((tmp_path / ".teacher-targets").glob("*-2-paths.pt"))) == 1
    proc = run_script(SCRIPT, *TINY, "--teacher", teacher, "--teacher-samples", "2", "--distill-weight", "0.5",
                      "--env-kwargs", '{"num_glimpses": 3}', "--core-type", "rnn", "--no-figures",
                      "--output-dir", tmp_path, "--name", "taught-again")
    assert proc.returncode == 0 and "read from" in proc.stdout, proc.stderr
    assert read_csv(tmp_path / "taught-again" / "progress.csv")[-1]["losses/loss"] == rows[-1]["losses/loss"]
    proc = run_script(SCRIPT, *TINY, "--teacher", ROOT / "agents" / "pretrained" / "translated-4g.pt",
                      "--output-dir", tmp_path, "--name", "other-task")
    assert proc.returncode != 0, proc.stderr
    assert "--teacher" in proc.stderr and "was trained on GlimpseTranslatedMNIST-v0" in proc.stderr
    for bad, message in ((["--distill-weight", "-1"], "--distill-weight must be a non-negative number"),
                         (["--teacher-samples", "0"], "--teacher-samples must be at least 1")):
        proc = run_script(SCRIPT, *TINY, *bad, "--output-dir", tmp_path, "--name", "bad")
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr
