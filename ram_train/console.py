"""The console scripts declared in ``setup.cfg``: each runs one module's ``main`` and exits 0 (a ``main`` that
returns its report, as ``evaluate`` does, would otherwise become the exit status)."""

from __future__ import annotations

import importlib


def _run(module: str) -> None:
    importlib.import_module(f"ram_train.{module}").main()


def train() -> None:
    """``ram-train``: :mod:`ram_train.ram_agent`."""
    _run("ram_agent")


def evaluate() -> None:
    """``ram-evaluate``: :mod:`ram_train.evaluate`."""
    _run("evaluate")


def visualize() -> None:
    """``ram-visualize``: :mod:`ram_train.visualize`."""
    _run("visualize")


def sb3() -> None:
    """``ram-sb3``: :mod:`ram_train.sb3_agent` (needs the ``sb3`` extra)."""
    _run("sb3_agent")


def image_teacher() -> None:
    """``ram-image-teacher``: :mod:`ram_train.image_teacher`."""
    _run("image_teacher")


def attention_table() -> None:
    """``ram-attention-table``: :mod:`ram_train.attention_table`."""
    _run("attention_table")
