"""The trained RAM agent as an inference policy: saved, loaded and queried the Stable-Baselines3 way.

```python
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv
from agents.ram import RAMPolicy

policy = RAMPolicy.from_pretrained("mnist-6g")           # a shipped policy by name; .load("runs/NAME/best.pt")
env = DummyVecEnv([lambda: policy.make_env(split="test")])   # gym.make(policy.env_id, **policy.env_kwargs, ...)
mean_reward, _ = evaluate_policy(policy, env, n_eval_episodes=100)   # test accuracy, deterministic
```

``predict`` takes one step's observations, as a VecEnv gives them, and the recurrent state it
returned last; the policy does not count steps. Every action carries both the next location (used
by the env on steps ``1 ... T-1``) and the class scores of the current state (used on step ``T``).
"""

from __future__ import annotations

import importlib.resources
import inspect
import os
import pickle
import re
import warnings
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.networks import RAM, RAMConfig, eval_mode
from agents.rollout import make_action
from ram_env import ENV_IDS
from ram_env.atomic import atomic_path
from ram_env.config import DATA_SOURCE_KWARGS
from ram_env.glimpse_env import GlimpseEnv

__all__ = [
    "FILE_ENV_KWARGS",
    "TASK_DATA_KWARGS",
    "RAMPolicy",
    "file_task",
    "load_torch_file",
    "read_model_file",
    "resolve_device",
    "to_plain",
    "write_model_file",
]

_FORMAT = "ram_policy/1"
_GLIMPSE_ENTRY_POINT = "ram_env.glimpse_env:GlimpseEnv"
FILE_ENV_KWARGS = frozenset(inspect.signature(GlimpseEnv).parameters) - {"render_mode", "images", "labels"}
FILE_ENV_KWARGS -= DATA_SOURCE_KWARGS
"""The env keyword arguments a model file may carry: the task's settings and the split :meth:`RAMPolicy.make_env`
defaults to (not arrays, nor where the data lives)."""

TASK_DATA_KWARGS = frozenset({"dataset", "images", "labels", "num_classes", "canvas_size", "num_clutter",
                              "clutter_size", "alphabets", "unknown_alphabets", "unseen_alphabets"})
"""Env kwargs that say which images a policy classifies: :meth:`RAMPolicy.make_env` warns when they change."""



