"""Diagnostic: ``train/sb3_agent.py`` with the Gaussian policy's std frozen at ``--log-std-init``, as RAM keeps its
location std fixed. Not an unmodified SB3 agent (it freezes a parameter SB3 trains), so never a baseline row; it asks
whether the collapse of the location std is what holds RecurrentPPO back (docs/baselines.md: it is not alone).

    python benchmarks/sb3_fixed_std.py --log-std-init -3 --location-range 0.25 --total-timesteps 1000000 --no-test
"""

from __future__ import annotations

from typing import Any

from ram_train import sb3_agent

_make_model = sb3_agent.make_model


def make_model(args: sb3_agent.Args, venv: Any) -> Any:
    model = _make_model(args, venv)
    model.policy.log_std.requires_grad_(False)  # Adam skips a parameter without a gradient
    return model


if __name__ == "__main__":
    sb3_agent.make_model = make_model
    sb3_agent.main()  # its flags from sys.argv, its command as typed
