"""The RAM network of Mnih et al. 2014: glimpse network, recurrent core and the three heads.

``RAM`` is a per-step module: the caller (a rollout against the env, or :class:`agents.policy.RAMPolicy`)
feeds it one observation at a time, ``state, features = ram.step(glimpse, location, state)``, and asks
the heads for what it needs: ``ram.location_policy(features)`` (Gaussian mean and std of the next
location), ``ram.baseline(features)`` (the critic's value) and ``ram.classifier(features)`` (class
logits). Which loss reaches which of these parameters is decided in :mod:`agents.loss`, not here.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["CORE_TYPES", "POLICY_REWARDS", "WIDENABLE", "NETWORK_FIELDS", "RAMConfig", "GlimpseNetwork", "Core",
           "LocationPolicy", "Baseline", "RAM", "load_widened"]

CORE_TYPES = ("rnn", "lstm", "gru")
WIDENABLE = ("conv_channels", "glimpse_hidden")
"""The widths in which a network may exceed the file that starts it (:func:`load_widened`)."""
# The fields that fix every other parameter's shape: a file starts a network only where they match.
_SHAPE_FIELDS = ("glimpse_size", "num_scales", "channels", "num_classes", "glimpse_features", "core_hidden",
                 "core_type", "conv_glimpse")
NETWORK_FIELDS = (*_SHAPE_FIELDS, *WIDENABLE, "tanh_mean", "random_locations")
"""The fields a policy file keeps when it starts another run's network: its shape (:data:`WIDENABLE` may grow) and
what its weights mean (a tanh-squashed location mean, a random-locations control). Every other field of
:class:`RAMConfig` says how the network is trained or run (number of glimpses, std and whether it is learned, loss
terms, dropout) and is the new run's."""
POLICY_REWARDS = ("env", "probability")


