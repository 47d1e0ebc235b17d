"""The reward model's head: a scalar on the pooled state (and on the extra inputs `settings` names).

Two head options, chosen by cross-validation over MBPP training tasks (where they beat mean log-prob
by 0.10; on MBPP test the gain is small, see docs/reranker.md): `projection = k` standardises the
pooled state and reads only its top k principal components (fitted on the training completions; a
full-width head over-fits a couple of hundred tasks), and `confidence` adds the generator's log-probs
of the completion (mean, sum, length) as inputs, with the head starting out as the mean-log-prob
scorer. `make_head` builds the torch head that trains; `NumpyHead` scores a saved one without torch.
"""

from __future__ import annotations

from typing import Any, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.reranker.device import require_torch
from rrr_cli.reranker.settings import CONFIDENCE_INPUTS, RewardModelSettings, extra_inputs


def _head_class():
    torch = require_torch()

    class ProjectedHead(torch.nn.Module):
        """A linear score on the pooled state's top principal components (standardised first), plus
        the generator-confidence inputs. Projecting onto a few components is the regulariser that
        lets a head learn from a couple of hundred tasks (a full-width head over-fits them)."""

        def __init__(self, hidden: int, projection: int, confidence: bool, extra: int = 0):
            super().__init__()
            self.register_buffer("center", torch.zeros(hidden))
            self.register_buffer("scale", torch.ones(hidden))
            self.register_buffer("basis", torch.zeros(hidden, projection))
            self.extra = extra or (CONFIDENCE_INPUTS if confidence else 0)
            self.linear = torch.nn.Linear(projection + self.extra, 1)
            with torch.no_grad():
                self.linear.weight.zero_()
                self.linear.bias.zero_()
                if confidence:
                    self.linear.weight[0, projection] = 1.0  # start as the mean log-prob scorer

        @property
        def projection(self) -> int:
            return self.basis.shape[1]

        def fit_projection(self, pooled) -> None:
            """Centre, scale and principal directions from pooled training states [n, hidden]."""
            with torch.no_grad():
                pooled = pooled.float()
                self.center.copy_(pooled.mean(0))
                self.scale.copy_(pooled.std(0) + 1e-4)
                standard = (pooled - self.center) / self.scale
                q = min(self.projection, *standard.shape)
                # Top right-singular vectors; the /10 keeps the components near unit scale.
                _, _, v = torch.linalg.svd(standard, full_matrices=False)
                self.basis.zero_()
                self.basis[:, :q].copy_(v[:q].T / 10.0)

        def penalty(self):
            """Squared weights on the components (the confidence weights are not shrunk)."""
            weights = self.linear.weight[0, :self.projection]
            return (weights * weights).sum()

        def forward(self, pooled, extra=None):
            x = ((pooled.float() - self.center) / self.scale) @ self.basis
            if self.extra:
                x = torch.cat([x, extra.to(x)], dim=1)
            return self.linear(x)

    return ProjectedHead


def make_head(hidden: int, settings: RewardModelSettings):
    """The head `settings` describe: a plain linear layer on the pooled state, or a projected head."""
    torch = require_torch()
    if settings.projection > 0 or extra_inputs(settings):
        if settings.projection < 1 and settings.states != "none":
            raise RrrError("a head with confidence or evidence inputs needs --projection of at least 1")
        return _head_class()(hidden, settings.projection, settings.confidence, extra_inputs(settings))
    head = torch.nn.Linear(hidden, 1)
    # Small weights so the first scores sit near 0 and the first gradients are gentle.
    torch.nn.init.normal_(head.weight, std=1.0 / hidden)
    torch.nn.init.zeros_(head.bias)
    return head


def head_shapes(hidden: int, settings: RewardModelSettings) -> dict[str, Any]:
    """The arrays a head of these settings saves, by name (zeros of their shapes; `make_head` without torch)."""
    import numpy as np  # deferred: finding or listing rerankers needs no numpy

    if settings.projection > 0 or extra_inputs(settings):
        width = settings.projection + extra_inputs(settings)
        return {"center": np.zeros(hidden), "scale": np.zeros(hidden), "basis": np.zeros((hidden, settings.projection)),
                "linear.weight": np.zeros((1, width)), "linear.bias": np.zeros(1)}
    return {"weight": np.zeros((1, hidden)), "bias": np.zeros(1)}


def head_numpy(weights: dict[str, Any], pooled, extra: Sequence[Sequence[float]] | None):
    """A saved head's scores in numpy (`make_head`'s two kinds: a plain linear layer, or the projected
    head with its extra inputs), for a reranker that scores without torch."""
    import numpy as np  # deferred: finding or listing rerankers needs no numpy

    x = pooled.astype(np.float32)
    if "basis" in weights:
        x = ((x - weights["center"]) / weights["scale"]) @ weights["basis"]
        if extra is not None:
            x = np.concatenate([x, np.asarray(extra, dtype=np.float32).reshape(len(x), -1)], axis=1)
        weight, bias = weights["linear.weight"], weights["linear.bias"]
    else:
        weight, bias = weights["weight"], weights["bias"]
    return (x @ weight.T + bias)[:, 0]


class NumpyHead:
    """A saved head as numpy arrays, by the names `make_head`'s module gives them: how a reranker on
    llama.cpp states (or none) scores without importing torch. It scores; it neither trains nor saves."""

    def __init__(self, weights: dict[str, Any]):
        self.weights = weights

    @classmethod
    def fitting(cls, weights: dict[str, Any], hidden: int, settings: RewardModelSettings, where) -> "NumpyHead":
        """The head of `weights`, checked against the shapes `settings` and `hidden` give it."""
        expected = {name: tuple(value.shape) for name, value in head_shapes(hidden, settings).items()}
        found = {name: tuple(value.shape) for name, value in weights.items()}
        if found != expected:
            raise RrrError(f"{where}: the reranker's head does not fit its settings and base model "
                           f"(weights {found}, expected {expected})")
        return cls(weights)

    def scores(self, pooled, extra: Sequence[Sequence[float]] | None):
        return head_numpy(self.weights, pooled, extra)
