"""The examples in the modules' docstrings run as written (on real data)."""

from __future__ import annotations

import doctest

import pytest

import ram_env.rewards
import ram_env.sb3_vec_env
import ram_env.wrappers

MODULES = [ram_env.wrappers, ram_env.sb3_vec_env, ram_env.rewards]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
