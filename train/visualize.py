"""``python train/visualize.py`` in a clone runs :mod:`ram_train.visualize` without installing; ``import visualize``
with ``train/`` on ``sys.path`` gives that module."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the clone's root: its ram_train, installed or not
import ram_train.visualize as _module  # noqa: E402

if __name__ == "__main__":
    _module.main()
else:
    sys.modules[__name__] = _module
