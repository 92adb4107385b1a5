"""The few array operations that numpy and torch spell differently: a shim so the retina and the canvas generator
are written once and run on both.

The single env works in numpy (a step of one small glimpse is a few dozen operations on a table of a few hundred
numbers: torch's per-call dispatch would cost more than the arithmetic); the vector env in torch, on CPU or GPU.
:func:`namespace` returns the namespace of an array; the code that uses it calls only what both namespaces here
define, plus what numpy arrays and torch tensors share (operators, indexing and index assignment, ``shape``,
``ndim``, ``dtype``, ``reshape``), so both paths do the same integer and float32
arithmetic in the same order and give the same bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["NumpyNamespace", "TorchNamespace", "namespace"]


class NumpyNamespace:
    """numpy, as :mod:`ram_env.retina` and :mod:`ram_env.canvas` call it (``device`` is always the host)."""

    uint8, int32, int64, float32, float64 = np.uint8, np.int32, np.int64, np.float32, np.float64
    floor = staticmethod(np.floor)
    maximum = staticmethod(np.maximum)
    where = staticmethod(np.where)

    @staticmethod
    def device(x: np.ndarray) -> None:
        return None

    @staticmethod
    def asarray(values: Any, dtype: Any, device: Any) -> np.ndarray:
        return np.asarray(values, dtype)

    @staticmethod
    def zeros(shape: tuple[int, ...], dtype: Any, device: Any) -> np.ndarray:
        return np.zeros(shape, dtype)

    @staticmethod
    def full(shape: tuple[int, ...], value: int, dtype: Any, device: Any) -> np.ndarray:
        return np.full(shape, value, dtype)

    @staticmethod
    def arange(n: int, dtype: Any, device: Any) -> np.ndarray:
        return np.arange(n, dtype=dtype)

    @staticmethod
    def astype(x: np.ndarray, dtype: Any) -> np.ndarray:
        return x.astype(dtype, copy=False)

    @staticmethod
    def divide(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``x / y`` in float32: both converted to float32 first (as torch's type promotion does), then divided."""
        return np.divide(x, y, dtype=np.float32)

    @staticmethod
    def clip(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(x, low), high)  # np.clip's Python checks cost more than the two ufuncs

    @staticmethod
    def copy(x: np.ndarray) -> np.ndarray:
        return x.copy()

    @staticmethod
    def take(x: np.ndarray, index: np.ndarray) -> np.ndarray:
        """``x.reshape(-1)[index]``: the values of ``x`` at flat (C-order) positions ``index``, shaped as ``index``."""
        return x.take(index)

    @staticmethod
    def maximum_at(x: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
        """``x[index[i]] = max(x[index[i]], values[i])`` for every ``i`` in turn, in place (1-D ``x``; an index may
        repeat)."""
        np.maximum.at(x, index, values)

    @staticmethod
    def cumsum_(x: np.ndarray, axis: int) -> np.ndarray:
        """Running sums of integer ``x`` along ``axis``, in place; returns ``x``."""
        if x.shape[axis] <= 48 or axis % x.ndim == x.ndim - 1:
            return np.add.accumulate(x, axis, out=x)
        # numpy runs along any other axis one element at a time: for long axes, a copy with that axis last is faster
        moved = x.swapaxes(axis, -1).copy()
        x[...] = np.add.accumulate(moved, -1, out=moved).swapaxes(axis, -1)
        return x

    @staticmethod
    def to_torch(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x)

    @staticmethod
    def from_torch(x: torch.Tensor) -> np.ndarray:
        return x.numpy()


class TorchNamespace:
    """torch, with the signatures of :class:`NumpyNamespace`."""

    uint8, int32, int64, float32, float64 = torch.uint8, torch.int32, torch.int64, torch.float32, torch.float64
    floor = staticmethod(torch.floor)
    maximum = staticmethod(torch.maximum)
    where = staticmethod(torch.where)
    clip = staticmethod(torch.clamp)

    @staticmethod
    def device(x: torch.Tensor) -> torch.device:
        return x.device

    @staticmethod
    def asarray(values: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype, device=device)

    @staticmethod
    def zeros(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return torch.zeros(shape, dtype=dtype, device=device)

    @staticmethod
    def full(shape: tuple[int, ...], value: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return torch.full(shape, value, dtype=dtype, device=device)

    @staticmethod
    def arange(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return torch.arange(n, dtype=dtype, device=device)

    @staticmethod
    def astype(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return x.to(dtype)

    @staticmethod
    def divide(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x / y`` for integer or float32 ``x`` and float32 ``y``: type promotion converts ``x`` to float32."""
        return x / y

    @staticmethod
    def copy(x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        # index_select: about three times as fast as torch.take or advanced indexing on CPU
        return x.reshape(-1).index_select(0, index.reshape(-1)).reshape(index.shape)

    @staticmethod
    def maximum_at(x: torch.Tensor, index: torch.Tensor, values: torch.Tensor) -> None:
        x.scatter_reduce_(0, index, values, reduce="amax")

    @staticmethod
    def cumsum_(x: torch.Tensor, axis: int) -> torch.Tensor:
        """Running sums of integer ``x`` along ``axis``: in place on CPU (returns ``x``), a new tensor elsewhere."""
        if x.device.type != "cpu":  # on accelerators the scan kernels are the fast way
            return torch.cumsum(x, axis, dtype=x.dtype)
        if axis % x.ndim != x.ndim - 1:  # a loop of whole-slice additions is several times faster than cumsum there
            for i in range(1, x.shape[axis]):
                x.select(axis, i).add_(x.select(axis, i - 1))
            return x
        return torch.cumsum(x, axis, out=x)

    @staticmethod
    def to_torch(x: torch.Tensor) -> torch.Tensor:
        return x

    @staticmethod
    def from_torch(x: torch.Tensor) -> torch.Tensor:
        return x


def namespace(x: np.ndarray | torch.Tensor) -> type[NumpyNamespace] | type[TorchNamespace]:
    """The namespace of ``x``: :class:`TorchNamespace` for a tensor, :class:`NumpyNamespace` for a numpy array."""
    return TorchNamespace if isinstance(x, torch.Tensor) else NumpyNamespace