@dataclass
class RAMConfig:
    """Shape of the task and hyperparameters of the agent; plain types only, so it saves as a dict."""

    glimpse_size: int = 8
    """Side ``g`` of each retina patch, in pixels after reduction."""
    num_scales: int = 1
    """Number ``k`` of retina patches per glimpse."""
    channels: int = 1
    """Image channels ``C`` (1 for MNIST, 3 for CIFAR-10)."""
    num_classes: int = 10
    """Classes the classifier chooses between."""
    num_glimpses: int = 6
    """Glimpses per episode, ``T`` (the env's episode length)."""
    glimpse_hidden: int = 128
    """Width of each of the glimpse network's two branches, "what" (pixels) and "where" (location)."""
    glimpse_features: int = 256
    """Width of the glimpse feature vector the two branches combine into."""
    core_hidden: int = 256
    """Units of the recurrent core."""
    core_type: str = "rnn"
    """Recurrent cell: "rnn" (plain ReLU RNN, as in the paper), "lstm" or "gru"."""
    conv_glimpse: bool = False
    """Use a small convolutional network for the "what" branch instead of a linear layer."""
    conv_channels: int = 32
    """Channels of the conv "what" branch's first 3x3 convolution; the second (stride 2) has twice as many."""
    location_std: float = 0.1
    """Standard deviation of the Gaussian location policy, in location units ([-1, 1] spans the image)."""
    learn_std: bool = False
    """Learn the (state-independent) std by REINFORCE, starting from ``location_std``."""
    tanh_mean: bool = True
    """Squash the location mean into (-1, 1) with tanh; otherwise the mean is linear in the state."""
    reinforce_into_core: bool = False
    """Let the REINFORCE gradient flow into the core and glimpse network (default: location head only)."""
    reinforce_weight: float = 1.0
    """Weight λ of the REINFORCE term in the hybrid loss."""
    policy_reward: str = "env"
    """The return ``R`` that REINFORCE and the baseline see: "env", the env's reward (1 for the right class, else 0;
    the paper's), or "probability", the classifier's probability of the env's label after the path, detached. Both
    lie in [0, 1], and near certainty they are close (the probability is a little below the accuracy otherwise), but
    the env's reward stops telling paths apart once nearly all of them are classified right; the probability still
    ranks them by how sure they leave the classifier."""
    consistency_weight: float = 0.0
    """Weight of the path-consistency term: each of the ``M`` sampled location paths of an image is pulled
    towards the class distribution averaged over all ``M`` (KL divergence to the detached mean), so that a
    single path (at evaluation, the deterministic one) comes closer to what the Monte Carlo ensemble predicts.
    0: off (the paper's loss); it has an effect only with ``M >= 2`` paths per image."""
    distill_weight: float = 0.0
    """Weight of the distillation term (knowledge distillation, Hinton et al. 2015): each path's class distribution
    is pulled towards a teacher's for its image (KL divergence from the teacher's, a soft target given to the loss
    beside the label; see :mod:`agents.distill`). 0: off; above 0 the loss needs the teacher's targets."""
    mean_path: bool = False
    """Train one more location path per image beside the ``M`` sampled ones: the path that follows the policy's
    mean, which deterministic evaluation takes. It gets the cross-entropy and, with ``consistency_weight``, is
    pulled towards the mean class distribution of all the image's paths (mostly the sampled ones, the ensemble);
    REINFORCE and the baseline see the sampled paths only. Without it the classifier sees only sampled paths in
    training and the mean path first at evaluation."""
    dropout: float = 0.0
    """Dropout probability on the glimpse features entering the core and on the core output the heads read
    (training only; 0: none). A regulariser for when every episode starts at the same place and the
    core memorises the training images."""
    random_locations: bool = False
    """The control of the paper: glimpse at uniformly random locations instead of the policy's (training
    and evaluation alike); the location policy then gets no gradient and is unused."""

    def __post_init__(self) -> None:
        for name in ("glimpse_size", "num_scales", "channels", "num_glimpses", "glimpse_hidden",
                     "glimpse_features", "core_hidden", "conv_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {self.num_classes!r}")
        if self.core_type not in CORE_TYPES:
            raise ValueError(f"core_type must be one of {CORE_TYPES}, got {self.core_type!r}")
        if not (math.isfinite(self.location_std) and self.location_std > 0):
            raise ValueError(f"location_std must be a positive number, got {self.location_std!r}")
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must be a probability in [0, 1), got {self.dropout!r}")
        if self.policy_reward not in POLICY_REWARDS:
            raise ValueError(f"policy_reward must be one of {POLICY_REWARDS}, got {self.policy_reward!r}")
        if self.mean_path and self.random_locations:
            raise ValueError("mean_path needs the policy's locations; random_locations has none to follow")
        for name in ("reinforce_weight", "consistency_weight", "distill_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")

    @property
    def glimpse_length(self) -> int:
        """Length of a flattened glimpse observation, ``k * C * g * g``."""
        return self.num_scales * self.channels * self.glimpse_size**2

    @classmethod
    def from_env(cls, env: Any, **overrides: Any) -> RAMConfig:
        """The task shape of a glimpse env (single or vector), with any hyperparameter ``overrides``.

        Reads ``glimpse_size``, ``num_scales``, ``channels``, ``num_classes`` and ``num_glimpses`` from
        the env's ``config`` (:class:`ram_env.config.GlimpseConfig`) and checks them against its spaces.
        """
        task = getattr(getattr(env, "unwrapped", env), "config", None)
        if task is None:
            raise ValueError("env has no `config` with the task shape; build RAMConfig(...) by hand")
        fields = {name: getattr(task, name) for name in
                  ("glimpse_size", "num_scales", "channels", "num_classes", "num_glimpses")}
        config = cls(**{**fields, **overrides})
        obs_space = getattr(env, "single_observation_space", None) or env.observation_space
        act_space = getattr(env, "single_action_space", None) or env.action_space
        if obs_space["glimpse"].shape != (config.glimpse_length,) or act_space.shape != (2 + config.num_classes,):
            raise ValueError(f"config {config} does not match the env's spaces {obs_space}, {act_space}")
        return config


