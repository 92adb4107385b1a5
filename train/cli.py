"""``import cli`` with ``train/`` on ``sys.path`` gives :mod:`ram_train.cli`: for the scripts that import it by
that name (``train/sb3_agent.py``, ``benchmarks/cleanrl_ppo.py``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the clone's root: its ram_train, installed or not
import ram_train.cli as _module  # noqa: E402

sys.modules[__name__] = _module
