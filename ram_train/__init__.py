"""Training and evaluation of the RAM agent on the glimpse envs, installable: the scripts and their shared parts.

Each script is a module with a ``main(argv)``, run three ways: a console script (``ram-train``, ``ram-evaluate``,
``ram-visualize``, ``ram-sb3``, ...), ``python -m ram_train.<module>``, or, in a clone, ``python train/<module>.py``.
Shared parts: :mod:`ram_train.cli` (flags from a dataclass), :mod:`ram_train.artifacts` (figures, JSON, hardware),
:mod:`ram_train.presets` (the presets as data), :mod:`ram_train.distributed` (torchrun glue).
"""