class GlimpseNetwork(nn.Module):
    """``g = ReLU(W_what · what(glimpse) + W_where · where(location))``: (N, k*C*g*g), (N, 2) -> (N, 256).

    ``what`` is ``ReLU(Linear)`` of the flat glimpse or, with ``conv``, two 3x3 convolutions over the
    glimpse viewed as an image of ``k*C`` channels (the scales stacked as channels); ``where`` is
    ``ReLU(Linear)`` of the location.
    """

    def __init__(self, config: RAMConfig) -> None:
        super().__init__()
        g, planes, hidden = config.glimpse_size, config.num_scales * config.channels, config.glimpse_hidden
        self.planes, self.size = planes, g
        if config.conv_glimpse:
            reduced, width = (g + 1) // 2, config.conv_channels  # the second convolution has stride 2
            self.what: nn.Module = nn.Sequential(
                nn.Unflatten(1, (planes, g, g)),
                nn.Conv2d(planes, width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
                nn.Flatten(), nn.Linear(2 * width * reduced * reduced, hidden), nn.ReLU(),
            )
        else:
            self.what = nn.Sequential(nn.Linear(config.glimpse_length, hidden), nn.ReLU())
        self.where = nn.Sequential(nn.Linear(2, hidden), nn.ReLU())
        self.what_out = nn.Linear(hidden, config.glimpse_features)
        self.where_out = nn.Linear(hidden, config.glimpse_features)

    def forward(self, glimpse: torch.Tensor, location: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.what_out(self.what(glimpse)) + self.where_out(self.where(location)))


class Core(nn.Module):
    """The recurrent core: one cell step ``(features, state) -> (state, h)``.

    The state is one tensor ``(N, state_size)``: ``h`` for "rnn" and "gru", ``[h, c]`` concatenated
    for "lstm", so rollouts and :class:`~agents.policy.RAMPolicy` carry one array whatever the cell.
    """

    def __init__(self, core_type: str, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.core_type, self.hidden_size = core_type, hidden_size
        if core_type == "rnn":
            self.cell: nn.Module = nn.RNNCell(input_size, hidden_size, nonlinearity="relu")
        elif core_type == "lstm":
            self.cell = nn.LSTMCell(input_size, hidden_size)
        elif core_type == "gru":
            self.cell = nn.GRUCell(input_size, hidden_size)
        else:
            raise ValueError(f"core_type must be one of {CORE_TYPES}, got {core_type!r}")
        self.state_size = 2 * hidden_size if core_type == "lstm" else hidden_size

    def forward(self, features: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.core_type == "lstm":
            h, c = self.cell(features, state.chunk(2, dim=1))
            return torch.cat([h, c], dim=1), h
        h = self.cell(features, state)
        return h, h


class LocationPolicy(nn.Module):
    """Gaussian over the next location ``(x, y)``: mean from the core output, std fixed or learned."""

    def __init__(self, hidden_size: int, std: float, learn_std: bool, tanh_mean: bool) -> None:
        super().__init__()
        self.mean = nn.Linear(hidden_size, 2)
        self.tanh_mean = tanh_mean
        log_std = torch.full((2,), math.log(std))
        if learn_std:
            self.log_std = nn.Parameter(log_std)
        else:
            self.register_buffer("log_std", log_std)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of the location Gaussian, both ``(N, 2)``."""
        mean = self.mean(features)
        if self.tanh_mean:
            mean = torch.tanh(mean)
        return mean, self.log_std.exp().expand_as(mean)

    def log_prob(self, features: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
        """Log-density of ``locations`` ``(..., 2)`` (the unclipped samples), summed over x and y: ``(...)``."""
        mean, std = self(features)
        return torch.distributions.Normal(mean, std).log_prob(locations).sum(-1)


class Baseline(nn.Module):
    """The critic: the expected reward from the core output, ``(N, H) -> (N,)``."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.value = nn.Linear(hidden_size, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.value(features).squeeze(-1)


class RAM(nn.Module):
    """Recurrent attention model: ``glimpse_net``, ``core``, ``location_policy``, ``baseline``, ``classifier``."""

    def __init__(self, config: RAMConfig) -> None:
        super().__init__()
        self.config = config
        self._compute_dtype: torch.dtype | None = None
        self.glimpse_net = GlimpseNetwork(config)
        self.core = Core(config.core_type, config.glimpse_features, config.core_hidden)
        self.location_policy = LocationPolicy(config.core_hidden, config.location_std, config.learn_std,
                                              config.tanh_mean)
        self.baseline = Baseline(config.core_hidden)
        self.classifier = nn.Linear(config.core_hidden, config.num_classes)
        self.dropout = nn.Dropout(config.dropout)

    @property
    def compute_dtype(self) -> torch.dtype | None:
        """Run the glimpse network and the core under ``torch.autocast`` to this dtype: ``torch.bfloat16`` (the
        bfloat16 matrix units of recent CPUs, tensor cores on GPUs), or ``None`` (the parameters' dtype
        throughout). The heads run outside autocast, and the state and features :meth:`step` returns are cast
        back to the parameters' dtype; their values are rounded to bfloat16 inside each step (for "lstm" the
        cell state too). A runtime setting for training steps, never saved; :func:`agents.rollout.evaluate`
        clears it while it runs."""
        return self._compute_dtype

    @compute_dtype.setter
    def compute_dtype(self, dtype: torch.dtype | None) -> None:
        if dtype not in (None, torch.bfloat16):
            raise ValueError(f"compute_dtype must be None or torch.bfloat16, got {dtype!r} (float16 would need "
                             "loss scaling, which the training loop does not do)")
        self._compute_dtype = dtype

    @property
    def state_size(self) -> int:
        return self.core.state_size

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Zero core state ``(batch, state_size)`` on ``device`` (default: the model's)."""
        device = device if device is not None else self.classifier.weight.device
        return torch.zeros(batch, self.state_size, device=device)

    def step(
        self, glimpse: torch.Tensor, location: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Take in one glimpse ``(N, k*C*g*g)`` seen at ``location`` ``(N, 2)``; return the new state and
        the core output ``features`` ``(N, core_hidden)`` that every head reads."""
        if self._compute_dtype is None:
            state, features = self.core(self.dropout(self.glimpse_net(glimpse, location)), state)
            return state, self.dropout(features)
        dtype = self.classifier.weight.dtype
        with torch.autocast(glimpse.device.type, dtype=self._compute_dtype):
            state, features = self.core(self.dropout(self.glimpse_net(glimpse, location)), state)
        return state.to(dtype), self.dropout(features.to(dtype))

    def next_location(
        self, features: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Where to look next, ``(N, 2)``: a sample of the location policy (its mean if ``deterministic``),
        or uniform in ``[-1, 1]^2`` with ``config.random_locations``. Unclipped; the env clips."""
        shape, device = (features.shape[0], 2), features.device
        if self.config.random_locations:
            return torch.rand(shape, device=device, generator=generator) * 2.0 - 1.0
        mean, std = self.location_policy(features)
        if deterministic:
            return mean
        return mean + std * torch.randn(shape, device=device, generator=generator)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by component name, the units of the loss routing."""
        return {name: list(getattr(self, name).parameters())
                for name in ("glimpse_net", "core", "location_policy", "baseline", "classifier")}


def load_widened(model: RAM, narrow: RAM) -> None:
    """Load ``narrow``'s weights into ``model``, which may be wider in :data:`WIDENABLE` (more channels in the conv
    "what" branch, more units in the glimpse network's branches), so that ``model`` computes exactly what ``narrow``
    does: a trained file starts a larger network without losing what it learned.

    Each of ``narrow``'s tensors fills the leading block of ``model``'s (the conv branch flattens channel-major, so
    the old channels' features lead there too); the new units keep ``model``'s random incoming weights, and every old
    unit's weights from the new units are zero, so the new units change no output until training moves those
    weights off zero (their gradient is not zero: it is the new units' activations times the error). Raises
    ValueError where any other width or the kind of network differs, or ``model`` is narrower.
    """
    wide_config, narrow_config = model.config, narrow.config
    for name in _SHAPE_FIELDS:
        if getattr(wide_config, name) != getattr(narrow_config, name):
            raise ValueError(f"the networks differ in {name} ({getattr(narrow_config, name)!r} in the file, "
                             f"{getattr(wide_config, name)!r} here); only {WIDENABLE} may grow")
    for name in WIDENABLE:
        if getattr(wide_config, name) < getattr(narrow_config, name):
            raise ValueError(f"{name} {getattr(wide_config, name)} is narrower than the file's "
                             f"{getattr(narrow_config, name)}: a file starts a network as wide or wider, not narrower")
    wide_state, narrow_state = model.state_dict(), narrow.state_dict()
    loaded = {}
    for key, wide in wide_state.items():
        old = narrow_state[key]
        if old.shape == wide.shape:
            loaded[key] = old
            continue
        new = wide.detach().clone()
        if new.dim() > 1:  # the old output units ignore the new inputs
            new[:old.shape[0], old.shape[1]:] = 0
        new[tuple(slice(0, n) for n in old.shape)] = old
        loaded[key] = new
    model.load_state_dict(loaded)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model.eval()`` for the block (no dropout), then back to the mode it was in, even after an exception."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
