r"""Exclusive supermask subnetworks per task (Winning SubNetworks, Kang et al., ICML 2022;
exclusive training as in ExSSNeT, Yadav & Bansal, ACL 2023), as an engine plugin.

Every weight matrix :math:`W` gets, per task :math:`t`, learnt scores :math:`s_t`; the task's
subnetwork is the binary mask keeping the top :math:`c` fraction of scores:

.. math::
    W_{\text{eff}} = W \odot m_t, \qquad m_t = \mathbb{1}[s_t \geq \text{top-}c(s_t)],

trained with a straight-through gradient (:math:`\partial m_t / \partial s_t := 1`). Weights
chosen by an earlier task's mask are frozen (reused, never changed), so each weight is trained
by the first task that selects it and earlier tasks keep exactly their function: no
forgetting, given the task identity. Parameters that are not masked (biases, norms) are trained
in the first experience only. At evaluation, experience :math:`j` runs with its own mask
:math:`m_j` (task-incremental scenarios only: the experience's ``task_label`` says which).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from graphcl.lifelong import register_plugin
from graphcl.lifelong.weights import ParameterOverride, parameter_names
from graphcl.train.plugins import Plugin

__all__ = ["SupermaskPlugin", "topk_mask"]


def topk_mask(scores: Tensor, keep: float) -> Tensor:
    r"""Boolean mask of the ``ceil(keep * n)`` largest entries of ``scores`` (ties broken by
    position, as ``torch.topk``)."""
    k = max(1, math.ceil(keep * scores.numel()))
    mask = torch.zeros(scores.numel(), dtype=torch.bool)
    mask[torch.topk(scores.detach().flatten(), k).indices] = True
    return mask.view_as(scores)


def _task_label(task: Any) -> int:
    if getattr(task, "scenario", "task") == "class":
        raise ValueError("supermask and hypernetwork strategies need the task identity: use a "
                         "task-incremental stream")
    label = getattr(task, "task_label", None)
    if label is None:
        raise ValueError(f"{type(task).__name__} has no task_label: supermask and hypernetwork "
                         "strategies run on a stream (graphcl run ... --stream "
                         "task-incremental:N)")
    return int(label)


@register_plugin("supermask")
class SupermaskPlugin(Plugin):
    r"""One learnt binary mask per task over every weight matrix, exclusive weight training.

    Args:
        sparsity (float, optional): fraction :math:`c` of each weight matrix a task's mask
            keeps. (default: ``0.5``)
        score_lr (float, optional): Adam learning rate of the scores. (default: ``0.01``)
        seed (int, optional): seed of the score initialisation. (default: ``0``)
    """

    trains_parameters = True

    def __init__(self, sparsity: float = 0.5, score_lr: float = 0.01, seed: int = 0) -> None:
        if not 0 < float(sparsity) <= 1:
            raise ValueError(f"supermask sparsity must be in (0, 1], got {sparsity}")
        if float(score_lr) <= 0:
            raise ValueError(f"supermask score_lr must be > 0, got {score_lr}")
        self.sparsity = float(sparsity)
        self.score_lr = float(score_lr)
        self.seed = int(seed)
        self.names: list[str] = []
        self.scores: dict[str, Tensor] = {}  # the current task's, trained
        self.masks: dict[int, dict[str, Tensor]] = {}  # finished tasks' masks
        self.frozen: dict[str, Tensor] = {}  # weights owned by finished tasks
        self.current: int | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._override: ParameterOverride | None = None
        self._strategy: Any = None
        self._snapshot: dict[str, Tensor] = {}
        self._start: dict[str, Tensor] = {}

    # --- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"names": self.names, "scores": {k: v.detach().clone() for k, v in self.scores.items()},
                "masks": {int(t): dict(m) for t, m in self.masks.items()},
                "frozen": dict(self.frozen), "current": self.current,
                "opt": self.optimizer.state_dict() if self.optimizer is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.names = list(state["names"])
        self.scores = {k: v.clone().requires_grad_(True) for k, v in state["scores"].items()}
        self.masks = {int(t): dict(m) for t, m in state["masks"].items()}
        self.frozen = dict(state["frozen"])
        self.current = state["current"]
        self.optimizer = None
        if self.scores:
            self.optimizer = torch.optim.Adam(list(self.scores.values()), lr=self.score_lr)
            if state["opt"] is not None:
                self.optimizer.load_state_dict(state["opt"])

    # --- the masked weights --------------------------------------------------------------------
    def _install(self, strategy: Any) -> None:
        self._strategy = strategy
        if self._override is None:
            if not self.names:
                self.names = parameter_names(strategy.model, min_dim=2)
            self._override = ParameterOverride(strategy.model, self.names, self._masked)

    def _mask_for(self, label: int, name: str) -> Tensor:
        if label in self.masks:
            return self.masks[label][name].to(torch.get_default_dtype())
        scores = self.scores[name]
        hard = topk_mask(scores, self.sparsity).to(scores.dtype)
        return hard + scores - scores.detach()  # straight-through

    def _masked(self, name: str, weight: Tensor) -> Tensor:
        label = _task_label(self._strategy.experience)
        if label not in self.masks and label != self.current:  # a task not learnt yet
            if self.current is not None:
                label = self.current
            elif self.masks:
                label = max(self.masks)
            else:
                return weight
        return weight * self._mask_for(label, name)

    def _new_scores(self, strategy: Any, label: int) -> None:
        g = torch.Generator().manual_seed(self.seed * 1009 + label)
        params = dict(strategy.model.named_parameters())
        self.scores = {}
        for n in self.names:  # kaiming-uniform scores, as the supermask papers
            p = params[n]
            bound = 1.0 / math.sqrt(p[0].numel())
            self.scores[n] = (torch.rand(p.shape, generator=g) * 2 - 1).mul_(bound) \
                .requires_grad_(True)
        self.optimizer = torch.optim.Adam(list(self.scores.values()), lr=self.score_lr)

    # --- hooks ---------------------------------------------------------------------------------
    def before_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        self._install(strategy)
        label = _task_label(strategy.experience)
        if self.current != label:  # a new task (not a resumed one)
            self.current = label
            self._new_scores(strategy, label)
        params = dict(strategy.model.named_parameters())
        # exclusive training: the weights finished tasks own keep these values; parameters
        # that are not masked are trained by the first task only
        self._start = {n: params[n].detach().clone() for n in self.frozen}
        self._snapshot = {n: p.detach().clone() for n, p in params.items()
                          if n not in self.names and self.masks}

    def before_eval(self, strategy: Any, **kwargs: Any) -> None:
        self._install(strategy)

    def after_update(self, strategy: Any, **kwargs: Any) -> None:
        # the engine has stepped the weights and the scores (self.optimizer)
        params = dict(strategy.model.named_parameters())
        with torch.no_grad():  # exclusive: weights of finished tasks, unmasked ones after task 0
            for n, owned in self.frozen.items():
                params[n][owned] = self._start[n][owned]
            for n, v in self._snapshot.items():
                params[n].copy_(v)

    def after_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        label = _task_label(strategy.experience)
        if getattr(strategy.experience, "unlearn_request", None) is not None:
            return
        self.masks[label] = {n: topk_mask(self.scores[n], self.sparsity) for n in self.names}
        for n in self.names:
            prev = self.frozen.get(n)
            self.frozen[n] = self.masks[label][n] | prev if prev is not None else \
                self.masks[label][n].clone()
        self.current = None

    def __repr__(self) -> str:
        return f"SupermaskPlugin(sparsity={self.sparsity}, tasks={sorted(self.masks)})"