def to_plain(value: Any, where: str = "env_kwargs") -> Any:
    """``value`` as plain Python types (what ``torch.load(weights_only=True)`` reads), or TypeError."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{where} must have string keys, got {list(value)}")
        return {k: to_plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise TypeError(f"{where} must hold plain values (None, bool, int, float, str, lists, dicts) so the "
                    f"file loads with weights_only=True; got {type(value).__name__}")


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch device; "auto" is CUDA where there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def write_model_file(path: str | os.PathLike, fmt: str, config: dict[str, Any], model: torch.nn.Module, env_id: str,
                     env_kwargs: dict[str, Any]) -> None:
    """Write a model file (``fmt``, the network's ``config``, its weights on the CPU, the task) to ``path``
    atomically: the one layout of every file a ``load`` here reads with ``weights_only=True``."""
    payload = {
        "format": fmt,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "env_id": env_id,
        "env_kwargs": {k: v for k, v in env_kwargs.items() if k not in DATA_SOURCE_KWARGS},  # this machine's only
    }
    with atomic_path(Path(path)) as tmp:
        torch.save(payload, tmp)


def pretrained_names() -> list[str]:
    """The names of the policies shipped in ``agents/pretrained/`` (``mnist-6g``, ..., ``teachers/cifar10``)."""
    root = Path(str(importlib.resources.files("agents").joinpath("pretrained")))
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.pt"))


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """The file a ``--checkpoint`` (``--teacher``, ``--init-from``) means: an existing path as given, else the
    shipped policy of that name (``mnist-6g``, ``teachers/cifar10``), found in the installed package, not the
    working folder. FileNotFoundError listing the shipped names when it is neither."""
    path = Path(name_or_path)
    if path.exists():
        return path
    name = path.as_posix().removesuffix(".pt")
    name = name.removeprefix("agents/pretrained/")  # the clone-relative paths the docs used to give
    if name in pretrained_names():
        return Path(str(importlib.resources.files("agents").joinpath("pretrained", f"{name}.pt")))
    raise FileNotFoundError(f"no file {os.fspath(name_or_path)!r}, and no shipped policy of that name (shipped: "
                            f"{', '.join(pretrained_names())})")


def load_torch_file(path: str | os.PathLike, kind: str, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``, with a ``ValueError`` that says what is wrong when ``path`` is not a
    readable torch file: empty (a copy or a write that died), truncated or not a torch file, or holding objects other
    than tensors and plain values (never unpickled). ``kind`` names what the file should be, e.g. "a RAM policy"."""
    where = os.fspath(path)
    if os.path.getsize(where) == 0:  # a missing file raises FileNotFoundError here, which says it already
        raise ValueError(f"{where!r} is empty (0 bytes): not {kind} file (an interrupted copy or write?)")
    try:
        return torch.load(where, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:  # weights_only refused a global, or the bytes are not a pickle
        found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\. Please|\n|$)", str(err).strip())
        raise ValueError(f"{where!r} is not {kind} file: it holds something other than tensors and plain values, "
                         f"which is never unpickled ({found.group(1) if found else type(err).__name__})") from None
    except (EOFError, RuntimeError, OSError) as err:
        if isinstance(err, RuntimeError) and "PytorchStreamReader" not in str(err):
            raise  # not a reading error (e.g. a map_location device this machine lacks)
        if isinstance(err, FileNotFoundError | PermissionError | IsADirectoryError):
            raise  # these say what is wrong already
        raise ValueError(f"{where!r} is not {kind} file: truncated or not a torch file ({err})") from None


def read_model_file(path: str | os.PathLike, fmt: str, kind: str, device: torch.device) -> dict[str, Any]:
    """The payload :func:`write_model_file` wrote, loaded with ``weights_only=True`` onto ``device``; ValueError
    naming ``kind`` unless the file is of format ``fmt``."""
    payload = load_torch_file(path, kind, device)
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{os.fspath(path)!r} is not {kind} file (format {fmt!r})")
    payload["env_id"], payload["env_kwargs"] = file_task(payload.get("env_id"), payload.get("env_kwargs"), path)
    return payload


def file_task(env_id: Any, env_kwargs: Any, path: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """The task a model file names, as data: ``env_id`` must be a glimpse env id and ``env_kwargs`` task settings
    (:data:`FILE_ENV_KWARGS`), else ValueError. ``data_dir`` and ``download`` are dropped with a warning: where the
    data is read, and whether it is fetched, is this machine's choice (``$RAM_ENV_DATA``, ``data_dir=``), never a
    file's. The values meet the same checks as a user's when the env is built."""
    where = os.fspath(path)
    spec = gym.registry.get(env_id) if isinstance(env_id, str) else None
    if spec is None or spec.entry_point not in (_GLIMPSE_ENTRY_POINT, GlimpseEnv):
        raise ValueError(f"{where!r} names env_id {env_id!r}, which is not a glimpse env (e.g. "
                         f"{', '.join(sorted(ENV_IDS)[:3])}, ...): it is not loaded")
    if not isinstance(env_kwargs, dict) or not all(isinstance(k, str) for k in env_kwargs):
        raise ValueError(f"{where!r}: env_kwargs must be a dict of keyword arguments, got {env_kwargs!r}")
    unknown = sorted(set(env_kwargs) - FILE_ENV_KWARGS - DATA_SOURCE_KWARGS)
    if unknown:
        raise ValueError(f"{where!r}: env_kwargs {unknown} are not task settings a model file may carry "
                         f"(it may carry {sorted(FILE_ENV_KWARGS)})")
    ignored = {k: v for k, v in env_kwargs.items() if k in DATA_SOURCE_KWARGS}
    if ignored:
        warnings.warn(f"{where!r}: ignoring {ignored} in the file: where the data is read, and whether it is "
                      "downloaded, is this machine's choice (set $RAM_ENV_DATA or pass data_dir=), never a file's",
                      UserWarning, stacklevel=3)
    return env_id, {k: v for k, v in env_kwargs.items() if k not in DATA_SOURCE_KWARGS}


class RAMPolicy:
    """A :class:`~agents.networks.RAM` model with the env it was trained for.

    :param model: the trained network (its ``config`` is saved with it).
    :param env_id: the Gymnasium id of the env, e.g. ``"GlimpseMNIST-v0"``.
    :param env_kwargs: keyword arguments of ``gym.make(env_id, ...)`` for the single env (not the
        vector env's ``num_envs``, ``device`` or ``autoreset_mode``); plain values only.
    """

    def __init__(self, model: RAM, env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> None:
        self.model = model
        self.env_id = str(env_id)
        self.env_kwargs: dict[str, Any] = to_plain(dict(env_kwargs or {}))

    @property
    def config(self) -> RAMConfig:
        return self.model.config

    @property
    def device(self) -> torch.device:
        return self.model.classifier.weight.device

    def make_env(self, **overrides: Any) -> gym.Env:
        """``gym.make(env_id, **env_kwargs, **overrides)``: the single env this policy acts in.

        Overrides that change the images the policy classifies (``dataset``, ``images``, ``labels``, the canvas and
        its clutter) warn: with the same shapes the policy runs without error, but what it learned does not hold
        there (MNIST weights on Fashion-MNIST err on nine images of ten).
        """
        for key in sorted(TASK_DATA_KWARGS & set(overrides)):
            trained = self._trained_value(key)
            if key in ("images", "labels") or overrides[key] != trained:
                warnings.warn(
                    f"this policy was trained on {self.env_id} with {key}={trained!r}; make_env({key}=...) runs it on "
                    "other images, where its error is not the one it was measured at",
                    UserWarning,
                    stacklevel=2,
                )
        return gym.make(self.env_id, **{**self.env_kwargs, **overrides})

    def _trained_value(self, key: str) -> Any:
        """The value of env kwarg ``key`` the policy was trained with: its file's, else the id's, else the default."""
        if key in self.env_kwargs:
            return self.env_kwargs[key]
        spec_kwargs = gym.spec(self.env_id).kwargs
        if key in spec_kwargs:
            return spec_kwargs[key]
        parameter = inspect.signature(GlimpseEnv).parameters.get(key)
        return None if parameter is None else parameter.default

    # -- inference --------------------------------------------------------------------------------
    def _as_tensor(self, value: Any, dtype: torch.dtype) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value.to(self.device, dtype)
        return torch.as_tensor(np.asarray(value), dtype=dtype, device=self.device)

    @torch.no_grad()
    def predict(
        self,
        observation: Mapping[str, Any],
        state: np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Actions for one step, and the recurrent state to pass back next step.

        :param observation: ``{"glimpse": (n, k*C*g*g), "location": (n, 2)}`` arrays or tensors, or
            one unbatched observation ``{"glimpse": (k*C*g*g,), "location": (2,)}``.
        :param state: what the previous call returned (``(n, state_size)``, or ``(state_size,)``
            unbatched); ``None`` starts every row afresh.
        :param episode_start: ``(n,)`` bools; rows marked True start from a fresh state (SB3 passes
            True after each episode end).
        :param deterministic: look at the policy's mean location instead of a sample.
        :return: actions ``(n, 2 + n_classes)`` float32 in the action space, ``[x, y, scores]`` with
            ``scores = 2 * softmax(logits) - 1``; and the new state ``(n, state_size)`` float32
            (unbatched: ``(2 + n_classes,)`` and ``(state_size,)``).
        """
        glimpse = self._as_tensor(observation["glimpse"], torch.float32)
        location = self._as_tensor(observation["location"], torch.float32)
        single = glimpse.dim() == 1
        if single:
            glimpse, location = glimpse[None], location[None]
        n, length = glimpse.shape[0], self.config.glimpse_length
        if glimpse.shape != (n, length) or location.shape != (n, 2):
            raise ValueError(f"observation must hold glimpse (n, {length}) and location (n, 2) (or unbatched), "
                             f"got {tuple(glimpse.shape)} and {tuple(location.shape)}")
        model = self.model
        if state is None:
            core_state = model.initial_state(n)
        else:
            core_state = self._as_tensor(state, torch.float32).reshape(n, model.state_size)
        if episode_start is not None:
            start = self._as_tensor(episode_start, torch.bool).reshape(n, 1)
            core_state = torch.where(start, torch.zeros_like(core_state), core_state)
        with eval_mode(model):  # inference: no dropout, even for a model that is in the middle of training
            core_state, features = model.step(glimpse, location, core_state)
            where = model.next_location(features, deterministic)
            actions = make_action(where, model.classifier(features)).cpu().numpy()
        new_state = core_state.cpu().numpy()
        return (actions[0], new_state[0]) if single else (actions, new_state)

    # -- persistence ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write config, weights, ``env_id`` and ``env_kwargs`` to ``path`` atomically (temp file, then rename)."""
        write_model_file(path, _FORMAT, asdict(self.config), self.model, self.env_id, self.env_kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "auto") -> RAMPolicy:
        """Read a file written by :meth:`save` (with ``weights_only=True``) onto ``device`` ("auto": CUDA if any);
        ``path`` may also name a shipped policy (:func:`resolve_checkpoint`)."""
        target = resolve_device(device)
        payload = read_model_file(resolve_checkpoint(path), _FORMAT, "a RAM policy", target)
        model = RAM(RAMConfig(**payload["config"]))
        model.load_state_dict(payload["state_dict"])
        model.to(target).eval()
        return cls(model, payload["env_id"], payload["env_kwargs"])

    @classmethod
    def from_pretrained(cls, name: str, device: str | torch.device = "auto") -> RAMPolicy:
        """A policy shipped with the package, by its preset name (``"mnist-6g"``; :func:`pretrained_names` lists
        them), onto ``device``."""
        if name not in pretrained_names():
            raise ValueError(f"no shipped policy {name!r}; shipped: {', '.join(pretrained_names())}")
        return cls.load(resolve_checkpoint(name), device=device)
