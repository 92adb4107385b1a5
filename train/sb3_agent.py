"""``python train/sb3_agent.py`` in a clone runs :mod:`ram_train.sb3_agent` without installing; ``import sb3_agent``
with ``train/`` on ``sys.path`` gives that module."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the clone's root: its ram_train, installed or not
import ram_train.sb3_agent as _module  # noqa: E402

if __name__ == "__main__":
    _module.main()
else:
    sys.modules[__name__] = _module
