"""Shared test setup: real datasets come from ``$RAM_ENV_DATA`` (CI points it at ``../shared/data``)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if "RAM_ENV_DATA" not in os.environ and _SHARED.is_dir():
    os.environ["RAM_ENV_DATA"] = str(_SHARED)

import ram_env  # noqa: E402  (registers the ids after the data root is set)

ENV_IDS = sorted(ram_env.ENV_IDS)
ROOT = Path(__file__).resolve().parents[1]


def import_script(name: str, folder: str = "train") -> ModuleType:
    """Import a script's module (``train/<name>.py``, ``benchmarks/<name>.py``) without leaving its folder on
    ``sys.path``; the scripts import their siblings, which are found while the folder is on it."""
    path = str(ROOT / folder)
    sys.path.insert(0, path)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(path)


@pytest.fixture(scope="session")
def mnist_val() -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST validation split, through the project's loader."""
    from ram_env.data import load_split

    return load_split("mnist", "val")
