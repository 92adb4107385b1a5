"""Shared test setup: where the real datasets come from, and what happens when one is missing.

Datasets are read from ``$RAM_ENV_DATA``; unset, from ``../shared/data`` beside the clone if there is one, else from
``.data/`` inside the clone (downloaded there on first use, where a mirror is reachable). The decoded-array cache goes
to ``.cache/`` inside the clone unless ``$XDG_CACHE_HOME`` is set: a test run writes nothing outside the clone but
its temporary folders.

A test that needs a dataset that is neither on disk nor downloadable is skipped with a reason that names the dataset
and how to provide it (a ``DatasetNotFoundError`` raised in a test becomes such a skip; :func:`require_dataset`
checks up front). With ``RAM_ENV_REQUIRE_DATA=1`` (CI sets it) those skips are failures instead, so a run can never
pass by skipping its real-data tests.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_SHARED = ROOT.parent / "shared" / "data"
if "RAM_ENV_DATA" not in os.environ:
    os.environ["RAM_ENV_DATA"] = str(_SHARED if _SHARED.is_dir() else ROOT / ".data")
os.environ.setdefault("XDG_CACHE_HOME", str(ROOT / ".cache"))

import ram_env  # noqa: E402  (registers the ids after the data root is set)
from ram_env.errors import DatasetNotFoundError  # noqa: E402

REQUIRE_DATA = os.environ.get("RAM_ENV_REQUIRE_DATA", "") not in ("", "0")
"""CI's switch: a missing dataset fails the test instead of skipping it."""


def missing_data_reason(dataset: str | None, error: BaseException | str) -> str:
    """The skip reason for a dataset that cannot be found: which one, why, and how to provide it."""
    which = f"dataset {dataset!r}" if dataset else "a dataset this test reads"
    return (f"{which} not found ({error}); put it under $RAM_ENV_DATA (now {os.environ['RAM_ENV_DATA']}; "
            "docs/data.md says how) or run where it can be downloaded")


@functools.cache
def _dataset_error(dataset: str) -> str | None:
    from ram_env.data import load_split

    try:
        load_split(dataset, "test")
    except DatasetNotFoundError as error:
        return str(error).splitlines()[0]
    return None


def require_dataset(dataset: str) -> None:
    """Skip the calling test (fail it under ``RAM_ENV_REQUIRE_DATA=1``) unless ``dataset`` can be loaded."""
    error = _dataset_error(dataset)
    if error is not None:
        reason = missing_data_reason(dataset, error)
        if REQUIRE_DATA:
            pytest.fail(f"RAM_ENV_REQUIRE_DATA is set: {reason}")
        pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """A ``DatasetNotFoundError`` in a test (or its fixtures) is a skip that says which data is missing; under
    ``RAM_ENV_REQUIRE_DATA=1`` a skip for missing data (its reason names ``$RAM_ENV_DATA``) is a failure."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and not REQUIRE_DATA:
        error = call.excinfo.value
        while error is not None and not isinstance(error, DatasetNotFoundError):
            error = error.__cause__ or error.__context__
        if error is not None:
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0,
                               f"Skipped: {missing_data_reason(None, str(error).splitlines()[0])}")
    elif REQUIRE_DATA and report.skipped and isinstance(report.longrepr, tuple) and "RAM_ENV_DATA" in str(
            report.longrepr[2]):
        report.outcome = "failed"
        report.longrepr = f"RAM_ENV_REQUIRE_DATA is set, so this skip fails: {report.longrepr[2]}"


ENV_IDS = sorted(ram_env.ENV_IDS)


def import_script(name: str, folder: str = "train") -> ModuleType:
    """Import a script's module: ``ram_train.<name>`` for the training package's modules (``train/<name>.py`` is
    their shim), else ``<folder>/<name>.py`` (``benchmarks/<name>.py``) without leaving its
    folder on ``sys.path``; such scripts import their siblings, which are found while the folder is on it."""
    if folder == "train" and (ROOT / "ram_train" / f"{name}.py").is_file():
        return importlib.import_module(f"ram_train.{name}")
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
