r"""Learning without Forgetting (Li & Hoiem, TPAMI 2017; Avalanche's ``LwFPlugin``).

After each experience a frozen copy of the model is kept. While later experiences train, the
current model's outputs on each training batch are distilled towards the copy's, over the
classes the copy knew:

.. math::
    \mathcal{L} = \mathcal{L}_{\text{task}} + \alpha \, T^2 \,
    \mathrm{KL}\big(\sigma(z_{\text{old}} / T) \,\|\, \sigma(z / T)\big).

Needs an experience with ``logits(strategy, batch, model)`` (and, for class-incremental
streams, ``active_classes(strategy)``), as :class:`~graphcl.train.continual.NodeExperience`.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.lifelong import register_plugin
from graphcl.train.plugins import Plugin

__all__ = ["LwF"]


@register_plugin("lwf")
class LwF(Plugin):
    r"""Learning without Forgetting.

    Args:
        alpha (float, optional): weight :math:`\alpha` of the distillation. (default: ``1.0``)
        temperature (float, optional): softmax temperature :math:`T`. (default: ``2.0``)
    """

    def __init__(self, alpha: float = 1.0, temperature: float = 2.0) -> None:
        if float(alpha) < 0 or float(temperature) <= 0:
            raise ValueError(f"LwF needs alpha >= 0 and temperature > 0, got {alpha}, "
                             f"{temperature}")
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.prev_state: dict[str, Tensor] | None = None
        self.prev_classes: Tensor | None = None
        self._prev: torch.nn.Module | None = None
        self.last_penalty: float = 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"prev_state": self.prev_state, "prev_classes": self.prev_classes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.prev_state, self.prev_classes = state["prev_state"], state["prev_classes"]
        self._prev = None  # rebuilt from prev_state on first use

    def _previous(self, model: torch.nn.Module) -> torch.nn.Module:
        if self._prev is None:
            self._prev = copy.deepcopy(model)
            self._prev.load_state_dict(self.prev_state)
            self._prev.eval()
            for p in self._prev.parameters():
                p.requires_grad_(False)
        return self._prev

    def after_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        task = strategy.experience
        self.prev_state = {k: v.detach().clone() for k, v in strategy.model.state_dict().items()}
        if getattr(task, "unlearn_request", None) is None:  # an unlearning one keeps the classes
            self.prev_classes = (task.active_classes(strategy)
                                 if hasattr(task, "active_classes") else None)
        self._prev = None

    def penalty(self, strategy: Any) -> Tensor | None:
        r"""The distillation term on the current batch (``None`` before any experience)."""
        if self.prev_state is None or self.alpha == 0:
            return None
        task = strategy.experience
        if not hasattr(task, "logits"):
            raise TypeError(f"LwF: {type(task).__name__} has no logits(strategy, batch, "
                            "model); it cannot be distilled")
        prev = self._previous(strategy.model)
        out = task.logits(strategy, strategy.mb)
        with torch.no_grad():
            old = task.logits(strategy, strategy.mb, prev)
        if self.prev_classes is not None:
            out, old = out[:, self.prev_classes], old[:, self.prev_classes]
        t = self.temperature
        kl = F.kl_div(F.log_softmax(out / t, -1), F.softmax(old / t, -1), reduction="batchmean")
        return self.alpha * t * t * kl

    def before_backward(self, strategy: Any, **kwargs: Any) -> None:
        if getattr(strategy.experience, "unlearn_request", None) is not None:
            return
        pen = self.penalty(strategy)
        if pen is not None:
            strategy.loss = strategy.loss + pen
            self.last_penalty = float(pen.detach())

    def __repr__(self) -> str:
        return f"LwF(alpha={self.alpha}, temperature={self.temperature})"
