"""Agents that solve the glimpse environments of :mod:`ram_env`.

:mod:`agents.ram` is the recurrent attention model of Mnih et al. 2014: a recurrent actor-critic
whose classifier (cross-entropy) and location policy (REINFORCE) learn together against the env.
"""
